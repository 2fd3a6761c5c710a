"""The Discord bot front end's handlers, called directly (no gateway fake) over the real command
core and Bot: slash commands, buttons, and the per-user check on both."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import discord

from kimpbot.control.discord_bot import SLASH, CoreView, DiscordFront

from .conftest import wait_until

D_OWNER = 111111111111111111
D_INTRUDER = 999999999999999999
CHANNEL = 222222222222222222
_message_ids = itertools.count(333333333333333001)


class FakeResponse:
    def __init__(self, log: list) -> None:
        self.log = log
        self.done = False
        self.message_id: int | None = None

    def is_done(self) -> bool:
        return self.done

    async def send_message(self, content=None, **kw):
        self.done = True
        self.message_id = next(_message_ids)
        self.log.append(("send", content, kw))
        # discord.py >= 2.5 answers with an InteractionCallbackResponse carrying the new message's id
        return SimpleNamespace(message_id=self.message_id)

    async def edit_message(self, **kw):
        self.done = True
        self.log.append(("edit", kw.get("content"), kw))

    async def defer(self, **kw):
        self.done = True
        self.log.append(("defer", None, kw))


class FakeInteraction:
    """A stand-in ``discord.Interaction``: a slash command, or (``message_id``) a press on a message."""

    def __init__(self, user_id: int, message_id: int | None = None) -> None:
        self.user = SimpleNamespace(id=user_id)
        self.channel_id = CHANNEL
        self.message = SimpleNamespace(id=int(message_id)) if message_id is not None else None
        self.log: list = []
        self.response = FakeResponse(self.log)
        self.followup_ids: list[int] = []

        async def followup_send(content=None, **kw):
            self.followup_ids.append(next(_message_ids))
            self.log.append(("followup", content, kw))
            return SimpleNamespace(id=self.followup_ids[-1])   # a WebhookMessage (wait=True)

        async def edit_original(**kw):
            self.log.append(("edit_original", kw.get("content"), kw))

        self.followup = SimpleNamespace(send=followup_send)
        self.edit_original_response = edit_original


def _buttons(view: CoreView) -> list[tuple[str, str]]:
    return [(b.label, b.custom_id) for b in view.children if isinstance(b, discord.ui.Button)]


async def test_slash_commands_registered_and_answered_per_user(rig, log_records):
    rig.core.allowed["discord"] = frozenset({D_OWNER})
    front = DiscordFront(rig.bot, rig.core, token="unused")
    client = front.build()
    names = {c.name for c in client.tree.get_commands()}
    assert names == set(SLASH)
    assert await wait_until(lambda: rig.bot.market.views["BTC"].snapshot is not None)

    it = FakeInteraction(D_OWNER)
    await front.on_slash(it, "status")
    kind, content, kw = it.log[0]
    assert kind == "send" and content.startswith("```") and "PAPER · confirm\n▶️ running" in content
    assert kw["ephemeral"] is False

    bad = FakeInteraction(D_INTRUDER)
    await front.on_slash(bad, "halt")
    kind, content, kw = bad.log[0]
    assert "Not authorized" in content and kw["ephemeral"] is True
    assert not rig.bot.trader.risk.halted
    assert any(f"unauthorized discord user id {D_INTRUDER}" in r.getMessage() for r in log_records)

    it = FakeInteraction(D_OWNER)
    await front.on_slash(it, "chart", "ETH")
    kind, content, kw = it.log[0]
    assert isinstance(kw.get("file"), discord.File) and content.startswith("📈 ETH premium")


async def test_buttons_go_through_the_core_with_the_pressers_id(rig):
    rig.core.allowed["discord"] = frozenset({D_OWNER})
    front = DiscordFront(rig.bot, rig.core, token="unused")
    m = rig.bot.market
    assert await wait_until(lambda: m.signals_allowed("BTC"))
    rig.sim.market.set_premium("BTC", rig.sim.market.premium("BTC") - 3.0)
    assert await wait_until(lambda: any(p.state == "pending" for p in rig.bot.trader.state.pending.values()),
                            timeout=8)
    it = FakeInteraction(D_OWNER)
    await front.on_slash(it, "pending")
    _k, content, kw = it.log[0]
    view, msg = kw["view"], it.response.message_id
    (ex_label, ex_id), (_sk_label, _sk_id) = _buttons(view)
    assert "Execute" in ex_label and ex_id.startswith("x:")

    # the intruder's press: refused, ephemeral, nothing executed
    bad = FakeInteraction(D_INTRUDER, msg)
    await view.children[0].callback(bad)
    assert bad.log[0][0] == "send" and "Not authorized" in bad.log[0][1] and bad.log[0][2]["ephemeral"]
    assert rig.bot.store.trades() == []

    # the owner's press executes and edits the message
    ok = FakeInteraction(D_OWNER, msg)
    await view.children[0].callback(ok)
    kind, content, kw = ok.log[-1]
    assert kind in ("edit", "edit_original") and "filled" in content and kw["view"] is None
    assert len(rig.bot.trader.positions()) == 1
    again = FakeInteraction(D_OWNER, msg)
    await view.children[0].callback(again)
    assert again.log[0][1].startswith("Already") and again.log[0][2]["ephemeral"]

    # /halt offers close-all; the offer asks for a second confirmation, then closes
    it = FakeInteraction(D_OWNER)
    await front.on_slash(it, "halt")
    _k, content, kw = it.log[0]
    assert "HALTED" in content
    offer = kw["view"]
    it2 = FakeInteraction(D_OWNER, it.response.message_id)
    await offer.children[0].callback(it2)
    _k, content, kw = it2.log[0]
    assert "cannot be undone" in content
    yes_btn = next(b for b in kw["view"].children if b.label.startswith("Yes"))
    assert len(rig.bot.trader.positions()) == 1
    it3 = FakeInteraction(D_OWNER, it2.response.message_id)
    await yes_btn.callback(it3)
    assert "Open positions left: 0" in it3.log[-1][1]
    assert rig.bot.trader.positions() == []


async def test_without_a_channel_the_bot_only_answers_commands(rig):
    front = DiscordFront(rig.bot, rig.core, token="unused", channel_id="")
    assert front.channel_id is None and not front.attach()
    assert not front.wants("signal") and not front.wants("error")
    with_channel = DiscordFront(rig.bot, rig.core, token="unused", channel_id=str(CHANNEL))
    assert with_channel.wants("signal") and with_channel.wants("reconcile") and not with_channel.wants("fill")
    alerts_too = DiscordFront(rig.bot, rig.core, token="unused", channel_id=CHANNEL, post_alerts=True)
    assert alerts_too.wants("fill") and alerts_too.channel_id == CHANNEL
