"""Fault-injection matrix over the simulated exchanges, through the real pyupbit and ccxt clients:

{reject, timeout, partial fill, response lost after placing, HTTP 429} x {Upbit leg, Binance leg}
x {entry, exit} x {long, short premium}: every case must end hedged or flat, as the EXCHANGES'
own balances and positions show, and publish an alert naming what happened.
"""

from __future__ import annotations

import contextlib
import dataclasses
from decimal import Decimal

import pytest

from kimpbot.clock import SystemClock
from kimpbot.events import EventBus
from kimpbot.exchanges.binance_trading import BinanceTrading
from kimpbot.exchanges.upbit_trading import UpbitTrading
from kimpbot.execution.executor import ExecConfig, Executor, TradeOutcome, _req_of_entry
from kimpbot.execution.trader import _result_of  # a journal entry's answer, as the restart reads it
from kimpbot.execution.venues import OrderRequest
from kimpbot.models import Direction
from kimpbot.store import Store, StoreFailed
from kimpbot.strategy.base import Signal

FAULTS = {
    # kind: inject() keyword arguments; reject persists so an exit's retry fails too (rollback path)
    "reject": {"count": 3},
    "timeout": {"count": 1, "delay_s": 1.2},
    "partial": {"count": 1, "fraction": 0.5},
    "lost": {"count": 1},
    "http429": {"count": 1},
}
ENDPOINT = {"upbit": "/v1/orders", "binance": "/fapi/v1/order"}
SYM = "BTC"
ALERT_KINDS = {"trade", "rollback", "unwind", "error", "exposure"}


@contextlib.asynccontextmanager
async def running_executor(sim, tmp_path):
    """An Executor on the simulated exchanges through the real clients, with its store and bus;
    the clients and the store are closed after the ``with`` block."""
    env = sim.env()
    clock = SystemClock()
    store = Store(tmp_path / "data", "live", clock=clock)
    up = UpbitTrading(env["UPBIT_API_URL"], env["UPBIT_ACCESS_KEY"], env["UPBIT_SECRET_KEY"], clock)
    bn = BinanceTrading(env["BINANCE_FUTURES_API_URL"], env["BINANCE_API_KEY"], env["BINANCE_API_SECRET"], clock)
    ur = await up.load_rules([SYM])
    br = await bn.load_rules([SYM])
    rules = {("upbit", SYM): ur[SYM], ("binance", SYM): br[SYM]}
    bus = EventBus()
    cfg = ExecConfig(order_timeout_s=0.6, query_timeout_s=1.0, unknown_grace_s=4.0, query_interval_s=0.1,
                     retry_delay_s=0.1)
    try:
        yield Executor(up, bn, store, bus, clock, rules, cfg), store, bus
    finally:
        await up.close()
        await bn.close()
        store.close()


async def enter_long(ex: Executor, sim):
    """A filled long-premium entry: (the open position, the FX rate it used)."""
    fx = sim.market.usdkrw
    up, bp = prices(sim, Direction.LONG_PREMIUM, "enter")
    out = await ex.execute(signal(Direction.LONG_PREMIUM, "enter"), upbit_price=up, binance_price=bp, fx=fx)
    assert out.status == "filled", out
    (pos,) = ex.positions()
    return pos, fx


async def partial_exit(ex: Executor, sim, pos, fx: float):
    """An exit of ``pos`` whose order and its retry each fill half on Binance: booked as partial."""
    d = Direction.LONG_PREMIUM
    sim.market.faults.inject("binance", ENDPOINT["binance"], "partial", count=2, fraction=0.5)
    up, bp = prices(sim, d, "exit")
    first = await ex.execute(signal(d, "exit", pos.id), upbit_price=up, binance_price=bp, fx=fx, position=pos)
    sim.market.faults.clear()
    assert first.status == "partial", (first.status, first.messages)
    return first


def journal_legs(store, trade_id: str) -> tuple[dict, OrderRequest, OrderRequest]:
    """A trade's first orders as the restart reads them from the journal: (legs, Upbit, Binance request)."""
    legs = {e.leg: e for e in store.journal_for_trade(trade_id) if e.attempt == 0}
    return legs, _req_of_entry(legs["U"]), _req_of_entry(legs["B"])


def prices(sim, direction: Direction, action: str) -> tuple[float, float]:
    ubids, uasks = sim.market.upbit_book(SYM)
    bbids, basks = sim.market.binance_book(SYM)
    buy_upbit = (direction is Direction.LONG_PREMIUM) == (action != "exit")
    return (uasks[0][0], bbids[0][0]) if buy_upbit else (ubids[0][0], basks[0][0])


