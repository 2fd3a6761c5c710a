"""Every fault kind on REST, seen through the real clients where it matters."""

from __future__ import annotations

import asyncio
import json
import math

import aiohttp
import ccxt
import pyupbit
import pytest

from kimpbot.sim.faults import FaultPlan
from kimpbot.sim.pyupbit_redirect import redirect_pyupbit

BTC = "BTC/USDT:USDT"


def test_fault_plan_counts_and_wildcards():
    fp = FaultPlan()
    fp.inject("upbit", "/v1/ticker", "reject", count=2)
    fp.inject("binance", "*", "http429")
    assert fp.take("upbit", "/v1/orderbook") is None
    assert fp.take("upbit", "/v1/ticker").kind == "reject"
    assert fp.take("upbit", "/v1/ticker").kind == "reject"
    assert fp.take("upbit", "/v1/ticker") is None
    assert fp.take("binance", "ws") is None  # "*" is REST only
    assert fp.take("binance", "/fapi/v1/depth").kind == "http429"
    assert fp.take("binance", "/fapi/v1/depth") is None
    with pytest.raises(ValueError):
        fp.inject("kraken", "/x", "reject")
    with pytest.raises(ValueError):
        fp.inject("upbit", "/x", "explode")
    fp.inject("fx", "v1/forex/recent", "timeout")
    assert fp.take("fx", "/v1/forex/recent").wait_s == 30.0
    fp.inject("fx", "/v1/forex/recent", "nan")
    fp.clear()
    assert fp.pending() == []


async def test_reject_and_http429(sim, make_binance, make_upbit):
    f = sim.market.faults
    bx = make_binance(sim)
    ux = make_upbit(sim)
    await bx.load_markets()
    await ux.load_markets()
    f.inject("binance", "/fapi/v1/order", "reject")
    with pytest.raises(ccxt.InsufficientFunds):  # -2019: refused, nothing placed
        await bx.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "kp-r1"})
    assert sim.binance.orders == {} and sim.orders[-1]["client_id"] == "kp-r1"
    f.inject("binance", "/fapi/v1/depth", "http429")
    with pytest.raises(ccxt.DDoSProtection):  # ccxt's class for Binance 418/429
        await bx.fetch_order_book(BTC)
    f.inject("upbit", "/v1/orders", "reject")
    with pytest.raises(ccxt.ExchangeError, match="create_bid_error"):
        await ux.create_order("BTC/KRW", "market", "buy", None, None, {"cost": 10000})
    f.inject("upbit", "/v1/orderbook", "http429")
    with pytest.raises(ccxt.RateLimitExceeded):  # plain-text 429 body: ccxt's HTTP-status mapping
        await ux.fetch_order_book("BTC/KRW")
    async with aiohttp.ClientSession() as s:
        f.inject("upbit", "/v1/ticker", "http429")
        async with s.get(f"{sim.upbit_url}/v1/ticker?markets=KRW-BTC") as r:
            assert r.status == 429 and await r.text() == "Too many API requests."
            assert r.headers["Remaining-Req"].endswith("sec=0")
        f.inject("binance", "/fapi/v1/ping", "http429")
        async with s.get(f"{sim.binance_url}/fapi/v1/ping") as r:
            assert r.status == 429 and (await r.json())["code"] == -1003
        f.inject("fx", "/v1/forex/recent", "reject")
        async with s.get(f"{sim.fx_url}/v1/forex/recent?codes=FRX.KRWUSD") as r:
            assert r.status == 503


async def test_pyupbit_reject_and_429_return_none(sim):
    f = sim.market.faults
    with redirect_pyupbit(sim.upbit_url):
        up = pyupbit.Upbit(*sim.upbit_keys)
        f.inject("upbit", "/v1/orders", "reject")
        assert await asyncio.to_thread(up.buy_market_order, "KRW-BTC", 10000) is None
        f.inject("upbit", "/v1/orders", "http429")
        assert await asyncio.to_thread(up.buy_market_order, "KRW-BTC", 10000) is None
    assert sim.upbit.orders == {}


async def test_timeout_places_order_then_answers_late(sim, make_binance):
    sim.market.faults.inject("binance", "/fapi/v1/order", "timeout", delay_s=0.5)
    ex = make_binance(sim)
    ex.timeout = 200  # ms: the client gives up first
    await ex.load_markets()
    with pytest.raises(ccxt.RequestTimeout):
        await ex.create_order(BTC, "market", "sell", 0.01, None, {"clientOrderId": "kp-to"})
    ex.timeout = 10_000
    got = await ex.fetch_order(None, BTC, {"origClientOrderId": "kp-to"})  # it WAS placed
    assert got["status"] == "closed"
    sim.market.faults.inject("binance", "/fapi/v1/premiumIndex", "timeout", delay_s=0.3)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await ex.fetch_funding_rate(BTC)
    assert loop.time() - t0 >= 0.3


async def test_lost_order_is_placed_and_filled(sim, make_binance):
    ex = make_binance(sim)
    await ex.load_markets()
    sim.market.faults.inject("binance", "/fapi/v1/order", "lost")
    with pytest.raises(ccxt.NetworkError):
        await ex.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "kp-lost"})
    got = await ex.fetch_order(None, BTC, {"origClientOrderId": "kp-lost"})
    assert got["status"] == "closed" and got["filled"] == pytest.approx(0.01)
    sim.market.faults.inject("upbit", "/v1/orders", "lost")
    with redirect_pyupbit(sim.upbit_url):
        up = pyupbit.Upbit(*sim.upbit_keys)
        btc = sim.market.upbit_balances["BTC"]
        assert await asyncio.to_thread(up.buy_market_order, "KRW-BTC", 100_000) is None  # "unknown", not "failed"
        assert sim.market.upbit_balances["BTC"] > btc
        (placed,) = sim.upbit.orders.values()
        o = await asyncio.to_thread(up.get_order, placed["uuid"])
        assert o["state"] == "done"


