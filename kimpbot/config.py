"""Settings: ``.env`` (secrets, mode, endpoints) + ``strategy.toml`` (the owner's numbers).

Environment names are fixed because operators and tests script against them.
Every endpoint defaults to the real service and can be pointed elsewhere
(testnets, proxies, the local fakes in ``kimpbot.sim``).
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from kimpbot import i18n
from kimpbot.strategy_file.declare import ConfigError, ParamSet, ParamSpec, resolve
from kimpbot.strategy_file.keys import PROTECTION_SPECS, STRATEGY_SPECS, StrategyParams

# Upbit's minimum order on every KRW market (Upbit's order docs: "최소 주문 금액 5,000 KRW"); a
# size that can never reach it can never fill.
UPBIT_MIN_ORDER_KRW = 5_000.0


def _coins_ok(v: dict) -> str | None:
    for k, x in v.items():
        if not re.fullmatch(r"[A-Z0-9]{2,10}", str(k)):
            return f"upper-case coin symbols as names, e.g. {{BTC = 0.05}} (bad name {k!r})"
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not (0.0 <= x < 1e12):
            return f"a coin amount >= 0 per symbol, e.g. {{BTC = 0.05}} (bad {k} = {x!r})"
    return None


# Operational numbers (market data, FX guard, risk) also live in strategy.toml:
# they are the owner's policy. SPEC fixes few of them; the rest are "open".
OPERATIONS_SPECS: tuple[ParamSpec, ...] = (
    ParamSpec("fx.source", str, "usdkrw", "FX for the premium: usdkrw (bank rate) or usdt (Upbit KRW-USDT)",
              origin="open", choices=("usdkrw", "usdt")),
    ParamSpec("fx.poll_seconds", float, 30.0, "how often the bank USD/KRW rate is fetched", origin="open",
              min=1.0),
    ParamSpec("fx.max_age_s", float, 300.0, "no reading of the rate received for this long: stale, trading stops",
              origin="open", min=1.0),
    ParamSpec("fx.max_jump_pct", float, 1.0, "a move of a rate beyond this between two readings is announced "
              "(it is traded on only once the other source confirms it)", origin="open", min=0.0),
    ParamSpec("fx.jump_hold_s", float, 300.0, "retired, ignored: a jump now stays suspect until the other source "
              "confirms it (fx.ratio_*)", origin="open", min=0.0),
    ParamSpec("fx.max_divergence_pct", float, 5.0,
              "bank USD/KRW and Upbit KRW-USDT further apart than this stop signals", origin="open", min=0.0),
    # The cross-check (SPEC §3): the rate in use is trusted when the USDT/bank ratio stays within
    # its own recent range; see kimpbot/market/fx.py.
    ParamSpec("fx.ratio_window_h", float, 6.0, "hours of confirmed USDT/bank ratio readings the range is taken "
              "from", origin="open", min=0.1, max=168.0),
    ParamSpec("fx.ratio_band_mads", float, 5.0, "range half-width in scaled MADs of the ratio (robust sigmas)",
              origin="open", min=1.0, max=50.0),
    ParamSpec("fx.ratio_min_band_pct", float, 0.3, "the range is at least this wide each side (percent)",
              origin="open", min=0.01, max=5.0),
    ParamSpec("fx.ratio_max_band_pct", float, 1.0, "the range is at most this wide each side (percent)",
              origin="open", min=0.01, max=5.0),
    ParamSpec("fx.confirm_readings", int, 3, "first start: steady bank readings with USDT before the ratio is "
              "trusted (the range's minimum sample)", origin="open", min=1, max=1000),
    ParamSpec("fx.usdkrw_max_age_s", float, 900.0, "the bank quote's own time older than this: the bank market "
              "is closed (see fx.weekend)", origin="open", min=1.0),
    ParamSpec("fx.usdt_max_age_s", float, 300.0, "Upbit KRW-USDT's last trade older than this: stale",
              origin="open", min=1.0),
    ParamSpec("fx.weekend", str, "usdt_confirms", "a closed bank quote: usdt_confirms (trade while the USDT "
              "ratio stays in range) or stop", origin="open", choices=("usdt_confirms", "stop")),
    ParamSpec("market.max_quote_age_s", float, 10.0, "a quote older than this is stale", origin="open", min=0.1),
    ParamSpec("market.order_krw", float, None,
              "order size (KRW) the executable premium is quoted for; default: the strategy's first entry",
              origin="open", nullable=True, min=UPBIT_MIN_ORDER_KRW, max=1e12),
    ParamSpec("market.ws_reconnect_max_s", float, 30.0, "longest back-off between websocket reconnects",
              origin="open", min=0.1),
    ParamSpec("startup.retry_min_s", float, 5.0,
              "not trading (exchange unreachable at start, maintenance): first wait before trying again",
              origin="open", min=0.1),
    ParamSpec("startup.retry_max_s", float, 120.0,
              "not trading: longest wait between tries (the wait doubles up to this, with jitter)",
              origin="open", min=0.1),
    ParamSpec("store.alert_reminder_s", float, 300.0, "while the journal cannot be written (disk full): one alert, "
              "then a reminder at most this often", origin="open", min=1.0),
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
    # a cap below Upbit's minimum order lets no live order through: an empty canary is refused, and
    # only an explicit "none" lifts it
    ParamSpec("risk.live_canary_max_krw", float, 10_000.0,
              "live mode: largest order in KRW until the owner lifts it (the owner's 10,000 KRW test trade)",
              nullable=True, min=UPBIT_MIN_ORDER_KRW, max=1e12),
    ParamSpec("risk.funding_guard_minutes", float, None, "block entries this close to a funding time",
              origin="open", nullable=True, min=0.0),
    ParamSpec("execution.order_timeout_s", float, 5.0, "timeout of one order call; no answer = query by client id",
              origin="open", min=0.1),
    ParamSpec("execution.unknown_grace_s", float, 10.0, "how long a leg with no answer is queried before it is "
              "reported as unknown exposure", origin="open", min=0.1),
    ParamSpec("execution.late_window_s", float, 120.0, "an order answered 'status unknown' and then not found may "
              "still be booked: it is watched this long (a late fill is alerted and reversed), and no order of its "
              "coin goes out meanwhile", origin="open", min=1.0),
    ParamSpec("execution.position_check_s", float, 2.0, "how often the journal is compared with the exchanges' "
              "positions while running (a difference is a critical finding that halts entries)", origin="open",
              min=0.5, max=60.0),
    ParamSpec("execution.confirm_timeout_s", float, 120.0, "confirmation mode: a signal expires after this",
              origin="open", min=1.0),
    ParamSpec("execution.confirm_tolerance_pct", float, 0.2,
              "Execute re-checks the premium: refused if it moved against the signal by more than this (pp)",
              origin="open", min=0.0),
    ParamSpec("execution.leverage", int, 1, "Binance leverage of the perp leg (1x: margin = notional)",
              origin="open", min=1, max=5),
    ParamSpec("paper.upbit_krw", float, 40_000_000.0, "paper ledger: starting Upbit KRW", origin="open", min=0.0,
              max=1e13),
    ParamSpec("paper.binance_usdt", float, 30_000.0, "paper ledger: starting Binance USDT margin", origin="open",
              min=0.0, max=1e10),
    ParamSpec("paper.upbit_coins", dict, {}, "paper ledger: starting Upbit coin holdings, e.g. {BTC = 0.05} "
              "(short-premium entries sell held coin)", origin="open", check=_coins_ok),
)

ALL_SPECS: tuple[ParamSpec, ...] = STRATEGY_SPECS + OPERATIONS_SPECS + PROTECTION_SPECS

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


# kimpbot's copy of the repository's strategy.toml (SPEC's defaults), shipped in the package: the demo
# uses it when there is no strategy file; `run` never does (the owner's money numbers are the owner's)
DEFAULT_STRATEGY_FILE = Path(__file__).resolve().parent / "strategy.default.toml"


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


HOW_TO_CREATE = ("create it from the repository's strategy.toml (SPEC's defaults; kimpbot ships a copy: "
                 "cp {default} {path}) and edit it, or point KIMPBOT_STRATEGY_FILE at your strategy file")


def read_strategy_text(path: Path) -> str:
    """The text of the owner's strategy file, or a ConfigError naming the path, what is wrong and what
    to do: a missing file (the money numbers would be defaults nobody chose), a directory, a FIFO or
    device (reading one could block forever), an unreadable or non-UTF-8 file."""
    how = HOW_TO_CREATE.format(default=DEFAULT_STRATEGY_FILE, path=Path(os.path.abspath(path)) if str(path) else path)
    try:
        st = os.stat(path)  # follows a symlink: its target must be a regular file
    except FileNotFoundError:
        raise ConfigError("KIMPBOT_STRATEGY_FILE", str(path),
                          f"an existing strategy file: {path} does not exist; {how}") from None
    except (OSError, ValueError) as exc:  # permission on a parent, a NUL byte, a name too long
        raise ConfigError("KIMPBOT_STRATEGY_FILE", str(path),
                          f"a strategy file kimpbot can read ({getattr(exc, 'strerror', None) or exc}); {how}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ConfigError("KIMPBOT_STRATEGY_FILE", str(path),
                          f"a file, not a directory: {path} is a directory; {how}")
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError("KIMPBOT_STRATEGY_FILE", str(path),
                          f"a regular file: {path} is a FIFO, socket or device (reading it could wait forever); {how}")
    if st.st_size > 1_000_000:
        raise ConfigError("KIMPBOT_STRATEGY_FILE", str(path),
                          f"a strategy file (a few KB): {path} is {st.st_size:,} bytes; {how}")
    try:
        # O_NONBLOCK: should the file be swapped for a FIFO after the check, open() does not wait for a writer
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise ConfigError("KIMPBOT_STRATEGY_FILE", str(path), f"a regular file; {how}")
            data = f.read(1_000_001)
    except OSError as exc:
        raise ConfigError("KIMPBOT_STRATEGY_FILE", str(path),
                          f"a strategy file kimpbot can read ({exc.strerror or exc}: check its owner and "
                          "permissions, e.g. chmod 0640 and the kimpbot group)") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError("KIMPBOT_STRATEGY_FILE", str(path),
                          f"a UTF-8 text file (byte {exc.start} is not UTF-8: save it as UTF-8)") from None


def load_owner_config(path: Path | None, text: str | None = None) -> OwnerConfig:
    """Parse and validate the owner's strategy file (or ``text`` as if read from ``path``).

    A file that is missing, unreadable, not a regular file or not UTF-8 is a ConfigError naming the
    path and what to do: the bot never runs on money numbers the owner did not choose. Only an explicit
    ``path=None`` without text (library use, tests, the backtester's what-ifs) gives SPEC's defaults."""
    source = "built-in defaults"
    doc: dict[str, Any] = {}
    if text is None and path is not None:
        text = read_strategy_text(path)
        source = str(path)
    elif text is not None:
        source = str(path) if path else "<text>"
    if text is not None:
        if "\x00" in text:
            raise ConfigError(source, "(file)", "a text file (it holds NUL bytes)")
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(source, "(file)", f"valid TOML ({exc})") from None
        except RecursionError:  # thousands of nested arrays
            raise ConfigError(source, "(file)", "valid TOML (nested too deeply)") from None
    params = resolve(ALL_SPECS, doc, source)
    sp = StrategyParams.from_params(params)
    cross_check(sp)
    check_money(params, sp)
    check_fx(params)
    return OwnerConfig(params=params, strategy=sp, source=source)


def round_trip_fee_pct(params: ParamSet) -> float:
    """Taker fees of a round trip in percent of the notional: both legs in, both legs out."""
    return 2.0 * (float(params["fees.upbit_taker"]) + float(params["fees.binance_taker"])) * 100.0


def smallest_orders_krw(params: ParamSet, sp: StrategyParams) -> dict[str, float]:
    """Per traded symbol, the smallest order the strategy sends (the first split of the normal tier,
    or one zscore entry); a symbol given no capital (allocation 0: watched, never traded) is left out."""
    out: dict[str, float] = {}
    explicit = params["market.order_krw"]
    for sym in sp.symbols:
        cap = sp.symbol_capital(sym)
        if cap <= 0:
            continue
        if sp.strategy == "optimized":
            sizes = [cap * sp.base_size * sp.normal_size_mult / sp.normal_splits,
                     cap * sp.base_size * sp.extreme_size_mult, cap * sp.ultra_size]
            out[sym] = min(min(sizes), cap * sp.max_single_position)
        else:
            out[sym] = cap * sp.position_size
        if explicit is not None:
            out[sym] = min(out[sym], float(explicit))
    return out


def check_money(params: ParamSet, sp: StrategyParams) -> None:
    """Every money number against its meaning, across keys (SPEC §3): a stop loss inside the round-trip
    fees, a holding time shorter than a z bar, sizes that can never reach the venue's minimum order.
    Each error names the key, the value and the rule."""
    fees = round_trip_fee_pct(params)
    if sp.stop_loss_pct is not None and sp.stop_loss_pct <= fees:
        raise ConfigError("exits.stop_loss_pct", sp.stop_loss_pct,
                          f"a stop loss beyond the round-trip fees ({fees:g} % = 2 x (fees.upbit_taker + "
                          "fees.binance_taker)): a position's net profit starts at minus its fees, so a tighter "
                          "stop closes every position as it opens and churns round trips at a loss")
    if sp.max_holding_hours is not None and sp.max_holding_hours * 60.0 < sp.bar_minutes:
        raise ConfigError("exits.max_holding_hours", sp.max_holding_hours,
                          f"at least one z bar (zscore.bar_minutes {sp.bar_minutes} min = "
                          f"{sp.bar_minutes / 60:g} h): a shorter hold closes positions before the premium can "
                          "revert and churns round trips at a loss")
    for sym, krw in smallest_orders_krw(params, sp).items():
        if not krw >= UPBIT_MIN_ORDER_KRW:
            raise ConfigError("capital / sizes", f"{sym} {krw:,.0f} KRW",
                              f"orders of at least Upbit's minimum {UPBIT_MIN_ORDER_KRW:,.0f} KRW: the smallest "
                              f"{sym} order, {krw:,.0f} KRW (capital.initial_capital_krw x allocation x the smallest size"
                              + (", or market.order_krw" if params["market.order_krw"] is not None else "")
                              + ") can never fill; raise the capital or the sizes, or give the coin no allocation")


def check_fx(params: ParamSet) -> None:
    lo, hi = params["fx.ratio_min_band_pct"], params["fx.ratio_max_band_pct"]
    if lo > hi:
        raise ConfigError("fx.ratio_min_band_pct", lo, f"at most fx.ratio_max_band_pct ({hi:g})")


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
