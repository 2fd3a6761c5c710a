"""The live strategies, one snapshot at a time: SPEC §2 rules with the owner's numbers.

The window is 10 five-minute bars alternating 1 % and 3 % (mean 2, std 1), so a snapshot
premium p has z = p - 2. Fees and slippage are 0 unless a test says otherwise, so both
executable premiums equal the premium given.
"""

from __future__ import annotations

import math

import pytest

from kimpbot.strategy_file.read import load_owner_config
from kimpbot.market.premium import exec_long_premium, exec_short_premium
from kimpbot.models import Direction, PremiumBar, PremiumSnapshot
from kimpbot.strategy_file.declare import ConfigError
from kimpbot.strategy import rules
from kimpbot.strategy.base import (PairFill, Signal, add_to_position, make_strategy, open_position,
                                   position_net_profit_pct)

T0 = 1_735_689_600_000
WINDOW = "[zscore]\nwindow_days = 0.034722222222222224\n"  # 50 minutes = 10 five-minute bars


def params(extra: str = ""):
    return load_owner_config(None, text=WINDOW + extra).strategy


def warm(strat, symbol: str = "BTC", values=(1.0, 3.0) * 5) -> None:
    for k, v in enumerate(values):
        strat.on_bar(PremiumBar(symbol, T0 + k * 300_000, 5, v, v, v, v, 1))


def snap(p_long: float, p_short: float | None = None, symbol: str = "BTC", ts: int = T0 + 3_000_000,
         fee: float = 0.0) -> PremiumSnapshot:
    """Upbit at 100,000 x (1 + p/100) KRW, the perp at 100 USDT, FX 1,000."""
    ps = p_long if p_short is None else p_short
    u_buy, u_sell = 100_000 * (1 + p_long / 100), 100_000 * (1 + ps / 100)
    return PremiumSnapshot(symbol, ts, "usdkrw", 1000.0, p_long, (p_long + ps) / 2,
                           exec_long_premium(u_buy, 100.0, 1000.0, fee, fee),
                           exec_short_premium(u_sell, 100.0, 1000.0, fee, fee), 1_000_000.0,
                           u_buy, u_sell, 100.0, 100.0, fee, fee)


def fill_for(sig: Signal, premium: float, ts: int = T0, fee: float = 0.0) -> PairFill:
    u = 100_000 * (1 + premium / 100)
    q = sig.size_krw / u
    return PairFill(ts, u, q, 100.0, q, 1000.0, rules.leg_fees_krw(q, u, q, 100.0, 1000.0, fee, fee))


# ---------------------------------------------------------------- zscore


def test_zscore_long_entry_names_rule_and_numbers() -> None:
    s = make_strategy(params(), "zscore")
    assert s.window == 10 and not s.ready("BTC")
    assert s.evaluate(snap(-0.5), [], 0.0, T0) == []  # window not full yet
    warm(s)
    assert s.zscore("BTC", -0.5) == pytest.approx(-2.5)
    [sig] = s.evaluate(snap(-0.5), [], 0.0, T0)
    assert (sig.action, sig.direction, sig.tier) == ("enter", Direction.LONG_PREMIUM, "base")
    # the owner's allocation (BTC 40 %) of the capital x position_size, not an equal share
    assert sig.size_krw == pytest.approx(40_000_000 * 0.40 * 0.10)
    assert sig.z == pytest.approx(-2.5) and sig.premium_pct == pytest.approx(-0.5)
    assert sig.target_pct == 0.4 and sig.ts == T0 + 3_000_000 and sig.position_id is None
    assert "z -2.50 <= -2" in sig.reason and "|mid premium| 0.500% >= 0.5%" in sig.reason


@pytest.mark.parametrize("p", [-0.4, 0.3, 3.9])  # z -2.4 but |p| < 0.5; z -1.7; z 1.9
def test_zscore_no_entry(p: float) -> None:
    s = make_strategy(params(), "zscore")
    warm(s)
    assert s.evaluate(snap(p), [], 10e6, T0) == [] and s.last_refusals == []


def test_short_premium_entry_refused_without_inventory() -> None:
    s = make_strategy(params(), "zscore")
    warm(s)
    assert s.evaluate(snap(4.5), [], 0.0, T0) == []
    [r] = s.last_refusals
    assert r.action == "refused" and r.direction is Direction.SHORT_PREMIUM
    assert "needs 1,600,000 KRW of BTC on Upbit" in r.reason and "inventory is 0 KRW" in r.reason
    assert s.evaluate(snap(4.5), [], 1_599_999.0, T0) == []  # one KRW short
    [sig] = s.evaluate(snap(4.5), [], 1_600_001.0, T0)
    assert sig.direction is Direction.SHORT_PREMIUM and sig.z == pytest.approx(2.5)
    assert s.last_refusals == []


