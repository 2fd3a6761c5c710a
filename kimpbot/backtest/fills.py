"""The backtester's market model, shared by the fast engine and the per-row reference loop.

Candles have no order book, so a fill is the candle price moved against the
taker by ``slippage`` (per leg), plus each venue's taker fee. The decision at a
bar's close reads a snapshot built the same way from that bar's closes: the
"VWAP" of each side is the close moved against the taker, and the executable
premiums include both fees, exactly as the live market engine defines them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from kimpbot.models import Direction, PremiumSnapshot
from kimpbot.strategy import rules
from kimpbot.strategy.base import PairFill

if TYPE_CHECKING:  # pragma: no cover
    from kimpbot.backtest.data import SymbolData
    from kimpbot.strategy_file.read import OwnerConfig

FUNDING_PERIOD_MS = 8 * 3_600_000  # Binance USDT-M: 00:00, 08:00, 16:00 UTC


@dataclass(frozen=True)
class MarketModel:
    upbit_fee: float
    binance_fee: float
    slippage_pct: float  # per leg, percent of price
    funding_rate_8h: float
    fill: str  # "next_open" | "next_close"

    @property
    def slip(self) -> float:
        return self.slippage_pct / 100.0


def funding_events(sd: "SymbolData", rate_8h: float) -> tuple[np.ndarray, np.ndarray]:
    """Funding times in (first bar open, last bar close] and their rates: the symbol's funding
    history (``funding_<SYM>.csv``) where it covers the time, else every 00/08/16 UTC at the
    constant ``rate_8h``."""
    start, end = int(sd.ts[0]), int(sd.close_ms[-1])
    t0 = (start // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS
    grid = np.arange(t0, end + 1, FUNDING_PERIOD_MS, dtype=np.int64)
    if sd.funding_ts is None or sd.funding_rate is None or sd.funding_ts.shape[0] == 0:
        return grid, np.full(grid.shape[0], float(rate_8h))
    ft, fr = sd.funding_ts, sd.funding_rate
    inside = (ft > start) & (ft <= end)
    outside = (grid < ft[0]) | (grid >= ft[-1] + FUNDING_PERIOD_MS)
    times = np.concatenate((ft[inside], grid[outside]))
    rates = np.concatenate((fr[inside], np.full(int(outside.sum()), float(rate_8h))))
    order = np.argsort(times, kind="stable")
    return times[order], rates[order]


def bar_snapshot(symbol: str, ts: int, u_close: float, b_close: float, fx: float, m: MarketModel,
                 order_krw: float) -> PremiumSnapshot:
    """What the live market engine would have shown at a bar's close."""
    s = m.slip
    u_buy, u_sell = rules.slipped(u_close, s, True), rules.slipped(u_close, s, False)
    b_buy, b_sell = rules.slipped(b_close, s, True), rules.slipped(b_close, s, False)
    return PremiumSnapshot(
        symbol=symbol, ts=ts, fx_source="csv", fx_rate=fx, quoted=rules.premium_arr(u_close, b_close, fx),
        mid=rules.premium_arr(u_close, b_close, fx),
        exec_long=rules.exec_long_arr(u_buy, b_sell, fx, m.upbit_fee, m.binance_fee),
        exec_short=rules.exec_short_arr(u_sell, b_buy, fx, m.upbit_fee, m.binance_fee),
        order_krw=order_krw, upbit_buy_vwap=u_buy, upbit_sell_vwap=u_sell, binance_buy_vwap=b_buy,
        binance_sell_vwap=b_sell, upbit_fee=m.upbit_fee, binance_fee=m.binance_fee)


def entry_fill(direction: Direction, size_krw: float, u_px: float, b_px: float, fx: float, m: MarketModel,
               ts: int) -> PairFill:
    """Open or add: long premium buys Upbit and sells the perp; short premium the other way."""
    buy_upbit = direction is Direction.LONG_PREMIUM
    u = rules.slipped(u_px, m.slip, buy_upbit)
    b = rules.slipped(b_px, m.slip, not buy_upbit)
    qty = size_krw / u
    fees = rules.leg_fees_krw(qty, u, qty, b, fx, m.upbit_fee, m.binance_fee)
    return PairFill(ts, u, qty, b, qty, fx, fees)


def exit_prices(direction: Direction, u_px: float, b_px: float, m: MarketModel) -> tuple[float, float]:
    """Close: a long-premium pair sells Upbit and buys the perp back."""
    sell_upbit = direction is Direction.LONG_PREMIUM
    return rules.slipped(u_px, m.slip, not sell_upbit), rules.slipped(b_px, m.slip, sell_upbit)


def market_model(owner: "OwnerConfig", slippage_pct: float | None = None, funding_rate_8h: float | None = None,
                 fill: str | None = None) -> MarketModel:
    """The market model the owner's file describes (``fees.*``, ``backtest.*``), with what-if overrides."""
    return MarketModel(
        upbit_fee=float(owner["fees.upbit_taker"]), binance_fee=float(owner["fees.binance_taker"]),
        slippage_pct=float(owner["backtest.slippage_pct"] if slippage_pct is None else slippage_pct),
        funding_rate_8h=float(owner["backtest.funding_rate_8h"] if funding_rate_8h is None else funding_rate_8h),
        fill=str(owner["backtest.fill"] if fill is None else fill))
