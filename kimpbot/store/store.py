"""The bot's durable state: order journal, trades, positions, halt state, key/value state, audit log.

Design (measured with ``benchmarks/store.py`` on the dev box's ext4):

* Plain TinyDB over ``AtomicJSONStorage`` rewrites and fsyncs the whole file on every write:
  ~1 ms empty, ~3.5 ms at 1,000 records, ~29-43 ms at 10,000 (and TinyDB's insert is O(table)
  even in memory: ~1.5 ms at 10,000). Too slow in front of an order.
* So: records live in memory, indexed; every write appends one checksummed JSON line to a
  write-ahead log and fsyncs it (``wal.py``): ~0.15 ms p50, ~0.2-0.3 ms p99, flat in store size.
  ``compact()`` folds the log into a TinyDB-format snapshot ``kimpbot.json`` written with
  ``AtomicJSONStorage`` (temp file, fsync, rename, fsync dir); open replays the log and compacts.
  The snapshot is a valid TinyDB database: ``TinyDB(path, storage=AtomicJSONStorage)`` reads it.

Paper and live are separate directories (``data_dir/paper``, ``data_dir/live``), each stamped
with its mode in every file and locked (flock) by one process at a time.

Thread-safety: one ``RLock`` guards every call; calls are short (one fsync for a write, none for
a read), so the asyncio bot calls them directly. ``compact()`` holds the lock only to switch log
segments (~1 ms); run it from a worker thread when ``store.compaction_due`` and no order is in
flight (``await asyncio.to_thread(store.compact)``: ~0.1 s at 10,000 trades, during which other
threads see GIL stalls of ~1-2 ms). A write past ``auto_compact_at`` log records compacts inline.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from ..clock import Clock, SystemClock
from .codec import (
    client_order_id as make_client_order_id,
    dec,
    from_json,
    money,
    next_stamp,
    parse_client_order_id,
    text,
    to_json,
    utc_stamp,
)
from .errors import DuplicateClientOrderId, StoreCorrupt, StoreError, StoreFailed, StoreLocked, UnknownRecord
from .storage import AtomicJSONStorage, fsync_dir, temp_prefix
from .wal import WalWriter, encode_line, list_segments, read_segment

try:
    import fcntl
except ImportError:  # pragma: no cover - not Linux/macOS
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("kimpbot.store")

MODES = ("paper", "live")
FORMAT = 1
SNAPSHOT_NAME = "kimpbot.json"
LOCK_NAME = "kimpbot.lock"

# order journal statuses
INTENT = "intent"  # written before the order is sent; the exchange may or may not have it
SENT = "sent"  # request on the wire, no answer yet
OPEN = "open"  # exchange acknowledged, resting / not yet filled
PARTIALLY_FILLED = "partially_filled"
UNKNOWN = "unknown"  # response lost or ambiguous: query the exchange by client order id
FILLED = "filled"
CANCELED = "canceled"  # may carry a partial fill in filled_qty
REJECTED = "rejected"
EXPIRED = "expired"
OPEN_STATUSES = frozenset({INTENT, SENT, OPEN, PARTIALLY_FILLED, UNKNOWN})
FINAL_STATUSES = frozenset({FILLED, CANCELED, REJECTED, EXPIRED})
SIDES = ("buy", "sell")
VENUES = ("upbit", "binance")
_HISTORY_MAX = 50

T_META, T_JOURNAL, T_TRADES, T_POSITIONS, T_STATE, T_AUDIT = "_meta", "journal", "trades", "positions", "state", "audit"
TABLES = (T_JOURNAL, T_TRADES, T_POSITIONS, T_STATE, T_AUDIT)
_KEY_FIELD = {T_JOURNAL: "client_order_id", T_TRADES: "id", T_POSITIONS: "id", T_STATE: "key", T_AUDIT: None}
_HALT_KEY, _TRADE_ID_KEY = "_halt", "_trade_id"


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One order as the journal knows it. Amounts are Decimal."""

    client_order_id: str
    trade_id: str
    leg: str
    attempt: int
    venue: str
    symbol: str
    side: str
    qty: Decimal
    price_hint: Decimal | None
    kind: str
    status: str
    filled_qty: Decimal
    avg_price: Decimal | None
    fee: Decimal | None
    fee_asset: str | None
    exchange_order_id: str | None
    raw_error: str | None
    created_ms: int
    updated_ms: int
    history: tuple[dict[str, Any], ...]

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @classmethod
    def _from_doc(cls, d: Mapping[str, Any]) -> "JournalEntry":
        return cls(
            client_order_id=d["client_order_id"], trade_id=d["trade_id"], leg=d["leg"], attempt=d["attempt"],
            venue=d["venue"], symbol=d["symbol"], side=d["side"], qty=Decimal(d["qty"]),
            price_hint=dec(d["price_hint"]), kind=d["kind"], status=d["status"],
            filled_qty=Decimal(d["filled_qty"]), avg_price=dec(d["avg_price"]), fee=dec(d["fee"]),
            fee_asset=d["fee_asset"], exchange_order_id=d["exchange_order_id"], raw_error=d["raw_error"],
            created_ms=d["created_ms"], updated_ms=d["updated_ms"],
            history=tuple(dict(h) for h in d["history"]),
        )


