"""Pieces shared by the live trading adapters (``upbit_trading``, ``binance_trading``).

* ``SentOrders``: what this process already sent per client id, so a second ``place_market``
  with the same id never reaches the exchange twice (see the rule in ``SentOrders.decide``).
* ``dec``: exchange strings/numbers to ``Decimal``, refusing NaN/inf.
* ``is_our_client_id``: the default "is this open order ours" test for ``cancel_open_orders``.
* ``CancelIncomplete``: ``cancel_open_orders`` could not cancel everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections import OrderedDict
from decimal import Decimal, InvalidOperation
from typing import Any, AsyncIterator

from kimpbot.exchanges.base import ExchangeUnavailable
from kimpbot.execution.venues import OrderRequest, OrderResult, OrderStatus

ZERO = Decimal(0)


def dec(value: Any, default: Decimal = ZERO) -> Decimal:
    """An exchange number (usually a string) as a finite Decimal; ``default`` for None/""/garbage."""
    if value is None or value == "":
        return default
    try:
        d = Decimal(value) if isinstance(value, (str, int, Decimal)) else Decimal(repr(float(value)))
    except (InvalidOperation, TypeError, ValueError):
        return default
    return d if d.is_finite() else default


def plain(d: Decimal) -> str:
    """A Decimal as an exchange wants it on the wire: no exponent, no trailing zeros."""
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s or "0"


def is_our_client_id(cid: str | None) -> bool:
    """Orders the bot placed carry ``<trade_id>-<leg>-<attempt>`` (``kimpbot.store.codec``)."""
    if not cid:
        return False
    try:
        from kimpbot.store.codec import parse_client_order_id

        parse_client_order_id(cid)
    except Exception:
        return False
    return True


class CancelIncomplete(ExchangeUnavailable):
    """Some open orders could not be listed or cancelled; ``cancelled`` lists those that were."""

    def __init__(self, message: str, cancelled: list[str], failed: list[str]) -> None:
        super().__init__(message)
        self.cancelled = cancelled
        self.failed = failed


class Stopwatch:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    @property
    def ms(self) -> float:
        return (time.perf_counter() - self.t0) * 1000.0

    def left(self, budget_s: float) -> float:
        return budget_s - (time.perf_counter() - self.t0)


class SentOrders:
    """Per client id: the last answer this process got, and a lock so two sends never overlap.

    The rule (``decide``): a client id is sent to the exchange again only when the last answer
    for it was an explicit "not placed, try again" (REJECTED with ``retryable``, e.g. HTTP 429).
    A recorded final answer (FILLED, PARTIAL, REJECTED) is returned as it is; after an answer
    that left the state open (UNKNOWN, OPEN, NOT_FOUND) the exchange is asked, never sent to
    again: a request that got no answer may still be on its way (Binance refuses a duplicate
    ``newClientOrderId`` only while the first order is open, so a filled market order would be
    placed a second time). This memory is per process: after a restart the executor's journal
    must query before it resends (it does; see ``Trader`` reconciliation).
    """

    MAX = 20_000

    def __init__(self) -> None:
        self._last: OrderedDict[str, OrderResult] = OrderedDict()
        self._locks: dict[str, list[Any]] = {}  # client id -> [lock, users]

    @contextlib.asynccontextmanager
    async def guard(self, client_id: str) -> AsyncIterator[None]:
        """Serialises calls for one client id (two concurrent sends of it never overlap)."""
        entry = self._locks.get(client_id)
        if entry is None:
            entry = self._locks[client_id] = [asyncio.Lock(), 0]
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._locks.pop(client_id, None)

    def last(self, client_id: str) -> OrderResult | None:
        return self._last.get(client_id)

    def record(self, res: OrderResult) -> None:
        if not res.client_id:
            return
        prev = self._last.get(res.client_id)
        # never let a weaker answer (UNKNOWN/NOT_FOUND from a failed query) hide a known final one
        if prev is not None and prev.status in (OrderStatus.FILLED, OrderStatus.PARTIAL) and \
                res.status in (OrderStatus.UNKNOWN, OrderStatus.NOT_FOUND, OrderStatus.OPEN):
            return
        self._last[res.client_id] = res
        self._last.move_to_end(res.client_id)
        while len(self._last) > self.MAX:
            self._last.popitem(last=False)

    @staticmethod
    def may_send(prev: OrderResult | None) -> bool:
        return prev is None or (prev.status is OrderStatus.REJECTED and prev.retryable)

    @staticmethod
    def not_resent(q: OrderResult) -> OrderResult:
        """A query after an unanswered send found nothing: still unknown, and not sent again."""
        if q.status is OrderStatus.NOT_FOUND:
            return dataclasses.replace(
                q, status=OrderStatus.UNKNOWN,
                error=("an earlier send of this client id got no answer and the exchange does not show "
                       "the order (yet); not sent again: query later, or use a new client id once it is "
                       "known to be absent"))
        return q


class SendOnceVenue:
    """Shared ``place_market`` of the live adapters: each client id goes to the exchange once,
    unless its last answer was a retryable refusal (see ``SentOrders``). Subclasses provide
    ``name``, ``_sent``, ``query`` and ``_place``."""

    name: str
    _sent: SentOrders

    async def query(self, symbol: str, client_id: str, timeout_s: float) -> OrderResult:
        raise NotImplementedError

    async def _place(self, req: OrderRequest, timeout_s: float, sw: Stopwatch) -> OrderResult:
        raise NotImplementedError

    async def place_market(self, req: OrderRequest, timeout_s: float) -> OrderResult:
        sw = Stopwatch()
        async with self._sent.guard(req.client_id):
            prev = self._sent.last(req.client_id)
            if not SentOrders.may_send(prev):
                assert prev is not None
                if prev.status in (OrderStatus.FILLED, OrderStatus.PARTIAL, OrderStatus.REJECTED):
                    return dataclasses.replace(prev, latency_ms=sw.ms)
                q = await self.query(req.symbol, req.client_id, max(0.1, timeout_s))
                return dataclasses.replace(SentOrders.not_resent(q), latency_ms=sw.ms)
            res = await self._place(req, timeout_s, sw)
            self._sent.record(res)
            return res

    def _result(self, req: OrderRequest, status: OrderStatus, sw: Stopwatch, **kw: Any) -> OrderResult:
        return OrderResult(self.name, req.symbol, req.side, req.client_id, status, latency_ms=sw.ms, **kw)
