"""Issue #11 §7 over the fake Discord: a signal the webhook posted is edited once it is answered
(Execute or Skip, pressed in Telegram) and once it expires; the core says which signal by ``key``."""

from __future__ import annotations

from .conftest import OWNER, wait_until


async def _webhook_signal(rig):
    """A real signal: its Telegram message (with buttons) and the webhook's post of it."""
    assert await wait_until(lambda: rig.bot.market.signals_allowed("BTC"))
    n, nw = len(rig.tg.sent), len(rig.dc.webhook_posts)
    rig.sim.market.set_premium("BTC", rig.sim.market.premium("BTC") - 3.0)
    tmsg = await rig.tg.wait_for(lambda r: r["method"] == "sendMessage" and (r.get("text") or "").startswith("🔔"),
                                 since=n, timeout=10)
    post = await rig.dc.wait_for(lambda p: bool(p["embeds"]) and p["embeds"][0]["title"].endswith("enter signal"),
                                 since=nw, timeout=10)
    buttons = dict((t.split()[-1], d) for t, d in rig.tg.buttons(tmsg["message_id"], chat_id=OWNER))
    return tmsg, post, buttons


def _embed_now(rig, post) -> dict:
    return rig.dc.messages[post["message_id"]]["embeds"][0]


async def test_webhook_signal_edited_after_skip(rig):
    tmsg, post, b = await _webhook_signal(rig)
    assert "How to answer" in {f["name"] for f in post["embeds"][0]["fields"]}
    rig.tg.press_button(OWNER, OWNER, tmsg["message_id"], b["Skip"])
    assert await wait_until(lambda: "skipped" in (_embed_now(rig, post).get("description") or ""), timeout=10)
    emb = _embed_now(rig, post)
    assert "telegram:42" in emb["description"] and "How to answer" not in {f["name"] for f in emb.get("fields") or []}
    assert any(e["message_id"] == post["message_id"] for e in rig.dc.webhook_edits)


async def test_webhook_signal_edited_after_execute(rig):
    tmsg, post, b = await _webhook_signal(rig)
    nw = len(rig.dc.webhook_posts)
    rig.tg.press_button(OWNER, OWNER, tmsg["message_id"], b["Execute"])
    assert await wait_until(lambda: _embed_now(rig, post)["title"] == "BTC long premium enter filled", timeout=15)
    assert await wait_until(lambda: "answered by telegram:42" in _embed_now(rig, post)["description"], timeout=5)
    emb = _embed_now(rig, post)
    assert "Upbit buy ✔" in emb["description"] and "Binance sell ✔" in emb["description"]
    await rig.bot.bus.drain()
    # the trade's fills went into the signal's own message, not into new posts
    assert not [p for p in rig.dc.webhook_posts[nw:] if p["embeds"] and "BTC" in p["embeds"][0]["title"]
                and ("filled" in p["embeds"][0]["title"] or "executing" in p["embeds"][0]["title"])]


async def test_webhook_signal_edited_after_it_expires(quick_expiry_rig):
    rig = quick_expiry_rig
    _tmsg, post, _b = await _webhook_signal(rig)
    assert await wait_until(lambda: "Expired: nothing sent" in (_embed_now(rig, post).get("description") or ""),
                            timeout=10)
    assert _embed_now(rig, post)["color"] == 0x95A5A6


SUPPRESS_NOTIFICATIONS = 1 << 12   # Discord message flag: no push / desktop notification


async def test_discord_routine_is_silent_and_alerts_ring(rig, log_records):
    """Webhook and bot channel: routine posts carry SUPPRESS_NOTIFICATIONS, alerts do not."""
    from kimpbot.events import Event

    from .test_discord_delivery import scan_bot, start_front

    front = await start_front(rig, post_alerts=True)
    try:
        dc, bus = rig.dc, rig.bot.bus
        nw, nc = len(dc.webhook_posts), len(dc.channel_messages)
        bus.publish(Event("funding", "BTC funding booked: -120 KRW", "info", {"symbol": "BTC"}))
        bus.publish(Event("halt", "HALTED: test. New entries stop; /resume lifts it.", "critical",
                          {"reason": "test", "by": "test"}))
        await dc.wait_for(lambda p: p["embeds"][0]["title"] == "Halted", since=nw)
        await dc.wait_for_message(lambda r: bool(r["embeds"]) and r["embeds"][0]["title"] == "Halted", since=nc)
        for posts in (dc.webhook_posts[nw:], dc.channel_messages[nc:]):
            by = {p["embeds"][0]["title"]: p for p in posts if p["embeds"]}
            assert int(by["BTC funding"]["flags"] or 0) & SUPPRESS_NOTIFICATIONS
            assert not int(by["Halted"]["flags"] or 0) & SUPPRESS_NOTIFICATIONS
    finally:
        await rig.bot.bus.drain()
        await front.stop()
        scan_bot(rig.dc, rig.secrets() + [rig.dc.bot_token], log_records)
