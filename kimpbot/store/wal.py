"""The append-only write-ahead log: JSON lines, one fsync per record, replayed at load.

A segment file ``kimpbot.wal.<first_seq:012d>`` holds a header line and then records::

    <crc32 of payload, 8 hex> <payload JSON>\\n
    header payload:  {"wal": 1, "mode": "paper", "first_seq": 42}
    record payload:  {"seq": 42, "ts": <ms>, "ops": [["put", table, doc_id, doc], ...]}

Each record is written with one ``write`` and fsynced before the caller is told it committed, and
a record applies all its ops or none (that is how ``Store.batch`` and ``set_halt`` are atomic).
A kill or power loss can leave at most the last record torn (no newline, or a bad checksum): it
was never acknowledged, so it is dropped at load (and its bytes kept aside). A bad record with a
good one after it is corruption and refuses to load.
"""

from __future__ import annotations

import json
import logging
import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import StoreCorrupt
from .storage import ENCODER, fsync_dir

WAL_FORMAT = 1
SEGMENT_RE = re.compile(r"^kimpbot\.wal\.(\d{12})$")

log = logging.getLogger(__name__)


def segment_name(first_seq: int) -> str:
    return f"kimpbot.wal.{first_seq:012d}"


def encode_line(payload: dict[str, Any]) -> bytes:
    body = ENCODER.encode(payload).encode("utf-8")
    return b"%08x " % zlib.crc32(body) + body + b"\n"


def _decode_line(line: bytes) -> dict[str, Any] | None:
    """The payload of one complete line (without its newline), or None if it fails its checksum."""
    if len(line) < 10 or line[8:9] != b" ":
        return None
    try:
        crc = int(line[:8], 16)
    except ValueError:
        return None
    body = line[9:]
    if zlib.crc32(body) != crc:
        return None
    try:
        payload = json.loads(body.decode("utf-8"))
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


_RECORD_START = re.compile(rb"[0-9a-f]{8} \{")


def _split_joined(line: bytes) -> tuple[int, dict[str, Any], dict[str, Any]] | None:
    """A damaged line that is two good records with the newline between them overwritten: the
    offset of that byte and both payloads; None if no single byte splits it into two good lines."""
    for m in _RECORD_START.finditer(line, 10):
        cut = m.start() - 1
        first = _decode_line(line[:cut])
        if first is not None:
            second = _decode_line(line[cut + 1 :])
            if second is not None:
                return cut, first, second
    return None


@dataclass
class Segment:
    path: Path
    first_seq: int
    records: list[dict[str, Any]] = field(default_factory=list)
    good_end: int = 0  # byte offset after the last good line
    tail: bytes = b""  # torn bytes after it (empty when the file ends cleanly)


def list_segments(directory: Path) -> list[tuple[int, Path]]:
    out = []
    for p in directory.iterdir():
        m = SEGMENT_RE.match(p.name)
        if m:
            out.append((int(m.group(1)), p))
    return sorted(out)


def read_segment(path: Path, first_seq: int, mode: str, *, last: bool) -> Segment:
    """Parse one segment. Only the last segment may end torn; anything else is ``StoreCorrupt``."""
    raw = path.read_bytes()
    seg = Segment(path, first_seq)
    pos = 0
    lines: list[tuple[int, int, dict[str, Any] | None]] = []  # (start, end incl. newline, payload)
    while pos < len(raw):
        nl = raw.find(b"\n", pos)
        if nl < 0:
            lines.append((pos, len(raw), None))  # no newline: never completed
            break
        payload = _decode_line(raw[pos:nl])
        pair = _split_joined(raw[pos:nl]) if payload is None else None
        if pair is not None:
            # two intact records whose newline was damaged: both pass their checksums, so nothing
            # is guessed; loading them keeps an acknowledged record that dropping would lose
            cut = pos + pair[0]
            log.warning("%s: byte %d should be a newline between two intact journal records; both kept",
                        path, cut)
            lines.append((pos, cut + 1, pair[1]))
            lines.append((cut + 1, nl + 1, pair[2]))
        else:
            lines.append((pos, nl + 1, payload))
        pos = nl + 1

    good = [i for i, (_, _, p) in enumerate(lines) if p is not None]
    last_good = good[-1] if good else -1
    bad_before = [i for i in range(last_good) if lines[i][2] is None]
    if bad_before:
        start = lines[bad_before[0]][0]
        raise StoreCorrupt(path, f"damaged journal record at byte {start}, followed by intact records")
    tail_lines = lines[last_good + 1 :]
    if len(tail_lines) > 1:
        raise StoreCorrupt(path, f"{len(tail_lines)} damaged journal records at the end (a crash tears at most one)")
    if tail_lines and not last:
        raise StoreCorrupt(path, "damaged journal record at the end of a segment that is not the newest")
    seg.good_end = lines[last_good][1] if last_good >= 0 else 0
    seg.tail = raw[seg.good_end :]

    payloads = [p for (_, _, p) in lines[: last_good + 1]]
    if not payloads:
        if not last:
            raise StoreCorrupt(path, "journal segment without a header (not the newest segment)")
        return seg  # created, header never completed: holds nothing
    header = payloads[0]
    assert header is not None
    if header.get("wal") != WAL_FORMAT or header.get("first_seq") != first_seq:
        raise StoreCorrupt(path, f"bad journal header {header!r} (expected format {WAL_FORMAT}, first_seq {first_seq})")
    if header.get("mode") != mode:
        raise StoreCorrupt(
            path,
            f"this journal belongs to a {header.get('mode')!r} store, not {mode!r}",
            "The file was left untouched. Paper and live records are kept apart: check KIMPBOT_DATA_DIR "
            "and how the files got here.",
        )
    expected = first_seq
    for p in payloads[1:]:
        assert p is not None
        if p.get("seq") != expected or not isinstance(p.get("ops"), list):
            raise StoreCorrupt(path, f"journal record out of sequence: expected seq {expected}, found {p.get('seq')!r}")
        seg.records.append(p)
        expected += 1
    return seg


class WalWriter:
    """An open segment. ``append`` returns only once the record is on disk."""

    def __init__(self, path: Path, fd: int, size: int) -> None:
        self.path = path
        self._fd = fd
        self.size = size

    @classmethod
    def create(cls, directory: Path, mode: str, first_seq: int) -> "WalWriter":
        path = directory / segment_name(first_seq)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(path, flags, 0o600)
        try:
            header = encode_line({"wal": WAL_FORMAT, "mode": mode, "first_seq": first_seq})
            _write_all(fd, header)
            os.fsync(fd)
            fsync_dir(directory)
        except BaseException:
            os.close(fd)
            try:
                os.unlink(path)
            except OSError:
                pass
            raise
        return cls(path, fd, len(header))

    def append(self, line: bytes) -> None:
        try:
            _write_all(self._fd, line)
            os.fsync(self._fd)
        except BaseException:
            try:  # don't leave a torn record for the next one to follow
                os.ftruncate(self._fd, self.size)
            except OSError:
                pass
            raise
        self.size += len(line)

    def cut_back(self) -> None:
        """Drop whatever a failed append left after the last good record, durably (raises OSError
        if the disk refuses): the next record must follow a good one, or the log would not load."""
        if os.fstat(self._fd).st_size != self.size:
            os.ftruncate(self._fd, self.size)
        os.fsync(self._fd)
        if os.fstat(self._fd).st_size != self.size:
            raise OSError(f"{self.path}: still {os.fstat(self._fd).st_size} bytes after cutting back to {self.size}")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
