"""The real ccxt upbit and pyupbit clients against the Upbit fake (never mocked)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import aiohttp
import ccxt
import pyupbit
import pytest

from kimpbot.sim.pyupbit_redirect import redirect_pyupbit


async def test_ccxt_upbit_public(sim, make_upbit):
    ex = make_upbit(sim)
    markets = await ex.load_markets()
    assert {"BTC/KRW", "ETH/KRW", "XRP/KRW", "USDT/KRW"} <= set(markets)
    ob = await ex.fetch_order_book("BTC/KRW")
    assert len(ob["bids"]) == 15 and ob["bids"][0][0] < ob["asks"][0][0]
    assert ob["asks"][0][0] % 1000 == 0
    bars = await ex.fetch_ohlcv("BTC/KRW", "5m", limit=200)
    assert len(bars) == 200 and all(b[0] - a[0] == 300_000 for a, b in zip(bars, bars[1:]))
    older = await ex.fetch_ohlcv("BTC/KRW", "5m", since=bars[0][0] - 200 * 300_000, limit=200)
    assert older[-1][0] == bars[0][0] - 300_000  # `to` is exclusive, pages join without overlap
    t = await ex.fetch_ticker("XRP/KRW")
    assert t["last"] == sim.market.upbit_last("XRP")
    bal = await ex.fetch_balance()
    assert bal["KRW"]["free"] == pytest.approx(100_000_000)


async def test_upbit_rest_shapes(sim):
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{sim.upbit_url}/v1/ticker", params={"markets": "KRW-BTC,KRW-USDT"}) as r:
            assert r.headers["Remaining-Req"].startswith("group=ticker; min=1800; sec=")
            rows = await r.json()
        assert [x["market"] for x in rows] == ["KRW-BTC", "KRW-USDT"]
        for k in ("trade_price", "trade_timestamp", "timestamp", "opening_price", "high_price", "low_price",
                  "prev_closing_price", "change", "signed_change_rate", "acc_trade_volume_24h"):
            assert k in rows[0]
        async with s.get(f"{sim.upbit_url}/v1/orderbook", params={"markets": "KRW-ETH"}) as r:
            ob = (await r.json())[0]
        assert set(ob) >= {"market", "timestamp", "total_ask_size", "total_bid_size", "orderbook_units"}
        assert set(ob["orderbook_units"][0]) == {"ask_price", "bid_price", "ask_size", "bid_size"}
        to = datetime.fromtimestamp(sim.market.clock.now_ms() / 1000 - 3600, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        async with s.get(f"{sim.upbit_url}/v1/candles/minutes/5", params={"market": "KRW-BTC", "to": to, "count": 3}) as r:
            c = await r.json()
        assert len(c) == 3 and c[0]["candle_date_time_utc"] > c[1]["candle_date_time_utc"]  # newest first
        assert c[0]["unit"] == 5 and c[0]["candle_date_time_utc"] < to.replace(" ", "T")
        async with s.get(f"{sim.upbit_url}/v1/candles/days", params={"market": "KRW-BTC", "count": 2}) as r:
            d = await r.json()
        assert "prev_closing_price" in d[0]
        async with s.get(f"{sim.upbit_url}/v1/ticker", params={"markets": "KRW-NOPE"}) as r:
            assert r.status == 404 and (await r.json()) == {"error": {"name": 404, "message": "Code not found"}}
        async with s.get(f"{sim.upbit_url}/v1/nothing") as r:
            assert r.status == 404 and "error" in await r.json()
            assert "Remaining-Req" in r.headers


async def test_pyupbit_authenticated_flow(sim):
    mk = sim.market
    with redirect_pyupbit(sim.upbit_url):
        up = pyupbit.Upbit(*sim.upbit_keys)
        bals = await asyncio.to_thread(up.get_balances)
        assert {b["currency"]: b["balance"] for b in bals}["KRW"] == "100000000.0"

        ask = mk.upbit_book("BTC")[1][0][0]
        r = await asyncio.to_thread(up.buy_market_order, "KRW-BTC", 1_000_000)
        assert r["state"] == "wait" and r["ord_type"] == "price" and r["price"] == "1000000.0"
        o = await asyncio.to_thread(up.get_order, r["uuid"])
        assert o["state"] == "done" and float(o["executed_volume"]) > 0
        assert float(o["trades"][0]["price"]) == ask
        assert float(o["paid_fee"]) == pytest.approx(float(o["executed_funds"]) * 0.0005)

        s = await asyncio.to_thread(up.sell_market_order, "KRW-XRP", 1000)
        assert s["ord_type"] == "market"
        done = await asyncio.to_thread(up.get_order, "KRW-XRP", "done")
        assert done[0]["uuid"] == s["uuid"] and done[0]["executed_volume"] == "1000.0"

        # identifier: the bot's idempotency key (pyupbit's helpers do not send it; its transport does)
        from pyupbit.request_api import _send_get_request, _send_post_request
        body = {"market": "KRW-ETH", "side": "bid", "price": "20000", "ord_type": "price", "identifier": "kp-t9-u"}
        placed, _ = await asyncio.to_thread(_send_post_request, "https://api.upbit.com/v1/orders",
                                            up._request_headers(body), body)
        q = {"identifier": "kp-t9-u"}
        got, _ = await asyncio.to_thread(_send_get_request, "https://api.upbit.com/v1/order", up._request_headers(q), q)
        assert got["uuid"] == placed["uuid"] and got["identifier"] == "kp-t9-u" and got["state"] == "done"
        again = await asyncio.to_thread(up.buy_market_order, "KRW-ETH", 20000)  # no identifier: accepted
        assert again is not None

        assert await asyncio.to_thread(up.buy_market_order, "KRW-BTC", 1000) is None  # under_min_total_bid
        assert await asyncio.to_thread(up.sell_market_order, "KRW-ETH", 1000) is None  # insufficient_funds_ask
        chance = await asyncio.to_thread(up.get_chance, "KRW-BTC")
        assert chance["bid_fee"] == "0.0005"
        price = await asyncio.to_thread(pyupbit.get_current_price, "KRW-BTC")
        assert price == mk.upbit_last("BTC")
    assert sum(1 for o in sim.orders if o["venue"] == "upbit") == 6
    assert [o["client_id"] for o in sim.orders if o["venue"] == "upbit"][2] == "kp-t9-u"


async def test_upbit_order_errors(sim, make_upbit):
    ex = make_upbit(sim)
    await ex.load_markets()
    o = await ex.create_order("ETH/KRW", "market", "sell", 0.01, None, {"identifier": "kp-dup-u"})
    with pytest.raises(ccxt.ExchangeError, match="duplicated_identifier"):
        await ex.create_order("ETH/KRW", "market", "sell", 0.01, None, {"identifier": "kp-dup-u"})
    with pytest.raises(ccxt.InsufficientFunds, match="insufficient_funds_bid"):
        await ex.create_order("BTC/KRW", "market", "buy", None, None, {"cost": 10_000_000_000})
    with pytest.raises(ccxt.ExchangeError, match="under_min_total_ask"):
        await ex.create_order("XRP/KRW", "market", "sell", 1, None)
    with pytest.raises(ccxt.ExchangeError, match="invalid_price_bid"):
        await ex.create_order("BTC/KRW", "limit", "buy", 0.001, 50_000_500)
    far = sim.market.upbit_book("BTC")[0][-1][0] - 1_000_000
    lim = await ex.create_order("BTC/KRW", "limit", "buy", 0.001, far)
    bal = await ex.fetch_balance()
    assert bal["KRW"]["used"] == pytest.approx(far * 0.001 * 1.0005)
    await ex.cancel_order(lim["id"])
    assert (await ex.fetch_order(lim["id"]))["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):
        await ex.fetch_order("00000000-0000-4000-8000-000000000000")
    assert o["id"]


async def test_upbit_jwt_checks(sim, make_upbit):
    bad = make_upbit(sim, secret="wrong-secret")
    with pytest.raises(ccxt.AuthenticationError, match="jwt_verification"):
        await bad.fetch_balance()
    import hashlib
    import uuid

    import jwt
    claims = {"access_key": sim.upbit_keys[0], "nonce": str(uuid.uuid4()),
              "query_hash": hashlib.sha512(b"market=KRW-ETH").hexdigest(), "query_hash_alg": "SHA512"}
    tok = jwt.encode(claims, sim.upbit_keys[1], algorithm="HS256")
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{sim.upbit_url}/v1/orders/chance", params={"market": "KRW-BTC"},
                         headers={"Authorization": f"Bearer {tok}"}) as r:
            assert r.status == 401
            assert (await r.json())["error"]["name"] == "invalid_query_payload"
        claims["query_hash"] = hashlib.sha512(b"market=KRW-BTC").hexdigest()
        tok = jwt.encode(claims, sim.upbit_keys[1], algorithm="HS256")
        for expect in (200, 401):  # the second use of a nonce is refused
            async with s.get(f"{sim.upbit_url}/v1/orders/chance", params={"market": "KRW-BTC"},
                             headers={"Authorization": f"Bearer {tok}"}) as r:
                assert r.status == expect
                if expect == 401:
                    assert (await r.json())["error"]["name"] == "nonce_used"
