"""Command line: ``kimpbot run | demo | sim | backtest | config check``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from kimpbot import __version__
from kimpbot.params import ConfigError

log = logging.getLogger("kimpbot")


def _load_env(env_file: str | None) -> None:
    from dotenv import load_dotenv

    path = Path(env_file) if env_file else Path(".env")
    if path.exists():
        load_dotenv(path, override=False)
    elif env_file:
        raise ConfigError("--env-file", env_file, "an existing file")


def _settings_and_owner(args: argparse.Namespace, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    from kimpbot.config import load_owner_config, load_settings

    settings = load_settings(env)
    owner = load_owner_config(settings.strategy_file)
    return settings, owner


DEMO_COINS = {"BTC": 0.2, "ETH": 4.0, "XRP": 8000.0}  # so the demo can show short-premium entries too


async def _run_bot(settings: Any, owner: Any, args: argparse.Namespace, sim: Any = None) -> int:
    from kimpbot.control.commands import CommandCore
    from kimpbot.control.console import Console
    from kimpbot.control.format import premium_table
    from kimpbot.engine import Bot, StartupError

    coins = None
    if sim is not None and not owner.params.values["paper.upbit_coins"].owner_set:
        coins = {k: v for k, v in DEMO_COINS.items() if k in owner.strategy.symbols}
    bot = Bot(settings, owner, warmup=not args.no_warmup, paper_coins=coins)
    core = CommandCore(bot)
    console = Console(bot, core=core)
    bot.bus.subscribe(lambda ev: print(f"[{ev.level}] {ev.message}", flush=True) if ev.kind != "start" else None)
    fronts: list[Any] = []
    try:
        fronts = await _start_chat(bot, core)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        await _stop_chat(fronts)
        return 2
    try:
        await bot.start()
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        await _stop_chat(fronts)
        return 2
    print(bot.banner(), flush=True)
    http = None
    if settings.http_port:
        from kimpbot.control.http import HttpApi, HttpApiError

        http = HttpApi(bot, core=core)
        try:
            await http.start()
        except HttpApiError as exc:  # the bot trades without its status endpoint; say so
            print(f"warning: {exc}", file=sys.stderr, flush=True)
            http = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(_wait_quit(console, stop))]
    if not args.no_stdin and sys.stdin is not None and sys.stdin.isatty():
        tasks.append(asyncio.create_task(console.read_stdin()))
    if sim is not None:
        tasks.append(asyncio.create_task(_drive_sim(sim, args.sim_step)))

    async def table_loop() -> None:
        while True:
            await asyncio.sleep(args.table_every)
            print(premium_table(bot.market), flush=True)

    tasks.append(asyncio.create_task(table_loop()))
    try:
        if args.duration:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=args.duration)
        else:
            await stop.wait()
    finally:
        print(premium_table(bot.market), flush=True)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if http is not None:
            await http.stop()
        await bot.stop()
        await _stop_chat(fronts)
    return 0


async def _start_chat(bot: Any, core: Any) -> list[Any]:
    """Telegram, the Discord webhook and the Discord bot, each when its token or URL is set.

    They subscribe to the bot's events before it starts, so the start banner and what restart
    reconciliation found reach the chat too. With DISCORD_CHANNEL_ID the Discord bot posts signals
    and findings there with buttons, and the webhook leaves those kinds to it; without a webhook the
    bot posts every other event into that channel as well."""
    s = bot.settings
    fronts: list[Any] = []
    try:  # a front that fails to start: stop those already running, then say why
        if s.telegram_bot_token:
            from kimpbot.control.telegram import TelegramFront

            tg = TelegramFront(bot, core)
            tg.attach()
            await tg.start()
            fronts.append(tg)
        bot_channel = bool(s.discord_bot_token and s.discord_channel_id)
        if s.discord_webhook_url:
            from kimpbot.control.notify import INTERACTIVE_KINDS, DiscordWebhookNotifier, answer_hints

            signal_hint, finding_hint = answer_hints(s)
            hook = DiscordWebhookNotifier(s.discord_webhook_url, s.discord_api_url, secrets=s.secrets(),
                                          skip_kinds=INTERACTIVE_KINDS if bot_channel else (),
                                          signal_hint=signal_hint, finding_hint=finding_hint,
                                          entries_blocked=core.entries_blocked)
            try:
                await hook.start()
            except ValueError as exc:
                raise RuntimeError(str(exc)) from None
            hook.attach(bot)
            fronts.append(hook)
        if s.discord_bot_token:
            from kimpbot.control.discord_bot import DiscordFront

            dc = DiscordFront(bot, core, post_alerts=not s.discord_webhook_url)
            dc.attach()
            await dc.start()
            fronts.append(dc)
    except BaseException:
        await _stop_chat(fronts)
        raise
    return fronts


async def _stop_chat(fronts: list[Any]) -> None:
    for f in reversed(fronts):
        with contextlib.suppress(Exception):
            await f.stop()


async def _wait_quit(console: Any, stop: asyncio.Event) -> None:
    await console.quit.wait()
    stop.set()


async def _drive_sim(sim: Any, step_s: float) -> None:
    """The demo's moving premium: advance the simulated market's scripted path."""
    while True:
        await asyncio.sleep(step_s)
        sim.market.step(step_s)


def cmd_run(args: argparse.Namespace) -> int:
    settings, owner = _settings_and_owner(args)
    _setup_logging(args, settings)
    return asyncio.run(_run_bot(settings, owner, args))


def cmd_demo(args: argparse.Namespace) -> int:
    """Everything offline: the simulated exchanges on 127.0.0.1 and the bot in paper mode against them."""

    async def main() -> int:
        from kimpbot.config import load_owner_config, load_settings
        from kimpbot.sim.market import SimMarket
        from kimpbot.sim.servers import SimServers

        owner = load_owner_config(Path(os.environ.get("KIMPBOT_STRATEGY_FILE", "strategy.toml")))
        market = SimMarket(owner.strategy.symbols, seed=args.seed)
        market.speed = args.speed  # a demo wants to see the premium move within minutes, not hours
        sim = SimServers(market)
        await sim.start()
        try:
            env = dict(os.environ)
            # Only the exchanges are simulated: no chat tokens, no live mode in a demo.
            for k in ("TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN", "DISCORD_WEBHOOK_URL"):
                env.pop(k, None)
            env.update(sim.env())
            env["KIMPBOT_MODE"] = "paper"
            env.setdefault("KIMPBOT_TRADE_MODE", "auto")  # the demo shows trades happening
            env.setdefault("KIMPBOT_DATA_DIR", str(Path("data") / "demo"))
            settings = load_settings(env)
            _setup_logging(args, settings)
            print("demo: simulated Upbit, Binance and FX on 127.0.0.1 (" + ", ".join(
                f"{k}={v}" for k, v in sim.env().items() if k.endswith("_URL")) + ")", flush=True)
            return await _run_bot(settings, owner, args, sim=sim)
        finally:
            await sim.stop()

    return asyncio.run(main())


def cmd_sim(args: argparse.Namespace) -> int:
    from kimpbot.sim.market import SimMarket
    from kimpbot.sim.servers import serve_forever

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_forever(SimMarket(seed=args.seed), host=args.host, step_s=args.sim_step))
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    from kimpbot.config import DEFAULT_URLS, SECRET_ENV, mask_secret

    settings, owner = _settings_and_owner(args)
    print(f"mode: {settings.mode}   data dir: {settings.data_dir}   strategy file: {owner.source}")
    for name in DEFAULT_URLS:
        val = os.environ.get(name) or DEFAULT_URLS[name]
        print(f"{name} = {val}")
    for name in SECRET_ENV:
        print(f"{name} = {mask_secret(os.environ.get(name, ''))}")
    print(f"TELEGRAM_ALLOWED_USERS = {sorted(settings.telegram_allowed_users)}")
    print(f"DISCORD_ALLOWED_USERS = {sorted(settings.discord_allowed_users)}")
    print()
    rows = owner.params.describe()
    width = max(len(k) for k, _, _ in rows)
    for key, value, status in rows:
        print(f"{key:<{width}}  {value:<24} {status}")
    print("\nconfig OK")
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    from kimpbot.backtest import cli as bt

    return bt.run(args)


def _setup_logging(args: argparse.Namespace, settings: Any) -> None:
    from kimpbot.logs import setup_logging

    # KIMPBOT_LOG_FILE: also log to a size-rotated file (journald/docker keep stderr otherwise)
    setup_logging(args.log_level, settings.secrets(), log_file=os.environ.get("KIMPBOT_LOG_FILE") or None)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kimpbot", description="Hedged kimchi-premium bot (Upbit KRW vs Binance USDT-M)")
    p.add_argument("--version", action="version", version=f"kimpbot {__version__}")
    p.add_argument("--env-file", help="dotenv file with secrets and endpoints (default: ./.env if present)")
    p.add_argument("--log-level", default=os.environ.get("KIMPBOT_LOG_LEVEL", "INFO"),
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = p.add_subparsers(dest="command", required=True)

    def runtime_flags(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0: run until ^C)")
        sp.add_argument("--table-every", type=float, default=10.0, help="print the premium table every N seconds")
        sp.add_argument("--no-warmup", action="store_true", help="skip rebuilding the z window from candle history")
        sp.add_argument("--no-stdin", action="store_true", help="do not read console commands from stdin")

    sp = sub.add_parser("run", help="run the bot (paper mode by default) against the configured exchanges")
    runtime_flags(sp)
    sp.set_defaults(func=cmd_run)

    sp = sub.add_parser("demo", help="run the bot offline against local simulated exchanges")
    runtime_flags(sp)
    sp.add_argument("--seed", type=int, default=7)
    sp.add_argument("--sim-step", type=float, default=1.0, help="seconds between simulated market moves")
    sp.add_argument("--speed", type=float, default=60.0,
                    help="simulated market seconds per real second (default 60: a minute a second)")
    sp.set_defaults(func=cmd_demo)

    sp = sub.add_parser("sim", help="serve the simulated exchanges and print the env lines that point a bot at them")
    sp.add_argument("--host", default="127.0.0.1")
    sp.add_argument("--seed", type=int, default=7)
    sp.add_argument("--sim-step", type=float, default=1.0)
    sp.set_defaults(func=cmd_sim)

    sp = sub.add_parser("backtest", help="run the strategies over candle history")
    from kimpbot.backtest import cli as bt

    bt.add_arguments(sp)
    sp.set_defaults(func=cmd_backtest)

    sp = sub.add_parser("doctor", help="check exchanges, clock skew, API keys and permissions, chat tokens, "
                        "data dir and strategy file")
    from kimpbot import doctor

    doctor.add_arguments(sp)
    sp.set_defaults(func=lambda a: doctor.run(a))

    sp = sub.add_parser("config", help="configuration tools")
    csub = sp.add_subparsers(dest="config_command", required=True)
    cc = csub.add_parser("check", help="validate .env and strategy.toml and print the effective config (secrets masked)")
    cc.set_defaults(func=cmd_config_check)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _load_env(args.env_file)
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
