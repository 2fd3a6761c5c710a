"""Premium bars: samples of the mid premium folded into fixed-length bars per symbol.

A bar covers ``[open_ms, open_ms + minutes)`` on the UTC grid. It closes when a
later sample arrives or when the scheduler calls ``roll(now)`` at the boundary;
a period with no samples leaves a gap (no bar), which is counted, never filled
with an invented value.
"""

from __future__ import annotations

from dataclasses import dataclass

from kimpbot.models import PremiumBar


@dataclass(slots=True)
class _Open:
    ts: int
    open: float
    high: float
    low: float
    close: float
    samples: int


class BarBuilder:
    def __init__(self, minutes: int) -> None:
        self.minutes = minutes
        self.span_ms = minutes * 60_000
        self._open: dict[str, _Open] = {}
        self.gaps = 0

    def add(self, symbol: str, ts_ms: int, value: float) -> PremiumBar | None:
        """Add a sample; returns the bar it closed, if any."""
        start = ts_ms - ts_ms % self.span_ms
        cur = self._open.get(symbol)
        closed = None
        if cur is not None and start > cur.ts:
            closed = self._close(symbol, cur)
            cur = None
        elif cur is not None and start < cur.ts:
            return None  # a late sample for a bar already left behind
        if cur is None:
            self._open[symbol] = _Open(start, value, value, value, value, 1)
        else:
            cur.close = value
            cur.samples += 1
            if value > cur.high:
                cur.high = value
            elif value < cur.low:
                cur.low = value
        return closed

    def roll(self, now_ms: int) -> list[PremiumBar]:
        """Close every open bar whose period has ended by ``now_ms``."""
        out = []
        for sym, cur in list(self._open.items()):
            if cur.ts + self.span_ms <= now_ms:
                out.append(self._close(sym, cur))
        return out

    def _close(self, symbol: str, cur: _Open) -> PremiumBar:
        del self._open[symbol]
        return PremiumBar(symbol, cur.ts, self.minutes, cur.open, cur.high, cur.low, cur.close, cur.samples)
