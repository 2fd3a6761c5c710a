"""Every Store method, paper/live separation, restarts."""

from __future__ import annotations

import json
import threading
from decimal import Decimal

import pytest

from kimpbot.models import Venue
from kimpbot.store import (
    DuplicateClientOrderId,
    HaltState,
    Store,
    StoreError,
    StoreLocked,
    UnknownRecord,
)

D = Decimal


def intent(s: Store, tid: str, leg: str = "UE", attempt: int = 0, **kw):
    args = dict(venue="upbit", symbol="KRW-BTC", side="buy", qty=D("0.001"), price_hint=D("140000000"), kind="market")
    args.update(kw)
    return s.journal_intent(tid, leg, s.client_order_id(tid, leg, attempt), **args)


# ---------------------------------------------------------------- construction, modes


def test_mode_must_be_paper_or_live(tmp_path):
    with pytest.raises(ValueError, match="paper' or 'live"):
        Store(tmp_path, "Live")


def test_files_live_under_data_dir_mode(tmp_path, clock):
    with Store(tmp_path, "paper", clock=clock) as p, Store(tmp_path, "live", clock=clock) as l:
        assert p.path == tmp_path / "paper" / "kimpbot.json"
        assert l.path == tmp_path / "live" / "kimpbot.json"
        assert p.path.exists() and l.path.exists()
        meta = json.loads(l.path.read_text())["_meta"]["1"]
        assert meta["mode"] == "live"


def test_paper_and_live_never_see_each_others_records(tmp_path, clock):
    with Store(tmp_path, "paper", clock=clock) as p:
        tid = p.new_trade_id()
        intent(p, tid)
        p.upsert_trade({"id": tid, "status": "open"})
        p.upsert_position({"id": "pos1"})
        p.set_halt(True, "paper halt", "test")
        p.set_state("x", 1)
        p.audit("param", "owner", {"k": 1})
    with Store(tmp_path, "live", clock=clock) as l:
        assert l.get_trade(tid) is None and l.trades() == []
        assert l.journal_for_trade(tid) == [] and l.journal_open() == []
        assert l.open_positions() == [] and l.get_state("x") is None
        assert l.halt_state() == HaltState(False, "", "", None)
        assert l.audit_log() == []
        l.upsert_trade({"id": "live-1"})
    with Store(tmp_path, "paper", clock=clock) as p:
        assert p.get_trade("live-1") is None
        assert p.get_trade(tid) is not None


def test_one_process_per_store(tmp_path, clock):
    with Store(tmp_path, "paper", clock=clock):
        with pytest.raises(StoreLocked, match="another process"):
            Store(tmp_path, "paper", clock=clock)
        Store(tmp_path, "live", clock=clock).close()  # the other mode is a different store
    Store(tmp_path, "paper", clock=clock).close()  # released on close


def test_closed_store_refuses_writes(store):
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.set_state("a", 1)


# ---------------------------------------------------------------- journal


def test_journal_intent_update_and_read_back(store, clock, reopen):
    tid = store.new_trade_id()
    e = intent(store, tid, venue=Venue.UPBIT)
    assert e.status == "intent" and not e.is_final and e.filled_qty == 0 and e.attempt == 0
    assert e.venue == "upbit" and e.qty == D("0.001") and e.price_hint == D("140000000")
    clock.advance(1)
    e = store.journal_update(e.client_order_id, "open", D("0"), None, None, "upbit-uuid-1")
    assert e.status == "open" and e.exchange_order_id == "upbit-uuid-1"
    clock.advance(1)
    e = store.journal_update(e.client_order_id, "filled", D("0.001"), D("140000123.5"), D("70.0001"), None,
                             fee_asset="KRW")
    assert e.is_final and e.filled_qty == D("0.001") and e.avg_price == D("140000123.5")
    assert e.fee == D("70.0001") and e.fee_asset == "KRW"
    assert e.exchange_order_id == "upbit-uuid-1"  # None kept the known id
    assert [h["status"] for h in e.history] == ["intent", "open", "filled"]
    assert e.updated_ms == e.created_ms + 2000
    s2 = reopen(store)
    assert s2.journal_get(e.client_order_id) == e
    assert isinstance(s2.journal_get(e.client_order_id).avg_price, Decimal)


