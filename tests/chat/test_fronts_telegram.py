"""Telegram's command menu and reply keyboard, with the REAL python-telegram-bot over the fake Bot
API: setMyCommands at start (default list in the bot's language, ``ko`` and ``en`` lists), read
back with getMyCommands; the reply keyboard on the first answer and on /help; a keyboard press runs
its command; the fake refuses an invalid command list with the real error body."""

from __future__ import annotations

import json

import aiohttp
import pytest

from kimpbot import i18n
from kimpbot.control.command_list import COMMANDS
from kimpbot.control.telegram import keyboard_command, keyboard_rows, menu_commands
from kimpbot.i18n import help as h

from .conftest import GROUP, OWNER, wait_until


async def _api(rig, method: str, **params) -> tuple[int, dict]:
    """Call the fake Bot API as a client would (form fields, nested objects as JSON strings)."""
    data = {k: json.dumps(v) if isinstance(v, (list, dict)) else str(v) for k, v in params.items()}
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{rig.tg.base_url}/bot{rig.tg.token}/{method}", data=data) as r:
            return r.status, await r.json()


async def test_menu_registered_in_ko_en_and_default(rig):
    tg = rig.tg
    assert await wait_until(lambda: rig.front.menu_set == {"": True, "ko": True, "en": True}, timeout=10)
    menu = [c for c in COMMANDS if c.menu]
    assert 0 < len(menu) < len(COMMANDS)                 # /confirm and /skip are typed from a signal only
    for code, lang in (("ko", "ko"), ("en", "en"), ("", "en")):   # the suite's bot language is English
        status, body = await _api(rig, "getMyCommands", **({"language_code": code} if code else {}))
        assert status == 200 and body["ok"], body
        got = body["result"]
        assert [c["command"] for c in got] == [c.name for c in menu]
        assert got[0]["description"] == h.STATUS.render(lang)
        assert all(1 <= len(c["description"]) <= 256 for c in got)
    status, ko = await _api(rig, "getMyCommands", language_code="ko")
    assert any("\uac00" <= ch <= "\ud7a3" for ch in ko["result"][0]["description"])   # Hangul
    # the three lists went out through the real python-telegram-bot
    sets = [c for c in tg.calls if c["method"] == "setMyCommands"]
    assert sorted(c["params"].get("language_code", "") for c in sets) == ["", "en", "ko"]


@pytest.mark.korean_default
async def test_default_menu_follows_the_bot_language():
    assert i18n.lang() == "ko"
    assert menu_commands()[0] == ("status", h.STATUS.render("ko"))
    assert menu_commands("en")[0] == ("status", h.STATUS.render("en"))


async def test_reply_keyboard_on_first_private_answer_and_on_help_and_a_press_runs_the_command(rig):
    tg = rig.tg
    assert await wait_until(lambda: rig.bot.market.views["BTC"].snapshot is not None)
    # in a group no keyboard (privacy mode would keep a tapped label from the bot)
    grouped = await rig.command("/status", chat=GROUP, chat_type="group")   # (its inline Refresh only)
    assert "keyboard" not in (grouped["reply_markup"] or {}) and tg.reply_keyboard(GROUP, OWNER) is None
    # an answer with inline buttons (/status: Refresh) keeps them; the keyboard rides on the next plain one
    status = await rig.command("/status")
    assert "inline_keyboard" in (status["reply_markup"] or {})
    first = await rig.command("/balance")
    kb = first["reply_markup"]
    assert kb is not None and kb["resize_keyboard"] is True and kb["is_persistent"] is True
    labels = [[b["text"] for b in row] for row in kb["keyboard"]]
    assert labels == keyboard_rows("en")
    assert sum(len(r) for r in labels) == len([c for c in COMMANDS if c.keyboard])
    # the next answer does not repeat it (the phone keeps a persistent keyboard)
    second = await rig.command("/pnl")
    assert second["reply_markup"] is None
    # /help brings it back
    helped = await rig.command("/help")
    assert helped["reply_markup"] is not None and "keyboard" in helped["reply_markup"]
    # what the phone shows now, and a tap on "Positions": the label comes back as text, runs /positions
    shown = tg.reply_keyboard(OWNER, OWNER)
    assert shown is not None and shown["rows"] == keyboard_rows("en")
    since = len(tg.sent)
    tg.press_keyboard(OWNER, OWNER, "📂 Positions")
    rec = await tg.wait_for(lambda r: r["method"] == "sendMessage" and r.get("reply_to_message_id"), since=since)
    assert rec["text"] == (await rig.core.handle("telegram", OWNER, "/positions")).text
    # a label of the other language works too; plain chatter is ignored
    assert keyboard_command("📂 포지션") == "positions" and keyboard_command("hello") is None


