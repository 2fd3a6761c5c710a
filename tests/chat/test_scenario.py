"""The issue's end-to-end scenario over all fakes, through the REAL python-telegram-bot:
signal -> Execute -> both legs fill -> alerts on Telegram and the Discord webhook -> /positions ->
premium reverts -> exit reported -> /pnl shows the profit -> /halt stops further entries."""

from __future__ import annotations

import asyncio
import time

from .conftest import INTRUDER, OWNER, wait_until


def _texts(tg, since=0, method="sendMessage"):
    return [r.get("text") or "" for r in tg.sent[since:] if r["method"] == method]


async def _signal_message(rig, since=0, timeout=8.0):
    rec = await rig.tg.wait_for(lambda r: r["method"] == "sendMessage" and r["chat_id"] == OWNER
                                and (r.get("text") or "").startswith("🔔"), timeout=timeout, since=since)
    buttons = rig.tg.buttons(rec["message_id"], chat_id=OWNER)
    return rec, buttons


async def test_signal_execute_fill_alerts_positions_exit_pnl_halt(rig, log_records):
    tg, dc, sim, bot = rig.tg, rig.dc, rig.sim, rig.bot
    m = bot.market
    assert await wait_until(lambda: m.signals_allowed("BTC"))
    base = sim.market.premium("BTC")

    # 1. the premium drops far below its window: z <= -2, long premium (buy Upbit, short Binance)
    since = len(tg.sent)
    sim.market.set_premium("BTC", base - 3.0)
    rec, buttons = await _signal_message(rig, since)
    assert "long premium enter" in rec["text"]
    labels = [b[0] for b in buttons]
    assert any("Execute" in b for b in labels) and any("Skip" in b for b in labels)
    execute = next(d for t, d in buttons if "Execute" in t)
    assert execute.startswith("x:") and len(execute.encode()) <= 64
    pid = execute[2:]

    # an intruder's press is refused (alert + log line), the signal stays pending
    n = len(tg.sent)
    tg.press_button(OWNER, INTRUDER, rec["message_id"], execute, username="intruder")
    ans = await tg.wait_for(lambda r: r["method"] == "answerCallbackQuery", since=n)
    assert "Not authorized" in ans["text"] and ans["show_alert"]
    assert bot.trader.state.pending[pid].state == "pending"
    assert any(str(INTRUDER) in r.getMessage() and "unauthorized" in r.getMessage() for r in log_records)

    # 2. Execute: both legs fill
    n = len(tg.sent)
    tg.press_button(OWNER, OWNER, rec["message_id"], execute)
    ans = await tg.wait_for(lambda r: r["method"] == "answerCallbackQuery", since=n, timeout=8)
    assert "filled" in ans["text"], ans
    # one trade, one message: the signal's card is edited in place through the fills to "filled"
    edit = await tg.wait_for(lambda r: r["method"] == "editMessageText" and r["message_id"] == rec["message_id"]
                             and "enter filled" in r["text"], since=n)
    assert tg.buttons(rec["message_id"], chat_id=OWNER) == []
    assert "Upbit buy ✔" in edit["text"] and "Binance sell ✔" in edit["text"] and "fee " in edit["text"]
    assert not [t for t in _texts(tg, n) if "BTC" in t and ("buy" in t or "sell" in t)]   # no separate fills
    # ...and on the Discord webhook, as a card embed edited to its end state
    def webhook_card(word):
        return next((e for p in dc.webhook_posts for e in dc.messages[p["message_id"]]["embeds"]
                     if word in (e.get("title") or "")), None)
    assert await wait_until(lambda: webhook_card("enter filled") is not None, timeout=5)
    emb = webhook_card("enter filled")
    assert emb["title"] == "BTC long premium enter filled" and emb["color"] == 0x2ECC71
    assert "Upbit buy ✔" in emb["description"] and "Binance sell ✔" in emb["description"]
    assert "net " in emb["description"] and " KRW" in emb["description"]

    # 3. /positions shows the pair
    r = await rig.command("/positions")
    assert "BTC long premium" in r["text"] and "entry -" in r["text"] and "P&L" in r["text"]
    assert "funding in" in r["text"]
    assert len(bot.trader.positions()) == 1

    # 4. the premium reverts: the exit fills and is reported
    n = len(tg.sent)
    sim.market.set_premium("BTC", base)
    exit_msg = await tg.wait_for(lambda r: r["method"] in ("sendMessage", "editMessageText")
                                 and "exit closed" in (r.get("text") or ""), since=n, timeout=10)
    assert "realized +" in exit_msg["text"]
    assert len([r for r in tg.sent[n:] if r["method"] == "sendMessage" and "BTC exit" in (r.get("text") or "")]) == 1
    assert await wait_until(lambda: webhook_card("exit closed") is not None, timeout=5)
    assert "realized +" in webhook_card("exit closed")["description"]

    # 5. /pnl shows the profit
    r = await rig.command("/pnl")
    assert "today (KST): +" in r["text"] and "total: +" in r["text"] and "(1 closed)" in r["text"]
    total = rig.core.pnl_data()["total_krw"]
    assert total > 0

    # 6. /halt answers within a second and stops further entries while the premium crosses again
    t0 = time.monotonic()
    r = await rig.command("/halt", timeout=3)
    assert time.monotonic() - t0 < 1.5
    assert "HALTED" in r["text"]
    assert bot.trader.risk.halted and bot.store.halt_state().halted
    n = len(tg.sent)
    trades_before = len(bot.store.trades())
    sim.market.set_premium("BTC", base - 3.0)
    await asyncio.sleep(2.5)
    assert bot.trader.positions() == []
    assert len(bot.store.trades()) == trades_before
    assert not any("enter filled" in t for t in _texts(tg, n))
    # a signal offered while halted carries no Execute button; Execute via id is refused anyway
    for rec in [r for r in tg.sent[n:] if r["method"] == "sendMessage" and (r.get("text") or "").startswith("🔔")]:
        assert tg.buttons(rec["message_id"], chat_id=OWNER) == []
    # the halt reached Discord as well
    assert any(p["embeds"] and p["embeds"][0]["title"] == "Halted" for p in dc.webhook_posts)
    # everything that changed state is audited with the user id
    actions = {(a["action"], a["by"]) for a in bot.store.audit_log(limit=100)}
    assert ("confirm", f"telegram:{OWNER}") in actions and ("halt_command", f"telegram:{OWNER}") in actions
    assert ("unauthorized", f"telegram:{INTRUDER}") in actions