def test_journal_duplicate_client_order_id_refused(store, reopen):
    tid = store.new_trade_id()
    intent(store, tid)
    with pytest.raises(DuplicateClientOrderId, match="double the order"):
        intent(store, tid)
    s2 = reopen(store)
    with pytest.raises(DuplicateClientOrderId):  # also after a restart
        intent(s2, tid)
    intent(s2, tid, attempt=1)  # a new attempt is a new order
    assert len(s2.journal_for_trade(tid)) == 2


def test_journal_intent_validates(store):
    tid = store.new_trade_id()
    with pytest.raises(ValueError, match="not derived"):
        store.journal_intent(tid, "UE", store.client_order_id(tid, "BE", 0), "upbit", "KRW-BTC", "buy",
                             D(1), None, "market")
    with pytest.raises(ValueError, match="not derived"):
        store.journal_intent("K-other", "UE", store.client_order_id(tid, "UE", 0), "upbit", "KRW-BTC", "buy",
                             D(1), None, "market")
    with pytest.raises(ValueError, match="venue"):
        intent(store, tid, venue="bithumb")
    with pytest.raises(ValueError, match="side"):
        intent(store, tid, side="long")
    with pytest.raises(TypeError, match="Decimal"):
        intent(store, tid, qty=0.001)
    with pytest.raises(ValueError, match="positive"):
        intent(store, tid, qty=D(0))
    with pytest.raises(ValueError, match="symbol"):
        intent(store, tid, symbol="")
    assert store.journal_for_trade(tid) == []  # nothing half-written


def test_journal_update_rules(store):
    tid = store.new_trade_id()
    cid = intent(store, tid).client_order_id
    with pytest.raises(UnknownRecord, match="no journal intent"):
        store.journal_update("K1-UE-0", "filled", D(1), D(1), D(0), "x")
    with pytest.raises(ValueError, match="unknown order status"):
        store.journal_update(cid, "done", None, None, None, None)
    with pytest.raises(ValueError, match="journal_intent only"):
        store.journal_update(cid, "intent", None, None, None, None)
    store.journal_update(cid, "partially_filled", D("0.0005"), D("100"), D("1"), "ex1")
    # an older response with a smaller cumulative fill does not roll the fill back
    e = store.journal_update(cid, "partially_filled", D("0.0002"), D("99"), D("0.5"), None)
    assert e.filled_qty == D("0.0005") and e.avg_price == D("100") and "stale filled_qty" in e.history[-1]["note"]
    e = store.journal_update(cid, "filled", D("0.001"), D("101"), D("2"), None)
    # a late "open" after "filled" does not reopen the order
    e = store.journal_update(cid, "open", None, None, None, None)
    assert e.status == "filled" and "stale status open" in e.history[-1]["note"]
    assert store.journal_open() == []
    # a final status may still be corrected by another final one (cancel raced a fill)
    e = store.journal_update(cid, "canceled", None, None, None, None, raw_error="x" * 5000)
    assert e.status == "canceled" and e.filled_qty == D("0.001") and len(e.raw_error) == 2000


def test_journal_open_and_for_trade(store, reopen):
    t1, t2 = store.new_trade_id(), store.new_trade_id()
    a = intent(store, t1, "UE")
    b = intent(store, t1, "BE", venue="binance", symbol="BTCUSDT", side="sell", price_hint=None)
    c = intent(store, t2, "UE")
    store.journal_update(a.client_order_id, "filled", D("0.001"), D(1), D(0), "u1")
    store.journal_update(c.client_order_id, "unknown", None, None, None, None, raw_error="timeout")
    assert [e.client_order_id for e in store.journal_open()] == [b.client_order_id, c.client_order_id]
    assert [e.leg for e in store.journal_for_trade(t1)] == ["UE", "BE"]
    assert store.journal_for_trade("nope") == []
    s2 = reopen(store)
    assert [e.client_order_id for e in s2.journal_open()] == [b.client_order_id, c.client_order_id]
    assert s2.journal_open()[1].raw_error == "timeout"
    s2.journal_update(b.client_order_id, "rejected", D(0), None, None, None, raw_error="-2019 margin")
    s2.journal_update(c.client_order_id, "expired", D(0), None, None, None)
    assert s2.journal_open() == []


