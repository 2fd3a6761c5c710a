"""Hand-checkable synthetic paths: the exact trades and P&L are worked out in the comments.

Common set-up: one symbol (BTC), hourly bars, Binance flat at 100 USDT, FX 1,000 KRW/USD,
so Upbit = 100,000 x (1 + premium/100) KRW exactly. Opens equal closes, so "fill at the
next bar's open" fills at the next bar's premium. The z window is 10 (or 20) hourly bars.
"""

from __future__ import annotations

import math

import pytest

from kimpbot.backtest.engine import run_strategy
from kimpbot.backtest.fills import market_model
from kimpbot.backtest.metrics import compute
from kimpbot.backtest.reference import reference_run
from kimpbot.backtest.synth import frames_to_dataset, premium_frames
from testkit import hand_owner

H = 3_600_000
F0 = 1_735_689_600_000  # 2025-01-01T00:00Z, a funding time

owner = hand_owner  # no costs unless asked


# bars 0..9 alternate 1 %, 3 % (mean 2, std 1); bar 10 drops to -1 %:
#   window at bar 10 = bars 1..10 = [3,1,3,1,3,1,3,1,3,-1]: mean 1.8, var 5.0 - 3.24 = 1.76, std 1.3266
#   z = (-1 - 1.8) / 1.3266 = -2.11 <= -2 and |-1| >= 0.5  -> long premium entry, decided at bar 10's close
# bar 11 (-1 %): entry fills at its open, Upbit 99,000 KRW; zscore size 10 % x 40,000,000 = 4,000,000 KRW
#   qty = 4,000,000 / 99,000 = 40.40 BTC; net profit 0 -> hold
# bar 12 (2 %): Upbit 102,000: net = 40.40 x 3,000 = 121,212.12 KRW = 3.03 % >= 0.4 %;
#   window bars 3..12 = [3,1,3,1,3,1,3,-1,-1,2]: mean 1.5, var 4.5 - 2.25, std 1.5; z(2) = 0.33 <= 0.5 -> exit
# bar 13 (2 %): exit fills at 102,000. P&L = 4,000,000 x 3,000 / 99,000 = 121,212.1212 KRW.
# bars 13, 14 (2 %): z(2) = 0.42 and 0.35: no new entry.
ZPATH = [1, 3, 1, 3, 1, 3, 1, 3, 1, 3, -1, -1, 2, 2, 2]


def test_zscore_round_trip_without_costs_is_exact() -> None:
    oc = owner()
    ds = frames_to_dataset(premium_frames(ZPATH, F0))
    run = run_strategy(ds, oc.strategy, "zscore", market_model(oc))
    [t] = run.trades
    assert t.direction == "long_premium" and t.tier == "base"
    assert (t.entry_decision_ms, t.entry_ms) == (F0 + 11 * H, F0 + 11 * H)  # decided at bar 10's close
    assert (t.exit_decision_ms, t.exit_ms) == (F0 + 13 * H, F0 + 13 * H)
    assert t.entry_notional_krw == pytest.approx(4_000_000.0)
    assert t.pnl_krw == pytest.approx(4_000_000 * 3_000 / 99_000, abs=1e-6)
    assert t.pnl_pct == pytest.approx(3_000 / 99_000 * 100, abs=1e-9)
    assert t.fees_krw == 0.0 and t.funding_krw == 0.0
    assert t.entry_premium_pct == pytest.approx(-1.0) and t.exit_premium_pct == pytest.approx(2.0)
    assert [d.action for d in run.symbols["BTC"].decisions] == ["enter", "exit"]
    assert [d.row for d in run.symbols["BTC"].decisions] == [10, 12]
    m = compute(run, oc.strategy.initial_capital_krw)
    assert m["trades"] == 1 and m["win_rate_pct"] == 100.0
    assert m["final_capital_krw"] == round(40_000_000 + 4_000_000 * 3_000 / 99_000)
    # the live strategy, bar by bar, makes the same trade
    [rt] = reference_run(ds, oc.strategy, "zscore", market_model(oc))["BTC"].trades
    assert rt.pnl_krw == pytest.approx(t.pnl_krw, abs=1e-9)


