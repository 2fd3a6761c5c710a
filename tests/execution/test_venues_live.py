"""The live adapters (REAL pyupbit signing, REAL ccxt binanceusdm) against the simulated exchanges
with their signature checks on: every status mapping, faults, queries, balances, rules,
cancelling, funding."""

from __future__ import annotations

from decimal import Decimal as D

import ccxt.async_support as ccxt
import pytest

from kimpbot.clock import ManualClock, SystemClock
from kimpbot.exchanges.binance_trading import BinanceTrading
from kimpbot.exchanges.upbit_trading import UpbitTrading, _Reply
from kimpbot.execution.venues import OrderRequest, OrderStatus, Side
from kimpbot.sim.market import SimMarket
from kimpbot.sim.servers import SimServers

# the default sim keys are shorter than PyJWT's recommended 32 bytes
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

ORDER_TIMEOUT_S = 1.0
FAULT_DELAY_S = 1.3  # the sim answers after the client gave up


@pytest.fixture
async def upbit(sim):
    v = UpbitTrading(sim.upbit_url, *sim.upbit_keys, SystemClock())
    yield v
    await v.close()


@pytest.fixture
async def binance(sim):
    v = BinanceTrading(sim.binance_url, *sim.binance_keys, SystemClock())
    await v.load_rules(["BTC", "XRP"])
    yield v
    await v.close()


def venue_of(name, upbit, binance):
    return upbit if name == "upbit" else binance


def order_path(name: str) -> str:
    return "/v1/orders" if name == "upbit" else "/fapi/v1/order"


def hint(sim: SimServers, name: str, side: Side) -> D:
    if name == "upbit":
        bids, asks = sim.market.upbit_book("BTC")
    else:
        bids, asks = sim.market.binance_book("BTC")
    return D(repr(asks[0][0] if side is Side.BUY else bids[0][0]))


def req(sim, name: str, side: Side, cid: str, qty: str = "0.01", reduce_only: bool = False) -> OrderRequest:
    return OrderRequest(name, "BTC", side, cid, D(qty), hint(sim, name, side), reduce_only=reduce_only)


def sent(sim: SimServers, cid: str) -> list[dict]:
    return [o for o in sim.orders if o["client_id"] == cid]


def sim_orders_with(sim: SimServers, name: str, cid: str) -> list[dict]:
    """What the fake exchange actually holds (placed orders, not requests)."""
    if name == "upbit":
        return [o for o in sim.upbit.orders.values() if o["identifier"] == cid]
    return [o for o in sim.binance.orders.values() if o["clientOrderId"] == cid]


# ---------------------------------------------------------------------------- filled


async def test_upbit_market_buy_and_sell_filled(sim, upbit):
    krw0 = D(repr(sim.market.upbit_balances["KRW"]))
    r = req(sim, "upbit", Side.BUY, "t1-UB-0")
    res = await upbit.place_market(r, ORDER_TIMEOUT_S)
    assert res.status is OrderStatus.FILLED, res
    wire = sent(sim, "t1-UB-0")[0]["params"]
    assert wire["ord_type"] == "price" and wire["side"] == "bid" and wire["identifier"] == "t1-UB-0"
    assert D(wire["price"]) == (r.qty * r.price_hint).to_integral_value(rounding="ROUND_DOWN")
    assert res.filled_qty == D("0.01") and res.avg_price == r.price_hint  # one level deep
    assert res.fee == (res.notional * D("0.0005")).quantize(D("1e-8"))  # paid_fee, KRW
    assert res.exchange_id and res.client_id == "t1-UB-0"
    assert D(repr(sim.market.upbit_balances["KRW"])) == pytest.approx(krw0 - res.notional - res.fee, abs=D("0.0001"))

    s = req(sim, "upbit", Side.SELL, "t1-US-0", "0.02")
    sold = await upbit.place_market(s, ORDER_TIMEOUT_S)
    assert sold.status is OrderStatus.FILLED and sold.side is Side.SELL and sold.filled_qty == D("0.02")
    wire = sent(sim, "t1-US-0")[0]["params"]
    assert wire["ord_type"] == "market" and wire["side"] == "ask" and wire["volume"] == "0.02"


