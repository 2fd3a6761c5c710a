"""The REAL discord.py bot (``DiscordFront``) over the fake Discord's gateway: it logs in (HELLO,
IDENTIFY, READY, heartbeats over a zlib-stream), receives slash commands and button presses as
INTERACTION_CREATE dispatches and answers them over REST (interaction callbacks, follow-ups), on
the real command core and Bot over the exchange sims."""

from __future__ import annotations

import pytest

from kimpbot.control.discord_bot import DiscordFront
from kimpbot.control.discord_http import get_discord_api_base

from .conftest import wait_until

D_OWNER = 111111111111111111
D_STRANGER = 999999999999999999


async def _front(rig) -> DiscordFront:
    """The Discord front as kimpbot/cli.py starts it (bot token + channel), on the rig's fake Discord."""
    dc = rig.dc
    dc.heartbeat_interval_ms = 150      # several heartbeats within a test
    rig.core.allowed["discord"] = frozenset({D_OWNER})
    front = DiscordFront(rig.bot, rig.core, token=dc.bot_token, channel_id=dc.channel_id, backoff_s=0.05)
    front.attach()
    await front.start()
    assert await wait_until(lambda: front.client is not None and front.client.is_ready(), timeout=15)
    return front


@pytest.fixture
async def front(rig):
    f = await _front(rig)
    try:
        yield f
    finally:
        await f.stop()


async def test_bot_logs_in_over_the_gateway_and_answers_slash_commands(rig, front):
    dc = rig.dc
    assert get_discord_api_base() == dc.api_url
    # discord.py asked for zlib-stream compression, identified with the bot token and its intents
    assert dc.gateway_connects[0]["v"] == "10" and dc.gateway_connects[0]["encoding"] == "json"
    assert dc.gateway_connects[0]["compress"] == "zlib-stream"
    assert len(dc.identifies) == 1 and "token" not in dc.identifies[0]
    assert dc.identifies[0]["intents"] == front.client.intents.value
    assert front.client.user.id == int(dc.application_id)
    assert front.client.get_guild(int(dc.guild_id)) is not None      # GUILD_CREATE arrived
    assert await wait_until(lambda: dc.heartbeats >= 3, timeout=10)  # heartbeats ACKed: still connected
    assert front.client.ws is not None and front.client.ws.latency < 5
    # on_ready synced the slash commands
    assert await wait_until(lambda: {c["name"] for c in dc.commands} >= {"status", "balance", "pnl"})
    assert await wait_until(lambda: rig.bot.market.views["BTC"].snapshot is not None)

    it = await dc.interact_slash(D_OWNER, "status")
    assert it.callback["type"] == 4 and not it.ephemeral
    assert "PAPER · confirm\n▶️ running" in it.content
    assert dc.messages[it.original_id]["content"] == it.content

    # private data: answered ephemerally (flags 64), only the caller sees it
    it = await dc.interact_slash(D_OWNER, "balance")
    assert it.callback["type"] == 4 and it.ephemeral, it.callback
    assert "Balances · PAPER" in it.content and "KRW free" in it.content
    it = await dc.interact_slash(D_OWNER, "pnl")
    assert it.ephemeral and "Realized P&L" in it.content

    # a typed option (n: INTEGER) travels as the command's argument; /trades is private (ephemeral)
    it = await dc.interact_slash(D_OWNER, "trades", {"n": 3})
    assert it.payload["data"]["options"] == [{"name": "n", "type": 4, "value": 3}]
    assert it.ephemeral and "No trades yet" in it.content

    # a stranger is turned away ephemerally, before any work
    it = await dc.interact_slash(D_STRANGER, "halt")
    assert it.ephemeral and "Not authorized" in it.content
    assert not rig.bot.trader.risk.halted


async def _signal_message(rig) -> int:
    """Move the sim's BTC premium far below its window; the id of the signal message the bot posts."""
    dc = rig.dc
    assert await wait_until(lambda: rig.bot.market.signals_allowed("BTC"))
    since = len(dc.channel_messages)
    rig.sim.market.set_premium("BTC", rig.sim.market.premium("BTC") - 3.0)
    post = await dc.wait_for_message(lambda p: bool(p["components"]), timeout=15, since=since)
    return post["message_id"]


async def test_signal_buttons_pressed_over_the_gateway(rig, front):
    dc = rig.dc
    mid = await _signal_message(rig)
    buttons = dc.buttons(mid)
    execute = next(cid for label, cid in buttons if "Execute" in label)

    # a stranger's press: refused ephemerally, nothing executed, the buttons stay
    it = await dc.press_button(D_STRANGER, mid, execute)
    assert it.ephemeral and "Not authorized" in it.content
    assert rig.bot.store.trades() == [] and dc.buttons(mid) == buttons

    # the owner's press executes; the signal message is edited in place and loses its buttons
    it = await dc.press_button(D_OWNER, mid, execute)
    assert it.callback["type"] in (5, 6, 7), it.callback
    assert await wait_until(lambda: "filled" in (dc.messages[mid]["content"] or ""), timeout=15)
    assert dc.buttons(mid) == []
    assert len(rig.bot.trader.positions()) == 1


async def test_skip_button_over_the_gateway(rig, front):
    dc = rig.dc
    mid = await _signal_message(rig)
    skip = next(cid for label, cid in dc.buttons(mid) if "Skip" in label)
    it = await dc.press_button(D_OWNER, mid, skip)
    assert it.callback["type"] in (5, 6, 7)
    assert await wait_until(lambda: "✖️" in (dc.messages[mid]["content"] or ""), timeout=15)
    assert rig.bot.store.trades() == [] and dc.buttons(mid) == []
    assert [p.state for p in rig.bot.trader.state.pending.values()] == ["skipped"]
