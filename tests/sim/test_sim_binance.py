"""The real ccxt binanceusdm client against the Binance USDⓈ-M fake (never mocked)."""

from __future__ import annotations

import aiohttp
import ccxt
import pytest

from kimpbot.clock import ManualClock
from kimpbot.sim.market import SimMarket
from kimpbot.sim.servers import SimServers

BTC = "BTC/USDT:USDT"


async def test_public_market_data(sim, make_binance):
    ex = make_binance(sim)
    markets = await ex.load_markets()
    assert {BTC, "ETH/USDT:USDT", "XRP/USDT:USDT"} <= set(markets)
    m = markets[BTC]
    assert m["swap"] and m["linear"] and m["settle"] == "USDT"
    assert m["precision"]["price"] == 0.1 and m["precision"]["amount"] == 0.001
    assert m["limits"]["cost"]["min"] == 100
    assert markets["XRP/USDT:USDT"]["precision"]["price"] == 0.0001

    ob = await ex.fetch_order_book(BTC, 20)
    assert len(ob["bids"]) == 20 and ob["bids"][0][0] < ob["asks"][0][0]
    assert ob["bids"][0][0] == sim.market.binance_book("BTC")[0][0][0]

    bars = await ex.fetch_ohlcv(BTC, "5m", limit=300)
    assert len(bars) == 300 and all(b[0] - a[0] == 300_000 for a, b in zip(bars, bars[1:]))
    since = bars[10][0]
    page = await ex.fetch_ohlcv(BTC, "5m", since=since, limit=5)
    assert [b[0] for b in page] == [b[0] for b in bars[10:15]]

    fr = await ex.fetch_funding_rate(BTC)
    assert fr["fundingRate"] == pytest.approx(0.0001)
    assert fr["fundingTimestamp"] % (8 * 3600_000) == 0
    assert fr["markPrice"] == pytest.approx(sim.market.mark_price("BTC"))

    bids = await ex.fetch_bids_asks([BTC])
    assert bids[BTC]["bid"] == ob["bids"][0][0]
    hist = await ex.fetch_funding_rate_history(BTC, limit=5)
    assert len(hist) == 5


async def test_orders_positions_and_balance(sim, make_binance):
    ex = make_binance(sim)
    await ex.load_markets()
    bal = await ex.fetch_balance()
    assert bal["USDT"]["total"] == pytest.approx(100_000)
    await ex.set_leverage(5, BTC)

    best_bid = sim.market.binance_book("BTC")[0][0][0]
    o = await ex.create_order(BTC, "market", "sell", 0.05, None, {"clientOrderId": "kp-t1-b"})
    assert o["status"] == "closed" and o["filled"] == pytest.approx(0.05)
    assert o["clientOrderId"] == "kp-t1-b" and o["average"] == pytest.approx(best_bid)
    got = await ex.fetch_order(o["id"], BTC)
    assert got["status"] == "closed" and got["filled"] == pytest.approx(0.05)
    by_cid = await ex.fetch_order(None, BTC, {"origClientOrderId": "kp-t1-b"})
    assert by_cid["id"] == o["id"]

    pos = [p for p in await ex.fetch_positions([BTC]) if p["contracts"]]
    assert len(pos) == 1 and pos[0]["side"] == "short" and pos[0]["contracts"] == pytest.approx(0.05)
    assert pos[0]["entryPrice"] == pytest.approx(best_bid)

    bal = await ex.fetch_balance()
    fee = 0.05 * best_bid * 0.0005
    assert bal["USDT"]["total"] == pytest.approx(100_000 - fee + pos[0]["unrealizedPnl"], abs=1e-6)

    # reduce-only close; realized PnL and fees land in the wallet and the income history
    c = await ex.create_order(BTC, "market", "buy", 0.05, None, {"reduceOnly": True, "clientOrderId": "kp-t1-c"})
    assert c["status"] == "closed"
    assert not [p for p in await ex.fetch_positions([BTC]) if p["contracts"]]
    trades = await ex.fetch_my_trades(BTC)
    assert len(trades) == 2
    with pytest.raises(ccxt.InvalidOrder):  # nothing left to reduce: -2022
        await ex.create_order(BTC, "market", "buy", 0.05, None, {"reduceOnly": True})
    income = await ex.fetch_funding_history(BTC)  # FUNDING_FEE rows only
    assert income == []


async def test_order_errors_are_real(sim, make_binance):
    ex = make_binance(sim)
    await ex.load_markets()
    with pytest.raises(ccxt.InsufficientFunds):  # -2019 Margin is insufficient.
        await ex.create_order(BTC, "market", "buy", 100, None)
    with pytest.raises(ccxt.InvalidOrder):  # -4164 notional too small
        await ex.create_order(BTC, "market", "buy", 0.001, None)
    # resting limit order: its client id is taken while it is open (-4116), free again after
    far = sim.market.binance_book("BTC")[0][-1][0] - 500
    lim = await ex.create_order(BTC, "limit", "buy", 0.01, far, {"clientOrderId": "kp-dup"})
    assert lim["status"] == "open"
    with pytest.raises(ccxt.InvalidOrder, match="-4116"):
        await ex.create_order(BTC, "limit", "buy", 0.01, far, {"clientOrderId": "kp-dup"})
    assert len(await ex.fetch_open_orders(BTC)) == 1
    await ex.cancel_order(lim["id"], BTC)
    assert (await ex.fetch_order(lim["id"], BTC))["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):
        await ex.fetch_order("123", BTC)


async def test_signature_and_key_errors(sim, make_binance):
    bad = make_binance(sim, secret="not-the-secret")
    await bad.load_markets()
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        await bad.fetch_balance()
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{sim.binance_url}/fapi/v3/account?timestamp=1&signature=00",
                         headers={"X-MBX-APIKEY": "wrong"}) as r:
            assert r.status == 401
            assert (await r.json())["code"] == -2015
        import hashlib
        import hmac
        import time
        q = f"timestamp={int(time.time() * 1000) - 60_000}&recvWindow=5000"
        sig = hmac.new(sim.binance_keys[1].encode(), q.encode(), hashlib.sha256).hexdigest()
        async with s.get(f"{sim.binance_url}/fapi/v3/account?{q}&signature={sig}",
                         headers={"X-MBX-APIKEY": sim.binance_keys[0]}) as r:
            assert r.status == 400
            assert await r.json() == {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."}
        async with s.get(f"{sim.binance_url}/fapi/v1/nope") as r:
            assert r.status == 404 and (await r.json())["code"] == -5000


async def test_funding_is_booked_into_wallet_and_income(make_binance):
    clock = ManualClock(1_750_003_000_000)  # 16:00 UTC is 3200 s away
    async with SimServers(SimMarket(clock=clock)) as sim:
        ex = make_binance(sim)
        await ex.load_markets()
        await ex.create_order(BTC, "market", "sell", 0.1, None)
        wallet = sim.market.binance_usdt
        clock.advance(3600)  # crosses 16:00 UTC
        rows = await ex.fetch_funding_history(BTC)
        assert len(rows) == 1
        paid = rows[0]["amount"]
        assert paid == pytest.approx(0.1 * sim.market.mark_price("BTC") * 0.0001)  # shorts receive
        assert sim.market.binance_usdt == pytest.approx(wallet + paid)
        fr = await ex.fetch_funding_rate(BTC)
        assert fr["fundingTimestamp"] == 1_750_032_000_000  # next: 00:00 UTC
