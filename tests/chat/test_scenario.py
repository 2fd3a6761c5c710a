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
    edit = await tg.wait_for(lambda r: r["method"] == "editMessageText" and r["message_id"] == rec["message_id"],
                             since=n)
    assert "filled" in edit["text"] and tg.buttons(rec["message_id"], chat_id=OWNER) == []
    # fill alerts: each leg and the pair on Telegram...
    await tg.wait_for(lambda r: r["method"] == "sendMessage" and "enter filled" in (r.get("text") or ""), since=n)
    leg_alerts = [t for t in _texts(tg, n) if t.startswith("▫️") and "BTC" in t]
    assert any("Upbit buy" in t for t in leg_alerts) and any("Binance sell" in t for t in leg_alerts)
    # ...and on the Discord webhook, as an embed
    assert await wait_until(lambda: any(p["embeds"] and "enter filled" in p["embeds"][0]["title"]
                                        for p in dc.webhook_posts), timeout=5)
    emb = next(p["embeds"][0] for p in dc.webhook_posts if "enter filled" in p["embeds"][0]["title"])
    fields = {f["name"]: f["value"] for f in emb["fields"]}
    assert fields["Symbol"] == "BTC" and fields["Direction"] == "long premium"
    assert "KRW" in fields["Size"] and fields["Upbit leg"].startswith("filled")
    assert fields["Binance leg"].startswith("filled") and "target" in fields["Expected profit"]

    # 3. /positions shows the pair
    r = await rig.command("/positions")
    assert "BTC long premium" in r["text"] and "entry -" in r["text"] and "P&L" in r["text"]
    assert "funding in" in r["text"]
    assert len(bot.trader.positions()) == 1

    # 4. the premium reverts: the exit fills and is reported
    n = len(tg.sent)
    sim.market.set_premium("BTC", base)
    exit_msg = await tg.wait_for(lambda r: r["method"] == "sendMessage" and "exit closed" in (r.get("text") or ""),
                                 since=n, timeout=10)
    assert "realized +" in exit_msg["text"]
    assert await wait_until(lambda: any(p["embeds"] and p["embeds"][0]["title"] == "BTC exit"
                                        for p in dc.webhook_posts), timeout=5)
    emb = next(p["embeds"][0] for p in dc.webhook_posts if p["embeds"][0]["title"] == "BTC exit")
    assert any(f["name"] == "Realized" and f["value"].startswith("+") for f in emb["fields"])

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
