"""Interactions between the issue-10 safeguards, against the simulated exchanges through the real
ccxt and pyupbit clients: a late booking that shows while the journal cannot be written (disk full).
"""

from __future__ import annotations

import asyncio
import errno
import os
from decimal import Decimal

import pytest
from testkit import wait_until

from kimpbot.store import wal as wal_mod

from .test_late_booking import ORDER_PATH, SYM, Rig, feed

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


class FullDiskOS:
    """The ``os`` module as the WAL sees it, with a disk that can be full (ENOSPC on write)."""

    def __init__(self) -> None:
        self.full = False

    def __getattr__(self, name: str):
        return getattr(os, name)

    def write(self, fd: int, data) -> int:
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data)


async def test_a_late_fill_while_the_disk_is_full_is_reversed_once_the_journal_writes_again(
        sim, tmp_path, monkeypatch):
    disk = FullDiskOS()
    monkeypatch.setattr(wal_mod, "os", disk)
    rig = await Rig(sim, tmp_path).start()
    try:
        rig.trader.journal.probe_s = 0.3
        base = await rig.holdings()
        sim.market.faults.inject("binance", ORDER_PATH["binance"], "late", delay_s=3.0)
        out = await rig.enter()
        assert out.status == "rolled_back", (out.status, out.messages)
        cid = out.binance.client_id
        assert rig.ex.watching(cid)
        disk.full = True  # the disk fills before the exchange books the order
        assert await wait_until(lambda: sim.binance.late_booked, timeout=15)
        # the owner is told at once, naming the leg, even though nothing can be journaled or sent
        assert await wait_until(lambda: rig.events("exposure", client_id=cid, late_fill=True), timeout=10)
        _, alert = rig.events("exposure", client_id=cid, late_fill=True)[0]
        assert alert.level == "critical" and SYM in alert.message and "Binance" in alert.message
        assert await wait_until(lambda: rig.trader.journal.halted, timeout=10)
        n_orders = len(sim.orders)
        disk.full = False  # room again: the store recovery books the late fill and reverses it
        assert await wait_until(lambda: not rig.trader.journal.halted, timeout=15)
        assert await wait_until(lambda: len(sim.orders) > n_orders, timeout=15)
        assert await wait_until(lambda: not rig.store.journal_open(), timeout=15)
        assert rig.store.journal_get(cid).status == "filled"
        now = await rig.holdings()
        assert abs(now[1] - base[1]) < Decimal("0.001"), ("the late perp fill was left unhedged", base, now)
        # every order that went out is journaled
        for o in sim.orders[n_orders:]:
            if o.get("client_id"):
                assert rig.store.journal_get(o["client_id"]) is not None, o
        assert not [e for _, e in rig.seen if "watching it for a late booking failed" in e.message]
    finally:
        await rig.close()


async def test_a_late_fill_whose_reversal_is_cut_off_by_a_stop_is_reversed_after_the_restart(sim, tmp_path):
    """kill -9 / a stop while a late fill's reversal is on its way (here: waiting to resend after an
    Upbit 429): the restart must still reverse it. An Upbit surplus is no position finding, so
    nothing else would ever name it."""
    first = await Rig(sim, tmp_path, retry_delay_s=3.0).start()
    faults = sim.market.faults
    try:
        base = await first.holdings()
        faults.inject("upbit", ORDER_PATH["upbit"], "late", delay_s=3.0)
        out = await first.enter()
        assert out.status == "rolled_back", (out.status, out.messages)
        cid = out.upbit.client_id
        faults.inject("upbit", ORDER_PATH["upbit"], "http429")  # the reversal is refused once
        assert await wait_until(lambda: first.events("exposure", client_id=cid, late_fill=True), timeout=15)
        assert await wait_until(lambda: any(f.kind == "http429" for f in faults.fired), timeout=10)
        late = await first.holdings()
        assert late[0] - base[0] >= Decimal("0.01"), (base, late)  # the late buy stands, unhedged
    finally:
        await first.close()  # stopped while waiting to resend the reversal
    again = await Rig(sim, tmp_path).start()
    try:
        async def back() -> bool:
            now = await again.holdings()
            return abs(now[0] - base[0]) < Decimal("0.0001") and abs(now[1] - base[1]) < Decimal("0.001")
        assert await wait_until(back, timeout=15, step=0.25), \
            ("the late Upbit fill was left unhedged after the restart", base, await again.holdings())
        assert not again.store.journal_open()
    finally:
        await again.close()


async def test_an_order_re_check_during_close_all_never_reverses_a_fill_the_exit_booked(sim, tmp_path):
    """/closeall runs outside the trading loop: the minute's re-check of open orders (engine
    housekeeping, which waits only for the loop's busy coins) can meet its exit legs in flight. A
    watch it starts on such a leg must not take the leg's fill for a late one and reverse it after
    the exit booked it: that re-opens one leg of a closed pair."""
    rig = await Rig(sim, tmp_path, order_timeout_s=2.0, unknown_grace_s=4.0).start()
    faults = sim.market.faults
    try:
        base = await rig.holdings()
        out = await rig.enter()
        assert out.status == "filled", out.messages
        # the perp close is booked at once but answered after 3 s (the executor gives up waiting at
        # 2 s and queries); the re-check's query of it gets no answer within its 1 s timeout
        faults.inject("binance", ORDER_PATH["binance"], "timeout", delay_s=3.0)
        faults.inject("binance", ORDER_PATH["binance"], "timeout", delay_s=2.0)
        feed(rig.eng, sim, rig.clock)
        closing = asyncio.create_task(rig.trader.close_all(by="owner"))

        def perp_close_open() -> list:
            return [e for e in rig.store.journal_open() if e.venue == "binance" and e.kind == "exit"]
        assert await wait_until(perp_close_open, timeout=10)
        (leg,) = perp_close_open()
        assert not rig.trader._busy  # what engine._housekeep looks at before re-checking open orders
        await rig.trader.recheck_open_orders()
        (done,) = await closing
        assert done.status == "filled", (done.status, done.messages)
        assert await wait_until(lambda: not rig.ex.watching(leg.client_order_id), timeout=15)
        assert await wait_until(lambda: not rig.ex.lock(SYM).locked(), timeout=15)
        assert not rig.events("exposure", client_id=leg.client_order_id, late_fill=True), \
            "the exit's own fill was taken for a late one"
        now = await rig.holdings()
        assert abs(now[1] - base[1]) < Decimal("0.001") and abs(now[0] - base[0]) < Decimal("0.0001"), (base, now)
    finally:
        await rig.close()
