"""JSON-safe values and deterministic client order ids.

Records are plain JSON in the file. ``Decimal`` values inside free-form records (trades,
positions, state, audit details) are stored as ``{"$decimal": "<str>"}`` so they read back as
``Decimal`` exactly; journal entries have a fixed schema and keep their amounts as plain strings.
Floats are allowed but must be finite; anything else that JSON cannot hold is refused at write
time, before anything reaches the disk.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

DECIMAL_TAG = "$decimal"

# Upbit `identifier` and Binance `newClientOrderId` (regex ^[\.A-Z\:/a-z0-9_-]{1,36}$) both take
# this subset: letters, digits, '_' and '-', at most 36 characters.
CLIENT_ID_MAX = 36
_CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
_TRADE_ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_LEG_RE = re.compile(r"^[A-Za-z0-9_]+$")


def to_json(value: Any, where: str = "value") -> Any:
    """Return ``value`` as fresh JSON-safe data (Decimal tagged), or raise TypeError/ValueError."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, Enum):
        return to_json(value.value, where)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: {value!r} is not a finite number (JSON cannot hold it)")
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{where}: Decimal {value!r} is not finite")
        return {DECIMAL_TAG: str(value)}
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: key {k!r} is not a string (JSON object keys are strings)")
            if k == DECIMAL_TAG:
                raise ValueError(f"{where}: the key {DECIMAL_TAG!r} is reserved by the store")
            out[k] = to_json(v, f"{where}.{k}")
        return out
    if isinstance(value, (list, tuple)):
        return [to_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_json({f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, where)
    raise TypeError(f"{where}: {type(value).__name__} {value!r} is not JSON-safe")


def from_json(value: Any) -> Any:
    """Inverse of ``to_json``: fresh containers, tagged decimals back to ``Decimal``."""
    if isinstance(value, dict):
        if len(value) == 1 and DECIMAL_TAG in value:
            return Decimal(value[DECIMAL_TAG])
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


def money(value: Any, where: str, *, optional: bool = False, positive: bool = False) -> str | None:
    """A money/quantity argument as its exact decimal string. Floats are refused: pass Decimal."""
    if value is None:
        if optional:
            return None
        raise ValueError(f"{where} is required")
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"{where}: pass a Decimal (or int/str), not {type(value).__name__} {value!r}")
    if isinstance(value, (int, str)):
        try:
            value = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{where}: {value!r} is not a number") from None
    if not isinstance(value, Decimal):
        raise TypeError(f"{where}: pass a Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{where}: {value} is not finite")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{where}: must be {'positive' if positive else 'non-negative'}, got {value}")
    return str(value)


def dec(s: str | None) -> Decimal | None:
    return None if s is None else Decimal(s)


def text(value: Any, where: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if isinstance(value, Enum):
        value = value.value
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}: expected a non-empty string, got {value!r}")
    return str(value)


def client_order_id(trade_id: str, leg: str, attempt: int) -> str:
    """The client order id for ``attempt`` of ``leg`` of ``trade_id``: ``<trade_id>-<leg>-<attempt>``.

    Deterministic, so a resend of the same order carries the same id and the exchange refuses it
    as a duplicate instead of filling it twice. A *new* order for the same leg (after the previous
    one was final) takes the next attempt number.
    """
    if not isinstance(trade_id, str) or not _TRADE_ID_RE.match(trade_id):
        raise ValueError(f"trade id {trade_id!r}: only letters, digits, '_' and '-' are allowed")
    if not isinstance(leg, str) or not _LEG_RE.match(leg):
        raise ValueError(f"leg {leg!r}: only letters, digits and '_' are allowed")
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 0:
        raise ValueError(f"attempt {attempt!r}: must be an int >= 0")
    cid = f"{trade_id}-{leg}-{attempt}"
    if len(cid) > CLIENT_ID_MAX:
        raise ValueError(
            f"client order id {cid!r} is {len(cid)} characters; Upbit and Binance take at most "
            f"{CLIENT_ID_MAX}: use a shorter leg name (e.g. 'UE', 'BX', 'BU')"
        )
    return cid


def parse_client_order_id(cid: str) -> tuple[str, str, int]:
    """``(trade_id, leg, attempt)`` from an id made by ``client_order_id``; ValueError otherwise."""
    if not isinstance(cid, str) or not _CLIENT_ID_RE.match(cid):
        raise ValueError(f"client order id {cid!r}: 1-36 characters of [A-Za-z0-9_-] required")
    parts = cid.rsplit("-", 2)
    if len(parts) != 3 or not parts[0] or not _LEG_RE.match(parts[1]) or not parts[2].isdigit():
        raise ValueError(f"client order id {cid!r} is not <trade_id>-<leg>-<attempt>")
    if str(int(parts[2])) != parts[2]:
        raise ValueError(f"client order id {cid!r}: attempt has leading zeros")
    return parts[0], parts[1], int(parts[2])


def utc_stamp(ms: int) -> str:
    """``yyyymmddHHMMSS`` in UTC for a millisecond timestamp."""
    return datetime.fromtimestamp(ms // 1000, tz=timezone.utc).strftime("%Y%m%d%H%M%S")


def next_stamp(stamp: str) -> str:
    """The ``yyyymmddHHMMSS`` one second after ``stamp``."""
    t = datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
    return datetime.fromtimestamp(t.timestamp() + 1, tz=timezone.utc).strftime("%Y%m%d%H%M%S")
