"""The straightforward backtest: the LIVE Strategy objects driven one bar at a time.

This is what the bot itself would do if history were replayed into it: closed
premium bars go to ``Strategy.on_bar``, every bar close becomes a
``PremiumSnapshot`` handed to ``Strategy.evaluate``, and the signals fill at the
next bar through the same market model as the fast engine
(:mod:`kimpbot.backtest.fills`). It shares no vectorised code with
:mod:`kimpbot.backtest.engine`, which makes it the check on the engine (a test
demands identical trades) and the per-row baseline of ``benchmarks/backtest.py``.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np

from kimpbot.backtest.anatomy import Leg, trade_anatomy
from kimpbot.backtest.data import Dataset, SymbolData
from kimpbot.backtest.engine import (DecisionRec, StrategyRefused, SymbolRun, Trade, bar_lengths, inventory_krw,
                                     multi_timeframe_problem)
from kimpbot.backtest.fills import MarketModel, bar_snapshot, entry_fill, exit_prices, funding_events
from kimpbot.models import Direction, PremiumBar
from kimpbot.strategy import rules
from kimpbot.strategy.base import Position, add_to_position, make_strategy, open_position, position_net_profit_krw
from kimpbot.strategy_file.keys import StrategyParams



def _close_bars(bars: list[PremiumBar], sym: str, t: int, c: int, mid: float, span: int, minutes: int,
                group: int | None, close: float) -> tuple[int | None, float]:
    """One row of a bar series of ``span`` ms: the open bar closes when row ``t`` starts another,
    and the row's own bar once its end is within the row's close ``c``. Returns the open bar
    (its group, its close so far; group None when none is open)."""
    g = t // span
    if group is not None and g != group:
        bars.append(PremiumBar(sym, group * span, minutes, close, close, close, close, 1))
    if (g + 1) * span <= c:
        bars.append(PremiumBar(sym, g * span, minutes, mid, mid, mid, mid, 1))
        return None, mid
    return g, mid

def reference_symbol(sd: SymbolData, p: StrategyParams, name: str, m: MarketModel, inventory: str | float = "none",
                     from_row: int = 0, rows: int | None = None) -> SymbolRun:
    pn = replace(p, strategy=name)
    sym = sd.symbol
    if name == "multi_timeframe" and multi_timeframe_problem(pn, sd.interval_ms):
        raise StrategyRefused(multi_timeframe_problem(pn, sd.interval_ms))
    bar_m, conf_m = bar_lengths(pn, sd.interval_ms)
    strat = make_strategy(pn, name, bar_minutes=bar_m, confirm_minutes=conf_m)
    cap = rules.strategy_capital(pn, name, sym)
    inv_setting = inventory_krw(inventory, cap)
    order_krw = pn.base_order_krw(sym)
    iv = sd.interval_ms
    w_span = pn.bar_minutes * 60_000
    c_span = pn.confirm_bar_minutes * 60_000
    same_bars = bar_m == conf_m
    n = sd.n if rows is None else min(rows, sd.n)
    ts_l, uo_l, uc_l = sd.ts.tolist(), sd.u_open.tolist(), sd.u_close.tolist()
    bo_l, bc_l, fo_l, fc_l = sd.b_open.tolist(), sd.b_close.tolist(), sd.fx_open.tolist(), sd.fx_close.tolist()
    ids = itertools.count(1)
    run = SymbolRun(sym, [], [], np.zeros(n))
    pos: Position | None = None
    meta: dict = {}
    pending = None
    f_times, f_rates = funding_events(sd.head(n), m.funding_rate_8h) if n else ([], [])
    f_times, f_rates = list(f_times), list(f_rates)
    f_times.append(2**62)  # sentinel
    fk = 0
    w_group = c_group = None
    w_close = c_close = 0.0
    prev_refused = False
    realized = 0.0

    def book(rate: float, mark_row: int) -> None:
        if pos is not None and mark_row >= 0:
            a = rules.funding_krw(pos.direction, pos.binance_qty, bc_l[mark_row], fc_l[mark_row], rate)
            pos.funding_krw = pos.funding_krw + a

    def close(u_px: float, b_px: float, fx: float, t_ms: int, decision_ms: int, reason: str) -> float:
        assert pos is not None
        ux, bx = exit_prices(pos.direction, u_px, b_px, m)
        pnl = rules.pair_pnl_krw(pos.direction, pos.upbit_qty, pos.upbit_avg_price_krw, pos.binance_qty,
                                 pos.binance_avg_price_usdt, ux, bx, fx, m.upbit_fee, m.binance_fee, pos.fees_krw,
                                 pos.funding_krw)
        exit_fees = rules.leg_fees_krw(pos.upbit_qty, ux, pos.binance_qty, bx, fx, m.upbit_fee, m.binance_fee)
        meta["fills"].append((t_ms, "exit", pos.entry_notional_krw))
        an = trade_anatomy(pos.direction.value, meta["legs"], u_px, b_px, fx, pnl, pos.fees_krw + exit_fees,
                           pos.funding_krw)
        run.trades.append(Trade(name, sym, pos.direction.value, pos.tier, meta["decision_ms"], pos.opened_ts,
                                decision_ms, t_ms, pos.entry_notional_krw, pnl, pnl / pos.entry_notional_krw * 100.0,
                                pos.fees_krw + exit_fees, pos.funding_krw, pos.adds, pos.entry_premium_pct,
                                rules.premium_arr(ux, bx, fx), meta["entry_z"], reason, meta["fills"],
                                an["premium_krw"], an["usdkrw_krw"], an["slippage_krw"], an["unhedged_krw"]))
        return pnl

    for i in range(n):
        t = ts_l[i]
        c = t + iv
        if m.fill == "next_close":
            tf, fu, fb, ffx = c, uc_l[i], bc_l[i], fc_l[i]
        else:
            tf, fu, fb, ffx = t, uo_l[i], bo_l[i], fo_l[i]
        # funding due before the pending fill, on the position as it was
        limit = tf if pending is not None else c
        while f_times[fk] <= limit:
            book(f_rates[fk], i if f_times[fk] >= c else i - 1)
            fk += 1
        # the fill decided at the previous bar
        if pending is not None:
            sig, dec_ms = pending
            pending = None
            if sig.action == "exit":
                realized += close(fu, fb, ffx, tf, dec_ms, sig.reason)
                pos = None
            elif sig.action == "enter":
                fill = entry_fill(sig.direction, sig.size_krw, fu, fb, ffx, m, tf)
                pos = open_position(f"{name}-{sym}-{next(ids)}", sig, fill)
                meta = {"decision_ms": dec_ms, "entry_z": sig.z, "fills": [(tf, "enter", sig.size_krw)],
                        "legs": [Leg(fill.upbit_qty, fu, fb, ffx)]}
            else:
                assert pos is not None
                fill = entry_fill(sig.direction, sig.size_krw, fu, fb, ffx, m, tf)
                add_to_position(pos, sig, fill)
                meta["fills"].append((tf, "add", sig.size_krw))
                meta["legs"].append(Leg(fill.upbit_qty, fu, fb, ffx))
            while f_times[fk] <= c:
                book(f_rates[fk], i if f_times[fk] >= c else i - 1)
                fk += 1
        # closed bars
        mid = rules.premium_arr(uc_l[i], bc_l[i], fc_l[i])
        bars: list[PremiumBar] = []
        w_group, w_close = _close_bars(bars, sym, t, c, mid, w_span, bar_m, w_group, w_close)
        if not same_bars:
            c_group, c_close = _close_bars(bars, sym, t, c, mid, c_span, conf_m, c_group, c_close)
        for b in bars:
            strat.on_bar(b)
        snap = bar_snapshot(sym, c, uc_l[i], bc_l[i], fc_l[i], m, order_krw)
        unreal = position_net_profit_krw(pos, snap) if pos is not None else 0.0
        run.equity[i] = realized + (unreal or 0.0)
        if i < from_row:
            continue
        inv = inv_setting - (pos.entry_notional_krw if pos is not None and pos.direction is Direction.SHORT_PREMIUM
                             else 0.0)
        signals = strat.evaluate(snap, [pos] if pos is not None else [], inv, c)
        if strat.last_refusals:
            run.refusals += 1
            if not prev_refused:
                run.refusal_episodes += 1
            if not prev_refused and len(run.refusal_examples) < 3:
                run.refusal_examples.append(strat.last_refusals[0].reason)
        prev_refused = bool(strat.last_refusals)
        if signals and i < n - 1:
            sig = signals[0]
            run.decisions.append(DecisionRec(i, c, sig.action, sig.direction.value, sig.tier, float(sig.size_krw)))
            pending = (sig, c)
    if pos is not None and n:
        last = n - 1
        realized += close(uc_l[last], bc_l[last], fc_l[last], ts_l[last] + iv, ts_l[last] + iv,
                          "end of data: closed at the last bar")
        run.equity[last] = realized
    return run


def reference_run(ds: Dataset, p: StrategyParams, name: str, m: MarketModel, inventory: str | float = "none",
                  from_ms: int | None = None) -> dict[str, SymbolRun]:
    out = {}
    for sym in p.symbols:
        sd = ds.symbols.get(sym)
        if sd is None:
            continue
        from_row = 0 if from_ms is None else int(np.searchsorted(sd.ts, from_ms, side="left"))
        out[sym] = reference_symbol(sd, p, name, m, inventory, from_row)
    return out
