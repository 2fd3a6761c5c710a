"""Settings: ``.env`` (secrets, mode, endpoints) + ``strategy.toml`` (the owner's numbers).

Environment names are fixed because operators and tests script against them.
Every endpoint defaults to the real service and can be pointed elsewhere
(testnets, proxies, the local fakes in ``kimpbot.sim``).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from kimpbot.params import ConfigError, ParamSet, ParamSpec, resolve
from kimpbot.strategy.params import STRATEGY_SPECS, StrategyParams

# Operational numbers (market data, FX guard, risk) also live in strategy.toml:
# they are the owner's policy. SPEC fixes few of them; the rest are "open".
OPERATIONS_SPECS: tuple[ParamSpec, ...] = (
    ParamSpec("fx.source", str, "usdkrw", "FX for the premium: usdkrw (bank rate) or usdt (Upbit KRW-USDT)",
              origin="open", choices=("usdkrw", "usdt")),
    ParamSpec("fx.poll_seconds", float, 30.0, "how often the bank USD/KRW rate is fetched", origin="open",
              min=1.0),
    ParamSpec("fx.max_age_s", float, 300.0, "a rate not refreshed for this long is stale: trading stops",
              origin="open", min=1.0),
    ParamSpec("fx.max_jump_pct", float, 1.0, "a move of the rate beyond this between two readings stops signals",
              origin="open", min=0.0),
    ParamSpec("fx.jump_hold_s", float, 300.0, "after a jump, signals stay stopped this long", origin="open",
              min=0.0),
    ParamSpec("fx.max_divergence_pct", float, 5.0,
              "bank USD/KRW and Upbit KRW-USDT further apart than this stop signals", origin="open", min=0.0),
    ParamSpec("market.max_quote_age_s", float, 10.0, "a quote older than this is stale", origin="open", min=0.1),
    ParamSpec("market.order_krw", float, None,
              "order size (KRW) the executable premium is quoted for; default: the strategy's first entry",
              origin="open", nullable=True, min=1.0),
    ParamSpec("market.ws_reconnect_max_s", float, 30.0, "longest back-off between websocket reconnects",
              origin="open", min=0.1),
    ParamSpec("fees.upbit_taker", float, 0.0005, "Upbit KRW market taker fee (fraction)", origin="exchange",
              min=0.0, max=0.01),
    ParamSpec("fees.binance_taker", float, 0.0005, "Binance USDT-M taker fee (fraction)", origin="exchange",
              min=0.0, max=0.01),
    ParamSpec("risk.emergency_move_pct", float, 5.0, "a price move beyond this within the check window halts",
              min=0.0),
    ParamSpec("risk.emergency_window_s", float, 300.0, "the emergency check window (seconds)", origin="open",
              min=1.0),
    ParamSpec("risk.max_concurrent_positions", int, 3, "open pair positions at most", origin="open", min=1),
    ParamSpec("risk.max_order_failures", int, 3, "consecutive order failures that halt", origin="open", min=1),
    ParamSpec("risk.live_canary_max_krw", float, 10_000.0,
              "live mode: largest order in KRW until the owner lifts it (the owner's 10,000 KRW test trade)",
              nullable=True, min=1.0),
    ParamSpec("risk.funding_guard_minutes", float, None, "block entries this close to a funding time",
              origin="open", nullable=True, min=0.0),
    ParamSpec("execution.order_timeout_s", float, 5.0, "timeout of one order call; no answer = query by client id",
              origin="open", min=0.1),
    ParamSpec("execution.unknown_grace_s", float, 10.0, "how long a leg with no answer is queried before it is "
              "reported as unknown exposure", origin="open", min=0.1),
    ParamSpec("execution.confirm_timeout_s", float, 120.0, "confirmation mode: a signal expires after this",
              origin="open", min=1.0),
    ParamSpec("execution.confirm_tolerance_pct", float, 0.2,
              "Execute re-checks the premium: refused if it moved against the signal by more than this (pp)",
              origin="open", min=0.0),
    ParamSpec("execution.leverage", int, 1, "Binance leverage of the perp leg (1x: margin = notional)",
              origin="open", min=1, max=5),
    ParamSpec("paper.upbit_krw", float, 40_000_000.0, "paper ledger: starting Upbit KRW", origin="open", min=0.0),
    ParamSpec("paper.binance_usdt", float, 30_000.0, "paper ledger: starting Binance USDT margin", origin="open",
              min=0.0),
    ParamSpec("paper.upbit_coins", dict, {}, "paper ledger: starting Upbit coin holdings, e.g. {BTC = 0.05} "
              "(short-premium entries sell held coin)", origin="open"),
)

ALL_SPECS: tuple[ParamSpec, ...] = STRATEGY_SPECS + OPERATIONS_SPECS

SECRET_ENV = (
    "UPBIT_ACCESS_KEY",
    "UPBIT_SECRET_KEY",
    "BINANCE_API_KEY",
    "BINANCE_API_SECRET",
    "TELEGRAM_BOT_TOKEN",
    "DISCORD_BOT_TOKEN",
    "DISCORD_WEBHOOK_URL",
    "KIMPBOT_HTTP_TOKEN",
)

DEFAULT_URLS = {
    "UPBIT_API_URL": "https://api.upbit.com",
    "UPBIT_WS_URL": "wss://api.upbit.com/websocket/v1",
    "BINANCE_FUTURES_API_URL": "https://fapi.binance.com",
    # Binance's 2026 split: book streams (bookTicker, depth) on /public/ws
    "BINANCE_FUTURES_WS_URL": "wss://fstream.binance.com/public/ws",
    "FX_API_URL": "https://quotation-api-cdn.dunamu.com",
    "TELEGRAM_API_URL": "https://api.telegram.org",
    "DISCORD_API_URL": "https://discord.com/api/v10",
}


def _parse_ids(name: str, raw: str) -> frozenset[int]:
    ids: set[int] = set()
    for part in raw.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            ids.add(int(part))
        except ValueError:
            raise ConfigError(name, raw, "comma-separated numeric user ids, e.g. 12345,67890") from None
    return frozenset(ids)


def _channel_id(raw: str) -> str:
    if raw and not raw.isdigit():
        raise ConfigError("DISCORD_CHANNEL_ID", raw, "a numeric Discord channel id (Developer Mode → Copy Channel ID)")
    return raw


def _url(name: str, raw: str, schemes: tuple[str, ...]) -> str:
    raw = raw.strip().rstrip("/")
    if not raw.startswith(tuple(s + "://" for s in schemes)):
        raise ConfigError(name, raw, "a URL starting with " + " or ".join(s + "://" for s in schemes))
    return raw


@dataclass(frozen=True)
class Settings:
    mode: str
    data_dir: Path
    strategy_file: Path
    upbit_api_url: str
    upbit_ws_url: str
    binance_api_url: str
    binance_ws_url: str
    fx_api_url: str
    telegram_api_url: str
    discord_api_url: str
    upbit_access_key: str = field(repr=False, default="")
    upbit_secret_key: str = field(repr=False, default="")
    binance_api_key: str = field(repr=False, default="")
    binance_api_secret: str = field(repr=False, default="")
    telegram_bot_token: str = field(repr=False, default="")
    telegram_chat_id: str = ""
    telegram_allowed_users: frozenset[int] = frozenset()
    discord_bot_token: str = field(repr=False, default="")
    discord_webhook_url: str = field(repr=False, default="")
    discord_allowed_users: frozenset[int] = frozenset()
    discord_channel_id: str = ""  # where the Discord bot posts signals / findings with buttons
    http_host: str = "127.0.0.1"
    http_port: int = 8787
    trade_mode: str = "confirm"  # auto | confirm
    # the status server / dashboard: bearer token for monitors (required off loopback), the public
    # base URL of login links, extra Host header names accepted, page language
    http_token: str = field(repr=False, default="")
    public_url: str = ""
    http_allowed_hosts: tuple[str, ...] = ()
    lang: str = "ko"

    @property
    def live(self) -> bool:
        return self.mode == "live"

    def secrets(self) -> list[str]:
        """Every secret value in force, for redaction of logs and chat."""
        vals = [self.upbit_access_key, self.upbit_secret_key, self.binance_api_key, self.binance_api_secret,
                self.telegram_bot_token, self.discord_bot_token, self.discord_webhook_url, self.http_token]
        return [v for v in vals if v and len(v) >= 6]


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment (``.env`` already loaded by the caller)."""
    e = dict(os.environ if env is None else env)

    def get(name: str, default: str = "") -> str:
        return e.get(name, default).strip()

    mode = get("KIMPBOT_MODE", "paper").lower()
    if mode not in ("paper", "live"):
        raise ConfigError("KIMPBOT_MODE", mode, "paper or live")
    urls = {}
    for name, default in DEFAULT_URLS.items():
        schemes = ("ws", "wss") if name.endswith("WS_URL") else ("http", "https")
        urls[name] = _url(name, get(name, default) or default, schemes)
    port_raw = get("KIMPBOT_HTTP_PORT", "8787")
    try:
        port = int(port_raw)
        if not 0 <= port <= 65535:
            raise ValueError
    except ValueError:
        raise ConfigError("KIMPBOT_HTTP_PORT", port_raw, "an integer port 0-65535 (0 switches it off)") from None
    http = _http_settings(get, port)
    trade_mode = get("KIMPBOT_TRADE_MODE", "confirm").lower()
    if trade_mode not in ("auto", "confirm"):
        raise ConfigError("KIMPBOT_TRADE_MODE", trade_mode, "auto or confirm")
    settings = Settings(
        mode=mode,
        trade_mode=trade_mode,
        data_dir=Path(get("KIMPBOT_DATA_DIR", "data")).expanduser(),
        strategy_file=Path(get("KIMPBOT_STRATEGY_FILE", "strategy.toml")).expanduser(),
        upbit_api_url=urls["UPBIT_API_URL"],
        upbit_ws_url=urls["UPBIT_WS_URL"],
        binance_api_url=urls["BINANCE_FUTURES_API_URL"],
        binance_ws_url=urls["BINANCE_FUTURES_WS_URL"],
        fx_api_url=urls["FX_API_URL"],
        telegram_api_url=urls["TELEGRAM_API_URL"],
        discord_api_url=urls["DISCORD_API_URL"],
        upbit_access_key=get("UPBIT_ACCESS_KEY"),
        upbit_secret_key=get("UPBIT_SECRET_KEY"),
        binance_api_key=get("BINANCE_API_KEY"),
        binance_api_secret=get("BINANCE_API_SECRET"),
        telegram_bot_token=get("TELEGRAM_BOT_TOKEN"),
        telegram_chat_id=get("TELEGRAM_CHAT_ID"),
        telegram_allowed_users=_parse_ids("TELEGRAM_ALLOWED_USERS", get("TELEGRAM_ALLOWED_USERS")),
        discord_bot_token=get("DISCORD_BOT_TOKEN"),
        discord_webhook_url=get("DISCORD_WEBHOOK_URL"),
        discord_allowed_users=_parse_ids("DISCORD_ALLOWED_USERS", get("DISCORD_ALLOWED_USERS")),
        discord_channel_id=_channel_id(get("DISCORD_CHANNEL_ID")),
        http_port=port,
        **http,
    )
    if settings.live:
        missing = [n for n in ("UPBIT_ACCESS_KEY", "UPBIT_SECRET_KEY", "BINANCE_API_KEY", "BINANCE_API_SECRET")
                   if not get(n)]
        if missing:
            raise ConfigError("KIMPBOT_MODE", "live", "live mode only with " + ", ".join(missing) + " set")
    if settings.telegram_bot_token and not settings.telegram_allowed_users:
        raise ConfigError("TELEGRAM_ALLOWED_USERS", "", "at least one user id when TELEGRAM_BOT_TOKEN is set")
    if settings.discord_bot_token and not settings.discord_allowed_users:
        raise ConfigError("DISCORD_ALLOWED_USERS", "", "at least one user id when DISCORD_BOT_TOKEN is set")
    return settings


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or "localhost": reachable from this machine only."""
    import ipaddress

    h = host.strip().strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


MIN_HTTP_TOKEN = 16


def _http_settings(get: Any, port: int) -> dict[str, Any]:
    """KIMPBOT_HTTP_HOST / _TOKEN / _ALLOWED_HOSTS, KIMPBOT_PUBLIC_URL, KIMPBOT_LANG.

    The server shows the owner's positions and takes a halt: off loopback it must not answer
    anyone who can reach the port, so a non-loopback bind without an access token is refused."""
    host = get("KIMPBOT_HTTP_HOST", "127.0.0.1") or "127.0.0.1"
    token = get("KIMPBOT_HTTP_TOKEN")
    if token and len(token) < MIN_HTTP_TOKEN:
        raise ConfigError("KIMPBOT_HTTP_TOKEN", "(set, too short)",
                          f"a random string of at least {MIN_HTTP_TOKEN} characters, e.g. `openssl rand -hex 24`")
    if port and not is_loopback(host) and not token:
        raise ConfigError("KIMPBOT_HTTP_HOST", host,
                          "a loopback address (127.0.0.1, the default; reach it through a TLS reverse proxy or an "
                          "SSH tunnel), or set KIMPBOT_HTTP_TOKEN (`openssl rand -hex 24`) before binding "
                          f"{host}: the status server and dashboard must not answer everyone who reaches the port")
    public = get("KIMPBOT_PUBLIC_URL")
    if public:
        public = _url("KIMPBOT_PUBLIC_URL", public, ("http", "https"))
    hosts = tuple(h.strip().lower() for h in get("KIMPBOT_HTTP_ALLOWED_HOSTS").split(",") if h.strip())
    for h in hosts:
        if "/" in h or " " in h:
            raise ConfigError("KIMPBOT_HTTP_ALLOWED_HOSTS", h, "comma-separated host names, e.g. bot.example.com")
    lang = get("KIMPBOT_LANG", "ko").lower() or "ko"
    if lang not in ("ko", "en"):
        raise ConfigError("KIMPBOT_LANG", lang, "ko (Korean, the default) or en (English)")
    return {"http_host": host, "http_token": token, "public_url": public, "http_allowed_hosts": hosts,
            "lang": lang}


@dataclass(frozen=True)
class OwnerConfig:
    """Everything read from the owner's strategy file."""

    params: ParamSet
    strategy: StrategyParams
    source: str  # the file it came from, or "built-in defaults"

    def __getitem__(self, key: str) -> Any:
        return self.params[key]

    def order_krw(self, symbol: str) -> float:
        explicit = self.params["market.order_krw"]
        return float(explicit) if explicit is not None else self.strategy.base_order_krw(symbol)


