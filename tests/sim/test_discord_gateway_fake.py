"""The fake Discord gateway's protocol, driven by a plain aiohttp WebSocket client: what Discord's
gateway docs say a server does (HELLO first, ACK per heartbeat, READY after a good Identify, close
codes 4003/4004/4005, Invalid Session for an unknown Resume, zlib-stream framing), and the
interaction callback's errors (10062 unknown, 40060 answered twice)."""

from __future__ import annotations

import asyncio
import json
import zlib

import aiohttp

from fakes.discord import FakeDiscord


async def _recv(ws: aiohttp.ClientWebSocketResponse, z: "zlib._Decompress | None" = None) -> dict:
    msg = await asyncio.wait_for(ws.receive(), 5)
    if msg.type == aiohttp.WSMsgType.BINARY:
        assert z is not None and msg.data[-4:] == b"\x00\x00\xff\xff"   # ends on a sync flush
        return json.loads(z.decompress(msg.data))
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def test_hello_heartbeat_identify_ready_over_zlib_stream():
    async with FakeDiscord(heartbeat_interval_ms=1000) as dc, aiohttp.ClientSession() as s:
        async with s.get(f"{dc.api_url}/gateway/bot", headers={"Authorization": f"Bot {dc.bot_token}"}) as r:
            assert r.headers["Content-Type"] == "application/json"
            url = (await r.json())["url"]
        assert url == dc.gateway_url
        async with s.ws_connect(url + "?v=10&encoding=json&compress=zlib-stream") as ws:
            z = zlib.decompressobj()
            hello = await _recv(ws, z)
            assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] == 1000
            await ws.send_str(json.dumps({"op": 1, "d": None}))
            assert (await _recv(ws, z))["op"] == 11
            await ws.send_str(json.dumps({"op": 2, "d": {"token": dc.bot_token, "intents": 513,
                                                          "properties": {"os": "linux"}}}))
            ready = await _recv(ws, z)
            assert ready["op"] == 0 and ready["t"] == "READY" and ready["s"] == 1
            d = ready["d"]
            assert d["user"]["id"] == dc.application_id and d["application"]["id"] == dc.application_id
            assert d["session_id"] and d["resume_gateway_url"] == dc.gateway_url
            assert d["guilds"] == [{"id": dc.guild_id, "unavailable": True}]
            guild = await _recv(ws, z)
            assert guild["t"] == "GUILD_CREATE" and guild["s"] == 2 and guild["d"]["id"] == dc.guild_id
            assert dc.identifies == [{"intents": 513, "properties": {"os": "linux"}}]   # token not kept
            # a second Identify on the same connection: 4005
            await ws.send_str(json.dumps({"op": 2, "d": {"token": dc.bot_token}}))
            await ws.receive()
            assert ws.close_code == 4005


async def test_bad_token_unauthenticated_payload_and_unknown_resume():
    async with FakeDiscord() as dc, aiohttp.ClientSession() as s:
        async with s.ws_connect(dc.gateway_url + "?v=10&encoding=json") as ws:
            assert (await _recv(ws))["op"] == 10
            await ws.send_str(json.dumps({"op": 2, "d": {"token": "wrong"}}))
            await ws.receive()
            assert ws.close_code == 4004
        async with s.ws_connect(dc.gateway_url + "?v=10&encoding=json") as ws:
            await _recv(ws)
            await ws.send_str(json.dumps({"op": 3, "d": {"status": "online"}}))
            await ws.receive()
            assert ws.close_code == 4003
        async with s.ws_connect(dc.gateway_url + "?v=10&encoding=json") as ws:
            await _recv(ws)
            await ws.send_str(json.dumps({"op": 6, "d": {"token": dc.bot_token, "session_id": "nope", "seq": 3}}))
            assert await _recv(ws) == {"op": 9, "d": False, "s": None, "t": None}
        assert dc.identifies == [] and not dc.gateway_ready
        assert [c for c, _r in dc.gateway_closes] == [4004, 4003]


async def test_interaction_callback_errors():
    async with FakeDiscord() as dc, aiohttp.ClientSession() as s:
        async with s.ws_connect(dc.gateway_url + "?v=10&encoding=json") as ws:
            await _recv(ws)
            await ws.send_str(json.dumps({"op": 2, "d": {"token": dc.bot_token, "intents": 1}}))
            await _recv(ws)
            await _recv(ws)
            task = asyncio.create_task(dc.interact_slash("111111111111111111", "status"))
            ev = await _recv(ws)
            assert ev["t"] == "INTERACTION_CREATE" and ev["d"]["type"] == 2 and ev["d"]["data"]["name"] == "status"
            iid, token = ev["d"]["id"], ev["d"]["token"]
            cb = f"{dc.api_url}/interactions/{iid}/{token}/callback?with_response=1"
            async with s.post(f"{dc.api_url}/interactions/{iid}/wrong/callback", json={"type": 4}) as r:
                assert r.status == 404 and (await r.json())["code"] == 10062
            async with s.post(cb, json={"type": 4, "data": {"content": "hi", "flags": 64}}) as r:
                assert r.status == 200 and r.headers["Content-Type"] == "application/json"
                body = await r.json()
            assert body["interaction"]["response_message_ephemeral"] is True
            assert body["resource"]["type"] == 4 and body["resource"]["message"]["content"] == "hi"
            it = await task
            assert it.ephemeral and it.content == "hi"
            async with s.post(cb, json={"type": 4, "data": {"content": "again"}}) as r:
                assert r.status == 400 and (await r.json())["code"] == 40060
            # follow-up and @original over the interaction's webhook
            hook = f"{dc.api_url}/webhooks/{dc.application_id}/{token}"
            async with s.post(hook + "?wait=true", json={"content": "more"}) as r:
                assert r.status == 200 and (await r.json())["content"] == "more"
            async with s.patch(hook + "/messages/@original", json={"content": "edited"}) as r:
                assert r.status == 200 and (await r.json())["content"] == "edited"
            assert [m["content"] for m in it.followups] == ["more"] and it.edits[0]["content"] == "edited"