def test_zscore_round_trip_with_fees_and_one_funding() -> None:
    """Same path, taker fees 0.05 % on both legs and 0.01 % funding per 8 h; the bars start
    12 h before a funding time so that exactly one funding time (bar 12's open) falls inside
    the position (entry fill at bar 11's open, exit fill at bar 13's open).

    Decision check: exec long at bar 10 = 99,000 x 1.0005 / (100 x 0.9995 x 1,000) - 1 = -0.9009 %,
    z = (-0.9009 - 1.8) / 1.3266 = -2.04: still an entry; at bar 12 exec short = 1.898 %, z 0.27,
    net profit 2.83 %: still the exit.
    """
    oc = owner(fee=0.0005, funding=0.0001)
    ds = frames_to_dataset(premium_frames(ZPATH, F0 - 12 * H))
    [t] = run_strategy(ds, oc.strategy, "zscore", market_model(oc)).trades
    q = 4_000_000 / 99_000
    entry_fees = q * 99_000 * 0.0005 + q * 100 * 1000 * 0.0005  # 2,000 + 2,020.20
    exit_fees = q * 102_000 * 0.0005 + q * 100 * 1000 * 0.0005  # 2,060.61 + 2,020.20
    funding = -(0.0001 * q * 100 * 1000)  # the perp is short: it RECEIVES 404.04 KRW
    assert t.fees_krw == pytest.approx(entry_fees + exit_fees, abs=1e-6)
    assert t.funding_krw == pytest.approx(funding, abs=1e-9)
    assert t.pnl_krw == pytest.approx(q * 3_000 - entry_fees - exit_fees - funding, abs=1e-6)
    assert round(t.pnl_krw, 2) == 113_515.15


# Optimized, 20-bar window: bars 0..19 alternate 1 %, 3 %; bar 20 falls to -10 %:
#   window bars 1..20: ten 3s, nine 1s, one -10 -> mean 29/20 = 1.45, E[x^2] = 199/20 = 9.95,
#   var 7.8475, std 2.8013; z = (-10 - 1.45) / 2.8013 = -4.09 -> ULTRA: one entry of 40 % of
#   BTC's capital (40 % x 40,000,000 = 16,000,000) = 6,400,000 KRW, target 2 %
# bar 21 (-10 %): fills at Upbit 90,000; qty 71.11
# bar 22 (-7 %): Upbit 93,000: net = 6,400,000 x 3,000 / 90,000 = 213,333.33 = 3.33 % >= 2 % -> exit
# bar 23 (-7 %): exit fills at 93,000: P&L 213,333.33 KRW.
OPATH = [1, 3] * 10 + [-10, -10, -7, -7]


def test_optimized_ultra_entry_and_target_exit() -> None:
    oc = owner(days=20 / 24)
    ds = frames_to_dataset(premium_frames(OPATH, F0))
    run = run_strategy(ds, oc.strategy, "optimized", market_model(oc))
    [t] = run.trades
    assert t.tier == "ultra" and t.direction == "long_premium" and t.adds == 0
    assert t.entry_notional_krw == pytest.approx(6_400_000.0)
    assert t.pnl_krw == pytest.approx(6_400_000 * 3_000 / 90_000, abs=1e-6)
    assert t.exit_reason.startswith("target")
    assert math.isclose(t.entry_z, (-10 - 1.45) / math.sqrt(7.8475), rel_tol=1e-9)


