"""The fake Telegram Bot API, driven by the REAL python-telegram-bot (no mocks)."""

from __future__ import annotations

import asyncio
import logging
import struct
import time
import zlib

import aiohttp
import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, CallbackQueryHandler, CommandHandler

from fakes.telegram import FakeTelegram, parse_entities

OWNER = 42
# AIORateLimiter reads RetryAfter.retry_after, which PTB 22.2+ flags as changing type in v23
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")


def png_bytes(w: int = 4, h: int = 3) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture
async def tg():
    async with FakeTelegram() as fake:
        yield fake


def build_app(fake: FakeTelegram, token: str | None = None, *, retries: int = 2) -> Application:
    return (ApplicationBuilder().token(token or fake.token)
            .base_url(f"{fake.base_url}/bot").base_file_url(f"{fake.base_url}/file/bot")
            .rate_limiter(AIORateLimiter(max_retries=retries)).build())


@pytest.fixture
async def running(tg):
    """A real PTB Application polling the fake, with a confirmation-style command and buttons."""
    app = build_app(tg)
    seen: list[Update] = []

    async def signal(update: Update, context) -> None:
        seen.append(update)
        kb = InlineKeyboardMarkup([[InlineKeyboardButton("✅ Execute", callback_data="exec:7"),
                                    InlineKeyboardButton("Skip", callback_data="skip:7")]])
        await update.message.reply_text("<b>BTC</b> premium 3.20% &gt; entry 3.00%", parse_mode="HTML",
                                        reply_markup=kb)

    async def pressed(update: Update, context) -> None:
        seen.append(update)
        q = update.callback_query
        await q.answer("Executing…")
        await q.edit_message_text(f"Executed {q.data} by {q.from_user.id}")

    async def chart(update: Update, context) -> None:
        await update.message.reply_photo(photo=png_bytes(), caption="BTC premium")

    app.add_handler(CommandHandler("signal", signal))
    app.add_handler(CommandHandler("chart", chart))
    app.add_handler(CallbackQueryHandler(pressed, pattern=r"^(exec|skip):"))
    await app.initialize()
    await app.start()
    await app.updater.start_polling(poll_interval=0, timeout=1)
    app.bot_data["seen"] = seen
    try:
        yield app
    finally:
        if app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()


async def test_command_buttons_press_edit_answer(tg, running):
    upd = tg.send_command(OWNER, OWNER, "/signal BTC")
    rec = await tg.wait_for(lambda r: r["method"] == "sendMessage")
    assert rec["chat_id"] == OWNER
    assert rec["text"] == "BTC premium 3.20% > entry 3.00%"          # as the phone shows it
    assert rec["entities"] == [{"type": "bold", "offset": 0, "length": 3}]
    assert rec["reply_to_message_id"] is None          # PTB's reply_text quotes only in groups
    assert rec["message_id"] == upd["message"]["message_id"] + 1       # ids increase per chat
    assert tg.buttons(rec["message_id"]) == [("✅ Execute", "exec:7"), ("Skip", "skip:7")]

    press = tg.press_button(OWNER, OWNER, rec["message_id"], "exec:7")
    qid = press["callback_query"]["id"]
    edit = await tg.wait_for(lambda r: r["method"] == "editMessageText")
    assert edit["text"] == f"Executed exec:7 by {OWNER}"
    assert tg.answered_callbacks[qid]["text"] == "Executing…"
    assert tg.answered_callbacks[qid]["show_alert"] is False
    assert tg.buttons(rec["message_id"]) == []          # edited without reply_markup: keyboard gone
    [msg] = tg.messages(OWNER)
    assert msg["text"] == edit["text"] and "edit_date" in msg
    assert [r["method"] for r in tg.sent] == ["sendMessage", "answerCallbackQuery", "editMessageText"]

    seen = running.bot_data["seen"]
    assert seen[0].message.text == "/signal BTC" and seen[0].effective_user.id == OWNER
    assert seen[1].callback_query.message.message_id == rec["message_id"]
    # a stale client pressing the removed button again: the query exists, the bot decides
    tg.press_button(OWNER, OWNER, rec["message_id"], "exec:7")
    with pytest.raises(ValueError):
        tg.press_button(OWNER, OWNER, rec["message_id"], "never-offered")


