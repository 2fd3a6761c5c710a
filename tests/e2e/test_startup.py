"""Start-up and credential failures (issue 10, section 2), through the real clients and the real CLI.

* refused keys on each exchange: one chat message naming the problem and what to do, exit 78
  (EX_CONFIG), nothing sent to the exchanges, no traceback;
* a configuration error in the strategy file: the same line in the chat, exit 78;
* an exchange unreachable at boot (maintenance: Binance answers 503 -1008): the process stays up,
  says "NOT TRADING" once in the chat and why in /status, and starts trading by itself when the
  sim answers again;
* a /halt sent during warm-up: persisted at once and honoured when trading starts (no order
  reaches the sim);
* Telegram down at start (getMe 502): the bot starts anyway and the chat comes up by itself;
* under Docker (KIMPBOT_ON_CONFIG_ERROR=wait) a config error waits for a stop instead of exiting
  into a restart loop.

The fakes (exchanges, Telegram, Discord) run in this test process; the CLI is a subprocess.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from kimpbot.config import load_settings
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.control.commands import CommandCore
from kimpbot.control.telegram import TelegramFront
from kimpbot.engine import Bot
from fakes.discord import FakeDiscord
from fakes.telegram import FakeTelegram
from kimpbot.store import Store
from testkit import SHORT_WINDOW, wait_until

OWNER = 42
TG_TOKEN = "7654321:AAH-startup-secret-token_xyz"
FAST_RETRY = "\n[startup]\nretry_min_s = 0.3\nretry_max_s = 1.0\n"


class Cli:
    """``python -m kimpbot ...`` with stdout/stderr collected while it runs."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.out: list[str] = []
        self.err: list[str] = []
        self._pumps = [asyncio.create_task(self._pump(proc.stdout, self.out)),
                       asyncio.create_task(self._pump(proc.stderr, self.err))]

    @classmethod
    async def start(cls, args: list[str], env: dict[str, str]) -> "Cli":
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "kimpbot", *args, env=env,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                    stdin=asyncio.subprocess.DEVNULL)
        return cls(proc)

    @staticmethod
    async def _pump(stream: asyncio.StreamReader | None, sink: list[str]) -> None:
        assert stream is not None
        async for line in stream:
            sink.append(line.decode(errors="replace"))

    @property
    def stdout(self) -> str:
        return "".join(self.out)

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    async def wait(self, timeout: float = 60.0) -> int:
        try:
            code = await asyncio.wait_for(self.proc.wait(), timeout)
        finally:
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
        await asyncio.gather(*self._pumps)
        return code

    async def terminate(self, timeout: float = 30.0) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        return await self.wait(timeout)


def cli_env(tmp_path: Path, strategy_text: str, sim, tg: FakeTelegram | None, **extra: str) -> dict[str, str]:
    sf = tmp_path / "strategy.toml"
    sf.write_text(strategy_text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UPBIT_", "BINANCE_", "TELEGRAM_", "DISCORD_",
                                                                      "KIMPBOT_"))}
    env.update({"KIMPBOT_DATA_DIR": str(tmp_path / "data"), "KIMPBOT_STRATEGY_FILE": str(sf),
                "KIMPBOT_HTTP_PORT": "0", "KIMPBOT_LANG": os.environ.get("KIMPBOT_LANG", "ko")})
    if sim is not None:
        env.update(sim.env())
    if tg is not None:
        env.update({"TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_API_URL": tg.base_url,
                    "TELEGRAM_CHAT_ID": str(OWNER), "TELEGRAM_ALLOWED_USERS": str(OWNER)})
    env.update(extra)
    return env


def chat_texts(tg: FakeTelegram) -> list[str]:
    return [r.get("text") or "" for r in tg.sent if r["method"] == "sendMessage"]


async def command(tg: FakeTelegram, text: str, timeout: float = 10.0) -> str:
    since = len(tg.sent)
    tg.send_command(OWNER, OWNER, text)
    rec = await tg.wait_for(lambda r: r["method"] == "sendMessage" and r.get("chat_id") == OWNER
                            and r.get("reply_to_message_id"), timeout=timeout, since=since)
    return rec["text"]


@pytest.fixture
async def tg():
    fake = FakeTelegram(TG_TOKEN)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


