"""Report figures from an equity curve and a trade list.

Definitions (all stated in the report too):
* The period runs from the first bar at which any symbol could trade (its z
  window full, and not before ``--from``) to the last bar's close; the warm-up
  before it is excluded from every figure.
* Equity = initial capital + realised P&L + open positions marked at their
  exit-side prices (exit fees included), at every bar close.
* ``annual_return_pct``: compound annual growth over the period. Sizes are
  fractions of the INITIAL capital (as the live bot sizes them), so profit is
  not reinvested.
* ``sharpe``/``sortino``: daily (UTC) returns of equity, risk-free rate 0,
  annualised by sqrt(365) (crypto trades every day); Sortino's downside
  deviation is sqrt(mean(min(r, 0)^2)). ``calmar`` = annual return / |max DD|.
* ``max_drawdown_pct``: largest fall from a running peak of bar-close equity,
  negative; with its peak, trough and recovery dates (null: not recovered).
* ``profit_factor`` = gross profit / gross loss (null when there is no loss);
  ``expectancy_krw`` = mean net P&L per trade; ``expectancy_ratio`` =
  (1 + avg win / avg loss) x win rate - 1 (freqtrade's definition).
* A win is a trade with net P&L > 0 (after fees and funding).
* ``anatomy``: net P&L split into the premium's move, the USD/KRW move, the unhedged part
  (the premium's slice of the Upbit leg moving with the coin), funding, fees and slippage, with the profit concentration (:mod:`kimpbot.backtest.anatomy`).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from kimpbot.backtest.anatomy import summarize
from kimpbot.backtest.data import iso
from kimpbot.backtest.engine import StrategyRun, Trade, from_row_for

DAY_MS = 86_400_000


def equity_curve(run: StrategyRun, initial: float, from_ms: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray, int | None]:
    """(times, equity, period start ms) on the union of all symbols' bar closes."""
    if not run.indicators:
        return np.zeros(0, dtype=np.int64), np.zeros(0), None
    starts = []
    for sym, ind in run.indicators.items():
        if sym not in run.symbols or ind.first_ready_row is None:
            continue
        r = max(ind.first_ready_row, from_row_for(ind, from_ms))
        if r < ind.n:
            starts.append(int(ind.close_ms[r]))
    closes = [ind.close_ms for s, ind in run.indicators.items() if s in run.symbols]
    if all(c.shape == closes[0].shape and np.array_equal(c, closes[0]) for c in closes[1:]):
        times = closes[0].copy()
    else:
        times = np.sort(np.concatenate(closes))
        keep_t = np.ones(times.shape[0], dtype=bool)
        keep_t[1:] = times[1:] != times[:-1]
        times = times[keep_t]
    eq = np.full(times.shape[0], float(initial))
    for sym, sr in run.symbols.items():
        ind = run.indicators[sym]
        if ind.close_ms.shape == times.shape and np.array_equal(ind.close_ms, times):
            eq += sr.equity
            continue
        k = np.searchsorted(ind.close_ms, times, side="right") - 1
        ok = k >= 0
        eq[ok] += sr.equity[k[ok]]
    if not starts:
        return times[:0], eq[:0], None
    start = min(starts)
    keep = times >= start
    return times[keep], eq[keep], start


def _num(x: float | None, nd: int = 4) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), nd)


def drawdown(times: np.ndarray, eq: np.ndarray) -> dict[str, Any]:
    if eq.shape[0] == 0:
        return {"max_drawdown_pct": None, "max_drawdown_start": None, "max_drawdown_bottom": None,
                "max_drawdown_end": None, "max_drawdown_days": None}
    peak = np.maximum.accumulate(eq)
    dd = eq / peak - 1.0
    k = int(np.argmin(dd))
    if dd[k] >= 0:
        return {"max_drawdown_pct": 0.0, "max_drawdown_start": None, "max_drawdown_bottom": None,
                "max_drawdown_end": None, "max_drawdown_days": 0.0}
    p = int(np.flatnonzero(eq[: k + 1] == peak[k])[-1])
    rec = np.flatnonzero(eq[k:] >= peak[k])
    end = int(k + rec[0]) if rec.shape[0] else None
    last = end if end is not None else eq.shape[0] - 1
    return {"max_drawdown_pct": _num(dd[k] * 100.0), "max_drawdown_start": iso(times[p]),
            "max_drawdown_bottom": iso(times[k]), "max_drawdown_end": iso(times[end]) if end is not None else None,
            "max_drawdown_days": _num((times[last] - times[p]) / DAY_MS, 2)}


def daily_returns(times: np.ndarray, eq: np.ndarray, initial: float) -> np.ndarray:
    if eq.shape[0] == 0:
        return np.zeros(0)
    day = times // DAY_MS
    last = np.ones(day.shape[0], dtype=bool)
    last[:-1] = day[1:] != day[:-1]
    daily = np.concatenate(([initial], eq[last]))
    return np.diff(daily) / daily[:-1]


def longest_losing_streak(trades: Sequence[Trade]) -> int:
    best = cur = 0
    for t in trades:
        cur = cur + 1 if t.pnl_krw <= 0 else 0
        best = max(best, cur)
    return best


