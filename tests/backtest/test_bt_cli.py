"""``kimpbot backtest``: the owner's file, the table, the JSON keys, the chart, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from testkit import backtest_cli as run

KEYS = ("annual_return_pct", "sharpe", "max_drawdown_pct", "win_rate_pct", "trades", "avg_profit_krw",
        "final_capital_krw")
EXTRA = ("sortino", "calmar", "profit_factor", "expectancy_krw", "max_drawdown_start", "max_drawdown_bottom",
         "max_drawdown_end", "longest_losing_streak", "avg_holding_hours", "fees_paid_krw", "funding_paid_krw")


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIMPBOT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("KIMPBOT_STRATEGY_FILE", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./strategy.toml: built-in defaults


def test_json_has_the_keys_issue_3_lists_per_strategy(capsys) -> None:
    code, out, _ = run(["--strategy", "all", "--json"], capsys)
    assert code == 0
    doc = json.loads(out)
    # the sample is hourly: multi_timeframe (1-minute confirmation) is refused by name, not run on 1h bars
    assert set(doc) == {"zscore", "optimized", "meta"}
    assert "needs 1-minute bars" in doc["meta"]["not_run"]["multi_timeframe"]
    for name in ("zscore", "optimized"):
        for k in KEYS + EXTRA:
            assert k in doc[name], (name, k)
        assert isinstance(doc[name]["trades"], int) and doc[name]["trades"] > 0
        assert doc[name]["max_drawdown_pct"] <= 0
    meta = doc["meta"]
    assert meta["strategy_file"] == "built-in defaults" and meta["inventory"] == "none"
    assert meta["symbols"]["ETH"]["missing_bars"] == 6 and meta["symbols"]["ETH"]["largest_gaps"]
    assert "zscore.exit_z" in meta["unset_by_owner"]
    assert any(n.startswith("not run: multi_timeframe needs 1-minute bars") for n in meta["notes"])


def test_table_side_by_side_and_all_never_changes_the_owners_numbers(capsys) -> None:
    code, out, _ = run(["--strategy", "all"], capsys)
    assert code == 0
    header = next(line for line in out.splitlines() if line.split() == ["zscore", "optimized"])
    assert header.split() == ["zscore", "optimized"]
    assert "not run: multi_timeframe needs 1-minute bars" in out
    for label in ("Annual return %", "Sharpe", "Max drawdown %", "Win rate %", "Trades", "Avg profit / trade KRW",
                  "Final capital KRW", "Sortino", "Calmar", "Profit factor", "Expectancy KRW", "Max DD peak",
                  "Longest losing streak", "Avg holding hours", "Fees paid KRW", "Funding paid KRW"):
        assert label in out
    assert "unset by owner" in out and "refused for lack of Upbit inventory" in out
    _, one, _ = run(["--strategy", "optimized", "--json"], capsys)
    _, every, _ = run(["--strategy", "all", "--json"], capsys)
    assert json.loads(one)["optimized"] == json.loads(every)["optimized"]


def test_strategy_file_is_read_and_named(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "mine.toml"
    f.write_text('strategy = "zscore"\n[zscore]\nentry_threshold = 3.5\n[backtest]\ninventory = "full"\n')
    _, out, _ = run(["--strategy-file", str(f), "--json"], capsys)
    doc = json.loads(out)
    assert list(doc) == ["zscore", "meta"] and doc["meta"]["strategy_file"] == str(f)
    assert doc["meta"]["inventory"] == "full"
    _, base, _ = run(["--strategy", "zscore", "--json", "--inventory", "full"], capsys)
    assert doc["zscore"]["trades"] < json.loads(base)["zscore"]["trades"]  # a higher threshold trades less
    monkeypatch.setenv("KIMPBOT_STRATEGY_FILE", str(f))
    _, out, _ = run(["--json"], capsys)
    assert json.loads(out)["meta"]["strategy_file"] == str(f)
    (tmp_path / "bad.toml").write_text("[zscore]\nentry_threshold = -1\n")
    code, _, err = run(["--strategy-file", str(tmp_path / "bad.toml")], capsys)
    assert code == 2 and "zscore.entry_threshold" in err


def test_from_to_and_what_if_flags(capsys) -> None:
    _, out, _ = run(["--json", "--from", "2025-02-01", "--to", "2025-02-20", "--inventory", "full",
                     "--slippage-pct", "0.05", "--funding-rate-8h", "0", "--fill", "next_close"], capsys)
    doc = json.loads(out)
    m = doc["optimized"]
    assert m["period_start"] >= "2025-02-01" and m["period_end"] <= "2025-02-21T00:00:00Z"
    assert doc["meta"]["slippage_pct_per_leg"] == 0.05 and doc["meta"]["fill"] == "next_close"
    assert m["funding_paid_krw"] == 0


def test_chart_and_trades(tmp_path: Path, capsys) -> None:
    png = tmp_path / "bt.png"
    code, out, _ = run(["--strategy", "all", "--chart", str(png), "--trades"], capsys)
    assert code == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert "trades — optimized" in out and "target: net profit" in out


def test_errors_exit_2_with_a_message(tmp_path: Path, capsys) -> None:
    code, _, err = run(["--data", str(tmp_path / "none")], capsys)
    assert code == 2 and "no such data directory" in err
    code, _, err = run(["--inventory", "lots"], capsys)
    assert code == 2 and "--inventory" in err
    code, _, err = run(["--strategy", "best"], capsys)
    assert code == 2 and "--strategy" in err
    code, _, err = run(["--from", "2025-03-01", "--to", "2025-02-01"], capsys)
    assert code == 2


def test_progress_bar_on_stderr(capsys) -> None:
    code, _, err = run(["--progress", "--strategy", "all"], capsys)
    assert code == 0 and "%" in err and "[" in err


def test_module_and_main_cli_entry_points(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "kimpbot.backtest", "--json", "--strategy", "zscore"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=60,
                       env={"PATH": "/usr/bin:/bin", "KIMPBOT_CACHE_DIR": "off", "HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["zscore"]["trades"] > 0
    from kimpbot.cli import parse_args

    args = parse_args(["backtest", "--strategy", "optimized", "--json"])
    assert args.func(args) == 0


def test_backtest_command_does_not_import_other_commands_libraries() -> None:
    """`kimpbot backtest` parses its arguments without importing history's or doctor's aiohttp (a
    cold start pays for every import), while `kimpbot --help` still lists every command and each
    lazy command's own arguments parse when it is the one run."""
    code = ("import sys; from kimpbot.cli import parse_args; a = parse_args(['backtest', '--strategy', 'zscore']); "
            "print(a.strategy, 'aiohttp' in sys.modules, 'kimpbot.doctor' in sys.modules, "
            "'kimpbot.history' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["zscore", "False", "False", "False"]
    r = subprocess.run([sys.executable, "-m", "kimpbot", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and all(c in r.stdout for c in ("backtest", "history", "doctor", "config"))
    from kimpbot.cli import parse_args

    assert parse_args(["doctor", "--json"]).json is True
    assert parse_args(["--log-level", "debug", "history", "--from", "2024-01-01", "--to", "2024-01-02",
                       "--out", "x"]).out == "x"
    with pytest.raises(SystemExit):
        parse_args(["backtest", "--no-such-flag"])
