"""Websocket drop storms: the fakes' ``storm`` fault (accept, acknowledge, drop before any data)
against the real feeds (aiohttp). The back-off must grow while no market data flows, whatever the
venue acknowledges, stay within the venue's connection budget, and still reconnect at once after a
single drop of a healthy connection."""

from __future__ import annotations

import asyncio
import json
import statistics

import aiohttp
import pytest

from kimpbot.clock import SystemClock
from kimpbot.market.feeds import BinanceFeed, UpbitFeed
from testkit import wait_until

CLOSED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
STORM = 1_000_000  # connections: a venue that drops everything until the fault is cleared


def make_feed(venue: str, sim, session, got: list, **kw):
    env = sim.env()
    if venue == "upbit":
        return UpbitFeed(env["UPBIT_WS_URL"], session, got.append, SystemClock(), ["BTC"], **kw)
    return BinanceFeed(env["BINANCE_FUTURES_WS_URL"], session, got.append, SystemClock(), ["BTC"], **kw)


async def test_storm_fault_acks_then_drops_each_connection(sim):
    sim.market.faults.inject("binance", "ws", "storm", count=2)
    sim.market.faults.inject("upbit", "ws", "storm", count=1)
    async with aiohttp.ClientSession() as s:
        for _ in range(2):
            async with s.ws_connect(sim.env()["BINANCE_FUTURES_WS_URL"]) as ws:
                await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": 1}))
                ack = await asyncio.wait_for(ws.receive(), 5)
                assert json.loads(ack.data) == {"result": None, "id": 1}
                assert (await asyncio.wait_for(ws.receive(), 5)).type in CLOSED  # no market data
        async with s.ws_connect(sim.env()["UPBIT_WS_URL"]) as ws:
            await ws.send_str(json.dumps([{"ticket": "t"}, {"type": "ticker", "codes": ["KRW-BTC"]}]))
            assert (await asyncio.wait_for(ws.receive(), 5)).type in CLOSED
        # the storm is used up: the next connection streams again
        async with s.ws_connect(sim.env()["BINANCE_FUTURES_WS_URL"]) as ws:
            await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": 1}))
            await asyncio.wait_for(ws.receive(), 5)  # ack
            data = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
            assert data["e"] == "bookTicker"
    assert len(sim.ws_connects["binance"]) == 3 and len(sim.ws_connects["upbit"]) == 1
    # a per-message fault is not eaten by a new connection, nor a storm by a message
    assert sim.market.faults.pending() == []


@pytest.mark.parametrize("venue", ["binance", "upbit"])
async def test_drop_storm_backs_off_and_stays_within_budget(sim, venue):
    """Time scaled down 12.5x (base 0.02 s, cap 2.4 s instead of 0.25 s / 30 s): the gaps between
    connections grow to the cap although every connection is accepted (and, on Binance,
    acknowledged). Before the fix the ack reset the back-off: a reconnect every ~0.25 s forever."""
    sim.market.faults.inject(venue, "ws", "storm", count=STORM)
    got: list = []
    async with aiohttp.ClientSession() as session:
        feed = make_feed(venue, sim, session, got, base_backoff_s=0.02, max_backoff_s=2.4)
        feed.connect_limits = ()  # the back-off alone (the budget has its own test)
        feed.start()
        try:
            assert await wait_until(lambda: len(sim.ws_connects[venue]) >= 14, timeout=30.0)
        finally:
            await feed.stop()
    times = sim.ws_connects[venue]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert not [m for m in got if feed.is_market_data(m)]  # the storm let no data through
    assert feed.failed_sessions >= 13  # the acknowledgements did not reset the back-off
    # the back-off grows: late gaps are many times the early ones, and near the cap
    assert statistics.mean(gaps[-4:]) > 8 * statistics.mean(gaps[:3]), gaps
    assert max(gaps) > 1.0 and max(gaps) <= 2.4 + 0.5, gaps


def test_default_budgets_are_within_the_documented_limits():
    # Upbit: 5 connection requests per second, 100 per minute; Binance: 300 per 5 minutes per IP
    assert UpbitFeed.connect_limits == ((5, 1.0), (100, 60.0))
    assert BinanceFeed.connect_limits == ((300, 300.0),)
    up = UpbitFeed("ws://x", None, print, SystemClock(), ["BTC"])  # type: ignore[arg-type]
    bn = BinanceFeed("ws://x", None, print, SystemClock(), ["BTC"])  # type: ignore[arg-type]
    assert up.budget() == [(1, 1.0), (20, 60.0)]
    assert bn.budget() == [(60, 300.0)]


async def test_connection_budget_caps_attempts_whatever_the_backoff(sim):
    """With no back-off at all the budget still spaces the attempts: 3 per 2 s here."""
    sim.market.faults.inject("binance", "ws", "storm", count=STORM)
    got: list = []
    async with aiohttp.ClientSession() as session:
        feed = make_feed("binance", sim, session, got, base_backoff_s=0.0, max_backoff_s=0.0, connect_budget=1.0)
        feed.connect_limits = ((3, 2.0),)
        feed.start()
        try:
            assert await wait_until(lambda: len(sim.ws_connects["binance"]) >= 7, timeout=15.0)
        finally:
            await feed.stop()
    times = sim.ws_connects["binance"]
    for i in range(3, len(times)):
        # never a 4th attempt within 2 s; the sim stamps accepts, which a loaded machine may delay
        # unevenly by a few hundred ms (without the budget the attempts come milliseconds apart)
        assert times[i] - times[i - 3] >= 2.0 - 0.3, times


@pytest.mark.parametrize("venue", ["binance", "upbit"])
async def test_single_drop_of_a_healthy_feed_reconnects_quickly(sim, venue):
    got: list = []
    async with aiohttp.ClientSession() as session:
        feed = make_feed(venue, sim, session, got, healthy_after_s=0.5)
        feed.start()
        try:
            # a few failed sessions first: the back-off has grown ...
            sim.market.faults.inject(venue, "ws", "storm", count=3)
            assert await wait_until(lambda: len(sim.ws_connects[venue]) >= 4, timeout=20.0)
            # ... and is reset once real data has flowed for healthy_after_s
            assert await wait_until(lambda: feed.failed_sessions == 0 and feed.connected, timeout=10.0)
            n = len(sim.ws_connects[venue])
            t0 = asyncio.get_running_loop().time()
            sim.market.faults.inject(venue, "ws", "drop")
            assert await wait_until(lambda: len(sim.ws_connects[venue]) > n, timeout=5.0)
            assert sim.ws_connects[venue][-1] - t0 < 1.5  # dropped and back within ~0.25 s + a push gap
            assert feed.failed_sessions == 1
            assert feed.backoff_s <= feed.base_backoff_s  # 0.125..0.25 s
            assert await wait_until(lambda: feed.connected and got, timeout=5.0)
        finally:
            await feed.stop()
