"""One async interface in front of each exchange: the strategy sees books and candles, never HTTP."""

from __future__ import annotations

import logging
from typing import Protocol

from kimpbot.models import Candle, OrderBook, Ticker

log = logging.getLogger(__name__)


class ExchangeUnavailable(RuntimeError):
    """The exchange could not be reached or answered with an error; the message says which and why."""


class MarketData(Protocol):
    name: str

    async def load(self) -> None:
        """Load markets (symbols, steps, minimums); raises ExchangeUnavailable."""

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook: ...

    async def ticker(self, symbol: str) -> Ticker: ...

    async def candles(self, symbol: str, minutes: int, since_ms: int, until_ms: int) -> list[Candle]:
        """Closed candles with open time in [since_ms, until_ms), oldest first."""

    async def close(self) -> None: ...


def candles_from_ccxt(rows: list[list[float]], since_ms: int, until_ms: int, what: str) -> list[Candle]:
    """ccxt OHLCV rows -> Candles in range, skipping (and logging) malformed rows."""
    out: list[Candle] = []
    bad = 0
    for r in rows:
        try:
            ts = int(r[0])
            o, h, lo, c = (float(r[1]), float(r[2]), float(r[3]), float(r[4]))
            v = float(r[5] or 0.0)
        except (TypeError, ValueError, IndexError):
            bad += 1
            continue
        if not (o > 0 and h > 0 and lo > 0 and c > 0) or any(x != x for x in (o, h, lo, c)):
            bad += 1
            continue
        if since_ms <= ts < until_ms:
            out.append(Candle(ts, o, h, lo, c, v))
    if bad:
        log.warning("%s: skipped %d malformed candle rows", what, bad)
    return out
