"""The fast backtester: vectorised indicators and an event-jumping loop over the shared rules.

How it stays honest and fast
----------------------------
* Indicators are computed once per symbol over whole arrays: the mid premium,
  the executable premiums of both directions (fees and slippage included), the
  causal rolling mean/std of the closed window bars
  (:func:`kimpbot.strategy.rolling.rolling_mean_std`) and the z of every bar.
* The loop does not visit every bar. While flat it jumps to the next bar whose
  entry rule holds (a precomputed index array + ``searchsorted``). While in a
  position it evaluates the position's net profit and the exit/add rules over
  growing chunks of bars with numpy and jumps to the first bar where one holds.
  Every rule is a function of :mod:`kimpbot.strategy.rules`, the same functions
  the live :class:`~kimpbot.strategy.base.Strategy` calls one tick at a time;
  positions are booked with the live :func:`~kimpbot.strategy.base.open_position`
  and :func:`~kimpbot.strategy.base.add_to_position`.
* No look-ahead: the decision at bar t reads bar t's closes (and the window of
  bars closed by then) and fills at bar t+1 (its open by default, or its close),
  with slippage and fees on both legs. Funding is booked on the perp leg at
  every funding time the position is held over: the symbol's funding history
  (``funding_<SYM>.csv``) where given, else every 8 hours at the constant rate.
* At the end of the data an open position is closed at the last close (its exit
  reason says so), so the equity change equals the sum of the trades' P&L.

:mod:`kimpbot.backtest.reference` runs the live Strategy objects bar by bar over
the same data; a test demands the same trades from both.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from kimpbot.backtest.anatomy import Leg, trade_anatomy
from kimpbot.backtest.data import Dataset, SymbolData
from kimpbot.backtest.fills import MarketModel, entry_fill, exit_prices, funding_events
from kimpbot.models import Direction
from kimpbot.strategy import rules
from kimpbot.strategy.base import Position, Signal, add_to_position, open_position
from kimpbot.strategy.params import StrategyParams
from kimpbot.strategy.rolling import rolling_mean_std_time, zscores

LONG = Direction.LONG_PREMIUM
SHORT = Direction.SHORT_PREMIUM


@dataclass
class Trade:
    strategy: str
    symbol: str
    direction: str
    tier: str
    entry_decision_ms: int
    entry_ms: int
    exit_decision_ms: int
    exit_ms: int
    entry_notional_krw: float
    pnl_krw: float
    pnl_pct: float
    fees_krw: float
    funding_krw: float
    adds: int
    entry_premium_pct: float
    exit_premium_pct: float
    entry_z: float
    exit_reason: str
    fills: list[tuple[int, str, float]] = field(default_factory=list)  # (fill ms, action, KRW)
    # P&L anatomy (kimpbot.backtest.anatomy): pnl = premium + usdkrw + unhedged - funding - fees - slippage
    premium_krw: float = 0.0
    usdkrw_krw: float = 0.0
    slippage_krw: float = 0.0
    unhedged_krw: float = 0.0

    @property
    def holding_hours(self) -> float:
        return (self.exit_ms - self.entry_ms) / 3.6e6


@dataclass(frozen=True)
class DecisionRec:
    """One signal acted on (enter/add/exit), for comparing runs and for the chart."""

    row: int
    ts: int  # decision time (bar close), ms
    action: str
    direction: str
    tier: str
    size_krw: float


@dataclass
class SymbolRun:
    symbol: str
    trades: list[Trade]
    decisions: list[DecisionRec]
    equity: np.ndarray  # KRW P&L of this symbol at each bar close (realised + marked open position)
    refusals: int = 0
    refusal_episodes: int = 0
    refusal_examples: list[str] = field(default_factory=list)
    first_ready_row: int | None = None
    rows_in_position: int = 0


class StrategyRefused(ValueError):
    """A strategy cannot run on this data as SPEC defines it (the message says why and what to do)."""


def multi_timeframe_problem(p: StrategyParams, interval_ms: int) -> str | None:
    """multi_timeframe confirms on 1-minute bars: on coarser data it would be a different strategy."""
    iv = interval_ms / 60_000
    if iv <= p.confirm_bar_minutes:
        return None
    from kimpbot.backtest.data import interval_label

    return (f"multi_timeframe needs {p.confirm_bar_minutes}-minute bars for its {p.confirm_bars}-bar reversion "
            f"confirmation (multi_timeframe.confirm_bar_minutes), the data has {interval_label(interval_ms)} bars: "
            f"confirming on those would be a different strategy, so it is not run. Download "
            f"{p.confirm_bar_minutes}-minute history (kimpbot history --interval 1m) to backtest it")


def bar_lengths(p: StrategyParams, interval_ms: int) -> tuple[int, int]:
    """(window bar minutes, confirmation bar minutes) for data of this interval: the owner's
    lengths, or the data's own bars when those are longer (hourly history: 60 and 60)."""
    iv = interval_ms / 60_000
    bar = p.bar_minutes if iv <= p.bar_minutes else int(round(iv))
    conf = p.confirm_bar_minutes if iv <= p.confirm_bar_minutes else int(round(iv))
    return bar, conf


