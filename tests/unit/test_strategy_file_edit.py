"""Owner-confirmed edits of the strategy file: one line changes, every other key and comment stays,
bad values are refused naming the key, and a file edited in between is not overwritten."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest

from kimpbot.strategy_file.read import load_owner_config
from kimpbot.strategy_file.declare import ConfigError
from kimpbot.strategy_file import edit
from kimpbot.strategy_file.edit import applies, find_key, plan_change, set_in_text, write_atomic, write_change

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
    # table entries need a traded symbol and a number in range
    ("optimized.allocation.btc", "0.3", r"allocation.btc = '0.3' .*traded symbol in upper case, one of BTC, ETH, "
                                        r"XRP; did you mean BTC\?"),
    ("optimized.allocation.DOGE", "0", r"allocation.DOGE = '0' .*one of BTC, ETH, XRP .*symbols and "
                                       r"optimized.allocation together"),
    ("optimized.allocation.BTC", "1.5", r"allocation.BTC = '1.5' .*a fraction of the capital in \[0, 1\]"),
    ("optimized.allocation.BTC", "-0.1", r"allocation.BTC = '-0.1' .*in \[0, 1\]"),
    ("optimized.allocation.BTC", "nan", r"allocation.BTC = 'nan' .*finite"),
    ("optimized.allocation.BTC", "true", r"allocation.BTC = 'true' .*in \[0, 1\]"),
    ("optimized.allocation.BTC", '"0.3"', r"allocation.BTC = '\"0.3\"' .*in \[0, 1\]"),
    ("paper.upbit_coins.BTC", "-5", r"paper.upbit_coins.BTC = '-5' .*a coin amount >= 0"),
    ("paper.upbit_coins.BTC", "inf", r"paper.upbit_coins.BTC = 'inf' .*a coin amount >= 0 \(a finite number\)"),
    ("paper.upbit_coins.eth", "1", r"paper.upbit_coins.eth = '1' .*one of BTC, ETH, XRP; did you mean ETH\?"),
    ("paper.upbit_coins.SOL", "1", r"paper.upbit_coins.SOL = '1' .*traded symbol"),
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
    # no file at all (it vanished while kimpbot ran): refused, nothing created (issue 10: a file holding
    # one key would put built-in defaults in force for every other money number at the next start)
    missing = tmp_path / "none.toml"
    with pytest.raises(ConfigError, match=r"risk.max_concurrent_positions: the strategy file .*none.toml is gone"):
        plan_change(missing, "risk.max_concurrent_positions", "2", "t", "d")
    assert not missing.exists()


def test_string_value_with_hash_keeps_comment(tmp_path: Path) -> None:
    text = '[fx]\nsource = "usdkrw"  # bank rate\n'
    out = set_in_text(text, "fx", "source", '"usdt"', "n")
    assert out.splitlines()[1].startswith('source = "usdt"') and out.rstrip().endswith("# bank rate")


@pytest.mark.parametrize("key,when", [
    ("zscore.entry_threshold", "now"), ("optimized.allocation", "now"), ("risk.live_canary_max_krw", "now"),
    ("execution.confirm_timeout_s", "now"), ("zscore.window_days", "restart"), ("symbols", "restart"),
    ("fx.source", "restart"), ("execution.leverage", "restart"), ("backtest.fill", "backtest"),
])
def test_when_a_change_applies(key: str, when: str) -> None:
    assert applies(key) == when


def test_a_table_entry_names_its_table_key_and_entry() -> None:
    spec, sub = find_key("optimized.allocation.ETH")
    assert (spec.key, sub) == ("optimized.allocation", "ETH")


# -- numbers typed with commas ------------------------------------------------------------------------

@pytest.mark.parametrize("raw", ["2,5", "1,5", "0,3", "2,50", "1,0000", "1234,567", "40,00,000", "2,5.0", "1,000,5"])
def test_decimal_comma_is_refused_not_read_as_a_bigger_number(sf: Path, raw: str) -> None:
    before = sf.read_text()
    with pytest.raises(ConfigError) as err:
        plan_change(sf, "zscore.entry_threshold", raw, "t", "d")
    msg = str(err.value)
    assert msg.startswith(f"zscore.entry_threshold = {raw!r} is invalid") and "dot for decimals" in msg
    assert sf.read_text() == before


def test_decimal_comma_refused_for_a_table_entry(sf: Path) -> None:
    with pytest.raises(ConfigError, match=r"optimized.allocation.BTC = '0,3' .*dot for decimals"):
        plan_change(sf, "optimized.allocation.BTC", "0,3", "t", "d")


@pytest.mark.parametrize("key,raw,value", [
    ("risk.live_canary_max_krw", "1,000,000", 1_000_000.0),
    ("paper.upbit_krw", "40,000,000.5", 40_000_000.5),
    ("paper.upbit_krw", "50,000", 50_000.0),
    ("risk.max_concurrent_positions", "1,000", 1000),
])
def test_thousands_separators_in_groups_of_three(sf: Path, key: str, raw: str, value: float) -> None:
    assert plan_change(sf, key, raw, "t", "d").new == value


def test_a_number_for_a_text_key_stays_text(sf: Path) -> None:
    ch = plan_change(sf, "backtest.inventory", "5,000,000", "t", "d")
    assert ch.new == "5000000"
    write_change(ch)
    assert load_owner_config(sf)["backtest.inventory"] == "5000000"
    assert plan_change(sf, "backtest.inventory", "7000000", "t", "d").new == "7000000"
    with pytest.raises(ConfigError, match=r"backtest.inventory = inf is invalid: allowed str"):
        plan_change(sf, "backtest.inventory", "inf", "t", "d")


# -- table entries ------------------------------------------------------------------------------------

def test_table_entry_symbols_come_from_the_file(sf: Path) -> None:
    sf.write_text(sf.read_text().replace('symbols = ["BTC", "ETH", "XRP"]', 'symbols = ["BTC", "ETH", "XRP", "SOL"]')
                  .replace("XRP = 0.25", "XRP = 0.2\nSOL = 0.05"))
    ch = plan_change(sf, "optimized.allocation.SOL", "0", "t", "d")
    assert ch.new == 0.0 and tomllib.loads(ch.new_text)["optimized"]["allocation"]["SOL"] == 0.0
    ch = plan_change(sf, "paper.upbit_coins.SOL", "12.5", "t", "d")
    assert (ch.old, ch.new) == (None, 12.5) and ch.summary().startswith("paper.upbit_coins.SOL: no entry (")


def test_paper_coins_take_over_the_commented_example(sf: Path) -> None:
    before = sf.read_text()
    ch = plan_change(sf, "paper.upbit_coins.BTC", "0.05", "t", "d")
    (old, new), = _diff(before, ch.new_text)
    assert old.startswith("# upbit_coins = { BTC = 0.05 }") and new.startswith("upbit_coins = { BTC = 0.05 }")
    write_change(ch)
    assert load_owner_config(sf)["paper.upbit_coins"] == {"BTC": 0.05}
    ch = plan_change(sf, "paper.upbit_coins.ETH", "1", "t", "d")  # now an inline table: rewritten whole
    assert tomllib.loads(ch.new_text)["paper"]["upbit_coins"] == {"BTC": 0.05, "ETH": 1.0}


# -- the file's layout --------------------------------------------------------------------------------

def test_inline_allocation_table_is_edited_in_place(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text('strategy = "optimized"\n\n[optimized]\nallocation = { BTC = 0.4, ETH = 0.35, XRP = 0.25 }'
                 '  # my split\nnormal_z = 2.0\n\n[exits]\n')
    before = p.read_text()
    ch = plan_change(p, "optimized.allocation.BTC", "0.3", "t", "d")
    (old, new), = _diff(before, ch.new_text)
    assert new == "allocation = { BTC = 0.3, ETH = 0.35, XRP = 0.25 }  # my split"
    write_change(ch)
    assert load_owner_config(p)["optimized.allocation"] == {"BTC": 0.3, "ETH": 0.35, "XRP": 0.25}


def test_allocation_at_its_defaults_is_written_whole(tmp_path: Path) -> None:
    """No [optimized.allocation] in the file: one entry must not drop the other symbols' defaults."""
    p = tmp_path / "s.toml"
    p.write_text('strategy = "optimized"\n\n[optimized]\nnormal_z = 2.0\n')
    ch = plan_change(p, "optimized.allocation.BTC", "0.3", "t", "d")
    assert (ch.old, ch.new) == (0.4, 0.3)
    assert tomllib.loads(ch.new_text)["optimized"] == {
        "normal_z": 2.0, "allocation": {"BTC": 0.3, "ETH": 0.35, "XRP": 0.25}}
    write_change(ch)
    assert load_owner_config(p).params.values["optimized.allocation"].owner_set