async def test_partial_fill(sim, make_binance):
    ex = make_binance(sim)
    await ex.load_markets()
    sim.market.faults.inject("binance", "/fapi/v1/order", "partial", fraction=0.4)
    o = await ex.create_order(BTC, "market", "buy", 0.05, None, {"clientOrderId": "kp-part"})
    assert o["status"] == "expired" and o["filled"] == pytest.approx(0.02) and o["remaining"] == pytest.approx(0.03)
    assert o["info"]["status"] == "EXPIRED"
    sim.market.faults.inject("upbit", "/v1/orders", "partial", fraction=0.25)
    with redirect_pyupbit(sim.upbit_url):
        up = pyupbit.Upbit(*sim.upbit_keys)
        r = await asyncio.to_thread(up.sell_market_order, "KRW-ETH", 2)
        o = await asyncio.to_thread(up.get_order, r["uuid"])
        assert o["state"] == "cancel" and float(o["executed_volume"]) == pytest.approx(0.5)
        assert sim.market.upbit_balances["ETH"] == pytest.approx(9.5)
        sim.market.faults.inject("upbit", "/v1/orders", "partial", fraction=0.5)
        krw = sim.market.upbit_balances["KRW"]
        r = await asyncio.to_thread(up.buy_market_order, "KRW-BTC", 1_000_000)
        o = await asyncio.to_thread(up.get_order, r["uuid"])
        assert o["state"] == "cancel" and float(o["executed_funds"]) == pytest.approx(500_000, abs=100)
        assert krw - sim.market.upbit_balances["KRW"] == pytest.approx(500_000 * 1.0005, abs=100)


async def test_malformed_nan_negative(sim):
    f = sim.market.faults
    async with aiohttp.ClientSession() as s:
        cases = [
            ("upbit", f"{sim.upbit_url}/v1/orderbook?markets=KRW-BTC", "/v1/orderbook",
             lambda d: d[0]["orderbook_units"][0]["ask_price"]),
            ("upbit", f"{sim.upbit_url}/v1/ticker?markets=KRW-BTC", "/v1/ticker", lambda d: d[0]["trade_price"]),
            ("binance", f"{sim.binance_url}/fapi/v1/ticker/bookTicker?symbol=BTCUSDT", "/fapi/v1/ticker/bookTicker",
             lambda d: float(d["bidPrice"])),
            ("binance", f"{sim.binance_url}/fapi/v1/depth?symbol=BTCUSDT&limit=5", "/fapi/v1/depth",
             lambda d: float(d["bids"][0][0])),
            ("binance", f"{sim.binance_url}/fapi/v1/klines?symbol=BTCUSDT&interval=5m&limit=3", "/fapi/v1/klines",
             lambda d: float(d[-1][4])),
            ("fx", f"{sim.fx_url}/v1/forex/recent?codes=FRX.KRWUSD", "/v1/forex/recent", lambda d: d[0]["basePrice"]),
        ]
        for venue, url, path, get in cases:
            f.inject(venue, path, "nan")
            async with s.get(url) as r:
                assert r.status == 200
                assert math.isnan(get(json.loads(await r.text()))), path
            f.inject(venue, path, "negative")
            async with s.get(url) as r:
                assert get(json.loads(await r.text())) < 0, path
            f.inject(venue, path, "malformed")
            async with s.get(url) as r:
                assert r.status == 200
                with pytest.raises(ValueError):
                    json.loads(await r.text())
            async with s.get(url) as r:  # one shot each: the next answer is clean
                assert get(json.loads(await r.text())) > 0


async def test_late_order_is_unknown_invisible_then_booked(sim, make_binance):
    """``late``: Binance answers 503 -1007 "execution status unknown", the order does not exist for
    queries (-2013) during ``delay_s``, then it is booked and filled (a slow backend, not a refusal)."""
    from testkit import wait_until

    bx = make_binance(sim)
    await bx.load_markets()
    sim.market.faults.inject("binance", "/fapi/v1/order", "late", delay_s=1.0)
    with pytest.raises(ccxt.BaseError, match="-1007"):
        await bx.create_order(BTC, "market", "sell", 0.01, None, {"newClientOrderId": "kp-late1"})
    with pytest.raises(ccxt.OrderNotFound):  # -2013 Order does not exist.
        await bx.fetch_order(None, BTC, {"origClientOrderId": "kp-late1"})
    assert sim.binance.positions.get("BTC", {}).get("amt", 0.0) == 0.0
    assert await wait_until(lambda: sim.binance.late_booked, timeout=10)
    o = await bx.fetch_order(None, BTC, {"origClientOrderId": "kp-late1"})
    assert o["info"]["status"] == "FILLED" and sim.binance.positions["BTC"]["amt"] == -0.01


async def test_upbit_identifier_is_single_use_even_after_a_failed_request(sim, make_upbit):
    """Upbit's order docs: an identifier cannot be sent again even if the request carrying it failed."""
    ux = make_upbit(sim)
    await ux.load_markets()
    sim.market.faults.inject("upbit", "/v1/orders", "http429")
    with pytest.raises(ccxt.RateLimitExceeded):
        await ux.create_order("BTC/KRW", "market", "buy", None, None, {"cost": 10000, "identifier": "kp-u1"})
    with pytest.raises(ccxt.ExchangeError, match="duplicated_identifier"):
        await ux.create_order("BTC/KRW", "market", "buy", None, None, {"cost": 10000, "identifier": "kp-u1"})
    assert sim.upbit.orders == {}
