"""The strategies' decision rules as pure functions, shared by live trading and the backtester.

Every function here is arithmetic and comparisons only, written so that it
accepts plain floats (the live :class:`~kimpbot.strategy.base.Strategy` calls
it once per tick) **and** numpy arrays (the backtester calls it once over a
whole stretch of bars). The same expression in the same order gives the same
IEEE result either way, which is what lets a test demand that the live
strategy and the backtester make identical trades.

Conventions
-----------
* Premiums and profits are percent (0.5 means 0.5 %); sizes are fractions.
* ``z`` of an entry is the z of the **executable** premium for that direction:
  ``exec_long`` (buy Upbit, sell perp) for long-premium entries, ``exec_short``
  for short-premium entries. Exits of a long-premium position trade the same
  legs as a short-premium entry, so they read ``exec_short`` (and vice versa).
* Sizes are fractions of the SYMBOL's allotted capital: ``initial_capital x
  allocation[symbol]`` for ``optimized``, an equal share for the others.
"""

from __future__ import annotations

from typing import Any

from kimpbot.models import Direction
from kimpbot.strategy_file.keys import StrategyParams

TIERS = ("normal", "extreme", "ultra")  # optimized tiers, shallow to deep
TIER_RANK = {"base": 0, "normal": 1, "extreme": 2, "ultra": 3}

# ---------------------------------------------------------------- premium math


def premium_arr(upbit_krw: Any, binance_usdt: Any, fx: Any) -> Any:
    """Same arithmetic as :func:`kimpbot.market.premium.premium_pct`, without its scalar guard."""
    return (upbit_krw / (binance_usdt * fx) - 1.0) * 100.0


def exec_long_arr(upbit_buy: Any, binance_sell: Any, fx: Any, upbit_fee: float, binance_fee: float) -> Any:
    """Same arithmetic as :func:`kimpbot.market.premium.exec_long_premium` (fees included)."""
    return premium_arr(upbit_buy * (1.0 + upbit_fee), binance_sell * (1.0 - binance_fee), fx)


def exec_short_arr(upbit_sell: Any, binance_buy: Any, fx: Any, upbit_fee: float, binance_fee: float) -> Any:
    """Same arithmetic as :func:`kimpbot.market.premium.exec_short_premium` (fees included)."""
    return premium_arr(upbit_sell * (1.0 - upbit_fee), binance_buy * (1.0 + binance_fee), fx)


def slipped(price: Any, slip_frac: float, buy: bool) -> Any:
    """A candle price moved against the taker: what a fill costs without an order book."""
    return price * (1.0 + slip_frac) if buy else price * (1.0 - slip_frac)


# ---------------------------------------------------------------- entries


def long_entry_ok(z: Any, premium: Any, threshold: float, min_kimp: float) -> Any:
    """``z <= -threshold`` and ``|premium| >= min_kimp`` (premium unusually low)."""
    return (z <= -threshold) & (abs(premium) >= min_kimp)


def short_entry_ok(z: Any, premium: Any, threshold: float, min_kimp: float) -> Any:
    """``z >= +threshold`` and ``|premium| >= min_kimp`` (premium unusually high)."""
    return (z >= threshold) & (abs(premium) >= min_kimp)


def tier_rank(abs_z: Any, p: StrategyParams) -> Any:
    """optimized: 0 none, 1 normal (|z| >= normal_z), 2 extreme, 3 ultra. Works on arrays."""
    return (abs_z >= p.normal_z) * 1 + (abs_z >= p.extreme_z) * 1 + (abs_z >= p.ultra_z) * 1


def tier_name(rank: int) -> str | None:
    return TIERS[rank - 1] if rank >= 1 else None


def tier_fraction(tier: str, p: StrategyParams) -> float:
    """Full size of an optimized tier, fraction of the symbol's capital, capped at max_single_position."""
    if tier == "ultra":
        frac = p.ultra_size
    elif tier == "extreme":
        frac = p.base_size * p.extreme_size_mult
    else:
        frac = p.base_size * p.normal_size_mult
    return min(frac, p.max_single_position)


def tier_target(tier: str, p: StrategyParams) -> float:
    if tier == "ultra":
        return p.ultra_target
    if tier == "extreme":
        return p.extreme_target
    return p.normal_target


def splits_due(abs_z: Any, p: StrategyParams) -> Any:
    """optimized normal tier: how many splits |z| has reached (split k is due at
    ``normal_z + k x split_step``; 0 below normal_z). Works on arrays."""
    out = abs_z * 0
    for thr in p.split_thresholds():
        out = out + (abs_z >= thr) * 1
    return out


def split_krw(p: StrategyParams, symbol: str) -> float:
    """One normal-tier split, KRW."""
    return strategy_capital(p, "optimized", symbol) * tier_fraction("normal", p) / p.normal_splits


def first_entry_fraction(tier: str, p: StrategyParams, splits: int = 1) -> float:
    """optimized: the normal tier enters the splits |z| has reached; extreme and ultra enter whole."""
    if tier == "normal":
        return tier_fraction("normal", p) * min(max(splits, 1), p.normal_splits) / p.normal_splits
    return tier_fraction(tier, p)


def strategy_capital(p: StrategyParams, strategy: str, symbol: str) -> float:
    """Capital allotted to ``symbol`` when ``strategy`` trades: initial capital x the owner's
    allocation (zscore/multi_timeframe use ``zscore.allocation`` if set, else optimized's)."""
    return p.initial_capital_krw * p.allocation_for(strategy).get(symbol, 0.0)


def entry_size_krw(p: StrategyParams, strategy: str, symbol: str, tier: str | None, splits: int = 1) -> float:
    cap = strategy_capital(p, strategy, symbol)
    if strategy == "optimized":
        return cap * first_entry_fraction(tier or "normal", p, splits)
    return cap * p.position_size


