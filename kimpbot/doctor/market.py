"""Public endpoints: Upbit, Binance USDT-M and the FX sources answer; the clock against Binance."""

from __future__ import annotations

import asyncio

import aiohttp

from kimpbot.config import Settings
from kimpbot.strategy_file.read import OwnerConfig
from kimpbot.doctor.common import (
    FAIL,
    PASS,
    SKIP,
    CheckResult,
    NowMs,
    _get,
    _neterr,
)


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
