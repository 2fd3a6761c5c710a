"""Config: owner's file validated with errors naming key, value and what is allowed."""

from pathlib import Path

import pytest

from kimpbot.config import load_settings
from kimpbot.strategy_file.read import DEFAULT_STRATEGY_FILE, load_owner_config
from kimpbot.strategy_file.declare import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_shipped_strategy_file_is_spec_defaults():
    cfg = load_owner_config(REPO / "strategy.toml")
    sp = cfg.strategy
    assert sp.strategy == "optimized"
    assert sp.symbols == ("BTC", "ETH", "XRP")
    assert sp.window_bars == 5760 and sp.window_bars_for(60) == 480
    assert (sp.entry_threshold, sp.min_kimp_entry, sp.min_profit_exit) == (2.0, 0.5, 0.4)
    assert (sp.ultra_z, sp.ultra_size, sp.ultra_target) == (4.0, 0.40, 2.0)
    assert (sp.extreme_z, sp.extreme_size_mult, sp.extreme_target) == (3.0, 2.0, 1.5)
    assert (sp.normal_z, sp.normal_size_mult, sp.normal_target) == (2.0, 1.5, 0.8)
    assert sp.allocation == {"BTC": 0.40, "ETH": 0.35, "XRP": 0.25}
    assert sp.initial_capital_krw == 40_000_000
    unset = cfg.params.unset_open_keys()
    # The numbers SPEC leaves open are shown as unset by owner
    for key in ("zscore.exit_z", "exits.stop_loss_pct", "exits.max_holding_hours", "fx.source"):
        assert key in unset
    rows = {k: (v, s) for k, v, s in cfg.params.describe()}
    assert rows["zscore.exit_z"] == ("0.5", "default, unset by owner")
    assert rows["exits.stop_loss_pct"] == ("none (off)", "default, unset by owner")
    assert rows["zscore.entry_threshold"] == ("2", "set by owner")


@pytest.mark.parametrize("text,key,fragment", [
    ('strategy = "yolo"', "strategy", "one of zscore, multi_timeframe, optimized"),
    ("[zscore]\nentry_threshold = -1", "zscore.entry_threshold", ">= 0.0"),
    ("[zscore]\nentry_treshold = 2", "entry_treshold", "a known key"),
    ("[optimized]\nmax_single_position = 1.5", "optimized.max_single_position", "in [0.0, 1.0]"),
    ("[optimized.allocation]\nBTC = 0.8\nETH = 0.5\nXRP = 0.1", "optimized.allocation", "summing to at most 1.0"),
    ('symbols = ["btc"]', "symbols", "upper-case"),
    ("[zscore]\nbar_minutes = 2.5", "zscore.bar_minutes", "int"),
    ("[optimized]\nextreme_z = 5.0", "optimized.normal_z/extreme_z/ultra_z", "normal_z < extreme_z < ultra_z"),
    ("this is = not toml =", "<text>", "valid TOML"),
])
def test_bad_values_named(text, key, fragment):
    with pytest.raises(ConfigError) as ei:
        load_owner_config(None, text)
    msg = str(ei.value)
    assert key in msg and fragment in msg


def test_missing_file_is_an_error_naming_the_path_and_how_to_create_it(tmp_path):
    # issue 10 §6: a missing file used to give built-in defaults for every money number, silently
    with pytest.raises(ConfigError) as ei:
        load_owner_config(tmp_path / "nope.toml")
    msg = str(ei.value)
    assert "KIMPBOT_STRATEGY_FILE" in msg and f"cp {DEFAULT_STRATEGY_FILE} {tmp_path / 'nope.toml'}" in msg
    # only an explicit None (library use, tests, backtest what-ifs) means SPEC's defaults
    assert load_owner_config(None).source == "built-in defaults"


def test_settings_env():
    s = load_settings({"KIMPBOT_MODE": "paper", "UPBIT_API_URL": "http://127.0.0.1:9/",
                       "TELEGRAM_ALLOWED_USERS": "1, 2"})
    assert s.upbit_api_url == "http://127.0.0.1:9"  # trailing slash dropped
    assert s.binance_api_url == "https://fapi.binance.com"
    assert s.telegram_allowed_users == frozenset({1, 2})
    with pytest.raises(ConfigError, match="KIMPBOT_MODE.*paper or live"):
        load_settings({"KIMPBOT_MODE": "real"})
    with pytest.raises(ConfigError, match="UPBIT_ACCESS_KEY"):
        load_settings({"KIMPBOT_MODE": "live"})
    with pytest.raises(ConfigError, match="BINANCE_FUTURES_WS_URL"):
        load_settings({"BINANCE_FUTURES_WS_URL": "https://x"})
    with pytest.raises(ConfigError, match="TELEGRAM_ALLOWED_USERS"):
        load_settings({"TELEGRAM_BOT_TOKEN": "123:abc"})
    with pytest.raises(ConfigError, match="numeric user ids"):
        load_settings({"TELEGRAM_ALLOWED_USERS": "bob"})
    secret = "s3cr3t-binance-value"
    s = load_settings({"BINANCE_API_SECRET": secret})
    assert secret not in repr(s) and secret in s.secrets()
