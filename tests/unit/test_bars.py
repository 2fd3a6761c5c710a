from kimpbot.market.bars import BarBuilder

M = 60_000


def test_bar_ohlc_and_close_on_next_sample():
    b = BarBuilder(5)
    t0 = 1_700_000_100_000 - 1_700_000_100_000 % (5 * M)
    assert b.add("BTC", t0 + 1000, 1.0) is None
    assert b.add("BTC", t0 + 2000, 1.4) is None
    assert b.add("BTC", t0 + 3000, 0.8) is None
    assert b.add("BTC", t0 + 4000, 1.1) is None
    bar = b.add("BTC", t0 + 5 * M, 2.0)
    assert bar is not None
    assert (bar.ts, bar.open, bar.high, bar.low, bar.close, bar.samples) == (t0, 1.0, 1.4, 0.8, 1.1, 4)
    assert bar.minutes == 5 and bar.symbol == "BTC"


def test_roll_closes_at_boundary_and_ignores_late_samples():
    b = BarBuilder(1)
    t0 = 1_700_000_040_000 - 1_700_000_040_000 % M
    b.add("ETH", t0 + 10, 0.5)
    assert b.roll(t0 + M - 1) == []
    (bar,) = b.roll(t0 + M)
    assert bar.close == 0.5
    b.add("ETH", t0 + 2 * M + 5, 0.7)
    assert b.add("ETH", t0 + M + 5, 0.9) is None  # late sample for an earlier bar: dropped
    (bar,) = b.roll(t0 + 3 * M)
    assert bar.ts == t0 + 2 * M and bar.close == 0.7
