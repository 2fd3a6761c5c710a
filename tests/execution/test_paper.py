"""Paper venues: fills walk the live book with fees, thin books fill partly, stale books refuse,
client ids are idempotent, and the ledger survives a restart on the same store."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from kimpbot.clock import ManualClock
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.events import EventBus
from kimpbot.execution.paper import PaperError, PaperVenue
from kimpbot.execution.venues import FundingPayment, MarketRules, OrderRequest, OrderStatus, Side
from kimpbot.market.engine import MarketEngine
from kimpbot.models import BookLevel, OrderBook, Venue
from kimpbot.store import Store

T0 = 1_735_689_600_000 + 3_600_000  # 2025-01-01 01:00 UTC: the next funding is 08:00
FEE = D("0.0005")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start_ms=T0)


@pytest.fixture
def market(clock: ManualClock) -> MarketEngine:
    eng = MarketEngine(load_owner_config(None, ""), clock, EventBus())
    set_books(eng, clock)
    return eng


def set_books(eng: MarketEngine, clock: ManualClock, *, thin: bool = False) -> None:
    now = clock.now_ms()
    up_asks = [BookLevel(100_000_000.0, 0.005), BookLevel(100_100_000.0, 0.002 if thin else 1.0)]
    up_bids = [BookLevel(99_900_000.0, 0.004), BookLevel(99_800_000.0, 0.001 if thin else 1.0)]
    bn_asks = [BookLevel(60_010.0, 0.004), BookLevel(60_020.0, 0.003 if thin else 1.0)]
    bn_bids = [BookLevel(60_000.0, 0.004), BookLevel(59_990.0, 0.002 if thin else 1.0)]
    eng.books[(Venue.UPBIT, "BTC")] = OrderBook(Venue.UPBIT, "BTC", up_bids, up_asks, now, now)
    eng.books[(Venue.BINANCE, "BTC")] = OrderBook(Venue.BINANCE, "BTC", bn_bids, bn_asks, now, now)


@pytest.fixture
def store(tmp_path: Path, clock: ManualClock):
    s = Store(tmp_path, "paper", clock=clock)
    yield s
    if not s._closed:
        s.close()


def upbit(market, store, clock, **kw) -> PaperVenue:
    kw.setdefault("quote_balance", D(10_000_000))
    kw.setdefault("coins", {"BTC": D("0.5")})
    return PaperVenue("upbit", market, store, clock, FEE, **kw)


def binance(market, store, clock, **kw) -> PaperVenue:
    kw.setdefault("quote_balance", D(10_000))
    return PaperVenue("binance", market, store, clock, FEE, **kw)


def req(venue: str, side: Side, cid: str, qty: str, hint: str, reduce_only: bool = False) -> OrderRequest:
    return OrderRequest(venue, "BTC", side, cid, D(qty), D(hint), reduce_only=reduce_only)


async def test_upbit_buy_spends_krw_amount_walking_asks_with_fee(market, store, clock):
    v = upbit(market, store, clock)
    # 0.01 BTC x 100,000,000 = 1,000,000 KRW: 0.005 at 100.0M, then 499,999.5 KRW of the 100.1M level
    r = await v.place_market(req("upbit", Side.BUY, "t1-UB-0", "0.01", "100000000"), 1.0)
    assert r.status is OrderStatus.FILLED, r
    assert r.filled_qty == D("0.009995")
    assert abs(r.notional - D("999999.5")) < D("1e-6")  # avg_price carries 12 decimals
    assert r.fee == D("499.99975")  # 0.05 % on top, in KRW
    b = await v.balances()
    assert b.quote_free == D(10_000_000) - D("999999.5") - D("499.99975")
    assert b.coins["BTC"] == D("0.509995")


async def test_upbit_sell_walks_bids_fee_out_of_proceeds(market, store, clock):
    v = upbit(market, store, clock)
    r = await v.place_market(req("upbit", Side.SELL, "t1-US-0", "0.005", "99900000"), 1.0)
    assert r.status is OrderStatus.FILLED
    assert r.filled_qty == D("0.005")
    proceeds = D("0.004") * 99_900_000 + D("0.001") * 99_800_000
    assert r.notional == proceeds
    assert r.fee == (proceeds * FEE).quantize(D("1e-8"))
    b = await v.balances()
    assert b.quote_free == D(10_000_000) + proceeds - r.fee
    assert b.coins["BTC"] == D("0.495")


async def test_binance_short_then_reduce_only_close_books_pnl_and_fees(market, store, clock):
    v = binance(market, store, clock)
    r = await v.place_market(req("binance", Side.SELL, "t1-BS-0", "0.01", "60000"), 1.0)
    assert r.status is OrderStatus.FILLED
    assert r.avg_price == D("59994")  # 0.004 @ 60000 + 0.006 @ 59990
    assert r.fee == D("0.29997")
    assert (await v.balances()).positions == {"BTC": D("-0.01")}
    # reduce-only larger than the position: capped at the position, closes it
    c = await v.place_market(req("binance", Side.BUY, "t1-BB-0", "0.02", "60010", reduce_only=True), 1.0)
    assert c.status is OrderStatus.FILLED and c.filled_qty == D("0.01")
    assert c.avg_price == D("60016")  # 0.004 @ 60010 + 0.006 @ 60020
    bal = await v.balances()
    assert bal.positions == {}
    pnl = (D("59994") - D("60016")) * D("0.01")
    assert bal.quote_free == D(10_000) + pnl - r.fee - c.fee
    # reduce-only with no position to reduce: refused as Binance does
    rr = await v.place_market(req("binance", Side.BUY, "t1-BB-1", "0.01", "60010", reduce_only=True), 1.0)
    assert rr.status is OrderStatus.REJECTED and "ReduceOnly" in rr.error


async def test_thin_book_fills_partly(market, store, clock):
    set_books(market, clock, thin=True)
    u = upbit(market, store, clock)
    r = await u.place_market(req("upbit", Side.BUY, "t2-UB-0", "0.02", "100000000"), 1.0)
    assert r.status is OrderStatus.PARTIAL
    assert r.filled_qty == D("0.007")  # all the asks hold
    assert "thinner" in r.error
    s = await u.place_market(req("upbit", Side.SELL, "t2-US-0", "0.01", "99900000"), 1.0)
    assert s.status is OrderStatus.PARTIAL and s.filled_qty == D("0.005")
    b = binance(market, store, clock)
    r2 = await b.place_market(req("binance", Side.BUY, "t2-BB-0", "0.01", "60010"), 1.0)
    assert r2.status is OrderStatus.PARTIAL and r2.filled_qty == D("0.007")
    assert (await b.balances()).positions == {"BTC": D("0.007")}


async def test_stale_or_missing_book_is_rejected_and_changes_nothing(market, store, clock):
    u = upbit(market, store, clock)
    before = await u.balances()
    clock.advance(market.max_age_ms / 1000 + 0.5)
    r = await u.place_market(req("upbit", Side.BUY, "t3-UB-0", "0.01", "100000000"), 1.0)
    assert r.status is OrderStatus.REJECTED and r.error.startswith("paper: book stale"), r.error
    assert (await u.balances()) == before
    # ...and the refusal is what that client id means from now on
    set_books(market, clock)
    again = await u.place_market(req("upbit", Side.BUY, "t3-UB-0", "0.01", "100000000"), 1.0)
    assert again.status is OrderStatus.REJECTED
    m = await u.place_market(OrderRequest("upbit", "ETH", Side.BUY, "t3-UB-1", D(1), D(4_000_000)), 1.0)
    assert m.status is OrderStatus.REJECTED and "no book" in m.error


async def test_same_client_id_never_fills_twice(market, store, clock):
    u = upbit(market, store, clock)
    r1 = await u.place_market(req("upbit", Side.BUY, "t4-UB-0", "0.01", "100000000"), 1.0)
    bal = await u.balances()
    r2 = await u.place_market(req("upbit", Side.BUY, "t4-UB-0", "0.01", "100000000"), 1.0)
    assert r2 == r1
    assert await u.balances() == bal
    assert await u.query("BTC", "t4-UB-0", 1.0) == r1
    q = await u.query("BTC", "never-sent-0", 1.0)
    assert q.status is OrderStatus.NOT_FOUND


async def test_exchange_like_refusals(market, store, clock):
    u = upbit(market, store, clock, quote_balance=D(100_000))
    small = await u.place_market(req("upbit", Side.BUY, "t5-UB-0", "0.00004", "100000000"), 1.0)
    assert small.status is OrderStatus.REJECTED and "under_min_total_bid" in small.error
    poor = await u.place_market(req("upbit", Side.BUY, "t5-UB-1", "0.01", "100000000"), 1.0)
    assert poor.status is OrderStatus.REJECTED and "insufficient_funds_bid" in poor.error
    held = await u.place_market(req("upbit", Side.SELL, "t5-US-0", "1", "99900000"), 1.0)
    assert held.status is OrderStatus.REJECTED and "insufficient_funds_ask" in held.error
    b = binance(market, store, clock, quote_balance=D(100))
    margin = await b.place_market(req("binance", Side.SELL, "t5-BS-0", "0.01", "60000"), 1.0)
    assert margin.status is OrderStatus.REJECTED and "-2019" in margin.error  # 600 USDT at 1x > 100
    step = await b.place_market(req("binance", Side.SELL, "t5-BS-1", "0.0015", "60000"), 1.0)
    assert step.status is OrderStatus.REJECTED and "step" in step.error
    notional = await b.place_market(req("binance", Side.SELL, "t5-BS-2", "0.001", "60000"), 1.0)
    assert notional.status is OrderStatus.REJECTED and "-4164" in notional.error
    rules = await b.load_rules(["BTC"])
    assert rules["BTC"] == MarketRules(D("0.001"), D("0.001"), D("100"), price_tick=D("0.1"))  # BTCUSDT tickSize
    assert (await u.load_rules(["BTC"]))["BTC"].min_notional == D(5000)


async def test_ledger_survives_restart_on_the_same_store(tmp_path, market, clock):
    s1 = Store(tmp_path, "paper", clock=clock)
    u = upbit(market, s1, clock)
    b = binance(market, s1, clock)
    ru = await u.place_market(req("upbit", Side.BUY, "t6-UB-0", "0.01", "100000000"), 1.0)
    rb = await b.place_market(req("binance", Side.SELL, "t6-BS-0", "0.01", "60000"), 1.0)
    ub, bb = await u.balances(), await b.balances()
    s1.close()

    s2 = Store(tmp_path, "paper", clock=clock)
    try:
        # the constructor's starting balances are ignored: the ledger on disk wins
        u2 = upbit(market, s2, clock, quote_balance=D(1))
        b2 = binance(market, s2, clock, quote_balance=D(1))
        assert await u2.balances() == ub
        assert await b2.balances() == bb
        assert await u2.query("BTC", "t6-UB-0", 1.0) == ru
        assert await b2.query("BTC", "t6-BS-0", 1.0) == rb
        # a resend after the restart returns the recorded fill and moves nothing
        assert await b2.place_market(req("binance", Side.SELL, "t6-BS-0", "0.01", "60000"), 1.0) == rb
        assert (await b2.balances()).positions == {"BTC": D("-0.01")}
    finally:
        s2.close()


async def test_paper_ledger_refuses_a_live_store(tmp_path, market, clock):
    live = Store(tmp_path, "live", clock=clock)
    try:
        with pytest.raises(PaperError, match="kept apart"):
            upbit(market, live, clock)
    finally:
        live.close()


async def test_funding_booked_at_each_funding_time_crossed(tmp_path, market, clock):
    s = Store(tmp_path, "paper", clock=clock)
    b = binance(market, s, clock, funding_rate=D("0.0001"))
    await b.place_market(req("binance", Side.SELL, "t7-BS-0", "0.01", "60000"), 1.0)
    info = await b.funding_info("BTC")
    assert info.next_funding_ms == T0 - 3_600_000 + 8 * 3_600_000  # 08:00 UTC
    assert info.rate == D("0.0001") and info.mark_price == D("60005")
    assert await b.funding_payments("BTC", 0) == []
    wallet = (await b.balances()).quote_free
    clock.advance(16 * 3600)  # crosses 08:00 and 16:00
    pays = await b.funding_payments("BTC", 0)
    # a short receives a positive rate: -(-0.01) x 60005 x 0.0001 each time
    assert pays == [FundingPayment("BTC", T0 + 7 * 3_600_000, D("0.060005"), f"paper-BTC-{T0 + 7 * 3_600_000}"),
                    FundingPayment("BTC", T0 + 15 * 3_600_000, D("0.060005"), f"paper-BTC-{T0 + 15 * 3_600_000}")]
    assert (await b.balances()).quote_free == wallet + 2 * D("0.060005")
    assert await b.funding_payments("BTC", T0 + 8 * 3_600_000) == pays[1:]
    s.close()
    s2 = Store(tmp_path, "paper", clock=clock)
    try:
        again = binance(market, s2, clock)
        assert await again.funding_payments("BTC", 0) == pays  # booked once, kept across restarts
    finally:
        s2.close()
