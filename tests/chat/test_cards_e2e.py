"""Issue #11 §3 end to end over the fake Telegram with the real python-telegram-bot: one trade is one
card message edited in place; routine is silent, alerts ring; /notify per kind, kept across a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from kimpbot.events import Event
from fakes.discord import FakeDiscord
from fakes.telegram import FakeTelegram

from .conftest import OWNER, STRATEGY, ChatRig, close_rig, make_rig, running, wait_until

LIVE = STRATEGY + """[risk]
live_canary_max_krw = 50_000_000
[execution]
order_timeout_s = 1.0
"""


async def cards_rig(sim, tmp_path: Path, strategy: str, env_extra: dict[str, str], tg: FakeTelegram | None = None,
                    dc: FakeDiscord | None = None) -> ChatRig:
    """conftest.make_rig in auto trading (``env_extra`` may say live), reusing running fakes."""
    return await make_rig(sim, tmp_path, strategy, env_extra={"KIMPBOT_TRADE_MODE": "auto"} | env_extra, tg=tg, dc=dc)


def _card_msgs(tg, since: int, word: str) -> list[dict]:
    return [r for r in tg.sent[since:] if r["method"] == "sendMessage" and word in (r.get("text") or "")]


def _edits(tg, since: int, message_id: int) -> list[dict]:
    return [r for r in tg.sent[since:] if r["method"] == "editMessageText" and r["message_id"] == message_id]


@pytest.fixture
async def auto_rig(sim, tmp_path, log_records):
    async with running(cards_rig(sim, tmp_path, STRATEGY, {}), log_records) as r:
        yield r


async def test_auto_entry_is_one_card_edited_in_place(auto_rig):
    rig = auto_rig
    tg, bot, sim = rig.tg, rig.bot, rig.sim
    assert await wait_until(lambda: bot.market.signals_allowed("BTC"))
    n = len(tg.sent)
    sim.market.set_premium("BTC", sim.market.premium("BTC") - 3.0)
    assert await wait_until(lambda: any(t.get("action") == "enter" and t.get("status") == "filled"
                                        for t in bot.store.trades()), timeout=15)
    done = await tg.wait_for(lambda r: r["method"] in ("sendMessage", "editMessageText")
                             and "enter filled" in (r.get("text") or ""), since=n, timeout=10)
    await bot.bus.drain()
    trade_msgs = [r for r in tg.sent[n:] if r["method"] == "sendMessage" and "BTC" in (r.get("text") or "")]
    assert len(trade_msgs) == 1, [r["text"] for r in trade_msgs]   # one message for the whole trade
    card = trade_msgs[0]
    assert done["message_id"] == card["message_id"]
    edits = _edits(tg, n, card["message_id"])
    assert edits, "the card is edited as the trade goes"
    sends = [r for r in tg.sent[n:] if r["method"] == "sendMessage"]
    print(f"\nauto entry: {len(sends)} sendMessage, {len(edits)} editMessageText")
    final = edits[-1]["text"]
    print(final)
    assert final.startswith("✅ BTC long premium enter filled")
    assert "Upbit buy ✔" in final and "Binance sell ✔" in final
    assert "net " in final and " KRW" in final and "fee " in final
    assert card["raw_text"].startswith("<pre>") and card["disable_notification"] is True   # routine: silent


async def test_alerts_ring_and_routine_is_silent(auto_rig):
    rig = auto_rig
    tg = rig.tg
    n = len(tg.sent)
    rig.bot.bus.publish(Event("funding", "BTC funding booked: -120 KRW", "info", {"symbol": "BTC"}))
    r = await rig.command("/halt")
    alert = await tg.wait_for(lambda x: x["method"] == "sendMessage" and not x.get("reply_to_message_id")
                              and (x.get("text") or "").startswith("🛑"), since=n)
    assert not alert["disable_notification"], "an alert rings"
    funding = await tg.wait_for(lambda x: (x.get("text") or "").startswith("💸"), since=n)
    assert funding["disable_notification"] is True, "routine is silent"
    assert "HALTED" in r["text"]


@pytest.fixture
async def live_rig(sim, tmp_path, log_records):
    async with running(cards_rig(sim, tmp_path, LIVE, {"KIMPBOT_MODE": "live"}), log_records) as r:
        yield r


async def test_rollback_is_one_card_ending_rolled_back_with_its_cost(live_rig):
    rig = live_rig
    tg, bot, sim = rig.tg, rig.bot, rig.sim
    assert bot.settings.live
    assert await wait_until(lambda: bot.market.signals_allowed("BTC"), timeout=20)
    coin0 = sim.market.upbit_balances.get("BTC", 0.0)
    sim.market.faults.inject("binance", "/fapi/v1/order", "reject", count=3)   # the perp leg is refused
    n = len(tg.sent)
    sim.market.set_premium("BTC", sim.market.premium("BTC") - 3.0)
    assert await wait_until(lambda: any(t.get("status") == "rolled_back" for t in bot.store.trades()), timeout=20)
    sim.market.faults.clear()
    card_msg = await tg.wait_for(lambda r: r["method"] == "editMessageText" and "rolled back" in r["text"]
                                 and "cost " in r["text"], since=n, timeout=10)
    await bot.bus.drain()
    posts = [r for r in tg.sent[n:] if r["method"] == "sendMessage"]
    cards = [r for r in posts if r["message_id"] == card_msg["message_id"]]
    assert len(cards) == 1, "the card was posted once"
    others = [r for r in posts if r is not cards[0] and "BTC" in (r.get("text") or "") and "enter" in r["text"]]
    # no leg, unwind or rollback messages beside it; only alerts of their own (the refusal halts
    # entries: a critical alert), and those ring
    alerts = [r for r in others if r["text"][:1] in "🛑🚨❌"]
    assert all(not r["disable_notification"] for r in alerts)
    # besides those, only the next signal's refusal while halted (not this trade's)
    assert all(r["text"].startswith("⛔") and "refused: halted" in r["text"] for r in others if r not in alerts), \
        [r["text"] for r in others]
    final = [r for r in tg.sent[n:] if r["method"] == "editMessageText"
             and r["message_id"] == card_msg["message_id"]][-1]["text"]
    print("\n" + final)
    assert final.startswith("↩️ BTC enter rolled back\ncost ") and " KRW" in final.split("\n")[1]
    assert "Upbit buy ✔" in final and "Binance sell ✖" in final and "↩ unwind Upbit sell" in final
    assert abs(sim.market.upbit_balances.get("BTC", 0.0) - coin0) < 1e-6   # flat again


async def test_notify_off_stops_a_kind_and_survives_a_restart(sim, tmp_path, log_records):
    rig = await cards_rig(sim, tmp_path, STRATEGY, {})
    try:
        r = await rig.command("/notify")
        assert "Notifications per kind" in r["text"] and "alerts" in r["text"]
        labels = [t for t, _d in rig.tg.buttons(r["message_id"], chat_id=OWNER)]
        assert any("off" in t for t in labels) and not any(d == "n:trades:off" for _t, d in
                                                           rig.tg.buttons(r["message_id"], chat_id=OWNER))
        r = await rig.command("/notify alerts off")
        assert "cannot be changed" in r["text"]
        r = await rig.command("/notify trades off")
        assert "cannot be turned off" in r["text"]
        r = await rig.command("/notify funding off")
        assert "✅ funding: ✖ off" in r["text"]
        # a button of the list: silent for the data health messages, edited in place
        n = len(rig.tg.sent)
        rig.tg.press_button(OWNER, OWNER, r["message_id"], "n:market:silent")
        edit = await rig.tg.wait_for(lambda x: x["method"] == "editMessageText" and x["message_id"] == r["message_id"],
                                     since=n)
        assert "data and FX health 🔕 silent" in edit["text"]
        n = len(rig.tg.sent)
        rig.bot.bus.publish(Event("funding", "BTC funding booked: -120 KRW", "info", {"symbol": "BTC"}))
        rig.bot.bus.publish(Event("fx", "FX source switched to usdt", "info", {"source": "usdt", "rate": 1391.5}))
        fx = await rig.tg.wait_for(lambda x: (x.get("text") or "").startswith("💱"), since=n)
        assert fx["disable_notification"] is True
        await rig.bot.bus.drain()
        assert not [x for x in rig.tg.sent[n:] if (x.get("text") or "").startswith("💸")]
        assert await wait_until(lambda: not any(p["embeds"] and p["embeds"][0]["title"] == "BTC funding"
                                                for p in rig.dc.webhook_posts), timeout=1)
        tg, dc = rig.tg, rig.dc
        # restart: the same data directory and chat
        await rig.bot.bus.drain()
        await rig.front.stop()
        await rig.hook.stop()
        await rig.bot.stop()
    except BaseException:
        await close_rig(rig, log_records)
        raise
    async with running(cards_rig(sim, tmp_path, STRATEGY, {}, tg=tg, dc=dc), log_records) as rig:
        r = await rig.command("/notify")
        assert "funding ✖ off" in r["text"] and "data and FX health 🔕 silent" in r["text"]
        n, nw = len(rig.tg.sent), len(rig.dc.webhook_posts)
        rig.bot.bus.publish(Event("funding", "BTC funding booked: -99 KRW", "info", {"symbol": "BTC"}))
        rig.bot.bus.publish(Event("halt", "HALTED by test", "critical", {"reason": "test", "by": "test"}))
        await rig.tg.wait_for(lambda x: (x.get("text") or "").startswith("🛑"), since=n)
        await rig.bot.bus.drain()
        assert not [x for x in rig.tg.sent[n:] if (x.get("text") or "").startswith("💸")]
        assert not [p for p in rig.dc.webhook_posts[nw:] if p["embeds"] and p["embeds"][0]["title"] == "BTC funding"]


async def test_a_failed_edit_posts_the_new_state_and_not_modified_is_no_error(auto_rig):
    rig = auto_rig
    tg, bot, sim = rig.tg, rig.bot, rig.sim
    assert await wait_until(lambda: bot.market.signals_allowed("BTC"))
    tg.inject("editMessageText", "http500", count=50)     # every edit fails, past every retry
    n = len(tg.sent)
    sim.market.set_premium("BTC", sim.market.premium("BTC") - 3.0)
    # the end state is never lost: it comes as a new message when its edit cannot be made
    done = await tg.wait_for(lambda r: r["method"] == "sendMessage" and "enter filled" in (r.get("text") or ""),
                             since=n, timeout=20)
    tg.clear_faults()
    assert "Upbit buy ✔" in done["text"] and "Binance sell ✔" in done["text"]
    await bot.bus.drain()
    # the same state shown again: Telegram answers "message is not modified", which is no failure
    card = rig.front.cards.get(rig.front._card_at[(OWNER, done["message_id"])])
    m, e = len(tg.sent), len(tg.errors)
    assert await rig.front._show_card(card) is True
    assert not [r for r in tg.sent[m:] if r["method"] == "sendMessage"]
    assert any("not modified" in x["description"] for x in tg.errors[e:])
