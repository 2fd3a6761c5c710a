"""kill -9 at random points.

1. A child process runs paper trades (trade id -> intent -> fake exchange -> fill -> trade done)
   against the store; the parent SIGKILLs it at random moments and restarts it. Each restart
   reconciles the journal with the fake exchange and resumes without redoing a trade. At the end:
   the store loads, every trade the child reported as committed is there, no order reached the
   exchange twice or without a journal intent, and every intent is final.
2. A child rewrites a snapshot in a loop with AtomicJSONStorage; killed many times, the file is
   always one complete version.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

from kimpbot.store import Store
from kimpbot.store.storage import read_json_db

N_TRADES = 300
KILLS = 15
LEGS = ("UE", "BE")

CHILD = r'''
import os, random, sys, time
from decimal import Decimal
from pathlib import Path
from kimpbot.store import Store

data_dir, n_trades, seed = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
exchange_log = data_dir / "exchange.log"    # the fake exchange: one line per order it received
committed_log = data_dir / "committed.log"  # trade ids reported committed (after the store returned)

def nap():
    time.sleep(rng.random() * 0.0015)

def append_line(path, line):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)

def exchange_orders():
    # a kill can tear the exchange's own last line: that order never arrived; drop the fragment
    if not exchange_log.exists():
        return set()
    raw = exchange_log.read_bytes()
    if raw and not raw.endswith(b"\n"):
        raw = raw[: raw.rfind(b"\n") + 1]
        with open(exchange_log, "r+b") as f:
            f.truncate(len(raw))
    return set(raw.decode().split())

store = Store(data_dir, "paper")
on_exchange = exchange_orders()
print("ready", flush=True)

def fill(cid, qty):
    nap()
    store.journal_update(cid, "filled", qty, Decimal("100.5"), Decimal("0.05"), "ex-" + cid)

# restart reconciliation: every open intent is either on the exchange (it was sent) or not
n_filled = n_canceled = 0
for e in store.journal_open():
    if e.client_order_id in on_exchange:
        fill(e.client_order_id, e.qty)
        n_filled += 1
    else:
        store.journal_update(e.client_order_id, "canceled", Decimal(0), None, None, None,
                             raw_error="not found on the exchange at restart")
        n_canceled += 1

def run_legs(tid):
    for leg in ("UE", "BE"):
        entries = [e for e in store.journal_for_trade(tid) if e.leg == leg]
        if any(e.status == "filled" for e in entries):
            continue
        cid = store.client_order_id(tid, leg, len(entries))
        qty = Decimal("0.001")
        store.journal_intent(tid, leg, cid, "upbit" if leg == "UE" else "binance", "BTC",
                             "buy" if leg == "UE" else "sell", qty, None, "market")
        nap()
        append_line(exchange_log, cid)  # "send": the exchange has it from here on
        on_exchange.add(cid)
        fill(cid, qty)

def finish(tid):
    run_legs(tid)
    nap()
    store.upsert_trade({"id": tid, "status": "done", "pnl_krw": Decimal("12.34")})
    append_line(committed_log, tid)

resumed = store.trades(status="opening")
print(f"reconciled {n_filled} {n_canceled} {len(resumed)}", flush=True)
for t in resumed:  # resume, never redo
    finish(t["id"])

signals = [t["signal"] for t in store.trades()]
k = max(signals) + 1 if signals else 0
while k < n_trades:
    with store.batch():
        tid = store.new_trade_id()
        store.upsert_trade({"id": tid, "signal": k, "status": "opening"})
    finish(tid)
    if k % 5 == 4:
        store.compact()
    k += 1
store.close()
print("finished", flush=True)
'''


def _spawn(d: Path, seed: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(d), str(N_TRADES), str(seed)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    raw = path.read_text()
    return raw.splitlines() if raw.endswith("\n") else raw.splitlines()[:-1]


def test_sigkill_at_random_points_loses_nothing_and_doubles_nothing(tmp_path):
    seed = int(os.environ.get("KIMPBOT_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    info = f"(seed {seed}: rerun with KIMPBOT_CRASH_SEED={seed})"
    kills_mid_run = 0
    recon = Counter()
    for i in range(KILLS):
        child = _spawn(tmp_path, seed + i)
        if rng.random() < 0.25:
            time.sleep(rng.uniform(0.0, 0.25))  # may land in interpreter start or in Store() open
        else:
            assert child.stdout.readline() == b"ready\n", child.stderr.read().decode() + info
            time.sleep(rng.uniform(0.0, 0.03))
        child.send_signal(signal.SIGKILL)
        out, err = child.communicate(timeout=30)
        for line in out.decode().splitlines():
            if line.startswith("reconciled "):
                recon.update(dict(zip(("filled", "canceled", "resumed"), map(int, line.split()[1:]))))
        if child.returncode == -signal.SIGKILL:
            kills_mid_run += b"finished" not in out
        else:
            assert child.returncode == 0, err.decode() + info
    assert kills_mid_run >= KILLS // 2, f"only {kills_mid_run} kills landed mid-run {info}"
    before_last_run = len(_lines(tmp_path / "committed.log"))
    assert 0 < before_last_run < N_TRADES, f"{before_last_run} trades before the last run {info}"

    child = _spawn(tmp_path, seed + KILLS)  # the last run is left to finish
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0 and b"finished" in out, err.decode() + info
    torn = [p.name for p in (tmp_path / "paper").iterdir() if ".torn-" in p.name]
    print(f"kills mid-run {kills_mid_run}, restarts found {dict(recon)}, torn WAL tails {len(torn)} {info}")
    assert recon["resumed"] > 0, f"no kill interrupted a trade {info}"

    with Store(tmp_path, "paper") as store:
        trades = store.trades()
        by_id = {t["id"]: t for t in trades}
        # no trade lost: everything reported committed is in the store, done
        committed = _lines(tmp_path / "committed.log")
        assert committed and all(by_id.get(tid, {}).get("status") == "done" for tid in committed), info
        # no trade redone: one trade per signal, all finished
        assert sorted(t["signal"] for t in trades) == list(range(N_TRADES)), info
        assert all(t["status"] == "done" and t["pnl_krw"] == Decimal("12.34") for t in trades), info
        # no order doubled: each client id reached the exchange once, each leg filled once
        sent = _lines(tmp_path / "exchange.log")
        assert not [c for c, n in Counter(sent).items() if n > 1], info
        journal = [e for t in trades for e in store.journal_for_trade(t["id"])]
        cids = [e.client_order_id for e in journal]
        assert len(cids) == len(set(cids)), info
        assert set(sent) <= set(cids), "an order reached the exchange without a journal intent " + info
        for t in trades:
            filled = Counter(e.leg for e in store.journal_for_trade(t["id"]) if e.status == "filled")
            assert filled == Counter(LEGS), f"trade {t['id']}: fills per leg {dict(filled)} {info}"
        # every intent is final (the open ones were resolved by the restarts)
        assert store.journal_open() == [] and all(e.is_final for e in journal), info
        # filled exactly the orders the exchange has; canceled ones never reached it
        assert {e.client_order_id for e in journal if e.status == "filled"} == set(sent), info


WRITER = r'''
import sys
from pathlib import Path
from kimpbot.store.storage import write_json_atomic
path, start = Path(sys.argv[1]), int(sys.argv[2])
print("ready", flush=True)
k = start
while True:
    n = 1 + (k * 7919) % 3000  # sizes vary: some writes take a few ms
    docs = {str(i): {"k": k, "i": i, "pad": "x" * 200} for i in range(1, n + 1)}
    write_json_atomic(path, {"_meta": {"1": {"k": k, "n": n}}, "docs": docs})
    k += 1
'''


def test_snapshot_file_is_always_one_complete_version_after_kill(tmp_path):
    path = tmp_path / "db.json"
    rng = random.Random()
    seen = set()
    for i in range(15):
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(i * 100_000)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert child.stdout.readline() == b"ready\n", child.stderr.read().decode()
        time.sleep(rng.uniform(0.0, 0.06))
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
        data = read_json_db(path)  # raises StoreCorrupt if ever torn
        if data is None:
            continue
        meta = data["_meta"]["1"]
        assert len(data["docs"]) == meta["n"]
        assert all(d["k"] == meta["k"] and d["i"] == int(j) for j, d in data["docs"].items())
        seen.add(meta["k"])
    assert len(seen) >= 5  # the kills really interrupted different writes


HAMMER = r'''
import os, sys
from pathlib import Path
from kimpbot.store import Store
d, report = Path(sys.argv[1]), Path(sys.argv[2])
store = Store(d, "paper")
n = len(store.trades())
if n == 0:
    with store.batch():
        for i in range(3000):
            store.upsert_trade({"id": f"t{i:06d}", "pad": "x" * 300})
    n = 3000
print("ready", flush=True)
fd = os.open(report, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
while True:
    tid = f"t{n:06d}"
    store.upsert_trade({"id": tid, "pad": "y" * 300})
    os.write(fd, (tid + "\n").encode())  # reported only after the store returned
    n += 1
    if n % 40 == 0:
        store.compact()  # most of the child's time goes here: kills land mid-snapshot
'''


def test_store_loads_after_rapid_kills_during_writes_and_compactions(tmp_path):
    report = tmp_path / "reported.log"
    rng = random.Random()
    counts = []
    for _ in range(12):
        child = subprocess.Popen([sys.executable, "-c", HAMMER, str(tmp_path), str(report)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert child.stdout.readline() == b"ready\n", child.stderr.read().decode()
        time.sleep(rng.uniform(0.0, 0.12))
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
        with Store(tmp_path, "paper") as store:  # always loads
            have = {t["id"] for t in store.trades()}
        reported = _lines(report)
        assert set(reported) <= have
        assert have == {f"t{i:06d}" for i in range(len(have))}  # no holes
        counts.append(len(have))
    assert counts == sorted(counts) and counts[-1] > counts[0]
    snaps = [p for p in (tmp_path / "paper").iterdir() if p.name.startswith(".kimpbot.json.tmp-")]
    assert not snaps  # interrupted snapshot writes were cleaned up at open