# ---------------------------------------------------------------- trade ids, trades


def test_new_trade_id_format_monotonic_and_unique_across_restarts(store, clock, reopen):
    ids = [store.new_trade_id() for _ in range(3)]
    assert ids == ["K20250101000000-001", "K20250101000000-002", "K20250101000000-003"]
    clock.advance(1)
    ids.append(store.new_trade_id())
    assert ids[-1] == "K20250101000001-001"
    s2 = reopen(store)
    ids.append(s2.new_trade_id())  # same second after a restart: the counter continues
    assert ids[-1] == "K20250101000001-002"
    clock.advance(-3600)  # the clock steps back: ids still increase
    ids.append(s2.new_trade_id())
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_new_trade_id_rolls_to_next_second_after_999(store):
    ids = [store.new_trade_id() for _ in range(1001)]
    assert ids[998] == "K20250101000000-999"
    assert ids[999] == "K20250101000001-001"
    assert ids == sorted(ids) and len(set(ids)) == 1001


def test_trades_upsert_merge_get_list(store, clock, reopen):
    t1 = store.new_trade_id()
    rec = store.upsert_trade({"id": t1, "status": "open", "qty": D("0.5"), "legs": [{"px": D("1.25")}]})
    assert rec["created_ms"] == rec["updated_ms"] == clock.now_ms()
    clock.advance(5)
    rec = store.upsert_trade({"id": t1, "status": "closed", "pnl_krw": D("-12.5")})
    assert rec["qty"] == D("0.5") and rec["status"] == "closed" and rec["updated_ms"] == rec["created_ms"] + 5000
    assert rec["legs"][0]["px"] == D("1.25") and type(rec["legs"][0]["px"]) is Decimal
    t2 = store.new_trade_id()
    store.upsert_trade({"id": t2, "status": "open"})
    t3 = store.new_trade_id()
    store.upsert_trade({"id": t3, "status": "open"})
    store.upsert_trade({"id": t1, "note": "touched"})  # an update does not reorder
    assert [t["id"] for t in store.trades()] == [t3, t2, t1]
    assert [t["id"] for t in store.trades(limit=2)] == [t3, t2]
    assert [t["id"] for t in store.trades(status="open")] == [t3, t2]
    assert [t["id"] for t in store.trades(limit=1, status="closed")] == [t1]
    assert store.trades(limit=0) == []
    assert store.get_trade("nope") is None
    got = store.get_trade(t1)
    got["status"] = "mutated"  # a copy: the store is not changed
    assert store.get_trade(t1)["status"] == "closed"
    s2 = reopen(store)
    assert s2.get_trade(t1)["pnl_krw"] == D("-12.5")
    assert [t["id"] for t in s2.trades()] == [t3, t2, t1]


def test_upsert_refusals_write_nothing(store):
    with pytest.raises(ValueError, match="'id'"):
        store.upsert_trade({"status": "open"})
    with pytest.raises(ValueError, match="finite"):
        store.upsert_trade({"id": "t", "x": float("nan")})
    with pytest.raises(TypeError):
        store.upsert_trade({"id": "t", "x": object()})
    with pytest.raises(TypeError):
        store.upsert_trade(["id", "t"])
    assert store.trades() == [] and store.wal_records == 0


# ---------------------------------------------------------------- positions


