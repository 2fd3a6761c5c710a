"""Issue 10 §3 and §6: every money number checked against its meaning (the churn configuration is
refused by the loader, `config check`, `run` and /set), the strategy file read without tracebacks,
and a fuzzed loader that only ever gives a config or a ConfigError."""

from __future__ import annotations

import os
import stat
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kimpbot import cli
from kimpbot.config import load_settings
from kimpbot.strategy_file.read import DEFAULT_STRATEGY_FILE, load_owner_config
from kimpbot.strategy_file.declare import ConfigError
from kimpbot.strategy_file.edit import plan_change

REPO = Path(__file__).resolve().parents[2]

# (file text, key named, rule fragment)
CHURN = [
    ("[exits]\nstop_loss_pct = 0", "exits.stop_loss_pct", "churn"),
    ("[exits]\nstop_loss_pct = 0.15", "exits.stop_loss_pct", "beyond the round-trip fees (0.2 %"),
    ("[exits]\nstop_loss_pct = -1", "exits.stop_loss_pct", "a number > 0"),
    ("[exits]\nmax_holding_hours = 0", "exits.max_holding_hours", "churn"),
    ("[exits]\nmax_holding_hours = 0.05", "exits.max_holding_hours", "at least one z bar"),
    ("[optimized]\nnormal_target = -0.5", "optimized.normal_target", "a number > 0"),
    ("[optimized]\nultra_target = 0", "optimized.ultra_target", "a number > 0"),
    ("[zscore]\nmin_profit_exit = -0.1", "zscore.min_profit_exit", "a number > 0"),
    ("[optimized]\nbase_size = 0", "optimized.base_size", "a size of 0 never trades"),
    ("[risk]\nlive_canary_max_krw = \"\"", "risk.live_canary_max_krw", "in [5000.0, 1000000000000.0]"),
    ("[risk]\nlive_canary_max_krw = 100", "risk.live_canary_max_krw", "in [5000.0"),
    ("[capital]\ninitial_capital_krw = 100_000", "capital / sizes", "Upbit's minimum 5,000 KRW"),
    ("[market]\norder_krw = 1000", "market.order_krw", "in [5000.0"),
    ("[protections]\ndaily_loss_limit_pct = 0", "protections.daily_loss_limit_pct", "cannot be switched off"),
    ("[protections]\ndaily_loss_limit_pct = 90", "protections.daily_loss_limit_pct", "<= 50"),
    ("[protections]\nmax_round_trips_per_hour = 0", "protections.max_round_trips_per_hour", "in [1, 60]"),
    ("[protections]\nloss_cooldown_minutes = -5", "protections.loss_cooldown_minutes", "in [1.0, 1440.0]"),
    ("[protections]\nmax_consecutive_losses = 1000", "protections.max_consecutive_losses", "in [1, 20]"),
    ("[protections]\nmax_consecutive_losses = \"off\"", "protections.max_consecutive_losses", "int"),
    ("[paper]\nupbit_coins = { BTC = \"lots\" }", "paper.upbit_coins", "a coin amount >= 0"),
    ("[capital]\ninitial_capital_krw = 1e309", "capital.initial_capital_krw", "a finite number"),
    ("[capital]\ninitial_capital_krw = inf", "capital.initial_capital_krw", "a finite number"),
    ("[capital]\ninitial_capital_krw = " + "9" * 400, "capital.initial_capital_krw", "400 digits"),
    ("[risk]\nmax_concurrent_positions = " + "9" * 30, "risk.max_concurrent_positions", "int"),
]


@pytest.mark.parametrize("text,key,rule", CHURN)
def test_churn_and_meaningless_money_numbers_are_refused(text, key, rule):
    with pytest.raises(ConfigError) as ei:
        load_owner_config(None, text)
    msg = str(ei.value)
    assert key in msg and rule in msg, msg
    assert len(msg) < 600  # a huge integer is not echoed in full


