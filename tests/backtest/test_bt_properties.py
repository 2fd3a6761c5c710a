"""Property tests (hypothesis) of the backtester: no look-ahead, and P&L that adds up."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kimpbot.backtest.engine import run_strategy
from kimpbot.backtest.fills import market_model
from kimpbot.backtest.metrics import compute, equity_curve
from kimpbot.backtest.synth import frames_to_dataset, premium_frames
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.strategy_file.keys import STRATEGIES

F0 = 1_735_689_600_000
OWNER = load_owner_config(None, text="""
symbols = ["BTC"]
[zscore]
window_days = 0.5          # 12 hourly bars
[optimized.allocation]
BTC = 0.4
""")

# a calm premium around 1 % with occasional jumps: enough extremes for every tier to trade
value = st.tuples(st.floats(min_value=0.0, max_value=2.0, width=32), st.integers(min_value=0, max_value=7),
                  st.floats(min_value=-8.0, max_value=10.0, width=32)).map(lambda v: v[2] if v[1] == 0 else v[0])
premiums = st.lists(value, min_size=20, max_size=90)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# multi_timeframe confirms on 1-minute bars (refused on hourly data): it runs on 1-minute rows with
# 1-minute window bars
MINUTE = load_owner_config(None, text="""
symbols = ["BTC"]
[zscore]
window_days = 0.010416666666666666   # 15 one-minute bars (the smallest span allowed)
bar_minutes = 1
[optimized.allocation]
BTC = 0.4
""")


def dataset(prem, binance=None, start=F0, minutes=60.0):
    b = 100.0 if binance is None else np.asarray(binance)
    return frames_to_dataset(premium_frames(prem, start, minutes, binance=b, opens_equal_closes=False))


def owner_for(name: str, oc=OWNER):
    return (MINUTE, 1.0) if name == "multi_timeframe" else (oc, 60.0)


@SETTINGS
@given(prem=premiums, data=st.data(), name=st.sampled_from(STRATEGIES), fill=st.sampled_from(["next_open",
                                                                                             "next_close"]),
       inventory=st.sampled_from(["none", "full"]))
def test_changing_data_after_t_never_changes_decisions_up_to_t(prem, data, name, fill, inventory) -> None:
    n = len(prem)
    t = data.draw(st.integers(min_value=0, max_value=n - 2), label="t")
    tail = data.draw(st.lists(value, min_size=n - t - 1, max_size=n - t - 1), label="new future premiums")
    b_future = data.draw(st.floats(min_value=50.0, max_value=200.0), label="new future perp price")
    extra = data.draw(st.integers(min_value=0, max_value=20), label="extra future bars")
    other = list(prem[: t + 1]) + tail + [tail[-1] if tail else prem[-1]] * extra
    b = np.full(len(other), 100.0)
    b[t + 1:] = b_future
    oc, minutes = owner_for(name)
    m = market_model(oc, fill=fill)
    a = run_strategy(dataset(prem, minutes=minutes), oc.strategy, name, m, inventory).symbols["BTC"]
    c = run_strategy(dataset(other, b, minutes=minutes), oc.strategy, name, m, inventory).symbols["BTC"]
    assert [d for d in a.decisions if d.row <= t] == [d for d in c.decisions if d.row <= t]
    # and so is everything booked before bar t+1 (the first bar whose data changed)
    np.testing.assert_array_equal(a.equity[: t + 1], c.equity[: t + 1])


@SETTINGS
@given(prem=premiums, name=st.sampled_from(STRATEGIES), inventory=st.sampled_from(["none", "full"]),
       fee=st.sampled_from([0.0, 0.0005, 0.0025]), slip=st.sampled_from([0.0, 0.02, 0.1]),
       funding=st.sampled_from([-0.0003, 0.0, 0.0001]), drift=st.floats(min_value=-0.01, max_value=0.01))
def test_sum_of_trade_pnl_equals_equity_change(prem, name, inventory, fee, slip, funding, drift) -> None:
    window = ("window_days = 0.010416666666666666\nbar_minutes = 1" if name == "multi_timeframe"
              else "window_days = 0.5")
    oc = load_owner_config(None, text=f"""
symbols = ["BTC"]
[zscore]
{window}
[optimized.allocation]
BTC = 0.4
[fees]
upbit_taker = {fee}
binance_taker = {fee}
""")
    b = 100.0 * np.exp(drift * np.arange(len(prem)))  # the coin moves too: the hedge must cancel it
    ds = dataset(prem, b, start=F0 - 5 * 3_600_000, minutes=owner_for(name)[1])
    run = run_strategy(ds, oc.strategy, name, market_model(oc, slippage_pct=slip, funding_rate_8h=funding),
                       inventory)
    initial = oc.strategy.initial_capital_krw
    times, eq, _ = equity_curve(run, initial)
    total = sum(t.pnl_krw for t in run.trades)
    final = eq[-1] if eq.shape[0] else initial
    assert final - initial == pytest.approx(total, rel=1e-9, abs=1e-6)
    m = compute(run, initial)
    assert m["final_capital_krw"] == round(initial + total)
    assert m["trades"] == len(run.trades)
    assert sum(v["profit_krw"] for v in m["per_symbol"].values()) == pytest.approx(total, abs=1.0)
    for t in run.trades:
        # each trade's P&L is its legs minus its fees and funding
        assert t.fees_krw >= 0.0
        if fee == 0.0 and slip == 0.0:
            assert t.fees_krw == 0.0
        # the P&L anatomy adds up to the trade's P&L; slippage is a cost, zero without slippage
        parts = t.premium_krw + t.usdkrw_krw + t.unhedged_krw - t.funding_krw - t.fees_krw - t.slippage_krw
        assert parts == pytest.approx(t.pnl_krw, rel=1e-9, abs=1e-6)
        assert t.slippage_krw >= -1e-6 * t.entry_notional_krw
        if slip == 0.0:
            assert t.slippage_krw == pytest.approx(0.0, abs=1e-6 * t.entry_notional_krw)
        assert t.usdkrw_krw == 0.0  # one FX rate in these paths: nothing from USD/KRW
