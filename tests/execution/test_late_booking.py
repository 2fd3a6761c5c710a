"""Orders without a final answer, against the simulated exchanges through the real ccxt and pyupbit
clients (issue 10 §1 and the executor items of §6):

* a leg answered "execution status unknown" (Binance 503 / -1007, Upbit 504) that the exchange books
  seconds LATER (``late`` fault: invisible to queries until then): the trade settles as if nothing
  filled, the order stays watched, no order of that coin goes out meanwhile, and the late fill is
  alerted (critical, naming coin, venue, side and quantity) and reversed within seconds: never a
  doubled or unhedged position;
* the journal is compared with the exchanges' positions continuously: an unexplained position is a
  critical finding (Adopt / Close / Ignore) that halts entries;
* an Upbit 429 is resent under a new identifier (Upbit's are single-use), after a query;
* a permanent rejection (-2019) halts entries after the first attempt, naming the cause;
* a rollback's cost counts the entry leg's fee; a KRW-sized Upbit buy within the perp's step is a
  complete fill; prices in fill events are on the venue's tick.
"""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal

import pytest
from testkit import wait_until

from kimpbot.clock import SystemClock
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.events import Event, EventBus
from kimpbot.exchanges.binance_trading import BinanceTrading
from kimpbot.exchanges.upbit_trading import UpbitTrading
from kimpbot.execution.executor import ExecConfig
from kimpbot.execution.trader import Trader, signal_prices
from kimpbot.market.engine import MarketEngine
from kimpbot.models import Direction, FxRate
from kimpbot.store import Store
from kimpbot.strategy.base import Signal

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

SYM = "BTC"
ORDER_PATH = {"upbit": "/v1/orders", "binance": "/fapi/v1/order"}
ALERT_BUDGET_S = 10.0  # issue 10: a late booking is detected and the owner alerted within 10 s


def feed(eng: MarketEngine, sim, clock: SystemClock) -> None:
    """The sim's current books and rate into the market engine (what the feeds would deliver)."""
    now = clock.now_ms()
    ub, ua = sim.market.upbit_book(SYM, 15)
    bb, ba = sim.market.binance_book(SYM, 20)
    units = [{"ask_price": a[0], "bid_price": b[0], "ask_size": a[1], "bid_size": b[1]} for b, a in zip(ub, ua)]
    eng.on_upbit_message({"type": "orderbook", "code": f"KRW-{SYM}", "timestamp": now, "orderbook_units": units})
    eng.on_binance_message({"e": "depthUpdate", "E": now, "T": now, "s": f"{SYM}USDT",
                            "b": [[str(p), str(q)] for p, q in bb], "a": [[str(p), str(q)] for p, q in ba]})
    for _ in range(3):  # both sources, steady for the FX check's first fx.confirm_readings readings
        eng.on_fx(FxRate("usdt", sim.market.usdt_krw, now, now))
        eng.on_fx(FxRate("usdkrw", sim.market.usdkrw, now, now))