def load_owner_config(path: Path | None, text: str | None = None) -> OwnerConfig:
    """Parse and validate the strategy file; a missing file means built-in defaults."""
    source = "built-in defaults"
    doc: dict[str, Any] = {}
    if text is None and path is not None and path.exists():
        text = path.read_text(encoding="utf-8")
        source = str(path)
    elif text is not None:
        source = str(path) if path else "<text>"
    if text is not None:
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(source, "(file)", f"valid TOML ({exc})") from None
    params = resolve(ALL_SPECS, doc, source)
    sp = StrategyParams.from_params(params)
    cross_check(sp)
    return OwnerConfig(params=params, strategy=sp, source=source)


def cross_check(sp: StrategyParams) -> None:
    if not sp.normal_z < sp.extreme_z < sp.ultra_z:
        raise ConfigError("optimized.normal_z/extreme_z/ultra_z", (sp.normal_z, sp.extreme_z, sp.ultra_z),
                          "normal_z < extreme_z < ultra_z")
    if sp.strategy == "optimized":
        missing = [s for s in sp.symbols if s not in sp.allocation]
        if missing:
            raise ConfigError("optimized.allocation", sp.allocation,
                              "an allocation for every traded symbol (missing " + ", ".join(missing) + ")")
    if sp.ultra_size > sp.max_single_position + 1e-12:
        raise ConfigError("optimized.ultra_size", sp.ultra_size,
                          f"at most optimized.max_single_position ({sp.max_single_position:g})")
    if sp.window_bars < 2:
        raise ConfigError("zscore.window_days", sp.window_days, "a window of at least 2 bars")


def mask_secret(value: str) -> str:
    """Show that a secret is set without revealing any of it."""
    return "(set)" if value else "(not set)"
