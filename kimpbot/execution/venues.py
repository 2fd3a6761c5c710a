"""The trading interface the executor sees: one per leg, live or paper alike.

Money crosses this boundary as ``Decimal``. Every order carries a client order id
(Upbit ``identifier``, Binance ``newClientOrderId``) derived from the trade id,
so a retry or a query after a lost response finds the same order instead of
placing a second one.

An order call never raises for an exchange-side outcome: it returns an
``OrderResult`` whose ``status`` says what is known. ``UNKNOWN`` means the
request may or may not have reached the exchange (timeout, lost response,
pyupbit's ``None``): the executor must query by client id before deciding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from enum import Enum
from typing import Protocol


class OrderStatus(str, Enum):
    FILLED = "filled"  # completely filled
    PARTIAL = "partial"  # final, filled only partly (rest cancelled/expired)
    REJECTED = "rejected"  # final, nothing filled, the exchange said why
    NOT_FOUND = "not_found"  # a query by client id: the exchange has no such order
    OPEN = "open"  # accepted, not final yet
    UNKNOWN = "unknown"  # no answer: query before deciding

    @property
    def final(self) -> bool:
        return self in (OrderStatus.FILLED, OrderStatus.PARTIAL, OrderStatus.REJECTED, OrderStatus.NOT_FOUND)


class Side(str, Enum):
    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> "Side":
        return Side.SELL if self is Side.BUY else Side.BUY


@dataclass(frozen=True)
class OrderRequest:
    venue: str  # "upbit" | "binance"
    symbol: str  # "BTC"
    side: Side
    client_id: str
    qty: Decimal  # coins; for an Upbit market buy, the coins wanted (sent as KRW = qty x price_hint)
    price_hint: Decimal  # expected average price (KRW on Upbit, USDT on Binance), for KRW-amount buys and logs
    reduce_only: bool = False  # Binance: only ever shrink the position (exits and unwinds)


@dataclass(frozen=True)
class OrderResult:
    venue: str
    symbol: str
    side: Side
    client_id: str
    status: OrderStatus
    filled_qty: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)  # KRW (Upbit) or USDT (Binance)
    fee: Decimal = Decimal(0)  # in the quote currency of the venue
    exchange_id: str = ""
    error: str = ""  # the exchange's words, or what went wrong locally
    retryable: bool = False  # e.g. HTTP 429: the same client id may be sent again
    latency_ms: float = 0.0

    @property
    def notional(self) -> Decimal:
        return self.filled_qty * self.avg_price


@dataclass(frozen=True)
class MarketRules:
    """Per symbol and venue: quantity step and minimums the order must respect."""

    qty_step: Decimal
    min_qty: Decimal
    min_notional: Decimal  # KRW on Upbit (5,000), USDT on Binance (e.g. 100 for BTC)
    price_tick: Decimal = Decimal(0)  # one tick for every price (Binance tickSize); 0: unknown
    price_ticks: tuple[tuple[Decimal, Decimal], ...] = ()  # (from price, tick), highest first (Upbit KRW)

    def round_qty(self, qty: Decimal) -> Decimal:
        if self.qty_step <= 0:
            return qty
        return (qty / self.qty_step).to_integral_value(rounding=ROUND_DOWN) * self.qty_step

    def tick(self, price: Decimal) -> Decimal:
        for lo, t in self.price_ticks:
            if price >= lo:
                return t
        return self.price_tick

    def show_price(self, price: Decimal | float) -> str:
        """A price for people: to the venue's tick precision (an average of several fills keeps the
        tick's decimals), without float noise; 8 decimals at most when the tick is unknown."""
        p = Decimal(str(price))
        t = self.tick(p)
        places = max(0, -t.normalize().as_tuple().exponent) if t > 0 else 8  # type: ignore[operator]
        q = p.quantize(Decimal(1).scaleb(-places))
        if t <= 0:
            q = q.normalize()
        return f"{q:,f}"


@dataclass
class Balances:
    """What the risk checks need to know about one venue's account."""

    quote_free: Decimal  # KRW (Upbit) or USDT available margin (Binance)
    coins: dict[str, Decimal] = field(default_factory=dict)  # Upbit spot holdings per coin
    positions: dict[str, Decimal] = field(default_factory=dict)  # Binance signed position per symbol


class TradingVenue(Protocol):
    name: str  # "upbit" | "binance"

    async def load_rules(self, symbols: list[str]) -> dict[str, MarketRules]: ...

    async def place_market(self, req: OrderRequest, timeout_s: float) -> OrderResult:
        """Send a market order. Never raises for exchange outcomes; UNKNOWN when no answer."""

    async def query(self, symbol: str, client_id: str, timeout_s: float) -> OrderResult:
        """The order's state by client id; NOT_FOUND if the exchange has none; UNKNOWN if no answer."""

    async def cancel_open_orders(self, symbols: list[str]) -> list[str]:
        """Cancel every open order of ours on these symbols; returns the client ids cancelled."""

    async def balances(self) -> Balances: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class FundingInfo:
    symbol: str
    next_funding_ms: int
    rate: Decimal  # last funding rate (fraction per period)
    mark_price: Decimal


@dataclass(frozen=True)
class FundingPayment:
    symbol: str
    ts: int
    amount_usdt: Decimal  # signed as Binance books it: negative = we paid
    tran_id: str


class PerpVenue(TradingVenue, Protocol):
    """Binance USDT-M: the perp leg also pays or receives funding."""

    async def funding_info(self, symbol: str) -> FundingInfo: ...

    async def funding_payments(self, symbol: str, since_ms: int) -> list[FundingPayment]: ...