class Rig:
    """A Trader on live adapters over the simulated exchanges, its bus timed as events arrive."""

    def __init__(self, sim, tmp_path, **cfg: float) -> None:
        self.sim = sim
        self.clock = SystemClock()
        self.owner = load_owner_config(None, f"strategy = 'zscore'\nsymbols = ['{SYM}']\n")
        self.bus = EventBus()
        self.seen: list[tuple[float, Event]] = []
        self.bus.subscribe(lambda ev: self.seen.append((asyncio.get_running_loop().time(), ev)))
        self.eng = MarketEngine(self.owner, self.clock, self.bus)
        self.store = Store(tmp_path / "data", "live", clock=self.clock)
        env = sim.env()
        self.up = UpbitTrading(env["UPBIT_API_URL"], env["UPBIT_ACCESS_KEY"], env["UPBIT_SECRET_KEY"], self.clock)
        self.bn = BinanceTrading(env["BINANCE_FUTURES_API_URL"], env["BINANCE_API_KEY"], env["BINANCE_API_SECRET"],
                                 self.clock)
        base = dict(order_timeout_s=1.0, query_timeout_s=1.0, unknown_grace_s=0.5, query_interval_s=0.1,
                    retry_delay_s=0.1, late_window_s=30.0)
        base.update(cfg)
        # live=False: the live canary cap is not what these tests are about; the venues are live ones
        self.trader = Trader(self.owner, self.eng, None, self.store, self.bus, self.clock, self.up, self.bn,
                             live=False, trade_mode="auto", exec_cfg=ExecConfig(**base))

    async def start(self) -> "Rig":
        feed(self.eng, self.sim, self.clock)
        await self.trader.start()
        return self

    async def close(self) -> None:
        await self.trader.stop()
        await self.up.close()
        await self.bn.close()
        self.store.close()

    @property
    def ex(self):
        assert self.trader.executor is not None
        return self.trader.executor

    def signal(self, action: str = "enter", size: float = 2_000_000.0, position_id: str | None = None,
               direction: Direction = Direction.LONG_PREMIUM) -> Signal:
        return Signal(SYM, direction, action, size, -3.0, 1.0, "normal", 0.8, f"test {action}", 0, position_id,
                      "zscore")

    def prices(self, sig: Signal) -> tuple[float, float]:
        feed(self.eng, self.sim, self.clock)
        snap = self.eng.views[SYM].snapshot
        assert snap is not None
        up, bp = signal_prices(sig, snap)
        assert up is not None and bp is not None
        return up, bp

    async def enter(self, **kw):
        sig = self.signal(**kw)
        up, bp = self.prices(sig)
        return await self.ex.execute(sig, upbit_price=up, binance_price=bp, fx=self.sim.market.usdkrw)

    async def holdings(self) -> tuple[Decimal, Decimal]:
        u = await self.up.balances()
        b = await self.bn.balances()
        return u.coins.get(SYM, Decimal(0)), b.positions.get(SYM, Decimal(0))

    def events(self, kind: str, **match: object) -> list[tuple[float, Event]]:
        return [(t, e) for t, e in self.seen if e.kind == kind and all(e.data.get(k) == v for k, v in match.items())]

    def posts(self, cid: str) -> list[dict]:
        return [o for o in self.sim.orders if o.get("client_id") == cid and o.get("method") == "POST"]


@pytest.fixture
async def rig(sim, tmp_path):
    r = await Rig(sim, tmp_path).start()
    try:
        yield r
    finally:
        await r.close()