def test_entry_uses_the_executable_premium_of_its_direction() -> None:
    """Mid -0.6 % would be z -2.6, but buying Upbit and selling the perp with 0.05 % fees each
    locks in -0.5 %: z is read on that (and it still enters: z -2.5)."""
    s = make_strategy(params(), "zscore")
    warm(s)
    sn = snap(-0.6, fee=0.0005)
    [sig] = s.evaluate(sn, [], 0.0, T0)
    assert sig.premium_pct == pytest.approx(sn.exec_long) and sig.z == pytest.approx(sn.exec_long - 2.0)


def test_zscore_exit_needs_profit_and_reversion() -> None:
    s = make_strategy(params(), "zscore")
    warm(s)
    [sig] = s.evaluate(snap(-0.5), [], 0.0, T0)
    pos = open_position("p1", sig, fill_for(sig, -0.5))
    assert s.evaluate(snap(3.0), [pos], 0.0, T0) == []  # profit 3.5 % but |z| 1.0 > 0.5
    assert s.evaluate(snap(-0.3), [pos], 0.0, T0) == []  # |z| fine? no: z -2.3, and profit 0.2 % < 0.4
    [ex] = s.evaluate(snap(2.2), [pos], 0.0, T0)  # profit (102,200 / 99,500 - 1) = 2.71 %, z 0.2
    assert ex.action == "exit" and ex.position_id == "p1" and ex.z == pytest.approx(0.2)
    assert "net profit 2.714% >= 0.4%" in ex.reason and "|z| 0.20 <= exit_z 0.5" in ex.reason
    # another symbol's position is not this symbol's: BTC is flat and may enter again
    pos.symbol = "ETH"
    assert s.evaluate(snap(2.2), [pos], 0.0, T0) == []
    assert s.evaluate(snap(-0.5), [pos], 0.0, T0)[0].action == "enter"


def test_stop_loss_and_max_holding_are_off_unless_set() -> None:
    s = make_strategy(params(), "zscore")
    warm(s)
    [sig] = s.evaluate(snap(-0.5), [], 0.0, T0)
    pos = open_position("p1", sig, fill_for(sig, -0.5, ts=T0))
    assert s.evaluate(snap(-9.0), [pos], 0.0, T0 + 10 * 86_400_000) == []
    s2 = make_strategy(params("[exits]\nstop_loss_pct = 3.0\nmax_holding_hours = 24\n"), "zscore")
    warm(s2)
    [ex] = s2.evaluate(snap(-4.0), [pos], 0.0, T0 + 3_600_000)  # (96,000 / 99,500 - 1) = -3.52 %
    assert ex.action == "exit" and ex.reason.startswith("stop loss")
    [ex] = s2.evaluate(snap(-1.0), [pos], 0.0, T0 + 24 * 3_600_000)
    assert ex.reason.startswith("maximum holding time: 24.0 h")


def test_net_profit_counts_both_legs_fees_and_funding() -> None:
    """Short premium: sold 10 coins on Upbit at 105,000 and bought the perp at 100 USDT (FX
    1,000); now Upbit asks 103,000, the perp bids 101, FX 1,010, fees 0.1 % per leg, 5,000 KRW of
    fees and 1,000 KRW of funding already paid:
      Upbit leg 10 x (105,000 - 103,000) = 20,000; perp leg 10 x (101 - 100) x 1,010 = 10,100
      exit fees 10 x 103,000 x 0.001 + 10 x 101 x 1,010 x 0.001 = 1,030 + 1,020.1
      net = 30,100 - 2,050.1 - 5,000 - 1,000 = 22,049.9 KRW over 1,050,000 = 2.1000 %."""
    sig = Signal("BTC", Direction.SHORT_PREMIUM, "enter", 1_050_000.0, 2.5, 5.0, "base", 0.4, "", T0)
    pos = open_position("s", sig, PairFill(T0, 105_000.0, 10.0, 100.0, 10.0, 1000.0, 5_000.0))
    pos.funding_krw = 1_000.0
    sn = PremiumSnapshot("BTC", T0, "usdkrw", 1010.0, None, 1.0, None, None, 1.0, 103_000.0, 102_000.0, 102.0,
                         101.0, 0.001, 0.001)
    assert position_net_profit_pct(pos, sn) == pytest.approx(22_049.9 / 1_050_000 * 100, abs=1e-12)
    sn2 = PremiumSnapshot("BTC", T0, "usdkrw", 1010.0, None, 1.0, None, None, 1.0, None, 102_000.0, 102.0,
                          101.0, 0.001, 0.001)
    assert position_net_profit_pct(pos, sn2) is None  # a book too thin to quote the exit