async def test_keyboard_labels_in_both_languages_fit_a_phone():
    for lang in i18n.LANGS:
        rows = keyboard_rows(lang)
        for row in rows:
            assert i18n.cell_width("   ".join(row)) <= i18n.MONO_WIDTH, row
        flat = [t for r in rows for t in r]
        assert len(set(flat)) == len(flat)
        assert all(keyboard_command(t) is not None for t in flat)


@pytest.mark.parametrize("commands, description", [
    ([{"command": "Status", "description": "upper case"}], "Bad Request: BOT_COMMAND_INVALID"),
    ([{"command": "x" * 33, "description": "too long"}], "Bad Request: BOT_COMMAND_INVALID"),
    ([{"command": "상태", "description": "not latin"}], "Bad Request: BOT_COMMAND_INVALID"),
    ([{"command": "status", "description": ""}], "Bad Request: command description must be non-empty"),
    ([{"command": "status"}], "Bad Request: can't parse BotCommand: Can't find field \"description\""),
    ([{"command": "status", "description": "d" * 257}], "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID"),
    ([{"command": f"c{i}", "description": "d"} for i in range(101)], "Bad Request: BOT_COMMANDS_TOO_MUCH"),
])
async def test_fake_refuses_an_invalid_command_list_with_the_real_error_body(rig, commands, description):
    assert await wait_until(lambda: rig.front.menu_set.get("en") is True, timeout=10)
    before = await _api(rig, "getMyCommands", language_code="en")
    status, body = await _api(rig, "setMyCommands", commands=commands, language_code="en")
    assert status == 400
    assert body == {"ok": False, "error_code": 400, "description": description}
    assert await _api(rig, "getMyCommands", language_code="en") == before   # nothing changed


async def test_the_real_library_sees_a_refused_menu_as_bad_request(rig):
    from telegram import BotCommand
    from telegram.error import BadRequest

    with pytest.raises(BadRequest, match="(?i)bot_command_invalid"):   # PTB capitalizes it
        await rig.front.app.bot.set_my_commands([BotCommand("Bad-Name", "x")])
    # deleteMyCommands empties exactly the addressed list
    assert await rig.front.app.bot.delete_my_commands(language_code="ko")
    assert await rig.front.app.bot.get_my_commands(language_code="ko") == ()
    assert len(await rig.front.app.bot.get_my_commands(language_code="en")) == len(menu_commands("en"))


async def test_an_answer_whose_keyboard_send_fails_still_goes_out(rig):
    """The keyboard rides on a command's answer: when that send fails for good, the answer is sent
    the ordinary way (never lost), and the keyboard waits for the next answer."""
    from kimpbot.control.commands import Reply

    tg = rig.tg
    since = len(tg.sent)
    # every try of the send that carries the keyboard fails (other posts are left alone)
    tg.inject("sendMessage", "http500", count=rig.front.retries + 1,
              where=lambda raw: '"keyboard"' in str(raw.get("reply_markup") or ""))
    await rig.front.reply(OWNER, Reply(text="answer ✓", mono=True), keyboard=True)
    got = [r for r in tg.sent[since:] if r["method"] == "sendMessage" and r["text"] == "answer ✓"]
    assert len(got) == 1 and got[0]["reply_markup"] is None and got[0]["parse_mode"] == "HTML"
    assert not rig.front._keyboard_shown
    assert len([e for e in tg.errors if e["method"] == "sendMessage"]) == rig.front.retries + 1