def signal(direction: Direction, action: str, position_id=None, size=2_000_000.0) -> Signal:
    return Signal(SYM, direction, action, size, -3.0 if direction is Direction.LONG_PREMIUM else 3.0, 1.0,
                  "normal", 0.8, f"matrix {action}", 0, position_id, "zscore")


async def exposure(ex: Executor) -> tuple[Decimal, Decimal]:
    """(Upbit coin held, Binance signed position) as the exchanges report them."""
    u = await ex.upbit.balances()
    b = await ex.binance.balances()
    return u.coins.get(SYM, Decimal(0)), b.positions.get(SYM, Decimal(0))


def assert_hedged(base, now, step=Decimal("0.001")):
    du = now[0] - base[0]
    db = now[1] - base[1]
    assert abs(du + db) < step, f"unhedged: Upbit {du:+}, Binance {db:+}"


@pytest.mark.parametrize("direction", [Direction.LONG_PREMIUM, Direction.SHORT_PREMIUM], ids=["long", "short"])
@pytest.mark.parametrize("stage", ["entry", "exit"])
@pytest.mark.parametrize("venue", ["upbit", "binance"])
@pytest.mark.parametrize("kind", list(FAULTS))
async def test_fault_ends_hedged_or_flat_with_alert(sim, tmp_path, kind, venue, stage, direction):
    async with running_executor(sim, tmp_path) as (ex, store, bus):
        fx = sim.market.usdkrw
        base = await exposure(ex)
        pos = None
        if stage == "exit":
            up, bp = prices(sim, direction, "enter")
            out = await ex.execute(signal(direction, "enter"), upbit_price=up, binance_price=bp, fx=fx)
            assert out.status == "filled", out
            (pos,) = ex.positions()
        sim.market.faults.inject(venue, ENDPOINT[venue], kind, **FAULTS[kind])
        before = len(bus.history)
        action = "exit" if stage == "exit" else "enter"
        up, bp = prices(sim, direction, action)
        out = await ex.execute(signal(direction, action, pos.id if pos else None), upbit_price=up,
                               binance_price=bp, fx=fx, position=pos)
        sim.market.faults.clear()
        # hedged or flat on the exchanges themselves
        assert out.hedged_or_flat, out.exposure
        now = await exposure(ex)
        assert_hedged(base, now)
        # what the store believes matches what the exchanges hold
        held_u = sum(Decimal(str(p.upbit_qty)) * (1 if p.direction is Direction.LONG_PREMIUM else -1)
                     for p in ex.positions())
        assert abs((now[0] - base[0]) - held_u) < Decimal("0.00001"), (now, held_u)
        # an alert reached the bus, naming the symbol
        alerts = [e for e in bus.history[before:] if e.kind in ALERT_KINDS and e.data.get("trade_id") == out.trade_id]
        assert alerts, [e.message for e in bus.history[before:]]
        assert all(SYM in e.message for e in alerts)
        assert not [e for e in bus.history if e.kind == "exposure"]
        if kind in ("timeout", "lost", "http429"):
            # an unanswered order is queried, never resent; a refused (429) one is resent once: with
            # the same client id on Binance, under the next attempt's on Upbit (its identifiers are
            # single-use). The exchange-side balances above prove nothing was doubled.
            assert out.status == "filled", (out.status, out.messages)
            cid = out.upbit.client_id if venue == "upbit" else out.binance.client_id
            sends = [o for o in sim.orders if o.get("client_id") == cid and o.get("method") == "POST"]
            renamed = kind == "http429" and venue == "upbit"
            assert len(sends) == (2 if kind == "http429" and not renamed else 1), sends
            if renamed:
                assert cid.endswith("-U-1")
                first = [o for o in sim.orders if o.get("client_id") == cid[:-1] + "0" and o.get("method") == "POST"]
                assert len(first) == 1, first
        if kind == "reject" and stage == "entry":
            assert out.status in ("rolled_back", "failed")
            assert any(e.kind in ("rollback", "error") for e in bus.history[before:])
        if kind == "partial":
            assert out.status in ("partial", "filled", "rolled_back")
            assert out.unwinds or out.status == "filled"
        assert not store.journal_open() or kind == "lost"