def test_shared_premium_math_is_the_market_engines() -> None:
    for u, b, fx, fu, fb in ((85_387_000.0, 64_140.0, 1333.66, 0.0005, 0.0005), (783.8, 0.5883, 1380.1, 0.0, 0.001)):
        assert rules.exec_long_arr(u, b, fx, fu, fb) == exec_long_premium(u, b, fx, fu, fb)
        assert rules.exec_short_arr(u, b, fx, fu, fb) == exec_short_premium(u, b, fx, fu, fb)


# ---------------------------------------------------------------- multi_timeframe


def minute_bars(s, closes, start=T0) -> None:
    for k, v in enumerate(closes):
        s.on_bar(PremiumBar("BTC", start + k * 60_000, 1, v, v, v, v, 1))


def test_multi_timeframe_needs_three_bars_moving_back() -> None:
    s = make_strategy(params(), "multi_timeframe")
    warm(s)
    assert s.evaluate(snap(-0.5), [], 0.0, T0) == []  # no 1-minute bars yet
    minute_bars(s, [-1.0, -0.9, -0.7])  # only two moves up
    assert s.evaluate(snap(-0.5), [], 0.0, T0) == []
    minute_bars(s, [-0.6])  # -1.0 < -0.9 < -0.7 < -0.6: three consecutive moves toward the mean
    [sig] = s.evaluate(snap(-0.5), [], 0.0, T0)
    assert "confirmed by 3 consecutive 1-minute bars" in sig.reason
    minute_bars(s, [-0.8])  # a move away breaks it
    assert s.evaluate(snap(-0.5), [], 0.0, T0) == []
    # 5-minute bars feed the window, 1-minute bars only the confirmation
    assert s.stats("BTC").count == 10


def test_multi_timeframe_checks_exits_every_30_seconds() -> None:
    s = make_strategy(params(), "multi_timeframe")
    warm(s)
    sig = Signal("BTC", Direction.LONG_PREMIUM, "enter", 1_000_000.0, -2.5, -0.5, "base", 0.4, "", T0)
    pos = open_position("p", sig, fill_for(sig, -0.5))
    assert s.evaluate(snap(3.0), [pos], 0.0, T0) == []  # checked at T0: |z| 1.0, no exit
    assert s.evaluate(snap(2.2), [pos], 0.0, T0 + 10_000) == []  # 10 s later: not checked
    assert s.evaluate(snap(2.2), [pos], 0.0, T0 + 29_999) == []
    assert s.evaluate(snap(2.2), [pos], 0.0, T0 + 30_000)[0].action == "exit"


# ---------------------------------------------------------------- optimized


def test_optimized_tiers_sizes_and_targets() -> None:
    s = make_strategy(params(), "optimized")
    warm(s)
    # BTC's capital: 40 % of 40,000,000 = 16,000,000 KRW; one normal split = 15 % / 3 = 800,000 KRW,
    # split k due at |z| >= 2 + k/3 (2.0, 2.33, 2.67): |z| 2.6 has reached two splits
    for p, tier, size, target in ((-0.6, "normal", 1_600_000, 0.8), (-0.7, "normal", 2_400_000, 0.8),
                                  (-1.1, "extreme", 3_200_000, 1.5), (-2.2, "ultra", 6_400_000, 2.0)):
        [sig] = s.evaluate(snap(p), [], 0.0, T0)
        assert (sig.tier, round(sig.size_krw), sig.target_pct) == (tier, size, target), p
    assert s.evaluate(snap(-0.1), [], 0.0, T0) == []  # z -2.1 but |premium| 0.1 % < 0.5 %
    # ETH: 35 % -> normal split 14,000,000 x 15 % / 3 = 700,000; |z| 2.5: two splits
    warm(s, "ETH")
    [sig] = s.evaluate(snap(-0.5, symbol="ETH"), [], 0.0, T0)
    assert sig.size_krw == pytest.approx(1_400_000)


DEEP = (4.0, 6.0) * 5  # window mean 5, std 1: z = premium - 5, and premiums stay far above the 0.5 % floor