def test_short_premium_needs_inventory() -> None:
    """The mirror image of OPATH around 2 % (p -> 4 - p: +14 %, then +11 %): z = +4.09, a
    short-premium ultra entry. Without Upbit coin it is refused and reported; with the inventory
    it trades: sell Upbit at 114,000, buy back at 111,000:
    6,400,000 / 114,000 x 3,000 = 168,421.05 KRW (2.63 % >= 2 %)."""
    oc = owner(days=20 / 24)
    path = [4 - p for p in OPATH]
    ds = frames_to_dataset(premium_frames(path, F0))
    refused = run_strategy(ds, oc.strategy, "optimized", market_model(oc), inventory="none")
    sr = refused.symbols["BTC"]
    assert refused.trades == [] and sr.refusals >= 1 and sr.refusal_episodes == 1
    assert "inventory 0 KRW" in sr.refusal_examples[0] and "6,400,000 KRW of BTC" in sr.refusal_examples[0]
    m = compute(refused, 40_000_000)
    assert m["refused_entries"] == sr.refusals and m["trades"] == 0
    [t] = run_strategy(ds, oc.strategy, "optimized", market_model(oc), inventory="full").trades
    assert t.direction == "short_premium" and t.tier == "ultra"
    assert t.pnl_krw == pytest.approx(6_400_000 / 114_000 * 3_000, abs=1e-6)
    # 6,399,999 KRW of coin is not enough for the 6,400,000 KRW ultra entry at bar 20 (refused); one
    # bar later |z| is only "normal" (2.90 >= 2.67, the third split's threshold): the entry takes all
    # three splits (15 % = 2,400,000 KRW), which fit
    short = run_strategy(ds, oc.strategy, "optimized", market_model(oc), inventory=6_399_999.0)
    assert short.symbols["BTC"].refusals == 1
    assert [(d.row, d.tier, round(d.size_krw)) for d in short.symbols["BTC"].decisions][0] == (21, "normal",
                                                                                                2_400_000)


def test_end_of_data_closes_the_position_and_books_it() -> None:
    """Cut the zscore path after bar 11: the position is closed at the last close (-1 %, the
    entry price), P&L 0 without costs, and the report says so."""
    oc = owner()
    ds = frames_to_dataset(premium_frames(ZPATH[:12], F0))
    run = run_strategy(ds, oc.strategy, "zscore", market_model(oc))
    [t] = run.trades
    assert t.exit_reason.startswith("end of data") and t.pnl_krw == pytest.approx(0.0, abs=1e-9)
    assert compute(run, 40_000_000)["end_of_data_exits"] == 1


def test_next_close_fill_uses_the_next_bars_close() -> None:
    """With opens differing from closes (open = previous close), next_open fills at the decision
    bar's own premium and next_close at the next bar's."""
    oc = owner()
    frames = premium_frames(ZPATH, F0, opens_equal_closes=False)
    ds = frames_to_dataset(frames)
    [a] = run_strategy(ds, oc.strategy, "zscore", market_model(oc, fill="next_open")).trades
    [b] = run_strategy(ds, oc.strategy, "zscore", market_model(oc, fill="next_close")).trades
    # next_open: bar 11 opens at bar 10's close (-1 %); exit: bar 13 opens at bar 12's close (2 %)
    assert a.pnl_krw == pytest.approx(4_000_000 * 3_000 / 99_000, abs=1e-6)
    # next_close: entry at bar 11's close (-1 %), exit at bar 13's close (2 %): the same here
    assert b.pnl_krw == pytest.approx(4_000_000 * 3_000 / 99_000, abs=1e-6)
    assert b.entry_ms == F0 + 12 * H and a.entry_ms == F0 + 11 * H


def test_slippage_costs_both_legs_both_ways() -> None:
    """0.05 % slippage per leg: buy Upbit at 99,049.5, short perp at 99.95; sell Upbit at 101,949,
    buy perp at 100.05 (FX 1,000). The entry premium is then -0.9009 % (z -2.04: still an entry;
    at 0.1 % slippage it would be -0.80 %, z -1.96, and no trade at all)."""
    oc = owner()
    ds = frames_to_dataset(premium_frames(ZPATH, F0))
    assert run_strategy(ds, oc.strategy, "zscore", market_model(oc, slippage_pct=0.1)).trades == []
    [t] = run_strategy(ds, oc.strategy, "zscore", market_model(oc, slippage_pct=0.05)).trades
    u0, b0, u1, b1 = 99_000 * 1.0005, 100 * 0.9995, 102_000 * 0.9995, 100 * 1.0005
    q = 4_000_000 / u0
    assert t.pnl_krw == pytest.approx(q * (u1 - u0) + q * (b0 - b1) * 1000, abs=1e-6)
