"""A full disk while the whole bot trades (auto mode) against the simulated exchanges.

The orders go to the fakes for real (live mode on the sims' fake money), so the sims' order log
shows what reached an exchange. While the data directory cannot be written: no order reaches a
sim, one critical alert (no alert per tick), /status answers, market data stays fresh; once the
disk has room again the halt lifts by itself and the bot trades, every order journaled.

Two ways to fill the disk: ENOSPC injected where the store's write-ahead log calls the OS (always
runs), and a real 4 MiB tmpfs filled with a file (skipped loudly where mounting is not allowed).
"""

from __future__ import annotations

import errno
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from kimpbot.config import load_owner_config, load_settings
from kimpbot.control.commands import CommandCore
from kimpbot.engine import Bot
from kimpbot.models import Venue
from kimpbot.store import Store
from kimpbot.store import wal as wal_mod
from testkit import SHORT_WINDOW, wait_until

STRATEGY = SHORT_WINDOW + """
[risk]
live_canary_max_krw = 100000000
"""


class FullDiskOS:
    """The ``os`` module as the WAL sees it, with a disk that can be full (ENOSPC on write)."""

    def __init__(self) -> None:
        self.full = False
        self.refused = 0

    def __getattr__(self, name: str):
        return getattr(os, name)

    def write(self, fd: int, data) -> int:
        if self.full:
            self.refused += 1
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data)


class Tmpfs:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.filler = path / "filler"

    def mount(self, size: str) -> bool:
        self.path.mkdir(parents=True, exist_ok=True)
        return os.geteuid() == 0 and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(self.path)], capture_output=True).returncode == 0

    def fill(self) -> None:
        with open(self.filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError as e:
                assert e.errno == errno.ENOSPC

    def free(self) -> None:
        self.filler.unlink()

    def umount(self) -> None:
        subprocess.run(["umount", str(self.path)], capture_output=True)


def store_events(bot, since: int) -> list:
    return [e for e in bot.bus.history[since:] if e.data.get("halt") == "store"]


@pytest.mark.parametrize("disk", ["enospc_injected", "real_tmpfs"])
async def test_full_disk_sends_nothing_alerts_once_and_recovers(sim, tmp_path, monkeypatch, disk):
    data = tmp_path / f"data-{uuid.uuid4().hex[:6]}"
    fs = Tmpfs(data)
    if disk == "real_tmpfs" and not fs.mount("4m"):
        pytest.skip("SKIPPED LOUDLY: cannot mount a tmpfs here (needs root and mount permission); "
                    "the enospc_injected case covers the same paths")
    full_os = FullDiskOS()
    if disk == "enospc_injected":
        monkeypatch.setattr(wal_mod, "os", full_os)
    sf = tmp_path / "strategy.toml"
    sf.write_text(STRATEGY)
    env = sim.env() | {"KIMPBOT_DATA_DIR": str(data), "KIMPBOT_TRADE_MODE": "auto", "KIMPBOT_MODE": "live"}
    bot = Bot(load_settings(env), load_owner_config(sf))
    try:
        await bot.start()
        try:
            assert bot.trader is not None and bot.store is not None
            t, m = bot.trader, bot.market
            t.journal.probe_s = 0.5
            assert await wait_until(lambda: m.signals_allowed("BTC"), timeout=20.0)
            orders_before = len(sim.orders)
            since = len(bot.bus.history)
            # the disk fills up, then a premium dislocation asks for an entry on every tick
            if disk == "enospc_injected":
                full_os.full = True
            else:
                bot.store.recover_min_free_bytes = 256 * 1024
                fs.fill()
            sim.market.set_premium("BTC", -3.0)
            assert await wait_until(lambda: t.journal.halted, timeout=20.0)
            assert await wait_until(lambda: t.journal.skipped >= 25, timeout=20.0)  # many ticks want to trade
            # nothing reached an exchange that the journal does not hold. With the injection every
            # write fails at once: nothing at all. A real file system may still take a few small
            # records in its last block: a trade can go out then, journaled first, and only its
            # booking waits for the disk
            during = sim.orders[orders_before:]
            assert all(bot.store.journal_get(o["client_id"]) is not None for o in during), during
            if disk == "enospc_injected":
                assert during == []
            # ONE critical store alert (plus, on tmpfs, the one trade that could not be booked);
            # no alert per tick, no task failures
            alerts = [e for e in bot.bus.history[since:] if e.level in ("warning", "critical")]
            store_alerts = [e for e in alerts if e.data.get("halt") == "store"]
            assert len(store_alerts) == 1 and len(alerts) <= 3, [e.message for e in alerts]
            assert not [e for e in alerts if "task failed" in e.message]
            if during == []:
                assert alerts == store_alerts
            assert "JOURNAL WRITE FAILED" in store_alerts[0].message and "HALTED" in store_alerts[0].message
            assert t.journal.reminder_s == 300.0  # default: the next reminder 5 minutes later
            # the chat answers and the market data stays fresh
            core = CommandCore(bot)
            st = await core.handle("console", None, "/status")
            assert "HALTED (store: journal cannot be written" in st.text and "BTC" in st.text
            now = bot.clock.now_ms()
            for venue in (Venue.UPBIT, Venue.BINANCE):
                assert now - m.books[(venue, "BTC")].received_ts < 3000
            assert m.signals_allowed("BTC")
            r = await core.handle("console", None, "/resume")
            assert "Still halted" in r.text and t.journal.halted
            # the disk has room again: the halt lifts by itself and the entry goes out
            if disk == "enospc_injected":
                full_os.full = False
            else:
                fs.free()
            assert await wait_until(lambda: not t.journal.halted, timeout=30.0)
            lifted = [e for e in store_events(bot, since) if e.level == "info"]
            assert lifted and "writes again" in lifted[0].message
            assert await wait_until(lambda: len(t.positions()) == 1, timeout=30.0)
            assert not bot.store.journal_open() or await wait_until(lambda: not bot.store.journal_open(), 15.0)
            sent = sim.orders[orders_before:]
            assert {o["venue"] for o in sent} == {"upbit", "binance"}
            assert all(bot.store.journal_get(o["client_id"]) is not None for o in sent)
            assert len([e for e in store_events(bot, since) if e.level == "critical"]) == 1
        finally:
            await bot.stop()
        # on disk: every order any sim received has its journal record; nothing is left open
        with Store(data, "live") as s:
            for o in sim.orders:
                if o["method"] == "POST":
                    assert s.journal_get(o["client_id"]) is not None, o
            assert s.journal_open() == []
            assert any(a["action"] == "store_halt" for a in s.audit_log())
    finally:
        if disk == "real_tmpfs":
            fs.umount()
