"""Crash-safe JSON storage for TinyDB: temp file, fsync, atomic rename, fsync of the directory.

``AtomicJSONStorage`` is a drop-in ``tinydb.Storage``::

    db = TinyDB("state.json", storage=AtomicJSONStorage)

A reader sees either the previous file or the new one, never a mix: ``os.replace`` is atomic on
POSIX file systems, the data is fsynced before the rename and the directory after it.
A missing file reads as an empty database; a corrupt or empty one raises ``StoreCorrupt``
(the file is left alone).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tinydb.storages import Storage

from .errors import StoreCorrupt

# compact, strict (no NaN/Infinity: not JSON), UTF-8
ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"), ensure_ascii=False)
_CHUNK_DOCS = 64  # documents per write(); between chunks the GIL is offered to other threads


def fsync_dir(path: Path | str) -> None:
    """Make a rename/create/unlink in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_prefix(path: Path) -> str:
    return f".{path.name}.tmp-"


def write_json_atomic(path: Path | str, data: Mapping[str, Any]) -> int:
    """Write ``data`` (TinyDB layout: ``{table: {doc_id: doc}}``) to ``path`` atomically.

    Tables are streamed a few hundred documents at a time, so a large snapshot neither doubles
    memory nor holds the GIL for one long ``json.dumps``. Returns the number of bytes written.
    """
    path = Path(path)
    directory = path.parent
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), dir=directory)  # mode 0600
    written = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:

            def put(s: str) -> None:
                nonlocal written
                written += f.write(s)

            put("{")
            for ti, (name, table) in enumerate(data.items()):
                put(("," if ti else "") + ENCODER.encode(str(name)) + ":")
                if not isinstance(table, Mapping):
                    put(ENCODER.encode(table))
                    continue
                put("{")
                chunk: list[str] = []
                first = True
                for doc_id, doc in table.items():
                    chunk.append(ENCODER.encode(str(doc_id)) + ":" + ENCODER.encode(doc))
                    if len(chunk) >= _CHUNK_DOCS:
                        put(("" if first else ",") + ",".join(chunk))
                        first, chunk = False, []
                        time.sleep(0)  # let a waiting thread (the event loop) run: bounds its stall
                if chunk:
                    put(("" if first else ",") + ",".join(chunk))
                put("}")
            put("}")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(directory)
    return written


def read_json_db(path: Path | str) -> dict[str, dict[str, Any]] | None:
    """Read a TinyDB JSON file: None if it does not exist, ``StoreCorrupt`` if it is unusable."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    if not raw.strip():
        raise StoreCorrupt(
            path,
            f"the file is empty ({len(raw)} bytes) where a database was expected",
            "The file was left untouched. A store written by kimpbot is never empty, so this one was "
            "damaged or created by hand. If this is a brand-new store with no history, delete the file; "
            "otherwise restore it from a backup.",
        )
    try:
        data = json.loads(raw.decode("utf-8"))  # explicit: json.loads(bytes) would guess UTF-16/32
    except UnicodeDecodeError as e:
        raise StoreCorrupt(path, f"not UTF-8 text ({e})") from None
    except json.JSONDecodeError as e:
        raise StoreCorrupt(path, f"not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
        raise StoreCorrupt(path, "not a TinyDB database (expected an object of tables, each an object)")
    return data


class AtomicJSONStorage(Storage):
    """TinyDB storage that never leaves a half-written file behind.

    No caching: every ``write`` is on disk (file and directory entry) when it returns.
    One TinyDB instance per file, and guard it with one lock: TinyDB itself has no locking.
    """

    def __init__(self, path: str | Path, create_dirs: bool = False, encoding: str | None = None) -> None:
        super().__init__()
        if encoding not in (None, "utf-8", "utf8", "UTF-8"):
            raise ValueError("AtomicJSONStorage writes UTF-8 only")
        self.path = Path(path)
        if create_dirs:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def read(self) -> dict[str, dict[str, Any]] | None:
        return read_json_db(self.path)

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        write_json_atomic(self.path, data)

    def close(self) -> None:
        pass