async def test_binance_market_filled_both_sides_and_reduce_only(sim, binance):
    opened = await binance.place_market(req(sim, "binance", Side.SELL, "t1-BS-0"), ORDER_TIMEOUT_S)
    assert opened.status is OrderStatus.FILLED and opened.filled_qty == D("0.01")
    assert opened.fee == opened.notional * D("0.0005")
    wire = sent(sim, "t1-BS-0")[0]["params"]
    assert wire["type"] == "MARKET" and wire["side"] == "SELL" and wire["quantity"] == "0.01"
    assert wire["newClientOrderId"] == "t1-BS-0" and wire["newOrderRespType"] == "RESULT"
    assert "reduceOnly" not in wire
    assert (await binance.balances()).positions == {"BTC": D("-0.010")}

    closed = await binance.place_market(req(sim, "binance", Side.BUY, "t1-BB-0", reduce_only=True),
                                        ORDER_TIMEOUT_S)
    assert closed.status is OrderStatus.FILLED and closed.side is Side.BUY
    assert sent(sim, "t1-BB-0")[0]["params"]["reduceOnly"] == "true"
    assert (await binance.balances()).positions == {}
    # reduce-only with nothing left to reduce: Binance's refusal, kept word for word
    again = await binance.place_market(req(sim, "binance", Side.BUY, "t1-BB-1", reduce_only=True),
                                       ORDER_TIMEOUT_S)
    assert again.status is OrderStatus.REJECTED and again.error == "-2022 ReduceOnly Order is rejected."


async def test_binance_quantity_off_the_step_is_refused_locally(sim, binance):
    res = await binance.place_market(req(sim, "binance", Side.SELL, "t1-BS-9", "0.0105"), ORDER_TIMEOUT_S)
    assert res.status is OrderStatus.REJECTED and "step" in res.error
    assert sent(sim, "t1-BS-9") == []


# ---------------------------------------------------------------------------- rejected


async def test_insufficient_funds_rejected_with_the_exchanges_words(sim, upbit, binance):
    u = await upbit.place_market(req(sim, "upbit", Side.BUY, "t2-UB-0", "100"), ORDER_TIMEOUT_S)
    assert u.status is OrderStatus.REJECTED and not u.retryable
    assert u.error == "HTTP 400 insufficient_funds_bid: 주문가능한 금액(KRW)이 부족합니다."
    us = await upbit.place_market(req(sim, "upbit", Side.SELL, "t2-US-0", "100"), ORDER_TIMEOUT_S)
    assert us.status is OrderStatus.REJECTED and "insufficient_funds_ask" in us.error
    b = await binance.place_market(req(sim, "binance", Side.SELL, "t2-BS-0", "100"), ORDER_TIMEOUT_S)
    assert b.status is OrderStatus.REJECTED and not b.retryable
    assert b.error == "-2019 Margin is insufficient."
    small = await upbit.place_market(req(sim, "upbit", Side.BUY, "t2-UB-1", "0.00001"), ORDER_TIMEOUT_S)
    assert small.status is OrderStatus.REJECTED and "under_min_total_bid" in small.error


@pytest.mark.parametrize("name", ["upbit", "binance"])
async def test_reject_fault_and_nothing_filled_are_rejected(sim, upbit, binance, name):
    v = venue_of(name, upbit, binance)
    sim.market.faults.inject(name, order_path(name), "reject")
    res = await v.place_market(req(sim, name, Side.BUY, f"t3-{name[0]}B-0"), ORDER_TIMEOUT_S)
    assert res.status is OrderStatus.REJECTED and not res.retryable and res.error
    # accepted, then cancelled/expired with nothing executed: final, nothing filled
    sim.market.faults.inject(name, order_path(name), "partial", fraction=0.0)
    res = await v.place_market(req(sim, name, Side.BUY, f"t3-{name[0]}B-1"), ORDER_TIMEOUT_S)
    assert res.status is OrderStatus.REJECTED and res.filled_qty == 0 and "nothing" in res.error


@pytest.mark.parametrize("name", ["upbit", "binance"])
async def test_http_429_is_rejected_retryable_and_the_same_id_may_go_again(sim, upbit, binance, name):
    """Binance takes the same client id again after a 429; Upbit refuses an identifier used before,
    even by a refused request (its order docs), so the executor resends under a new one."""
    v = venue_of(name, upbit, binance)
    cid = f"t4-{name[0]}B-0"
    sim.market.faults.inject(name, order_path(name), "http429")
    res = await v.place_market(req(sim, name, Side.BUY, cid), ORDER_TIMEOUT_S)
    assert res.status is OrderStatus.REJECTED and res.retryable
    again = await v.place_market(req(sim, name, Side.BUY, cid), ORDER_TIMEOUT_S)
    if name == "binance":
        assert again.status is OrderStatus.FILLED
        assert len(sent(sim, cid)) == 2 and len(sim_orders_with(sim, name, cid)) == 1
    else:
        assert again.status is OrderStatus.REJECTED and "duplicated_identifier" in again.error, again
        assert len(sent(sim, cid)) == 2 and not sim_orders_with(sim, name, cid)
        assert getattr(v, "single_use_client_ids", False)