async def test_photo_bytes_arrive(tg, running):
    tg.send_command(OWNER, OWNER, "/chart BTC")
    rec = await tg.wait_for(lambda r: r["method"] == "sendPhoto")
    assert rec["photo_bytes"] == png_bytes()
    assert rec["caption"] == "BTC premium"
    [msg] = tg.messages(OWNER)
    assert msg["photo"][-1]["width"] == 4 and msg["photo"][-1]["height"] == 3


async def test_flood_429_is_retried_by_aio_rate_limiter(tg, running):
    tg.inject("sendMessage", "http429", retry_after=1)
    t0 = time.monotonic()
    tg.send_command(OWNER, OWNER, "/signal ETH")
    rec = await tg.wait_for(lambda r: r["method"] == "sendMessage", timeout=5)
    assert time.monotonic() - t0 >= 1.0
    assert rec["text"].startswith("BTC premium")
    assert tg.errors == [{**tg.errors[0], "method": "sendMessage", "error_code": 429,
                          "description": "Too Many Requests: retry after 1"}]


async def test_flood_limit_policy_queues_not_drops(tg):
    tg.flood_limit = (2, 1.0)   # 2 messages per chat per second, then 429 like Telegram
    app = build_app(tg, retries=3)
    await app.initialize()
    try:
        await asyncio.gather(*(app.bot.send_message(OWNER, f"alert {i}") for i in range(4)))
    finally:
        await app.shutdown()
    assert sorted(m["text"] for m in tg.messages(OWNER)) == [f"alert {i}" for i in range(4)]
    assert any(e["error_code"] == 429 for e in tg.errors)


async def test_wrong_token_is_invalid_token(tg):
    app = build_app(tg, "123456:WRONG-token")
    with pytest.raises(InvalidToken):
        await app.initialize()
    app2 = build_app(tg, "not-a-token")          # malformed: Telegram answers 404 Not Found
    with pytest.raises(InvalidToken):
        await app2.initialize()
    assert all("WRONG-token" not in path and "TEST-token" not in path for _, path in tg.requests)


async def test_clean_shutdown_confirms_updates(tg, running):
    upd = tg.send_command(OWNER, OWNER, "/signal BTC")
    await tg.wait_for(lambda r: r["method"] == "sendMessage")
    await running.updater.stop()
    await running.stop()
    polls = [c["params"] for c in tg.calls if c["method"] == "getUpdates"]
    assert str(polls[-1]["timeout"]) == "0"                      # PTB's last call marks updates read
    assert int(polls[-1]["offset"]) == upd["update_id"] + 1
    assert tg.pending_updates == []
    assert [c["method"] for c in tg.calls[:2]] == ["getMe", "deleteWebhook"]


