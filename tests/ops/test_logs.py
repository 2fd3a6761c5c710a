"""Logs: one line per event, size rotation, and secrets kept out of every handler and library line."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from kimpbot.logs import LIBRARY_LEVELS, RedactingFilter, setup_logging

SECRETS = ["sim-binance-secret", "123456:TEST-token",
           "https://discord.com/api/webhooks/123456789012345678/" + "t" * 68]


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in LIBRARY_LEVELS}
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    root.setLevel(level)
    for name, lvl in levels.items():
        logging.getLogger(name).setLevel(lvl)


def read_all(path) -> str:
    return "".join(p.read_text() for p in sorted(path.parent.glob(path.name + "*")))


def test_rotation_by_size_keeps_n_backups_and_redacts(tmp_path, restore_logging):
    log_file = tmp_path / "logs" / "kimpbot.log"
    stream = io.StringIO()
    setup_logging("INFO", SECRETS, stream=stream, log_file=log_file, max_bytes=2_000, backups=3)
    log = logging.getLogger("kimpbot.test")
    for i in range(200):
        log.info("event %d: signed with %s", i, SECRETS[0])
    files = sorted(p.name for p in log_file.parent.iterdir())
    assert files == ["kimpbot.log", "kimpbot.log.1", "kimpbot.log.2", "kimpbot.log.3"]
    assert all(p.stat().st_size <= 2_000 for p in log_file.parent.iterdir())
    text = read_all(log_file)
    assert SECRETS[0] not in text and "signed with ***" in text
    assert "event 199:" in log_file.read_text()  # the newest lines are in the live file
    assert SECRETS[0] not in stream.getvalue() and "event 199: signed with ***" in stream.getvalue()


def test_one_line_per_event_tracebacks_included(tmp_path, restore_logging):
    log_file = tmp_path / "kimpbot.log"
    setup_logging("INFO", SECRETS, stream=io.StringIO(), log_file=log_file)
    log = logging.getLogger("kimpbot.test")
    try:
        raise RuntimeError(f"webhook {SECRETS[2]} refused\nsecond line")
    except RuntimeError:
        log.exception("posting failed\nfor %s", "BTC")
    log.warning("after")
    lines = log_file.read_text().splitlines()
    assert len(lines) == 2, lines
    assert "posting failed | for BTC | Traceback" in lines[0] and "RuntimeError" in lines[0]
    assert "t" * 68 not in lines[0] and "webhook *** refused" in lines[0]
    assert lines[1].endswith("kimpbot.test: after")


def test_webhook_token_alone_is_redacted_too():
    f = RedactingFilter(SECRETS)
    assert f.redact("POST http://127.0.0.1:5/api/v10/webhooks/123456789012345678/" + "t" * 68) == \
        "POST http://127.0.0.1:5/api/v10/webhooks/123456789012345678/***"
    assert f.redact("short abc") == "short abc"
    f = RedactingFilter(["123456:AAH-secret-half-of-the-token"])
    assert f.redact("token AAH-secret-half-of-the-token leaked") == "token *** leaked"


def test_setup_again_replaces_handlers(tmp_path, restore_logging):
    setup_logging("INFO", SECRETS, stream=io.StringIO(), log_file=tmp_path / "a.log")
    setup_logging("INFO", SECRETS, stream=io.StringIO(), log_file=tmp_path / "b.log")
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_kimpbot", False)]
    assert len(ours) == 2
    assert all(isinstance(f, RedactingFilter) for h in ours for f in h.filters)


def test_noisy_libraries_are_held_back_even_at_debug(restore_logging):
    setup_logging("DEBUG", SECRETS, stream=io.StringIO())
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    assert not logging.getLogger("httpcore").isEnabledFor(logging.INFO)
    assert not logging.getLogger("telegram").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("telegram.ext").isEnabledFor(logging.DEBUG)
    assert logging.getLogger("telegram.ext").isEnabledFor(logging.INFO)
    assert not logging.getLogger("discord").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("discord.webhook.async_").isEnabledFor(logging.DEBUG)
    assert logging.getLogger("kimpbot").isEnabledFor(logging.DEBUG)


async def test_real_telegram_and_discord_calls_leave_no_token_in_the_log(tmp_path, restore_logging, telegram,
                                                                       discord_fake):
    """python-telegram-bot (httpx) and discord.py at --log-level DEBUG, with redaction switched OFF: the
    level floors alone keep the bot token and the webhook token out of the file."""
    import aiohttp
    import discord
    from telegram import Bot

    from kimpbot.control.discord_http import set_discord_api_base

    log_file = tmp_path / "kimpbot.log"
    setup_logging("DEBUG", [], stream=io.StringIO(), log_file=log_file)
    bot = Bot(telegram.token, base_url=f"{telegram.base_url}/bot")
    async with bot:
        await bot.send_message(chat_id=42, text="hello")
    set_discord_api_base(discord_fake.api_url)
    async with aiohttp.ClientSession() as s:
        wh = discord.Webhook.from_url(discord_fake.webhook_url, session=s)
        await wh.send(content="fill", wait=True)
    logging.getLogger("kimpbot.test").debug("done")
    text = log_file.read_text()
    assert "kimpbot.test: done" in text  # DEBUG was really on
    assert telegram.token not in text and telegram.token.split(":", 1)[1] not in text
    assert discord_fake.webhook_token not in text


def test_a_relative_log_file_lives_in_the_data_dir(tmp_path, monkeypatch):
    """The shipped unit may write only KIMPBOT_DATA_DIR (ProtectSystem=strict): .env.example's
    relative KIMPBOT_LOG_FILE lands there, an absolute path stays where it says."""
    from kimpbot.logs import log_path

    monkeypatch.setenv("KIMPBOT_DATA_DIR", str(tmp_path / "state"))
    assert log_path("kimpbot.log") == tmp_path / "state" / "kimpbot.log"
    assert log_path(tmp_path / "x.log") == tmp_path / "x.log"
    example = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    assert "# KIMPBOT_LOG_FILE=kimpbot.log" in example
