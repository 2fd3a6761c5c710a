"""The fake Discord webhook API, driven by the REAL discord.py (no mocks)."""

from __future__ import annotations

import io
import logging
import time

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.http import Route

from kimpbot.control.discord_http import (DEFAULT_DISCORD_API_BASE, get_discord_api_base,
                                          set_discord_api_base)
from fakes.discord import FakeDiscord


@pytest.fixture
async def dc():
    async with FakeDiscord() as fake:
        set_discord_api_base(fake.api_url)
        try:
            yield fake
        finally:
            set_discord_api_base(None)


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


def fill_embed() -> discord.Embed:
    e = discord.Embed(title="✅ Entry filled: BTC", description="Korean premium 3.20%", color=0x2ECC71)
    e.add_field(name="Direction", value="long Upbit / short Binance", inline=False)
    e.add_field(name="Upbit", value="bought 0.0100 BTC @ 145,000,000 KRW")
    e.add_field(name="Binance", value="sold 0.0100 BTC @ 101,500.0 USDT")
    e.add_field(name="Expected profit", value="+12,345 KRW")
    return e


async def test_embed_arrives_with_fields(dc, session):
    wh = discord.Webhook.from_url(dc.webhook_url, session=session)
    msg = await wh.send(content="fill", embed=fill_embed(), username="kimpbot", wait=True)
    assert isinstance(msg, discord.WebhookMessage)
    post = await dc.wait_for(lambda p: p["embeds"] and p["embeds"][0]["title"].startswith("✅"))
    assert str(msg.id) == post["message_id"]
    [embed] = post["embeds"]
    assert embed["color"] == 0x2ECC71 and embed["description"] == "Korean premium 3.20%"
    assert [f["name"] for f in embed["fields"]] == ["Direction", "Upbit", "Binance", "Expected profit"]
    assert embed["fields"][0]["inline"] is False and embed["fields"][3]["value"] == "+12,345 KRW"
    assert post["username"] == "kimpbot" and post["content"] == "fill"
    assert msg.embeds[0].fields[1].value.startswith("bought")       # discord.py parsed our Message
    await wh.send(content="no wait")                                   # 204 without wait
    assert dc.webhook_posts[-1]["wait"] is False


async def test_route_base_is_the_seam(dc, session):
    assert get_discord_api_base() == dc.api_url == Route.BASE
    assert dc.webhook_url.startswith("https://discord.com/api/webhooks/")
    set_discord_api_base(None)
    assert Route.BASE == DEFAULT_DISCORD_API_BASE
    set_discord_api_base(dc.api_url + "/")                             # trailing slash tolerated
    assert Route.BASE == dc.api_url
    with pytest.raises(ValueError):
        set_discord_api_base("discord.com/api/v10")
    # Content-Type exactly application/json (discord.py compares it with ==)
    async with session.get(f"{dc.api_url}/webhooks/{dc.webhook_id}/{dc.webhook_token}") as r:
        assert r.headers["Content-Type"] == "application/json"
    wh = await discord.Webhook.from_url(dc.webhook_url, session=session).fetch()
    assert wh.name == dc.name and wh.channel_id == int(dc.channel_id)


async def test_429_with_via_is_retried(dc, session):
    wh = discord.Webhook.from_url(dc.webhook_url, session=session)
    dc.inject("execute", "http429", retry_after=0.3)
    t0 = time.monotonic()
    await wh.send(embed=fill_embed(), wait=True)
    assert time.monotonic() - t0 >= 0.3
    assert len(dc.webhook_posts) == 1
    assert dc.errors[0]["status"] == 429 and dc.errors[0]["body"]["retry_after"] == 0.3


async def test_429_without_via_raises(dc, session):
    wh = discord.Webhook.from_url(dc.webhook_url, session=session)
    dc.inject("*", "http429_cloudflare")
    with pytest.raises(discord.HTTPException) as exc:
        await wh.send(content="x", wait=True)
    assert exc.value.status == 429
    assert dc.webhook_posts == []


async def test_unknown_webhook_and_bad_token(dc, session):
    other = dc.webhook_url.replace(dc.webhook_id, "999999999999999999")
    with pytest.raises(discord.NotFound) as exc:
        await discord.Webhook.from_url(other, session=session).send(content="x", wait=True)
    assert exc.value.code == 10015 and exc.value.text == "Unknown Webhook"
    bad_token = dc.webhook_url[:-4] + "zzzz"
    with pytest.raises(discord.HTTPException) as exc:
        await discord.Webhook.from_url(bad_token, session=session).send(content="x", wait=True)
    assert exc.value.status == 401 and exc.value.code == 50027
    assert dc.webhook_posts == []
    with pytest.raises(ValueError):          # the id/token shapes from_url insists on
        FakeDiscord(webhook_token="fake-webhook-token")


