"""The live Strategy, fed bar by bar (kimpbot.backtest.reference), and the fast engine make the
same trades on the same paths: same decisions at the same bars, same P&L, same equity."""

from __future__ import annotations

import numpy as np
import pytest

from kimpbot.backtest.data import SAMPLE_DIR, load_dataset
from kimpbot.backtest.engine import StrategyRefused, run_strategy
from kimpbot.backtest.fills import market_model
from kimpbot.backtest.reference import reference_run
from kimpbot.backtest.synth import frames_to_dataset, synth_frames
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.strategy_file.keys import STRATEGIES


def assert_same(ds, oc, name, inventory="none", **model) -> int:
    m = market_model(oc, **model)
    fast = run_strategy(ds, oc.strategy, name, m, inventory)
    slow = reference_run(ds, oc.strategy, name, m, inventory)
    trades = 0
    for sym, a in fast.symbols.items():
        b = slow[sym]
        assert a.decisions == b.decisions, (name, sym)
        assert len(a.trades) == len(b.trades)
        for x, y in zip(a.trades, b.trades):
            assert (x.entry_ms, x.exit_ms, x.direction, x.tier, x.adds) == (y.entry_ms, y.exit_ms, y.direction,
                                                                          y.tier, y.adds)
            assert x.pnl_krw == pytest.approx(y.pnl_krw, rel=1e-9, abs=1e-6)
            assert x.funding_krw == pytest.approx(y.funding_krw, rel=1e-9, abs=1e-9)
            for k in ("premium_krw", "usdkrw_krw", "unhedged_krw", "slippage_krw"):
                assert getattr(x, k) == pytest.approx(getattr(y, k), rel=1e-9, abs=1e-6)
        np.testing.assert_allclose(a.equity, b.equity, rtol=1e-9, atol=1e-6)
        assert a.refusals == b.refusals
        trades += len(a.trades)
    return trades


HOURLY = ("zscore", "optimized")  # multi_timeframe confirms on 1-minute bars: refused on hourly data


@pytest.mark.parametrize("name", HOURLY)
@pytest.mark.parametrize("inventory", ["none", "full"])
def test_sample_hourly_with_gaps(name: str, inventory: str) -> None:
    oc = load_owner_config(None)
    ds = load_dataset(SAMPLE_DIR, cache=False)
    assert assert_same(ds, oc, name, inventory) > 0


def test_multi_timeframe_on_hourly_bars_is_refused_by_both_never_run_silently() -> None:
    oc = load_owner_config(None)
    ds = load_dataset(SAMPLE_DIR, cache=False)
    m = market_model(oc)
    with pytest.raises(StrategyRefused, match="needs 1-minute bars.*1h bars.*kimpbot history --interval 1m"):
        run_strategy(ds, oc.strategy, "multi_timeframe", m)
    with pytest.raises(StrategyRefused, match="needs 1-minute bars"):
        reference_run(ds, oc.strategy, "multi_timeframe", m)


@pytest.mark.parametrize("name", HOURLY)
def test_next_close_fills_and_exits_that_are_off_by_default(name: str) -> None:
    oc = load_owner_config(None, text="[exits]\nstop_loss_pct = 0.5\nmax_holding_hours = 30\n")
    ds = load_dataset(SAMPLE_DIR, cache=False)
    assert assert_same(ds, oc, name, 3_000_000.0, fill="next_close", slippage_pct=0.05, funding_rate_8h=0.0003) > 0


@pytest.fixture(scope="module")
def minute_data():
    """9 days of 1-minute bars (window 2 days = 576 five-minute bars), with gaps: the z window
    is built from 5-minute bars aggregated from 1-minute rows, multi_timeframe confirms on the
    1-minute bars themselves."""
    frames = synth_frames(1_735_689_600_000, 9 * 1440, 1.0, seed=5,
                          drop={"upbit_BTC": list(range(4000, 4013)), "binance_ETH": [7001, 7003, 7004]})
    return frames_to_dataset(frames)


@pytest.mark.parametrize("name", STRATEGIES)
def test_one_minute_bars(minute_data, name: str) -> None:
    oc = load_owner_config(None, text="[zscore]\nwindow_days = 2\n")
    assert assert_same(minute_data, oc, name, "full") > 0


def test_sub_30_second_bars_check_multi_timeframe_exits_every_30_s() -> None:
    frames = synth_frames(1_735_689_600_000, 3 * 8640, 1 / 6, seed=9)  # 10-second bars, 3 days
    ds = frames_to_dataset(frames)
    oc = load_owner_config(None, text="[zscore]\nwindow_days = 1\n")
    assert assert_same(ds, oc, "multi_timeframe", "full") > 0
