"""The store halt's alert cadence over simulated hours (ManualClock): one critical alert when the
journal stops writing, a reminder at most every ``reminder_s``, one "writes again" note, nothing
per tick; a disk that flaps (fails again right after recovering) does not multiply the alerts.
The disk fails for real at the OS boundary (ENOSPC from the write-ahead log's ``os.write``)."""

from __future__ import annotations

import errno
import os

import pytest

from kimpbot.clock import ManualClock
from kimpbot.events import EventBus
from kimpbot.execution.journal_watch import JournalWatch
from kimpbot.store import Store, StoreFailed
from kimpbot.store import wal as wal_mod


class FullDiskOS:
    def __init__(self) -> None:
        self.full = False

    def __getattr__(self, name):
        return getattr(os, name)

    def write(self, fd, data):
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data)


@pytest.fixture
def rig(tmp_path, monkeypatch):
    disk = FullDiskOS()
    monkeypatch.setattr(wal_mod, "os", disk)
    clock = ManualClock(1_800_000_000_000)
    store = Store(tmp_path, "paper", clock=clock)
    bus = EventBus()
    watch = JournalWatch(store, bus, clock, reminder_s=300.0, probe_s=2.0)
    recovered: list[int] = []

    async def on_recovered():
        recovered.append(clock.now_ms())
    watch.on_recovered = on_recovered
    yield disk, clock, store, bus, watch, recovered
    store.close()


def fail_a_write(store: Store) -> None:
    with pytest.raises(StoreFailed):
        store.set_state("k", 1)


async def tick(watch: JournalWatch, clock: ManualClock, bus: EventBus, seconds: float,
               step: float = 2.0) -> list[tuple[int, str, str]]:
    """What the trader and the watch do meanwhile: ten checks (trading ticks) and a probe every
    ``step``. Returns the store alerts published, as (clock ms, level, message)."""
    seen = len(bus.history)
    out = []
    t = 0.0
    while t < seconds:
        clock.advance(step)
        t += step
        for _ in range(10):
            watch.check()
        if watch.halted:
            await watch.probe()
        out += [(clock.now_ms(), e.level, e.message) for e in bus.history[seen:] if e.data.get("halt") == "store"]
        seen = len(bus.history)
    return out


async def test_one_alert_then_a_reminder_every_five_minutes_then_one_lift(rig):
    disk, clock, store, bus, watch, recovered = rig
    disk.full = True
    fail_a_write(store)
    t0 = clock.now_ms()
    assert watch.check() and watch.halted
    first = [e for e in bus.history if e.data.get("halt") == "store"]
    assert len(first) == 1 and first[0].level == "critical" and "JOURNAL WRITE FAILED" in first[0].message
    alerts = [(t0, first[0].level, first[0].message)] + await tick(watch, clock, bus, 3600)  # an hour
    times = [t for t, _, _ in alerts]
    assert len(alerts) == 1 + 3600 // 300 and all(level == "critical" for _, level, _ in alerts)
    assert all(b - a >= 300_000 for a, b in zip(times, times[1:]))  # never more than one in 5 minutes
    assert "still HALTED" in alerts[1][2] and "for 5 min" in alerts[1][2] and "for 60 min" in alerts[-1][2]
    assert recovered == []
    disk.full = False
    lifted = await tick(watch, clock, bus, 4)
    assert not watch.halted and len(recovered) == 1
    assert [level for _, level, _ in lifted] == ["info"] and "writes again" in lifted[0][2]
    store.set_state("k", 2)  # writes work again
    assert any(a["action"] == "store_halt" for a in store.audit_log())


async def test_a_flapping_disk_does_not_multiply_alerts(rig):
    disk, clock, store, bus, watch, recovered = rig
    for _ in range(20):  # 20 failures, each followed by a recovery 10 s later, within ~4 minutes
        disk.full = True
        fail_a_write(store)
        watch.check()
        await tick(watch, clock, bus, 2)
        disk.full = False
        await tick(watch, clock, bus, 10)
    alerts = [e for e in bus.history if e.data.get("halt") == "store"]
    assert len(recovered) == 20  # every episode was settled ...
    assert [e.level for e in alerts] == ["critical", "info"]  # ... but announced once


async def test_recovery_that_fails_again_keeps_the_halt(rig):
    disk, clock, store, bus, watch, _ = rig

    async def failing_recovery():
        disk.full = True
        store.set_state("k", 3)  # the disk fills again while the interrupted trades are settled
    watch.on_recovered = failing_recovery
    disk.full = True
    fail_a_write(store)
    watch.check()
    disk.full = False
    assert await watch.probe() is False
    assert watch.halted and store.failed