async def test_errors_are_worded_like_telegram(tg):
    app = build_app(tg, retries=0)
    await app.initialize()
    try:
        bot = app.bot
        m = await bot.send_message(OWNER, "Hold", reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("Go", callback_data="go")]]))
        with pytest.raises(BadRequest, match="Message is not modified"):
            await bot.edit_message_text("Hold", chat_id=OWNER, message_id=m.message_id,
                                        reply_markup=m.reply_markup)
        await bot.edit_message_reply_markup(chat_id=OWNER, message_id=m.message_id)   # removes keyboard
        with pytest.raises(BadRequest, match="Message is not modified"):
            await bot.edit_message_reply_markup(chat_id=OWNER, message_id=m.message_id)

        qid = tg.press_button(OWNER, OWNER, m.message_id, "go")["callback_query"]["id"]
        assert await bot.answer_callback_query(qid, text="ok")
        with pytest.raises(BadRequest, match="Query is too old and response timeout expired or query id is invalid"):
            await bot.answer_callback_query(qid, text="again")       # answered twice
        tg.callback_ttl_s = 0.0
        late = tg.press_button(OWNER, OWNER, m.message_id, "go")["callback_query"]["id"]
        with pytest.raises(BadRequest, match="Query is too old"):
            await bot.answer_callback_query(late)

        with pytest.raises(BadRequest, match=r"Can't parse entities: character '\.' is reserved"):
            await bot.send_message(OWNER, "Version 1.0", parse_mode="MarkdownV2")
        with pytest.raises(BadRequest, match='(?i)unsupported start tag "z" at byte offset 4'):
            await bot.send_message(OWNER, "a b <z> c", parse_mode="HTML")
        with pytest.raises(BadRequest, match="Button_data_invalid"):
            await bot.send_message(OWNER, "x", reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton("x", callback_data="x" * 65)]]))
        with pytest.raises(BadRequest, match="Message to edit not found"):
            await bot.edit_message_text("x", chat_id=OWNER, message_id=999)
        with pytest.raises(BadRequest, match="Message is too long"):
            await bot.send_message(OWNER, "x" * 4097)
        tg.blocked.add(7)
        with pytest.raises(Forbidden, match="(?i)bot was blocked by the user"):
            await bot.send_message(7, "hi")
        tg.strict_chats = True
        with pytest.raises(BadRequest, match="Chat not found"):
            await bot.send_message(-100999, "hi")
        await bot.set_my_commands([("status", "Show status"), ("halt", "Stop trading")])
        assert [c.command for c in await bot.get_my_commands()] == ["status", "halt"]
        assert await bot.send_chat_action(OWNER, "upload_photo")
        assert await bot.delete_message(OWNER, m.message_id)
        assert tg.messages(OWNER) == []
    finally:
        await app.shutdown()

    async with aiohttp.ClientSession() as s:
        async with s.post(f"{tg.base_url}/bot{tg.token}/noSuchMethod") as r:
            assert r.status == 404 and await r.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        async with s.post(f"{tg.base_url}/bot{tg.token}/sendmessage", json={"chat_id": OWNER, "text": "json"}) as r:
            body = await r.json()       # JSON bodies and case-insensitive method names work too
            assert body["ok"] and body["result"]["text"] == "json" and body["result"]["from"]["is_bot"]


async def test_long_poll_holds_and_conflicts(tg):
    url = f"{tg.base_url}/bot{tg.token}/getUpdates"
    async with aiohttp.ClientSession() as s:
        t0 = time.monotonic()
        async with s.post(url, data={"timeout": "1"}) as r:
            assert (await r.json()) == {"ok": True, "result": []}
        assert 0.9 <= time.monotonic() - t0 < 2.0                     # held for `timeout`

        async def poll():
            async with s.post(url, data={"timeout": "5"}) as r:
                return await r.json()

        first = asyncio.create_task(poll())
        await asyncio.sleep(0.1)
        t0 = time.monotonic()
        upd = tg.send_text(OWNER, OWNER, "hello")
        got = await first
        assert time.monotonic() - t0 < 0.5                              # released by the update
        assert got["result"][0]["update_id"] == upd["update_id"]
        assert got["result"][0]["message"]["text"] == "hello"

        async with s.post(url, data={"timeout": "0"}) as r:    # not confirmed yet: delivered again
            assert [u["update_id"] for u in (await r.json())["result"]] == [upd["update_id"]]
        async with s.post(url, data={"offset": str(upd["update_id"] + 1), "timeout": "0"}) as r:
            assert (await r.json())["result"] == []              # offset confirms (forgets) it
        # a second concurrent poll terminates the first with 409
        held = asyncio.create_task(poll())
        await asyncio.sleep(0.1)
        async with s.post(url, data={"timeout": "0"}) as r:
            assert (await r.json())["result"] == []
        res = await held
        assert res["error_code"] == 409 and res["description"].startswith("Conflict: terminated by other getUpdates")


