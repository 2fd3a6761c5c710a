"""Upbit KRW spot: public data through ccxt.async_support ``upbit``, account calls through pyupbit.

pyupbit hard-codes ``https://api.upbit.com`` in every call and sends all REST
through ``pyupbit.request_api._call_get/_call_post/_call_delete``, which call the
module-level ``requests.get/post/delete``. ``redirect_pyupbit`` swaps that one
seam for a shim that rewrites the base URL, so ``UPBIT_API_URL`` reaches proxies
and the local fake. pyupbit is synchronous (requests): every call runs in
``asyncio.to_thread``, never on the event loop. It is imported lazily because
it pulls in pandas (~37 MB RSS).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from kimpbot.clock import Clock
from kimpbot.exchanges.base import ExchangeUnavailable, candles_from_ccxt
from kimpbot.exchanges.slim import ccxt_async
from kimpbot.market.parse import ccxt_order_book
from kimpbot.models import Candle, OrderBook, Ticker, Venue, valid_price

ccxt = ccxt_async()  # ccxt.async_support without its ~100 other exchanges (see slim.py)

log = logging.getLogger(__name__)

UPBIT_REAL_BASE = "https://api.upbit.com"
_redirect_lock = threading.Lock()


class _RewritingRequests:
    """Stands in for the ``requests`` module inside pyupbit.request_api only."""

    def __init__(self, real: Any, base_url: str, timeout_s: float) -> None:
        self._real = real
        self._base = base_url.rstrip("/")
        self._timeout = timeout_s

    def _fix(self, url: str, kwargs: dict[str, Any]) -> str:
        kwargs.setdefault("timeout", self._timeout)  # pyupbit sets none: a hung call would hang forever
        if url.startswith(UPBIT_REAL_BASE):
            return self._base + url[len(UPBIT_REAL_BASE):]
        return url

    def get(self, url: str, *args: Any, **kwargs: Any) -> Any:
        return self._real.get(self._fix(url, kwargs), *args, **kwargs)

    def post(self, url: str, *args: Any, **kwargs: Any) -> Any:
        return self._real.post(self._fix(url, kwargs), *args, **kwargs)

    def delete(self, url: str, *args: Any, **kwargs: Any) -> Any:
        return self._real.delete(self._fix(url, kwargs), *args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # exceptions, Session, ... stay the real ones
        return getattr(self._real, name)


def redirect_pyupbit(base_url: str, timeout_s: float = 10.0) -> None:
    """Point every pyupbit REST call at ``base_url`` (idempotent; process-wide)."""
    from kimpbot.exchanges.slim import pyupbit

    request_api = pyupbit().request_api  # lazy, and without pyupbit's pandas

    with _redirect_lock:
        current = request_api.requests
        real = current._real if isinstance(current, _RewritingRequests) else current
        request_api.requests = _RewritingRequests(real, base_url, timeout_s)


def make_upbit_ccxt(base_url: str, timeout_s: float = 10.0) -> ccxt.upbit:
    ex = ccxt.upbit({"enableRateLimit": True, "timeout": int(timeout_s * 1000)})
    ex.urls["api"] = {"public": base_url, "private": base_url}
    return ex


class UpbitSpot:
    name = "upbit"

    def __init__(self, base_url: str, clock: Clock, access_key: str = "", secret_key: str = "") -> None:
        self.base_url = base_url
        self.clock = clock
        self.ex = make_upbit_ccxt(base_url)
        self._access = access_key
        self._secret = secret_key
        self._client: Any = None

    async def load(self) -> None:
        try:
            await self.ex.load_markets()
        except ccxt.BaseError as exc:
            raise ExchangeUnavailable(f"Upbit at {self.base_url}: {type(exc).__name__}: {exc}") from None

    async def order_book(self, symbol: str, depth: int = 15) -> OrderBook:
        try:
            ob = await self.ex.fetch_order_book(f"{symbol}/KRW")
        except ccxt.BaseError as exc:
            raise ExchangeUnavailable(f"Upbit order book {symbol}: {type(exc).__name__}: {exc}") from None
        return ccxt_order_book(Venue.UPBIT, symbol, ob, self.clock.now_ms())

    async def ticker(self, symbol: str) -> Ticker:
        try:
            t = await self.ex.fetch_ticker(f"{symbol}/KRW")
        except ccxt.BaseError as exc:
            raise ExchangeUnavailable(f"Upbit ticker {symbol}: {type(exc).__name__}: {exc}") from None
        now = self.clock.now_ms()
        return Ticker(Venue.UPBIT, symbol, valid_price(t.get("last"), f"upbit {symbol} last"),
                      int(t.get("timestamp") or now), now)

    async def candles(self, symbol: str, minutes: int, since_ms: int, until_ms: int) -> list[Candle]:
        """Upbit serves 200 candles per call, newest first; page forward in time."""
        tf = f"{minutes}m" if minutes < 60 else f"{minutes // 60}h"
        out: list[Candle] = []
        cursor = since_ms
        step = minutes * 60_000
        while cursor < until_ms:
            try:
                rows = await self.ex.fetch_ohlcv(f"{symbol}/KRW", tf, since=cursor, limit=200)
            except ccxt.BaseError as exc:
                raise ExchangeUnavailable(f"Upbit candles {symbol}: {type(exc).__name__}: {exc}") from None
            batch = candles_from_ccxt(rows, cursor, until_ms, f"upbit {symbol} {tf}")
            if not batch:
                # A quiet market leaves holes; jump past this page rather than stop.
                cursor += 200 * step
                continue
            out.extend(batch)
            cursor = batch[-1].ts + step
        return out

    def _pyupbit(self) -> Any:
        if self._client is None:
            if not (self._access and self._secret):
                raise ExchangeUnavailable("Upbit account calls need UPBIT_ACCESS_KEY and UPBIT_SECRET_KEY")
            from kimpbot.exchanges.slim import pyupbit as slim_pyupbit

            pyupbit = slim_pyupbit()  # lazy, and without pyupbit's pandas

            redirect_pyupbit(self.base_url)
            self._client = pyupbit.Upbit(self._access, self._secret)
        return self._client

    async def balances(self) -> dict[str, float]:
        """Currency -> available balance, via pyupbit (off the event loop)."""
        client = self._pyupbit()
        rows = await asyncio.to_thread(client.get_balances)
        if not isinstance(rows, list):
            raise ExchangeUnavailable(f"Upbit /v1/accounts: unexpected answer {str(rows)[:120]}")
        return {r["currency"]: float(r["balance"]) for r in rows if isinstance(r, dict) and "currency" in r}

    async def close(self) -> None:
        await self.ex.close()
