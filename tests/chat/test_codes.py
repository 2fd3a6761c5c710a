"""A button acts only on the message it was put on, for the action it was issued for, and a
destructive confirmation only for the user who asked for it. Presses are forged the way a modified
client can send them (any callback data on any of the bot's messages): over the REAL
python-telegram-bot against the fake Bot API, and for Discord through the front's press handler
with a stand-in Interaction (the gateway is not faked), as in the other Discord tests."""

from __future__ import annotations

from .conftest import GROUP, OWNER, wait_until
from .test_discord_bot import D_OWNER, FakeInteraction
from .test_discord_delivery import PressOn, ids_of, posted, real_signal, start_front

OWNER2 = 43            # a second allowed user (a partner in the owner's group)
D_OWNER2 = 111111111111111112


async def _signal(rig, chat=OWNER):
    m = rig.bot.market
    assert await wait_until(lambda: m.signals_allowed("BTC"))
    since = len(rig.tg.sent)
    rig.sim.market.set_premium("BTC", rig.sim.market.premium("BTC") - 3.0)
    rec = await rig.tg.wait_for(lambda r: r["method"] == "sendMessage" and r["chat_id"] == chat
                                and (r.get("text") or "").startswith("🔔"), since=since, timeout=8)
    return rec, {t.split()[-1]: d for t, d in rig.tg.buttons(rec["message_id"], chat_id=chat)}


async def _forge(rig, msg, data, *, user=OWNER, chat=OWNER) -> dict:
    """Press ``data`` on ``msg`` whether or not it is one of its buttons; the press's answer."""
    n = len(rig.tg.sent)
    rig.tg.press_button(chat, user, msg["message_id"], data, forged=True)
    return await rig.tg.wait_for(lambda r: r["method"] == "answerCallbackQuery", since=n, timeout=10)


def _audit(rig, action):
    return [a for a in rig.bot.store.audit_log(limit=200) if a["action"] == action]


async def test_a_set_code_acts_only_on_its_message_and_for_its_action(rig):
    tg, bot, sf = rig.tg, rig.bot, rig.bot.settings.strategy_file
    sig, sb = await _signal(rig)
    pid = sb["Execute"][2:]
    r = await rig.command("/set zscore.exit_z 0.7")
    apply = dict(tg.buttons(r["message_id"], chat_id=OWNER))["Apply"]
    assert apply.startswith("cy:")
    before = sf.read_text()

    # the issue: the /set's Apply pressed on the signal message
    ans = await _forge(rig, sig, apply)
    assert ans["text"].startswith("⛔ Nothing done") and ans["show_alert"]
    assert sf.read_text() == before and bot.strategy.params.exit_z == 0.5
    # the signal's Execute pressed on the /set message: nothing executed
    ans = await _forge(rig, r, sb["Execute"])
    assert ans["text"].startswith("⛔ Nothing done")
    assert bot.trader.state.pending[pid].state == "pending" and bot.store.trades() == []
    # the /set's code used for another action on its own message (as Execute, as Close-all, as a finding)
    code = apply[3:]
    for other in (f"x:{code}", f"s:{code}", f"ra:{code}", "ca"):
        ans = await _forge(rig, r, other)
        assert ans["text"].startswith("⛔ Nothing done"), other
    assert sf.read_text() == before and bot.trader.state.pending[pid].state == "pending"
    # nothing edited, nothing sent, every refusal audited
    refused = _audit(rig, "button_refused")
    assert len(refused) == 6 and {a["details"]["data"] for a in refused} >= {apply, sb["Execute"], f"x:{code}"}
    assert not [x for x in tg.errors if x["method"] == "editMessageText"]

    # each code still works where it belongs
    n = len(tg.sent)
    tg.press_button(OWNER, OWNER, r["message_id"], apply)
    ans = await tg.wait_for(lambda x: x["method"] == "answerCallbackQuery", since=n, timeout=10)
    assert ans["text"] == "Applied" and bot.strategy.params.exit_z == 0.7
    n = len(tg.sent)
    tg.press_button(OWNER, OWNER, sig["message_id"], sb["Execute"])
    ans = await tg.wait_for(lambda x: x["method"] == "answerCallbackQuery", since=n, timeout=10)
    assert "filled" in ans["text"] and len(bot.trader.positions()) == 1