def test_optimized_normal_tier_reaches_15_percent_in_splits_before_the_extreme_tier() -> None:
    """SPEC §2.3: normal = 1.5 x base (15 %), added in splits as |z| deepens; with the defaults
    (normal_z 2, extreme_z 3, 3 splits; split_step_z unset -> (3 - 2) / 3) the splits are due at
    |z| 2, 2.333, 2.667, so the normal position is full (15 %) before the extreme top-up at 3."""
    s = make_strategy(params(), "optimized")
    warm(s, values=DEEP)
    assert s.evaluate(snap(5 - 1.999), [], 0.0, T0) == []  # |z| 1.999 < normal_z
    [sig] = s.evaluate(snap(5 - 2.001), [], 0.0, T0)  # |z| 2.001: split 1
    assert (sig.tier, round(sig.size_krw)) == ("normal", 800_000)
    pos = open_position("o", sig, fill_for(sig, 5 - 2.001))
    assert s.evaluate(snap(5 - 2.33), [pos], 0.0, T0) == []  # below 2.333
    [add] = s.evaluate(snap(5 - 2.34), [pos], 0.0, T0)
    assert (add.action, add.tier, round(add.size_krw)) == ("add", "normal", 800_000) and "split 2/3" in add.reason
    add_to_position(pos, add, fill_for(add, 5 - 2.34))
    assert s.evaluate(snap(5 - 2.34), [pos], 0.0, T0) == []  # already holds split 2
    assert s.evaluate(snap(5 - 2.66), [pos], 0.0, T0) == []  # below 2.667
    [add] = s.evaluate(snap(5 - 2.67), [pos], 0.0, T0)
    assert (add.tier, round(add.size_krw)) == ("normal", 800_000) and "split 3/3" in add.reason
    add_to_position(pos, add, fill_for(add, 5 - 2.67))
    assert pos.entry_notional_krw == pytest.approx(2_400_000)  # 15 %: full, and |z| is still below 3
    assert s.evaluate(snap(5 - 2.99), [pos], 0.0, T0) == []  # nothing more in the normal tier
    [top] = s.evaluate(snap(5 - 3.001), [pos], 0.0, T0)  # extreme: top up to 20 %
    assert (top.tier, round(top.size_krw), top.target_pct) == ("extreme", 800_000, 1.5)


@pytest.mark.parametrize("normal_z,extreme_z,splits", [(2.0, 3.0, 3), (2.0, 2.1, 3), (1.5, 3.5, 5), (2.0, 3.0, 2),
                                                       (2.5, 2.6, 10), (0.0, 0.01, 20)])
def test_split_thresholds_put_every_split_below_the_extreme_tier(normal_z, extreme_z, splits) -> None:
    p = params(f"[optimized]\nnormal_z = {normal_z}\nextreme_z = {extreme_z}\nnormal_splits = {splits}\n")
    thr = p.split_thresholds()
    assert thr[0] == normal_z and thr[-1] < extreme_z and len(thr) == splits
    for k, t in enumerate(thr):  # exactly at a threshold the split is due; just below it is not
        assert rules.splits_due(t, p) == k + 1
        assert rules.splits_due(math.nextafter(t, -math.inf), p) == k
    assert rules.splits_due(math.nextafter(extreme_z, -math.inf), p) == splits  # full before the next tier
    assert rules.first_entry_fraction("normal", p, splits) == pytest.approx(0.15)


def test_owner_split_step_is_used_and_one_that_pushes_a_split_past_extreme_is_refused() -> None:
    p = params("[optimized]\nsplit_step_z = 0.25\n")
    assert p.split_thresholds() == [2.0, 2.25, 2.5]
    assert params("[optimized]\nsplit_step_z = 0.4999\n").split_thresholds()[-1] < 3.0
    with pytest.raises(ConfigError, match="split_step_z.*below extreme_z"):
        params("[optimized]\nsplit_step_z = 0.5\n")  # 2 + 2 x 0.5 = 3.0: the extreme top-up would come first
    with pytest.raises(ConfigError, match="split_step_z"):
        params("[optimized]\nnormal_splits = 4\nsplit_step_z = 0.34\n")
    oc = load_owner_config(None)
    assert oc.params.values["optimized.split_step_z"].status == "default, unset by owner"
    assert "derived" in dict((k, v) for k, v, _ in oc.params.describe())["optimized.split_step_z"]


def test_optimized_first_entry_takes_every_split_its_z_has_reached() -> None:
    s = make_strategy(params(), "optimized")
    warm(s, values=DEEP)
    [sig] = s.evaluate(snap(5 - 2.5), [], 0.0, T0)  # |z| 2.5: splits 1 and 2
    assert round(sig.size_krw) == 1_600_000 and "splits 2/3" in sig.reason
    pos = open_position("o", sig, fill_for(sig, 2.5))
    [add] = s.evaluate(snap(5 - 2.9), [pos], 0.0, T0)
    assert round(add.size_krw) == 800_000  # only the missing third split