async def test_bad_keys_are_rejected_not_unknown(sim):
    u = UpbitTrading(sim.upbit_url, sim.upbit_keys[0], "wrong-secret", SystemClock())
    b = BinanceTrading(sim.binance_url, sim.binance_keys[0], "wrong-secret", SystemClock())
    try:
        ru = await u.place_market(req(sim, "upbit", Side.BUY, "t4-UB-9"), ORDER_TIMEOUT_S)
        assert ru.status is OrderStatus.REJECTED and ru.error.startswith("HTTP 401 jwt_verification")
        rb = await b.place_market(req(sim, "binance", Side.BUY, "t4-BB-9"), ORDER_TIMEOUT_S)
        assert rb.status is OrderStatus.REJECTED and rb.error.startswith("-1022")
    finally:
        await u.close()
        await b.close()


# ---------------------------------------------------------------------------- partial


@pytest.mark.parametrize("name", ["upbit", "binance"])
async def test_partial_fill(sim, upbit, binance, name):
    v = venue_of(name, upbit, binance)
    sim.market.faults.inject(name, order_path(name), "partial", fraction=0.4)
    res = await v.place_market(req(sim, name, Side.BUY, f"t5-{name[0]}B-0"), ORDER_TIMEOUT_S)
    assert res.status is OrderStatus.PARTIAL, res
    assert D("0.0039") <= res.filled_qty <= D("0.004")
    assert res.avg_price > 0 and res.fee > 0
    q = await v.query("BTC", f"t5-{name[0]}B-0", ORDER_TIMEOUT_S)
    assert q.status is OrderStatus.PARTIAL and q.filled_qty == res.filled_qty


# ---------------------------------------------------------------------------- unknown


# Upbit + malformed is absent: the fake corrupts only 200 answers and Upbit's order POST answers
# 201, so that fault does nothing there; test_upbit_http_table covers a truncated 201.
@pytest.mark.parametrize("name, kind", [("upbit", "timeout"), ("upbit", "lost"), ("binance", "timeout"),
                                        ("binance", "lost"), ("binance", "malformed")])
async def test_no_answer_is_unknown_then_query_finds_the_fill(sim, upbit, binance, name, kind):
    v = venue_of(name, upbit, binance)
    cid = f"t6-{name[0]}S-{kind}"
    sim.market.faults.inject(name, order_path(name), kind, delay_s=FAULT_DELAY_S)
    res = await v.place_market(req(sim, name, Side.SELL, cid), ORDER_TIMEOUT_S)
    assert res.status is OrderStatus.UNKNOWN, res
    assert res.filled_qty == 0 and res.error
    # the fake placed it before misbehaving: the query by client id finds it
    q = await v.query("BTC", cid, ORDER_TIMEOUT_S)
    assert q.status is OrderStatus.FILLED and q.filled_qty == D("0.01") and q.side is Side.SELL
    # a second place_market with the id never sends it again: it answers from the exchange's state
    again = await v.place_market(req(sim, name, Side.SELL, cid), ORDER_TIMEOUT_S)
    assert again.status is OrderStatus.FILLED and again.exchange_id == q.exchange_id
    assert len(sent(sim, cid)) == 1 and len(sim_orders_with(sim, name, cid)) == 1


async def test_unknown_and_not_found_is_not_resent(sim, upbit, binance):
    """An order that got no answer and that the exchange does not show stays UNKNOWN; it is not
    sent again under the same id (the request could still be on its way)."""
    for name, v in (("upbit", upbit), ("binance", binance)):
        cid = f"t7-{name[0]}S-0"
        sim.market.faults.inject(name, order_path(name), "lost")
        assert (await v.place_market(req(sim, name, Side.SELL, cid), ORDER_TIMEOUT_S)).status is OrderStatus.UNKNOWN
        # pretend the exchange lost it: remove the order the fake placed
        if name == "upbit":
            uid = sim.upbit.by_identifier.pop(cid)
            sim.upbit.orders.pop(uid)
        else:
            for oid in [k for k, o in sim.binance.orders.items() if o["clientOrderId"] == cid]:
                sim.binance.orders.pop(oid)
        again = await v.place_market(req(sim, name, Side.SELL, cid), ORDER_TIMEOUT_S)
        assert again.status is OrderStatus.UNKNOWN and "not sent again" in again.error
        assert len(sent(sim, cid)) == 1


