"""Plain aiohttp websocket clients against the Upbit and Binance stream fakes."""

from __future__ import annotations

import asyncio
import json
import math

import aiohttp
import pytest

UPBIT_REQ = [{"ticket": "t-1"}, {"type": "ticker", "codes": ["KRW-BTC"], "is_only_realtime": True},
             {"type": "orderbook", "codes": ["KRW-BTC"], "is_only_realtime": True}, {"format": "DEFAULT"}]


async def _upbit_frames(ws, n: int) -> list[dict]:
    out = []
    while len(out) < n:
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type == aiohttp.WSMsgType.BINARY, msg  # Upbit sends binary frames
        out.append(json.loads(msg.data))
    return out


async def test_upbit_ticker_and_orderbook_frames(sim):
    env = sim.env()
    async with aiohttp.ClientSession() as s, s.ws_connect(env["UPBIT_WS_URL"]) as ws:
        await ws.send_str(json.dumps(UPBIT_REQ))
        frames = await _upbit_frames(ws, 4)
        types = {f["type"] for f in frames}
        assert types == {"ticker", "orderbook"}
        for f in frames:
            assert f["code"] == "KRW-BTC" and f["stream_type"] == "REALTIME" and f["timestamp"] > 0
        t = next(f for f in frames if f["type"] == "ticker")
        assert t["trade_price"] == sim.market.upbit_last("BTC")
        ob = next(f for f in frames if f["type"] == "orderbook")
        assert len(ob["orderbook_units"]) == 15
        # a market change is pushed promptly
        sim.market.set_premium("BTC", 3.0)
        for _ in range(10):
            f = (await _upbit_frames(ws, 1))[0]
            if f["type"] == "ticker" and f["trade_price"] == sim.market.upbit_last("BTC"):
                break
        else:
            pytest.fail("no update after set_premium")
        await ws.send_str("PING")
        for _ in range(10):
            msg = await asyncio.wait_for(ws.receive(), 5)
            if msg.type == aiohttp.WSMsgType.TEXT:
                assert json.loads(msg.data) == {"status": "UP"}
                break


async def test_upbit_snapshot_then_realtime(sim):
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.env()["UPBIT_WS_URL"]) as ws:
        await ws.send_bytes(json.dumps([{"ticket": "x"}, {"type": "ticker", "codes": ["KRW-ETH", "KRW-USDT"]}]).encode())
        frames = await _upbit_frames(ws, 4)
        assert [f["stream_type"] for f in frames[:2]] == ["SNAPSHOT", "SNAPSHOT"]
        assert {f["code"] for f in frames} == {"KRW-ETH", "KRW-USDT"}
        assert frames[2]["stream_type"] == "REALTIME"


async def test_binance_book_ticker_and_depth(sim):
    env = sim.env()
    async with aiohttp.ClientSession() as s, s.ws_connect(env["BINANCE_FUTURES_WS_URL"]) as ws:
        await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@bookTicker", "ethusdt@depth20@100ms"], "id": 1}))
        first = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
        assert first == {"result": None, "id": 1}
        seen: dict[str, dict] = {}
        last_u = None
        while len(seen) < 2 or last_u is None:
            msg = await asyncio.wait_for(ws.receive(), 5)
            assert msg.type == aiohttp.WSMsgType.TEXT
            ev = json.loads(msg.data)
            seen[ev["e"]] = ev
            if ev["e"] == "depthUpdate":
                if "depthUpdate" in seen and last_u is None and ev is not seen.get("_first"):
                    seen["_first"] = ev
                    last_u = ev["u"]
        bt = seen["bookTicker"]
        assert set(bt) == {"e", "u", "E", "T", "s", "b", "B", "a", "A"} and bt["s"] == "BTCUSDT"
        assert float(bt["b"]) < float(bt["a"]) and isinstance(bt["b"], str)
        d = seen["depthUpdate"]
        assert d["s"] == "ETHUSDT" and len(d["b"]) == 20 and len(d["a"]) == 20
        assert {"U", "u", "pu", "E", "T"} <= set(d)
        await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 3}))
        for _ in range(50):
            ev = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
            if ev.get("id") == 3:
                assert set(ev["result"]) == {"btcusdt@bookTicker", "ethusdt@depth20@100ms"}
                break


async def test_binance_combined_stream(sim):
    port = sim.binance_url.rsplit(":", 1)[1]
    url = f"ws://127.0.0.1:{port}/public/stream?streams=xrpusdt@bookTicker/btcusdt@markPrice"
    async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
        names = set()
        while len(names) < 2:
            ev = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
            names.add(ev["stream"])
            assert "data" in ev
        assert names == {"xrpusdt@bookTicker", "btcusdt@markPrice"}


async def test_ws_drop_fault_closes_connection(sim):
    async with aiohttp.ClientSession() as s:
        sim.market.faults.inject("upbit", "ws", "drop")
        async with s.ws_connect(sim.env()["UPBIT_WS_URL"]) as ws:
            await ws.send_str(json.dumps(UPBIT_REQ))
            msg = await asyncio.wait_for(ws.receive(), 5)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
        sim.market.faults.inject("binance", "ws", "drop")
        async with s.ws_connect(sim.env()["BINANCE_FUTURES_WS_URL"]) as ws:
            await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": 1}))
            kinds = []
            for _ in range(3):
                msg = await asyncio.wait_for(ws.receive(), 5)
                kinds.append(msg.type)
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
            assert kinds[-1] in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)


async def _until(ws, pred, n: int = 20):
    for _ in range(n):
        msg = await asyncio.wait_for(ws.receive(), 5)
        if pred(msg):
            return msg
    pytest.fail("expected frame never came")


def _is_json(data) -> bool:
    try:
        json.loads(data)
        return True
    except ValueError:
        return False


async def test_ws_nan_malformed_and_silence_faults(sim):
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.env()["BINANCE_FUTURES_WS_URL"]) as ws:
        await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": 1}))
        await asyncio.wait_for(ws.receive(), 5)  # the ack
        sim.market.faults.inject("binance", "ws", "nan")
        msg = await _until(ws, lambda m: json.loads(m.data)["b"] == "NaN")
        assert math.isnan(float(json.loads(msg.data)["b"]))
        sim.market.faults.inject("binance", "ws", "malformed")
        await _until(ws, lambda m: not _is_json(m.data))
        await asyncio.sleep(0.2)  # let frames already queued arrive
        while True:  # drain
            try:
                await asyncio.wait_for(ws.receive(), 0.01)
            except asyncio.TimeoutError:
                break
        sim.market.faults.inject("binance", "ws", "silence", delay_s=0.6)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await asyncio.wait_for(ws.receive(), 5)
        await asyncio.wait_for(ws.receive(), 5)
        assert loop.time() - t0 >= 0.5
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.env()["UPBIT_WS_URL"]) as ws:
        sim.market.faults.inject("upbit", "ws", "negative")
        await ws.send_str(json.dumps(UPBIT_REQ[:2]))
        f = (await _upbit_frames(ws, 1))[0]
        assert f["trade_price"] < 0