def test_optimized_splits_top_ups_and_exit_at_target() -> None:
    s = make_strategy(params(), "optimized")
    warm(s)
    [sig] = s.evaluate(snap(-0.2 - 0.5), [], 0.0, T0)  # z -2.7 -> all three normal splits (15 %)
    pos = open_position("o", sig, fill_for(sig, -0.7))
    assert pos.target_pct == 0.8 and pos.entry_notional_krw == pytest.approx(2_400_000)
    [top] = s.evaluate(snap(-1.1), [pos], 0.0, T0)  # |z| 3.1: extreme reached -> top up to 20 %
    assert (top.action, top.tier, round(top.size_krw), top.target_pct) == ("add", "extreme", 800_000, 1.5)
    s2 = make_strategy(params("[optimized]\ntopup_on_deeper_tier = false\n"), "optimized")
    warm(s2)
    assert s2.evaluate(snap(-3.0), [pos], 0.0, T0) == []  # no top-up when the owner switched it off
    # with top-ups on (the default): |z| 5 reaches ultra -> add up to 40 % = 6,400,000
    [top] = s.evaluate(snap(-3.0), [pos], 0.0, T0)
    assert (top.tier, round(top.size_krw), top.target_pct) == ("ultra", 4_000_000, 2.0)
    add_to_position(pos, top, fill_for(top, -3.0))
    assert pos.tier == "ultra" and pos.target_pct == 2.0
    assert s.evaluate(snap(-6.0), [pos], 0.0, T0) == []  # at max_single_position: nothing more
    avg_u = pos.upbit_avg_price_krw
    exit_p = (avg_u * 1.0201 / 100_000 - 1) * 100  # just above a 2 % net profit
    [ex] = s.evaluate(snap(exit_p), [pos], 0.0, T0)
    assert ex.action == "exit" and "target 2%" in ex.reason


def test_optimized_top_up_never_exceeds_max_single_position() -> None:
    p = params("[optimized]\nextreme_size_mult = 5.0\n")  # would be 50 %; max_single_position is 40 %
    assert rules.tier_fraction("extreme", p) == 0.4
    s = make_strategy(p, "optimized")
    warm(s)
    [sig] = s.evaluate(snap(-1.1), [], 0.0, T0)
    assert sig.size_krw == pytest.approx(16_000_000 * 0.4)


def test_optimized_short_premium_add_needs_inventory() -> None:
    s = make_strategy(params(), "optimized")
    warm(s)
    [sig] = s.evaluate(snap(4.5), [], 1e9, T0)  # z 2.5 short premium, normal splits 1-2: 1,600,000
    pos = open_position("s", sig, fill_for(sig, 4.5))
    assert s.evaluate(snap(4.7), [pos], 100_000.0, T0) == []  # split 3 (800,000) needs more coin
    assert "refused: add short premium" in s.last_refusals[0].reason


# ---------------------------------------------------------------- the owner's numbers


def test_open_keys_are_shown_unset_and_validated() -> None:
    oc = load_owner_config(None)
    for key in ("zscore.exit_z", "optimized.normal_splits", "optimized.split_step_z",
                "optimized.topup_on_deeper_tier", "exits.stop_loss_pct", "exits.max_holding_hours",
                "backtest.slippage_pct", "backtest.funding_rate_8h", "backtest.fill", "backtest.inventory"):
        assert oc.params.values[key].status == "default, unset by owner", key
    for key in ("zscore.entry_threshold", "optimized.ultra_size", "optimized.normal_target"):
        assert oc.params.values[key].status == "SPEC default, unset by owner"
    assert load_owner_config(None, text='[backtest]\ninventory = "5_000_000"\n')["backtest.inventory"] == "5_000_000"
    with pytest.raises(ConfigError):
        load_owner_config(None, text='[backtest]\ninventory = "lots"\n')
    with pytest.raises(ConfigError):
        load_owner_config(None, text='[backtest]\nfill = "same_bar"\n')
    sp = oc.strategy
    assert (sp.normal_z, sp.extreme_z, sp.ultra_z, sp.ultra_size, sp.max_single_position) == (2.0, 3.0, 4.0, 0.4, 0.4)
    assert math.isclose(rules.first_entry_fraction("normal", sp), 0.05)
    with pytest.raises(ValueError):
        make_strategy(sp, "martingale")