async def _late_booking(rig: Rig, venue: str, delay_s: float) -> dict:
    """Enter with one leg booked late; returns what the assertions and the latency report need."""
    sim = rig.sim
    base = await rig.holdings()
    sim.market.faults.inject(venue, ORDER_PATH[venue], "late", delay_s=delay_s)
    out = await rig.enter()
    res = out.upbit if venue == "upbit" else out.binance
    assert res is not None
    cid = res.client_id
    # settled as "nothing filled on that leg": the other leg was reversed
    assert out.status == "rolled_back", (out.status, out.messages)
    assert res.filled_qty == 0 and "not found" in res.error
    assert [e.client_order_id for e in rig.store.journal_open()] == [cid]
    late = sim.upbit if venue == "upbit" else sim.binance
    assert not late.late_booked, "the test must look before the exchange books it"

    # while it has no final answer, no order of that coin goes out: not an entry through the
    # trader (the owner is told why), not one straight to the executor
    sends = len(sim.orders)
    sig = rig.signal()
    feed(rig.eng, sim, rig.clock)
    assert await rig.trader._run(sig, rig.eng.views[SYM].snapshot, by="test") is None
    assert await wait_until(lambda: rig.events("refused", symbol=SYM))
    refused = rig.events("refused", symbol=SYM)
    assert cid in refused[-1][1].message and "no final answer" in refused[-1][1].message
    blocked = await rig.enter()
    assert blocked.status == "failed" and cid in blocked.messages[0]
    assert len(sim.orders) == sends, "an order went out while one of the coin was unresolved"

    # the exchange books it late; the watch alerts it at once and reverses it
    assert await wait_until(lambda: late.late_booked, timeout=delay_s + 10)
    booked_at = late.late_booked[0]["at"]
    assert await wait_until(lambda: rig.events("exposure", client_id=cid, late_fill=True), timeout=15)
    alert_at, alert = rig.events("exposure", client_id=cid, late_fill=True)[0]
    latency = alert_at - booked_at
    assert alert.level == "critical"
    for word in (SYM, venue.capitalize(), res.side.value):  # the English log line names coin, venue and side
        assert word in alert.message
    for word in (SYM, {"upbit": "업비트", "binance": "바이낸스"}[venue], {"buy": "매수", "sell": "매도"}[res.side.value]):
        assert word in alert.shown("ko")
    assert await wait_until(lambda: not rig.store.journal_open() and rig.events("unwind", venue=venue), timeout=15)
    now = await rig.holdings()
    # nothing doubled, nothing unhedged: both venues back where they started
    assert abs(now[1] - base[1]) < Decimal("0.001"), (base, now)
    assert abs(now[0] - base[0]) < Decimal("0.0001"), (base, now)
    assert len(rig.posts(cid)) == 1, "an order answered 'unknown' is queried, never resent"
    assert not rig.ex.unresolved(SYM)
    return {"latency": latency, "cid": cid}


async def test_binance_late_booking_is_alerted_within_10s_reversed_and_blocks_the_coin(rig):
    got = await _late_booking(rig, "binance", delay_s=4.0)
    print(f"\nlate booking alert latency (Binance): {got['latency']:.2f} s")
    assert 0 <= got["latency"] <= ALERT_BUDGET_S
    # the coin is free again afterwards
    out = await rig.enter()
    assert out.status == "filled", out.messages


async def test_upbit_late_booking_is_alerted_and_reversed(rig):
    got = await _late_booking(rig, "upbit", delay_s=4.0)
    print(f"\nlate booking alert latency (Upbit): {got['latency']:.2f} s")
    assert 0 <= got["latency"] <= ALERT_BUDGET_S


async def test_not_found_for_the_whole_window_is_taken_as_never_placed(sim, tmp_path):
    r = await Rig(sim, tmp_path, late_window_s=1.5).start()
    try:
        sim.market.faults.inject("binance", ORDER_PATH["binance"], "late", delay_s=30)
        out = await r.enter()
        assert out.status == "rolled_back"
        cid = out.binance.client_id
        assert await wait_until(lambda: not r.store.journal_open(), timeout=10)
        assert r.store.journal_get(cid).status == "expired"
        assert not r.ex.unresolved(SYM)
    finally:
        await r.close()


async def test_position_check_alerts_an_unexplained_position_and_halts(sim, tmp_path):
    r = await Rig(sim, tmp_path, position_check_s=0.5).start()
    try:
        from kimpbot.execution.venues import OrderRequest, Side

        assert not r.store.halt_state().halted
        bids, _ = sim.market.binance_book(SYM)
        t0 = asyncio.get_running_loop().time()
        # an order the journal knows nothing about (by hand, another bot, a booking nobody watched)
        res = await r.bn.place_market(OrderRequest("binance", SYM, Side.SELL, "byhand-B-0", Decimal("0.005"),
                                                   Decimal(repr(bids[0][0]))), 2.0)
        assert res.filled_qty == Decimal("0.005")
        assert await wait_until(lambda: r.events("reconcile", symbol=SYM), timeout=ALERT_BUDGET_S)
        at, ev = r.events("reconcile", symbol=SYM)[0]
        print(f"\nposition check alert latency: {at - t0:.2f} s")
        assert ev.level == "critical"
        (finding,) = ev.data["findings"]
        assert "Binance" in finding and SYM in finding and "-0.005" in finding
        assert r.store.halt_state().halted and "position mismatch" in r.store.halt_state().reason
        # the Adopt button's action works on it (Close / Ignore use the same finding metadata)
        meta = r.trader.finding_meta[finding]
        state, note = await r.trader.adopt_finding(meta, by="owner")
        assert state == "adopted", note
        done = r.trader.position_checks
        assert await wait_until(lambda: r.trader.position_checks >= done + 2)
        assert len(r.events("reconcile", symbol=SYM)) == 1  # an adopted position is not reported again
    finally:
        await r.close()