def test_layout_refusal_does_not_blame_the_value(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text('strategy = "optimized"\n\n[optimized]\nallocation.BTC = 0.4\nallocation.ETH = 0.35\n'
                 'allocation.XRP = 0.25\n')
    with pytest.raises(ConfigError) as err:
        plan_change(p, "optimized.allocation.BTC", "0.3", "t", "d")
    msg = str(err.value)
    assert msg.startswith("optimized.allocation.BTC: this file's layout cannot be edited in place (")
    assert msg.endswith(f"); edit {p} by hand") and "is invalid" not in msg and "twice" in msg
    # an inline table takes one more entry (tomlkit edits it; the regex editor refused it)
    p.write_text('strategy = "optimized"\noptimized = { normal_z = 2.0 }\n')
    ch = plan_change(p, "optimized.extreme_z", "3.5", "t", "d")
    assert tomllib.loads(ch.new_text)["optimized"] == {"normal_z": 2.0, "extreme_z": 3.5}


def test_a_file_that_does_not_load_is_named_not_the_value(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text("[zscore]\nentry_threshold = -1.0\n")
    with pytest.raises(ConfigError, match=rf"^zscore.exit_z: {p} does not load as it is \(zscore.entry_threshold"):
        plan_change(p, "zscore.exit_z", "0.6", "t", "d")


# -- a file kimpbot may not replace -------------------------------------------------------------------

def _deny(monkeypatch: pytest.MonkeyPatch, *denied: Path) -> None:
    real = edit._writable
    monkeypatch.setattr(edit, "_writable", lambda p: Path(p) not in denied and real(p))


@pytest.mark.parametrize("which", ["file", "dir"])
def test_read_only_file_or_directory_refused_before_apply(sf: Path, monkeypatch: pytest.MonkeyPatch,
                                                          which: str) -> None:
    _deny(monkeypatch, sf if which == "file" else sf.parent)
    before = sf.read_text()
    with pytest.raises(ConfigError) as err:
        plan_change(sf, "zscore.exit_z", "0.6", "t", "d")
    msg = str(err.value)
    assert msg.startswith(f"zscore.exit_z: kimpbot cannot write the strategy file {sf} (")
    assert (f"(its directory {sf.parent} is read-only for kimpbot)" in msg) == (which == "dir")
    assert ("(it is read-only for kimpbot)" in msg) == (which == "file")
    assert "edit it by hand and restart kimpbot, or make it writable for kimpbot (see README" in msg
    assert sf.read_text() == before


def test_missing_file_needs_a_writable_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _deny(monkeypatch, tmp_path)
    with pytest.raises(ConfigError, match=r"cannot write the strategy file .*sub/s.toml \(it does not exist and "
                                          rf"{tmp_path} is read-only for kimpbot\)"):
        plan_change(tmp_path / "sub" / "s.toml", "zscore.exit_z", "0.6", "t", "d")
    assert not (tmp_path / "sub").exists()


def test_file_made_read_only_after_the_request_is_not_written(sf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ch = plan_change(sf, "zscore.exit_z", "0.6", "t", "d")
    _deny(monkeypatch, sf.parent)
    with pytest.raises(ConfigError, match="make it writable for kimpbot"):
        write_change(ch)
    assert "exit_z = 0.6" not in sf.read_text()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file modes")
def test_read_only_permissions_are_seen(tmp_path: Path) -> None:
    d = tmp_path / "etc"
    d.mkdir()
    f = d / "strategy.toml"
    f.write_text(SHIPPED.read_text(encoding="utf-8"))
    try:
        f.chmod(0o440)
        with pytest.raises(ConfigError, match=rf"{f} \(it is read-only for kimpbot\)"):
            plan_change(f, "zscore.exit_z", "0.6", "t", "d")
        f.chmod(0o640)
        d.chmod(0o550)
        with pytest.raises(ConfigError, match=rf"\(its directory {d} is read-only for kimpbot\)"):
            plan_change(f, "zscore.exit_z", "0.6", "t", "d")
    finally:
        d.chmod(0o750)
        f.chmod(0o640)
    assert plan_change(f, "zscore.exit_z", "0.6", "t", "d").new == 0.6


# -- the write itself ---------------------------------------------------------------------------------

def test_symlinked_file_is_written_through_the_link(tmp_path: Path) -> None:
    real_dir = tmp_path / "data"
    real_dir.mkdir()
    target = real_dir / "strategy.toml"
    target.write_text(SHIPPED.read_text(encoding="utf-8"))
    target.chmod(0o640)
    link = tmp_path / "strategy.toml"
    link.symlink_to(target)
    ch = plan_change(link, "zscore.exit_z", "0.6", "t", "d")
    write_change(ch)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert load_owner_config(target)["zscore.exit_z"] == 0.6
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(x.name for x in real_dir.iterdir()) == ["strategy.toml"]  # no temp file left
    write_atomic(link, "x = 1\n")
    assert link.is_symlink() and target.read_text() == "x = 1\n"


def test_write_atomic_keeps_mode_and_fsyncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "s.toml"
    p.write_text("a = 1\n")
    p.chmod(0o604)
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    write_atomic(p, "a = 2\n")
    assert p.read_text() == "a = 2\n" and stat.S_IMODE(p.stat().st_mode) == 0o604
    assert len(synced) == 2  # the file, then its directory


def test_commented_default_without_tomlkits_insert_falls_back_to_adding(monkeypatch) -> None:
    """Taking over ``# key = default`` uses tomlkit's Container._insert_at; a tomlkit without it
    still makes the edit (the key is added to the table, the commented line stays)."""
    import tomlkit.container

    text = '[exits]\n# stop_loss_pct = "none"       # default\nmax_holding_hours = 72.0\n'
    taken = set_in_text(text, "exits", "stop_loss_pct", "1.5", "n")
    assert taken.splitlines()[1].startswith("stop_loss_pct = 1.5") and "# default" not in taken
    monkeypatch.delattr(tomlkit.container.Container, "_insert_at")
    added = set_in_text(text, "exits", "stop_loss_pct", "1.5", "n")
    assert tomllib.loads(added)["exits"] == {"stop_loss_pct": 1.5, "max_holding_hours": 72.0}
    assert "# stop_loss_pct" in added
