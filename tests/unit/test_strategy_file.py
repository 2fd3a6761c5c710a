"""Owner-confirmed edits of the strategy file: one line changes, every other key and comment stays,
bad values are refused naming the key, and a file edited in between is not overwritten."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from kimpbot.config import load_owner_config
from kimpbot.params import ConfigError
from kimpbot.strategy_file import applies, find_key, plan_change, set_in_text, write_change

SHIPPED = Path(__file__).resolve().parents[2] / "strategy.toml"


@pytest.fixture
def sf(tmp_path: Path) -> Path:
    p = tmp_path / "strategy.toml"
    p.write_text(SHIPPED.read_text(encoding="utf-8"), encoding="utf-8")
    return p


def _diff(a: str, b: str) -> list[tuple[str, str]]:
    la, lb = a.splitlines(), b.splitlines()
    assert len(la) == len(lb)
    return [(x, y) for x, y in zip(la, lb) if x != y]


def test_active_line_replaced_comment_kept(sf: Path) -> None:
    before = sf.read_text()
    ch = plan_change(sf, "zscore.entry_threshold", "2.5", "telegram:1", "2026-11-25")
    assert (ch.old, ch.new, ch.applies, ch.old_status) == (2.0, 2.5, "now", "set by owner")
    (old, new), = _diff(before, ch.new_text)
    assert old.startswith("entry_threshold = 2.0") and new.startswith("entry_threshold = 2.5")
    assert new.endswith("# enter when |z| >= 2.0")  # the owner's comment stays as written
    assert sf.read_text() == before  # nothing written before the confirmation
    owner = write_change(ch)
    assert owner.strategy.entry_threshold == 2.5
    assert load_owner_config(sf).params.values["zscore.entry_threshold"].value == 2.5


def test_commented_default_taken_over_and_marked_set_by_owner(sf: Path) -> None:
    before = sf.read_text()
    assert load_owner_config(sf).params.values["zscore.exit_z"].status == "default, unset by owner"
    ch = plan_change(sf, "exit_z", "0.7", "telegram:42", "2026-11-25")  # a unique short name works
    (old, new), = _diff(before, ch.new_text)
    assert old.startswith("# exit_z = 0.5")
    assert new.startswith("exit_z = 0.7") and "set from chat by telegram:42 on 2026-11-25" in new
    assert "was 0.5, default, unset by owner" in new
    write_change(ch)
    pv = load_owner_config(sf).params.values["zscore.exit_z"]
    assert (pv.value, pv.status) == (0.7, "set by owner")


def test_nullable_key_switched_on_and_off(sf: Path) -> None:
    ch = plan_change(sf, "exits.stop_loss_pct", "3", "t", "d")
    assert (ch.old, ch.new) == (None, 3.0)
    write_change(ch)
    assert load_owner_config(sf)["exits.stop_loss_pct"] == 3.0
    ch = plan_change(sf, "stop_loss_pct", "off", "t", "d")
    write_change(ch)
    pv = load_owner_config(sf).params.values["exits.stop_loss_pct"]
    assert pv.value is None and pv.owner_set  # "off" is now the owner's explicit choice


def test_allocation_entry_and_its_sum_check(sf: Path) -> None:
    ch = plan_change(sf, "optimized.allocation.BTC", "0.30", "t", "d")
    assert (ch.old, ch.new) == (0.40, 0.30)
    assert tomllib.loads(ch.new_text)["optimized"]["allocation"] == {"BTC": 0.30, "ETH": 0.35, "XRP": 0.25}
    with pytest.raises(ConfigError, match=r"optimized.allocation.BTC.*summing to at most 1.0"):
        plan_change(sf, "optimized.allocation.BTC", "0.5", "t", "d")
    with pytest.raises(ConfigError, match="one entry at a time"):
        plan_change(sf, "optimized.allocation", "{BTC = 1.0}", "t", "d")


@pytest.mark.parametrize("key,raw,match", [
    ("zscore.entry_threshold", "abc", r"zscore.entry_threshold = 'abc' is invalid: allowed float >= 0.0"),
    ("zscore.entry_threshold", "-1", r"zscore.entry_threshold.*>= 0.0"),
    ("strategy", "martingale", r"strategy.*one of zscore, multi_timeframe, optimized"),
    ("min_kimp_entry", "0.6", r"zscore.min_kimp_entry, optimized.min_kimp_entry \(the name is ambiguous\)"),
    ("no_such_key", "1", r"no_such_key.*a key of the strategy file"),
    ("optimized.normal_z", "3.5", r"normal_z < extreme_z < ultra_z"),
    ("zscore.entry_threshold", "2.0", r"already that"),
    ("optimized.topup_on_deeper_tier", "maybe", r"true or false"),
])
def test_bad_changes_refused_naming_key_and_rule(sf: Path, key: str, raw: str, match: str) -> None:
    before = sf.read_text()
    with pytest.raises(ConfigError, match=match):
        plan_change(sf, key, raw, "t", "d")
    assert sf.read_text() == before


def test_file_edited_in_between_is_not_overwritten(sf: Path) -> None:
    ch = plan_change(sf, "zscore.exit_z", "0.6", "t", "d")
    sf.write_text(sf.read_text().replace("entry_threshold = 2.0", "entry_threshold = 2.2"))
    with pytest.raises(ConfigError, match="edited since"):
        write_change(ch)
    assert "entry_threshold = 2.2" in sf.read_text() and "exit_z = 0.6" not in sf.read_text()


def test_missing_key_table_and_file(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text('strategy = "zscore"\n\n[zscore]\nentry_threshold = 2.0\n\n[risk]\n')
    t = set_in_text(p.read_text(), "zscore", "exit_z", "0.6", "note")
    assert tomllib.loads(t)["zscore"] == {"entry_threshold": 2.0, "exit_z": 0.6}
    t = set_in_text(t, "exits", "max_holding_hours", "48.0", "note")
    assert tomllib.loads(t)["exits"] == {"max_holding_hours": 48.0}
    t = set_in_text(t, "", "strategy", '"optimized"', "note")
    assert tomllib.loads(t)["strategy"] == "optimized"
    # no file at all: one is created holding just that key
    missing = tmp_path / "none.toml"
    ch = plan_change(missing, "risk.max_concurrent_positions", "2", "t", "d")
    write_change(ch)
    assert tomllib.loads(missing.read_text()) == {"risk": {"max_concurrent_positions": 2}}


def test_string_value_with_hash_keeps_comment(tmp_path: Path) -> None:
    text = '[fx]\nsource = "usdkrw"  # bank rate\n'
    out = set_in_text(text, "fx", "source", '"usdt"', "n")
    assert out.splitlines()[1].startswith('source = "usdt"') and out.rstrip().endswith("# bank rate")


def test_when_a_change_applies() -> None:
    assert applies("zscore.entry_threshold") == "now"
    assert applies("optimized.allocation") == "now"
    assert applies("risk.live_canary_max_krw") == "now"
    assert applies("execution.confirm_timeout_s") == "now"
    assert applies("zscore.window_days") == "restart"
    assert applies("symbols") == "restart"
    assert applies("fx.source") == "restart"
    assert applies("execution.leverage") == "restart"
    assert applies("backtest.fill") == "backtest"
    assert find_key("optimized.allocation.ETH")[1] == "ETH"
