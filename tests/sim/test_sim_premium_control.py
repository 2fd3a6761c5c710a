"""set_premium seen end to end through real clients + the FX fake; the control API; serve_forever."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from kimpbot.sim.market import SimMarket, upbit_tick
from kimpbot.sim.servers import SimServers, serve_forever

BINANCE_TICK = {"BTC": 0.1, "ETH": 0.01, "XRP": 0.0001}


async def _fx(session: aiohttp.ClientSession, base: str) -> float:
    async with session.get(f"{base}/v1/forex/recent", params={"codes": "FRX.KRWUSD"}) as r:
        rows = await r.json()
    assert rows[0]["code"] == "FRX.KRWUSD" and rows[0]["currencyCode"] == "USD" and rows[0]["currencyUnit"] == 1
    return float(rows[0]["basePrice"])


async def _client_premiums(sim, up, bn, session, sym):
    usdkrw = await _fx(session, sim.fx_url)
    uob = await up.fetch_order_book(f"{sym}/KRW")
    bob = await bn.fetch_order_book(f"{sym}/USDT:USDT", 5)
    umid = (uob["bids"][0][0] + uob["asks"][0][0]) / 2
    bmid = (bob["bids"][0][0] + bob["asks"][0][0]) / 2
    book = (umid / (bmid * usdkrw) - 1) * 100
    ut = await up.fetch_ticker(f"{sym}/KRW")
    async with session.get(f"{sim.binance_url}/fapi/v1/ticker/price", params={"symbol": f"{sym}USDT"}) as r:
        bp = float((await r.json())["price"])
    quoted = (ut["last"] / (bp * usdkrw) - 1) * 100
    return book, quoted, umid, bmid


async def test_set_premium_is_what_clients_compute(sim, make_upbit, make_binance):
    up, bn = make_upbit(sim), make_binance(sim)
    await up.load_markets()
    await bn.load_markets()
    async with aiohttp.ClientSession() as s:
        for sym in ("BTC", "ETH", "XRP"):
            for pct in (3.5, -0.8, 1.2):
                sim.market.set_premium(sym, pct)
                book, quoted, umid, bmid = await _client_premiums(sim, up, bn, s, sym)
                tol = (upbit_tick(umid, f"KRW-{sym}") / umid + BINANCE_TICK[sym] / bmid) * 100 + 1e-6
                assert abs(book - pct) <= tol, (sym, pct, book)
                assert abs(quoted - pct) <= tol, (sym, pct, quoted)
        # the same through the control API, from "another process"
        async with s.post(f"{sim.upbit_url}/_sim/premium", json={"symbol": "BTC", "pct": 4.2}) as r:
            assert r.status == 200
        async with s.post(f"{sim.binance_url}/_sim/fx", json={"usdkrw": 1390}) as r:
            assert (await r.json())["usdkrw"] == 1390
        assert await _fx(s, sim.fx_url) == 1390
        book, *_ = await _client_premiums(sim, up, bn, s, "BTC")
        assert abs(book - ((1 + 4.2 / 100) * 1380 / 1390 - 1) * 100) < 0.01  # KRW prices kept, rate moved
        sim.market.set_usdt_krw(1412.3)
        usdt = await up.fetch_ticker("USDT/KRW")
        assert usdt["last"] == 1412.5  # KRW-USDT sits on its 0.5 KRW tick


async def test_control_api(sim):
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{sim.fx_url}/_sim/state") as r:
            st = await r.json()
        assert set(st["symbols"]) == {"BTC", "ETH", "XRP"} and st["usdkrw"] == 1380
        assert st["env"]["UPBIT_API_URL"] == sim.upbit_url
        async with s.post(f"{sim.upbit_url}/_sim/fault", json={"venue": "binance", "endpoint": "/fapi/v1/ping",
                                                               "kind": "reject", "count": 2}) as r:
            assert r.status == 200
        for _ in range(2):
            async with s.get(f"{sim.binance_url}/fapi/v1/ping") as r:
                assert r.status == 503 and (await r.json())["code"] == -1008
        async with s.get(f"{sim.binance_url}/fapi/v1/ping") as r:
            assert r.status == 200 and await r.json() == {}
        async with s.post(f"{sim.upbit_url}/_sim/fault", json={"venue": "nowhere", "endpoint": "/", "kind": "reject"}) as r:
            assert r.status == 400
        async with s.post(f"{sim.upbit_url}/_sim/premium", json={"symbol": "DOGE", "pct": 1}) as r:
            assert r.status == 400
        async with s.post(f"{sim.upbit_url}/_sim/step", json={"dt_s": 5}) as r:
            assert r.status == 200


async def test_env_names_and_garbage_requests(sim):
    env = sim.env()
    assert set(env) == {"UPBIT_API_URL", "UPBIT_WS_URL", "BINANCE_FUTURES_API_URL", "BINANCE_FUTURES_WS_URL",
                        "FX_API_URL", "UPBIT_ACCESS_KEY", "UPBIT_SECRET_KEY", "BINANCE_API_KEY", "BINANCE_API_SECRET"}
    assert env["UPBIT_WS_URL"].endswith("/websocket/v1") and env["BINANCE_FUTURES_WS_URL"].endswith("/public/ws")
    async with aiohttp.ClientSession() as s:
        # junk never kills a server
        async with s.post(f"{sim.upbit_url}/v1/orders", data=b"{not json", headers={"Content-Type": "application/json"}) as r:
            assert r.status in (400, 401)
        async with s.get(f"{sim.binance_url}/fapi/v1/klines", params={"symbol": "BTCUSDT", "interval": "7m"}) as r:
            assert (await r.json())["code"] == -1120
        async with s.get(f"{sim.binance_url}/fapi/v1/depth", params={"symbol": "NOPEUSDT"}) as r:
            assert (await r.json()) == {"code": -1121, "msg": "Invalid symbol."}
        async with s.get(f"{sim.fx_url}/v1/forex/recent", params={"codes": "FRX.KRWJPY"}) as r:
            assert await r.json() == []
        async with s.get(f"{sim.fx_url}/nope") as r:
            assert r.status == 404
        async with s.get(f"{sim.upbit_url}/v1/candles/minutes/7", params={"market": "KRW-BTC"}) as r:
            assert r.status == 400
        async with s.get(f"{sim.upbit_url}/v1/market/all") as r:
            assert r.status == 200


async def test_serve_forever_prints_env_and_steps(capsys):
    market = SimMarket(seed=5)
    before = market.state()["symbols"]["BTC"]["binance_mid"]
    task = asyncio.create_task(serve_forever(market, step_s=0.05))
    try:
        for _ in range(100):
            await asyncio.sleep(0.05)
            out = capsys.readouterr().out
            if out:
                break
        lines = dict(line.split("=", 1) for line in out.strip().splitlines())
        assert set(lines) >= {"UPBIT_API_URL", "BINANCE_FUTURES_API_URL", "FX_API_URL", "UPBIT_WS_URL"}
        await asyncio.sleep(0.3)
        async with aiohttp.ClientSession() as s, s.get(f"{lines['UPBIT_API_URL']}/_sim/state") as r:
            assert (await r.json())["symbols"]["BTC"]["binance_mid"] != before
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_servers_without_signature_checks_and_restart():
    async with SimServers(check_signatures=False) as sim:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{sim.upbit_url}/v1/accounts") as r:
                assert r.status == 200
            async with s.get(f"{sim.binance_url}/fapi/v2/balance", headers={"X-MBX-APIKEY": sim.binance_keys[0]}) as r:
                assert r.status == 200
    assert not sim.started