class HaltState(NamedTuple):
    halted: bool
    reason: str
    by: str
    ts: int | None  # ms of the last change; None if never set


class Store:
    """Durable state for one mode ("paper" or "live") under ``data_dir/<mode>/``.

    Every write is on disk when the method returns; a method that raises wrote nothing. A write
    that fails at the disk (full, read-only, I/O error) raises ``StoreFailed``: the journal is cut
    back to its last good record and the store refuses every further write (memory keeps exactly
    what is on disk) until ``recover()`` proves the disk writes again.
    """

    def __init__(
        self,
        data_dir: Path | str,
        mode: str,
        *,
        clock: Clock | None = None,
        compact_every: int = 1000,
        auto_compact_at: int | None = 20_000,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"store mode must be 'paper' or 'live', got {mode!r}")
        self.mode = mode
        self.dir = Path(data_dir).expanduser() / mode
        self.path = self.dir / SNAPSHOT_NAME
        self.clock: Clock = clock or SystemClock()
        self.compact_every = compact_every
        self.auto_compact_at = auto_compact_at
        self._lock = threading.RLock()
        self._compact_lock = threading.Lock()
        self._failed: str | None = None
        self.failed_since_ms: int | None = None  # when the current write failure began
        self.failures = 0  # writes refused or failed since the last recovery (one alert covers them)
        # recover() wants this much free space first: a disk with a few bytes free would take the
        # probe and fail the next real write (an alert storm of failures and recoveries)
        self.recover_min_free_bytes = 1 << 20
        self._closed = False
        self._batch_depth = 0
        self._batch_ops: list[list[Any]] = []
        self._batch_undo: list[tuple[str, int, dict[str, Any] | None]] = []
        # table -> doc_id -> doc (JSON form; never mutated once stored) and natural key -> doc_id
        self._docs: dict[str, dict[int, dict[str, Any]]] = {t: {} for t in TABLES}
        self._ids: dict[str, dict[str, int]] = {t: {} for t in TABLES}
        self._next_id: dict[str, int] = {t: 1 for t in TABLES}
        self._by_trade: dict[str, list[str]] = {}
        self._open_orders: set[str] = set()
        self._seq = 0
        self._wal_records = 0
        self._old_segments: list[Path] = []
        self._wal: WalWriter | None = None

        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock_fd = self._acquire_process_lock()
        try:
            self._open()
        except BaseException:
            self._release_process_lock()
            raise

    # ------------------------------------------------------------------ open / close

    def _acquire_process_lock(self) -> int:
        path = self.dir / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise StoreLocked(
                    f"{self.dir}: another process has this {self.mode} store open (lock {path}). "
                    "Two bots on one store would double orders: stop the other one first."
                ) from None
        return fd

    def _release_process_lock(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = -1

    def _open(self) -> None:
        for p in self.dir.glob(temp_prefix(self.path) + "*"):
            p.unlink()  # a snapshot write that never reached its rename
        snap = AtomicJSONStorage(self.path).read()
        segments = list_segments(self.dir)
        snap_seq = 0
        if snap is None:
            if segments:
                raise StoreCorrupt(self.path, "the snapshot is missing but journal files exist next to it")
        else:
            snap_seq = self._load_snapshot(snap)
        self._seq = snap_seq
        replayed, torn = 0, []
        for i, (first_seq, seg_path) in enumerate(segments):
            seg = read_segment(seg_path, first_seq, self.mode, last=i == len(segments) - 1)
            if first_seq > self._seq + 1:
                raise StoreCorrupt(seg_path, f"journal gap: records {self._seq + 1}..{first_seq - 1} are missing")
            for rec in seg.records:
                if rec["seq"] <= self._seq:
                    continue  # already in the snapshot (a compaction stopped before its cleanup)
                if rec["seq"] != self._seq + 1:
                    raise StoreCorrupt(seg_path, f"journal gap: expected record {self._seq + 1}, found {rec['seq']}")
                self._replay(seg_path, rec)
                self._seq = rec["seq"]
                replayed += 1
            if seg.tail:
                torn.append(seg)
        if snap is None or replayed:
            self._write_snapshot(self._snapshot_tables(), self._seq)
        now = self.clock.now_ms()
        for first_seq, seg_path in segments:
            if any(s.path == seg_path for s in torn):
                seg = next(s for s in torn if s.path == seg_path)
                kept = seg_path.with_name(f"{seg_path.name}.torn-{now}")
                os.replace(seg_path, kept)
                log.warning("%s: dropped %d bytes of an unfinished last write (never acknowledged); kept in %s",
                            seg_path, len(seg.tail), kept.name)
            else:
                seg_path.unlink()
        if segments:
            fsync_dir(self.dir)
        if replayed:
            log.info("%s: replayed %d journal records, snapshot at seq %d", self.dir, replayed, self._seq)
        self._wal = WalWriter.create(self.dir, self.mode, self._seq + 1)

    def _load_snapshot(self, snap: dict[str, dict[str, Any]]) -> int:
        meta = snap.get(T_META, {}).get("1")
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or not isinstance(meta.get("seq"), int):
            raise StoreCorrupt(self.path, f"missing or unknown store header (_meta): {meta!r}")
        if meta.get("mode") != self.mode:
            raise StoreCorrupt(
                self.path,
                f"this is a {meta.get('mode')!r} store, opened as {self.mode!r}",
                "The file was left untouched. Paper and live records are kept apart: check "
                "KIMPBOT_DATA_DIR and how the file got here.",
            )
        for table in TABLES:
            for doc_id_s, doc in snap.get(table, {}).items():
                try:
                    doc_id = int(doc_id_s)
                except ValueError:
                    raise StoreCorrupt(self.path, f"table {table}: document id {doc_id_s!r} is not a number") from None
                if not isinstance(doc, dict):
                    raise StoreCorrupt(self.path, f"table {table}: document {doc_id} is not an object")
                self._check_key(self.path, table, doc_id, doc)
                self._apply(table, doc_id, doc)
        return meta["seq"]

    def _check_key(self, where: Path, table: str, doc_id: int, doc: dict[str, Any]) -> None:
        field = _KEY_FIELD[table]
        if field is None:
            return
        key = doc.get(field)
        if not isinstance(key, str):
            raise StoreCorrupt(where, f"table {table}: document {doc_id} has no {field}")
        other = self._ids[table].get(key)
        if other is not None and other != doc_id:
            raise StoreCorrupt(where, f"table {table}: {field} {key!r} appears twice (documents {other} and {doc_id})")

    def _replay(self, seg_path: Path, rec: dict[str, Any]) -> None:
        for op in rec["ops"]:
            if not (isinstance(op, list) and len(op) == 4 and op[0] == "put" and op[1] in TABLES
                    and isinstance(op[2], int) and isinstance(op[3], dict)):
                raise StoreCorrupt(seg_path, f"record {rec['seq']}: unknown operation {op!r}")
            self._check_key(seg_path, op[1], op[2], op[3])
            self._apply(op[1], op[2], op[3])

    def close(self) -> None:
        """Close the files and release the process lock. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._wal is not None:
                self._wal.close()
            self._release_process_lock()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ memory

    def _apply(self, table: str, doc_id: int, doc: dict[str, Any] | None) -> None:
        """Put (or, for undo, remove) a document and keep every index in step."""
        docs = self._docs[table]
        old = docs.get(doc_id)
        field = _KEY_FIELD[table]
        if doc is None:
            docs.pop(doc_id, None)
            if field is not None and old is not None:
                self._ids[table].pop(old[field], None)
        else:
            docs[doc_id] = doc
            if field is not None:
                self._ids[table][doc[field]] = doc_id
            if doc_id >= self._next_id[table]:
                self._next_id[table] = doc_id + 1
        if table == T_JOURNAL:
            cid = (doc or old or {}).get("client_order_id")
            if old is None and doc is not None:
                self._by_trade.setdefault(doc["trade_id"], []).append(cid)
            elif doc is None and old is not None:
                lst = self._by_trade.get(old["trade_id"], [])
                if cid in lst:
                    lst.remove(cid)
            if doc is not None and doc.get("status") in OPEN_STATUSES:
                self._open_orders.add(cid)
            else:
                self._open_orders.discard(cid)

    def _snapshot_tables(self) -> dict[str, dict[int, dict[str, Any]]]:
        return {t: dict(self._docs[t]) for t in TABLES}  # docs are immutable: a shallow copy is a snapshot

    def _write_snapshot(self, tables: dict[str, dict[int, dict[str, Any]]], seq: int) -> None:
        meta = {"format": FORMAT, "mode": self.mode, "seq": seq, "written_ms": self.clock.now_ms()}
        AtomicJSONStorage(self.path).write({T_META: {1: meta}, **tables})  # type: ignore[dict-item]

    # ------------------------------------------------------------------ writing

    def _check_writable(self) -> None:
        if self._closed:
            raise StoreError(f"{self.dir}: the store is closed")
        if self._failed is not None:
            self.failures += 1
            raise StoreFailed(self._failed)

    @property
    def failed(self) -> str | None:
        """Why writes are refused (a disk failure), or None while the store writes."""
        return self._failed

    def recover(self) -> bool:
        """After a write failure: cut the journal back to its last good record and write one empty
        probe record (fsynced). True when that worked: writes are accepted again. False (still
        refused) when the disk still fails. Safe to call at any time; cheap when nothing failed."""
        with self._lock:
            if self._failed is None:
                return True
            if self._closed or self._batch_depth:
                return False
            assert self._wal is not None
            try:
                st = os.statvfs(self.dir)
                free = st.f_bavail * st.f_frsize
                if free < self.recover_min_free_bytes:
                    raise OSError(errno.ENOSPC, f"only {free} bytes free, {self.recover_min_free_bytes} wanted")
                self._wal.cut_back()
                seq = self._seq + 1
                # a page-sized probe: a few bytes could still fit in the log's last allocated block
                self._wal.append(encode_line({"seq": seq, "ts": self.clock.now_ms(), "ops": [], "probe": "." * 4096}))
            except OSError as e:
                log.debug("%s: still not writable: %s", self.dir, e)
                return False
            self._seq = seq
            self._wal_records += 1
            log.warning("%s: writes succeed again (failed since %s ms, %d write(s) refused meanwhile)",
                        self.dir, self.failed_since_ms, self.failures)
            self._failed = None
            self.failed_since_ms = None
            self.failures = 0
            return True

    def _put(self, table: str, key: str | None, doc: dict[str, Any]) -> None:
        """Stage a put (inside the current batch) or commit it as its own record."""
        doc_id = self._ids[table].get(key) if key is not None else None
        if doc_id is None:
            doc_id = self._next_id[table]
        with self.batch():
            self._batch_undo.append((table, doc_id, self._docs[table].get(doc_id)))
            self._batch_ops.append(["put", table, doc_id, doc])
            self._apply(table, doc_id, doc)

    @contextlib.contextmanager
    def batch(self) -> Iterator["Store"]:
        """Group writes into one atomic record (one fsync): all are on disk at exit, or none.

        Inside the block, reads see the staged writes; other threads wait for the block to end.
        An exception inside the block (or a failed write at its end) undoes every staged write.
        """
        with self._lock:
            self._check_writable()
            self._batch_depth += 1
            ok = False
            try:
                yield self
                ok = True
            finally:
                self._batch_depth -= 1
                if self._batch_depth == 0:
                    ops, undo = self._batch_ops, self._batch_undo
                    self._batch_ops, self._batch_undo = [], []
                    if ok and ops:
                        try:
                            self._commit(ops)
                        except BaseException:
                            self._undo(undo)
                            raise
                    elif not ok:
                        self._undo(undo)

    def _undo(self, undo: list[tuple[str, int, dict[str, Any] | None]]) -> None:
        for table, doc_id, old in reversed(undo):
            self._apply(table, doc_id, old)
        for table in TABLES:  # forget ids handed out to undone inserts
            self._next_id[table] = max(self._docs[table], default=0) + 1

    def _commit(self, ops: list[list[Any]]) -> None:
        seq = self._seq + 1
        line = encode_line({"seq": seq, "ts": self.clock.now_ms(), "ops": ops})
        assert self._wal is not None
        try:
            self._wal.append(line)
        except BaseException as e:
            self._failed = (
                f"{self._wal.path}: writing record {seq} failed ({type(e).__name__}: {e}). Nothing more can be "
                "recorded until the disk writes again (free space, fix permissions or hardware); the store "
                "retries by itself and keeps everything written before."
            )
            self.failed_since_ms = self.clock.now_ms()
            self.failures = 1
            log.critical(self._failed)
            raise StoreFailed(self._failed) from e
        self._seq = seq
        self._wal_records += 1
        if self.auto_compact_at is not None and self._wal_records >= self.auto_compact_at:
            try:
                self._compact_locked_start_and_finish()
            except Exception as e:  # the record is committed; a failed compaction only delays cleanup
                log.error("%s: automatic compaction failed (the WAL keeps everything): %s", self.dir, e)

    # ------------------------------------------------------------------ compaction

    @property
    def wal_records(self) -> int:
        """Records written since the last snapshot."""
        return self._wal_records

    @property
    def compaction_due(self) -> bool:
        return self._wal_records >= self.compact_every or bool(self._old_segments)

    def compact(self) -> bool:
        """Fold the WAL into a new snapshot. Writers wait only for a segment switch and a shallow copy.

        Returns False if there was nothing to fold. Safe to call from a worker thread.
        """
        with self._compact_lock:
            with self._lock:
                if self._batch_depth:
                    raise StoreError("compact() cannot run inside batch()")
                self._check_writable()
                if self._wal_records == 0 and not self._old_segments:
                    return False
                tables, seq, old = self._rotate()
            self._write_snapshot(tables, seq)
            with self._lock:
                for p in old:
                    p.unlink(missing_ok=True)
                fsync_dir(self.dir)
                self._old_segments = [p for p in self._old_segments if p not in old]
            return True

    def _rotate(self) -> tuple[dict[str, dict[int, dict[str, Any]]], int, list[Path]]:
        assert self._wal is not None
        new = WalWriter.create(self.dir, self.mode, self._seq + 1)
        self._wal.close()
        self._old_segments.append(self._wal.path)
        self._wal = new
        self._wal_records = 0
        return self._snapshot_tables(), self._seq, list(self._old_segments)

    def _compact_locked_start_and_finish(self) -> None:
        # called with self._lock held from a write: finish inline (the safety net for a bot
        # that never calls compact(); normally compaction runs in a worker thread)
        if not self._compact_lock.acquire(blocking=False):
            return  # a compaction is already running
        try:
            tables, seq, old = self._rotate()
            self._write_snapshot(tables, seq)
            for p in old:
                p.unlink(missing_ok=True)
            fsync_dir(self.dir)
            self._old_segments = [p for p in self._old_segments if p not in old]
        finally:
            self._compact_lock.release()

    # ------------------------------------------------------------------ order journal

    @staticmethod
    def client_order_id(trade_id: str, leg: str, attempt: int) -> str:
        return make_client_order_id(trade_id, leg, attempt)

    def journal_intent(
        self,
        trade_id: str,
        leg: str,
        client_order_id: str,
        venue: str,
        symbol: str,
        side: str,
        qty: Decimal,
        price_hint: Decimal | None,
        kind: str,
    ) -> JournalEntry:
        """Record an order *before* it is sent. Refuses a client order id already journaled."""
        tid, cleg, attempt = parse_client_order_id(client_order_id)
        if tid != trade_id or cleg != leg:
            raise ValueError(
                f"client order id {client_order_id!r} is not derived from trade {trade_id!r} leg {leg!r}: "
                "make it with client_order_id(trade_id, leg, attempt)"
            )
        venue_s = text(venue, "venue")
        if venue_s not in VENUES:
            raise ValueError(f"venue must be one of {VENUES}, got {venue_s!r}")
        side_s = text(side, "side")
        if side_s not in SIDES:
            raise ValueError(f"side must be 'buy' or 'sell', got {side_s!r}")
        with self._lock:
            self._check_writable()
            existing = self._ids[T_JOURNAL].get(client_order_id)
            if existing is not None:
                prev = self._docs[T_JOURNAL][existing]
                raise DuplicateClientOrderId(
                    f"client order id {client_order_id} is already journaled (trade {prev['trade_id']}, "
                    f"status {prev['status']}): sending it again would double the order. Resend the same "
                    "order without a new intent, or take the next attempt number for a new order."
                )
            now = self.clock.now_ms()
            doc = {
                "client_order_id": client_order_id, "trade_id": trade_id, "leg": leg, "attempt": attempt,
                "venue": venue_s, "symbol": text(symbol, "symbol"), "side": side_s,
                "qty": money(qty, "qty", positive=True), "price_hint": money(price_hint, "price_hint", optional=True),
                "kind": text(kind, "kind"), "status": INTENT, "filled_qty": "0", "avg_price": None, "fee": None,
                "fee_asset": None, "exchange_order_id": None, "raw_error": None,
                "created_ms": now, "updated_ms": now, "history": [{"ts": now, "status": INTENT}],
            }
            self._put(T_JOURNAL, client_order_id, doc)
            return JournalEntry._from_doc(doc)

    def journal_update(
        self,
        client_order_id: str,
        status: str,
        filled_qty: Decimal | None,
        avg_price: Decimal | None,
        fee: Decimal | None,
        exchange_order_id: str | None,
        raw_error: str | None = None,
        *,
        fee_asset: str | None = None,
    ) -> JournalEntry:
        """Record a response or fill. ``None`` for a field means "not in this response": kept as is.

        Stale news never moves an order backwards: a non-final status after a final one keeps the
        final status, and a smaller cumulative ``filled_qty`` than already recorded keeps the larger
        fill (with its price and fee). Both are noted in the entry's history.
        """
        if status not in OPEN_STATUSES and status not in FINAL_STATUSES:
            raise ValueError(f"unknown order status {status!r}; one of {sorted(OPEN_STATUSES | FINAL_STATUSES)}")
        if status == INTENT:
            raise ValueError("status 'intent' is written by journal_intent only")
        new_filled = money(filled_qty, "filled_qty", optional=True)
        new_avg = money(avg_price, "avg_price", optional=True)
        new_fee = money(fee, "fee", optional=True)
        ex_id = text(exchange_order_id, "exchange_order_id", optional=True)
        err = None if raw_error is None else str(raw_error)[:2000]
        fee_asset_s = text(fee_asset, "fee_asset", optional=True)
        with self._lock:
            self._check_writable()
            doc_id = self._ids[T_JOURNAL].get(client_order_id)
            if doc_id is None:
                raise UnknownRecord(f"no journal intent for client order id {client_order_id!r}")
            old = self._docs[T_JOURNAL][doc_id]
            doc = dict(old)
            now = self.clock.now_ms()
            note: list[str] = []
            stale_fill = new_filled is not None and Decimal(new_filled) < Decimal(old["filled_qty"])
            if old["status"] in FINAL_STATUSES and status in OPEN_STATUSES:
                note.append(f"stale status {status} ignored after {old['status']}")
            else:
                doc["status"] = status
            if stale_fill:
                note.append(f"stale filled_qty {new_filled} ignored (have {old['filled_qty']})")
            else:
                if new_filled is not None:
                    doc["filled_qty"] = new_filled
                if new_avg is not None:
                    doc["avg_price"] = new_avg
                if new_fee is not None:
                    doc["fee"] = new_fee
                if fee_asset_s is not None:
                    doc["fee_asset"] = fee_asset_s
            if ex_id is not None:
                doc["exchange_order_id"] = ex_id
            if err is not None:
                doc["raw_error"] = err
            doc["updated_ms"] = now
            h: dict[str, Any] = {"ts": now, "status": status}
            if new_filled is not None:
                h["filled_qty"] = new_filled
            if note:
                h["note"] = "; ".join(note)
            doc["history"] = (old["history"] + [h])[-_HISTORY_MAX:]
            self._put(T_JOURNAL, client_order_id, doc)
            return JournalEntry._from_doc(doc)

    def journal_get(self, client_order_id: str) -> JournalEntry | None:
        with self._lock:
            doc_id = self._ids[T_JOURNAL].get(client_order_id)
            return None if doc_id is None else JournalEntry._from_doc(self._docs[T_JOURNAL][doc_id])

    def journal_open(self) -> list[JournalEntry]:
        """Orders not in a final state, oldest first: what restart reconciliation must resolve."""
        with self._lock:
            ids = sorted(self._ids[T_JOURNAL][cid] for cid in self._open_orders)
            return [JournalEntry._from_doc(self._docs[T_JOURNAL][i]) for i in ids]

    def journal_for_trade(self, trade_id: str) -> list[JournalEntry]:
        """Every order of a trade, in the order they were journaled."""
        with self._lock:
            docs = self._docs[T_JOURNAL]
            return [JournalEntry._from_doc(docs[self._ids[T_JOURNAL][c]]) for c in self._by_trade.get(trade_id, [])]

    # ------------------------------------------------------------------ trades

    def new_trade_id(self) -> str:
        """``K<yyyymmddHHMMSS UTC>-<nnn>``: unique across restarts, increasing in creation order.

        The last id is persisted before it is returned; a clock that steps back never reissues or
        reorders ids (the time part never goes below the last one issued).
        """
        with self._lock:
            self._check_writable()
            now = utc_stamp(self.clock.now_ms())
            last = self._state_doc(_TRADE_ID_KEY)
            stamp, n = now, 1
            if last is not None:
                lstamp, ln = last["value"]["stamp"], last["value"]["n"]
                if now <= lstamp:
                    stamp, n = lstamp, ln + 1
            while True:
                if n > 999:
                    stamp, n = next_stamp(stamp), 1
                tid = f"K{stamp}-{n:03d}"
                if tid not in self._ids[T_TRADES] and tid not in self._by_trade:
                    break
                n += 1
            self._put(T_STATE, _TRADE_ID_KEY, {"key": _TRADE_ID_KEY, "value": {"stamp": stamp, "n": n},
                                               "ts": self.clock.now_ms()})
            return tid

    def upsert_trade(self, trade: Mapping[str, Any] | Any) -> dict[str, Any]:
        """Create or update a trade (needs ``id``). Fields merge into the stored record (shallow)."""
        return self._upsert(T_TRADES, trade, default_status=None)

    def get_trade(self, trade_id: str) -> dict[str, Any] | None:
        return self._get(T_TRADES, trade_id)

    def trades(self, limit: int | None = None, status: str | None = None) -> list[dict[str, Any]]:
        """Trades, newest first, optionally only those with ``status``."""
        return self._list(T_TRADES, limit=limit, newest_first=True,
                          where=None if status is None else (lambda d: d.get("status") == status))

    # ------------------------------------------------------------------ positions

    def upsert_position(self, position: Mapping[str, Any] | Any) -> dict[str, Any]:
        """Create or update a position (needs ``id``; ``status`` defaults to "open"). Shallow merge."""
        return self._upsert(T_POSITIONS, position, default_status="open")

    def get_position(self, position_id: str) -> dict[str, Any] | None:
        return self._get(T_POSITIONS, position_id)

    def open_positions(self) -> list[dict[str, Any]]:
        """Positions not closed, oldest first."""
        return self._list(T_POSITIONS, where=lambda d: d.get("status") != "closed")

    def positions(self, limit: int | None = None, status: str | None = None) -> list[dict[str, Any]]:
        """Positions, newest first."""
        return self._list(T_POSITIONS, limit=limit, newest_first=True,
                          where=None if status is None else (lambda d: d.get("status") == status))

    def close_position(self, position_id: str, **fields: Any) -> dict[str, Any]:
        """Mark a position closed (``closed_ms`` from the clock) and merge ``fields`` (e.g. realised P&L).

        Closing an already closed position merges the fields and keeps the first ``closed_ms``.
        """
        with self._lock:
            current = self._get(T_POSITIONS, position_id)
            if current is None:
                raise UnknownRecord(f"no position {position_id!r}")
            update: dict[str, Any] = {**fields, "id": position_id, "status": "closed"}
            update["closed_ms"] = current.get("closed_ms") or fields.get("closed_ms") or self.clock.now_ms()
            return self._upsert(T_POSITIONS, update, default_status=None)

    # ------------------------------------------------------------------ state, halt, audit

    def set_state(self, key: str, value: Any) -> None:
        self._check_state_key(key)
        doc = {"key": key, "value": to_json(value, f"state[{key}]")}
        with self._lock:
            self._check_writable()
            doc["ts"] = self.clock.now_ms()
            self._put(T_STATE, key, doc)

    def get_state(self, key: str, default: Any = None) -> Any:
        self._check_state_key(key)
        with self._lock:
            doc = self._state_doc(key)
            return default if doc is None else from_json(doc["value"])

    @staticmethod
    def _check_state_key(key: str) -> None:
        if not isinstance(key, str) or not key or key.startswith("_"):
            raise ValueError(f"state key {key!r}: a non-empty string not starting with '_' (reserved)")

    def _state_doc(self, key: str) -> dict[str, Any] | None:
        doc_id = self._ids[T_STATE].get(key)
        return None if doc_id is None else self._docs[T_STATE][doc_id]

    def set_halt(self, halted: bool, reason: str, by: str) -> HaltState:
        """Halt or resume new entries; persists across restarts and is audited in the same write."""
        if not isinstance(halted, bool):
            raise TypeError("halted must be a bool")
        reason, by = str(reason), str(by)
        with self._lock:
            self._check_writable()
            now = self.clock.now_ms()
            with self.batch():
                self._put(T_STATE, _HALT_KEY, {"key": _HALT_KEY, "ts": now,
                                               "value": {"halted": halted, "reason": reason, "by": by, "ts": now}})
                self.audit("halt" if halted else "resume", by, {"reason": reason})
            return HaltState(halted, reason, by, now)

    def halt_state(self) -> HaltState:
        with self._lock:
            doc = self._state_doc(_HALT_KEY)
            if doc is None:
                return HaltState(False, "", "", None)
            v = doc["value"]
            return HaltState(v["halted"], v["reason"], v["by"], v["ts"])

    def audit(self, action: str, by: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Log a parameter change or destructive command (who, what, when)."""
        doc = {"action": text(action, "action"), "by": str(by), "details": to_json(details or {}, "details")}
        with self._lock:
            self._check_writable()
            doc_id = self._next_id[T_AUDIT]
            doc = {"id": doc_id, "ts": self.clock.now_ms(), **doc}
            self._put(T_AUDIT, None, doc)
            return from_json(doc)

    def audit_log(self, limit: int | None = 50) -> list[dict[str, Any]]:
        """Audit entries, newest first."""
        return self._list(T_AUDIT, limit=limit, newest_first=True)

    # ------------------------------------------------------------------ generic records

    def _upsert(self, table: str, record: Mapping[str, Any] | Any, default_status: str | None) -> dict[str, Any]:
        fields = to_json(record, table[:-1])
        if not isinstance(fields, dict):
            raise TypeError(f"{table[:-1]}: expected a dict or dataclass, got {type(record).__name__}")
        key = fields.get("id")
        if not isinstance(key, str) or not key:
            raise ValueError(f"{table[:-1]}: needs a non-empty string 'id', got {key!r}")
        with self._lock:
            self._check_writable()
            now = self.clock.now_ms()
            doc_id = self._ids[table].get(key)
            if doc_id is None:
                doc = {"created_ms": now, **fields}
                if default_status is not None:
                    doc.setdefault("status", default_status)
            else:
                doc = {**self._docs[table][doc_id], **fields}
            doc["updated_ms"] = now
            self._put(table, key, doc)
            return from_json(doc)

    def _get(self, table: str, key: str) -> dict[str, Any] | None:
        with self._lock:
            doc_id = self._ids[table].get(key)
            return None if doc_id is None else from_json(self._docs[table][doc_id])

    def _list(
        self, table: str, *, limit: int | None = None, newest_first: bool = False, where: Any = None
    ) -> list[dict[str, Any]]:
        if limit is not None and limit < 0:
            raise ValueError("limit must be >= 0")
        with self._lock:
            docs = self._docs[table]
            # dict order is document-id order: new documents always take the highest id
            out: list[dict[str, Any]] = []
            for i in reversed(docs) if newest_first else docs:
                if limit is not None and len(out) >= limit:
                    break
                d = docs[i]
                if where is None or where(d):
                    out.append(from_json(d))
            return out