async def test_form_validation(dc, session):
    wh = discord.Webhook.from_url(dc.webhook_url, session=session)
    with pytest.raises(discord.HTTPException) as exc:
        await wh.send(content="", wait=True)
    assert exc.value.code == 50006                                    # Cannot send an empty message
    too_long = discord.Embed(title="t").add_field(name="leg", value="x" * 1025)
    with pytest.raises(discord.HTTPException) as exc:
        await wh.send(embed=too_long, wait=True)
    assert exc.value.status == 400 and exc.value.code == 50035
    assert "embeds.0.fields.0.value" in exc.value.text


async def test_file_edit_delete(dc, session):
    wh = discord.Webhook.from_url(dc.webhook_url, session=session)
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
    msg = await wh.send(content="chart", file=discord.File(io.BytesIO(png), filename="btc.png"), wait=True)
    post = dc.webhook_posts[-1]
    assert post["attachments"] == [{"filename": "btc.png", "bytes": png}]    # multipart + payload_json
    assert msg.attachments[0].filename == "btc.png"
    await msg.edit(content="chart (updated)")
    assert dc.messages[str(msg.id)]["content"] == "chart (updated)"
    await msg.delete()
    assert str(msg.id) in dc.deleted_messages


async def test_server_errors_and_drops(dc, session):
    wh = discord.Webhook.from_url(dc.webhook_url, session=session)
    dc.inject("execute", "http500")                 # discord.py retries 5xx after 1 s
    await wh.send(content="after 500", wait=True)
    assert [p["content"] for p in dc.webhook_posts] == ["after 500"]
    dc.inject("execute", "drop")
    with pytest.raises(aiohttp.ClientError):
        await wh.send(content="dropped", wait=True)
    assert len(dc.webhook_posts) == 1
    with pytest.raises(TimeoutError):
        await dc.wait_for(lambda p: p["content"] == "dropped", timeout=0.2)