def compute(run: StrategyRun, initial: float, from_ms: int | None = None) -> dict[str, Any]:
    times, eq, start = equity_curve(run, initial, from_ms)
    trades = run.trades
    out: dict[str, Any] = {}
    n = len(trades)
    final = float(eq[-1]) if eq.shape[0] else float(initial) + sum(t.pnl_krw for t in trades)
    years = (times[-1] - times[0]) / (365.25 * DAY_MS) if eq.shape[0] > 1 else 0.0
    total = final / initial - 1.0
    cagr = (final / initial) ** (1.0 / years) - 1.0 if years > 0 and final > 0 else None
    rets = daily_returns(times, eq, initial)
    sharpe = sortino = None
    if rets.shape[0] >= 2:
        sd = float(np.std(rets, ddof=1))
        mu = float(np.mean(rets))
        sharpe = mu / sd * math.sqrt(365.0) if sd > 0 else None
        down = math.sqrt(float(np.mean(np.minimum(rets, 0.0) ** 2)))
        sortino = mu / down * math.sqrt(365.0) if down > 0 else None
    dd = drawdown(times, eq)
    wins = [t for t in trades if t.pnl_krw > 0]
    losses = [t for t in trades if t.pnl_krw <= 0]
    gross_win = sum(t.pnl_krw for t in wins)
    gross_loss = -sum(t.pnl_krw for t in losses)
    avg = sum(t.pnl_krw for t in trades) / n if n else None
    win_rate = len(wins) / n if n else None
    exp_ratio = None
    if wins and losses and gross_loss > 0:
        exp_ratio = (1 + (gross_win / len(wins)) / (gross_loss / len(losses))) * win_rate - 1  # type: ignore[operator]
    mdd = dd["max_drawdown_pct"]
    out.update({
        "annual_return_pct": _num(cagr * 100.0 if cagr is not None else None),
        "sharpe": _num(sharpe),
        "max_drawdown_pct": mdd,
        "win_rate_pct": _num(win_rate * 100.0 if win_rate is not None else None, 2),
        "trades": n,
        "avg_profit_krw": _num(avg, 0),
        "final_capital_krw": _num(final, 0),
        "sortino": _num(sortino),
        "calmar": _num(cagr * 100.0 / abs(mdd)) if cagr is not None and mdd else None,
        "profit_factor": _num(gross_win / gross_loss) if gross_loss > 0 else None,
        "expectancy_krw": _num(avg, 0),
        "expectancy_ratio": _num(exp_ratio),
        "max_drawdown_start": dd["max_drawdown_start"],
        "max_drawdown_bottom": dd["max_drawdown_bottom"],
        "max_drawdown_end": dd["max_drawdown_end"],
        "max_drawdown_days": dd["max_drawdown_days"],
        "longest_losing_streak": longest_losing_streak(trades),
        "avg_holding_hours": _num(sum(t.holding_hours for t in trades) / n, 2) if n else None,
        "fees_paid_krw": _num(sum(t.fees_krw for t in trades), 0),
        "funding_paid_krw": _num(sum(t.funding_krw for t in trades), 0),
        "total_profit_krw": _num(sum(t.pnl_krw for t in trades), 0),
        "total_return_pct": _num(total * 100.0),
        "best_trade_pct": _num(max((t.pnl_pct for t in trades), default=None)),
        "worst_trade_pct": _num(min((t.pnl_pct for t in trades), default=None)),
        "long_premium_trades": sum(1 for t in trades if t.direction == "long_premium"),
        "short_premium_trades": sum(1 for t in trades if t.direction == "short_premium"),
        "end_of_data_exits": sum(1 for t in trades if t.exit_reason.startswith("end of data")),
        "refused_entries": sum(r.refusals for r in run.symbols.values()),
        "refusal_episodes": sum(r.refusal_episodes for r in run.symbols.values()),
        "refusal_examples": [e for r in run.symbols.values() for e in r.refusal_examples][:3],
        "period_start": iso(times[0]) if eq.shape[0] else None,
        "period_end": iso(times[-1]) if eq.shape[0] else None,
        "period_days": _num(years * 365.25, 2),
        "per_symbol": {s: {"trades": len(r.trades), "profit_krw": _num(sum(t.pnl_krw for t in r.trades), 0)}
                       for s, r in run.symbols.items()},
        "anatomy": summarize(trades, initial, years if years > 0 else None, final),
    })
    return out


def trade_rows(trades: Sequence[Trade]) -> list[dict[str, Any]]:
    return [{
        "symbol": t.symbol, "direction": t.direction, "tier": t.tier,
        "entry_decision": iso(t.entry_decision_ms), "entry": iso(t.entry_ms), "exit_decision": iso(t.exit_decision_ms),
        "exit": iso(t.exit_ms), "notional_krw": round(t.entry_notional_krw), "adds": t.adds,
        "entry_premium_pct": round(t.entry_premium_pct, 4), "exit_premium_pct": round(t.exit_premium_pct, 4),
        "entry_z": round(t.entry_z, 3), "pnl_krw": round(t.pnl_krw), "pnl_pct": round(t.pnl_pct, 4),
        "fees_krw": round(t.fees_krw), "funding_krw": round(t.funding_krw), "holding_hours": round(t.holding_hours, 2),
        "premium_krw": round(t.premium_krw), "usdkrw_krw": round(t.usdkrw_krw), "slippage_krw": round(t.slippage_krw),
        "unhedged_krw": round(t.unhedged_krw),
        "exit_reason": t.exit_reason,
    } for t in trades]
