"""Connection-level protection for the status server / dashboard (aiohttp has no header timeout).

A hung or slow-sending client ("slowloris") used to hold a file descriptor for ever; a few
thousand of them exhausted the process's descriptors (the unit left the 1024 default), after
which the exchange feeds could not reconnect and asyncio logged every failed ``accept()``.

:class:`ConnectionGuard` wraps every accepted connection's aiohttp protocol:

* **header timeout**: a request's headers must be complete (``\\r\\n\\r\\n``) within
  ``header_timeout_s`` of the connection opening, however slowly bytes trickle in;
* **request timeout**: a request with complete headers must be answered within
  ``request_timeout_s`` (a body sent slowly ends there). Every plain HTTP response closes its
  connection (no keep-alive: a dashboard loads a handful of files), so "idle" only exists before
  the headers; WebSocket streams are marked long-lived by their handler and exempt;
* **connection cap**: at ``max_connections`` a new connection evicts the oldest one still waiting
  for its headers (so a flood of idle sockets cannot lock the owner or a monitor out); when all of
  them are real requests or streams the new one is closed at once.

:class:`AcceptErrorLog` rate-limits asyncio's "socket.accept() out of system resource" reports
(one a minute with the count suppressed) instead of one traceback per retry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any, Callable

from aiohttp import web

log = logging.getLogger("kimpbot.control.http")

_END = b"\r\n\r\n"


class _Guarded(asyncio.Protocol):
    """Forwards to aiohttp's protocol; watches the header deadline and the request deadline."""

    __slots__ = ("guard", "inner", "transport", "opened", "state", "_tail", "_timer", "peer", "_live")

    def __init__(self, guard: "ConnectionGuard", inner: asyncio.Protocol) -> None:
        self.guard = guard
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self.opened = 0.0
        self.state = "headers"  # headers -> request -> (long | closed)
        self._tail = b""
        self._timer: asyncio.TimerHandle | None = None
        self.peer: Any = None
        self._live = False  # aiohttp's protocol has seen connection_made and not yet connection_lost

    # -- asyncio protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.opened = time.monotonic()
        self.peer = transport.get_extra_info("peername")
        if not self.guard._admit(self):
            self.state = "closed"
            transport.abort()
            return
        self._arm(self.guard.header_timeout_s, "header")
        self._live = True
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.state == "closed":
            return
        if self.state == "headers":
            scan = self._tail + data
            if _END in scan:
                self.state = "request"
                self.guard._to_active(self)
                self._arm(self.guard.request_timeout_s, "request")
            else:
                self._tail = scan[-3:]
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self.state == "closed":
            return None
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.state = "closed"
        self._cancel()
        self.guard._forget(self)
        if self._live:
            self._live = False
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    # -- deadlines --------------------------------------------------------------------------

    def _arm(self, seconds: float, what: str) -> None:
        self._cancel()
        if seconds > 0:
            self._timer = asyncio.get_running_loop().call_later(seconds, self._expired, what)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self, what: str) -> None:
        self._timer = None
        if self.state in ("closed", "long"):
            return
        self.guard.timed_out += 1
        self.guard.note(f"{what} timeout", f"HTTP connection from {self.peer} closed: no complete {what} within "
                                           f"{self.guard.header_timeout_s if what == 'header' else self.guard.request_timeout_s:g} s")
        self.close()

    def make_long_lived(self) -> None:
        self._cancel()
        self.state = "long"

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()


