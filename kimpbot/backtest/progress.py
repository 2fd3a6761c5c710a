"""A plain progress bar on stderr (no dependency): shown on long runs when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total_rows: int, enabled: bool, stream: TextIO | None = None, width: int = 30) -> None:
        self.total = max(1, total_rows)
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.width = width
        self.done: dict[tuple[str, str], int] = {}
        self._last = 0.0
        self._shown = False

    def __call__(self, strategy: str, symbol: str, row: int, n: int) -> None:
        if not self.enabled:
            return
        self.done[(strategy, symbol)] = row
        now = time.monotonic()
        if now - self._last < 0.1 and row < n:
            return
        self._last = now
        frac = min(1.0, sum(self.done.values()) / self.total)
        fill = int(frac * self.width)
        self.stream.write(f"\r[{'#' * fill}{'.' * (self.width - fill)}] {frac * 100:5.1f}% {strategy} {symbol}   ")
        self.stream.flush()
        self._shown = True

    def finish(self) -> None:
        if self.enabled and self._shown:
            self.stream.write("\r" + " " * (self.width + 40) + "\r")
            self.stream.flush()
