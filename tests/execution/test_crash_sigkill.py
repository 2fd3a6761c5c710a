"""Crash test: >= 50 paper pair trades, the process SIGKILLed at random points and restarted each
time. At the end no trade is lost, no order is doubled, nothing is left unhedged, the store loads."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from kimpbot.store import Store

CHILD = Path(__file__).with_name("crash_child.py")
N_TRADES = 56
KILLS = 12


def start(data: Path, progress: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(CHILD), str(data), str(progress), str(N_TRADES)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigkill_at_random_points(tmp_path):
    rng = random.Random(20261125)
    data = tmp_path / "data"
    progress = tmp_path / "progress.txt"
    kills = 0
    for _ in range(KILLS):
        p = start(data, progress)
        line = p.stdout.readline()  # READY once reconciliation is done and trading starts
        if "READY" not in line:
            p.kill()
            raise AssertionError(f"child failed to start: {line!r} {p.stderr.read()[-2000:]}")
        time.sleep(rng.uniform(0.0, 0.6))
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            kills += 1
        p.wait(10)
        p.stdout.close()
        p.stderr.close()
    p = start(data, progress)
    out, err = p.communicate(timeout=180)
    assert p.returncode == 0, err[-3000:]
    assert "DONE" in out
    assert kills >= KILLS // 2

    store = Store(data, "paper")  # loads after all those kills
    try:
        trades = {t["id"]: t for t in store.trades()}
        reported = [ln.split()[0] for ln in progress.read_text().splitlines() if ln.strip()]
        missing = [t for t in reported if t not in trades]
        assert not missing, f"trades reported done but lost: {missing}"
        statuses = sorted(t["status"] for t in trades.values())
        final = [t for t in trades.values() if t["status"] in ("filled", "partial", "rolled_back", "failed")]
        assert len(final) >= N_TRADES, statuses
        assert not [t for t in trades.values() if t["status"] in ("sending", "exposed")]
        assert store.journal_open() == []
        # no doubled order: the paper exchange's holdings equal exactly what the journal says filled
        coins = Decimal(0)
        perp = Decimal(0)
        for t in trades:
            for e in store.journal_for_trade(t):
                q = e.filled_qty if e.side == "buy" else -e.filled_qty
                if e.venue == "upbit":
                    coins += q
                else:
                    perp += q
        ledger = store.get_state("paper_ledger")
        assert ledger, "paper ledger missing"
        from kimpbot.execution.paper import PaperVenue  # the ledger's own reading of balances
        from kimpbot.clock import SystemClock

        class _NoMarket:
            books: dict = {}

        up = PaperVenue("upbit", _NoMarket(), store, SystemClock(), Decimal("0.0005"))
        bn = PaperVenue("binance", _NoMarket(), store, SystemClock(), Decimal("0.0005"))
        ub = asyncio.run(up.balances())
        bb = asyncio.run(bn.balances())
        assert ub.coins.get("BTC", Decimal(0)) == coins, (ub.coins, coins)
        assert bb.positions.get("BTC", Decimal(0)) == perp, (bb.positions, perp)
        # hedged or flat: Upbit coin and the perp position cancel (to Binance's step)
        open_pos = store.open_positions()
        assert abs(coins + perp) < Decimal("0.001"), (coins, perp, open_pos)
        assert len(open_pos) <= 1
    finally:
        store.close()