def test_positions(store, clock, reopen):
    p = store.upsert_position({"id": "p1", "symbol": "BTC", "qty": D("0.01")})
    assert p["status"] == "open"
    store.upsert_position({"id": "p2", "symbol": "ETH", "qty": D("0.1")})
    store.upsert_position({"id": "p1", "funding_usdt": D("-0.12")})
    assert [x["id"] for x in store.open_positions()] == ["p1", "p2"]
    clock.advance(60)
    closed = store.close_position("p1", pnl_krw=D("1234.5"))
    assert closed["status"] == "closed" and closed["closed_ms"] == clock.now_ms()
    assert closed["funding_usdt"] == D("-0.12") and closed["pnl_krw"] == D("1234.5")
    clock.advance(60)
    again = store.close_position("p1", note="closed twice")  # idempotent: first closed_ms kept
    assert again["closed_ms"] == closed["closed_ms"] and again["note"] == "closed twice"
    with pytest.raises(UnknownRecord, match="no position"):
        store.close_position("nope")
    s2 = reopen(store)
    assert [x["id"] for x in s2.open_positions()] == ["p2"]
    assert [x["id"] for x in s2.positions()] == ["p2", "p1"]
    assert [x["id"] for x in s2.positions(status="closed")] == ["p1"]
    assert s2.get_position("p1")["pnl_krw"] == D("1234.5")


# ---------------------------------------------------------------- state, halt, audit


def test_state(store, reopen):
    assert store.get_state("k") is None and store.get_state("k", 7) == 7
    store.set_state("k", {"z_entry": D("2.5"), "symbols": ["BTC", "ETH"]})
    store.set_state("k2", None)
    s2 = reopen(store)
    assert s2.get_state("k") == {"z_entry": D("2.5"), "symbols": ["BTC", "ETH"]}
    assert s2.get_state("k2", "default") is None  # a stored None is a value
    for bad in ("", "_halt", "_trade_id", 3):
        with pytest.raises(ValueError, match="reserved|non-empty"):
            s2.set_state(bad, 1)
        with pytest.raises(ValueError):
            s2.get_state(bad)


def test_halt_persists_and_is_audited(store, clock, reopen):
    assert store.halt_state() == HaltState(False, "", "", None)
    h = store.set_halt(True, "BTC moved 6.1 % in 60 s (limit 5 %)", "risk")
    assert h == HaltState(True, "BTC moved 6.1 % in 60 s (limit 5 %)", "risk", clock.now_ms())
    s2 = reopen(store)
    assert s2.halt_state() == h
    clock.advance(10)
    s2.set_halt(False, "checked", "telegram:owner")
    s3 = reopen(s2)
    assert s3.halt_state() == HaltState(False, "checked", "telegram:owner", clock.now_ms())
    assert [(a["action"], a["by"]) for a in s3.audit_log()] == [("resume", "telegram:owner"), ("halt", "risk")]
    with pytest.raises(TypeError):
        s3.set_halt("yes", "x", "y")


def test_audit_log(store, clock, reopen):
    for i in range(5):
        clock.advance(1)
        e = store.audit("set_param", "telegram:owner", {"name": "z_entry", "old": D("2.0"), "new": D(f"2.{i}")})
    assert e["id"] == 5 and e["details"]["new"] == D("2.4") and e["ts"] == clock.now_ms()
    store.audit("close_all", "discord:owner")
    s2 = reopen(store)
    log = s2.audit_log(3)
    assert [a["action"] for a in log] == ["close_all", "set_param", "set_param"]
    assert log[0]["details"] == {}
    assert len(s2.audit_log(None)) == 6 and len(s2.audit_log()) == 6
    with pytest.raises(ValueError, match="action"):
        s2.audit("", "x")


# ---------------------------------------------------------------- batches, threads, compaction


def test_batch_is_atomic_one_record(store, reopen):
    before = store.wal_records
    with store.batch():
        tid = store.new_trade_id()
        a = intent(store, tid, "UE")
        b = intent(store, tid, "BE", venue="binance", symbol="BTCUSDT", side="sell")
        assert store.journal_get(a.client_order_id) is not None  # reads see staged writes
        with store.batch():  # nested batches join the outer one
            store.upsert_trade({"id": tid, "status": "opening"})
    assert store.wal_records == before + 1
    s2 = reopen(store)
    assert {e.client_order_id for e in s2.journal_open()} == {a.client_order_id, b.client_order_id}
    assert s2.get_trade(tid)["status"] == "opening"


