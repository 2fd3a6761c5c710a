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
from kimpbot.strategy_file.keys import StrategyParams
from kimpbot.strategy.rolling import MIN_STD, rolling_mean_std_time, zscores

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


def _premium(upbit_krw: np.ndarray, binance_usdt: np.ndarray, fx: np.ndarray, scratch: bool = False) -> np.ndarray:
    """:func:`rules.premium_arr` (``(u / (b * fx) - 1) * 100``), the same operations in the same
    order (so the same IEEE results), into one new buffer instead of four (none if ``scratch``:
    ``binance_usdt`` is the caller's temporary and becomes the result)."""
    out = binance_usdt if scratch else binance_usdt * fx
    if scratch:
        out *= fx
    np.divide(upbit_krw, out, out=out)
    out -= 1.0
    out *= 100.0
    return out


def _scaled(x: np.ndarray, a: float, b: float) -> np.ndarray:
    """``x * a * b`` (left to right, as ``rules.slipped(x, ...) * (1 + fee)``), in one new buffer."""
    out = x * a
    out *= b
    return out


def _group_bars(ts: np.ndarray, close_ms: np.ndarray, value: np.ndarray, minutes: int, count: bool = True
                ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Closed bars of ``minutes`` on the UTC grid: their close value (the last row's), per
    row how many of them had closed by that row's close (None unless ``count``), and each
    bar's open time."""
    span = minutes * 60_000
    g = ts // span
    n = ts.shape[0]
    last = np.ones(n, dtype=bool)
    np.not_equal(g[1:], g[:-1], out=last[:-1])
    if bool(last.all()) and bool(((g + 1) * span <= close_ms).all()):
        # every row is a closed bar of its own (bars >= window bars)
        return value, np.arange(1, n + 1) if count else None, g * span
    li = np.flatnonzero(last)
    gl = g.take(li)
    if not count:
        return value.take(li), None, gl * span
    ends = (gl + 1) * span
    first = np.ones(n, dtype=bool)
    first[1:] = last[:-1]
    gi = np.cumsum(first) - 1  # the bar each row belongs to
    cnt = gi + (ends[gi] <= close_ms)  # earlier bars all closed; its own once its end is reached
    return value.take(li), cnt, gl * span


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
        self.n = sd.n
        self.ts = sd.ts
        self.close_ms = sd.close_ms
        s = m.slip
        self.fee_u, self.fee_b = m.upbit_fee, m.binance_fee
        uc, bc, fx = sd.u_close, sd.b_close, sd.fx_close
        self.fx = fx
        self._slip = s
        # decision-time prices (what each side would fill at, fees excluded, as in bar_snapshot) and
        # the premiums: rules.slipped and rules.premium_arr / exec_*_arr's arithmetic in the same order
        # (a test pins them bit for bit), into as few new buffers as possible: in a fresh process
        # every new array's memory is page-faulted in, which costs several times the arithmetic
        self.mid = _premium(uc, bc, fx)
        t = rules.slipped(uc, s, True)  # u_buy
        t *= 1.0 + m.upbit_fee
        self.exec_long = _premium(t, _scaled(bc, 1.0 - s, 1.0 - m.binance_fee), fx, True)  # b_sell x (1 - fee)
        t = rules.slipped(uc, s, False)  # u_sell
        t *= 1.0 - m.upbit_fee
        self.exec_short = _premium(t, _scaled(bc, 1.0 + s, 1.0 + m.binance_fee), fx, True)  # b_buy x (1 + fee)
        del t
        # the z window: closed window bars of the mid premium
        self.bar_minutes, self.confirm_minutes = bar_lengths(p, sd.interval_ms)
        self.window = p.window_bars_for(self.bar_minutes)
        # the window is a span of time: `window` slots of the window bar length ending at the last
        # bar boundary a row's close has reached; missing bars are empty slots (never stretch it)
        wvals, _wcount, wopen = _group_bars(sd.ts, self.close_ms, self.mid, p.bar_minutes, count=False)
        bar_ms = self.bar_minutes * 60_000
        slots = wopen // bar_ms
        if slots.shape[0] > 1 and not bool((slots[1:] > slots[:-1]).all()):
            keep = np.ones(slots.shape[0], dtype=bool)
            keep[:-1] = slots[1:] != slots[:-1]  # two bars in one slot (irregular data): the last counts
            slots, wvals = slots[keep], wvals[keep]
        wmean, wstd, g0 = rolling_mean_std_time(slots, wvals, self.window, p.min_window_fill)
        # each row reads the last closed slot at its close (NaN before the first and after the last):
        # slot statistics padded with NaN at both ends, looked up with clipped indices
        self._slot_ms, self._g0 = bar_ms, g0
        nan = np.full(1, np.nan)
        self._wmean = np.concatenate((nan, wmean, nan))
        self._wstd = np.concatenate((nan, wstd, nan))
        self._mean: np.ndarray | None = None
        self._std: np.ndarray | None = None
        k1 = self._slot_index()
        mean = self._wmean.take(k1, mode="clip")
        # zscores()' rule (NaN where std is not above MIN_STD) applied per slot, so z is one
        # subtraction and one division per row
        with np.errstate(invalid="ignore", divide="ignore"):
            std_z = np.where(self._wstd > MIN_STD, self._wstd, np.nan).take(k1, mode="clip")
            self.zL = self.exec_long - mean
            self.zL /= std_z
            self.zS = self.exec_short - mean
            self.zS /= std_z
        del std_z, k1
        ready = np.isfinite(mean)
        self.first_ready_row = int(np.argmax(ready)) if ready.any() else None
        del ready, mean
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

    def _slot_index(self) -> np.ndarray:
        """Per row: 1 + the last window slot closed by its close, counted from the first slot."""
        return self.close_ms // self._slot_ms - self._g0

    @property
    def mean(self) -> np.ndarray:
        """The window's mean at each row (NaN where it has none)."""
        if self._mean is None:
            self._mean = self._wmean.take(self._slot_index(), mode="clip")
        return self._mean

    @property
    def std(self) -> np.ndarray:
        """The window's population std at each row (NaN where it has none)."""
        if self._std is None:
            self._std = self._wstd.take(self._slot_index(), mode="clip")
        return self._std

    # decision-time fill prices (rules.slipped), made when asked: the scan slices them
    @property
    def u_buy(self) -> np.ndarray:
        return rules.slipped(self.sd.u_close, self._slip, True)

    @property
    def u_sell(self) -> np.ndarray:
        return rules.slipped(self.sd.u_close, self._slip, False)

    @property
    def b_buy(self) -> np.ndarray:
        return rules.slipped(self.sd.b_close, self._slip, True)

    @property
    def b_sell(self) -> np.ndarray:
        return rules.slipped(self.sd.b_close, self._slip, False)

    def funding_upto(self, rows: slice) -> np.ndarray:
        """How many funding events are at or before each of these rows' closes."""
        return np.searchsorted(self.funding_ms, self.close_ms[rows], side="right")

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
    run = SymbolRun(sym, [], [], np.zeros(0), first_ready_row=ind.first_ready_row)  # equity: set at the end
    unreal = np.zeros(n)
    realized_rows: list[int] = []
    realized_amts: list[float] = []
    written_to = 0

    # ---- entry candidates (the live rules, evaluated only on the rows where |z| in a direction reaches
    # the lowest threshold: every rule needs that, and those rows are few)
    with np.errstate(invalid="ignore"):
        if name == "optimized":
            cl = _Cands.optimized(ind, p, True)
            cs = _Cands.optimized(ind, p, False)
            sel_l = cl.rank >= 1
            sel_s = cs.rank >= 1
            sizes = np.array([0.0] + [rules.entry_size_krw(p, name, sym, t) for t in rules.TIERS])
        else:
            cl = _Cands.simple(ind, p, True, name == "multi_timeframe")
            cs = _Cands.simple(ind, p, False, name == "multi_timeframe")
            sel_l = np.ones(cl.rows.shape[0], dtype=bool)
            sel_s = np.ones(cs.rows.shape[0], dtype=bool)
        sel_l &= cl.premok & (cl.rows >= from_row)
        sel_s &= cs.premok & (cs.rows >= from_row)
        ok_l_rows = cl.rows[sel_l]
        ok_s_rows = cs.rows[sel_s]
        if name == "optimized":
            rank_s = cs.rank[sel_s]
            size_s = sizes[rank_s]
            if p.normal_splits > 1:  # a normal entry takes every split its |z| has reached
                nsplit = np.clip(cs.splits[sel_s], 1, p.normal_splits)
                size_s = np.where(rank_s == 1, cap * rules.tier_fraction("normal", p) * nsplit / p.normal_splits,
                                  size_s)
        else:
            size_s = np.full(ok_s_rows.shape[0], rules.entry_size_krw(p, name, sym, None))
    only_s = ~np.isin(ok_s_rows, ok_l_rows, assume_unique=True)  # a row where both hold enters long
    short_rows, short_size = ok_s_rows[only_s], size_s[only_s]
    allowed_s = inv_setting >= short_size
    ev_idx = np.union1d(ok_l_rows, short_rows[allowed_s])
    ev_long = np.isin(ev_idx, ok_l_rows, assume_unique=True)
    ref_idx, ref_size = short_rows[~allowed_s], short_size[~allowed_s]
    ref_first = np.ones(ref_idx.shape[0], dtype=bool)  # the first row of each refusal episode
    ref_first[1:] = np.diff(ref_idx) != 1
    ref_start_idx = ref_idx[ref_first]
    due = ind.exit_due(p, name, from_row)

    def count_refusals(a: int, b: int) -> None:
        """Flat-time refusals on rows [a, b)."""
        if b <= a or ref_idx.shape[0] == 0:
            return
        lo, hi = int(np.searchsorted(ref_idx, a)), int(np.searchsorted(ref_idx, b))
        if hi <= lo:
            return
        run.refusals += hi - lo
        run.refusal_episodes += int(ref_idx[lo] == a) + int(np.searchsorted(ref_start_idx, b) -
                                                            np.searchsorted(ref_start_idx, a + 1))
        rows = ref_idx[lo:hi]
        starts = np.flatnonzero((rows == a) | ref_first[lo:hi])  # the first bar of each refusal episode
        for q in starts[: max(0, 3 - len(run.refusal_examples))]:
            r = rows[q]
            run.refusal_examples.append(
                f"{sym} {_iso(ind.close_ms[r])}: short premium entry (z {ind.zS[r]:.2f}, premium "
                f"{ind.exec_short[r]:.2f}%) refused: needs {ref_size[lo + q]:,.0f} KRW of {sym} on Upbit, inventory "
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
        direction = LONG if ev_long[j] else SHORT
        if name == "optimized":
            az_k = float(-ind.zL[k] if direction is LONG else ind.zS[k])
            tier = rules.tier_name(int(rules.tier_rank(az_k, p))) or "normal"
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
            ev = _scan(ind, p, name, st, cap, inv_setting, due, unreal, run, last, cl if st.pos.direction is LONG else cs)
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
    # realised P&L to date + the open position's: cumsum(bincount) + unreal, in one buffer
    if rows.size:
        eq = np.bincount(rows, weights=np.array(realized_amts), minlength=n)
        np.cumsum(eq, out=eq)
        eq += unreal
    else:
        eq = unreal
        eq += 0.0  # as 0.0 + unreal (a -0.0 becomes 0.0)
    run.equity = eq
    run.rows_in_position = int(sum(_rows_between(ind, t) for t in run.trades))
    return run


def _rows_between(ind: Indicators, t: Trade) -> int:
    return int(np.searchsorted(ind.fill_ms, t.exit_ms) - np.searchsorted(ind.fill_ms, t.entry_ms))


def _iso(ms: int | float) -> str:
    from kimpbot.backtest.data import iso

    return iso(int(ms)) or ""


class _Cands:
    """The rows where |z| in one direction reaches the lowest threshold any entry or add rule
    reads (sorted), with what those rules need there: |z| in the direction, the optimized tier
    rank and splits due, and whether the premium floor holds. Every other row has rank 0, no
    split due and fails the z test, so no rule can fire on it."""

    def __init__(self, rows: np.ndarray, az: np.ndarray, premok: np.ndarray, rank: np.ndarray | None = None,
                 splits: np.ndarray | None = None) -> None:
        self.rows, self.az, self.premok, self.rank, self.splits = rows, az, premok, rank, splits

    @classmethod
    def optimized(cls, ind: Indicators, p: StrategyParams, long: bool) -> "_Cands":
        # tier_rank(|z|) >= 1 iff |z| >= the lowest tier threshold; split k is due at normal_z + k x step >= normal_z
        thr = min(p.normal_z, p.extreme_z, p.ultra_z)
        # long premium reads -zL: -zL >= thr iff zL <= -thr (negation is exact; NaN fails both)
        rows = np.flatnonzero(ind.zL <= -thr) if long else np.flatnonzero(ind.zS >= thr)
        az = -ind.zL.take(rows) if long else ind.zS.take(rows)
        prem = rules.floor_premium(ind.mid, ind.exec_long if long else ind.exec_short, p)
        premok = abs(prem.take(rows)) >= p.opt_min_kimp_entry
        return cls(rows, az, premok, rules.tier_rank(az, p), rules.splits_due(az, p))

    @classmethod
    def simple(cls, ind: Indicators, p: StrategyParams, long: bool, confirm: bool) -> "_Cands":
        """zscore / multi_timeframe entries: rules.long_entry_ok / short_entry_ok (and the
        confirmation) on the rows past the z threshold."""
        rows = np.flatnonzero(ind.zL <= -p.entry_threshold) if long else np.flatnonzero(ind.zS >= p.entry_threshold)
        prem = rules.floor_premium(ind.mid, ind.exec_long if long else ind.exec_short, p)
        premok = abs(prem.take(rows)) >= p.min_kimp_entry
        if confirm:
            premok &= (ind.confirm_long if long else ind.confirm_short).take(rows)
        return cls(rows, np.zeros(0), premok)


def _scan(ind: Indicators, p: StrategyParams, name: str, st: _Pos, cap: float, inv_setting: float,
          due: np.ndarray | None, unreal: np.ndarray, run: SymbolRun, last: int, cands: _Cands):
    """First bar from the segment's start where the position exits or adds.

    Exits are evaluated on growing chunks of bars (the position's P&L is needed at every bar for
    the equity curve anyway); adds only on the position's direction's candidate rows (``cands``).
    Returns (row, "exit", written_to, reason) / (row, "add", written_to, (tier, size, why)) /
    (None, None, written_to, None) if nothing happens before the last bar.
    """
    pos = st.pos
    long = pos.direction is LONG
    uc, bc, slip = ind.sd.u_close, ind.sd.b_close, ind._slip  # exit fills: a long pair sells Upbit, buys the perp
    z_exit = ind.zS if long else ind.zL
    z_add = ind.zL if long else ind.zS
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
            span = k1 - k0
            mhi = int(np.searchsorted(ind.funding_ms, ind.close_ms[k1 - 1], side="right"))
            if mhi > m0:
                amts = rules.funding_krw(pos.direction, pos.binance_qty, ind.funding_mark[m0:mhi],
                                         ind.funding_fx[m0:mhi], ind.funding_rates[m0:mhi])
                cum = np.cumsum(np.concatenate(([pos.funding_krw], amts)))
                fund = cum[ind.funding_upto(sl) - m0]
            else:
                fund = pos.funding_krw
            pnl = rules.pair_pnl_krw(pos.direction, pos.upbit_qty, pos.upbit_avg_price_krw, pos.binance_qty,
                                     pos.binance_avg_price_usdt, rules.slipped(uc[sl], slip, not long),
                                     rules.slipped(bc[sl], slip, long), ind.fx[sl], ind.fee_u,
                                     ind.fee_b, fees, fund)
            unreal[sl] = pnl
            written = k1
            net = pnl / notional * 100.0
            if name == "optimized":
                ex = rules.target_exit_ok(net, pos.target_pct)
            else:
                ex = rules.zscore_exit_ok(net, z_exit[sl], p.min_profit_exit, p.exit_z)
            # unset stop / holding limit: no row can trigger them (rules.*_ok would give all False)
            stop = rules.stop_exit_ok(net, p.stop_loss_pct) if p.stop_loss_pct is not None else None
            hold = (rules.max_hold_ok(ind.close_ms[sl], pos.opened_ts, p.max_holding_hours)
                    if p.max_holding_hours is not None else None)
            if stop is not None:
                ex = ex | stop
            if hold is not None:
                ex = ex | hold
            if due is not None:
                ex = ex & due[sl]
            r_ex = int(np.argmax(ex))
            if not ex[r_ex]:
                r_ex = span
            r_add = span
            if adds_possible:
                c0, c1 = int(np.searchsorted(cands.rows, k0)), int(np.searchsorted(cands.rows, k1))
                if c1 > c0:
                    at = cands.rows[c0:c1] - k0  # candidate rows, as offsets in the chunk
                    rank_now = cands.rank[c0:c1]  # type: ignore[index]
                    topup = (rank_now > cur_rank) & (tsz[rank_now] > 1.0) if p.topup_on_deeper_tier else \
                        np.zeros(c1 - c0, dtype=bool)
                    if split_left:
                        due_n = cands.splits[c0:c1]  # type: ignore[index]
                        split = due_n > held
                        split_size = np.minimum(one_split * (due_n - held), normal_room)
                        split &= split_size > 1.0
                    else:
                        split = np.zeros(c1 - c0, dtype=bool)
                        split_size = 0.0
                    cand = (topup | split) & cands.premok[c0:c1] & ~ex[at]
                    if long:
                        add_ok = cand
                    else:
                        size_row = np.where(topup, tsz[rank_now], split_size)
                        add_ok = cand & (inv_avail >= size_row)
                    if add_ok.any():
                        r_add = int(at[np.argmax(add_ok)])
                    if not long:
                        # refusals (not enough coin for the add) before the chunk's first exit or add;
                        # an episode is a run of consecutive refused rows within the chunk
                        bad_at = at[cand & ~add_ok]
                        bad_at = bad_at[bad_at < min(r_ex, r_add)]
                        if bad_at.shape[0]:
                            run.refusals += int(bad_at.shape[0])
                            run.refusal_episodes += 1 + int(np.count_nonzero(np.diff(bad_at) != 1))
            r = min(r_ex, r_add)
            if r < span:
                e = k0 + r
                if r == r_ex:
                    if stop is not None and stop[r]:
                        reason = f"stop loss: net profit {net[r]:.3f}% <= -{p.stop_loss_pct:g}%"
                    elif hold is not None and hold[r]:
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
