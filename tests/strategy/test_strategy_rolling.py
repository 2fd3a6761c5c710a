"""Rolling mean/std of the z window equal numpy's to 1e-9, live (O(1) per push) and vectorised."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kimpbot.strategy.rolling import MIN_STD, RollingStats, rolling_mean_std, zscores

floats = st.floats(min_value=-50.0, max_value=50.0, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(xs=st.lists(floats, min_size=1, max_size=300), window=st.integers(min_value=1, max_value=60))
@example(xs=[0.0, 28.771269043969113, 28.771269043969113, 28.771269043969113], window=3)  # found by hypothesis
@example(xs=[1.0, 2.0, 1.0, 0.0, 0.0, 0.0], window=3)  # found by hypothesis: a flat window at 0 kept std 1e-8
def test_rolling_stats_equal_numpy(xs: list[float], window: int) -> None:
    rs = RollingStats(window)
    arr = np.asarray(xs)
    mean, std = rolling_mean_std(arr, window)
    for i, x in enumerate(xs):
        rs.push(x)
        w = arr[max(0, i - window + 1): i + 1]
        assert rs.count == w.shape[0]
        assert rs.ready == (w.shape[0] == window)
        assert abs(rs.mean - w.mean()) <= 1e-9
        assert abs(rs.std - w.std()) <= 1e-9  # population std (ddof = 0)
        if i >= window - 1:
            assert abs(mean[i] - w.mean()) <= 1e-9
            assert abs(std[i] - w.std()) <= 1e-9
        else:
            assert math.isnan(mean[i]) and math.isnan(std[i])


def test_long_run_has_no_drift() -> None:
    """300,000 pushes of a premium-like series (a level that wanders from -5 % to +12 % with
    noise) into the real 5,760-bar window: checked against numpy along the way and at the end."""
    rng = np.random.default_rng(42)
    n, window = 300_000, 5760
    x = np.cumsum(rng.normal(0, 0.02, n)) + rng.normal(0, 0.5, n) + 1.2
    x[150_000:150_050] += 9.0  # a shock
    rs = RollingStats(window)
    mean, std = rolling_mean_std(x, window)
    worst = 0.0
    for i, v in enumerate(x.tolist()):
        rs.push(v)
        if i >= window - 1 and (i % 9973 == 0 or i == n - 1 or 150_000 <= i < 150_060):
            w = x[i - window + 1: i + 1]
            m, s = math.fsum(w) / window, float(np.std(w))
            worst = max(worst, abs(rs.mean - m), abs(rs.std - s), abs(mean[i] - m), abs(std[i] - s))
    assert worst <= 1e-9, worst
    ends = np.arange(window - 1, n, 50_000)
    for i in ends:
        w = x[i - window + 1: i + 1]
        assert abs(mean[i] - w.mean()) <= 1e-9 and abs(std[i] - w.std()) <= 1e-9


def test_zscore_none_until_full_and_when_flat() -> None:
    rs = RollingStats(3)
    for v in (1.0, 1.0):
        rs.push(v)
        assert rs.zscore(5.0) is None
    rs.push(1.0)
    assert rs.ready and rs.zscore(5.0) is None  # flat window: std 0
    rs.push(4.0)  # window 1, 1, 4: mean 2, std sqrt(2)
    assert rs.zscore(2.0 + math.sqrt(2.0)) == pytest.approx(1.0)
    z = zscores(np.array([5.0, 5.0]), np.array([1.0, 2.0]), np.array([0.0, 1.5]))
    assert math.isnan(z[0]) and z[1] == pytest.approx(2.0)
    assert MIN_STD > 0


def test_rejects_non_finite() -> None:
    rs = RollingStats(5)
    with pytest.raises(ValueError):
        rs.push(float("nan"))
    with pytest.raises(ValueError):
        RollingStats(0)


def test_a_spike_leaving_a_flat_window_gives_no_z() -> None:
    """The O(1) update's cancellation once left std ~3e-7 (not 0) here, and a z of ~1e5 on the next
    value: a spurious ultra-extreme signal. A flat window has no z, live and vectorised."""
    xs = [0.0, 28.771269043969113, 28.771269043969113, 28.771269043969113]
    rs = RollingStats(3)
    for x in xs:
        rs.push(x)
    assert rs.std == 0.0 and rs.zscore(28.8) is None
    mean, std = rolling_mean_std(np.asarray(xs), 3)
    assert std[-1] == 0.0 and math.isnan(zscores(np.asarray(xs + [28.8])[:4], mean, std)[-1])