async def test_upbit_read_back_lost_after_acceptance_is_open_then_query_fills(sim, upbit):
    sim.market.faults.inject("upbit", "/v1/order", "lost", count=100)
    res = await upbit.place_market(req(sim, "upbit", Side.BUY, "t8-UB-0"), ORDER_TIMEOUT_S)
    assert res.status is OrderStatus.OPEN and res.exchange_id  # placed for sure, state not read
    sim.market.faults.clear()
    q = await upbit.query("BTC", "t8-UB-0", ORDER_TIMEOUT_S)
    assert q.status is OrderStatus.FILLED and q.exchange_id == res.exchange_id


# ---------------------------------------------------------------------------- ids


@pytest.mark.parametrize("name", ["upbit", "binance"])
async def test_query_of_a_never_sent_id_is_not_found(sim, upbit, binance, name):
    q = await venue_of(name, upbit, binance).query("BTC", "never-sent-0", ORDER_TIMEOUT_S)
    assert q.status is OrderStatus.NOT_FOUND


@pytest.mark.parametrize("name", ["upbit", "binance"])
async def test_duplicate_client_id_is_not_placed_twice(sim, upbit, binance, name):
    v = venue_of(name, upbit, binance)
    cid = f"t9-{name[0]}B-0"
    first = await v.place_market(req(sim, name, Side.BUY, cid), ORDER_TIMEOUT_S)
    second = await v.place_market(req(sim, name, Side.BUY, cid), ORDER_TIMEOUT_S)
    assert first.status is OrderStatus.FILLED and second.exchange_id == first.exchange_id
    assert len(sent(sim, cid)) == 1 and len(sim_orders_with(sim, name, cid)) == 1


async def test_upbit_duplicate_identifier_from_another_process_reads_the_order_back(sim, upbit):
    first = await upbit.place_market(req(sim, "upbit", Side.BUY, "t9-UB-5"), ORDER_TIMEOUT_S)
    other = UpbitTrading(sim.upbit_url, *sim.upbit_keys, SystemClock())  # no memory of the first send
    try:
        res = await other.place_market(req(sim, "upbit", Side.BUY, "t9-UB-5"), ORDER_TIMEOUT_S)
    finally:
        await other.close()
    assert res.status is OrderStatus.FILLED and res.exchange_id == first.exchange_id
    assert len(sent(sim, "t9-UB-5")) == 2 and len(sim_orders_with(sim, "upbit", "t9-UB-5")) == 1


# ---------------------------------------------------------------------------- account


async def test_balances(sim, upbit, binance):
    ub = await upbit.balances()
    assert ub.quote_free == D(repr(sim.market.upbit_balances["KRW"]))
    assert ub.coins["BTC"] == D("1") and ub.coins["XRP"] == D("10000")
    bought = await upbit.place_market(req(sim, "upbit", Side.BUY, "t10-UB-0"), ORDER_TIMEOUT_S)
    ub2 = await upbit.balances()
    assert ub2.coins["BTC"] == D("1") + bought.filled_qty
    assert ub2.quote_free == pytest.approx(ub.quote_free - bought.notional - bought.fee, abs=D("0.0001"))

    bb = await binance.balances()
    assert bb.positions == {} and bb.quote_free == D("100000")
    await binance.place_market(req(sim, "binance", Side.SELL, "t10-BS-0"), ORDER_TIMEOUT_S)
    bb2 = await binance.balances()
    assert bb2.positions == {"BTC": D("-0.01")}
    # 1x leverage: the position's whole notional is held as margin
    assert bb2.quote_free < bb.quote_free - D("590")


