"""Settings from ``.env`` / the environment: secrets, mode, endpoints, chats, the data dir.

Environment names are fixed because operators and tests script against them.
Every endpoint defaults to the real service and can be pointed elsewhere
(testnets, proxies, the local fakes in ``kimpbot.sim``). The owner's numbers are not here: they
live in the strategy file (``KIMPBOT_STRATEGY_FILE``), declared, read and edited in
``kimpbot.strategy_file``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from kimpbot import i18n
from kimpbot.strategy_file.declare import ConfigError

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


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


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
    log_level: str = "INFO"
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


def _user_path(name: str, raw: str) -> Path:
    """``~`` expanded; ``~nosuchuser/...`` (or ``~`` with no home) is the owner's typo, not a crash."""
    try:
        return Path(raw).expanduser()
    except RuntimeError:
        raise ConfigError(name, raw, "a path; ~ works only for an existing user (e.g. ~/kimpbot/strategy.toml)") from None


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
    log_level = get("KIMPBOT_LOG_LEVEL", "INFO").upper() or "INFO"
    if log_level not in LOG_LEVELS:
        raise ConfigError("KIMPBOT_LOG_LEVEL", get("KIMPBOT_LOG_LEVEL"), "one of " + ", ".join(LOG_LEVELS))
    strategy_raw = get("KIMPBOT_STRATEGY_FILE", "strategy.toml")
    if not strategy_raw:  # set but empty: not "no file", and not the current directory either
        raise ConfigError("KIMPBOT_STRATEGY_FILE", "", "the path of your strategy file, e.g. "
                          "KIMPBOT_STRATEGY_FILE=/opt/kimpbot/strategy.toml (copy the repository's strategy.toml "
                          "there and edit it), or leave the variable out to use ./strategy.toml")
    settings = Settings(
        mode=mode,
        trade_mode=trade_mode,
        data_dir=_user_path("KIMPBOT_DATA_DIR", get("KIMPBOT_DATA_DIR", "data")),
        strategy_file=_user_path("KIMPBOT_STRATEGY_FILE", strategy_raw),
        log_level=log_level,
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
    lang = get("KIMPBOT_LANG", i18n.DEFAULT_LANG).lower() or i18n.DEFAULT_LANG
    if lang not in ("ko", "en"):
        raise ConfigError("KIMPBOT_LANG", lang, "ko (Korean, the default) or en (English)")
    return {"http_host": host, "http_token": token, "public_url": public, "http_allowed_hosts": hosts,
            "lang": lang}


def check_data_dir(data_dir: Path) -> None:
    """The data dir holds the journal: it must be a directory kimpbot can create and write."""
    d = Path(data_dir)
    probe = d
    try:
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
    except (OSError, ValueError) as exc:  # a NUL byte, a name too long
        raise ConfigError("KIMPBOT_DATA_DIR", str(d), f"a data dir path ({exc})") from None
    if probe.exists() and not probe.is_dir():
        raise ConfigError("KIMPBOT_DATA_DIR", str(d), f"a data dir that is a directory ({probe} is a file)")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError("KIMPBOT_DATA_DIR", str(d), f"a data dir kimpbot can write ({probe} is read-only for it)")


def mask_secret(value: str) -> str:
    """Show that a secret is set without revealing any of it."""
    return "(set)" if value else "(not set)"
