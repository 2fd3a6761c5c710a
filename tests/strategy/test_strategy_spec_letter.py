"""SPEC §2 to the letter: zscore's size is the owner's open key and its capital follows the owner's
allocation; the 0.5 % premium floor reads the premium the owner sees (mid) unless the owner chooses."""

from __future__ import annotations

import pytest

from kimpbot.strategy_file.read import load_owner_config
from kimpbot.market.premium import exec_long_premium, exec_short_premium
from kimpbot.models import Direction, PremiumBar, PremiumSnapshot
from kimpbot.strategy_file.declare import ConfigError
from kimpbot.strategy import rules
from kimpbot.strategy.base import make_strategy

T0 = 1_735_689_600_000
WINDOW = "[zscore]\nwindow_days = 0.034722222222222224\n"  # 10 five-minute bars


def owner(extra: str = "", top: str = ""):
    return load_owner_config(None, text=top + WINDOW + extra)


def warm(strat, symbol: str = "BTC") -> None:
    for k, v in enumerate((1.0, 3.0) * 5):  # mean 2, std 1
        strat.on_bar(PremiumBar(symbol, T0 + k * 300_000, 5, v, v, v, v, 1))


def snap_mid(mid: float, fee: float, symbol: str = "BTC") -> PremiumSnapshot:
    """Upbit at 100,000 x (1 + mid/100) KRW, perp 100 USDT, FX 1,000; executable premiums after ``fee``."""
    u = 100_000 * (1 + mid / 100)
    return PremiumSnapshot(symbol, T0 + 3_000_000, "usdkrw", 1000.0, mid, mid,
                           exec_long_premium(u, 100.0, 1000.0, fee, fee), exec_short_premium(u, 100.0, 1000.0, fee, fee),
                           1_000_000.0, u, u, 100.0, 100.0, fee, fee)


def test_zscore_position_size_and_allocation_are_shown_unset_by_owner() -> None:
    oc = load_owner_config(None)
    for key in ("zscore.position_size", "zscore.allocation", "zscore.min_kimp_on", "zscore.min_window_fill"):
        assert oc.params.values[key].status == "default, unset by owner", key
    shown = {k: v for k, v, _ in oc.params.describe()}
    assert shown["zscore.allocation"] == "none (uses optimized.allocation)"
    assert shown["zscore.min_kimp_on"] == "mid"
    assert "mid (the premium the owner sees" in oc.params.values["zscore.min_kimp_on"].spec.help


@pytest.mark.parametrize("name", ["zscore", "multi_timeframe"])
def test_zscore_capital_follows_the_owners_allocation_not_an_equal_split(name: str) -> None:
    sp = owner().strategy
    sizes = {s: rules.entry_size_krw(sp, name, s, None) for s in ("BTC", "ETH", "XRP")}
    assert sizes == pytest.approx({"BTC": 40e6 * 0.40 * 0.10, "ETH": 40e6 * 0.35 * 0.10, "XRP": 40e6 * 0.25 * 0.10})
    own = owner("[zscore.allocation]\nBTC = 0.5\nETH = 0.3\nXRP = 0.2\n").strategy
    assert rules.entry_size_krw(own, name, "BTC", None) == pytest.approx(40e6 * 0.5 * 0.10)
    assert rules.entry_size_krw(own, "optimized", "BTC", "ultra") == pytest.approx(40e6 * 0.4 * 0.4)  # untouched
    s = make_strategy(owner(top='strategy = "zscore"\n').strategy, "zscore")
    warm(s, "ETH")
    [sig] = s.evaluate(snap_mid(-0.5, 0.0, "ETH"), [], 0.0, T0)
    assert sig.size_krw == pytest.approx(40e6 * 0.35 * 0.10) and "14,000,000 KRW" in sig.reason


def test_zscore_allocation_must_cover_the_traded_symbols() -> None:
    with pytest.raises(ConfigError, match="zscore.allocation.*missing XRP"):
        owner("[zscore.allocation]\nBTC = 0.5\nETH = 0.5\n", top='strategy = "zscore"\n')
    with pytest.raises(ConfigError, match="zscore.allocation"):
        owner("[zscore.allocation]\nBTC = 0.9\nETH = 0.9\n")  # sums above 1


@pytest.mark.parametrize("name", ["zscore", "optimized"])
def test_premium_floor_reads_the_mid_premium_by_default(name: str) -> None:
    """mid -0.55 %: the owner sees 0.55 % >= 0.5 %. With 0.25 % taker fees on both legs the
    executable long premium is about -0.05 %: z -2.0 or below either way (the z reads executable
    prices), so only the floor's choice decides."""
    fee = 0.0025
    snap = snap_mid(-0.55, fee)
    assert abs(snap.mid) >= 0.5 > abs(snap.exec_long)
    s = make_strategy(owner().strategy, name)
    warm(s)
    [sig] = s.evaluate(snap, [], 0.0, T0)
    assert sig.direction is Direction.LONG_PREMIUM and "|mid premium| 0.550% >= 0.5%" in sig.reason
    exe = make_strategy(owner('min_kimp_on = "executable"\n').strategy, name)
    warm(exe)
    assert exe.evaluate(snap, [], 0.0, T0) == []
    # exactly at the floor it enters; just below it does not
    assert make_and_eval(name, snap_mid(-0.5, 0.0)) and not make_and_eval(name, snap_mid(-0.4999, 0.0))


def make_and_eval(name: str, snap: PremiumSnapshot) -> bool:
    s = make_strategy(owner().strategy, name)
    warm(s)
    return bool(s.evaluate(snap, [], 0.0, T0))


def test_set_one_entry_of_the_unset_zscore_allocation_from_chat(tmp_path) -> None:
    """/set zscore.allocation.BTC on a file without the table: written as the owner's table, loads."""
    from kimpbot.strategy_file.edit import plan_change

    f = tmp_path / "strategy.toml"
    f.write_text('strategy = "optimized"\n[zscore]\nentry_threshold = 2.0\n')
    ch = plan_change(f, "zscore.allocation.BTC", "0.5", "test", "2026-12-03")
    assert "uses optimized.allocation" in ch.new_text  # the note names what it replaced
    oc = load_owner_config(None, text=ch.new_text)
    assert oc.strategy.zscore_allocation == {"BTC": 0.5}
    assert oc.params.values["zscore.allocation"].owner_set
    step = plan_change(f, "optimized.split_step_z", "0.25", "test", "2026-12-03")
    assert load_owner_config(None, text=step.new_text).strategy.split_thresholds() == [2.0, 2.25, 2.5]
    with pytest.raises(ConfigError, match="below extreme_z"):
        plan_change(f, "optimized.split_step_z", "0.5", "test", "2026-12-03")


def test_live_multi_timeframe_refuses_confirmation_bars_coarser_than_the_owners() -> None:
    sp = owner().strategy
    assert make_strategy(sp, "multi_timeframe", confirm_minutes=1).confirm_minutes == 1
    with pytest.raises(ValueError, match="1-minute bars; 60-minute confirmation bars would make it a different"):
        make_strategy(sp, "multi_timeframe", bar_minutes=60, confirm_minutes=60)
    assert make_strategy(sp, "zscore", bar_minutes=60, confirm_minutes=60).bar_minutes == 60  # zscore: fine
