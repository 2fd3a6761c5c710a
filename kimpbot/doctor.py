"""``kimpbot doctor``: is this machine ready to run the bot? A PASS / FAIL / SKIP list, one line each.

Checks (each names its reason and, on FAIL, what to do):

* the strategy file is valid (``load_owner_config``), and the data dir is writable (with free space);
* Upbit, Binance USDT-M and the FX API answer (public calls; the configured symbols are listed,
  the bank USD/KRW rate is plausible and agrees with Upbit's KRW-USDT);
* the local clock against Binance server time (``GET /fapi/v1/time``): a signed Binance request
  is refused when its timestamp is more than 1 s ahead of the server (or older than recvWindow),
  so the default limit is 1000 ms either way;
* Upbit keys: ``GET /v1/accounts`` (valid key, allowed IP), ``GET /v1/api_keys`` (expiry; Upbit
  reports no permissions for a key, so that part is the owner's to check on the site);
* Binance keys: ``GET /fapi/v2/account`` (valid key, ``canTrade``) and
  ``GET /fapi/v1/positionSide/dual`` (one-way mode); permissions from the **spot** API host,
  ``GET /sapi/v1/account/apiRestrictions`` (``enableFutures`` on, ``enableWithdrawals`` off,
  ``ipRestrict``) at ``BINANCE_SPOT_API_URL`` (default ``https://api.binance.com``; skipped when the
  futures URL points elsewhere, e.g. a testnet or the local fakes, and no spot URL is given);
* Telegram: ``getMe`` through python-telegram-bot at ``TELEGRAM_API_URL``; Discord: GET the
  webhook through discord.py (``Route.BASE`` from ``DISCORD_API_URL``) and ``/users/@me`` for
  the bot token.

Nothing is changed anywhere (no order, no leverage, no message sent). Every printed line passes
through the log redaction, so no secret is ever shown. Exit code 0 only if nothing FAILs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import shutil
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

import aiohttp
from yarl import URL

from kimpbot.config import DEFAULT_URLS, OwnerConfig, Settings, load_owner_config, load_settings
from kimpbot.logs import LIBRARY_LEVELS, RedactingFilter
from kimpbot.params import ConfigError

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
DEFAULT_MAX_SKEW_MS = 1000
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_BINANCE_SPOT_API_URL = "https://api.binance.com"
MIN_FREE_BYTES = 100 * 1024 * 1024
RECV_WINDOW_MS = 5000
_UA = {"User-Agent": "kimpbot-doctor", "Accept": "application/json"}

NowMs = Callable[[], int]


def system_now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str  # PASS | FAIL | SKIP
    detail: str


class _Reply:
    def __init__(self, status: int, text: str, ms: int) -> None:
        self.status = status
        self.text = text
        self.ms = ms
        try:
            self.data: Any = json.loads(text) if text else None
        except ValueError:
            self.data = None

    def brief(self) -> str:
        return " ".join(self.text.split())[:160]


async def _get(session: aiohttp.ClientSession, url: str | URL, headers: Mapping[str, str] | None = None) -> _Reply:
    t0 = time.monotonic()
    async with session.get(url, headers={**_UA, **(headers or {})}) as resp:
        text = await resp.text(errors="replace")
        return _Reply(resp.status, text, int((time.monotonic() - t0) * 1000))


def _neterr(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "no answer within the timeout"
    return f"{type(exc).__name__}: {exc}"[:200]


# ---------------------------------------------------------------------------- local checks

def check_strategy_file(settings: Settings) -> tuple[CheckResult, OwnerConfig | None]:
    path = settings.strategy_file
    if not path.exists():
        return CheckResult("strategy file", FAIL,
                           f"{path} not found (the bot would run on built-in defaults you did not choose): copy "
                           "the repository's strategy.toml there or set KIMPBOT_STRATEGY_FILE"), None
    try:
        owner = load_owner_config(path)
    except ConfigError as exc:
        return CheckResult("strategy file", FAIL, str(exc)), None
    except OSError as exc:
        return CheckResult("strategy file", FAIL, f"{path}: {exc.strerror or exc}"), None
    sp = owner.strategy
    unset = owner.params.unset_open_keys()
    return CheckResult("strategy file", PASS,
                       f"{path}: strategy {sp.strategy} on {', '.join(sp.symbols)}"
                       + (f"; {len(unset)} keys unset by owner (defaults in force)" if unset else "")), owner


def check_data_dir(settings: Settings) -> CheckResult:
    d = settings.data_dir
    try:
        d.mkdir(parents=True, exist_ok=True)
        for target in (d, d / settings.mode):
            if target != d and not target.exists():
                continue
            probe = target / f".doctor-{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"
            with open(probe, "wb") as fh:
                fh.write(b"kimpbot doctor\n")
                fh.flush()
                os.fsync(fh.fileno())
            probe.unlink()
        free = shutil.disk_usage(d).free
    except OSError as exc:
        return CheckResult("data dir", FAIL, f"{d}: {exc.strerror or exc}: the bot's user must own it "
                                             f"(e.g. chown -R kimpbot: {d})")
    if free < MIN_FREE_BYTES:
        return CheckResult("data dir", FAIL, f"{d.resolve()}: only {free / 2**20:.0f} MB free "
                                             f"(the journal needs room: free at least {MIN_FREE_BYTES // 2**20} MB)")
    return CheckResult("data dir", PASS, f"{d.resolve()} writable, {free / 2**30:.1f} GB free")


# ---------------------------------------------------------------------------- public endpoints

async def check_upbit_public(session: aiohttp.ClientSession, settings: Settings, symbols: list[str]) -> CheckResult:
    name = "Upbit reachable"
    try:
        r = await _get(session, f"{settings.upbit_api_url}/v1/market/all")
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return CheckResult(name, FAIL, f"{settings.upbit_api_url}: {_neterr(exc)}")
    if r.status != 200 or not isinstance(r.data, list):
        return CheckResult(name, FAIL, f"{settings.upbit_api_url}/v1/market/all: HTTP {r.status} {r.brief()}")
    markets = {m.get("market") for m in r.data if isinstance(m, dict)}
    missing = [s for s in symbols if f"KRW-{s}" not in markets]
    if missing:
        return CheckResult(name, FAIL, "not listed on Upbit: " + ", ".join(f"KRW-{s}" for s in missing)
                           + " (fix symbols in the strategy file)")
    krw = sum(1 for m in markets if isinstance(m, str) and m.startswith("KRW-"))
    return CheckResult(name, PASS, f"{settings.upbit_api_url}: {krw} KRW markets, "
                                   f"{', '.join('KRW-' + s for s in symbols)} listed ({r.ms} ms)")


async def check_binance_public(session: aiohttp.ClientSession, settings: Settings, symbols: list[str],
                               now_ms: NowMs, max_skew_ms: int) -> list[CheckResult]:
    base = settings.binance_api_url
    name = "Binance reachable"
    try:
        ping = await _get(session, f"{base}/fapi/v1/ping")
        if ping.status != 200:
            return [CheckResult(name, FAIL, f"{base}/fapi/v1/ping: HTTP {ping.status} {ping.brief()}"),
                    CheckResult("clock skew", SKIP, "Binance not reachable")]
        prices = await _get(session, f"{base}/fapi/v1/ticker/price")
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return [CheckResult(name, FAIL, f"{base}: {_neterr(exc)}"),
                CheckResult("clock skew", SKIP, "Binance not reachable")]
    if prices.status != 200 or not isinstance(prices.data, list):
        reach = CheckResult(name, FAIL, f"{base}/fapi/v1/ticker/price: HTTP {prices.status} {prices.brief()}")
    else:
        listed = {p.get("symbol") for p in prices.data if isinstance(p, dict)}
        missing = [s for s in symbols if f"{s}USDT" not in listed]
        if missing:
            reach = CheckResult(name, FAIL, "no USDT-M perpetual for " + ", ".join(f"{s}USDT" for s in missing))
        else:
            reach = CheckResult(name, PASS, f"{base}: {', '.join(s + 'USDT' for s in symbols)} listed ({ping.ms} ms)")
    return [reach, await check_clock(session, base, now_ms, max_skew_ms)]


async def check_clock(session: aiohttp.ClientSession, base: str, now_ms: NowMs, max_skew_ms: int) -> CheckResult:
    """Local clock against Binance server time; the round trip bounds the measurement error."""
    name = "clock skew"
    best: tuple[int, int] | None = None  # (round trip, skew) of the fastest of 3 samples
    try:
        for _ in range(3):
            t0 = now_ms()
            r = await _get(session, f"{base}/fapi/v1/time")
            t1 = now_ms()
            server = r.data.get("serverTime") if r.status == 200 and isinstance(r.data, dict) else None
            if not isinstance(server, (int, float)):
                return CheckResult(name, FAIL, f"{base}/fapi/v1/time: HTTP {r.status} {r.brief()}")
            rtt = t1 - t0
            skew = int(round((t0 + t1) / 2 - server))
            if best is None or rtt < best[0]:
                best = (rtt, skew)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return CheckResult(name, FAIL, f"{base}/fapi/v1/time: {_neterr(exc)}")
    assert best is not None
    rtt, skew = best
    side = "ahead of" if skew > 0 else "behind" if skew < 0 else "off"
    text = f"local clock {abs(skew):,} ms {side} Binance server time (round trip {rtt} ms; limit {max_skew_ms:,} ms)"
    if abs(skew) > max_skew_ms:
        return CheckResult(name, FAIL, text + ": Binance refuses signed requests outside its recvWindow; sync the "
                                              "clock (timedatectl set-ntp true, or install chrony)")
    return CheckResult(name, PASS, text)


async def check_fx(session: aiohttp.ClientSession, settings: Settings, owner: OwnerConfig) -> CheckResult:
    from kimpbot.clock import SystemClock
    from kimpbot.market.fx import BankFxClient
    from kimpbot.models import BadMarketData

    name = "FX API"
    try:
        reading = await BankFxClient(settings.fx_api_url, session, SystemClock()).fetch()
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return CheckResult(name, FAIL, f"{settings.fx_api_url}: {_neterr(exc)}")
    except BadMarketData as exc:
        return CheckResult(name, FAIL, f"{settings.fx_api_url}: {exc}")
    text = f"bank USD/KRW {reading.rate:,.2f}"
    try:
        r = await _get(session, f"{settings.upbit_api_url}/v1/ticker?markets=KRW-USDT")
        usdt = r.data[0]["trade_price"] if r.status == 200 and isinstance(r.data, list) and r.data else None
        usdt = float(usdt) if isinstance(usdt, (int, float)) else None
    except (aiohttp.ClientError, asyncio.TimeoutError, KeyError, TypeError, ValueError):
        usdt = None
    if usdt:
        div = (usdt / reading.rate - 1) * 100
        limit = float(owner["fx.max_divergence_pct"])
        text += f", Upbit KRW-USDT {usdt:,.2f} ({div:+.2f}%)"
        if abs(div) > limit:
            return CheckResult(name, FAIL, text + f": beyond fx.max_divergence_pct {limit:g}, the rate looks wrong "
                                                  "(signals would stay stopped)")
    return CheckResult(name, PASS, text)


# ---------------------------------------------------------------------------- Upbit keys

UPBIT_HINTS = {
    "invalid_access_key": "UPBIT_ACCESS_KEY is not a key of this account",
    "jwt_verification": "UPBIT_SECRET_KEY does not match UPBIT_ACCESS_KEY",
    "no_authorization_i_p": "this server's IP address is not on the key's allow-list (Upbit > Open API management)",
    "expired_access_key": "the key has expired: issue a new one",
    "out_of_scope": "the key lacks the permission this call needs (자산조회 / view assets)",
}


def _upbit(settings: Settings) -> Any:
    """The live adapter, signing exactly as the orders do (pyupbit's JWT)."""
    from kimpbot.clock import SystemClock
    from kimpbot.exchanges.upbit_trading import UpbitTrading

    return UpbitTrading(settings.upbit_api_url, settings.upbit_access_key, settings.upbit_secret_key, SystemClock(),
                        call_timeout_s=DEFAULT_TIMEOUT_S)


def _upbit_error(r: Any) -> str:
    err = r.data.get("error") if isinstance(r.data, dict) else None
    if isinstance(err, dict):
        nm, msg = str(err.get("name", "")), str(err.get("message", ""))
        hint = UPBIT_HINTS.get(nm)
        return f"HTTP {r.status} {nm}: {msg}" + (f" ({hint})" if hint else "")
    return f"HTTP {r.status} {' '.join(str(r.text).split())[:160]}"


async def check_upbit_keys(session: aiohttp.ClientSession, settings: Settings) -> list[CheckResult]:
    names = ("Upbit API key", "Upbit key permissions")
    if not (settings.upbit_access_key and settings.upbit_secret_key):
        why = "UPBIT_ACCESS_KEY / UPBIT_SECRET_KEY not set (paper mode needs none)"
        return [CheckResult(names[0], SKIP, why), CheckResult(names[1], SKIP, why)]
    base = settings.upbit_api_url
    upbit = _upbit(settings)
    try:
        try:
            r = await upbit.signed("GET", "/v1/accounts")
        except Exception as exc:   # transport: requests' errors or the timeout
            return [CheckResult(names[0], FAIL, f"{base}/v1/accounts: {_neterr(exc)}"),
                    CheckResult(names[1], SKIP, "Upbit not reachable")]
        if r.status != 200 or not isinstance(r.data, list):
            return [CheckResult(names[0], FAIL, "key rejected: " + _upbit_error(r)),
                    CheckResult(names[1], SKIP, "the key was not accepted (see above)")]
        return await _upbit_accounts(r, upbit, settings, names)
    finally:
        await upbit.close()


async def _upbit_accounts(r: Any, upbit: Any, settings: Settings, names: tuple[str, str]) -> list[CheckResult]:
    krw = next((row.get("balance") for row in r.data if isinstance(row, dict) and row.get("currency") == "KRW"), None)
    coins = sum(1 for row in r.data if isinstance(row, dict) and row.get("currency") not in (None, "KRW"))
    try:
        krw_txt = f"KRW {float(krw):,.0f}" if krw is not None else "no KRW balance"
    except (TypeError, ValueError):
        krw_txt = "KRW ?"
    first = CheckResult(names[0], PASS, f"accounts OK: {krw_txt} available, {coins} coin balance(s)")
    return [first, await _upbit_permissions(upbit, settings, names[1])]


async def _upbit_permissions(upbit: Any, settings: Settings, name: str) -> CheckResult:
    note = ("Upbit does not report a key's permissions: check in Upbit > Open API management that "
            "출금하기 (withdraw) is off and 주문하기 (order) is on")
    try:
        r = await upbit.signed("GET", "/v1/api_keys")
    except Exception as exc:
        return CheckResult(name, SKIP, f"{note}; key expiry unknown ({_neterr(exc)})")
    if r.status != 200 or not isinstance(r.data, list):
        return CheckResult(name, SKIP, f"{note}; key expiry unknown (/v1/api_keys: {_upbit_error(r)})")
    mine = next((k for k in r.data if isinstance(k, dict) and k.get("access_key") == settings.upbit_access_key), None)
    if mine is None:
        return CheckResult(name, SKIP, f"{note}; this key is not in /v1/api_keys, expiry unknown")
    try:
        exp = datetime.fromisoformat(str(mine.get("expire_at")).replace("Z", "+00:00"))
        if exp.tzinfo is None:
            exp = exp.replace(tzinfo=timezone.utc)
    except ValueError:
        return CheckResult(name, SKIP, f"{note}; unreadable expire_at {str(mine.get('expire_at'))[:40]!r}")
    days = (exp - datetime.now(timezone.utc)).total_seconds() / 86400
    when = exp.astimezone(timezone.utc).strftime("%Y-%m-%d")
    if days <= 0:
        return CheckResult(name, FAIL, f"the key expired on {when}: issue a new one")
    if days < 14:
        return CheckResult(name, PASS, f"the key expires on {when}, in {days:.0f} days: renew it soon. {note}")
    return CheckResult(name, PASS, f"key valid until {when} ({days:.0f} days). {note}")


# ---------------------------------------------------------------------------- Binance keys

BINANCE_HINTS = {
    -2014: "BINANCE_API_KEY is malformed",
    -2015: "the key is wrong, this server's IP is not on its allow-list, or the permission is missing",
    -1022: "BINANCE_API_SECRET does not match BINANCE_API_KEY",
    -1021: "the local clock is off (see clock skew)",
}


def _binance(settings: Settings, now_ms: NowMs) -> Any:
    """The live adapter (ccxt binanceusdm), signing exactly as the orders do; its timestamps come
    from ``now_ms`` so a skewed clock shows as Binance's -1021."""
    from kimpbot.clock import SystemClock
    from kimpbot.exchanges.binance_trading import BinanceTrading

    b = BinanceTrading(settings.binance_api_url, settings.binance_api_key, settings.binance_api_secret,
                       SystemClock(), call_timeout_s=DEFAULT_TIMEOUT_S)
    b.ex.nonce = now_ms   # ccxt's binance signs timestamp = nonce()
    b.ex.options["recvWindow"] = RECV_WINDOW_MS
    return b


def _ccxt_unreachable(exc: BaseException) -> bool:
    """A transport failure (no answer), not an answer from Binance."""
    import ccxt

    return isinstance(exc, (asyncio.TimeoutError, ccxt.NetworkError)) and not isinstance(exc, ccxt.DDoSProtection) \
        and _binance_code(exc) is None and not re.search(r"\b[1-5][0-9]{2}\b", str(exc))


def _binance_code(exc: BaseException) -> int | None:
    from kimpbot.exchanges.binance_trading import binance_error

    return binance_error(exc)[0]


def _binance_error(exc: BaseException) -> str:
    """Binance's ``{code, msg}`` from ccxt's exception, with a hint for the codes a key setup causes."""
    from kimpbot.exchanges.binance_trading import binance_error

    code, msg = binance_error(exc)
    if code is not None:
        hint = BINANCE_HINTS.get(code)
        return f"{code} {msg}" + (f" ({hint})" if hint else "")
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"


async def check_binance_keys(session: aiohttp.ClientSession, settings: Settings, now_ms: NowMs) -> CheckResult:
    name = "Binance API key"
    if not (settings.binance_api_key and settings.binance_api_secret):
        return CheckResult(name, SKIP, "BINANCE_API_KEY / BINANCE_API_SECRET not set (paper mode needs none)")
    base = settings.binance_api_url
    binance = _binance(settings, now_ms)
    try:
        try:
            acct = await binance.account()
        except Exception as exc:
            if _ccxt_unreachable(exc):
                return CheckResult(name, FAIL, f"{base}: {_neterr(exc)}")
            return CheckResult(name, FAIL, "key rejected: " + _binance_error(exc))
        try:
            dual: bool | None = await binance.dual_side_position()
            mode_txt = "one-way position mode"
        except Exception as exc:
            dual, mode_txt = None, f"position mode unknown ({_binance_error(exc)})"
    finally:
        await binance.close()
    if not isinstance(acct, dict):
        return CheckResult(name, FAIL, f"{base}/fapi/v2/account: not an account object")
    if acct.get("canTrade") is False:
        return CheckResult(name, FAIL, "the USDT-M account cannot trade (canTrade false): check the account and "
                                       "the key's futures permission")
    if dual is True:
        return CheckResult(name, FAIL, "the account is in hedge (dual-side) position mode; kimpbot needs one-way "
                                       "mode: switch it in Binance Futures > Preferences > Position Mode")
    usdt = next((a.get("availableBalance") for a in acct.get("assets") or []
                 if isinstance(a, dict) and a.get("asset") == "USDT"), acct.get("availableBalance"))
    try:
        usdt_txt = f"{float(usdt):,.2f} USDT available"
    except (TypeError, ValueError):
        usdt_txt = "USDT balance unreadable"
    return CheckResult(name, PASS, f"USDT-M account OK: {usdt_txt}, {mode_txt}")


async def check_binance_permissions(session: aiohttp.ClientSession, settings: Settings, now_ms: NowMs,
                                    spot_api_url: str | None) -> CheckResult:
    name = "Binance key permissions"
    if not (settings.binance_api_key and settings.binance_api_secret):
        return CheckResult(name, SKIP, "BINANCE_API_KEY / BINANCE_API_SECRET not set")
    if not spot_api_url:
        if settings.binance_api_url != DEFAULT_URLS["BINANCE_FUTURES_API_URL"]:
            return CheckResult(name, SKIP, f"BINANCE_FUTURES_API_URL is {settings.binance_api_url}, not Binance's "
                                           "production host, and BINANCE_SPOT_API_URL is not set: the permissions "
                                           "are only reported by the spot API (/sapi/v1/account/apiRestrictions)")
        spot_api_url = DEFAULT_BINANCE_SPOT_API_URL
    base = spot_api_url.rstrip("/")
    binance = _binance(settings, now_ms)
    try:
        d = await binance.api_restrictions(base)
    except Exception as exc:
        if _ccxt_unreachable(exc):
            return CheckResult(name, SKIP, f"could not ask {base} ({_neterr(exc)})")
        code = _binance_code(exc)   # -5000 "Path ..., Method GET is invalid": Binance's 404 body
        if code == -5000 or (code is None and re.search(r"\b404\b", str(exc))):
            return CheckResult(name, SKIP, f"{base} does not serve /sapi/v1/account/apiRestrictions (a testnet or a "
                                           "proxy?): check the key's permissions on the Binance site")
        return CheckResult(name, FAIL, f"{base}/sapi/v1/account/apiRestrictions: {_binance_error(exc)}")
    finally:
        await binance.close()
    if not isinstance(d, dict):
        return CheckResult(name, FAIL, f"{base}/sapi/v1/account/apiRestrictions: not an object")
    if d.get("enableWithdrawals"):
        return CheckResult(name, FAIL, "withdrawals are ENABLED on this key: untick 'Enable Withdrawals' in "
                                       "Binance > API Management (the bot never needs it)")
    if d.get("enableFutures") is not True:
        return CheckResult(name, FAIL, "futures trading is not enabled on this key: tick 'Enable Futures' in "
                                       "Binance > API Management")
    ip = ("IP allow-list on" if d.get("ipRestrict") else
          "no IP allow-list: restrict the key to this server's IP address")
    return CheckResult(name, PASS, f"futures on, withdrawals off, {ip}")


# ---------------------------------------------------------------------------- chat

async def check_telegram(settings: Settings, timeout_s: float) -> CheckResult:
    name = "Telegram bot token"
    if not settings.telegram_bot_token:
        return CheckResult(name, SKIP, "TELEGRAM_BOT_TOKEN not set")
    from telegram import Bot
    from telegram.error import InvalidToken, TelegramError
    from telegram.request import HTTPXRequest

    api = settings.telegram_api_url
    req = HTTPXRequest(connect_timeout=timeout_s, read_timeout=timeout_s, write_timeout=timeout_s)
    bot = Bot(settings.telegram_bot_token, base_url=f"{api}/bot", base_file_url=f"{api}/file/bot", request=req)
    try:
        await bot.initialize()  # getMe
        me = bot.bot
    except InvalidToken as exc:
        return CheckResult(name, FAIL, f"token rejected by {api} ({exc}): copy it again from @BotFather")
    except TelegramError as exc:
        return CheckResult(name, FAIL, f"getMe at {api} failed: {type(exc).__name__}: {exc}")
    finally:
        try:
            await bot.shutdown()
        except Exception:
            pass
    chat = f", chat id {settings.telegram_chat_id}" if settings.telegram_chat_id else ", TELEGRAM_CHAT_ID not set"
    return CheckResult(name, PASS, f"@{me.username} ({me.first_name}){chat}; "
                                   f"{len(settings.telegram_allowed_users)} allowed user(s)")


async def check_discord_webhook(session: aiohttp.ClientSession, settings: Settings) -> CheckResult:
    name = "Discord webhook"
    if not settings.discord_webhook_url:
        return CheckResult(name, SKIP, "DISCORD_WEBHOOK_URL not set")
    import discord

    from kimpbot.control.discord_http import get_discord_api_base, set_discord_api_base

    before = get_discord_api_base()
    try:
        set_discord_api_base(settings.discord_api_url)
        try:
            wh = discord.Webhook.from_url(settings.discord_webhook_url, session=session)
        except ValueError:
            return CheckResult(name, FAIL, "DISCORD_WEBHOOK_URL is not a Discord webhook URL "
                                           "(https://discord.com/api/webhooks/<id>/<token>)")
        try:
            got = await wh.fetch()
        except discord.NotFound:
            return CheckResult(name, FAIL, "Unknown Webhook: it was deleted or the URL is wrong; create a new one "
                                           "(channel settings > Integrations > Webhooks)")
        except discord.HTTPException as exc:
            return CheckResult(name, FAIL, f"HTTP {exc.status}: {exc.text or exc}")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            return CheckResult(name, FAIL, f"{settings.discord_api_url}: {_neterr(exc)}")
    finally:
        set_discord_api_base(before)
    return CheckResult(name, PASS, f"webhook {got.name!r} posts to channel {got.channel_id}")


async def check_discord_bot(session: aiohttp.ClientSession, settings: Settings) -> CheckResult:
    name = "Discord bot token"
    if not settings.discord_bot_token:
        return CheckResult(name, SKIP, "DISCORD_BOT_TOKEN not set (the webhook alone sends alerts)")
    url = f"{settings.discord_api_url}/users/@me"
    try:
        r = await _get(session, url, {"Authorization": f"Bot {settings.discord_bot_token}"})
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return CheckResult(name, FAIL, f"{settings.discord_api_url}: {_neterr(exc)}")
    if r.status == 200 and isinstance(r.data, dict):
        who = f"bot {r.data.get('username')} (id {r.data.get('id')}); {len(settings.discord_allowed_users)} allowed user(s)"
        if not settings.discord_channel_id:
            return CheckResult(name, PASS, who + "; no DISCORD_CHANNEL_ID (signals get buttons via /pending only)")
        ch = f"{settings.discord_api_url}/channels/{settings.discord_channel_id}"
        try:
            c = await _get(session, ch, {"Authorization": f"Bot {settings.discord_bot_token}"})
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            return CheckResult(name, FAIL, f"{who}; channel check failed: {_neterr(exc)}")
        if c.status == 200 and isinstance(c.data, dict):
            return CheckResult(name, PASS, f"{who}; posts to #{c.data.get('name', '?')}")
        if c.status in (403, 404):
            why = "unknown channel" if c.status == 404 else "the bot cannot see it (Missing Access)"
            return CheckResult(name, FAIL, f"DISCORD_CHANNEL_ID {settings.discord_channel_id}: {why}; invite the "
                                           "bot to the server and give it View Channel and Send Messages there")
        return CheckResult(name, SKIP, f"{who}; channel not verified: HTTP {c.status}")
    if r.status == 401:
        return CheckResult(name, FAIL, "token rejected (401 Unauthorized): reset it in the Developer Portal > Bot")
    return CheckResult(name, SKIP, f"could not verify: {url} answered HTTP {r.status}")


# ---------------------------------------------------------------------------- all together

async def run_checks(settings: Settings, *, now_ms: NowMs | None = None, max_skew_ms: int = DEFAULT_MAX_SKEW_MS,
                     timeout_s: float = DEFAULT_TIMEOUT_S, spot_api_url: str | None = None) -> list[CheckResult]:
    """Every check, in a fixed order. ``now_ms`` is the local clock (tests inject a skewed one)."""
    clock = now_ms or system_now_ms
    strat, owner = check_strategy_file(settings)
    if owner is None:
        owner = load_owner_config(None)  # the checks below still need symbols and limits
    symbols = list(owner.strategy.symbols)
    local = [strat, check_data_dir(settings)]
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        upbit_pub, binance_pub, fx, upbit_keys, bn_key, bn_perm, tg, dc_wh, dc_bot = await asyncio.gather(
            check_upbit_public(session, settings, symbols),
            check_binance_public(session, settings, symbols, clock, max_skew_ms),
            check_fx(session, settings, owner),
            check_upbit_keys(session, settings),
            check_binance_keys(session, settings, clock),
            check_binance_permissions(session, settings, clock, spot_api_url),
            check_telegram(settings, timeout_s),
            check_discord_webhook(session, settings),
            check_discord_bot(session, settings),
        )
    return [*local, upbit_pub, *binance_pub, fx, *upbit_keys, bn_key, bn_perm, tg, dc_wh, dc_bot]


async def live_preflight(settings: Settings, symbols: list[str], *, now_ms: NowMs | None = None,
                         max_skew_ms: int = DEFAULT_MAX_SKEW_MS, timeout_s: float = DEFAULT_TIMEOUT_S,
                         spot_api_url: str | None = None) -> list[CheckResult]:
    """The checks a switch to live must pass (from chat): both keys accepted with trading rights and no
    withdrawals, the Binance account in one-way mode, the clock within the limit."""
    clock = now_ms or system_now_ms
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        upbit_keys, bn_key, bn_perm, bn_pub = await asyncio.gather(
            check_upbit_keys(session, settings),
            check_binance_keys(session, settings, clock),
            check_binance_permissions(session, settings, clock, spot_api_url),
            check_binance_public(session, settings, symbols, clock, max_skew_ms),
        )
    if bn_perm.status == SKIP and settings.binance_api_url == DEFAULT_URLS["BINANCE_FUTURES_API_URL"]:
        # real money and the withdrawal / futures rights unverified: not good enough for a switch
        bn_perm = CheckResult(bn_perm.name, FAIL, bn_perm.detail + " (must be verified before going live)")
    return [*upbit_keys, bn_key, bn_perm, bn_pub[-1]]


def format_report(results: list[CheckResult], settings: Settings) -> str:
    red = RedactingFilter(settings.secrets())
    width = max(len(r.name) for r in results)
    lines = [f"kimpbot doctor: {settings.mode} mode"]
    lines += [red.redact(f"{r.status}  {r.name:<{width}}  {r.detail}") for r in results]
    n = {s: sum(1 for r in results if r.status == s) for s in (PASS, FAIL, SKIP)}
    verdict = "ready" if not n[FAIL] else "NOT ready: fix every FAIL above"
    lines.append(f"{n[PASS]} pass, {n[FAIL]} fail, {n[SKIP]} skipped: {verdict}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-skew-ms", type=int, default=DEFAULT_MAX_SKEW_MS,
                        help="largest allowed local clock offset against Binance server time (default 1000 ms)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help="seconds each network check may take (default 10)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")


async def main(args: argparse.Namespace, env: Mapping[str, str] | None = None, now_ms: NowMs | None = None,
               out: Any = None) -> int:
    """The command without the event loop: tests await it with their own env and clock."""
    out = out or sys.stdout
    e = dict(os.environ if env is None else env)
    for lib, level in LIBRARY_LEVELS.items():  # httpx would log the Telegram token in its URLs at INFO
        lg = logging.getLogger(lib)
        if lg.level < level:
            lg.setLevel(level)
    try:
        settings = load_settings(e)
    except ConfigError as exc:
        if getattr(args, "json", False):
            print(json.dumps({"ok": False, "results": [asdict(CheckResult("settings", FAIL, str(exc)))]}), file=out)
        else:
            print(f"FAIL  settings  {exc}", file=out)
        return 1
    results = await run_checks(settings, now_ms=now_ms, max_skew_ms=args.max_skew_ms, timeout_s=args.timeout,
                               spot_api_url=(e.get("BINANCE_SPOT_API_URL") or "").strip() or None)
    failed = any(r.status == FAIL for r in results)
    if getattr(args, "json", False):
        red = RedactingFilter(settings.secrets())
        doc = {"ok": not failed, "mode": settings.mode,
               "results": [{k: red.redact(v) for k, v in asdict(r).items()} for r in results]}
        print(json.dumps(doc, ensure_ascii=False, indent=2), file=out)
    else:
        print(format_report(results, settings), file=out)
    return 1 if failed else 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(main(args))
