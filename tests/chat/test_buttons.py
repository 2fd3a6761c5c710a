"""Authorization (private and group chats), expired and double-pressed buttons, the two-step
close-all behind /halt, /chart, and reconciliation's Adopt / Close / Ignore — over the real PTB."""

from __future__ import annotations

import asyncio

from .conftest import GROUP, INTRUDER, OWNER, wait_until


# Data-health and FX broadcasts wait behind the chat's rate limit and may go out at any moment (the
# other coins turning healthy after start): they are not answers to a button press.
BROADCASTS = ("📡", "💱")


def _sent_after(tg, n, methods):
    return [r for r in tg.sent[n:] if r["method"] in methods and not (r.get("text") or "").startswith(BROADCASTS)]


async def _signal(rig, since=0):
    m = rig.bot.market
    assert await wait_until(lambda: m.signals_allowed("BTC"))
    base = rig.sim.market.premium("BTC")
    rig.sim.market.set_premium("BTC", base - 3.0)
    rec = await rig.tg.wait_for(lambda r: r["method"] == "sendMessage" and (r.get("text") or "").startswith("🔔"),
                                since=since, timeout=8)
    buttons = dict((t.split()[-1], d) for t, d in rig.tg.buttons(rec["message_id"], chat_id=OWNER))
    return base, rec, buttons


async def test_unauthorized_users_refused_in_private_and_group(rig, log_records):
    tg = rig.tg
    r = await rig.command("/status", user=INTRUDER, chat=INTRUDER)
    assert "Not authorized" in r["text"] and str(INTRUDER) in r["text"]
    # a group where the owner added the bot: a member who is not allowed is refused there too, without
    # a word posted into the group (a refusal there would queue behind the group's rate limit)
    n = len(tg.sent)
    tg.send_command(GROUP, INTRUDER, "/halt", chat_type="supergroup")
    tg.send_command(GROUP, INTRUDER, "/stop", chat_type="supergroup")
    assert await wait_until(lambda: rig.core.gate.refused_total == 3)
    assert not rig.bot.trader.risk.halted and rig.bot.trader.running
    # ...while the owner commands from the same group
    r = await rig.command("/status", user=OWNER, chat=GROUP, chat_type="supergroup")
    assert "PAPER · confirm\n▶️ running" in r["text"] and "BTC" in r["text"]
    assert [x["text"][:20] for x in tg.sent[n:] if x["method"] == "sendMessage"] == [r["text"][:20]]
    # a second private attempt within the window is counted, not answered again
    tg.send_command(INTRUDER, INTRUDER, "/positions", username="intruder")
    assert await wait_until(lambda: rig.core.gate.refused_total == 4)
    lines = [x.getMessage() for x in log_records if x.name == "kimpbot.control.commands"]
    assert any("unauthorized telegram user id 666" in x and "/status" in x for x in lines)
    audit = [a for a in rig.bot.store.audit_log(limit=50) if a["action"].startswith("unauthorized")]
    assert [(a["action"], a["by"], a["details"]["count"]) for a in audit] == [("unauthorized", "telegram:666", 1)]
    rig.core.gate.flush(force=True)   # the window closes: the rest is one line with the count
    audit = [a for a in rig.bot.store.audit_log(limit=50) if a["action"].startswith("unauthorized")]
    assert [(a["action"], a["details"]["count"]) for a in audit] == [("unauthorized_repeated", 3), ("unauthorized", 1)]
    assert sorted(audit[0]["details"]["chats"]) == sorted([str(GROUP), str(INTRUDER)])
    assert sum("Not authorized" in (x.get("text") or "") for x in tg.sent if x["method"] == "sendMessage") == 1