# ---------------------------------------------------------------------------- refused keys

@pytest.mark.parametrize("var, value, venue, code", [
    ("UPBIT_ACCESS_KEY", "wrong-upbit-access-key", "Upbit", "invalid_access_key"),
    ("UPBIT_SECRET_KEY", "wrong-upbit-secret-key", "Upbit", "jwt_verification"),
    ("BINANCE_API_KEY", "wrong-binance-api-key", "Binance", "-2015"),
    ("BINANCE_API_SECRET", "wrong-binance-api-secret", "Binance", "-1022"),
])
async def test_refused_keys_one_chat_line_and_exit_78(sim, tg, tmp_path, var, value, venue, code):
    env = cli_env(tmp_path, SHORT_WINDOW + FAST_RETRY, sim, tg, KIMPBOT_MODE="live", **{var: value})
    cli = await Cli.start(["run", "--no-stdin", "--no-warmup", "--duration", "40"], env)
    rc = await cli.wait(60)
    err = cli.stderr
    assert rc == 78, (rc, err[-2000:])
    assert "Traceback" not in err, err[-3000:]
    line = [ln for ln in err.splitlines() if ln.startswith("config error:")]
    assert len(line) == 1 and f"{venue} refused the API key" in line[0] and code in line[0], err[-2000:]
    assert var.rsplit("_", 2)[0] in line[0] and "kimpbot doctor" in line[0]  # what to check, and how
    # exactly one chat message names it (no restart loop, no flood), and the key itself never shows
    refused = [t for t in chat_texts(tg) if "refused the API key" in t]
    assert len(refused) == 1, chat_texts(tg)
    assert venue in refused[0] and code in refused[0] and "exit 78" in refused[0]
    assert all(value not in t for t in chat_texts(tg)) and value not in err + cli.stdout
    assert sim.orders == []  # nothing was sent to either exchange


async def test_keys_refused_after_an_outage_at_boot_still_exit_78(sim, tg, tmp_path):
    """Binance in maintenance at boot (not trading, retried), then it answers and refuses the Upbit
    key: the retry ends the run with exit 78 and the one line, after the one "NOT TRADING"."""
    sim.market.faults.inject("binance", "/fapi/v1/exchangeInfo", "reject", count=100_000)
    env = cli_env(tmp_path, SHORT_WINDOW + FAST_RETRY, sim, tg, KIMPBOT_MODE="live",
                  UPBIT_ACCESS_KEY="revoked-upbit-access-key")
    cli = await Cli.start(["run", "--no-stdin", "--no-warmup", "--duration", "60"], env)
    await tg.wait_for(lambda r: r["method"] == "sendMessage" and "NOT TRADING" in (r.get("text") or ""), timeout=40)
    assert cli.proc.returncode is None
    sim.market.faults.clear()
    rc = await cli.wait(60)
    assert rc == 78, cli.stderr[-2000:]
    assert "Traceback" not in cli.stderr
    texts = chat_texts(tg)
    assert sum("NOT TRADING" in t for t in texts) == 1 and sum("refused the API key" in t for t in texts) == 1, texts
    assert sim.orders == []


async def test_strategy_file_error_reaches_the_chat_and_exits_78(sim, tg, tmp_path):
    env = cli_env(tmp_path, "[zscore]\nentry_threshold = 'two'\n", sim, tg)
    cli = await Cli.start(["run", "--no-stdin", "--duration", "20"], env)
    rc = await cli.wait(40)
    assert rc == 78, cli.stderr
    assert "zscore.entry_threshold" in cli.stderr and "Traceback" not in cli.stderr
    texts = [t for t in chat_texts(tg) if "zscore.entry_threshold" in t]
    assert len(texts) == 1 and "exit 78" in texts[0], chat_texts(tg)


async def test_unusable_data_dir_reaches_the_chat_and_exits_78(sim, tg, tmp_path):
    not_a_dir = tmp_path / "data-is-a-file"
    not_a_dir.write_text("")
    env = cli_env(tmp_path, SHORT_WINDOW, sim, tg, KIMPBOT_DATA_DIR=str(not_a_dir))
    cli = await Cli.start(["run", "--no-stdin", "--no-warmup", "--duration", "20"], env)
    rc = await cli.wait(40)
    assert rc == 78, cli.stderr
    assert "data dir" in cli.stderr and "KIMPBOT_DATA_DIR" in cli.stderr and "Traceback" not in cli.stderr
    texts = [t for t in chat_texts(tg) if "data dir" in t]
    assert len(texts) == 1 and "exit 78" in texts[0], chat_texts(tg)