async def test_allowed_updates_and_group_commands(tg):
    app = build_app(tg)
    got: list[Update] = []

    async def status(update: Update, context) -> None:
        got.append(update)
        await update.effective_chat.send_message("ok")

    async def pressed(update: Update, context) -> None:
        got.append(update)

    app.add_handler(CommandHandler("status", status))
    app.add_handler(CallbackQueryHandler(pressed))
    await app.initialize()
    await app.start()
    await app.updater.start_polling(poll_interval=0, timeout=1, allowed_updates=["message"])
    try:
        tg.send_command(-1001, 77, "/status@kimpbot_test_bot", chat_type="group", username="member")
        rec = await tg.wait_for(lambda r: r["method"] == "sendMessage")
        assert rec["chat_id"] == -1001
        assert got[0].effective_chat.type == "group" and got[0].effective_user.id == 77
        tg.press_button(-1001, 77, rec["message_id"], "x", forged=True)   # not an allowed update type
        tg.send_command(-1001, 77, "/status")
        await tg.wait_for(lambda r: r["method"] == "sendMessage", since=1)
        assert all(u.callback_query is None for u in got)
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


async def test_drop_and_lost_faults(tg):
    app = build_app(tg, retries=0)
    await app.initialize()
    try:
        tg.inject("sendMessage", "drop")
        with pytest.raises(NetworkError):
            await app.bot.send_message(OWNER, "dropped")
        assert tg.messages(OWNER) == []                 # never processed
        tg.inject("*", "lost")
        with pytest.raises(NetworkError):
            await app.bot.send_message(OWNER, "lost")
        assert [m["text"] for m in tg.messages(OWNER)] == ["lost"]   # delivered, reply lost
        tg.inject("sendMessage", "http500")
        with pytest.raises(NetworkError):
            await app.bot.send_message(OWNER, "five hundred")
        tg.inject("sendMessage", "delay", delay_s=0.3)
        t0 = time.monotonic()
        await app.bot.send_message(OWNER, "slow")
        assert time.monotonic() - t0 >= 0.3
    finally:
        await app.shutdown()


async def test_token_never_logged(tg, caplog):
    # Known leaks in the libraries, which the bot must silence: httpx logs every URL (with the
    # token) at INFO; PTB's ExtBot logs "Set Bot API URL: .../bot<token>" at DEBUG.
    quiet = {"httpx": logging.WARNING, "httpcore": logging.WARNING, "telegram": logging.INFO}
    before = {n: logging.getLogger(n).level for n in quiet}
    caplog.set_level(logging.DEBUG)
    for name, level in quiet.items():
        logging.getLogger(name).setLevel(level)
    try:
        app = build_app(tg)
        await app.initialize()
        await app.bot.send_message(OWNER, "hi")
        tg.inject("sendMessage", "http500")
        with pytest.raises(NetworkError):
            await app.bot.send_message(OWNER, "boom")
        await app.shutdown()
    finally:
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)
    secret = tg.token.split(":", 1)[1]
    assert "fault http500 on sendMessage" in caplog.text
    assert secret not in caplog.text
    assert all(secret not in p for _, p in tg.requests)
    assert all(secret not in str(c) for c in tg.calls)