def _group_bars(ts: np.ndarray, close_ms: np.ndarray, value: np.ndarray, minutes: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closed bars of ``minutes`` on the UTC grid: their close value (the last row's), per
    row how many of them had closed by that row's close, and each bar's open time."""
    span = minutes * 60_000
    g = ts // span
    n = ts.shape[0]
    last = np.ones(n, dtype=bool)
    np.not_equal(g[1:], g[:-1], out=last[:-1])
    if bool(last.all()) and bool(((g + 1) * span <= close_ms).all()):
        # every row is a closed bar of its own (bars >= window bars)
        return value, np.arange(1, n + 1), g * span
    ends = (g[last] + 1) * span
    first = np.ones(n, dtype=bool)
    first[1:] = last[:-1]
    gi = np.cumsum(first) - 1  # the bar each row belongs to
    count = gi + (ends[gi] <= close_ms)  # earlier bars all closed; its own once its end is reached
    return value[last], count, g[last] * span


def _run_lengths(flags: np.ndarray) -> np.ndarray:
    """Length of the run of True ending at each index."""
    c = np.cumsum(flags, dtype=np.int64)
    reset = np.maximum.accumulate(np.where(flags, 0, c))
    return c - reset


class Indicators:
    """Everything about one symbol that does not depend on positions, as arrays."""

    def __init__(self, sd: SymbolData, p: StrategyParams, m: MarketModel) -> None:
        self.sd = sd
        self.symbol = sd.symbol
        n = self.n = sd.n
        self.ts = sd.ts
        self.close_ms = sd.close_ms
        s = m.slip
        self.fee_u, self.fee_b = m.upbit_fee, m.binance_fee
        uc, bc, fx = sd.u_close, sd.b_close, sd.fx_close
        self.fx = fx
        # decision-time prices: what each side would fill at (fees excluded), as in bar_snapshot
        self.u_buy, self.u_sell = rules.slipped(uc, s, True), rules.slipped(uc, s, False)
        self.b_buy, self.b_sell = rules.slipped(bc, s, True), rules.slipped(bc, s, False)
        self.mid = rules.premium_arr(uc, bc, fx)
        self.exec_long = rules.exec_long_arr(self.u_buy, self.b_sell, fx, m.upbit_fee, m.binance_fee)
        self.exec_short = rules.exec_short_arr(self.u_sell, self.b_buy, fx, m.upbit_fee, m.binance_fee)
        # the z window: closed window bars of the mid premium
        self.bar_minutes, self.confirm_minutes = bar_lengths(p, sd.interval_ms)
        self.window = p.window_bars_for(self.bar_minutes)
        # the window is a span of time: `window` slots of the window bar length ending at the last
        # bar boundary a row's close has reached; missing bars are empty slots (never stretch it)
        wvals, _wcount, wopen = _group_bars(sd.ts, self.close_ms, self.mid, p.bar_minutes)
        bar_ms = self.bar_minutes * 60_000
        slots = wopen // bar_ms
        if slots.shape[0] > 1 and not bool((slots[1:] > slots[:-1]).all()):
            keep = np.ones(slots.shape[0], dtype=bool)
            keep[:-1] = slots[1:] != slots[:-1]  # two bars in one slot (irregular data): the last counts
            slots, wvals = slots[keep], wvals[keep]
        wmean, wstd, g0 = rolling_mean_std_time(slots, wvals, self.window, p.min_window_fill)
        k = self.close_ms // bar_ms - 1 - g0  # the last closed slot at each row's close
        has = (k >= 0) & (k < wmean.shape[0])
        self.mean = np.full(n, np.nan)
        self.std = np.full(n, np.nan)
        self.mean[has] = wmean[k[has]]
        self.std[has] = wstd[k[has]]
        self.zL = zscores(self.exec_long, self.mean, self.std)
        self.zS = zscores(self.exec_short, self.mean, self.std)
        ready = np.isfinite(self.mean)
        self.ready = ready
        self.first_ready_row = int(np.argmax(ready)) if ready.any() else None
        self._params = p
        self._confirm: tuple[np.ndarray, np.ndarray] | None = None
        self._z_mid: np.ndarray | None = None
        # fills at the next bar
        if m.fill == "next_close":
            self.fill_u, self.fill_b, self.fill_fx, self.fill_ms = uc, bc, fx, self.close_ms
        else:
            self.fill_u, self.fill_b, self.fill_fx, self.fill_ms = sd.u_open, sd.b_open, sd.fx_open, sd.ts
        # funding times and their marks (the perp's last close at or before each)
        F, R = funding_events(sd, m.funding_rate_8h)
        r = np.searchsorted(self.close_ms, F, side="right") - 1
        F = F[r >= 0]
        R = R[r >= 0]
        r = r[r >= 0]
        self.funding_ms = F
        self.funding_rates = R
        self.funding_mark = bc[r]
        self.funding_fx = fx[r]
        self.funding_upto = np.searchsorted(F, self.close_ms, side="right")  # events <= each close

    @property
    def z_mid(self) -> np.ndarray:
        """z of the mid premium (for the chart)."""
        if self._z_mid is None:
            self._z_mid = zscores(self.mid, self.mean, self.std)
        return self._z_mid

    def _confirmation(self) -> tuple[np.ndarray, np.ndarray]:
        """multi_timeframe: the last ``confirm_bars`` closed confirmation bars all moved back
        toward the mean (strictly rising for long premium, falling for short), per row."""
        if self._confirm is None:
            p, sd, n = self._params, self.sd, self.n
            cvals, ccount, _ = _group_bars(sd.ts, self.close_ms, self.mid, p.confirm_bar_minutes)
            need = p.confirm_bars
            up = np.zeros(cvals.shape[0], dtype=bool)
            down = np.zeros(cvals.shape[0], dtype=bool)
            up[1:] = cvals[1:] > cvals[:-1]
            down[1:] = cvals[1:] < cvals[:-1]
            run_up, run_down = _run_lengths(up), _run_lengths(down)
            j = ccount - 1
            okj = j >= need
            cl = np.zeros(n, dtype=bool)
            cs = np.zeros(n, dtype=bool)
            cl[okj] = run_up[j[okj]] >= need
            cs[okj] = run_down[j[okj]] >= need
            self._confirm = (cl, cs)
        return self._confirm

    @property
    def confirm_long(self) -> np.ndarray:
        return self._confirmation()[0]

    @property
    def confirm_short(self) -> np.ndarray:
        return self._confirmation()[1]

    def exit_due(self, p: StrategyParams, name: str, from_row: int) -> np.ndarray | None:
        """multi_timeframe checks exits every ``exit_check_seconds``: a mask when bars are shorter."""
        step = p.exit_check_seconds * 1000
        if name != "multi_timeframe" or self.sd.interval_ms >= step:
            return None
        due = np.zeros(self.n, dtype=bool)
        last = None
        for i in range(from_row, self.n):
            c = int(self.close_ms[i])
            if last is None or c - last >= step:
                due[i] = True
                last = c
        return due


def inventory_krw(setting: str | float, capital: float) -> float:
    """Upbit coin inventory (KRW) for short-premium trades: none, full (the symbol's capital) or KRW."""
    if setting == "none":
        return 0.0
    if setting == "full":
        return capital
    return float(str(setting).replace("_", ""))


class _Pos:
    """An open position plus what the scan needs about its current segment."""

    def __init__(self, pos: Position, seg_row: int, seg_ms: int, decision_ms: int, entry_z: float) -> None:
        self.pos = pos
        self.seg_row = seg_row
        self.seg_ms = seg_ms
        self.decision_ms = decision_ms
        self.entry_z = entry_z
        self.fills: list[tuple[int, str, float]] = []
        self.legs: list[Leg] = []  # candle prices of each entry/add, for the P&L anatomy


def run_symbol(ind: Indicators, p: StrategyParams, name: str, m: MarketModel, inventory: str | float,
               from_row: int = 0, progress: Callable[[int], None] | None = None) -> SymbolRun:
    """Backtest one strategy on one symbol."""
    n = ind.n
    sym = ind.symbol
    cap = rules.strategy_capital(p, name, sym)
    inv_setting = inventory_krw(inventory, cap)
    ids = itertools.count(1)
    run = SymbolRun(sym, [], [], np.zeros(n), first_ready_row=ind.first_ready_row)
    unreal = np.zeros(n)
    realized_rows: list[int] = []
    realized_amts: list[float] = []
    written_to = 0

    # ---- entry candidates over all bars (the live rules, on arrays)
    with np.errstate(invalid="ignore"):
        if name == "optimized":
            rank_l = rules.tier_rank(-ind.zL, p)
            rank_s = rules.tier_rank(ind.zS, p)
            ok_l = (rank_l >= 1) & (abs(rules.floor_premium(ind.mid, ind.exec_long, p)) >= p.opt_min_kimp_entry)
            ok_s = (rank_s >= 1) & (abs(rules.floor_premium(ind.mid, ind.exec_short, p)) >= p.opt_min_kimp_entry)
            sizes = np.array([0.0] + [rules.entry_size_krw(p, name, sym, t) for t in rules.TIERS])
            size_s = sizes[rank_s]
            if p.normal_splits > 1:  # a normal entry takes every split its |z| has reached
                nsplit = np.clip(rules.splits_due(ind.zS, p), 1, p.normal_splits)
                size_s = np.where(rank_s == 1, cap * rules.tier_fraction("normal", p) * nsplit / p.normal_splits,
                                  size_s)
        else:
            rank_l = rank_s = None
            ok_l = rules.long_entry_ok(ind.zL, rules.floor_premium(ind.mid, ind.exec_long, p), p.entry_threshold,
                                       p.min_kimp_entry)
            ok_s = rules.short_entry_ok(ind.zS, rules.floor_premium(ind.mid, ind.exec_short, p), p.entry_threshold,
                                        p.min_kimp_entry)
            if name == "multi_timeframe":
                ok_l &= ind.confirm_long
                ok_s &= ind.confirm_short
            size_s = np.full(n, rules.entry_size_krw(p, name, sym, None))
    ok_l[:from_row] = False
    ok_s[:from_row] = False
    short_row = ok_s & ~ok_l
    allowed_s = short_row & (inv_setting >= size_s)
    refused = short_row & ~allowed_s
    ev_idx = np.flatnonzero(ok_l | allowed_s)
    ref_idx = np.flatnonzero(refused)
    prev = np.zeros(n, dtype=bool)
    prev[1:] = refused[:-1]
    ref_start_idx = np.flatnonzero(refused & ~prev)
    due = ind.exit_due(p, name, from_row)

    def count_refusals(a: int, b: int, sizes_arr: np.ndarray | None = None, direction: str = "") -> None:
        """Flat-time refusals on rows [a, b)."""
        if b <= a or ref_idx.shape[0] == 0:
            return
        lo, hi = np.searchsorted(ref_idx, a), np.searchsorted(ref_idx, b)
        if hi <= lo:
            return
        run.refusals += int(hi - lo)
        run.refusal_episodes += int(refused[a]) + int(np.searchsorted(ref_start_idx, b) -
                                                      np.searchsorted(ref_start_idx, a + 1))
        rows = ref_idx[lo:hi]
        starts = rows[(rows == a) | ~prev[rows]]  # the first bar of each refusal episode
        for r in starts[: max(0, 3 - len(run.refusal_examples))]:
            run.refusal_examples.append(
                f"{sym} {_iso(ind.close_ms[r])}: short premium entry (z {ind.zS[r]:.2f}, premium "
                f"{ind.exec_short[r]:.2f}%) refused: needs {size_s[r]:,.0f} KRW of {sym} on Upbit, inventory "
                f"{inv_setting:,.0f} KRW")

    def book_funding(st: _Pos, upto_ms: int) -> None:
        """Add funding events in (segment start, upto] to the position, in time order."""
        pos = st.pos
        m0 = int(np.searchsorted(ind.funding_ms, st.seg_ms, side="right"))
        m1 = int(np.searchsorted(ind.funding_ms, upto_ms, side="right"))
        f = pos.funding_krw
        if m1 > m0:
            amts = rules.funding_krw(pos.direction, pos.binance_qty, ind.funding_mark[m0:m1], ind.funding_fx[m0:m1],
                                     ind.funding_rates[m0:m1])
            for a in amts.tolist():
                f = f + a
        pos.funding_krw = f

    def close(st: _Pos, row: int, u_px: float, b_px: float, fx: float, t_ms: int, decision_ms: int,
              reason: str) -> None:
        nonlocal written_to
        pos = st.pos
        book_funding(st, t_ms)
        ux, bx = exit_prices(pos.direction, u_px, b_px, m)
        pnl = rules.pair_pnl_krw(pos.direction, pos.upbit_qty, pos.upbit_avg_price_krw, pos.binance_qty,
                                 pos.binance_avg_price_usdt, ux, bx, fx, m.upbit_fee, m.binance_fee, pos.fees_krw,
                                 pos.funding_krw)
        exit_fees = rules.leg_fees_krw(pos.upbit_qty, ux, pos.binance_qty, bx, fx, m.upbit_fee, m.binance_fee)
        st.fills.append((t_ms, "exit", pos.entry_notional_krw))
        an = trade_anatomy(pos.direction.value, st.legs, u_px, b_px, fx, float(pnl), float(pos.fees_krw + exit_fees),
                           float(pos.funding_krw))
        run.trades.append(Trade(
            strategy=name, symbol=sym, direction=pos.direction.value, tier=pos.tier,
            entry_decision_ms=st.decision_ms, entry_ms=pos.opened_ts, exit_decision_ms=decision_ms, exit_ms=t_ms,
            entry_notional_krw=pos.entry_notional_krw, pnl_krw=float(pnl),
            pnl_pct=float(pnl / pos.entry_notional_krw * 100.0), fees_krw=float(pos.fees_krw + exit_fees),
            funding_krw=float(pos.funding_krw), adds=pos.adds, entry_premium_pct=float(pos.entry_premium_pct),
            exit_premium_pct=float(rules.premium_arr(ux, bx, fx)), entry_z=st.entry_z, exit_reason=reason,
            fills=st.fills, premium_krw=an["premium_krw"], usdkrw_krw=an["usdkrw_krw"],
            slippage_krw=an["slippage_krw"], unhedged_krw=an["unhedged_krw"]))
        realized_rows.append(row)
        realized_amts.append(float(pnl))
        unreal[row:written_to] = 0.0
        written_to = row

    def signal(row: int, direction: Direction, action: str, tier: str, size: float, target: float,
               pos_id: str | None) -> Signal:
        z = float(ind.zL[row] if (direction is LONG) == (action != "exit") else ind.zS[row])
        prem = float(ind.exec_long[row] if (direction is LONG) == (action != "exit") else ind.exec_short[row])
        run.decisions.append(DecisionRec(row, int(ind.close_ms[row]), action, direction.value, tier, float(size)))
        return Signal(sym, direction, action, size, z, prem, tier, target, "", int(ind.close_ms[row]), pos_id,
                      name)  # type: ignore[arg-type]

    last = n - 1  # a decision on the last bar cannot fill
    i = from_row
    while i < last:
        # ------------------------------------------------------------- flat: next entry
        j = int(np.searchsorted(ev_idx, i))
        k = int(ev_idx[j]) if j < ev_idx.shape[0] else n
        count_refusals(i, min(k, n))
        if k >= last:
            break
        direction = LONG if ok_l[k] else SHORT
        if name == "optimized":
            rank = int(rank_l[k] if direction is LONG else rank_s[k])  # type: ignore[index]
            tier = rules.tier_name(rank) or "normal"
            az_k = float(-ind.zL[k] if direction is LONG else ind.zS[k])
            size = rules.entry_size_krw(p, name, sym, tier, int(rules.splits_due(az_k, p)))
            target = rules.tier_target(tier, p)
        else:
            tier, size, target = "base", rules.entry_size_krw(p, name, sym, None), p.min_profit_exit
        sig = signal(k, direction, "enter", tier, size, target, None)
        f = k + 1
        fill = entry_fill(direction, size, float(ind.fill_u[f]), float(ind.fill_b[f]), float(ind.fill_fx[f]), m,
                          int(ind.fill_ms[f]))
        pos = open_position(f"{name}-{sym}-{next(ids)}", sig, fill)
        st = _Pos(pos, f, int(ind.fill_ms[f]), int(ind.close_ms[k]), float(sig.z or 0.0))
        st.fills.append((fill.ts, "enter", size))
        st.legs.append(Leg(fill.upbit_qty, float(ind.fill_u[f]), float(ind.fill_b[f]), float(ind.fill_fx[f])))
        if progress:
            progress(k)
        # ------------------------------------------------------------- in position: scan
        while True:
            ev = _scan(ind, p, name, st, cap, inv_setting, due, unreal, run, last)
            written_to = max(written_to, ev[2])
            if ev[0] is None:
                close(st, last, float(ind.sd.u_close[last]), float(ind.sd.b_close[last]), float(ind.fx[last]),
                      int(ind.close_ms[last]), int(ind.close_ms[last]), "end of data: closed at the last bar")
                i = n
                break
            e, kind = ev[0], ev[1]
            f = e + 1
            if progress:
                progress(e)
            if kind == "exit":
                reason = ev[3]
                signal(e, st.pos.direction, "exit", st.pos.tier, st.pos.entry_notional_krw, st.pos.target_pct,
                       st.pos.id)
                close(st, f, float(ind.fill_u[f]), float(ind.fill_b[f]), float(ind.fill_fx[f]), int(ind.fill_ms[f]),
                      int(ind.close_ms[e]), reason)
                i = f
                break
            tier, size, _why = ev[3]
            pos = st.pos
            sig = signal(e, pos.direction, "add", tier, size, rules.tier_target(tier, p), pos.id)
            book_funding(st, int(ind.fill_ms[f]))
            fill = entry_fill(pos.direction, size, float(ind.fill_u[f]), float(ind.fill_b[f]),
                              float(ind.fill_fx[f]), m, int(ind.fill_ms[f]))
            add_to_position(pos, sig, fill)
            st.fills.append((fill.ts, "add", size))
            st.legs.append(Leg(fill.upbit_qty, float(ind.fill_u[f]), float(ind.fill_b[f]), float(ind.fill_fx[f])))
            st.seg_row, st.seg_ms = f, int(ind.fill_ms[f])
    rows = np.array(realized_rows, dtype=np.int64)
    realized = np.cumsum(np.bincount(rows, weights=np.array(realized_amts), minlength=n)) if rows.size else np.zeros(n)
    run.equity = realized + unreal
    run.rows_in_position = int(sum(_rows_between(ind, t) for t in run.trades))
    return run


def _rows_between(ind: Indicators, t: Trade) -> int:
    return int(np.searchsorted(ind.fill_ms, t.exit_ms) - np.searchsorted(ind.fill_ms, t.entry_ms))


def _iso(ms: int | float) -> str:
    from kimpbot.backtest.data import iso

    return iso(int(ms)) or ""


def _scan(ind: Indicators, p: StrategyParams, name: str, st: _Pos, cap: float, inv_setting: float,
          due: np.ndarray | None, unreal: np.ndarray, run: SymbolRun, last: int):
    """First bar from the segment's start where the position exits or adds.

    Returns (row, "exit", written_to, reason) / (row, "add", written_to, (tier, size, why)) /
    (None, None, written_to, None) if nothing happens before the last bar.
    """
    pos = st.pos
    long = pos.direction is LONG
    u_x = ind.u_sell if long else ind.u_buy
    b_x = ind.b_buy if long else ind.b_sell
    z_exit = ind.zS if long else ind.zL
    z_add = ind.zL if long else ind.zS
    prem_add = rules.floor_premium(ind.mid, ind.exec_long if long else ind.exec_short, p)
    fees = pos.fees_krw
    notional = pos.entry_notional_krw
    m0 = int(np.searchsorted(ind.funding_ms, st.seg_ms, side="right"))
    # what the optimized add rule needs, fixed for this segment
    adds_possible = False
    if name == "optimized":
        room = cap * p.max_single_position - notional
        adds_possible = room > 1.0
        cur_rank = rules.TIER_RANK[pos.tier]
        tsz = np.array([0.0] + [min(cap * rules.tier_fraction(t, p) - notional, room) for t in rules.TIERS])
        one_split = rules.split_krw(p, pos.symbol)
        held = rules.held_splits(notional, one_split)
        normal_room = min(cap * rules.tier_fraction("normal", p) - notional, room)
        split_left = pos.tier == "normal" and p.normal_splits > 1 and held < p.normal_splits and normal_room > 1.0
        inv_avail = inv_setting - notional
    k0 = st.seg_row
    step = 256
    written = k0
    with np.errstate(invalid="ignore"):
        while k0 < last:
            k1 = min(last, k0 + step)
            sl = slice(k0, k1)
            mhi = int(ind.funding_upto[k1 - 1])
            if mhi > m0:
                amts = rules.funding_krw(pos.direction, pos.binance_qty, ind.funding_mark[m0:mhi],
                                         ind.funding_fx[m0:mhi], ind.funding_rates[m0:mhi])
                cum = np.cumsum(np.concatenate(([pos.funding_krw], amts)))
                fund = cum[ind.funding_upto[sl] - m0]
            else:
                fund = pos.funding_krw
            pnl = rules.pair_pnl_krw(pos.direction, pos.upbit_qty, pos.upbit_avg_price_krw, pos.binance_qty,
                                     pos.binance_avg_price_usdt, u_x[sl], b_x[sl], ind.fx[sl], ind.fee_u,
                                     ind.fee_b, fees, fund)
            unreal[sl] = pnl
            written = k1
            net = pnl / notional * 100.0
            if name == "optimized":
                rule = rules.target_exit_ok(net, pos.target_pct)
            else:
                rule = rules.zscore_exit_ok(net, z_exit[sl], p.min_profit_exit, p.exit_z)
            stop = rules.stop_exit_ok(net, p.stop_loss_pct)
            hold = rules.max_hold_ok(ind.close_ms[sl], pos.opened_ts, p.max_holding_hours)
            ex = rule | stop | hold
            if due is not None:
                ex &= due[sl]
            hit = ex
            add_ok = None
            if adds_possible:
                az = -z_add[sl] if long else z_add[sl]
                premok = abs(prem_add[sl]) >= p.opt_min_kimp_entry
                rank_now = rules.tier_rank(az, p)
                topup = (rank_now > cur_rank) & (tsz[rank_now] > 1.0) if p.topup_on_deeper_tier else \
                    np.zeros(k1 - k0, dtype=bool)
                if split_left:
                    due_n = rules.splits_due(az, p)
                    split = due_n > held
                    split_size = np.minimum(one_split * (due_n - held), normal_room)
                    split &= split_size > 1.0
                else:
                    split = np.zeros(k1 - k0, dtype=bool)
                    split_size = 0.0
                cand = (topup | split) & premok & ~ex
                if long:
                    add_ok = cand
                else:
                    size_row = np.where(topup, tsz[rank_now], split_size)
                    add_ok = cand & (inv_avail >= size_row)
                    bad = cand & ~add_ok
                    if bad.any():
                        stop_at = int(np.argmax(ex | add_ok)) if (ex | add_ok).any() else k1 - k0
                        nb = bad[:stop_at]
                        if nb.any():
                            run.refusals += int(nb.sum())
                            prevb = np.zeros_like(nb)
                            prevb[1:] = nb[:-1]
                            run.refusal_episodes += int((nb & ~prevb).sum())
                hit = ex | add_ok
            if hit.any():
                r = int(np.argmax(hit))
                e = k0 + r
                if ex[r]:
                    if stop[r]:
                        reason = f"stop loss: net profit {net[r]:.3f}% <= -{p.stop_loss_pct:g}%"
                    elif hold[r]:
                        reason = f"maximum holding time {p.max_holding_hours:g} h reached"
                    elif name == "optimized":
                        reason = f"target: net profit {net[r]:.3f}% >= {pos.target_pct:g}% ({pos.tier})"
                    else:
                        reason = (f"net profit {net[r]:.3f}% >= {p.min_profit_exit:g}% and |z| "
                                  f"{abs(z_exit[e]):.2f} <= {p.exit_z:g}")
                    return e, "exit", written, reason
                az_e = float(-z_add[e] if long else z_add[e])
                got = rules.optimized_add(p, pos.symbol, pos.tier, pos.adds, pos.last_add_abs_z, notional, az_e)
                assert got is not None, "vectorised add rule disagrees with rules.optimized_add"
                return e, "add", written, got
            k0 = k1
            step *= 4
    return None, None, written, None


@dataclass
class StrategyRun:
    name: str
    params: StrategyParams
    symbols: dict[str, SymbolRun]
    indicators: dict[str, Indicators]

    @property
    def trades(self) -> list[Trade]:
        out = [t for r in self.symbols.values() for t in r.trades]
        out.sort(key=lambda t: (t.exit_ms, t.symbol))
        return out


def prepare(ds: Dataset, p: StrategyParams, m: MarketModel) -> dict[str, Indicators]:
    out = {}
    for sym, sd in ds.symbols.items():
        out[sym] = Indicators(sd, p, m)
    return out


def from_row_for(ind: Indicators, from_ms: int | None) -> int:
    if from_ms is None:
        return 0
    return int(np.searchsorted(ind.ts, from_ms, side="left"))


def run_strategy(ds: Dataset, p: StrategyParams, name: str, m: MarketModel, inventory: str | float = "none",
                 from_ms: int | None = None, indicators: dict[str, Indicators] | None = None,
                 progress: Callable[[str, str, int, int], None] | None = None) -> StrategyRun:
    """Run strategy ``name`` with the owner's numbers ``p`` over every symbol of ``ds``."""
    pn = replace(p, strategy=name)
    if name == "multi_timeframe":
        for sd in ds.symbols.values():
            why = multi_timeframe_problem(pn, sd.interval_ms)
            if why:
                raise StrategyRefused(why)
    inds = indicators if indicators is not None else prepare(ds, pn, m)
    out: dict[str, SymbolRun] = {}
    for sym in pn.symbols:
        ind = inds.get(sym)
        if ind is None:
            continue
        cb = None
        if progress is not None:
            def cb(row: int, _s: str = sym, _n: int = ind.n) -> None:
                progress(name, _s, row, _n)
        out[sym] = run_symbol(ind, pn, name, m, inventory, from_row_for(ind, from_ms), cb)
        if progress is not None:
            progress(name, sym, ind.n, ind.n)
    return StrategyRun(name, pn, out, inds)