async def test_refused_telegram_token_exits_78_and_says_so_on_the_discord_webhook(sim, tg, tmp_path):
    dc = FakeDiscord()
    await dc.start()
    try:
        env = cli_env(tmp_path, SHORT_WINDOW, sim, tg, TELEGRAM_BOT_TOKEN="1111:not-the-fake-token",
                      DISCORD_WEBHOOK_URL=dc.webhook_url, DISCORD_API_URL=dc.api_url)
        cli = await Cli.start(["run", "--no-stdin", "--no-warmup", "--duration", "20"], env)
        rc = await cli.wait(40)
        assert rc == 78, cli.stderr
        assert "Telegram refused TELEGRAM_BOT_TOKEN" in cli.stderr and "Traceback" not in cli.stderr
        posts = [p for p in dc.webhook_posts if p["embeds"] and "TELEGRAM_BOT_TOKEN" in
                 p["embeds"][0].get("description", "")]
        assert len(posts) == 1, dc.webhook_posts
        assert "not-the-fake-token" not in str(dc.webhook_posts) + cli.stderr
    finally:
        await dc.stop()


# ---------------------------------------------------------------------------- transient at boot

async def test_exchange_unreachable_at_boot_stays_up_and_trades_when_back(sim, tg, tmp_path):
    # Binance in maintenance: every exchangeInfo answers 503 {"code": -1008, ...}
    sim.market.faults.inject("binance", "/fapi/v1/exchangeInfo", "reject", count=100_000)
    env = cli_env(tmp_path, SHORT_WINDOW + FAST_RETRY, sim, tg)
    env["KIMPBOT_LANG"] = "en"  # the process's own language (Korean by default); these checks read English
    cli = await Cli.start(["run", "--no-stdin", "--no-warmup", "--duration", "120"], env)
    try:
        down = await tg.wait_for(lambda r: r["method"] == "sendMessage" and "NOT TRADING" in (r.get("text") or ""),
                                 timeout=40)
        assert "-1008" in down["text"] and "tries again by itself" in down["text"]
        status = await command(tg, "/status")
        assert "NOT TRADING" in status and "Binance" in status and "-1008" in status, status
        # it keeps trying (back-off), stays up, and says "not trading" only once
        assert await wait_until(lambda: sum(f.endpoint == "/fapi/v1/exchangeInfo" for f in sim.market.faults.fired)
                                >= 4, timeout=30)
        assert cli.proc.returncode is None
        assert sum("NOT TRADING:" in t for t in chat_texts(tg) if t.startswith("⏸")) == 1, chat_texts(tg)
        # /halt works while not trading, and holds once trading starts
        assert "HALTED" in await command(tg, "/halt maintenance")

        sim.market.faults.clear()  # maintenance over
        back = await tg.wait_for(lambda r: r["method"] == "sendMessage" and "Trading again" in (r.get("text") or ""),
                                 timeout=30)
        assert "PAPER mode, confirm trading" in back["text"]
        status = await command(tg, "/status")
        flat = " ".join(ln.strip() for ln in status.splitlines())  # the phone view wraps at 36 cells
        assert "NOT TRADING" not in status and "HALTED (maintenance, by telegram:42)" in flat, status
        assert "Halt lifted" in await command(tg, "/resume")
        status = await command(tg, "/status")
        assert status.splitlines()[1].endswith("running"), status  # the mode first, then the run state
        assert sum("Trading again" in t for t in chat_texts(tg)) == 1
    finally:
        rc = await cli.terminate()
    assert rc == 0, cli.stderr[-2000:]
    assert "Traceback" not in cli.stderr


# ---------------------------------------------------------------------------- /halt during warm-up

