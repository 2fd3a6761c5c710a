"""Command line: ``kimpbot run | demo | sim | backtest | history | config check``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from kimpbot import __version__
from kimpbot.strategy_file.declare import ConfigError

log = logging.getLogger("kimpbot")

# Exit codes (README "Exit codes"): 0 stopped on request; 78 (EX_CONFIG, sysexits.h) a configuration or
# credential error only the owner can fix: the systemd unit does not restart on it
# (RestartPreventExitStatus=78); 130 interrupted; anything else (1: a crash) is restarted.
EX_CONFIG = 78


def _load_env(env_file: str | None) -> None:
    from dotenv import load_dotenv

    path = Path(env_file) if env_file else Path(".env")
    if path.exists():
        load_dotenv(path, override=False)
    elif env_file:
        raise ConfigError("--env-file", env_file, "an existing file")


def _settings_and_owner(args: argparse.Namespace, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    from kimpbot.config import check_data_dir, load_settings
    from kimpbot.strategy_file.read import load_owner_config

    # `run` and `config check` share this: config check fails on every config error run would meet
    settings = load_settings(env)
    owner = load_owner_config(settings.strategy_file)
    check_data_dir(settings.data_dir)
    return settings, owner


DEMO_COINS = {"BTC": 0.2, "ETH": 4.0, "XRP": 8000.0}  # so the demo can show short-premium entries too


class FatalConfig(Exception):
    """A run ends with exit 78: ``str()`` is the one line for stderr and the chat."""


async def _fatal(bot: Any, fronts: list[Any], text: str) -> int:
    """Post the one line to the chat fronts that are up, wait (bounded) until it is out, then stop."""
    from kimpbot.events import Event

    log.critical("%s", text)
    if fronts:
        from kimpbot.i18n import events as E

        bot.bus.publish(Event("error", E.FATAL_STOPPED(text=text), "critical", {"exit": EX_CONFIG}))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(bot.bus.drain(), timeout=FATAL_NOTICE_S)
    else:  # no front up yet (the data dir failed first): post without starting one
        await _post_config_error(bot.settings, text)
    await bot.stop()
    await _stop_chat(fronts)
    raise FatalConfig(text)


FATAL_NOTICE_S = 20.0  # how long a fatal error waits for the chat to take its message


async def _run_bot(settings: Any, owner: Any, args: argparse.Namespace, sim: Any = None) -> int:
    from kimpbot.control.commands import CommandCore
    from kimpbot.control.console import Console
    from kimpbot.control.format import premium_table
    from kimpbot.control.notify import ChatConfigError
    from kimpbot.engine import Bot, FatalConfigError

    coins = None
    if sim is not None and not owner.params.values["paper.upbit_coins"].owner_set:
        coins = {k: v for k, v in DEMO_COINS.items() if k in owner.strategy.symbols}
    bot = Bot(settings, owner, warmup=not args.no_warmup, paper_coins=coins)
    core = CommandCore(bot)
    console = Console(bot, core=core)
    bot.bus.subscribe(lambda ev: print(f"[{ev.level}] {ev.shown()}", flush=True) if ev.kind != "start" else None)
    fronts: list[Any] = []
    try:
        bot.open_store()  # before the chat: a /halt from its first second is persisted
        fronts = await _start_chat(bot, core)
    except ChatConfigError as exc:
        # the fronts that did start carry the line (a refused Telegram token: the Discord webhook)
        return await _fatal(bot, exc.fronts, str(exc))
    except FatalConfigError as exc:
        return await _fatal(bot, fronts, str(exc))
    try:
        await bot.start()
    except FatalConfigError as exc:
        return await _fatal(bot, fronts, str(exc))
    print(bot.banner(), *bot.banner_details(), sep="\n", flush=True)
    if bot.state.not_trading:
        print(f"warning: {bot.trading_status()}\nkimpbot keeps trying by itself. No network? `kimpbot demo` runs "
              "the whole bot offline against the local simulated exchanges.", file=sys.stderr, flush=True)
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

    async def fatal_later() -> None:  # a later start-up try found refused keys
        await bot.fatal_event.wait()
        stop.set()

    tasks.append(asyncio.create_task(fatal_later()))
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
        if bot.fatal is None:
            await bot.stop()
            await _stop_chat(fronts)
    if bot.fatal is not None:
        return await _fatal(bot, fronts, str(bot.fatal))
    return 0


async def _start_chat(bot: Any, core: Any) -> list[Any]:
    """Telegram, the Discord webhook and the Discord bot, each when its token or URL is set.

    They subscribe to the bot's events before it starts, so the start banner and what restart
    reconciliation found reach the chat too. With DISCORD_CHANNEL_ID the Discord bot posts signals
    and findings there with buttons, and the webhook leaves those kinds to it; without a webhook the
    bot posts every other event into that channel as well."""
    from kimpbot.control.notify import ChatConfigError

    s = bot.settings
    fronts: list[Any] = []
    refused: list[str] = []  # a front whose configuration is refused: the others still start, to say so
    try:  # anything else that fails a start: stop those already running, then say why
        if s.telegram_bot_token:
            from kimpbot.control.telegram import TelegramFront

            tg = TelegramFront(bot, core)
            tg.attach()
            try:
                await tg.start()  # Telegram unreachable: retried in the background, never raised
                fronts.append(tg)
            except ChatConfigError as exc:
                refused.append(str(exc))
        bot_channel = bool(s.discord_bot_token and s.discord_channel_id)
        if s.discord_webhook_url:
            from kimpbot.control.notify import INTERACTIVE_KINDS, DiscordWebhookNotifier, answer_hints

            signal_hint, finding_hint = answer_hints(s)
            hook = DiscordWebhookNotifier(s.discord_webhook_url, s.discord_api_url, secrets=s.secrets(),
                                          skip_kinds=INTERACTIVE_KINDS if bot_channel else (),
                                          signal_hint=signal_hint, finding_hint=finding_hint,
                                          entries_blocked=core.entries_blocked)
            try:
                await hook.start()  # no network here: only the URL's form is checked
                hook.attach(bot)
                fronts.append(hook)
            except ChatConfigError as exc:
                refused.append(str(exc))
        if s.discord_bot_token:
            from kimpbot.control.discord_bot import DiscordFront

            dc = DiscordFront(bot, core, post_alerts=not s.discord_webhook_url)
            try:
                await dc.start()  # Discord unreachable: retried in the background, never raised
                dc.attach()
                fronts.append(dc)
            except ChatConfigError as exc:
                refused.append(str(exc))
    except BaseException:
        await _stop_chat(fronts)
        raise
    if refused:
        raise ChatConfigError("; ".join(refused), fronts)
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
    from kimpbot.config import check_data_dir, load_settings
    from kimpbot.strategy_file.read import load_owner_config

    settings = load_settings()  # a bad .env: no chat to tell, stderr only (exit 78 in main)
    try:  # the same checks as `config check` (_settings_and_owner), with the chat told
        owner = load_owner_config(settings.strategy_file)
        check_data_dir(settings.data_dir)
    except ConfigError as exc:  # the chat is configured: tell it too
        asyncio.run(_post_config_error(settings, f"config error: {exc}"))
        raise
    _setup_logging(args, settings)
    return asyncio.run(_run_bot(settings, owner, args))


async def _post_config_error(settings: Any, text: str) -> None:
    """Best effort, bounded: the line reaches the configured chats before the process ends."""
    from kimpbot.control.notify import post_alert

    line = f"kimpbot stopped: {text}. Not restarting (exit 78): fix it, then start kimpbot again."
    try:
        await asyncio.wait_for(post_alert(settings, line), timeout=FATAL_NOTICE_S)
    except Exception as exc:  # noqa: BLE001 - the stderr line below is the fallback
        log.warning("config error not posted to chat: %s", type(exc).__name__)


def cmd_demo(args: argparse.Namespace) -> int:
    """Everything offline: the simulated exchanges on 127.0.0.1 and the bot in paper mode against them."""

    async def main() -> int:
        from kimpbot.config import load_settings
        from kimpbot.strategy_file.read import load_owner_config
        from kimpbot.sim.market import SimMarket
        from kimpbot.sim.servers import SimServers

        owner = load_owner_config(_demo_strategy_file())
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


def _demo_strategy_file() -> Path:
    """The demo's strategy file: KIMPBOT_STRATEGY_FILE, else ./strategy.toml, else (the demo trades only
    simulated money) kimpbot's packaged default file, said out loud. `run` has no such fallback."""
    raw = os.environ.get("KIMPBOT_STRATEGY_FILE")
    if raw is not None:
        if not raw.strip():
            raise ConfigError("KIMPBOT_STRATEGY_FILE", raw, "the path of a strategy file, or leave it unset")
        return Path(raw.strip()).expanduser()
    here = Path("strategy.toml")
    if here.exists():
        return here
    from kimpbot.strategy_file.read import DEFAULT_STRATEGY_FILE

    print(f"demo: no ./strategy.toml; using kimpbot's default strategy file {DEFAULT_STRATEGY_FILE} "
          "(SPEC's defaults; simulated money only)", flush=True)
    return DEFAULT_STRATEGY_FILE


