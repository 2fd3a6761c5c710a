"""Report figures: drawdown and its dates, Sharpe/Sortino/Calmar, profit factor, streaks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kimpbot.backtest.data import SAMPLE_DIR, load_dataset
from kimpbot.backtest.engine import Trade, run_strategy
from kimpbot.backtest.fills import market_model
from kimpbot.backtest.metrics import compute, daily_returns, drawdown, equity_curve, longest_losing_streak
from kimpbot.strategy_file.read import load_owner_config

D = 86_400_000
T0 = 1_735_689_600_000


def test_drawdown_dates() -> None:
    t = T0 + np.arange(7) * D
    eq = np.array([100.0, 110.0, 99.0, 104.5, 88.0, 111.0, 90.0])
    dd = drawdown(t, eq)
    assert dd["max_drawdown_pct"] == pytest.approx(-20.0)  # 110 -> 88
    assert (dd["max_drawdown_start"], dd["max_drawdown_bottom"], dd["max_drawdown_end"]) == (
        "2025-01-02T00:00:00Z", "2025-01-05T00:00:00Z", "2025-01-06T00:00:00Z")
    assert dd["max_drawdown_days"] == 4.0
    dd = drawdown(t[:5], eq[:5])
    assert dd["max_drawdown_end"] is None and dd["max_drawdown_days"] == 3.0  # not recovered by the end
    assert drawdown(t, np.arange(7.0) + 1)["max_drawdown_pct"] == 0.0


def trade(pnl: float) -> Trade:
    return Trade("x", "BTC", "long_premium", "base", 0, 0, 0, 3_600_000, 1e6, pnl, pnl / 1e4, 0.0, 0.0, 0, 0, 0, 0, "")


def test_losing_streak() -> None:
    pnls = [5, -1, -2, 3, -1, -1, -1, 0, 2]
    assert longest_losing_streak([trade(p) for p in pnls]) == 4  # a zero-P&L trade is not a win


def test_daily_returns_use_the_last_equity_of_each_utc_day() -> None:
    t = np.array([T0 + 3_600_000, T0 + 20 * 3_600_000, T0 + D + 5, T0 + 3 * D])
    eq = np.array([100.0, 102.0, 101.0, 103.02])
    r = daily_returns(t, eq, 100.0)
    assert r == pytest.approx([0.02, 101 / 102 - 1, 103.02 / 101 - 1])


def test_compute_matches_independent_formulas_on_the_sample() -> None:
    oc = load_owner_config(None)
    ds = load_dataset(SAMPLE_DIR, cache=False)
    run = run_strategy(ds, oc.strategy, "zscore", market_model(oc), "full")
    m = compute(run, 40_000_000)
    times, eq, start = equity_curve(run, 40_000_000)
    r = daily_returns(times, eq, 40_000_000)
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(365), abs=1e-4)
    down = math.sqrt(np.mean(np.minimum(r, 0) ** 2))
    assert m["sortino"] == pytest.approx(r.mean() / down * math.sqrt(365), abs=1e-3)
    years = (times[-1] - times[0]) / (365.25 * D)
    cagr = (eq[-1] / 40_000_000) ** (1 / years) - 1
    assert m["annual_return_pct"] == pytest.approx(cagr * 100, abs=1e-4)
    assert m["calmar"] == pytest.approx(m["annual_return_pct"] / abs(m["max_drawdown_pct"]), rel=1e-3)
    pnl = [t.pnl_krw for t in run.trades]
    wins = [p for p in pnl if p > 0]
    assert m["trades"] == len(pnl) > 0 and m["win_rate_pct"] == pytest.approx(100 * len(wins) / len(pnl), abs=0.01)
    assert m["avg_profit_krw"] == round(sum(pnl) / len(pnl)) == m["expectancy_krw"]
    assert m["fees_paid_krw"] == round(sum(t.fees_krw for t in run.trades))
    assert m["funding_paid_krw"] == round(sum(t.funding_krw for t in run.trades))
    assert m["avg_holding_hours"] == pytest.approx(np.mean([t.holding_hours for t in run.trades]), abs=0.01)
    assert m["period_start"] == "2025-01-21T00:00:00Z"  # the first bar with a full 20-day window
    assert start == times[0]


def test_profit_factor_and_expectancy_ratio() -> None:
    from kimpbot.backtest.engine import StrategyRun, SymbolRun

    trades = [trade(p) for p in (300.0, -100.0, 200.0, -100.0)]
    run = StrategyRun("x", load_owner_config(None).strategy, {"BTC": SymbolRun("BTC", trades, [], np.zeros(0))}, {})
    m = compute(run, 1e6)
    assert m["profit_factor"] == pytest.approx(2.5)
    assert m["expectancy_ratio"] == pytest.approx((1 + 250 / 100) * 0.5 - 1)
    assert m["longest_losing_streak"] == 1 and m["final_capital_krw"] == 1e6 + 300