async def test_halt_during_warm_up_is_persisted_and_honoured(sim, tg, tmp_path):
    sf = tmp_path / "strategy.toml"
    sf.write_text(SHORT_WINDOW)
    env = sim.env() | {"KIMPBOT_STRATEGY_FILE": str(sf), "KIMPBOT_DATA_DIR": str(tmp_path / "data"),
                       "KIMPBOT_TRADE_MODE": "auto", "TELEGRAM_BOT_TOKEN": tg.token,
                       "TELEGRAM_API_URL": tg.base_url, "TELEGRAM_CHAT_ID": str(OWNER),
                       "TELEGRAM_ALLOWED_USERS": str(OWNER)}
    bot = Bot(load_settings(env), load_owner_config(sf))
    core = CommandCore(bot)
    front = TelegramFront(bot, core, poll_timeout=1, backoff_s=0.05)
    front.attach()
    await front.start()
    # the candle history answers slowly: warm-up takes a few seconds
    sim.market.faults.inject("binance", "/fapi/v1/klines", "timeout", delay_s=4.0)
    starting = asyncio.create_task(bot.start())
    try:
        assert await wait_until(lambda: bot.state.phase == "warm-up", timeout=20)
        reply = await command(tg, "/halt")
        assert "HALTED" in reply and "once trading starts" in reply, reply
        assert bot.trader is None and bot.state.phase == "warm-up"  # it really was during warm-up
        await asyncio.wait_for(starting, 60)
        t = bot.trader
        assert t is not None and t.state.trade_mode == "auto" and t.risk.halted
        # told at start by what happened (a /halt during warm-up), not as a halt kept over a restart
        texts = [e.message for e in bot.bus.history if e.kind == "halt"]
        assert not [x for x in texts if "restart" in x], texts
        assert [x for x in texts if re.fullmatch(r"HALTED \(since \d\d-\d\d \d\d:\d\d KST, by telegram:42\): "
                                                 r".*/halt.*; /resume lifts it", x)], texts
        status = await command(tg, "/status")
        flat = " ".join(ln.strip() for ln in status.splitlines())  # the phone view wraps at 36 cells
        assert "HALTED" in status and "by telegram:42" in flat, status

        # an entry signal in auto mode: refused because halted, and nothing reaches the sim
        m = bot.market
        assert await wait_until(lambda: m.signals_allowed("BTC"), timeout=20)
        sim.market.set_premium("BTC", sim.market.premium("BTC") - 3.0)
        assert await wait_until(lambda: any(e.kind == "refused" and "halted" in e.message
                                            for e in bot.bus.history), timeout=20)
        assert sim.orders == []
        assert t.store.trades() == []
    finally:
        if not starting.done():
            starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        await front.stop()
        await bot.stop()
    # persisted: a new process reading the same data dir is still halted, by the owner
    st = Store(tmp_path / "data", "paper")
    try:
        hs = st.halt_state()
        assert hs.halted and hs.by == "telegram:42" and "/halt" in hs.reason
    finally:
        st.close()


# ---------------------------------------------------------------------------- chat down at start

async def test_telegram_down_at_start_does_not_stop_the_bot(sim, tg, tmp_path):
    sf = tmp_path / "strategy.toml"
    sf.write_text(SHORT_WINDOW)
    env = sim.env() | {"KIMPBOT_STRATEGY_FILE": str(sf), "KIMPBOT_DATA_DIR": str(tmp_path / "data"),
                       "TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_API_URL": tg.base_url,
                       "TELEGRAM_CHAT_ID": str(OWNER), "TELEGRAM_ALLOWED_USERS": str(OWNER)}
    bot = Bot(load_settings(env), load_owner_config(sf), warmup=False)
    front = TelegramFront(bot, CommandCore(bot), poll_timeout=1, backoff_s=0.05)
    front.attach()
    tg.inject("getMe", "http502", count=2)  # Telegram down for the first two tries
    try:
        await front.start(retry_s=0.2, retry_max_s=0.5)  # returns: the chat is retried in the background
        assert front.app is None
        await bot.start()
        assert bot.trader is not None  # trading did not wait for the chat
        reply = await command(tg, "/status", timeout=20)
        assert reply.splitlines()[1].endswith("running"), reply  # the mode first, then the run state
        assert sum(1 for e in tg.errors if e.get("code") == 502) >= 1 or len(tg.calls) >= 3
    finally:
        await front.stop()
        await bot.stop()


# ---------------------------------------------------------------------------- Docker: no restart loop

