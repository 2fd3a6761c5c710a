"""Store write latency: journal_intent / journal_update / upsert_trade with 0, 1,000 and 10,000
existing records (each of journal and trades), every write fsynced before it returns.

Also prints what a compaction and a reopen cost at that size, and, for comparison, the design the
store does not use: plain TinyDB with AtomicJSONStorage (whole file rewritten per write).

    /work/venv/bin/python benchmarks/store.py [--samples 500] [--dir DIR] [--no-baseline]

The brief's budget: ~1 ms per write at realistic sizes. Figures depend on the disk's fsync.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

from tinydb import TinyDB

from kimpbot.store import AtomicJSONStorage, Store

SIZES = (0, 1_000, 10_000)


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def fmt(name: str, xs: list[float]) -> str:
    us = [x * 1e6 for x in xs]
    return f"  {name:<16} p50 {pct(us, .50):8.0f} us   p99 {pct(us, .99):8.0f} us   max {max(us):8.0f} us"


def trade(tid: str, i: int) -> dict:
    return {"id": tid, "status": "closed", "symbol": "BTC", "direction": "long_premium", "signal": i,
            "entry_premium": 0.0123, "qty": Decimal("0.00123456"), "pnl_krw": Decimal("1234.5"),
            "legs": ["UE", "BE", "UX", "BX"], "note": "benchmark"}


def populate(store: Store, n: int) -> None:
    with store.batch():
        for i in range(n):
            tid = f"K20250101000000-{i:06d}"
            cid = store.client_order_id(tid, "UE", 0)
            store.journal_intent(tid, "UE", cid, "upbit", "KRW-BTC", "buy", Decimal("0.00123456"),
                                 Decimal("140000000"), "market")
            store.journal_update(cid, "filled", Decimal("0.00123456"), Decimal("140012000"), Decimal("86.4"),
                                 "c1d3f7a2-1b2c-4d5e-8f90-1234567890ab")
            store.upsert_trade(trade(tid, i))
    store.compact()


def bench_store(root: Path, n: int, samples: int) -> None:
    d = root / f"store-{n}"
    store = Store(d, "paper")
    populate(store, n)
    ti, tu, tt = [], [], []
    for i in range(samples):
        tid = store.new_trade_id()
        cid = store.client_order_id(tid, "BE", 0)
        t0 = time.perf_counter()
        store.journal_intent(tid, "BE", cid, "binance", "BTCUSDT", "sell", Decimal("0.001"), Decimal("100000"), "market")
        t1 = time.perf_counter()
        store.journal_update(cid, "filled", Decimal("0.001"), Decimal("100001.2"), Decimal("0.04"), "812345678")
        t2 = time.perf_counter()
        store.upsert_trade(trade(tid, i))
        t3 = time.perf_counter()
        ti.append(t1 - t0)
        tu.append(t2 - t1)
        tt.append(t3 - t2)
    print(f"{n:>6} existing records (journal + trades each), {samples} samples:")
    print(fmt("journal_intent", ti))
    print(fmt("journal_update", tu))
    print(fmt("upsert_trade", tt))
    tb = []
    for _ in range(max(20, samples // 10)):
        t0 = time.perf_counter()
        with store.batch():  # both legs' intents of a trade in one record, one fsync
            tid = store.new_trade_id()
            for leg in ("UE", "BE"):
                store.journal_intent(tid, leg, store.client_order_id(tid, leg, 0), "upbit", "KRW-BTC", "buy",
                                     Decimal("0.001"), None, "market")
        tb.append(time.perf_counter() - t0)
    print(fmt("batch id+2 intents", tb))
    # writes while compact() runs in a worker thread (how the bot should call it)
    for i in range(samples // 5):
        store.upsert_trade(trade(store.new_trade_id(), i))
    tc: list[float] = []
    worker = threading.Thread(target=store.compact)
    worker.start()
    while worker.is_alive():
        t0 = time.perf_counter()
        store.upsert_trade(trade(store.new_trade_id(), 0))
        tc.append(time.perf_counter() - t0)
    worker.join()
    print(fmt("during compact", tc) + f"   ({len(tc)} writes)")
    t0 = time.perf_counter()
    store.compact()
    t_compact = time.perf_counter() - t0
    # reopen with a WAL of `samples` trades to replay
    for i in range(samples):
        store.upsert_trade(trade(store.new_trade_id(), i))
    store.close()
    t0 = time.perf_counter()
    Store(d, "paper").close()
    t_open = time.perf_counter() - t0
    size = (d / "paper" / "kimpbot.json").stat().st_size
    print(f"  compact: {t_compact * 1e3:.1f} ms   open (replay {2 * samples} records + compact): "
          f"{t_open * 1e3:.1f} ms   snapshot {size / 1e6:.2f} MB")


def bench_baseline(root: Path, n: int, samples: int) -> None:
    """Plain TinyDB over AtomicJSONStorage: every insert rewrites and fsyncs the whole file."""
    path = root / f"baseline-{n}.json"
    db = TinyDB(path, storage=AtomicJSONStorage)
    tb = db.table("journal")
    tb.insert_multiple({"client_order_id": f"x{i}", "trade_id": f"t{i}", "qty": "0.00123456", "status": "filled",
                        "avg_price": "140012000", "fee": "86.4", "exchange_order_id": "c1d3f7a2-1b2c-4d5e-8f90"}
                       for i in range(n))
    ts = []
    for i in range(samples):
        t0 = time.perf_counter()
        tb.insert({"client_order_id": f"y{i}", "trade_id": f"t{i}", "qty": "0.001", "status": "intent"})
        ts.append(time.perf_counter() - t0)
    print(fmt(f"insert @ {n}", ts))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--dir", type=Path, default=None, help="where to write (default: a temp dir); use the bot's disk")
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="kimpbot-store-bench-", dir=args.dir))
    try:
        print(f"python {sys.version.split()[0]}, files under {root}")
        for n in SIZES:
            bench_store(root, n, args.samples)
        if not args.no_baseline:
            print("baseline not used: TinyDB + AtomicJSONStorage, whole file rewritten per write")
            for n in SIZES:
                bench_baseline(root, n, max(20, args.samples // (1 + n // 500)))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
