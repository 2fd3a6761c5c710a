"""Damaged files: corrupt snapshots are refused and kept, torn WAL tails are dropped, write
failures stop the store, interrupted compactions recover."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from tinydb import TinyDB

from kimpbot.clock import ManualClock
from kimpbot.store import AtomicJSONStorage, Store, StoreCorrupt, StoreFailed
from kimpbot.store import wal as wal_mod

D = Decimal


def wal_files(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if wal_mod.SEGMENT_RE.match(p.name))


# ---------------------------------------------------------------- AtomicJSONStorage


def test_atomic_storage_missing_file_is_empty_db(tmp_path):
    path = tmp_path / "db.json"
    assert AtomicJSONStorage(path).read() is None
    db = TinyDB(path, storage=AtomicJSONStorage)
    assert db.tables() == set() and not path.exists()  # reading never creates the file
    db.insert({"a": 1})
    assert json.loads(path.read_text()) == {"_default": {"1": {"a": 1}}}
    assert TinyDB(path, storage=AtomicJSONStorage).all() == [{"a": 1}]
    assert [p.name for p in tmp_path.iterdir()] == ["db.json"]  # no temp file left
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_atomic_storage_create_dirs_and_utf8(tmp_path):
    path = tmp_path / "a" / "b" / "db.json"
    db = TinyDB(path, storage=AtomicJSONStorage, create_dirs=True)
    db.insert({"reason": "김치 프리미엄"})
    assert "김치" in path.read_text(encoding="utf-8")
    with pytest.raises(ValueError):
        AtomicJSONStorage(path, encoding="latin-1")


def test_atomic_storage_refuses_nan_and_leaves_old_file(tmp_path):
    path = tmp_path / "db.json"
    st_ = AtomicJSONStorage(path)
    st_.write({"t": {"1": {"x": 1}}})
    before = path.read_bytes()
    with pytest.raises(ValueError):
        st_.write({"t": {"1": {"x": float("nan")}}})
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["db.json"]


@pytest.mark.parametrize(
    "content,problem",
    [
        (b'{"t": {"1": {"x": 1}', "not valid JSON"),
        (b"", "empty"),
        (b"  \n", "empty"),
        (b"[1, 2]", "not a TinyDB database"),
        (b'{"t": [1]}', "not a TinyDB database"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
)
def test_corrupt_file_refused_with_clear_error_and_kept(tmp_path, content, problem):
    path = tmp_path / "db.json"
    path.write_bytes(content)
    with pytest.raises(StoreCorrupt) as ei:
        AtomicJSONStorage(path).read()
    msg = str(ei.value)
    assert str(path) in msg and problem in msg and ei.value.path == path
    assert path.read_bytes() == content


def test_store_refuses_corrupt_snapshot_keeps_it_and_says_what_to_do(tmp_path, clock):
    with Store(tmp_path, "live", clock=clock) as s:
        s.upsert_trade({"id": "t1"})
        s.compact()
        path = s.path
    damaged = path.read_bytes()[:-7]
    path.write_bytes(damaged)
    with pytest.raises(StoreCorrupt) as ei:
        Store(tmp_path, "live", clock=clock)
    msg = str(ei.value)
    assert str(path) in msg and "not valid JSON" in msg
    assert "backup" in msg and "check open orders" in msg and "mv " in msg
    assert path.read_bytes() == damaged  # never replaced by an empty store
    Store(tmp_path, "paper", clock=clock).close()  # and the lock was released on the failed open
    with pytest.raises(StoreCorrupt):
        Store(tmp_path, "live", clock=clock)


@pytest.mark.parametrize(
    "meta,problem",
    [
        (None, "store header"),
        ({"format": 99, "mode": "paper", "seq": 0}, "store header"),
        ({"format": 1, "mode": "live", "seq": 0}, "'live' store, opened as 'paper'"),
    ],
)
def test_store_refuses_foreign_snapshot(tmp_path, clock, meta, problem):
    d = tmp_path / "paper"
    d.mkdir()
    data = {"trades": {"1": {"id": "t"}}}
    if meta is not None:
        data["_meta"] = {"1": meta}
    (d / "kimpbot.json").write_text(json.dumps(data))
    with pytest.raises(StoreCorrupt, match=problem):
        Store(tmp_path, "paper", clock=clock)


def test_snapshot_with_duplicate_keys_refused(tmp_path, clock):
    d = tmp_path / "paper"
    d.mkdir()
    (d / "kimpbot.json").write_text(json.dumps({
        "_meta": {"1": {"format": 1, "mode": "paper", "seq": 0}},
        "trades": {"1": {"id": "t"}, "2": {"id": "t"}},
    }))
    with pytest.raises(StoreCorrupt, match="appears twice"):
        Store(tmp_path, "paper", clock=clock)


def test_live_journal_copied_into_paper_is_refused(tmp_path, clock):
    with Store(tmp_path, "live", clock=clock) as s:
        s.upsert_trade({"id": "live-trade"})
        seg = wal_files(s.dir)[0]
    Store(tmp_path, "paper", clock=clock).close()
    shutil.copy(seg, tmp_path / "paper" / "kimpbot.wal.000000000001")
    with pytest.raises(StoreCorrupt, match="'live' store, not 'paper'"):
        Store(tmp_path, "paper", clock=clock)


def test_leftover_temp_snapshot_is_removed(tmp_path, clock):
    Store(tmp_path, "paper", clock=clock).close()
    tmp = tmp_path / "paper" / ".kimpbot.json.tmp-abc123"
    tmp.write_text('{"half": ')
    Store(tmp_path, "paper", clock=clock).close()
    assert not tmp.exists()


# ---------------------------------------------------------------- WAL damage


def _store_with_trades(tmp_path: Path, clock, n: int) -> Path:
    with Store(tmp_path, "paper", clock=clock) as s:
        for i in range(n):
            s.upsert_trade({"id": f"t{i}", "qty": D(f"0.{i + 1}")})
        return s.dir


def test_torn_last_record_is_dropped_and_kept_aside(tmp_path, clock):
    d = _store_with_trades(tmp_path, clock, 5)
    seg = wal_files(d)[0]
    with open(seg, "ab") as f:
        f.write(b'1234abcd {"seq":6,"ts":1,"ops":[["put","trades",6,{"id":"t5"')  # killed mid-write
    with Store(tmp_path, "paper", clock=clock) as s:
        assert [t["id"] for t in s.trades()] == [f"t{i}" for i in range(4, -1, -1)]
        s.upsert_trade({"id": "after"})
    kept = [p for p in d.iterdir() if ".torn-" in p.name]
    assert len(kept) == 1 and kept[0].read_bytes().endswith(b'{"id":"t5"')
    with Store(tmp_path, "paper", clock=clock) as s:
        assert s.get_trade("after") is not None and len(s.trades()) == 6


def test_damaged_record_followed_by_good_ones_is_refused(tmp_path, clock):
    d = _store_with_trades(tmp_path, clock, 5)
    seg = wal_files(d)[0]
    raw = bytearray(seg.read_bytes())
    i = raw.index(b'"t1"')
    raw[i + 1] = ord("X")
    seg.write_bytes(bytes(raw))
    with pytest.raises(StoreCorrupt, match="followed by intact records") as ei:
        Store(tmp_path, "paper", clock=clock)
    assert str(seg) in str(ei.value)
    assert seg.read_bytes() == bytes(raw)


def test_missing_snapshot_with_journal_refused(tmp_path, clock):
    d = _store_with_trades(tmp_path, clock, 2)
    (d / "kimpbot.json").unlink()
    with pytest.raises(StoreCorrupt, match="snapshot is missing"):
        Store(tmp_path, "paper", clock=clock)


def test_missing_segment_is_a_gap(tmp_path, clock):
    with Store(tmp_path, "paper", clock=clock) as s:
        s.upsert_trade({"id": "a"})
        first = wal_files(s.dir)[0]
        saved = first.read_bytes()
        s.compact()  # snapshot at seq 1, segment 2 current
        s.upsert_trade({"id": "b"})
    # pretend the snapshot is old (seq 0) and segment 1 is lost: records 2.. cannot apply
    snap = json.loads((s.dir / "kimpbot.json").read_text())
    snap["_meta"]["1"]["seq"] = 0
    snap["trades"] = {}
    (s.dir / "kimpbot.json").write_text(json.dumps(snap))
    with pytest.raises(StoreCorrupt, match="gap"):
        Store(tmp_path, "paper", clock=clock)
    first.write_bytes(saved)  # with segment 1 back it loads fully
    with Store(tmp_path, "paper", clock=clock) as s2:
        assert {t["id"] for t in s2.trades()} == {"a", "b"}


def test_interrupted_compaction_recovers(tmp_path, clock):
    """Snapshot replaced but old segments not yet deleted; and a new segment created empty."""
    with Store(tmp_path, "paper", clock=clock) as s:
        for i in range(10):
            s.upsert_trade({"id": f"t{i}"})
        saved = {p.name: p.read_bytes() for p in wal_files(s.dir)}
        s.compact()
        s.upsert_trade({"id": "t10"})
    for name, raw in saved.items():  # the cleanup never happened
        (s.dir / name).write_bytes(raw)
    (s.dir / "kimpbot.wal.000000000012").write_bytes(b"")  # a rotation killed before its header
    with Store(tmp_path, "paper", clock=clock) as s2:
        assert len(s2.trades()) == 11
        s2.upsert_trade({"id": "t11"})
    with Store(tmp_path, "paper", clock=clock) as s3:
        assert len(s3.trades()) == 12


# build the files once; each hypothesis example damages a fresh copy
_N = 6


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("pristine")
    d = _store_with_trades(root, ManualClock(), _N)
    seg = wal_files(d)[0]
    raw = seg.read_bytes()
    ends = [i + 1 for i, b in enumerate(raw) if b == ord("\n")]  # ends[0] is the header
    return (d / "kimpbot.json").read_bytes(), seg.name, raw, ends


def _load_damaged(snapshot: bytes, seg_name: str, raw: bytes):
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "paper"
        d.mkdir()
        (d / "kimpbot.json").write_bytes(snapshot)
        (d / seg_name).write_bytes(raw)
        with Store(tmp, "paper", clock=ManualClock()) as s:
            return [(t["id"], t["qty"]) for t in reversed(s.trades())]


def _prefix(k: int):
    return [(f"t{i}", D(f"0.{i + 1}")) for i in range(k)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_wal_cut_anywhere_loads_exactly_the_complete_records(pristine, data):
    snapshot, seg_name, raw, ends = pristine
    cut = data.draw(st.integers(0, len(raw)))
    got = _load_damaged(snapshot, seg_name, raw[:cut])
    complete = sum(1 for e in ends[1:] if e <= cut)
    assert got == _prefix(complete)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_wal_byte_damage_never_loads_wrong_data(pristine, data):
    snapshot, seg_name, raw, ends = pristine
    pos = data.draw(st.integers(0, len(raw) - 1))
    new = data.draw(st.integers(0, 255).filter(lambda b: b != raw[pos]))
    damaged = raw[:pos] + bytes([new]) + raw[pos + 1 :]
    line = next(i for i, e in enumerate(ends) if pos < e)  # 0 = header, k = record k
    try:
        got = _load_damaged(snapshot, seg_name, damaged)
    except StoreCorrupt:
        assert line < len(ends) - 1 or raw[pos] == ord("\n")  # only the last record may be dropped
        return
    # it loaded: it is the full data, or (damage in the last record) all records but the last
    assert got in (_prefix(_N), _prefix(_N - 1))
    if got == _prefix(_N - 1):
        assert line == len(ends) - 1



@pytest.mark.parametrize("byte", [0x00, ord(" "), ord("x")])
def test_a_damaged_newline_between_two_records_keeps_both(pristine, byte):
    """One damaged byte where a newline stood joins two intact records into one bad line; the
    store splits it back (each half passes its checksum) instead of dropping an acknowledged
    record as if it were a torn write (it dropped the last two, found by the hypothesis test)."""
    snapshot, seg_name, raw, ends = pristine
    for e in ends[:-1]:  # every newline but the file's last (that one is a tear, dropped as such)
        damaged = raw[: e - 1] + bytes([byte]) + raw[e:]
        assert _load_damaged(snapshot, seg_name, damaged) == _prefix(_N), f"newline at byte {e - 1}"

# ---------------------------------------------------------------- write failures


@pytest.mark.parametrize("failure", ["fsync", "short_write"])
def test_failed_write_stops_the_store_and_leaves_no_torn_record(tmp_path, clock, monkeypatch, failure):
    s = Store(tmp_path, "paper", clock=clock)
    tid = s.new_trade_id()
    cid = s.client_order_id(tid, "UE", 0)
    if failure == "fsync":
        def boom(fd):
            raise OSError(errno.EIO, "Input/output error")
        monkeypatch.setattr(wal_mod.os, "fsync", boom)
    else:
        real_write = os.write

        def half(fd, data):
            if len(data) > 100:
                real_write(fd, bytes(data[: len(data) // 2]))
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_write(fd, data)
        monkeypatch.setattr(wal_mod.os, "write", half)
    with pytest.raises(StoreFailed) as ei:
        s.journal_intent(tid, "UE", cid, "upbit", "KRW-BTC", "buy", D("0.001"), None, "market")
    assert "free space" in str(ei.value) and "kimpbot.wal" in str(ei.value)
    monkeypatch.undo()
    assert s.journal_get(cid) is None and s.journal_open() == []  # memory never saw it
    with pytest.raises(StoreFailed):  # nothing more is accepted until recover() (or a restart)
        s.upsert_trade({"id": "x"})
    with pytest.raises(StoreFailed):
        s.set_halt(True, "x", "y")
    assert s.get_trade(tid) is None  # reads still work
    s.close()
    with Store(tmp_path, "paper", clock=clock) as s2:  # the failed record was truncated away
        assert s2.journal_get(cid) is None
        s2.journal_intent(tid, "UE", cid, "upbit", "KRW-BTC", "buy", D("0.001"), None, "market")


def test_failed_batch_commit_undoes_memory(tmp_path, clock, monkeypatch):
    s = Store(tmp_path, "paper", clock=clock)
    s.upsert_trade({"id": "t", "status": "open"})

    def boom(fd):
        raise OSError(errno.EIO, "Input/output error")
    with pytest.raises(StoreFailed):
        with s.batch():
            s.upsert_trade({"id": "t", "status": "closed"})
            s.upsert_position({"id": "p"})
            monkeypatch.setattr(wal_mod.os, "fsync", boom)
    monkeypatch.undo()
    assert s.get_trade("t")["status"] == "open" and s.get_position("p") is None
    s.close()
