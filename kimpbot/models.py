"""Domain objects shared by market data, strategy, execution and chat.

Prices and sizes from exchanges are kept as ``float`` for statistics and premium
math; money crossing the order boundary is converted to ``Decimal`` there
(``kimpbot.exchanges``), never earlier, so the hot path stays cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple


class Venue(str, Enum):
    UPBIT = "upbit"
    BINANCE = "binance"


class Direction(str, Enum):
    """Which way a pair trade bets on the premium."""

    # premium unusually low: buy Upbit spot + short Binance perp
    LONG_PREMIUM = "long_premium"
    # premium unusually high: sell held Upbit spot + long Binance perp
    SHORT_PREMIUM = "short_premium"

    @property
    def label(self) -> str:
        return "long premium" if self is Direction.LONG_PREMIUM else "short premium"


class BadMarketData(ValueError):
    """An exchange sent a value that cannot be a price (NaN, <= 0, missing, wrong type)."""


def valid_price(value: object, what: str) -> float:
    """Return ``value`` as a finite positive float, or raise BadMarketData naming ``what``."""
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BadMarketData(f"{what}: not a number: {value!r}") from None
    if not math.isfinite(x) or x <= 0.0:
        raise BadMarketData(f"{what}: must be a finite positive number, got {value!r}")
    return x


def valid_size(value: object, what: str) -> float:
    """Sizes may be zero (an emptied level) but never negative or NaN."""
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BadMarketData(f"{what}: not a number: {value!r}") from None
    if not math.isfinite(x) or x < 0.0:
        raise BadMarketData(f"{what}: must be a finite non-negative number, got {value!r}")
    return x


class BookLevel(NamedTuple):
    """One price level. A NamedTuple, not a dataclass: books are rebuilt on every
    websocket update and tuple construction is several times cheaper."""

    price: float
    size: float


@dataclass(slots=True)
class OrderBook:
    """Top of an exchange's book. ``bids`` descending, ``asks`` ascending.

    ``exchange_ts`` is the exchange's own timestamp (ms); ``received_ts`` is when
    we got it (ms, from the injected clock). Staleness is judged on both.
    """

    venue: Venue
    symbol: str
    bids: list[BookLevel]
    asks: list[BookLevel]
    exchange_ts: int
    received_ts: int

    @property
    def best_bid(self) -> float:
        return self.bids[0].price

    @property
    def best_ask(self) -> float:
        return self.asks[0].price

    @property
    def mid(self) -> float:
        return (self.bids[0].price + self.asks[0].price) / 2.0


@dataclass(frozen=True, slots=True)
class Ticker:
    """Last trade price, as premium sites quote it."""

    venue: Venue
    symbol: str
    last: float
    exchange_ts: int
    received_ts: int


@dataclass(frozen=True, slots=True)
class FxRate:
    """KRW per USD (source ``usdkrw``) or KRW per USDT (source ``usdt``)."""

    source: str
    rate: float
    exchange_ts: int
    received_ts: int


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLCV bar; ``ts`` is the bar's open time in ms UTC."""

    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True)
class ExecutablePrice:
    """Volume-weighted price to fill a size by walking one side of a book."""

    vwap: float
    filled_base: float  # coin quantity
    filled_quote: float  # quote currency spent/received
    complete: bool  # False if the book ran out before the size was filled


@dataclass(frozen=True, slots=True)
class PremiumSnapshot:
    """Premium of one symbol at one moment, in percent.

    ``quoted`` from last prices (what premium sites show; None until both tickers
    arrived); ``mid`` from book mids (what the z window is built from);
    ``exec_long``/``exec_short`` what an order of ``order_krw`` would actually lock
    in for each direction, taker fees included (None when a book is too thin).

    The ``*_vwap`` prices are the fee-less volume-weighted fills for that size on
    the side each leg would take (Upbit in KRW, Binance in USDT): entering long
    premium buys Upbit at ``upbit_buy_vwap`` and sells the perp at
    ``binance_sell_vwap``; entering short premium (or exiting a long one) sells
    Upbit at ``upbit_sell_vwap`` and buys the perp at ``binance_buy_vwap``.
    """

    symbol: str
    ts: int
    fx_source: str
    fx_rate: float
    quoted: float | None
    mid: float
    exec_long: float | None
    exec_short: float | None
    order_krw: float
    upbit_buy_vwap: float | None
    upbit_sell_vwap: float | None
    binance_buy_vwap: float | None
    binance_sell_vwap: float | None
    upbit_fee: float
    binance_fee: float


@dataclass(frozen=True, slots=True)
class PremiumBar:
    """A closed bar of the mid premium (percent), the unit the z window counts."""

    symbol: str
    ts: int  # bar open time, ms UTC
    minutes: int
    open: float
    high: float
    low: float
    close: float
    samples: int


@dataclass(slots=True)
class Health:
    """Why signals are (not) allowed right now; shown in /status and /health."""

    ok: bool = True
    reasons: list[str] = field(default_factory=list)

    def fail(self, reason: str) -> None:
        self.ok = False
        self.reasons.append(reason)