async def test_double_press_executes_once_and_answers_already(rig):
    tg = rig.tg
    _base, rec, b = await _signal(rig)
    n = len(tg.sent)
    tg.press_button(OWNER, OWNER, rec["message_id"], b["Execute"])
    tg.press_button(OWNER, OWNER, rec["message_id"], b["Execute"])
    answers = []
    assert await wait_until(lambda: len([r for r in tg.sent[n:] if r["method"] == "answerCallbackQuery"]) == 2,
                            timeout=8)
    answers = [r["text"] for r in tg.sent[n:] if r["method"] == "answerCallbackQuery"]
    assert sum("filled" in a for a in answers) == 1
    assert sum(a.startswith("Already") for a in answers) == 1, answers
    await tg.wait_for(lambda r: "enter filled" in (r.get("text") or ""), since=n)
    await asyncio.sleep(0.3)
    (trade,) = [t for t in rig.bot.store.trades() if t["action"] == "enter"]
    assert trade["pending_id"] and b["Execute"].endswith(trade["pending_id"]), (trade, b)   # the card's link
    # a third press later (stale client) is answered and sends nothing
    n = len(tg.sent)
    tg.press_button(OWNER, OWNER, rec["message_id"], b["Skip"])
    ans = await tg.wait_for(lambda r: r["method"] == "answerCallbackQuery", since=n)
    assert ans["text"].startswith("Already done")
    await asyncio.sleep(0.3)
    assert not _sent_after(tg, n, ("sendMessage", "editMessageText"))


async def test_skip_then_execute_is_already_skipped(rig):
    tg = rig.tg
    _base, rec, b = await _signal(rig)
    n = len(tg.sent)
    tg.press_button(OWNER, OWNER, rec["message_id"], b["Skip"])
    ans = await tg.wait_for(lambda r: r["method"] == "answerCallbackQuery", since=n)
    assert ans["text"].startswith("Skipped. Not offered again until |z| is back inside the threshold")
    edit = await tg.wait_for(lambda r: r["method"] == "editMessageText", since=n)
    assert "skipped" in edit["text"]
    n = len(tg.sent)
    tg.press_button(OWNER, OWNER, rec["message_id"], b["Execute"])
    ans = await tg.wait_for(lambda r: r["method"] == "answerCallbackQuery", since=n)
    assert ans["text"] == "Already skipped"
    assert rig.bot.store.trades() == []


async def test_signal_expires_message_edited_and_late_press_sends_nothing(quick_expiry_rig):
    rig = quick_expiry_rig
    tg = rig.tg
    _base, rec, b = await _signal(rig)
    edit = await tg.wait_for(lambda r: r["method"] == "editMessageText" and r["message_id"] == rec["message_id"],
                             timeout=6)
    assert "Expired" in edit["text"]
    assert tg.buttons(rec["message_id"], chat_id=OWNER) == []  # the keyboard is gone
    n = len(tg.sent)
    tg.press_button(OWNER, OWNER, rec["message_id"], b["Execute"])  # a stale client still shows it
    ans = await tg.wait_for(lambda r: r["method"] == "answerCallbackQuery", since=n)
    assert ans["text"].startswith("Already expired")
    await asyncio.sleep(0.3)
    # the premium is still extreme: a NEW offer may follow the expiry at any time (only Skip stops
    # re-offers); it is no answer to the press
    assert not [r for r in _sent_after(tg, n, ("sendMessage",)) if not r["text"].startswith("🔔")]
    assert rig.bot.store.trades() == []


