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
import sys
from dataclasses import asdict
from typing import Any, Mapping

import aiohttp

from kimpbot.config import (
    DEFAULT_URLS,
    Settings,
    load_settings,
)
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.doctor.chat import check_discord_bot, check_discord_webhook, check_telegram
from kimpbot.doctor.common import (
    DEFAULT_MAX_SKEW_MS,
    DEFAULT_TIMEOUT_S,
    FAIL,
    PASS,
    SKIP,
    CheckResult,
    NowMs,
    system_now_ms,
)
from kimpbot.doctor.keys import (
    check_binance_keys,
    check_binance_permissions,
    check_upbit_keys,
)
from kimpbot.doctor.local import check_data_dir, check_strategy_file
from kimpbot.doctor.market import (
    check_binance_public,
    check_clock,
    check_fx,
    check_upbit_public,
)
from kimpbot.logs import LIBRARY_LEVELS, RedactingFilter
from kimpbot.strategy_file.declare import ConfigError

__all__ = ["PASS", "FAIL", "SKIP", "CheckResult", "NowMs", "check_strategy_file", "check_data_dir",
           "check_upbit_public", "check_binance_public", "check_clock", "check_fx", "check_upbit_keys",
           "check_binance_keys", "check_binance_permissions", "check_telegram", "check_discord_webhook",
           "check_discord_bot", "run_checks", "live_preflight", "format_report", "add_arguments", "main", "run"]


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