def test_spec_defaults_and_the_shipped_files_stay_valid():
    for path in (REPO / "strategy.toml", DEFAULT_STRATEGY_FILE):
        o = load_owner_config(path)
        assert o["exits.stop_loss_pct"] is None and o["risk.live_canary_max_krw"] == 10_000
    assert DEFAULT_STRATEGY_FILE.read_text() == (REPO / "strategy.toml").read_text()
    # the commented examples are valid when the owner uncomments them
    o = load_owner_config(None, "[exits]\nstop_loss_pct = 3.0\nmax_holding_hours = 72\n"
                                "[risk]\nlive_canary_max_krw = \"none\"\n"
                                "[protections]\ndaily_loss_limit_pct = 5\nmax_round_trips_per_hour = 10\n")
    assert o["risk.live_canary_max_krw"] is None and o["protections.max_round_trips_per_hour"] == 10
    # a coin given no capital is watched, not traded: no minimum-order error for it
    load_owner_config(None, "[optimized.allocation]\nBTC = 0.6\nETH = 0.4\nXRP = 0.0\n")


@pytest.fixture
def sf(tmp_path: Path) -> Path:
    p = tmp_path / "strategy.toml"
    p.write_text((REPO / "strategy.toml").read_text())
    return p


@pytest.mark.parametrize("key,raw,rule", [
    ("exits.stop_loss_pct", "0", "churn"),
    ("stop_loss_pct", "0.1", "round-trip fees"),
    ("max_holding_hours", "0", "churn"),
    ("optimized.normal_target", "-1", "a number > 0"),
    ("risk.live_canary_max_krw", "0", "in [5000.0"),
    ("protections.max_consecutive_losses", "0", "in [1, 20]"),
    ("protections.daily_loss_limit_pct", "none", "float"),
])
def test_set_refuses_the_churn_configuration(sf, key, raw, rule):
    before = sf.read_text()
    with pytest.raises(ConfigError) as ei:
        plan_change(sf, key, raw, "t", "d")
    assert rule in str(ei.value) and sf.read_text() == before


def test_set_may_loosen_a_protection(sf):
    ch = plan_change(sf, "protections.max_round_trips_per_hour", "6", "t", "d")
    assert ch.new == 6 and ch.applies == "now"


# ---- the strategy file itself -------------------------------------------------------------------