async def test_halt_offers_close_all_behind_a_second_confirmation(rig):
    tg, bot = rig.tg, rig.bot
    _base, rec, b = await _signal(rig)
    n = len(tg.sent)
    tg.press_button(OWNER, OWNER, rec["message_id"], b["Execute"])
    await tg.wait_for(lambda r: "enter filled" in (r.get("text") or ""), since=n)
    r = await rig.command("/halt")
    assert "HALTED" in r["text"] and "Close them all?" in r["text"]
    (label, data), = tg.buttons(r["message_id"], chat_id=OWNER)
    assert data == "ca" and "Close all 1" in label
    # step 1: the offer asks again; nothing is closed yet
    n = len(tg.sent)
    tg.press_button(OWNER, OWNER, r["message_id"], "ca")
    ask = await tg.wait_for(lambda x: x["method"] == "sendMessage" and "cannot be undone" in (x.get("text") or ""),
                            since=n)
    assert len(bot.trader.positions()) == 1
    yes = next(d for t, d in tg.buttons(ask["message_id"], chat_id=OWNER) if t.startswith("Yes"))
    # an intruder cannot press it
    n = len(tg.sent)
    tg.press_button(OWNER, INTRUDER, ask["message_id"], yes, username="intruder")
    ans = await tg.wait_for(lambda x: x["method"] == "answerCallbackQuery", since=n)
    assert "Not authorized" in ans["text"] and len(bot.trader.positions()) == 1
    # step 2: the owner confirms: closed at market, reported; a second press does nothing
    n = len(tg.sent)
    tg.press_button(OWNER, OWNER, ask["message_id"], yes)
    edit = await tg.wait_for(lambda x: x["method"] == "editMessageText" and x["message_id"] == ask["message_id"],
                             since=n, timeout=8)
    assert "BTC filled" in edit["text"] and "Open positions left: 0" in edit["text"]
    assert bot.trader.positions() == []
    await tg.wait_for(lambda x: "exit closed" in (x.get("text") or ""), since=n)
    n = len(tg.sent)
    tg.press_button(OWNER, OWNER, ask["message_id"], yes)
    ans = await tg.wait_for(lambda x: x["method"] == "answerCallbackQuery", since=n)
    assert ans["text"] == "Already answered"
    acts = [a["action"] for a in bot.store.audit_log(limit=50)]
    assert "close_all_requested" in acts and "close_all_confirmed" in acts
    # /resume lifts the halt
    r = await rig.command("/resume")
    assert "Halt lifted" in r["text"] and not bot.trader.risk.halted


async def test_chart_sends_a_png_and_other_commands_answer(rig):
    assert await wait_until(lambda: rig.bot.market.views["BTC"].snapshot is not None)
    r = await rig.command("/chart btc")
    assert r["method"] == "sendPhoto" and r["photo_bytes"][:8] == b"\x89PNG\r\n\x1a\n"
    assert r["caption"].startswith("📈 BTC premium · 1d")
    for cmd, want in (("/help", "/positions"), ("/params", "strategy file"), ("/balance", "Upbit:"),
                      ("/trades", "No trades yet"), ("/trades ²", "takes a number of trades"), ("/positions", "No open positions"), ("/pending", "No signals"),
                      ("/stop", "paused"), ("/start", "allowed"), ("/nonsense", "Unknown command"),
                      ("/chart DOGE", "DOGE: not traded here")):
        r = await rig.command(cmd)
        assert want in r["text"], (cmd, r["text"])


async def test_reconciliation_findings_get_adopt_close_ignore(rig):
    tg, bot = rig.tg, rig.bot
    from kimpbot.events import Event

    n = len(tg.sent)
    bot.bus.publish(Event("reconcile", "restart reconciliation:\n- unexpected Binance BTC position: exchange -0.01, "
                          "journal +0 (adopt, close or ignore)", "warning",
                          {"findings": ["unexpected Binance BTC position: exchange -0.01, journal +0 "
                                        "(adopt, close or ignore)"]}))
    rec = await tg.wait_for(lambda r: r["method"] == "sendMessage" and (r.get("text") or "").startswith("🔎 unexpected"),
                            since=n)
    labels = [t for t, _ in tg.buttons(rec["message_id"], chat_id=OWNER)]
    assert labels == ["Adopt", "Close", "Ignore"]
    close = next(d for t, d in tg.buttons(rec["message_id"], chat_id=OWNER) if t == "Close")
    n = len(tg.sent)
    tg.press_button(OWNER, OWNER, rec["message_id"], close)
    edit = await tg.wait_for(lambda r: r["method"] == "editMessageText", since=n)
    assert "closed by telegram:42" in edit["text"] and "by hand" in edit["text"]
    n = len(tg.sent)
    tg.press_button(OWNER, OWNER, rec["message_id"], close)
    ans = await tg.wait_for(lambda r: r["method"] == "answerCallbackQuery", since=n)
    assert ans["text"] == "Already closed"
    assert any(a["action"] == "reconcile_close" for a in bot.store.audit_log(limit=20))
