"""Premium math: quoted (last prices) and executable (walk the books, taker fees).

    kimp = (upbit_krw / (binance_usdt * krw_per_usd) - 1) * 100

Pure functions, no I/O: the live engine, the backtester and the tests share them.
"""

from __future__ import annotations

import math
from typing import Sequence

from kimpbot.models import BookLevel, ExecutablePrice, OrderBook, PremiumSnapshot


def premium_pct(upbit_krw: float, binance_usdt: float, krw_per_usd: float) -> float:
    """The kimchi premium in percent; every input must be a positive price."""
    if upbit_krw <= 0 or binance_usdt <= 0 or krw_per_usd <= 0:
        raise ValueError(f"prices must be positive: upbit={upbit_krw} binance={binance_usdt} fx={krw_per_usd}")
    return (upbit_krw / (binance_usdt * krw_per_usd) - 1.0) * 100.0


def walk_book(levels: Sequence[BookLevel], base_qty: float) -> ExecutablePrice:
    """Fill ``base_qty`` coins against one side of a book, best level first.

    ``complete`` is False when the book is thinner than the size: the VWAP then
    covers only what the book holds and must not be traded on.
    """
    remaining = base_qty
    quote = 0.0
    for lvl in levels:
        take = lvl.size if lvl.size < remaining else remaining
        quote += take * lvl.price
        remaining -= take
        if remaining <= 1e-15 * base_qty:
            filled = base_qty
            return ExecutablePrice(quote / filled, filled, quote, True)
    filled = base_qty - remaining
    if filled <= 0.0:
        return ExecutablePrice(math.nan, 0.0, 0.0, False)
    return ExecutablePrice(quote / filled, filled, quote, False)


def exec_long_premium(upbit_buy: float, binance_sell: float, fx: float, upbit_fee: float,
                      binance_fee: float) -> float:
    """Premium locked in by buying Upbit spot and shorting the perp, fees included.

    Buying costs ``price * (1 + fee)`` per coin; selling yields ``price * (1 - fee)``.
    """
    return premium_pct(upbit_buy * (1.0 + upbit_fee), binance_sell * (1.0 - binance_fee), fx)


def exec_short_premium(upbit_sell: float, binance_buy: float, fx: float, upbit_fee: float,
                       binance_fee: float) -> float:
    """Premium locked in by selling Upbit spot and buying the perp, fees included."""
    return premium_pct(upbit_sell * (1.0 - upbit_fee), binance_buy * (1.0 + binance_fee), fx)


def make_snapshot(
    symbol: str,
    upbit: OrderBook,
    binance: OrderBook,
    fx_rate: float,
    fx_source: str,
    order_krw: float,
    upbit_fee: float,
    binance_fee: float,
    ts: int,
    upbit_last: float | None = None,
) -> PremiumSnapshot:
    """One symbol's quoted, mid and executable premiums for an order of ``order_krw``.

    The order's coin quantity is fixed from the Upbit mid so both legs and both
    directions are quoted for the same hedge size.
    """
    u_mid = upbit.mid
    b_mid = binance.mid
    qty = order_krw / u_mid
    u_buy = walk_book(upbit.asks, qty)
    u_sell = walk_book(upbit.bids, qty)
    b_buy = walk_book(binance.asks, qty)
    b_sell = walk_book(binance.bids, qty)
    exec_long = (exec_long_premium(u_buy.vwap, b_sell.vwap, fx_rate, upbit_fee, binance_fee)
                 if u_buy.complete and b_sell.complete else None)
    exec_short = (exec_short_premium(u_sell.vwap, b_buy.vwap, fx_rate, upbit_fee, binance_fee)
                  if u_sell.complete and b_buy.complete else None)
    # Binance's book streams carry no last trade, so the quoted premium pairs
    # Upbit's last trade with the perp's mid.
    quoted = premium_pct(upbit_last, b_mid, fx_rate) if upbit_last else None
    return PremiumSnapshot(
        symbol=symbol,
        ts=ts,
        fx_source=fx_source,
        fx_rate=fx_rate,
        quoted=quoted,
        mid=premium_pct(u_mid, b_mid, fx_rate),
        exec_long=exec_long,
        exec_short=exec_short,
        order_krw=order_krw,
        upbit_buy_vwap=u_buy.vwap if u_buy.complete else None,
        upbit_sell_vwap=u_sell.vwap if u_sell.complete else None,
        binance_buy_vwap=b_buy.vwap if b_buy.complete else None,
        binance_sell_vwap=b_sell.vwap if b_sell.complete else None,
        upbit_fee=upbit_fee,
        binance_fee=binance_fee,
    )