def floor_premium(mid: Any, executable: Any, p: StrategyParams) -> Any:
    """The premium the |premium| >= min_kimp_entry floor reads (``zscore.min_kimp_on``)."""
    return mid if p.min_kimp_on == "mid" else executable


def optimized_add(p: StrategyParams, symbol: str, tier: str, adds: int, last_add_abs_z: float,
                  notional_krw: float, abs_z: float) -> tuple[str, float, str] | None:
    """The add an open optimized position takes at ``abs_z`` (|z| in its direction), if any.

    Returns ``(tier_after, size_krw, why)``. Rules, deepest first:
      1. top-up: |z| reached a deeper tier than the position's (and the owner
         left ``optimized.topup_on_deeper_tier`` on) -> add up to that tier's
         full size; the position adopts that tier and its target;
      2. split: a normal position holding fewer splits than |z| has reached
         (split k due at ``normal_z + k x split_step``, the last below
         extreme_z) -> add the missing splits, up to the normal tier's size.
    Never above ``max_single_position`` of the symbol's capital. Splits held are
    counted from the position's notional (one split = :func:`split_krw`).
    """
    cap = strategy_capital(p, "optimized", symbol)
    room = cap * p.max_single_position - notional_krw
    if room <= 1.0:
        return None
    rank_now = int(tier_rank(abs_z, p))
    if p.topup_on_deeper_tier and rank_now > TIER_RANK[tier]:
        new_tier = TIERS[rank_now - 1]
        size = min(cap * tier_fraction(new_tier, p) - notional_krw, room)
        if size > 1.0:
            return new_tier, size, (f"top-up to the {new_tier} tier: |z| {abs_z:.2f} >= "
                                    f"{p.ultra_z if new_tier == 'ultra' else p.extreme_z:g}")
    if tier == "normal" and p.normal_splits > 1:
        one = split_krw(p, symbol)
        held = held_splits(notional_krw, one)
        due = int(splits_due(abs_z, p))
        if due > held:
            size = min(one * (due - held), cap * tier_fraction("normal", p) - notional_krw, room)
            if size > 1.0:
                return "normal", size, (f"normal split {due}/{p.normal_splits}: |z| {abs_z:.2f} >= "
                                        f"{p.split_thresholds()[due - 1]:.4g}")
    return None


def held_splits(notional_krw: float, one_split_krw: float) -> int:
    """Normal-tier splits a position holds (its notional in splits, rounded: fills are not exact)."""
    if one_split_krw <= 0:
        return 0
    return int(notional_krw / one_split_krw + 0.5)


# ---------------------------------------------------------------- exits


def zscore_exit_ok(net_pct: Any, z_exit: Any, min_profit: float, exit_z: float) -> Any:
    """zscore / multi_timeframe: net profit >= min_profit_exit and |z| <= exit_z."""
    return (net_pct >= min_profit) & (abs(z_exit) <= exit_z)


def target_exit_ok(net_pct: Any, target: float) -> Any:
    """optimized: net profit >= the position's tier target."""
    return net_pct >= target


def stop_exit_ok(net_pct: Any, stop_loss_pct: float | None) -> Any:
    if stop_loss_pct is None:
        return net_pct != net_pct  # all False, same shape
    return net_pct <= -stop_loss_pct


def max_hold_ok(now_ms: Any, opened_ms: int, max_holding_hours: float | None) -> Any:
    if max_holding_hours is None:
        return now_ms != now_ms
    return (now_ms - opened_ms) >= max_holding_hours * 3_600_000.0


# ---------------------------------------------------------------- profit


def leg_fees_krw(upbit_qty: Any, upbit_price: Any, binance_qty: Any, binance_price: Any, fx: Any,
                 upbit_fee: float, binance_fee: float) -> Any:
    """Taker fees of both legs in KRW (the perp leg's USDT fee converted at ``fx``)."""
    return upbit_qty * upbit_price * upbit_fee + binance_qty * binance_price * fx * binance_fee


def pair_pnl_krw(direction: Direction, upbit_qty: float, upbit_avg: float, binance_qty: float,
                 binance_avg: float, upbit_exit: Any, binance_exit: Any, fx: Any, upbit_fee: float,
                 binance_fee: float, fees_paid_krw: float, funding_paid_krw: Any) -> Any:
    """Net KRW profit of a pair if closed at ``upbit_exit`` / ``binance_exit`` now.

    Both legs' P&L (the perp's USDT P&L at the current rate ``fx``), minus the
    fees already paid, the exit fees and the funding paid (negative = received).
    """
    if direction is Direction.LONG_PREMIUM:
        upbit_leg = upbit_qty * (upbit_exit - upbit_avg)
        binance_leg = binance_qty * (binance_avg - binance_exit) * fx
    else:
        upbit_leg = upbit_qty * (upbit_avg - upbit_exit)
        binance_leg = binance_qty * (binance_exit - binance_avg) * fx
    exit_fees = leg_fees_krw(upbit_qty, upbit_exit, binance_qty, binance_exit, fx, upbit_fee, binance_fee)
    return upbit_leg + binance_leg - exit_fees - fees_paid_krw - funding_paid_krw


def funding_krw(direction: Direction, qty: Any, mark_usdt: Any, fx: Any, rate: float) -> Any:
    """Funding the pair PAYS at one funding time (negative = received).

    The perp is short in a long-premium pair (it receives a positive rate) and
    long in a short-premium pair (it pays a positive rate).
    """
    amount = rate * qty * mark_usdt * fx
    return -amount if direction is Direction.LONG_PREMIUM else amount