async def test_rate_limit_headers_pace_the_client(session, caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("discord").setLevel(logging.INFO)   # discord.py DEBUG logs the webhook URL
    try:
        async with FakeDiscord(rate_limit=(2, 0.4)) as fake:
            set_discord_api_base(fake.api_url)
            wh = discord.Webhook.from_url(fake.webhook_url, session=session)
            for i in range(4):
                await wh.send(content=f"alert {i}", wait=True)
            assert [p["content"] for p in fake.webhook_posts] == [f"alert {i}" for i in range(4)]
            assert fake.errors == []          # paced by X-RateLimit-Remaining: 0, never a 429
            assert all(fake.webhook_token not in path for _, path in fake.requests)
            assert fake.webhook_token not in caplog.text
    finally:
        logging.getLogger("discord").setLevel(logging.NOTSET)
        set_discord_api_base(None)


# ---------------------------------------------------------------- the bot's REST routes

@pytest.fixture
async def client(dc):
    c = discord.Client(intents=discord.Intents.none())
    try:
        yield c
    finally:
        await c.close()


def _buttons_of(rec: dict) -> list[tuple[str, str, int]]:
    return [(c["label"], c["custom_id"], c["style"]) for row in rec["components"] for c in row["components"]]


async def test_bot_login_send_with_buttons_and_edit(dc, client):
    await client.login(dc.bot_token)                                  # GET /users/@me + /oauth2/applications/@me
    assert dc.logins == 1 and client.user.bot and client.user.id == int(dc.application_id)
    assert client.application_id == int(dc.application_id)
    ch = client.get_partial_messageable(int(dc.channel_id))
    view = discord.ui.View(timeout=None)
    view.add_item(discord.ui.Button(label="Execute", custom_id="x:S1", style=discord.ButtonStyle.success))
    view.add_item(discord.ui.Button(label="Skip", custom_id="s:S1"))
    msg = await ch.send("signal", view=view, nonce="n-1")
    rec = dc.channel_messages[-1]
    assert rec["content"] == "signal" and rec["nonce"] == "n-1" and rec["channel_id"] == dc.channel_id
    assert rec["components"][0]["type"] == 1
    assert _buttons_of(rec) == [("Execute", "x:S1", 3), ("Skip", "s:S1", 2)]
    assert dc.buttons(msg.id) == [("Execute", "x:S1"), ("Skip", "s:S1")]
    assert msg.author.id == client.user.id and str(msg.id) == rec["message_id"]   # discord.py parsed our Message
    assert [c.custom_id for row in msg.components for c in row.children] == ["x:S1", "s:S1"]

    # the same nonce (discord.py sends enforce_nonce) returns the message already made
    again = await ch.send("signal", nonce="n-1")
    assert again.id == msg.id and dc.deduplicated == 1 and len(dc.channel_messages) == 1

    edited = await ch.get_partial_message(msg.id).edit(content="expired", view=None)
    assert edited.content == "expired" and dc.buttons(msg.id) == []
    assert dc.channel_edits[-1]["components"] == [] and dc.messages[str(msg.id)]["edited_timestamp"]
    got = await ch.fetch_message(msg.id)
    assert got.content == "expired" and got.components == []
    view.stop()
    assert all(dc.bot_token not in p for _m, p in dc.requests)


async def test_bot_errors_follow_discord(dc, client, session):
    other = discord.Client(intents=discord.Intents.none())
    with pytest.raises(discord.LoginFailure):
        await other.login("not-the-token")                           # 401 {"message": "401: Unauthorized"}
    await other.close()
    assert dc.errors[-1]["status"] == 401 and dc.errors[-1]["body"] == {"message": "401: Unauthorized", "code": 0}

    await client.login(dc.bot_token)
    with pytest.raises(discord.NotFound) as exc:
        await client.get_partial_messageable(999999999999999999).send("x")
    assert exc.value.code == 10003 and exc.value.text == "Unknown Channel"
    async with FakeDiscord(hidden_channels=("888888888888888888",)) as fake2:
        set_discord_api_base(fake2.api_url)
        c2 = discord.Client(intents=discord.Intents.none())
        await c2.login(fake2.bot_token)
        with pytest.raises(discord.Forbidden) as exc:
            await c2.get_partial_messageable(888888888888888888).send("x")
        assert exc.value.code == 50001
        await c2.close()
        set_discord_api_base(dc.api_url)

    # a webhook's message cannot be edited by the bot
    wh = discord.Webhook.from_url(dc.webhook_url, session=session)
    wmsg = await wh.send(content="from the webhook", wait=True)
    with pytest.raises(discord.Forbidden) as exc:
        await client.get_partial_messageable(int(dc.channel_id)).get_partial_message(wmsg.id).edit(content="x")
    assert exc.value.code == 50005

    # components: duplicate custom ids and over-long labels are refused as Discord does
    url = dc.channel_url
    body = {"content": "x", "components": [{"type": 1, "components": [
        {"type": 2, "style": 1, "label": "a", "custom_id": "same"},
        {"type": 2, "style": 2, "label": "b" * 81, "custom_id": "same"}]}]}
    async with session.post(url, json=body, headers={"Authorization": f"Bot {dc.bot_token}"}) as r:
        assert r.status == 400 and r.headers["Content-Type"] == "application/json"
        err = await r.json()
    assert err["code"] == 50035
    one = err["errors"]["components"]["0"]["components"]["1"]
    assert one["custom_id"]["_errors"][0]["code"] == "COMPONENT_CUSTOM_ID_DUPLICATED" and "label" in one
    async with session.post(url, json={"content": "x"}, headers={"Authorization": "Bearer nope"}) as r:
        assert r.status == 401
    assert not dc.channel_messages


async def test_bot_429_is_waited_out_and_commands_sync(dc, client):
    await client.login(dc.bot_token)
    dc.inject("message", "http429", retry_after=0.2)
    t0 = time.monotonic()
    await client.get_partial_messageable(int(dc.channel_id)).send("after a rate limit")
    assert time.monotonic() - t0 >= 0.2 and [m["content"] for m in dc.channel_messages] == ["after a rate limit"]
    assert dc.errors[-1]["status"] == 429 and dc.errors[-1]["operation"] == "message"

    tree = app_commands.CommandTree(client)

    async def status(interaction: discord.Interaction) -> None:
        pass

    tree.add_command(app_commands.Command(name="status", description="mode and premium", callback=status))
    synced = await tree.sync()                                         # PUT /applications/{id}/commands
    assert [c.name for c in synced] == ["status"] and synced[0].application_id == int(dc.application_id)
    assert [c["name"] for c in dc.commands] == ["status"]
    assert [c.name for c in await tree.fetch_commands()] == ["status"]