def test_directory_fifo_non_utf8_unreadable_are_config_errors(tmp_path):
    d = tmp_path / "adir"
    d.mkdir()
    with pytest.raises(ConfigError, match="a directory"):
        load_owner_config(d)
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    done: list[BaseException | None] = []

    def load() -> None:
        try:
            load_owner_config(fifo)
            done.append(None)
        except BaseException as exc:  # noqa: BLE001 - the test reports what it got
            done.append(exc)

    th = threading.Thread(target=load, daemon=True)
    th.start()
    th.join(10)  # a blocking open() of a FIFO with no writer would never return
    assert done and isinstance(done[0], ConfigError) and "FIFO" in str(done[0])
    bad = tmp_path / "latin1.toml"
    bad.write_bytes('strategy = "optimized" # caf\xe9\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="UTF-8"):
        load_owner_config(bad)
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked.toml"
        locked.write_text("")
        locked.chmod(0)
        try:
            with pytest.raises(ConfigError, match="permissions"):
                load_owner_config(locked)
        finally:
            locked.chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_empty_strategy_file_env_and_unknown_log_level_are_errors():
    with pytest.raises(ConfigError, match="KIMPBOT_STRATEGY_FILE.*copy the repository's strategy.toml"):
        load_settings({"KIMPBOT_STRATEGY_FILE": "  "})
    with pytest.raises(ConfigError, match="KIMPBOT_LOG_LEVEL.*one of DEBUG, INFO, WARNING, ERROR"):
        load_settings({"KIMPBOT_LOG_LEVEL": "LOUD"})
    assert load_settings({"KIMPBOT_LOG_LEVEL": "debug"}).log_level == "DEBUG"


# ---- `config check` fails on everything `run` fails on -------------------------------------------

def _main(argv: list[str], env: dict[str, str], monkeypatch, capsys) -> tuple[int, str]:
    for k in list(os.environ):
        if k.startswith(("KIMPBOT_", "UPBIT_", "BINANCE_", "TELEGRAM_", "DISCORD_", "FX_")):
            monkeypatch.delenv(k)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    rc = cli.main(argv)
    return rc, capsys.readouterr().err


BAD_ENVS = [
    ("missing file", {"KIMPBOT_STRATEGY_FILE": "{tmp}/nope.toml"}, None),
    ("empty env", {"KIMPBOT_STRATEGY_FILE": ""}, None),
    ("directory", {"KIMPBOT_STRATEGY_FILE": "{tmp}"}, None),
    ("log level", {"KIMPBOT_LOG_LEVEL": "chatty"}, ""),
    ("stop loss 0", {}, "[exits]\nstop_loss_pct = 0\n"),
    ("holding 0", {}, "[exits]\nmax_holding_hours = 0\n"),
    ("negative target", {}, "[optimized]\nnormal_target = -1\n"),
    ("paper coins", {}, "[paper]\nupbit_coins = { BTC = \"x\" }\n"),
    ("overflow", {}, "[paper]\nupbit_krw = 1e400\n"),
    ("data dir is a file", {"KIMPBOT_DATA_DIR": "{tmp}/strategy.toml"}, ""),
]


@pytest.mark.parametrize("name,env,text", BAD_ENVS, ids=[b[0] for b in BAD_ENVS])
def test_config_check_fails_on_everything_run_fails_on(name, env, text, tmp_path, monkeypatch, capsys):
    sf = tmp_path / "strategy.toml"
    sf.write_text((text or "") if text is not None else "")
    base = {"KIMPBOT_STRATEGY_FILE": str(sf), "KIMPBOT_DATA_DIR": str(tmp_path / "data"),
            # nothing is reachable here: a config error must come before any network
            "UPBIT_API_URL": "http://127.0.0.1:9", "BINANCE_FUTURES_API_URL": "http://127.0.0.1:9",
            "FX_API_URL": "http://127.0.0.1:9"}
    full = base | {k: v.format(tmp=tmp_path) for k, v in env.items()}
    rc_check, err_check = _main(["config", "check"], full, monkeypatch, capsys)
    rc_run, err_run = _main(["run", "--duration", "1", "--no-stdin", "--no-warmup"], full, monkeypatch, capsys)
    assert rc_check != 0 and rc_check == rc_run, (err_check, err_run)
    assert err_check.startswith("config error:") and err_check == err_run
    assert "Traceback" not in err_check


def test_config_check_passes_the_shipped_file(tmp_path, monkeypatch, capsys):
    env = {"KIMPBOT_STRATEGY_FILE": str(REPO / "strategy.toml"), "KIMPBOT_DATA_DIR": str(tmp_path / "d")}
    rc, _ = _main(["config", "check"], env, monkeypatch, capsys)
    assert rc == 0


# ---- fuzz: any input is a config or a ConfigError -----------------------------------------------

_KEYS = ["strategy", "symbols", "capital.initial_capital_krw", "zscore.window_days", "zscore.bar_minutes",
         "zscore.min_profit_exit", "zscore.position_size", "optimized.base_size", "optimized.normal_target",
         "optimized.normal_splits", "optimized.allocation.BTC", "optimized.normal_z", "optimized.ultra_size",
         "exits.stop_loss_pct", "exits.max_holding_hours", "fees.upbit_taker", "market.order_krw",
         "risk.live_canary_max_krw", "risk.max_concurrent_positions", "paper.upbit_coins.BTC", "paper.upbit_krw",
         "protections.daily_loss_limit_pct", "protections.max_round_trips_per_hour",
         "protections.loss_cooldown_minutes", "protections.max_consecutive_losses", "backtest.inventory", "nope.x"]
_VALUES = st.one_of(
    st.integers(), st.integers(min_value=-10**400, max_value=10**400), st.floats(allow_nan=True),
    st.sampled_from(["inf", "-inf", "nan", "1e309", "-0.0", "0", '""', '"none"', '"off"', "true", "[]", "{}",
                     '["BTC"]', '"²"', "{ BTC = 1 }", "'x'", "9" * 500]),
    st.text(max_size=12).map(lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'),
)


def _lit(v: object) -> str:
    if isinstance(v, float):
        return {"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(str(v), repr(v))
    return str(v)


@st.composite
def strategy_texts(draw) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        key = draw(st.sampled_from(_KEYS))
        table, _, leaf = key.rpartition(".")
        lines.append((f"[{table}]\n" if table else "") + f"{leaf} = {_lit(draw(_VALUES))}")
    top = [ln for ln in lines if not ln.startswith("[")]
    return "\n".join(top + [ln for ln in lines if ln.startswith("[")]) + draw(st.sampled_from(["", "\n", "\x00", "[["]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(strategy_texts())
def test_fuzz_strategy_text_gives_a_config_or_a_config_error(text):
    try:
        o = load_owner_config(None, text)
    except ConfigError as exc:
        assert str(exc)
        return
    assert o.strategy.symbols  # a valid config


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_fuzz_any_strategy_file_text(text):
    try:
        load_owner_config(None, text)
    except ConfigError:
        pass


_ENV_NAMES = ["KIMPBOT_MODE", "KIMPBOT_TRADE_MODE", "KIMPBOT_HTTP_PORT", "KIMPBOT_STRATEGY_FILE", "KIMPBOT_DATA_DIR",
              "KIMPBOT_LOG_LEVEL", "TELEGRAM_ALLOWED_USERS", "TELEGRAM_BOT_TOKEN", "DISCORD_CHANNEL_ID",
              "DISCORD_ALLOWED_USERS", "UPBIT_API_URL", "BINANCE_FUTURES_WS_URL"]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(_ENV_NAMES),
                       st.one_of(st.text(max_size=20), st.sampled_from(["²", "99999999999", "-1", "live", "1,２", "a\x00b",
                                                                        "/dev/null", "/", "x" * 300])),
                       max_size=6))
def test_fuzz_env_gives_settings_or_a_config_error(env):
    from kimpbot.config import check_data_dir

    try:
        s = load_settings(env)
        check_data_dir(s.data_dir)  # what `run` and `config check` do next
        load_owner_config(s.strategy_file)
    except ConfigError as exc:
        assert str(exc)


def test_demo_without_a_strategy_file_uses_the_packaged_defaults(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("KIMPBOT_STRATEGY_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert cli._demo_strategy_file() == DEFAULT_STRATEGY_FILE
    assert "kimpbot's default strategy file" in capsys.readouterr().out
    assert sys.modules["kimpbot.cli"] is cli


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=300), strategy_texts().map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_fuzz_strategy_file_bytes(tmp_path, data):
    p = tmp_path / "fuzz.toml"
    p.write_bytes(data)
    try:
        load_owner_config(p)
    except ConfigError as exc:
        assert str(exc)


def test_set_on_a_file_that_became_a_fifo_or_non_utf8_is_refused(tmp_path):
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="FIFO"):  # and does not wait for a writer
        plan_change(fifo, "zscore.exit_z", "0.6", "t", "d")
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"strategy = \"zscore\" # \xff\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        plan_change(bad, "zscore.exit_z", "0.6", "t", "d")


@pytest.mark.parametrize("name", ["KIMPBOT_STRATEGY_FILE", "KIMPBOT_DATA_DIR"])
def test_a_home_of_no_user_is_a_config_error(name):
    """Found by the env fuzzing: ``~0`` named a user that does not exist and crashed start-up."""
    from kimpbot.config import load_settings

    with pytest.raises(ConfigError, match=name):
        load_settings({name: "~no_such_user_kimpbot/x"})