async def test_upbit_429_is_resent_under_a_new_identifier_after_a_query(rig):
    sim = rig.sim
    base = await rig.holdings()
    sim.market.faults.inject("upbit", ORDER_PATH["upbit"], "http429")
    out = await rig.enter()
    assert out.status == "filled", out.messages
    legs = [e for e in rig.store.journal_for_trade(out.trade_id) if e.leg == "U"]
    assert [e.attempt for e in legs] == [0, 1]
    first, second = legs
    assert first.status == "rejected" and first.filled_qty == 0 and "new identifier" in (first.raw_error or "")
    assert second.status == "filled" and out.upbit.client_id == second.client_order_id
    assert len(rig.posts(first.client_order_id)) == 1 and len(rig.posts(second.client_order_id)) == 1
    assert not [o for o in sim.upbit.orders.values() if o["identifier"] == first.client_order_id]
    now = await rig.holdings()
    assert abs((now[0] - base[0]) + (now[1] - base[1])) < Decimal("0.001")


@pytest.mark.parametrize("venue, error, cause", [
    ("binance", None, "-2019 Margin is insufficient"),  # the fake's default order refusal
    ("upbit", "insufficient_funds_bid", "insufficient_funds_bid"),
])
async def test_permanent_rejection_halts_entries_after_the_first_attempt(rig, venue, error, cause):
    sim = rig.sim
    sim.market.faults.inject(venue, ORDER_PATH[venue], "reject", count=5, error=error)
    sig = rig.signal()
    feed(rig.eng, sim, rig.clock)
    snap = rig.eng.views[SYM].snapshot
    out = await rig.trader._run(sig, snap, by="auto")
    assert out is not None and out.status == "rolled_back"
    hs = rig.store.halt_state()
    assert hs.halted and cause in hs.reason, hs
    posts = len(sim.orders)
    assert await rig.trader._run(sig, snap, by="auto") is None  # the next tick: refused, nothing sent
    assert len(sim.orders) == posts
    assert await wait_until(lambda: any("halted" in e.message for _, e in rig.events("refused")))


async def test_transient_rejection_does_not_halt(rig):
    rig.sim.market.faults.inject("binance", ORDER_PATH["binance"], "partial", fraction=0.0)  # expired, 0 filled
    out = await rig.enter()
    assert out.status == "rolled_back"
    assert not rig.store.halt_state().halted


async def test_rollback_cost_counts_the_entry_fee(rig):
    rig.sim.market.faults.inject("binance", ORDER_PATH["binance"], "reject")
    out = await rig.enter()
    assert out.status == "rolled_back"
    (buy,) = [e for e in rig.store.journal_for_trade(out.trade_id) if e.leg == "U"]
    (sell,) = [e for e in rig.store.journal_for_trade(out.trade_id) if e.leg == "UU"]
    assert buy.fee and sell.fee and buy.filled_qty == sell.filled_qty
    fees = buy.fee + sell.fee
    move = (buy.avg_price - sell.avg_price) * sell.filled_qty
    assert abs(Decimal(str(out.cost_fees_krw)) - fees) < Decimal("0.01")
    assert abs(Decimal(str(out.cost_krw)) - (fees + move)) < Decimal("0.01")
    assert await wait_until(lambda: rig.events("rollback"))
    msg = rig.events("rollback")[-1][1]
    assert f"cost {out.cost_krw:,.0f} KRW" in msg.message and f"fees {float(fees):,.0f} KRW" in msg.message