async def test_exit_in_two_parts_books_the_sum_of_both_parts(sim, tmp_path):
    """A position closed in two exits (the first partly filled on Binance, its retry too) carries the
    realized P&L of BOTH parts: /pnl and the protections read it from the closed position."""
    async with running_executor(sim, tmp_path) as (ex, store, bus):
        pos, fx = await enter_long(ex, sim)
        d = Direction.LONG_PREMIUM
        qty0 = pos.upbit_qty
        # the exit order and its retry both fill half: the first exit closes only part of the position
        await partial_exit(ex, sim, pos, fx)
        (rest,) = ex.positions()
        assert 0 < rest.upbit_qty < qty0
        up, bp = prices(sim, d, "exit")
        second = await ex.execute(signal(d, "exit", pos.id), upbit_price=up, binance_price=bp, fx=fx,
                                  position=rest)
        assert second.status == "filled", (second.status, second.messages)
        assert not ex.positions()
        parts = [e.data["realized_krw"] for e in bus.history
                 if e.kind == "trade" and e.data.get("action") == "exit" and e.data.get("position_id") == pos.id]
        assert len(parts) == 2, parts
        assert parts[0] != 0 and parts[1] != 0
        booked = store.get_position(pos.id)
        assert booked["status"] == "closed"
        assert booked["realized_krw"] == pytest.approx(parts[0] + parts[1], abs=1e-6)


async def test_a_full_exit_is_booked_as_one_record(sim, tmp_path, monkeypatch):
    """Marking the exit applied and closing the position are one journal record: when the second
    write fails (a disk filling up between them, or a crash), neither stays, so the re-settling
    that books unbooked trades finds the exit not yet applied instead of skipping it and leaving
    the position open in the books while the exchanges are flat."""
    async with running_executor(sim, tmp_path) as (ex, store, bus):
        pos, fx = await enter_long(ex, sim)
        d = Direction.LONG_PREMIUM
        def full_disk(*a, **k):
            raise StoreFailed("no space left on device (test)")

        monkeypatch.setattr(store, "close_position", full_disk)
        up, bp = prices(sim, d, "exit")
        out = await ex.execute(signal(d, "exit", pos.id), upbit_price=up, binance_price=bp, fx=fx, position=pos)
        booked = store.get_position(pos.id)
        assert booked["status"] == "open"
        assert out.trade_id not in booked.get("trade_ids", []), booked
        # the owner is told the exit filled but is not booked yet
        assert any(e.data.get("trade_id") == out.trade_id and e.level == "critical" for e in bus.history), \
            [e.message for e in bus.history]


async def test_a_booked_partial_exit_settled_again_sends_nothing(sim, tmp_path):
    """A crash after a partial exit was booked but before its trade record's status was written:
    the restart settles the trade again from the journal. It must see the exit is already in the
    position's books and send nothing (before, it retried the missing part and re-opened any
    imbalance, and those fills reached no books: the books then held more than the exchanges)."""
    async with running_executor(sim, tmp_path) as (ex, store, bus):
        pos, fx = await enter_long(ex, sim)
        d = Direction.LONG_PREMIUM
        first = await partial_exit(ex, sim, pos, fx)
        booked = store.get_position(pos.id)
        assert first.trade_id in booked["trade_ids"]
        (rest,) = ex.positions()
        sent = ex.activity.get(SYM, 0)
        before = await exposure(ex)
        # settled again, as the restart does from the journal
        _, ureq, breq = journal_legs(store, first.trade_id)
        again = TradeOutcome(first.trade_id, SYM, "exit", "filled", upbit=first.upbit, binance=first.binance)
        await ex._settle_exit(again, signal(d, "exit", pos.id), rest, ureq, breq, fx)
        assert ex.activity.get(SYM, 0) == sent, "an order was sent for an exit already booked"
        assert await exposure(ex) == before
        assert again.status == "partial" and again.position_id == pos.id
        assert store.get_position(pos.id) == booked


async def test_a_booked_entry_settled_again_sends_nothing(sim, tmp_path):
    """The same for an entry: booked (its trade id in the position's books) before a crash, settled
    again from a journal whose legs differ (an unwind that failed the first time): no unwind is
    sent now (the books hold what the first settling left; the position check compares them with
    the exchanges and alerts), nothing is booked twice."""
    async with running_executor(sim, tmp_path) as (ex, store, bus):
        pos, fx = await enter_long(ex, sim)
        tid = pos.id
        booked = store.get_position(pos.id)
        assert tid in booked["trade_ids"]
        legs, ureq, breq = journal_legs(store, tid)
        t = store.get_trade(tid)
        first = TradeOutcome(tid, SYM, "enter", "filled",
                             upbit=_result_of(legs["U"]), binance=_result_of(legs["B"]))
        lopsided = dataclasses.replace(first.upbit, filled_qty=first.upbit.filled_qty + Decimal("0.01"))
        again = TradeOutcome(tid, SYM, "enter", "filled", upbit=lopsided, binance=first.binance)
        sent = ex.activity.get(SYM, 0)
        await ex._settle_entry(again, signal(Direction(t["direction"]), "enter"), None, ureq, breq, fx)
        assert ex.activity.get(SYM, 0) == sent, "an unwind was sent for an entry already booked"
        assert again.position_id == pos.id
        assert store.get_position(pos.id) == booked