async def test_config_error_waits_for_a_stop_under_docker(tmp_path):
    env = cli_env(tmp_path, "[zscore]\nentry_threshold = 'two'\n", None, None, KIMPBOT_ON_CONFIG_ERROR="wait")
    cli = await Cli.start(["run", "--no-stdin"], env)
    try:
        assert await wait_until(lambda: "waiting for a stop" in cli.stderr, timeout=30), cli.stderr
        assert cli.proc.returncode is None  # alive and idle: Docker's restart policy never sees an exit
    finally:
        rc = await cli.terminate()
    assert rc == 78
    assert "zscore.entry_threshold" in cli.stderr
    # `config check` is never held: it is a one-shot check
    cli = await Cli.start(["config", "check"], env)
    assert await cli.wait(30) == 78


# ---------------------------------------------------------------------------- warm-up history down

def _bot(sim, tmp_path, strategy_text: str) -> Bot:
    sf = tmp_path / "strategy.toml"
    sf.write_text(strategy_text)
    env = sim.env() | {"KIMPBOT_STRATEGY_FILE": str(sf), "KIMPBOT_DATA_DIR": str(tmp_path / "data")}
    return Bot(load_settings(env), load_owner_config(sf))


async def test_warm_up_history_down_is_retried_and_the_window_still_comes_from_history(sim, tmp_path):
    sim.market.faults.inject("binance", "/fapi/v1/klines", "reject", count=100_000)
    bot = _bot(sim, tmp_path, SHORT_WINDOW + FAST_RETRY)
    try:
        await bot.start()  # returns: not trading, retried in the background
        assert bot.trader is None and "warm-up candle history" in bot.state.not_trading
        assert "NOT TRADING" in bot.trading_status()
        sim.market.faults.clear()
        assert await wait_until(lambda: any(e.kind == "trading" and e.data.get("trading") for e in bot.bus.history),
                                timeout=30)
        assert bot.trader is not None and bot.state.phase == "trading"
        assert "warm-up: BTC 288 bars" in bot.state.warmup_note  # the window came from history
        kinds = [(e.kind, e.data.get("trading")) for e in bot.bus.history if e.kind == "trading"]
        assert kinds == [("trading", False), ("trading", True)]
    finally:
        await bot.stop()


async def test_warm_up_history_down_for_good_starts_from_live_bars_after_a_few_tries(sim, tmp_path):
    sim.market.faults.inject("binance", "/fapi/v1/klines", "reject", count=100_000)
    bot = _bot(sim, tmp_path, SHORT_WINDOW + FAST_RETRY)
    try:
        await bot.start()
        # after 3 tries it starts without the history
        assert await wait_until(lambda: bot.state.phase == "trading", timeout=30)
        assert "warm-up failed 3 times" in bot.state.warmup_note and "live bars" in bot.state.warmup_note
        assert bot.state.not_trading == "" and bot.trading_status() == ""
    finally:
        await bot.stop()


async def test_discord_down_at_start_logs_in_later_by_itself(sim, tmp_path):
    from kimpbot.control.discord_bot import DiscordFront
    from kimpbot.control.discord_http import set_discord_api_base

    dc = FakeDiscord()
    await dc.start()
    sf = tmp_path / "strategy.toml"
    sf.write_text(SHORT_WINDOW)
    env = sim.env() | {"KIMPBOT_STRATEGY_FILE": str(sf), "KIMPBOT_DATA_DIR": str(tmp_path / "data"),
                       "DISCORD_BOT_TOKEN": dc.bot_token, "DISCORD_ALLOWED_USERS": "42",
                       "DISCORD_CHANNEL_ID": str(dc.channel_id), "DISCORD_API_URL": dc.api_url}
    bot = Bot(load_settings(env), load_owner_config(sf), warmup=False)
    front = DiscordFront(bot, CommandCore(bot))
    dc.inject("login", "drop", count=2)  # Discord unreachable for the first two logins
    try:
        await front.start(gateway=False, retry_s=0.2, retry_max_s=0.5)  # returns at once: retried in background
        assert not front._ready.is_set()
        assert await wait_until(front._ready.is_set, timeout=20)  # logged in by itself
        assert front.channel is not None
    finally:
        await front.stop()
        await dc.stop()
        set_discord_api_base(None)