class ConnectionGuard:
    """Per-server connection bookkeeping; ``factory(inner_factory)`` is the protocol factory."""

    def __init__(self, *, max_connections: int = 256, header_timeout_s: float = 10.0,
                 request_timeout_s: float = 30.0) -> None:
        self.max_connections = int(max_connections)
        self.header_timeout_s = float(header_timeout_s)
        self.request_timeout_s = float(request_timeout_s)
        self._waiting: OrderedDict[int, _Guarded] = OrderedDict()  # headers not complete yet, oldest first
        self._active: dict[int, _Guarded] = {}
        self._by_transport: dict[int, _Guarded] = {}
        self.refused = 0
        self.evicted = 0
        self.timed_out = 0
        self._notes: dict[str, tuple[float, int]] = {}
        self.note_every_s = 60.0

    @property
    def open(self) -> int:
        return len(self._waiting) + len(self._active)

    def factory(self, inner: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        return lambda: _Guarded(self, inner())

    def _admit(self, c: _Guarded) -> bool:
        if self.open >= self.max_connections:
            if self._waiting:  # the oldest connection that has not even sent its headers goes
                _, old = self._waiting.popitem(last=False)
                self.evicted += 1
                self.note("cap", f"HTTP connection cap ({self.max_connections}) reached: closing the oldest "
                                 "connections still waiting for their headers")
                old.state = "closed"  # its connection_lost (soon, from the loop) tells aiohttp
                old._cancel()
                self._by_transport.pop(id(old.transport), None)
                old.close()
            else:
                self.refused += 1
                self.note("cap", f"HTTP connection cap ({self.max_connections}) reached: new connection refused")
                return False
        self._waiting[id(c)] = c
        self._by_transport[id(c.transport)] = c
        return True

    def _to_active(self, c: _Guarded) -> None:
        self._waiting.pop(id(c), None)
        self._active[id(c)] = c

    def _forget(self, c: _Guarded) -> None:
        self._waiting.pop(id(c), None)
        self._active.pop(id(c), None)
        self._by_transport.pop(id(c.transport), None)

    def long_lived(self, transport: Any) -> bool:
        """A WebSocket handler calls this after its handshake: no request deadline any more."""
        c = self._by_transport.get(id(transport))
        if c is None:
            return False
        c.make_long_lived()
        return True

    def close_all(self) -> None:
        for c in list(self._waiting.values()) + list(self._active.values()):
            c.close()

    def note(self, key: str, msg: str) -> None:
        """One log line per ``key`` per ``note_every_s``, with the number suppressed meanwhile."""
        now = time.monotonic()
        last, suppressed = self._notes.get(key, (0.0, 0))
        if last and now - last < self.note_every_s:
            self._notes[key] = (last, suppressed + 1)
            return
        more = f" ({suppressed} more since the last report)" if suppressed else ""
        log.warning("%s%s", msg, more)
        self._notes[key] = (now, 0)


class GuardedSite(web.TCPSite):
    """``web.TCPSite`` whose connections go through a :class:`ConnectionGuard`."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, guard: ConnectionGuard, **kw: Any) -> None:
        super().__init__(runner, host, port, **kw)
        self.guard = guard

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        self._server = await loop.create_server(
            self.guard.factory(server), self._host, self._port, backlog=self._backlog,
            reuse_address=self._reuse_address, reuse_port=self._reuse_port)


class AcceptErrorLog:
    """A loop exception handler that reports accept() failures (EMFILE, ENFILE, ENOBUFS…) once a
    minute with a count, and passes everything else to the handler that was there before."""

    MARKER = "socket.accept() out of system resource"

    def __init__(self, every_s: float = 60.0) -> None:
        self.every_s = every_s
        self.suppressed = 0
        self.reported = 0
        self._last = 0.0
        self._prev: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._prev = loop.get_exception_handler()
        loop.set_exception_handler(self)

    def uninstall(self) -> None:
        if self._loop is not None and self._loop.get_exception_handler() is self:
            self._loop.set_exception_handler(self._prev)
        self._loop = None

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if self.MARKER not in str(context.get("message", "")):
            if self._prev is not None:
                self._prev(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        now = time.monotonic()
        if self._last and now - self._last < self.every_s:
            self.suppressed += 1
            return
        exc = context.get("exception")
        more = f"; {self.suppressed} more since the last report" if self.suppressed else ""
        log.error("HTTP server cannot accept connections: %s (%s)%s: out of file descriptors? raise LimitNOFILE "
                  "or lower the connection cap", self.MARKER, exc, more)
        self.reported += 1
        self.suppressed = 0
        self._last = now
