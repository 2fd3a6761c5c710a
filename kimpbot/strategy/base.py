"""Strategy interface, signals and positions: pure code, time injected, no I/O.

The live market engine feeds a :class:`Strategy` closed premium bars
(:meth:`Strategy.on_bar`) and asks it, at every snapshot, what to do
(:meth:`Strategy.evaluate`). The backtester drives the very same rules
(:mod:`kimpbot.strategy.rules`) over arrays. Nothing here reads a clock, a file
or the network.

Window and z
------------
One :class:`~kimpbot.strategy.rolling.RollingStats` per symbol holds the closed
bars of the MID premium over ``zscore.window_days`` (20 days = 5760 bars of 5
minutes; on hourly history 480 bars of 60 minutes). The window is a span of
time: bars older than 20 days before now leave it even when no newer bar came
(an outage, gaps in history), and it gives a z once history covers the span and
``zscore.min_window_fill`` of its bars exist. At a tick an entry's z is
the z of the EXECUTABLE premium for its direction against that window.

Positions
---------
One position per symbol. ``zscore``/``multi_timeframe`` enter once at
``position_size``; ``optimized`` may add to its position (normal-tier splits and
deeper-tier top-ups, see :func:`kimpbot.strategy.rules.optimized_add`). The
executor owns :class:`Position` objects; :func:`open_position` and
:func:`add_to_position` apply a fill so live and backtest book it alike.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from kimpbot.models import Direction, PremiumBar, PremiumSnapshot
from kimpbot.strategy import rules
from kimpbot.strategy_file.keys import STRATEGIES, StrategyParams
from kimpbot.strategy.rolling import RollingStats

Action = Literal["enter", "add", "exit", "refused"]


@dataclass(frozen=True, slots=True)
class Signal:
    """What a strategy wants done. ``refused`` signals are never returned by
    :meth:`Strategy.evaluate`; they are kept in ``Strategy.last_refusals`` so the
    bot can say why it did not trade."""

    symbol: str
    direction: Direction
    action: Action
    size_krw: float  # enter/add: notional to add (Upbit leg, KRW); exit: the position's notional
    z: float | None  # z of the executable premium the rule read
    premium_pct: float | None  # the executable premium it acted on
    tier: str  # "base" (zscore, multi_timeframe) or normal / extreme / ultra (optimized)
    target_pct: float  # the exit target that applies after this signal
    reason: str  # the rule and its numbers, for the chat and the journal
    ts: int  # ms UTC, the snapshot's time
    position_id: str | None = None  # add/exit: the position it acts on
    strategy: str = ""


@dataclass(slots=True)
class Position:
    """An open hedged pair, as booked by the executor (or the backtester)."""

    id: str
    symbol: str
    direction: Direction
    tier: str
    opened_ts: int
    upbit_qty: float
    upbit_avg_price_krw: float
    binance_qty: float
    binance_avg_price_usdt: float
    fx_at_entry: float
    entry_premium_pct: float
    entry_notional_krw: float
    fees_krw: float = 0.0  # fees paid so far, both legs, KRW
    funding_krw: float = 0.0  # funding paid so far, KRW (negative = received)
    adds: int = 0  # fills after the first
    target_pct: float = 0.0
    # |z| of the last enter/add signal that filled: the next normal split needs
    # |z| >= last_add_abs_z + split_step_z. The executor copies abs(signal.z).
    last_add_abs_z: float = 0.0


@dataclass(frozen=True, slots=True)
class PairFill:
    """Both legs of one entry/add/exit as filled."""

    ts: int
    upbit_price_krw: float
    upbit_qty: float
    binance_price_usdt: float
    binance_qty: float
    fx: float
    fees_krw: float


@dataclass(slots=True)
class Decision:
    signals: list[Signal] = field(default_factory=list)
    refusals: list[Signal] = field(default_factory=list)


# ---------------------------------------------------------------- pure position functions


def position_net_profit_pct(position: Position, snap: PremiumSnapshot) -> float | None:
    """Net profit in percent of entry notional if the pair were closed at ``snap``'s exit-side prices.

    A long-premium pair exits by selling Upbit at ``upbit_sell_vwap`` and buying
    the perp at ``binance_buy_vwap`` (a short-premium pair the other way), the
    perp's P&L converted at ``snap.fx_rate``, minus fees paid, exit fees and
    funding paid. None when the book is too thin to quote the exit.
    """
    pnl = position_net_profit_krw(position, snap)
    if pnl is None:
        return None
    return pnl / position.entry_notional_krw * 100.0


def position_net_profit_krw(position: Position, snap: PremiumSnapshot) -> float | None:
    if position.direction is Direction.LONG_PREMIUM:
        u_exit, b_exit = snap.upbit_sell_vwap, snap.binance_buy_vwap
    else:
        u_exit, b_exit = snap.upbit_buy_vwap, snap.binance_sell_vwap
    if u_exit is None or b_exit is None:
        return None
    return rules.pair_pnl_krw(position.direction, position.upbit_qty, position.upbit_avg_price_krw,
                              position.binance_qty, position.binance_avg_price_usdt, u_exit, b_exit,
                              snap.fx_rate, snap.upbit_fee, snap.binance_fee, position.fees_krw,
                              position.funding_krw)


def open_position(position_id: str, signal: Signal, fill: PairFill) -> Position:
    """Book the first fill of an ``enter`` signal."""
    return Position(
        id=position_id,
        symbol=signal.symbol,
        direction=signal.direction,
        tier=signal.tier,
        opened_ts=fill.ts,
        upbit_qty=fill.upbit_qty,
        upbit_avg_price_krw=fill.upbit_price_krw,
        binance_qty=fill.binance_qty,
        binance_avg_price_usdt=fill.binance_price_usdt,
        fx_at_entry=fill.fx,
        entry_premium_pct=rules.premium_arr(fill.upbit_price_krw, fill.binance_price_usdt, fill.fx),
        entry_notional_krw=fill.upbit_qty * fill.upbit_price_krw,
        fees_krw=fill.fees_krw,
        funding_krw=0.0,
        adds=0,
        target_pct=signal.target_pct,
        last_add_abs_z=abs(signal.z) if signal.z is not None else 0.0,
    )


def add_to_position(position: Position, signal: Signal, fill: PairFill) -> None:
    """Book an ``add`` fill: quantity-weighted average prices, tier/target from the signal."""
    uq = position.upbit_qty + fill.upbit_qty
    bq = position.binance_qty + fill.binance_qty
    add_notional = fill.upbit_qty * fill.upbit_price_krw
    w_old = position.entry_notional_krw / (position.entry_notional_krw + add_notional)
    position.entry_premium_pct = (position.entry_premium_pct * w_old + rules.premium_arr(
        fill.upbit_price_krw, fill.binance_price_usdt, fill.fx) * (1.0 - w_old))
    position.upbit_avg_price_krw = (position.upbit_qty * position.upbit_avg_price_krw
                                    + fill.upbit_qty * fill.upbit_price_krw) / uq
    position.binance_avg_price_usdt = (position.binance_qty * position.binance_avg_price_usdt
                                       + fill.binance_qty * fill.binance_price_usdt) / bq
    position.upbit_qty = uq
    position.binance_qty = bq
    position.entry_notional_krw = position.entry_notional_krw + add_notional
    position.fees_krw = position.fees_krw + fill.fees_krw
    position.adds += 1
    position.tier = signal.tier
    position.target_pct = signal.target_pct
    if signal.z is not None:
        position.last_add_abs_z = abs(signal.z)


# ---------------------------------------------------------------- strategy base


def _fmt_dir(d: Direction) -> str:
    if d is Direction.LONG_PREMIUM:
        return "long premium (buy Upbit, short Binance perp)"
    return "short premium (sell held Upbit coin, long Binance perp)"


class Strategy:
    """Shared machinery: per-symbol z windows, exits common to all, inventory rule.

    ``bar_minutes``/``confirm_minutes`` default to the owner's 5-minute window
    bars and 1-minute confirmation bars; the backtester passes the data's own bar
    length when it is longer (hourly history: both are 60 and the window holds
    the same 20-day span, 480 bars).
    """

    name = "base"

    def __init__(self, params: StrategyParams, *, bar_minutes: int | None = None,
                 confirm_minutes: int | None = None) -> None:
        self.params = params
        self.bar_minutes = int(bar_minutes or params.bar_minutes)
        self.confirm_minutes = int(confirm_minutes or params.confirm_bar_minutes)
        self.window = params.window_bars_for(self.bar_minutes)
        self._stats: dict[str, RollingStats] = {}
        self._confirm: dict[str, deque[float]] = {}
        self._last_exit_check: dict[str, int] = {}
        self.last_refusals: list[Signal] = []
        self._ids = itertools.count(1)

    # -- inputs ------------------------------------------------------------------------

    def stats(self, symbol: str) -> RollingStats:
        st = self._stats.get(symbol)
        if st is None:
            st = self._stats[symbol] = RollingStats(self.window, self.bar_minutes * 60_000, self.params.min_window_fill)
        return st

    def on_bar(self, bar: PremiumBar) -> None:
        """Closed premium bars: window-length bars feed the z window, confirmation-length
        bars the multi_timeframe confirmation (one bar may be both)."""
        if bar.minutes == self.bar_minutes:
            self.stats(bar.symbol).push(bar.close, bar.ts)
        if bar.minutes == self.confirm_minutes:
            dq = self._confirm.get(bar.symbol)
            if dq is None:
                dq = self._confirm[bar.symbol] = deque(maxlen=self.params.confirm_bars + 1)
            dq.append(bar.close)

    def history_from(self, symbol: str, since_ms: int) -> None:
        """Warm-up asked for history from ``since_ms``: the window's span is covered from there."""
        self.stats(symbol).history_from(since_ms)

    def zscore(self, symbol: str, premium_pct: float, now_ms: int | None = None) -> float | None:
        """z of ``premium_pct`` against the symbol's window at ``now_ms`` (bars older than the
        window's span have left it); None until the window is ready."""
        st = self.stats(symbol)
        if now_ms is not None:
            st.advance(now_ms)
        return st.zscore(premium_pct)

    def ready(self, symbol: str) -> bool:
        return self.stats(symbol).ready

    # -- decisions ---------------------------------------------------------------------

    def capital(self, symbol: str) -> float:
        return rules.strategy_capital(self.params, self.name, symbol)

    def evaluate(self, snap: PremiumSnapshot, positions: list[Position], inventory_krw: float,
                 now_ms: int) -> list[Signal]:
        """Signals for ``snap.symbol`` now. ``positions``: the open pairs (any symbol);
        ``inventory_krw``: Upbit coin of this symbol available to sell, valued in KRW."""
        d = self.decide(snap, positions, inventory_krw, now_ms)
        self.last_refusals = d.refusals
        return d.signals

    def decide(self, snap: PremiumSnapshot, positions: list[Position], inventory_krw: float,
               now_ms: int) -> Decision:
        out = Decision()
        sym = snap.symbol
        exit_due = self._exit_due(sym, now_ms)
        zl = self.zscore(sym, snap.exec_long, now_ms) if snap.exec_long is not None else None
        zs = self.zscore(sym, snap.exec_short, now_ms) if snap.exec_short is not None else None
        mine = [p for p in positions if p.symbol == sym]
        if mine:
            for pos in mine:
                if exit_due:
                    sig = self._check_exit(pos, snap, zl, zs, now_ms)
                    if sig is not None:
                        out.signals.append(sig)
            if not out.signals:
                self._check_add(mine[0], snap, zl, zs, inventory_krw, now_ms, out)
            return out
        self._check_entry(snap, zl, zs, inventory_krw, now_ms, out)
        return out

    def _exit_due(self, symbol: str, now_ms: int) -> bool:
        return True

    def _check_exit(self, pos: Position, snap: PremiumSnapshot, zl: float | None, zs: float | None,
                    now_ms: int) -> Signal | None:
        p = self.params
        net = position_net_profit_pct(pos, snap)
        if net is None:
            return None
        long = pos.direction is Direction.LONG_PREMIUM
        z_exit = zs if long else zl
        prem = snap.exec_short if long else snap.exec_long
        reason = None
        if rules.stop_exit_ok(net, p.stop_loss_pct):
            reason = f"stop loss: net profit {net:.3f}% <= -{p.stop_loss_pct:g}%"
        elif rules.max_hold_ok(now_ms, pos.opened_ts, p.max_holding_hours):
            reason = (f"maximum holding time: {(now_ms - pos.opened_ts) / 3.6e6:.1f} h >= "
                      f"{p.max_holding_hours:g} h")
        else:
            reason = self._exit_rule(pos, net, z_exit)
        if reason is None:
            return None
        return Signal(pos.symbol, pos.direction, "exit", pos.entry_notional_krw, z_exit, prem, pos.tier,
                      pos.target_pct, reason, snap.ts, pos.id, self.name)

    def _exit_rule(self, pos: Position, net: float, z_exit: float | None) -> str | None:
        raise NotImplementedError

    def _check_add(self, pos: Position, snap: PremiumSnapshot, zl: float | None, zs: float | None,
                   inventory_krw: float, now_ms: int, out: Decision) -> None:
        return None

    def _check_entry(self, snap: PremiumSnapshot, zl: float | None, zs: float | None, inventory_krw: float,
                     now_ms: int, out: Decision) -> None:
        raise NotImplementedError

    def _emit(self, out: Decision, sig: Signal, inventory_krw: float) -> None:
        """Short-premium entries and adds sell Upbit coin the owner holds: refuse without it."""
        if sig.direction is Direction.SHORT_PREMIUM and inventory_krw < sig.size_krw:
            why = (f"refused: {sig.action} short premium needs {sig.size_krw:,.0f} KRW of {sig.symbol} on Upbit "
                   f"to sell, inventory is {max(inventory_krw, 0.0):,.0f} KRW ({sig.reason})")
            out.refusals.append(Signal(sig.symbol, sig.direction, "refused", sig.size_krw, sig.z, sig.premium_pct,
                                       sig.tier, sig.target_pct, why, sig.ts, sig.position_id, self.name))
            return
        out.signals.append(sig)


def make_strategy(params: StrategyParams, name: str | None = None, *, bar_minutes: int | None = None,
                  confirm_minutes: int | None = None) -> Strategy:
    """The strategy the owner chose (``params.strategy``), or ``name`` for a side-by-side backtest."""
    from kimpbot.strategy.optimized import OptimizedStrategy
    from kimpbot.strategy.zscore import MultiTimeframeStrategy, ZScoreStrategy

    which = name or params.strategy
    classes: dict[str, type[Strategy]] = {"zscore": ZScoreStrategy, "multi_timeframe": MultiTimeframeStrategy,
                                          "optimized": OptimizedStrategy}
    if which not in classes:
        raise ValueError(f"unknown strategy {which!r}: one of {', '.join(STRATEGIES)}")
    if which == "multi_timeframe" and confirm_minutes is not None and confirm_minutes > params.confirm_bar_minutes:
        raise ValueError(f"multi_timeframe confirms on {params.confirm_bar_minutes}-minute bars; "
                         f"{confirm_minutes}-minute confirmation bars would make it a different strategy")
    return classes[which](params, bar_minutes=bar_minutes, confirm_minutes=confirm_minutes)