# tdlib's own parser tests (td/test/message_entities.cpp), as the Bot API sees them
@pytest.mark.parametrize("mode,src,text,ents", [
    ("HTML", "🏟 🏟<i>🏟 &lt🏟</i>", "🏟 🏟🏟 <🏟", [("italic", 5, 6)]),
    ("HTML", "🏟 🏟<i>🏟 &gt;<b aba   =   caba>&lt🏟</b></i>", "🏟 🏟🏟 ><🏟", [("italic", 5, 7), ("bold", 9, 3)]),
    ("HTML", "&ge;&lt;&gt;&amp;&quot;&laquo;&raquo;&#12345678;", '&ge;<>&"&laquo;&raquo;&#12345678;', []),
    ("HTML", "<a href=telegram.org>x</a>", "x", [("text_link", 0, 1, "http://telegram.org/")]),
    ("HTML", "🏟 🏟&lt;<pre><code class=\"language-fift\">🏟 🏟&lt;</></>", "🏟 🏟<🏟 🏟<", [("pre", 6, 6, "fift")]),
    ("HTML", "<tg-spoiler>s</tg-spoiler> <u>u</u>", "s u", [("spoiler", 0, 1), ("underline", 2, 1)]),
    ("MarkdownV2", "🏟 \\.🏟_🏟\\. 🏟_", "🏟 .🏟🏟. 🏟", [("italic", 6, 6)]),
    ("MarkdownV2", "🏟 🏟__🏟 _🏟_ __", "🏟 🏟🏟 🏟", [("underline", 5, 5), ("italic", 8, 2)]),  # trimmed
    ("MarkdownV2", "||test||", "test", [("spoiler", 0, 4)]),
    ("MarkdownV2", "[telegram\\.org](https://telegram.dog?)", "telegram.org",
     [("text_link", 0, 12, "https://telegram.dog/?")]),
    ("MarkdownV2", "*P&L* `+1,234 KRW`", "P&L +1,234 KRW", [("bold", 0, 3), ("code", 4, 10)]),
    ("Markdown", "*bold* _it_ `c` [x](t.me)", "bold it c x",
     [("bold", 0, 4), ("italic", 5, 2), ("code", 8, 1), ("text_link", 10, 1, "http://t.me/")]),
])
def test_parse_like_tdlib(mode, src, text, ents):
    got_text, got = parse_entities(src, mode)
    assert got_text == text.strip()
    want = []
    for e in ents:
        d = {"type": e[0], "offset": e[1], "length": e[2]}
        if e[0] == "text_link":
            d["url"] = e[3]
        elif e[0] == "pre" and len(e) > 3:
            d["language"] = e[3]
        want.append(d)
    assert got == want


@pytest.mark.parametrize("mode,src,error", [
    ("HTML", "🏟 🏟&lt;<abacaba", "Unclosed start tag at byte offset 13"),
    ("HTML", "🏟 🏟&lt;<abac aba>", 'Unsupported start tag "abac" at byte offset 13'),
    ("HTML", "🏟 🏟&lt;<i   =aba>", 'Empty attribute name in the tag "i" at byte offset 13'),
    ("HTML", "🏟 🏟&lt;<i    aba>", 'Can\'t find end tag corresponding to start tag "i"'),
    ("HTML", "🏟 🏟&lt;<i    aba  =  190azAz-.,", "Unexpected end of name token at byte offset 27"),
    ("HTML", "🏟 🏟&lt;<b></b></", "Unexpected end tag at byte offset 20"),
    ("HTML", "🏟 🏟&lt;<i>a</em   >", 'Unmatched end tag at byte offset 17, expected "</i>", found "</em>"'),
    ("HTML", "&#57311;", "Text contains invalid Unicode characters after decoding HTML entities"),
    ("MarkdownV2", "🏟 🏟_abacaba", "Can't find end of Italic entity at byte offset 9"),
    ("MarkdownV2", "🏟 🏟_abac * asd ", "Can't find end of Bold entity at byte offset 15"),
    ("MarkdownV2", "🏟 🏟```a ", "Can't find end of PreCode entity at byte offset 9"),
    ("MarkdownV2", "🏟 🏟||test\\|", "Can't find end of Spoiler entity at byte offset 9"),
    ("MarkdownV2", "[telegram\\.org](asd", "Can't find end of a URL at byte offset 16"),
    ("MarkdownV2", "premium -1.5%", "Character '-' is reserved and must be escaped with the preceding '\\'"),
    ("Markdown", "a *b", "Can't find end of the entity starting at byte offset 2"),
])
def test_markup_errors_like_tdlib(mode, src, error):
    from fakes.telegram import TgError

    with pytest.raises(TgError) as exc:
        parse_entities(src, mode)
    assert exc.value.code == 400
    assert exc.value.description.startswith("Bad Request: can't parse entities: " + error)
