"""One async interface in front of each exchange: the strategy sees books and candles, never HTTP."""

from __future__ import annotations

import logging
from typing import Protocol

from kimpbot.models import Candle, OrderBook, Ticker

log = logging.getLogger(__name__)


class ExchangeUnavailable(RuntimeError):
    """The exchange could not be reached or answered with an error; the message says which and why."""


class CredentialsRefused(ExchangeUnavailable):
    """The exchange refused the API key itself (unknown or expired key, wrong secret, IP not allowed,
    missing permission): retrying cannot fix it, the owner must. ``str()`` is one line naming the
    venue, the exchange's own words and what to do."""

    def __init__(self, venue: str, detail: str, env_names: str, where: str) -> None:
        self.venue = venue
        self.detail = detail
        super().__init__(f"{venue} refused the API key ({detail}): check {env_names} in the .env file and, "
                         f"on {where}, the key's allowed IP addresses, permissions and expiry; "
                         "`kimpbot doctor` tests the keys")


# Upbit answers a refused key with 401 and one of these error names (Open API docs, "error codes":
# jwt_verification = the signature does not match (wrong secret), expired_access_key,
# no_authorization_i_p = the calling IP is not on the key's list, out_of_scope = missing permission).
# nonce_used and invalid_query_payload are request faults, not key faults: not listed.
UPBIT_KEY_ERRORS = frozenset({"invalid_access_key", "jwt_verification", "expired_access_key",
                              "no_authorization_i_p", "no_authorization_ip", "out_of_scope"})
# Binance: -2014 API-key format invalid, -2015 invalid key / IP / permissions, -1022 signature
# invalid (wrong secret), -1002 not authorized for this request.
BINANCE_KEY_ERRORS = frozenset({-2014, -2015, -1022, -1002})


def upbit_key_refused(status: int, name: str, message: str) -> CredentialsRefused | None:
    if status in (401, 403) and name in UPBIT_KEY_ERRORS:
        return CredentialsRefused("Upbit", f"HTTP {status} {name}: {message}".strip(),
                                  "UPBIT_ACCESS_KEY / UPBIT_SECRET_KEY", "upbit.com (Open API management)")
    return None


def binance_key_refused(code: int | None, message: str) -> CredentialsRefused | None:
    if code in BINANCE_KEY_ERRORS:
        return CredentialsRefused("Binance", f"{code} {message}".strip(), "BINANCE_API_KEY / BINANCE_API_SECRET",
                                  "binance.com (API Management: Enable Futures)")
    return None


class MarketData(Protocol):
    name: str

    async def load(self) -> None:
        """Load markets (symbols, steps, minimums); raises ExchangeUnavailable."""

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook: ...

    async def ticker(self, symbol: str) -> Ticker: ...

    async def candles(self, symbol: str, minutes: int, since_ms: int, until_ms: int) -> list[Candle]:
        """Closed candles with open time in [since_ms, until_ms), oldest first."""

    async def close(self) -> None: ...


def candles_from_ccxt(rows: list[list[float]], since_ms: int, until_ms: int, what: str) -> list[Candle]:
    """ccxt OHLCV rows -> Candles in range, skipping (and logging) malformed rows."""
    out: list[Candle] = []
    bad = 0
    for r in rows:
        try:
            ts = int(r[0])
            o, h, lo, c = (float(r[1]), float(r[2]), float(r[3]), float(r[4]))
            v = float(r[5] or 0.0)
        except (TypeError, ValueError, IndexError):
            bad += 1
            continue
        if not (o > 0 and h > 0 and lo > 0 and c > 0) or any(x != x for x in (o, h, lo, c)):
            bad += 1
            continue
        if since_ms <= ts < until_ms:
            out.append(Candle(ts, o, h, lo, c, v))
    if bad:
        log.warning("%s: skipped %d malformed candle rows", what, bad)
    return out
