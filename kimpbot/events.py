"""A tiny async pub/sub: what happened (premium, signal, fill, rollback, halt, error).

Publishers never wait on subscribers: a slow chat API must not block trading,
so each subscriber gets its own queue and task.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from kimpbot.i18n import Msg, Text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """``message`` may be given as a catalogue :class:`~kimpbot.i18n.Text`: the event then keeps it
    (``text``) for the chat, which shows it in the owner's language (:meth:`shown`), and ``message``
    becomes its English rendering, for logs, the journal and programs."""
    kind: str  # "health", "fx", "feed", "signal", "fill", "rollback", "halt", "error", ...
    message: str  # one human line, safe to post to chat (never a secret)
    level: str = "info"  # info | warning | critical
    data: dict[str, Any] = field(default_factory=dict)
    text: Text | None = None

    def __post_init__(self) -> None:
        m: Any = self.message
        if isinstance(m, (Text, Msg)):
            t = m if isinstance(m, Text) else m()
            object.__setattr__(self, "text", t)
            object.__setattr__(self, "message", t.render("en"))

    def shown(self, lang: str | None = None) -> str:
        """The line as the owner reads it (the process language unless ``lang`` is given)."""
        return self.text.render(lang) if self.text is not None else self.message


Handler = Callable[[Event], Awaitable[None] | None]


class EventBus:
    def __init__(self, maxsize: int = 10_000) -> None:
        self._subs: list[tuple[asyncio.Queue[Event], asyncio.Task[None] | None, Handler]] = []
        self._maxsize = maxsize
        self.history: list[Event] = []  # last events, for /status and tests
        self._history_max = 500

    def subscribe(self, handler: Handler) -> None:
        q: asyncio.Queue[Event] = asyncio.Queue(self._maxsize)
        task: asyncio.Task[None] | None = None
        try:
            asyncio.get_running_loop()
            task = asyncio.create_task(self._pump(q, handler))
        except RuntimeError:  # no loop yet: start() creates the task
            pass
        self._subs.append((q, task, handler))

    def publish(self, event: Event) -> None:
        self.history.append(event)
        if len(self.history) > self._history_max:
            del self.history[: len(self.history) - self._history_max]
        for q, _task, _h in self._subs:
            try:
                q.put_nowait(event)
            except asyncio.QueueFull:  # never block trading; say so once per drop
                log.error("event queue full, dropped %s event: %s", event.kind, event.message)

    async def start(self) -> None:
        for i, (q, task, handler) in enumerate(self._subs):
            if task is None:
                self._subs[i] = (q, asyncio.create_task(self._pump(q, handler)), handler)

    async def _pump(self, q: asyncio.Queue[Event], handler: Handler) -> None:
        while True:
            ev = await q.get()
            try:
                res = handler(ev)
                if asyncio.iscoroutine(res):
                    await res
            except Exception:  # a broken subscriber must not stop the others
                log.exception("event handler failed on %s event", ev.kind)
            finally:
                q.task_done()

    async def drain(self) -> None:
        for q, _t, _h in self._subs:
            await q.join()

    async def stop(self) -> None:
        for _q, task, _h in self._subs:
            if task is not None:
                task.cancel()
        for _q, task, _h in self._subs:
            if task is not None:
                try:
                    await task
                except asyncio.CancelledError:
                    pass