def test_batch_exception_undoes_everything(store, reopen):
    store.upsert_trade({"id": "t0", "status": "open"})
    tid = store.new_trade_id()
    with pytest.raises(RuntimeError):
        with store.batch():
            intent(store, tid)
            store.upsert_trade({"id": "t0", "status": "closed"})
            store.upsert_trade({"id": "t1"})
            store.audit("x", "y")
            raise RuntimeError("boom")
    assert store.journal_for_trade(tid) == [] and store.journal_open() == []
    assert store.get_trade("t0")["status"] == "open" and store.get_trade("t1") is None
    assert store.audit_log() == []
    intent(store, tid)  # the client id is free again: it was never written
    store.audit("x", "y")
    s2 = reopen(store)
    assert len(s2.journal_for_trade(tid)) == 1 and s2.get_trade("t1") is None
    assert [a["id"] for a in s2.audit_log()] == [1]


def test_compaction_folds_wal_and_keeps_everything(store, reopen):
    store.compact_every = 10
    for i in range(25):
        store.upsert_trade({"id": f"t{i}", "n": i})
    assert store.compaction_due and store.wal_records == 25
    assert store.compact() is True
    assert store.wal_records == 0 and not store.compaction_due
    assert store.compact() is False
    segs = sorted(p.name for p in store.dir.iterdir() if p.name.startswith("kimpbot.wal"))
    assert len(segs) == 1
    store.upsert_trade({"id": "t25", "n": 25})
    s2 = reopen(store)
    assert [t["n"] for t in s2.trades()] == list(range(25, -1, -1))


def test_auto_compaction_safety_net(tmp_path, clock):
    with Store(tmp_path, "paper", clock=clock, auto_compact_at=30) as s:
        for i in range(75):
            s.upsert_trade({"id": f"t{i}"})
        assert s.wal_records == 15
    with Store(tmp_path, "paper", clock=clock) as s:
        assert len(s.trades()) == 75


def test_threads_writing_while_compacting(tmp_path, clock):
    s = Store(tmp_path, "paper", clock=clock)
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer(k: int) -> None:
        try:
            for i in range(150):
                tid = f"T{k}x{i}"
                s.journal_intent(tid, "UE", s.client_order_id(tid, "UE", 0), "upbit", "KRW-BTC", "buy",
                                 D("0.001"), None, "market")
                s.upsert_trade({"id": tid, "k": k, "i": i})
        except BaseException as e:  # pragma: no cover
            errors.append(e)

    def compactor() -> None:
        try:
            while not stop.is_set():
                s.compact()
        except BaseException as e:  # pragma: no cover
            errors.append(e)

    ws = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
    c = threading.Thread(target=compactor)
    c.start()
    for w in ws:
        w.start()
    for w in ws:
        w.join()
    stop.set()
    c.join()
    assert not errors
    s.close()
    with Store(tmp_path, "paper", clock=clock) as s2:
        assert len(s2.trades()) == 450 and len(s2.journal_open()) == 450
        ids = [d for d in s2._docs["trades"]]
        assert ids == sorted(ids)


def test_snapshot_is_a_tinydb_database(store):
    from tinydb import Query, TinyDB

    from kimpbot.store import AtomicJSONStorage

    tid = store.new_trade_id()
    intent(store, tid)
    store.upsert_trade({"id": tid, "status": "open"})
    store.compact()
    db = TinyDB(store.path, storage=AtomicJSONStorage)
    assert db.table("journal").search(Query().trade_id == tid)[0]["status"] == "intent"
    assert db.table("trades").get(doc_id=1)["id"] == tid
    assert db.table("_meta").get(doc_id=1)["mode"] == "paper"
