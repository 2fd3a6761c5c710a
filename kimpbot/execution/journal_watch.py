"""Halt kind "store": the journal cannot be written (disk full, read-only, I/O error).

An order that cannot be journaled first is never sent, so while the store refuses writes no
entry, add, exit, unwind or reconcile close can go out. Instead of retrying every tick (and
alerting every time), the trader stops deciding while ``halted`` and this watch:

* publishes ONE critical alert when writes start failing, then a reminder at most every
  ``store.alert_reminder_s`` (default 300 s) while they still fail;
* probes the disk every ``probe_s`` (``Store.recover``: cut the journal back to its last good
  record, write a page-sized probe once 1 MiB is free);
* when a probe succeeds, runs the trader's recovery first (book what was kept in memory, settle
  what a failed write interrupted, as a restart would), and only then lifts the halt by itself
  and says so. ``/resume`` cannot lift it while writes fail; it probes at once instead.

The halt lives in memory (the store is what cannot be written); it is audited in the store once
writes succeed again. Market data, /status and the chat never depend on the store's writes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from kimpbot.clock import Clock
from kimpbot.events import Event, EventBus
from kimpbot.i18n import events as E
from kimpbot.store import Store

log = logging.getLogger(__name__)


class JournalWatch:
    def __init__(self, store: Store, bus: EventBus, clock: Clock, *, reminder_s: float = 300.0,
                 probe_s: float = 2.0) -> None:
        self.store = store
        self.bus = bus
        self.clock = clock
        self.reminder_s = reminder_s
        self.probe_s = probe_s
        self.down = False  # the halt: set at the first failure, lifted after recovery
        self.since_ms: int | None = None
        self.skipped = 0  # trading decisions not taken while down (signals, exits)
        self.on_recovered: Callable[[], Awaitable[object]] | None = None
        self._last_alert_ms: int | None = None  # failure alerts and reminders
        self._alerted = False  # this episode's failure was announced (so its end is too)
        self._probing = asyncio.Lock()

    @property
    def halted(self) -> bool:
        """True while nothing may be sent: writes fail, or they just came back and the recovery runs."""
        return self.down or self.store.failed is not None

    def reason(self) -> str:
        mins = (self.clock.now_ms() - self.since_ms) / 60_000 if self.since_ms else 0.0
        return (f"journal cannot be written for {mins:.0f} min ({self.store.failed or 'recovering'}); "
                "entries and exits wait, nothing is sent that is not journaled first")

    def check(self) -> bool:
        """Notice a failure at once (cheap: the trader calls it on every tick). Returns ``halted``."""
        if self.store.failed is not None and not self.down:
            self._went_down()
        return self.halted

    def _went_down(self) -> None:
        now = self.clock.now_ms()
        self.down = True
        self.since_ms = self.store.failed_since_ms or now
        self.skipped = 0
        log.critical("store halt: %s", self.store.failed)
        if self._last_alert_ms is not None and now - self._last_alert_ms < self.reminder_s * 1000:
            self._alerted = False  # failing again soon after a recovery: the next reminder says so
            return
        self._alerted = True
        self._last_alert_ms = now
        self.bus.publish(Event("halt", E.JOURNAL_FAILED(err=self.store.failed, probe=f"{self.probe_s:g}",
                                                        reminder=f"{self.reminder_s / 60:g}"), "critical",
            {"halt": "store", "since_ms": self.since_ms}))

    def _remind(self) -> None:
        now = self.clock.now_ms()
        if self._last_alert_ms is not None and now - self._last_alert_ms < self.reminder_s * 1000:
            return
        self._last_alert_ms = now
        self._alerted = True
        mins = (now - (self.since_ms or now)) / 60_000
        self.bus.publish(Event("halt", E.JOURNAL_STILL(mins=f"{mins:.0f}",
                                                       err=self.store.failed or E.JOURNAL_RECOVERING(),
                                                       skipped=self.skipped), "critical", {"halt": "store", "since_ms": self.since_ms, "skipped": self.skipped}))

    async def probe(self) -> bool:
        """Try the disk now; on success run the recovery and lift the halt. True when lifted."""
        async with self._probing:
            if not self.check():
                return True
            if self.store.failed is not None:
                ok = await asyncio.to_thread(self.store.recover)
                if not ok:
                    self._remind()
                    return False
            try:
                if self.on_recovered is not None:
                    await self.on_recovered()
            except Exception as exc:  # a write failed again during the recovery: stay halted
                log.warning("store recovery interrupted (%s: %s); still halted", type(exc).__name__, exc)
                self._remind()
                return False
            if self.store.failed is not None:
                return False
            self._lift()
            return True

    def _lift(self) -> None:
        now = self.clock.now_ms()
        since = self.since_ms or now
        mins = (now - since) / 60_000
        self.down = False
        try:
            self.store.audit("store_halt", "kimpbot", {"since_ms": since, "until_ms": now, "skipped": self.skipped})
        except Exception as exc:  # the next failure is noticed by check(); the lift stands
            log.warning("audit of the store halt failed: %s", exc)
        log.warning("store halt lifted after %.1f min (%d decisions skipped)", mins, self.skipped)
        if self._alerted:
            self.bus.publish(Event("halt", E.JOURNAL_OK(mins=f"{mins:.0f}", skipped=self.skipped), "info",
                                   {"halt": "store"}))
        self._alerted = False
        self.since_ms = None

    async def run(self) -> None:
        """Probe every ``probe_s`` while halted; idle otherwise (``check`` notices failures)."""
        while True:
            await asyncio.sleep(self.probe_s if self.down else min(self.probe_s, 1.0))
            if self.check():
                await self.probe()
