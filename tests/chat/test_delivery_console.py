"""Delivery survives chat API failures (retried, trading never waits), and the console front end
runs the same commands through the core."""

from __future__ import annotations

import time

from kimpbot.control.console import Console
from kimpbot.events import Event

from .conftest import OWNER, wait_until


async def test_chat_api_failures_are_retried_and_never_block_the_bus(rig):
    tg, dc, bot = rig.tg, rig.dc, rig.bot
    tg.inject("sendMessage", "http500", count=2)
    tg.inject("sendMessage", "http502", count=1)
    dc.inject("execute", "http500", count=2)
    t0 = time.monotonic()
    bot.bus.publish(Event("exposure", "UNHEDGED BTC: upbit buy 0.01 unhedged (trade T1); new entries halted",
                          "critical", {"symbol": "BTC", "exposure": ["BTC upbit buy 0.01 unhedged"]}))
    assert time.monotonic() - t0 < 0.05  # publishing never waits on a chat
    rec = await tg.wait_for(lambda r: r["method"] == "sendMessage" and "UNHEDGED" in (r.get("text") or ""),
                            timeout=10)
    assert rec["chat_id"] == OWNER and rec["text"].startswith("🚨")
    assert len([e for e in tg.errors if e.get("method", "").lower() == "sendmessage"]) >= 3
    assert await wait_until(lambda: any(p["embeds"] and "UNHEDGED" in p["embeds"][0]["title"]
                                        for p in dc.webhook_posts), timeout=10)
    emb = next(p["embeds"][0] for p in dc.webhook_posts if "UNHEDGED" in p["embeds"][0]["title"])
    assert emb["color"] == 0xE74C3C
    # a 429 flood reply is queued and retried by the rate limiter, not dropped
    tg.inject("sendMessage", "http429", count=1, retry_after=1)
    bot.bus.publish(Event("error", "test error after a flood limit", "warning"))
    await tg.wait_for(lambda r: "test error after a flood limit" in (r.get("text") or ""), timeout=10)


async def test_critical_alert_outlasts_a_long_outage_others_give_up(rig, log_records):
    tg, bot, front = rig.tg, rig.bot, rig.front
    front.max_delay_s = 0.1  # the real cap is 30 s between tries
    tg.inject("sendMessage", "http500", count=1000)  # Telegram is down
    bot.bus.publish(Event("error", "ordinary warning during the outage", "warning"))
    await bot.bus.drain()
    tg.clear_faults()
    assert not [r for r in tg.sent if "ordinary warning" in (r.get("text") or "")]
    assert any("not delivered after 6 attempts" in r.getMessage() for r in log_records)
    tg.inject("sendMessage", "http502", count=12)
    bot.bus.publish(Event("exposure", "UNHEDGED ETH: binance sell 0.1 unhedged; new entries halted", "critical"))
    rec = await tg.wait_for(lambda r: "UNHEDGED ETH" in (r.get("text") or ""), timeout=15)
    assert rec["text"].startswith("🚨")


async def test_console_runs_the_core_commands(rig):
    out: list[str] = []
    con = Console(rig.bot, write=out.append)
    assert await wait_until(lambda: rig.bot.market.views["BTC"].snapshot is not None)
    assert "PAPER · confirm\n▶️ running" in await con.handle("status")
    assert "paused" in await con.handle("/stop")
    assert not rig.bot.trader.running
    assert "allowed" in await con.handle("/start")
    assert "No open positions" in await con.handle("/positions")
    assert "HALTED" in await con.handle("/halt")
    assert "No open positions to close" in await con.handle("/closeall")
    assert "Halt lifted" in await con.handle("/resume")
    assert "stopping" in await con.handle("/quit") and con.quit.is_set()
    assert any(a["by"] == "console" for a in rig.bot.store.audit_log(limit=20))
