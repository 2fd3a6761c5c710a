"""Binance USDT-M perpetuals through ccxt.async_support ``binanceusdm``.

Every REST base comes from ``BINANCE_FUTURES_API_URL`` so the futures testnet
(``https://testnet.binancefuture.com``), the demo (``https://demo-fapi.binance.com``),
a proxy or the local fake work by configuration alone.
"""

from __future__ import annotations

import logging

from kimpbot.clock import Clock
from kimpbot.exchanges.base import ExchangeUnavailable, candles_from_ccxt
from kimpbot.exchanges.slim import ccxt_async
from kimpbot.market.parse import ccxt_order_book
from kimpbot.models import Candle, OrderBook, Ticker, Venue, valid_price

ccxt = ccxt_async()  # ccxt.async_support without its ~100 other exchanges (see slim.py)

log = logging.getLogger(__name__)

_FAPI_KEYS = {
    "fapiPublic": "/fapi/v1",
    "fapiPublicV2": "/fapi/v2",
    "fapiPublicV3": "/fapi/v3",
    "fapiPrivate": "/fapi/v1",
    "fapiPrivateV2": "/fapi/v2",
    "fapiPrivateV3": "/fapi/v3",
    "fapiData": "/futures/data",
}


def make_binanceusdm(base_url: str, api_key: str = "", secret: str = "", timeout_s: float = 10.0) -> ccxt.binanceusdm:
    ex = ccxt.binanceusdm({
        "apiKey": api_key or None,
        "secret": secret or None,
        "enableRateLimit": True,
        "timeout": int(timeout_s * 1000),
        # With a key set, load_markets would first call the spot /sapi currency list.
        "options": {"fetchCurrencies": False, "defaultType": "future", "adjustForTimeDifference": False},
    })
    for key, path in _FAPI_KEYS.items():
        ex.urls["api"][key] = base_url + path
    # ccxt maps error codes by host; against a non-Binance host the linear-futures
    # table must be merged in so -2019 still means InsufficientFunds.
    linear = ex.exceptions.get("linear", {})
    if isinstance(linear, dict) and "exact" in linear:
        ex.exceptions["exact"].update(linear["exact"])
    return ex


def ccxt_symbol(symbol: str) -> str:
    return f"{symbol}/USDT:USDT"


class BinanceFutures:
    name = "binance"

    def __init__(self, base_url: str, clock: Clock, api_key: str = "", secret: str = "") -> None:
        self.ex = make_binanceusdm(base_url, api_key, secret)
        self.clock = clock
        self.base_url = base_url

    async def load(self) -> None:
        try:
            await self.ex.load_markets()
        except ccxt.BaseError as exc:
            raise ExchangeUnavailable(f"Binance USDT-M at {self.base_url}: {type(exc).__name__}: {exc}") from None

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        try:
            ob = await self.ex.fetch_order_book(ccxt_symbol(symbol), limit=depth)
        except ccxt.BaseError as exc:
            raise ExchangeUnavailable(f"Binance order book {symbol}: {type(exc).__name__}: {exc}") from None
        return ccxt_order_book(Venue.BINANCE, symbol, ob, self.clock.now_ms())

    async def ticker(self, symbol: str) -> Ticker:
        try:
            t = await self.ex.fetch_ticker(ccxt_symbol(symbol))
        except ccxt.BaseError as exc:
            raise ExchangeUnavailable(f"Binance ticker {symbol}: {type(exc).__name__}: {exc}") from None
        now = self.clock.now_ms()
        return Ticker(Venue.BINANCE, symbol, valid_price(t.get("last"), f"binance {symbol} last"),
                      int(t.get("timestamp") or now), now)

    async def candles(self, symbol: str, minutes: int, since_ms: int, until_ms: int) -> list[Candle]:
        tf = _timeframe(minutes)
        out: list[Candle] = []
        cursor = since_ms
        step = minutes * 60_000
        while cursor < until_ms:
            try:
                rows = await self.ex.fetch_ohlcv(ccxt_symbol(symbol), tf, since=cursor, limit=1500,
                                                 params={"endTime": until_ms - 1})
            except ccxt.BaseError as exc:
                raise ExchangeUnavailable(f"Binance candles {symbol}: {type(exc).__name__}: {exc}") from None
            batch = candles_from_ccxt(rows, cursor, until_ms, f"binance {symbol} {tf}")
            if not batch:
                break
            out.extend(batch)
            cursor = batch[-1].ts + step
        return out

    async def server_time_ms(self) -> int:
        return int(await self.ex.fetch_time())

    async def close(self) -> None:
        await self.ex.close()


def _timeframe(minutes: int) -> str:
    if minutes < 60:
        return f"{minutes}m"
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    return f"{minutes // 60}h"