async def test_rules_and_leverage(sim, upbit, binance):
    ur = await upbit.load_rules(["BTC", "XRP"])
    assert ur["BTC"].qty_step == D("1e-8") and ur["BTC"].min_notional == D(5000)
    br = await binance.load_rules(["BTC", "XRP"])
    assert (br["BTC"].qty_step, br["BTC"].min_qty, br["BTC"].min_notional) == (D("0.001"), D("0.001"), D(100))
    assert (br["XRP"].qty_step, br["XRP"].min_notional) == (D("0.1"), D(5))
    assert sim.binance.leverage == {"BTC": 1, "XRP": 1}  # set by load_rules


async def test_cancel_open_orders_cancels_ours_only(sim, upbit, binance):
    low = int(sim.market.upbit_book("BTC")[0][-1][0] * 0.8) // 1000 * 1000
    for ident in ("t11-UL-0", "manual-order"):
        r = await upbit._call("POST", "/v1/orders", {"market": "KRW-BTC", "side": "bid", "ord_type": "limit",
                                                     "price": str(low), "volume": "0.001", "identifier": ident}, 2)
        assert r.status == 201, r
    assert await upbit.cancel_open_orders(["BTC"]) == ["t11-UL-0"]
    states = {o["identifier"]: o["state"] for o in sim.upbit.orders.values()}
    assert states == {"t11-UL-0": "cancel", "manual-order": "wait"}

    for cid in ("t11-BL-0", "web_abc"):
        await binance.ex.create_order("BTC/USDT:USDT", "limit", "buy", 0.01, 50_000, {"newClientOrderId": cid})
    assert await binance.cancel_open_orders(["BTC"]) == ["t11-BL-0"]
    states = {o["clientOrderId"]: o["status"] for o in sim.binance.orders.values()}
    assert states == {"t11-BL-0": "CANCELED", "web_abc": "NEW"}


async def test_funding_info_and_payments():
    clock = ManualClock(start_ms=1_735_689_600_000 + 3_600_000)  # 01:00 UTC
    async with SimServers(SimMarket(seed=3, clock=clock)) as sim:
        v = BinanceTrading(sim.binance_url, *sim.binance_keys, SystemClock())
        try:
            await v.load_rules(["BTC"])
            info = await v.funding_info("BTC")
            assert info.next_funding_ms == 1_735_689_600_000 + 8 * 3_600_000
            assert info.rate == D("0.0001") and info.mark_price == D(repr(sim.market.mark_price("BTC")))
            await v.place_market(req(sim, "binance", Side.SELL, "t12-BS-0"), ORDER_TIMEOUT_S)
            assert await v.funding_payments("BTC", 0) == []
            clock.advance(16 * 3600)  # 08:00 and 16:00 pass
            pays = await v.funding_payments("BTC", clock.now_ms() - 24 * 3_600_000)
            assert [p.ts for p in pays] == [1_735_689_600_000 + 8 * 3_600_000, 1_735_689_600_000 + 16 * 3_600_000]
            mark = D(repr(sim.market.mark_price("BTC")))
            for p in pays:  # a short receives a positive rate
                assert p.symbol == "BTC" and p.tran_id
                assert p.amount_usdt == pytest.approx(D("0.01") * mark * D("0.0001"), abs=D("1e-6"))
            assert len({p.tran_id for p in pays}) == 2
            assert await v.funding_payments("BTC", pays[1].ts) == pays[1:]
        finally:
            await v.close()


# ---------------------------------------------------------------------------- mapping tables


@pytest.mark.parametrize("exc, status, retryable", [
    (ccxt.InsufficientFunds('binanceusdm {"code":-2019,"msg":"Margin is insufficient."}'), "rejected", False),
    (ccxt.ExchangeError('binanceusdm {"code":-2019,"msg":"Margin is insufficient."}'), "rejected", False),
    (ccxt.InvalidOrder('binanceusdm {"code":-4164,"msg":"Order\'s notional must be no smaller than 100"}'),
     "rejected", False),
    (ccxt.DDoSProtection("binanceusdm 418 I'm a teapot "), "rejected", True),
    (ccxt.DDoSProtection('binanceusdm 429 Too Many Requests {"code":-1003,"msg":"Too many requests"}'),
     "rejected", True),
    (ccxt.OperationFailed('binanceusdm {"code":-1008,"msg":"Server is currently overloaded"}'), "rejected", True),
    (ccxt.InvalidNonce('binanceusdm {"code":-1021,"msg":"Timestamp outside of the recvWindow."}'), "rejected", True),
    (ccxt.RequestTimeout('binanceusdm {"code":-1007,"msg":"Timeout waiting for response from backend server. '
                         'Send status unknown; execution status unknown."}'), "unknown", False),
    (ccxt.OperationFailed('binanceusdm {"code":-1000,"msg":"An unknown error occured"}'), "unknown", False),
    (ccxt.ExchangeNotAvailable("binanceusdm 503 Service Unavailable"), "unknown", False),
    (ccxt.ExchangeError("binanceusdm POST https://fapi.binance.com/fapi/v1/order"), "unknown", False),  # aiohttp
    (ccxt.NetworkError("binanceusdm connection reset"), "unknown", False),
    (ccxt.BadResponse("binanceusdm malformed"), "unknown", False),
])
def test_binance_error_table(exc, status, retryable):
    st, retry, error = BinanceTrading._classify(exc)
    assert (st.value, retry) == (status, retryable)
    assert error


