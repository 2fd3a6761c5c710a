"""What the fake chat servers (``fakes.telegram``, ``fakes.discord``) share: the lifecycle of one
aiohttp app on an ephemeral port, a thread-safe wake-up for waiters, and the wait for a record."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Callable

from aiohttp import web

from kimpbot.sim._common import Served, serve_app

WAIT_S = 30.0  # tests' waits for a bot call: they return as soon as it arrives; 5 s failed under load


class Signal:
    """Wake every waiter; usable from the loop thread or (thread-safely) from another thread."""

    def __init__(self) -> None:
        self._ev = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    def notify(self) -> None:
        ev, self._ev = self._ev, asyncio.Event()
        loop = self.loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop or loop.is_closed():
            ev.set()
        else:
            loop.call_soon_threadsafe(ev.set)

    async def wait(self, timeout: float) -> None:
        ev = self._ev
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(ev.wait(), timeout=max(timeout, 0.0))


async def first_match(records: list[dict], predicate: Callable[[dict], bool], timeout: float, since: int,
                      signal: Signal, timed_out: Callable[[list[dict]], str]) -> dict:
    """The first record of ``records[since:]`` that ``predicate`` accepts, waiting up to ``timeout``
    seconds (``signal`` is notified when a record is added); else TimeoutError with the message
    ``timed_out`` makes of the last five records."""
    deadline = time.monotonic() + timeout
    checked = since
    while True:
        while checked < len(records):
            rec = records[checked]
            checked += 1
            if predicate(rec):
                return rec
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(timed_out(records[-5:]))
        await signal.wait(left)


class ChatServer(Served):
    """One aiohttp app served on an ephemeral port of ``host`` (``_serve`` / ``_close``)."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.port: int | None = None
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://{self.host}:{self.port}"

    async def _serve(self, app: web.Application) -> None:
        self._runner, self.port = await serve_app(app, self.host)

    async def _close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