def cmd_sim(args: argparse.Namespace) -> int:
    from kimpbot.sim.market import SimMarket
    from kimpbot.sim.servers import serve_forever

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_forever(SimMarket(seed=args.seed), host=args.host, step_s=args.sim_step,
                                  env_file=args.env_out))
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    from kimpbot.config import DEFAULT_URLS, SECRET_ENV, mask_secret

    settings, owner = _settings_and_owner(args)
    print(f"mode: {settings.mode}   trade mode: {settings.trade_mode}   data dir: {settings.data_dir}   "
          f"strategy file: {owner.source}")
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


def _setup_logging(args: argparse.Namespace, settings: Any) -> None:
    from kimpbot.logs import setup_logging

    # KIMPBOT_LOG_FILE: also log to a size-rotated file (journald/docker keep stderr otherwise)
    setup_logging(args.log_level or settings.log_level, settings.secrets(),
                  log_file=os.environ.get("KIMPBOT_LOG_FILE") or None)


# Subcommands whose arguments live with their code, which pulls in heavy libraries (aiohttp for
# history and doctor, numpy for backtest): their modules are imported only when that subcommand is
# the one run (or asked for --help), so `kimpbot backtest` does not pay for aiohttp at start.
LAZY_COMMANDS = {
    "backtest": ("kimpbot.backtest.cli", "run the strategies over candle history"),
    "history": ("kimpbot.history", "download candles, funding and FX history in the backtester's format"),
    "doctor": ("kimpbot.doctor", "check exchanges, clock skew, API keys and permissions, chat tokens, "
               "data dir and strategy file"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; the arguments of a :data:`LAZY_COMMANDS` entry are added only for
    ``command`` (the others are listed, with their help line, but take no arguments)."""
    p = argparse.ArgumentParser(prog="kimpbot", description="Hedged kimchi-premium bot (Upbit KRW vs Binance USDT-M)")
    p.add_argument("--version", action="version", version=f"kimpbot {__version__}")
    p.add_argument("--env-file", help="dotenv file with secrets and endpoints (default: ./.env if present)")
    # default: KIMPBOT_LOG_LEVEL (validated with the rest of the environment, after .env is loaded)
    p.add_argument("--log-level", default=None, type=str.upper, choices=["DEBUG", "INFO", "WARNING", "ERROR"])
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
    sp.add_argument("--env-out", metavar="FILE",
                    help="also write the env lines to FILE (atomically, once the servers listen)")
    sp.set_defaults(func=cmd_sim)

    for name, (module, help_line) in LAZY_COMMANDS.items():
        if name != command:
            # listed in `kimpbot --help`; no -h of its own, so a first pass can find the command
            sub.add_parser(name, help=help_line, add_help=False)
            continue
        sp = sub.add_parser(name, help=help_line)
        mod = importlib.import_module(module)
        mod.add_arguments(sp)
        sp.set_defaults(func=mod.run)

    sp = sub.add_parser("config", help="configuration tools")
    csub = sp.add_subparsers(dest="config_command", required=True)
    cc = csub.add_parser("check", help="validate .env and strategy.toml and print the effective config (secrets masked)")
    cc.set_defaults(func=cmd_config_check)
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Two passes: the first finds which subcommand runs, the second parses with its arguments."""
    first, _ = build_parser().parse_known_args(argv)
    command = first.command if first.command in LAZY_COMMANDS else None
    return build_parser(command).parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        _load_env(args.env_file)
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr, flush=True)
        return _config_exit(args)
    except FatalConfig as exc:
        print(f"config error: {exc}", file=sys.stderr, flush=True)
        return _config_exit(args)
    except KeyboardInterrupt:
        return 130


def _config_exit(args: argparse.Namespace) -> int:
    """Exit 78 for a configuration/credential error. Under Docker (whose restart policies cannot
    exclude an exit code) ``KIMPBOT_ON_CONFIG_ERROR=wait`` keeps a failed ``run`` alive and idle
    (health check failing) until it is stopped, instead of exiting into a restart loop."""
    wait = os.environ.get("KIMPBOT_ON_CONFIG_ERROR", "").strip().lower() == "wait"
    if wait and getattr(args, "command", "") == "run":
        print("kimpbot: not trading and not restarting until the configuration is fixed; waiting for a stop "
              "(docker compose restart kimpbot after the fix)", file=sys.stderr, flush=True)
        _wait_for_stop_signal()
    return EX_CONFIG


def _wait_for_stop_signal() -> None:
    got = []

    def on_signal(signum: int, frame: Any) -> None:
        got.append(signum)

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not got:
            signal.pause()
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


if __name__ == "__main__":
    raise SystemExit(main())