@pytest.mark.parametrize("status_code, body, status, retryable", [
    (418, '{"error":{"name":"too_many_requests","message":"banned for a while"}}', "rejected", True),
    (429, "Too many API requests.", "rejected", True),
    (401, '{"error":{"name":"invalid_access_key","message":"잘못된 엑세스 키입니다."}}', "rejected", False),
    (400, '{"error":{"name":"invalid_volume_ask","message":"주문 수량 단위를 잘못 입력하셨습니다."}}', "rejected", False),
    (500, '{"error":{"name":"server_error","message":"일시적인 서버 오류입니다."}}', "unknown", False),
    (502, "<html>Bad Gateway</html>", "unknown", False),
    (201, '{"uuid": ', "unknown", False),  # truncated: it may well be placed
])
async def test_upbit_http_table(sim, upbit, monkeypatch, status_code, body, status, retryable):
    import json

    try:
        data = json.loads(body)
    except ValueError:
        data = None
    monkeypatch.setattr(upbit, "_http", lambda *a, **k: _Reply(status_code, body, data))
    res = await upbit.place_market(req(sim, "upbit", Side.BUY, "t13-UB-0"), ORDER_TIMEOUT_S)
    assert (res.status.value, res.retryable) == (status, retryable), res
    assert res.error


async def test_binance_answer_new_is_read_back_until_final(sim, binance, monkeypatch):
    """Under load Binance may answer a MARKET order with NEW: the adapter reads it back."""
    real = binance.ex.create_order

    async def ack_only(symbol, type, side, amount, price=None, params={}):
        return await real(symbol, type, side, amount, price, {**params, "newOrderRespType": "ACK"})

    monkeypatch.setattr(binance.ex, "create_order", ack_only)
    res = await binance.place_market(req(sim, "binance", Side.SELL, "t14-BS-0"), ORDER_TIMEOUT_S)
    assert sent(sim, "t14-BS-0")[0]["params"]["newOrderRespType"] == "ACK"  # answered NEW
    assert res.status is OrderStatus.FILLED and res.filled_qty == D("0.01")


async def test_upbit_market_buy_ending_cancel_with_only_dust_left_is_filled(sim, upbit, monkeypatch):
    """Real Upbit often closes a KRW-amount buy as ``cancel`` because a few KRW (less than 1e-8
    coin) could not be spent: that is a complete fill, not a partial one."""
    accepted = {"uuid": "u-1", "side": "bid", "ord_type": "price", "price": "1000000", "state": "wait",
                "market": "KRW-BTC", "identifier": "t15-UB-0", "executed_volume": "0", "paid_fee": "0"}
    done = dict(accepted, state="cancel", executed_volume="0.00999900", paid_fee="499.95",
                trades=[{"price": "100010000", "volume": "0.009999", "funds": "999999.99"}])
    partial = dict(done, executed_volume="0.005",
                   trades=[{"price": "100010000", "volume": "0.005", "funds": "500050"}])
    for order, want in ((done, OrderStatus.FILLED), (partial, OrderStatus.PARTIAL)):
        def http(method, path, params, timeout_s, order=order):
            if method == "POST":
                return _Reply(201, "", accepted)
            return _Reply(200, "", order)

        monkeypatch.setattr(upbit, "_http", http)
        res = await upbit.place_market(OrderRequest("upbit", "BTC", Side.BUY, f"t15-UB-{want.value}", D("0.01"),
                                                    D("100000000")), ORDER_TIMEOUT_S)
        assert res.status is want, res
        assert res.fee == D(order["paid_fee"])