async def test_krw_sized_upbit_buy_within_the_perp_step_is_a_complete_fill_with_prices_on_tick(rig):
    sig = rig.signal()
    up, bp = rig.prices(sig)
    # the KRW amount is sized from the expected price; a book a little dearer buys a little less
    out = await rig.ex.execute(sig, upbit_price=up * 0.9995, binance_price=bp, fx=rig.sim.market.usdkrw)
    want_b = out.binance.filled_qty
    assert out.upbit.filled_qty < want_b and want_b - out.upbit.filled_qty < Decimal("0.001")
    assert out.status == "filled", out.messages
    assert await wait_until(lambda: rig.events("trade"))
    trade = rig.events("trade")[-1][1].message
    assert "partly" not in trade and " filled:" in trade
    # every price shown is on the venue's tick: no float noise (Binance BTC tick 0.1, Upbit 1,000 KRW)
    for kind in ("fill", "trade"):
        for _, ev in rig.events(kind):
            assert not re.search(r"@ [\d,]+\.\d{2,}", ev.message), ev.message


async def test_a_late_booking_pending_at_a_restart_is_watched_and_reversed(sim, tmp_path):
    first = await Rig(sim, tmp_path).start()
    base = await first.holdings()
    sim.market.faults.inject("binance", ORDER_PATH["binance"], "late", delay_s=4.0)
    out = await first.enter()
    assert out.status == "rolled_back"
    cid = out.binance.client_id
    await first.close()  # stopped (or killed) before the exchange booked it
    assert not sim.binance.late_booked
    again = await Rig(sim, tmp_path).start()  # restart reconciliation on the same journal
    try:
        assert again.ex.unresolved(SYM) and again.ex.watching(cid)
        assert await wait_until(lambda: again.events("exposure", client_id=cid, late_fill=True), timeout=15)
        assert await wait_until(lambda: not again.store.journal_open(), timeout=15)
        now = await again.holdings()
        assert abs(now[1] - base[1]) < Decimal("0.001") and abs(now[0] - base[0]) < Decimal("0.0001"), (base, now)
    finally:
        await again.close()


async def test_a_late_booked_exit_leg_is_reopened_and_the_position_stays_hedged(rig):
    out = await rig.enter()
    assert out.status == "filled"
    (pos,) = rig.ex.positions()
    held = await rig.holdings()
    rig.sim.market.faults.inject("binance", ORDER_PATH["binance"], "late", delay_s=4.0)
    sig = rig.signal("exit", position_id=pos.id)
    up, bp = rig.prices(sig)
    ex = await rig.ex.execute(sig, upbit_price=up, binance_price=bp, fx=rig.sim.market.usdkrw, position=pos)
    # the perp close is not found (yet): not retried beside it; the Upbit sale is bought back (a
    # KRW-sized buy-back may leave a few satoshi closed: "partial")
    assert ex.status in ("rolled_back", "partial"), (ex.status, ex.messages)
    assert len(rig.posts(ex.binance.client_id)) == 1
    cid = ex.binance.client_id
    assert [e.client_order_id for e in rig.store.journal_open()] == [cid]
    assert [p.id for p in rig.ex.positions()] == [pos.id]
    # the close books late: alerted and reversed (re-opened), so the position is hedged as booked
    assert await wait_until(lambda: rig.events("exposure", client_id=cid, late_fill=True), timeout=15)
    assert await wait_until(lambda: not rig.store.journal_open(), timeout=15)
    assert await wait_until(lambda: rig.events("unwind", venue="binance"), timeout=15)
    now = await rig.holdings()
    assert abs(now[1] - held[1]) < Decimal("0.001") and abs(now[0] - held[0]) < Decimal("0.0001"), (held, now)
    assert not rig.store.halt_state().halted
