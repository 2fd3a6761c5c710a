"""SPEC §2.1: the z window is a span of TIME (20 days), not a count of bars. Missing bars (gaps in
history, an outage) leave the window smaller; they never stretch it back over older bars. Checked
in the vectorised engine, in the per-bar reference loop (the live Strategy) and in RollingStats."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kimpbot.backtest.engine import Indicators, run_strategy
from kimpbot.backtest.fills import market_model
from kimpbot.backtest.reference import reference_run
from kimpbot.backtest.synth import frames_to_dataset, premium_frames
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.models import PremiumBar
from kimpbot.strategy.base import make_strategy
from kimpbot.strategy.rolling import RollingStats, rolling_mean_std_time

H = 3_600_000
F0 = 1_735_689_600_000
OWNER = load_owner_config(None, text="""
symbols = ["BTC"]
[zscore]
window_days = 0.4166666666666667   # 10 hours = 10 hourly bars
[zscore.allocation]
BTC = 1.0
[optimized.allocation]
BTC = 0.4
[backtest]
slippage_pct = 0.0
""")


def gappy(values: list[float], missing: set[int]):
    """Hourly frames of ``values`` with the bars at ``missing`` indexes removed on both venues."""
    frames = premium_frames(values, F0)
    keep = np.array([k not in missing for k in range(len(values))])
    for key, fr in frames.items():
        if key != "fx":
            for col in fr:
                fr[col] = fr[col][keep]
    return frames_to_dataset(frames)


# bars 0..9 alternate 1 % and 3 %; bars 10..13 are missing (4 hours); bar 14 is 2 %, bar 15 is 6 %
VALUES = [1.0, 3.0] * 5 + [0.0] * 4 + [2.0, 6.0]
MISSING = {10, 11, 12, 13}


def test_engine_window_holds_the_last_10_hours_not_the_last_10_bars() -> None:
    ds = gappy(VALUES, MISSING)
    sd = ds.symbols["BTC"]
    assert sd.n == 12 and sd.missing_bars == 4
    ind = Indicators(sd, OWNER.strategy, market_model(OWNER))
    # row 10 = bar 14: at its close (15:00) the window is 05:00..15:00 -> bars 5..9 and 14 (6 bars >= 5)
    span = np.array([3.0, 1.0, 3.0, 1.0, 3.0, 2.0])
    assert ind.mean[10] == pytest.approx(span.mean(), rel=1e-12)
    assert ind.std[10] == pytest.approx(span.std(), rel=1e-9)
    last10 = np.array([3.0, 1.0, 3.0, 1.0, 3.0, 1.0, 3.0, 1.0, 3.0, 2.0])  # what a bar count would use
    assert not math.isclose(ind.mean[10], last10.mean(), rel_tol=1e-6)
    # row 11 = bar 15 (16:00): bars 6..9, 14, 15 = 6 bars
    span = np.array([1.0, 3.0, 1.0, 3.0, 2.0, 6.0])
    assert ind.mean[11] == pytest.approx(span.mean(), rel=1e-12)
    assert ind.zS[11] == pytest.approx((ind.exec_short[11] - span.mean()) / span.std(), rel=1e-9)


def test_a_gap_longer_than_half_the_window_gives_no_z_until_it_refills() -> None:
    values = [1.0, 3.0] * 5 + [0.0] * 6 + [2.0] * 6
    ds = gappy(values, set(range(10, 16)))
    ind = Indicators(ds.symbols["BTC"], OWNER.strategy, market_model(OWNER))
    ready = np.isfinite(ind.mean)
    # row 9 = bar 9: full; bar 16 (row 10): window 07..17 holds bars 7, 8, 9, 16 = 4 < 5 (min_window_fill 0.5)
    # and it stays at 4 while the old bars leave as the new ones come; bar 20 (row 14): bars 16..20 = 5
    assert ready[9] and not ready[10:14].any() and ready[14]
    # the live Strategy agrees bar by bar (reference loop), trades included
    fast = run_strategy(ds, OWNER.strategy, "zscore", market_model(OWNER))
    slow = reference_run(ds, OWNER.strategy, "zscore", market_model(OWNER))
    assert fast.symbols["BTC"].decisions == slow["BTC"].decisions


def test_live_window_drops_bars_by_time_after_an_outage() -> None:
    """A bot that keeps running through an outage: the bars before it leave the window by the
    clock, even though no new bar has arrived to push them out."""
    sp = OWNER.strategy
    s = make_strategy(sp, "zscore", bar_minutes=60)
    for k in range(10):
        v = 1.0 if k % 2 == 0 else 3.0
        s.on_bar(PremiumBar("BTC", F0 + k * H, 60, v, v, v, v, 1))
    assert s.zscore("BTC", 0.0, F0 + 10 * H) == pytest.approx(-2.0)
    assert s.zscore("BTC", 0.0, F0 + 14 * H) == pytest.approx(-2.0)  # 04:00..14:00: bars 4..9 (1,3,1,3,1,3)
    assert s.zscore("BTC", 0.0, F0 + 15 * H) == pytest.approx(-2.2 / np.std([3, 1, 3, 1, 3]))  # bars 5..9
    assert s.zscore("BTC", 0.0, F0 + 16 * H) is None  # 4 of 10 bars: not enough for a z
    assert s.stats("BTC").count == 4
    after = [2.0, 1.0, 2.0, 3.0, 2.0]
    for k, v in enumerate(after):
        s.on_bar(PremiumBar("BTC", F0 + (16 + k) * H, 60, v, v, v, v, 1))
        assert s.zscore("BTC", 0.0, F0 + (17 + k) * H) is None or k == 4
    assert s.stats("BTC").count == 5  # 11:00..21:00: only the bars after the outage
    assert s.zscore("BTC", 0.0, F0 + 21 * H) == pytest.approx(-2.0 / np.std(after))


def test_restart_with_gappy_history_needs_the_whole_span_covered() -> None:
    """A restart warm-started from candle history with holes: z once history reaches back the full
    span and at least half the bars are there; never from bars older than the span."""
    st = RollingStats(10, H, 0.5)
    for k in (0, 1, 2, 6, 7, 8, 9):  # 3, 4, 5 missing
        st.push(float(k), F0 + k * H)
    assert st.ready and st.count == 7
    assert st.mean == pytest.approx(np.mean([0, 1, 2, 6, 7, 8, 9]))
    late = RollingStats(10, H, 0.5)
    for k in range(4, 10):  # history starts 4 h late: the span is not covered yet
        late.push(float(k), F0 + k * H)
    assert not late.ready and late.zscore(0.0) is None
    late.advance(F0 + 14 * H)
    assert late.ready and late.count == 6  # now 04:00..14:00 is the span, 6 of 10 bars


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_time_window_equals_the_live_one_on_random_gaps(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 400
    slots = np.flatnonzero(rng.random(n) > 0.3)  # ~30 % of the bars missing
    x = rng.normal(1.0, 0.5, slots.shape[0])
    mean, std, g0 = rolling_mean_std_time(slots, x, 24, 0.5)
    st = RollingStats(24, 1, 0.5)
    got_m, got_s = [], []
    for s_, v in zip(slots, x):
        st.push(float(v), int(s_))
        got_m.append(st.mean if st.ready else math.nan)
        got_s.append(st.std if st.ready else math.nan)
    np.testing.assert_allclose(mean[slots - g0], got_m, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(std[slots - g0], got_s, rtol=1e-7, atol=1e-12)
