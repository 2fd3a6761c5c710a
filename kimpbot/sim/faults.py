"""Scripted failures for the local fakes (Upbit, Binance USDT-M, FX).

A test or an operator (``POST /_sim/fault``) arms a fault for a venue and an endpoint; the fake
servers consume it (``take``) on the next matching request or websocket message and misbehave
the way the real services do when things go wrong:

========== ==================================================================================
kind       effect
========== ==================================================================================
reject     the request is refused with the venue's real error body and status
           (Upbit ``{"error": {"name", "message"}}``, Binance ``{"code", "msg"}``, FX 503 HTML)
timeout    the server sleeps ``delay_s`` (default 30 s) and then answers normally; an order
           is placed *before* the wait, so a client that gives up does not know its state
lost       order endpoints: the order IS placed (and filled); then the TCP connection is
           closed with no response. Other endpoints: processed, then connection closed.
partial    order endpoints: only ``fraction`` of the quantity (KRW amount for an Upbit market
           buy) fills, the rest is cancelled/expired as for an IOC order
late       order endpoints: the venue answers "execution status unknown" (Binance HTTP 503
           ``{"code": -1007, "msg": "Timeout waiting for response from backend server. Send status
           unknown; execution status unknown."}``; Upbit a 504 gateway time-out page) and books
           nothing yet: queries answer "no such order" (Binance -2013, Upbit 404
           ``order_not_found``) for ``delay_s`` (default 30 s); THEN the order is booked and filled
           at the prices of that moment, as a real backend that was only slow does
http429    Upbit: 429 with Upbit's plain-text body; Binance: 429 ``{"code": -1003, ...}``
malformed  200 with a truncated, invalid JSON body (websocket: a truncated frame)
nan        a price field becomes NaN (a JSON ``NaN`` for Upbit/FX numbers, ``"NaN"`` for
           Binance's string numbers)
negative   a price field becomes negative
drop       websocket: the server closes the connection
silence    websocket: the server stops sending for ``delay_s`` (default 30 s)
storm      websocket: a drop storm. Each use takes one NEW connection: the server accepts it and
           its subscription (Binance answers its ``{"result": null, "id": 1}`` acknowledgement;
           Upbit sends none) and closes it before any market data. ``count`` = connections
           dropped; arm a large count for a venue that drops everything until ``clear``.
           Connection attempts are counted in ``SimServers.ws_connects``.
========== ==================================================================================

``endpoint`` is the request path (``"/v1/orders"``, ``"/fapi/v1/order"``, ``"/v1/forex/recent"``),
``"ws"`` for the venue's websocket, or ``"*"`` for any REST endpoint of the venue.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

VENUES = ("upbit", "binance", "fx")
KINDS = ("reject", "timeout", "lost", "partial", "late", "http429", "malformed", "nan", "negative", "drop",
         "silence", "storm")
WS_CONNECTION_KINDS = ("storm",)  # taken once per websocket connection (at its subscription)
DEFAULT_WAIT_S = 30.0


@dataclass(frozen=True)
class Fault:
    venue: str
    endpoint: str
    kind: str
    count: int = 1
    delay_s: float = 0.0
    fraction: float = 0.5
    error: str | None = None  # optional: Upbit error name / Binance error code to reject with

    @property
    def wait_s(self) -> float:
        """How long a ``timeout``/``silence``/``late`` lasts (``delay_s``, or 30 s when not given)."""
        return self.delay_s if self.delay_s > 0 else DEFAULT_WAIT_S

    def as_dict(self) -> dict:
        return {"venue": self.venue, "endpoint": self.endpoint, "kind": self.kind, "count": self.count,
                "delay_s": self.delay_s, "fraction": self.fraction, "error": self.error}


class FaultPlan:
    """Armed faults, consumed first-in first-out per (venue, endpoint). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.fired: list[Fault] = []  # every fault handed out, for tests and logs

    def inject(self, venue: str, endpoint: str, kind: str, *, count: int = 1, delay_s: float = 0.0,
               fraction: float = 0.5, error: str | None = None) -> None:
        venue = venue.lower()
        if venue not in VENUES:
            raise ValueError(f"unknown venue {venue!r}; expected one of {VENUES}")
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {KINDS}")
        if count < 1:
            raise ValueError("count must be >= 1")
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("fraction must be within [0, 1]")
        if delay_s < 0:
            raise ValueError("delay_s must be >= 0")
        endpoint = endpoint.strip() or "*"
        if endpoint not in ("ws", "*") and not endpoint.startswith("/"):
            endpoint = "/" + endpoint
        with self._lock:
            self._faults.append(Fault(venue, endpoint, kind, int(count), float(delay_s), float(fraction),
                                      None if error is None else str(error)))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, venue: str, endpoint: str, *, connection: bool = False) -> Fault | None:
        """Consume one use of the first fault armed for ``venue`` + ``endpoint`` (exact path first).

        ``connection=True`` (a new websocket subscription) takes only the per-connection kinds
        (``storm``); otherwise those are left for the connections they are meant for."""
        venue = venue.lower()
        with self._lock:
            chosen = None
            for i, f in enumerate(self._faults):
                if f.venue == venue and f.endpoint == endpoint and (f.kind in WS_CONNECTION_KINDS) == connection:
                    chosen = i
                    break
            if chosen is None and endpoint != "ws":
                for i, f in enumerate(self._faults):
                    if f.venue == venue and f.endpoint == "*" and f.kind not in WS_CONNECTION_KINDS:
                        chosen = i
                        break
            if chosen is None:
                return None
            f = self._faults[chosen]
            if f.count <= 1:
                del self._faults[chosen]
            else:
                self._faults[chosen] = replace(f, count=f.count - 1)
            used = replace(f, count=1)
            self.fired.append(used)
            return used