async def test_a_destructive_confirmation_answers_only_the_user_who_asked(rig):
    tg, bot, sf = rig.tg, rig.bot, rig.bot.settings.strategy_file
    rig.core.allowed["telegram"] = frozenset({OWNER, OWNER2})
    sig, sb = await _signal(rig)
    n = len(tg.sent)
    tg.press_button(OWNER, OWNER, sig["message_id"], sb["Execute"])
    await tg.wait_for(lambda x: "enter filled" in (x.get("text") or ""), since=n, timeout=10)
    assert len(bot.trader.positions()) == 1

    # in the group both may command; the owner asks to close all
    c = await rig.command("/closeall", chat=GROUP, chat_type="supergroup")
    yes = next(d for t, d in tg.buttons(c["message_id"], chat_id=GROUP) if t.startswith("Yes"))
    # the partner cannot answer the owner's confirmation (nor cancel it), and so nothing is closed
    for data in (yes, "cn:" + yes[3:]):
        ans = await _forge(rig, c, data, user=OWNER2, chat=GROUP)
        assert ans["text"].startswith("⛔ Nothing done") and "only telegram:42" in ans["text"], ans["text"]
    assert len(bot.trader.positions()) == 1
    # the partner's /set: the owner cannot apply it either
    s = await rig.command("/set zscore.exit_z 0.8", user=OWNER2, chat=GROUP, chat_type="supergroup")
    apply = dict(tg.buttons(s["message_id"], chat_id=GROUP))["Apply"]
    before = sf.read_text()
    ans = await _forge(rig, s, apply, user=OWNER, chat=GROUP)
    assert "only telegram:43" in ans["text"] and sf.read_text() == before
    assert [a["by"] for a in _audit(rig, "button_refused")] == ["telegram:42", "telegram:43", "telegram:43"]

    # the owner's own confirmation works, once
    n = len(tg.sent)
    tg.press_button(GROUP, OWNER, c["message_id"], yes)
    edit = await tg.wait_for(lambda x: x["method"] == "editMessageText" and x["message_id"] == c["message_id"],
                             since=n, timeout=10)
    assert "Open positions left: 0" in edit["text"] and bot.trader.positions() == []
    n = len(tg.sent)
    tg.press_button(GROUP, OWNER2, s["message_id"], apply)
    ans = await tg.wait_for(lambda x: x["method"] == "answerCallbackQuery", since=n, timeout=10)
    assert ans["text"] == "Applied" and "set from chat by telegram:43" in sf.read_text()


async def test_discord_codes_bound_to_message_action_and_user(rig, log_records):
    dc, bot, sf = rig.dc, rig.bot, rig.bot.settings.strategy_file
    front = await start_front(rig)
    try:
        rig.core.allowed["discord"] = frozenset({D_OWNER, D_OWNER2})
        sig = await real_signal(rig)
        await posted(front, sig)
        ex = ids_of(sig)[0]
        pid = ex[2:]
        # the owner's /set, answered in the same channel
        it = FakeInteraction(D_OWNER)
        it.channel_id = int(dc.channel_id)
        await front.on_slash(it, "set", "zscore.exit_z 0.7")
        view, set_msg = it.log[0][2]["view"], it.response.message_id
        apply = next(b.custom_id for b in view.children if b.label == "Apply")
        before = sf.read_text()

        async def press(data, msg, user=D_OWNER):
            p = PressOn(user, msg)
            await front.on_button(p, data)
            return p.log[-1]

        # Apply pressed on the signal message; Execute pressed on the /set message; the /set's code as Execute
        for data, msg in ((apply, sig["message_id"]), (ex, set_msg), (f"x:{apply[3:]}", set_msg),
                          (f"ri:{apply[3:]}", sig["message_id"])):
            kind, content, kw = await press(data, msg)
            assert kind == "send" and content.startswith("⛔ Nothing done") and kw["ephemeral"], (data, content)
        assert sf.read_text() == before and bot.trader.state.pending[pid].state == "pending"
        assert bot.store.trades() == []
        # another allowed user cannot answer the owner's confirmation
        kind, content, kw = await press(apply, set_msg, user=D_OWNER2)
        assert "only discord:111111111111111111" in content and kw["ephemeral"] and sf.read_text() == before
        assert len(_audit(rig, "button_refused")) == 5
        # where they belong, by whom they belong to, they act
        kind, content, kw = await press(apply, set_msg)
        assert kind == "edit" and "written by discord:111111111111111111" in content
        assert bot.strategy.params.exit_z == 0.7
        kind, content, kw = await press(ex, sig["message_id"], user=D_OWNER2)   # a signal: any allowed user
        assert "filled" in content and len(bot.trader.positions()) == 1
    finally:
        await bot.bus.drain()
        await front.stop()
