"""One retry policy for everything that waits to try again: doubling waits, capped, with "equal
jitter" (half the wait fixed, half random: never two bots in lock-step, and the growth stays
steady). Used by the chat fronts' start-up, the engine's bring-up, the webhook's posts and the
market feeds' reconnects.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from typing import Awaitable, Callable, TypeVar

T = TypeVar("T")


@dataclass
class Backoff:
    """Waits ``first_s``, then doubling up to ``cap_s``; each wait is ``d/2 + U(0, d/2)``."""
    first_s: float
    cap_s: float
    attempts: int = field(default=0, init=False)   # waits drawn since the last reset
    last_s: float = field(default=0.0, init=False)  # the last wait drawn

    def __post_init__(self) -> None:
        if not (self.first_s >= 0 and self.cap_s >= 0):   # 0 = try again at once (tests)
            raise ValueError(f"back-off waits cannot be negative (first {self.first_s}, cap {self.cap_s})")

    def ceiling(self, attempt: int | None = None) -> float:
        """The un-jittered wait of retry number ``attempt`` (0 = the first; default: the next)."""
        n = self.attempts if attempt is None else max(0, attempt)
        return min(max(self.cap_s, self.first_s), self.first_s * 2 ** min(n, 30))

    def wait_for(self, attempt: int) -> float:
        """A wait for retry number ``attempt`` counted by the caller (e.g. failed sessions in a row)."""
        d = self.ceiling(attempt)
        self.last_s = d / 2 + random.uniform(0, d / 2)
        return self.last_s

    def next_wait(self) -> float:
        w = self.wait_for(self.attempts)
        self.attempts += 1
        return w

    def reset(self) -> None:
        self.attempts = 0


async def retry_until(attempt: Callable[[], Awaitable[T]], *, retry_on: tuple[type[BaseException], ...],
                      backoff: Backoff, log: logging.Logger | None = None, what: str = "",
                      wait_first: bool = True, describe: Callable[[BaseException], str] = str) -> T:
    """Call ``attempt`` until it returns, waiting ``backoff`` between tries. Exceptions in
    ``retry_on`` are retried (one log line each, through ``describe`` so no secret is logged);
    any other exception ends the loop and is raised."""
    while True:
        if wait_first:
            await asyncio.sleep(backoff.next_wait())
        wait_first = True
        try:
            return await attempt()
        except retry_on as exc:
            if log is not None:
                log.warning("%s failed (%s); next try in about %.0f s", what or "attempt", describe(exc),
                            backoff.ceiling())
