"""Crash-safe persistent state (TinyDB snapshot + fsynced write-ahead log). See ``store.store``."""

from .codec import client_order_id, parse_client_order_id
from .errors import DuplicateClientOrderId, StoreCorrupt, StoreError, StoreFailed, StoreLocked, UnknownRecord
from .storage import AtomicJSONStorage
from .store import (
    FINAL_STATUSES,
    OPEN_STATUSES,
    HaltState,
    JournalEntry,
    Store,
)

__all__ = [
    "AtomicJSONStorage", "DuplicateClientOrderId", "FINAL_STATUSES", "HaltState", "JournalEntry",
    "OPEN_STATUSES", "Store", "StoreCorrupt", "StoreError", "StoreFailed", "StoreLocked", "UnknownRecord",
    "client_order_id", "parse_client_order_id",
]
