"""Chat fixtures: the exchange sims, the fake Telegram Bot API and Discord webhook, and a Bot in
confirmation mode with the REAL python-telegram-bot front end and the Discord webhook notifier.

Every chat test also scans what it sent to chat and every log record it produced for secrets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from pathlib import Path

import pytest

from kimpbot.config import load_settings
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.control.commands import CommandCore
from kimpbot.control.discord_http import set_discord_api_base
from kimpbot.control.notify import DiscordWebhookNotifier
from kimpbot.control.telegram import TelegramFront
from kimpbot.engine import Bot
from fakes.discord import FakeDiscord
from fakes.telegram import FakeTelegram
from testkit import SHORT_WINDOW, wait_until  # noqa: F401  (wait_until: re-exported to the chat tests)
from ._dbg import dump_after

OWNER = 42
INTRUDER = 666
GROUP = -1001234567890
TG_TOKEN = "7654321:AAH-secret-bot-token_xyz"


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def log_records():
    """Every log record of the test at DEBUG (libraries included, as a deployment at DEBUG would)."""
    h = _Collect()
    root = logging.getLogger()
    old = root.level
    root.addHandler(h)
    root.setLevel(logging.DEBUG)
    try:
        yield h.records
    finally:
        root.removeHandler(h)
        root.setLevel(old)


def scan_for_secrets(secrets: list[str], tg: FakeTelegram | None, dc: FakeDiscord | None,
                     records: list[logging.LogRecord]) -> None:
    blobs: list[tuple[str, str]] = []
    if tg is not None:
        blobs += [("telegram sent", json.dumps(r, default=str, ensure_ascii=False)) for r in tg.sent]
        blobs += [("telegram call", json.dumps(c, default=str, ensure_ascii=False)) for c in tg.calls]
    if dc is not None:
        blobs += [("discord post", json.dumps({k: v for k, v in p.items() if k != "attachments"}, default=str,
                                              ensure_ascii=False)) for p in dc.webhook_posts]
    for r in records:
        text = r.getMessage()
        if r.exc_info:
            text += logging.Formatter().formatException(r.exc_info)
        blobs.append((f"log {r.name}", text))
    for where, blob in blobs:
        for s in secrets:
            assert s not in blob, f"secret leaked into {where}: {blob[:300]}"


class ChatRig:
    def __init__(self, sim, tg, dc, bot, front, hook, core):
        self.sim, self.tg, self.dc, self.bot, self.front, self.hook, self.core = sim, tg, dc, bot, front, hook, core

    def secrets(self) -> list[str]:
        return self.bot.settings.secrets() + [self.tg.token, self.tg.token.split(":", 1)[1],
                                              self.dc.webhook_token]

    async def command(self, text: str, *, user: int = OWNER, chat: int = OWNER, chat_type: str = "private",
                      timeout: float = 30.0) -> dict:
        """Send a command and return the bot's reply (the first sendMessage/sendPhoto to that chat after it)."""
        since = len(self.tg.sent)
        self.tg.send_command(chat, user, text, chat_type=chat_type)
        return await self.tg.wait_for(lambda r: r.get("chat_id") == chat and (
                                          r["method"] == "sendPhoto"
                                          or (r["method"] == "sendMessage" and r.get("reply_to_message_id"))),
                                      timeout=timeout, since=since)


async def make_rig(sim, tmp_path: Path, strategy_text: str, log_records=None, *,
                   env_extra: dict[str, str] | None = None, tg: FakeTelegram | None = None,
                   dc: FakeDiscord | None = None, **tg_kw):
    """The bot with the Telegram front and the Discord webhook over the fakes (confirm mode unless
    ``env_extra`` says otherwise); ``tg``/``dc``: reuse running fakes (a restart keeps the chat's)."""
    sf = tmp_path / "strategy.toml"
    sf.write_text(strategy_text)
    if tg is None:
        tg = FakeTelegram(TG_TOKEN, **tg_kw)
        await tg.start()
    if dc is None:
        dc = FakeDiscord()
        await dc.start()
    env = sim.env() | {"KIMPBOT_STRATEGY_FILE": str(sf), "KIMPBOT_DATA_DIR": str(tmp_path / "data"),
                       "KIMPBOT_TRADE_MODE": "confirm", "TELEGRAM_BOT_TOKEN": tg.token,
                       "TELEGRAM_API_URL": tg.base_url, "TELEGRAM_CHAT_ID": str(OWNER),
                       "TELEGRAM_ALLOWED_USERS": str(OWNER), "DISCORD_WEBHOOK_URL": dc.webhook_url,
                       "DISCORD_API_URL": dc.api_url} | (env_extra or {})
    settings = load_settings(env)
    bot = Bot(settings, load_owner_config(sf))
    core = CommandCore(bot)
    front = TelegramFront(bot, core, poll_timeout=2, backoff_s=0.05)
    hook = DiscordWebhookNotifier(settings.discord_webhook_url, settings.discord_api_url,
                                  secrets=settings.secrets(), backoff_s=0.05)
    front.attach()
    hook.attach(bot)
    await front.start()
    await hook.start()
    await bot.start()
    return ChatRig(sim, tg, dc, bot, front, hook, core)


async def close_rig(rig: ChatRig, records) -> None:
    stuck = []
    for name, coro in (("drain", rig.bot.bus.drain()), ("telegram", rig.front.stop()), ("webhook", rig.hook.stop()),
                       ("bot", rig.bot.stop()), ("fake telegram", rig.tg.stop()), ("fake discord", rig.dc.stop())):
        try:
            t0 = time.monotonic()
            dt = asyncio.ensure_future(dump_after(3))  # prints the tasks if a step hangs
            await asyncio.wait_for(coro, timeout=10)
            dt.cancel()
            if time.monotonic() - t0 > 1:
                print("slow shutdown step", name, time.monotonic() - t0)
        except asyncio.TimeoutError:
            stuck.append(name)
    set_discord_api_base(None)
    scan_for_secrets(rig.secrets(), rig.tg, rig.dc, records)
    assert not stuck, f"shutdown steps stuck: {stuck}"


@contextlib.asynccontextmanager
async def running(made, records):
    """The rig ``made`` (an awaitable of make_rig) for a ``with`` block; closed after it, with any
    exchange fault the test left injected cleared first so the shutdown sees healthy venues."""
    r = await made
    try:
        yield r
    finally:
        r.sim.market.faults.clear()
        await close_rig(r, records)


STRATEGY = SHORT_WINDOW


@pytest.fixture
async def rig(sim, tmp_path, log_records):
    async with running(make_rig(sim, tmp_path, STRATEGY, log_records), log_records) as r:
        yield r


@pytest.fixture
async def quick_expiry_rig(sim, tmp_path, log_records):
    """A rig whose unanswered signals expire after 1.5 s."""
    text = STRATEGY + "[execution]\nconfirm_timeout_s = 1.5\n"
    async with running(make_rig(sim, tmp_path, text, log_records), log_records) as r:
        yield r
