"""API keys, signed exactly as the orders are (through the live adapters: pyupbit, ccxt)."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timezone
from typing import Any

import aiohttp

from kimpbot.config import (
    DEFAULT_URLS,
    Settings,
)
from kimpbot.doctor.common import (
    DEFAULT_BINANCE_SPOT_API_URL,
    DEFAULT_TIMEOUT_S,
    FAIL,
    PASS,
    RECV_WINDOW_MS,
    SKIP,
    CheckResult,
    NowMs,
    _neterr,
)

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
