"""Errors raised by the store. Every message names the file and says what to do."""

from __future__ import annotations

from pathlib import Path


class StoreError(Exception):
    """Base class for everything the store raises on purpose."""


class StoreCorrupt(StoreError):
    """A store file cannot be read safely. The file is left exactly as found."""

    def __init__(self, path: Path | str, problem: str, advice: str | None = None) -> None:
        self.path = Path(path)
        self.problem = problem
        if advice is None:
            advice = (
                "The file was left untouched. kimpbot will not start over a damaged trading store. "
                "Restore the directory from a backup, or move the whole directory away "
                f"(e.g. `mv {self.path.parent} {self.path.parent}.damaged`) to start empty: orders and "
                "positions recorded in it are then unknown to the bot, so check open orders, positions "
                "and balances on both exchanges by hand first."
            )
        super().__init__(f"{self.path}: {problem}. {advice}")


class StoreLocked(StoreError):
    """Another process holds the store (two bots on one store would double orders)."""


class StoreFailed(StoreError):
    """A write to disk failed (disk full, read-only, I/O error). Nothing of it stays: the journal is
    cut back to its last good record and memory keeps what is on disk. The store refuses further
    writes until ``Store.recover()`` finds the disk writable again (or the bot restarts).
    """


class DuplicateClientOrderId(StoreError, ValueError):
    """journal_intent was given a client order id that is already journaled (a doubled order)."""


class UnknownRecord(StoreError, KeyError):
    """An update named a record the store does not have."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""
