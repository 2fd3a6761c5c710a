"""Upbit KRW spot orders for the executor (``TradingVenue``), signed by pyupbit.

Orders
    * market BUY  = ``ord_type "price"`` with a KRW amount: ``floor(qty x price_hint)`` whole KRW;
    * market SELL = ``ord_type "market"`` with ``volume`` (8 decimals, rounded down);
    * every order carries ``identifier = client_id``; after the POST the order is read back
      (``GET /v1/order?uuid=``) until it is final: market orders finish in milliseconds, and the
      POST answer itself is only the acceptance (``state "wait"``, nothing executed yet).

Why not pyupbit's order helpers: ``buy_market_order``/``sell_market_order`` cannot send
``identifier`` and swallow every exception into ``None``. Why not ``_send_post_request`` either:
its ``error_handler`` replaces Upbit's error message with pyupbit's canned text, and it parses a
429 body (plain text ``Too many API requests.``) as JSON, so a 429 (certainly not placed) raises
the same ``JSONDecodeError`` as a truncated 200 (placed!). So pyupbit builds the JWT
(``Upbit._request_headers``: HS256, ``query_hash`` SHA512) and ``requests`` carries it, on a
per-thread session, where the adapter can see the HTTP status and Upbit's own words.
Parameters of GET/DELETE travel in the query string (Upbit's documented form; pyupbit sends
them as a form body, which Upbit also accepts), POST parameters as JSON.

Every HTTP call runs in ``asyncio.to_thread`` under ``asyncio.wait_for``; when the wait times
out the thread may still complete the request, which is exactly why the answer is UNKNOWN and
the order must be queried by client id.

Status mapping (``place_market``)
    ============================================  =====================================
    POST 201, read back ``done``                  FILLED
    read back ``cancel``, executed 0              REJECTED ("cancelled, nothing filled")
    read back ``cancel``, executed > 0            PARTIAL; FILLED when only dust is left
                                                  (a KRW-amount buy ends ``cancel`` with
                                                  < 1e-8 coin worth of KRW unspent)
    read back ``wait``/``watch`` until deadline   OPEN (placed, not final: query it)
    read-back failed after a 201                  OPEN (placed for sure: query it)
    400 ``insufficient_funds_*``, ``under_min_total_*``, ``invalid_*``, ``validation_error``,
    ``create_*_error``, any other 400/404         REJECTED, Upbit's name and message
    400 duplicate ``identifier`` (every 400 is
    checked against the identifier first)          the existing order, read back by identifier
    401 / 403 (keys, IP, scope, nonce)            REJECTED
    429 / 418                                     REJECTED, retryable
    5xx, malformed body, no ``uuid``, timeout,
    connection lost, any exception                UNKNOWN
    ============================================  =====================================

``query``: 200 → as above; 404 ``order_not_found`` → NOT_FOUND; anything else → UNKNOWN.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, Decimal
from typing import Any, Callable
from urllib.parse import urlencode

from kimpbot.clock import Clock
from kimpbot.exchanges.base import ExchangeUnavailable, upbit_key_refused
from kimpbot.exchanges.trading_common import (ZERO, CancelIncomplete, SendOnceVenue, SentOrders, Stopwatch,
                                              dec,
                                              is_our_client_id, plain)
from kimpbot.execution.venues import Balances, MarketRules, OrderRequest, OrderResult, OrderStatus, Side

log = logging.getLogger(__name__)

MIN_ORDER_KRW = Decimal(5000)
# Upbit KRW market price units (호가 단위), highest first: shown prices are rounded to them
KRW_TICKS = tuple((Decimal(lo), Decimal(t)) for lo, t in (
    ("1000000", "1000"), ("500000", "500"), ("100000", "100"), ("50000", "50"), ("10000", "10"), ("5000", "5"),
    ("100", "1"), ("10", "0.01"), ("1", "0.001"), ("0.1", "0.0001"), ("0.01", "0.00001"), ("0.001", "0.000001"),
    ("0.0001", "0.0000001"), ("0", "0.00000001")))
VOLUME_STEP = Decimal("0.00000001")
_POLL_DELAYS_S = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)


@dataclass
class _Reply:
    status: int
    text: str
    data: Any  # parsed JSON, or None when the body is not JSON

    @property
    def error(self) -> tuple[str, str]:
        """Upbit's ``{"error": {"name", "message"}}`` as (name, message); the raw text otherwise."""
        if isinstance(self.data, dict) and isinstance(self.data.get("error"), dict):
            e = self.data["error"]
            return str(e.get("name", "")), str(e.get("message", ""))
        return "", self.text.strip()[:200]

    def describe(self) -> str:
        name, msg = self.error
        return f"HTTP {self.status} {name}: {msg}".replace(" : ", " ").strip()


class UpbitTrading(SendOnceVenue):
    """``TradingVenue`` for Upbit KRW spot (see the module doc for the mapping tables)."""

    name = "upbit"
    # Upbit refuses an identifier used before, even by a request that failed (its order docs): a
    # resend after a 429/418 needs a new one (the executor queries the old one first)
    single_use_client_ids = True

    def __init__(self, base_url: str, access_key: str, secret_key: str, clock: Clock, *,
                 call_timeout_s: float = 10.0, owns: Callable[[str | None], bool] = is_our_client_id) -> None:
        if not (access_key and secret_key):
            raise ValueError("Upbit trading needs UPBIT_ACCESS_KEY and UPBIT_SECRET_KEY")
        import requests

        from kimpbot.exchanges.slim import pyupbit as slim_pyupbit

        pyupbit = slim_pyupbit()  # lazy, and without the pandas its __init__ pulls in (~34 MB)

        self.base_url = base_url.rstrip("/")
        self.clock = clock
        self.call_timeout_s = call_timeout_s
        self.owns = owns
        self._signer = pyupbit.Upbit(access_key, secret_key)
        self._requests = requests
        self._local = threading.local()
        self._sessions: list[Any] = []
        self._sessions_lock = threading.Lock()
        self._sent = SentOrders()

    # ------------------------------------------------------------------ HTTP (worker thread)
    def _session(self) -> Any:
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._requests.Session()
            self._local.session = s
            with self._sessions_lock:
                self._sessions.append(s)
        return s

    def _http(self, method: str, path: str, params: dict[str, Any] | None, timeout_s: float) -> _Reply:
        """One signed request, in a worker thread. Raises only for transport failures."""
        headers = self._signer._request_headers(params or None)  # pyupbit's JWT: access_key, nonce, query_hash
        headers["Accept"] = "application/json"
        url = self.base_url + path
        # bound the thread too: it may outlive asyncio's timeout, but not by much
        timeout = (min(timeout_s, 5.0) + 0.5, timeout_s + 0.5)
        session = self._session()
        if method == "POST":
            headers["Content-Type"] = "application/json"
            resp = session.post(url, headers=headers, data=json.dumps(params or {}), timeout=timeout)
        else:
            if params:
                url += "?" + urlencode(params, doseq=True)
            fn = session.get if method == "GET" else session.delete
            resp = fn(url, headers=headers, timeout=timeout)
        text = resp.text
        try:
            data = json.loads(text) if text else None
        except ValueError:
            data = None
        return _Reply(resp.status_code, text, data)

    async def _call(self, method: str, path: str, params: dict[str, Any] | None, timeout_s: float) -> _Reply:
        """Raises asyncio.TimeoutError or the transport's exception; never decides what they mean."""
        return await asyncio.wait_for(asyncio.to_thread(self._http, method, path, params, timeout_s),
                                      timeout=timeout_s)

    # ------------------------------------------------------------------ orders
    async def _place(self, req: OrderRequest, timeout_s: float, sw: Stopwatch) -> OrderResult:
        market = f"KRW-{req.symbol}"
        if req.side is Side.BUY:
            if req.price_hint <= 0 or req.qty <= 0:
                return self._result(req, OrderStatus.REJECTED, sw,
                                    error=f"local: an Upbit market buy needs qty > 0 and price_hint > 0 "
                                          f"(qty {req.qty}, price_hint {req.price_hint})")
            krw = (req.qty * req.price_hint).to_integral_value(rounding=ROUND_DOWN)
            params = {"market": market, "side": "bid", "ord_type": "price", "price": plain(krw),
                      "identifier": req.client_id}
        else:
            vol = req.qty.quantize(VOLUME_STEP, rounding=ROUND_DOWN)
            if vol <= 0:
                return self._result(req, OrderStatus.REJECTED, sw, error=f"local: sell volume {req.qty} rounds to 0")
            params = {"market": market, "side": "ask", "ord_type": "market", "volume": plain(vol),
                      "identifier": req.client_id}
        try:
            reply = await self._call("POST", "/v1/orders", params, timeout_s)
        except asyncio.TimeoutError:
            return self._result(req, OrderStatus.UNKNOWN, sw, error=f"no answer within {timeout_s:g} s")
        except Exception as exc:  # connection lost/refused, TLS, ...: the order may or may not be placed
            return self._result(req, OrderStatus.UNKNOWN, sw, error=f"{type(exc).__name__}: {exc}"[:300])

        if reply.status in (200, 201):
            uuid = reply.data.get("uuid") if isinstance(reply.data, dict) else None
            if not uuid:
                return self._result(req, OrderStatus.UNKNOWN, sw,
                                    error=f"HTTP {reply.status} without an order uuid: {reply.text[:200]}")
            return await self._settle(req, str(uuid), sw, timeout_s)
        name, msg = reply.error
        if reply.status in (429, 418):
            return self._result(req, OrderStatus.REJECTED, sw, retryable=True, error=reply.describe())
        if reply.status == 400:
            # Upbit refuses a taken identifier with a 400 whose name is not documented: an earlier
            # send of this very order got there. Any 400 is therefore checked against the
            # identifier (one GET, on refusals only) before it is called "not placed".
            q = await self.query(req.symbol, req.client_id, max(0.5, sw.left(timeout_s)))
            if q.status.final and q.status is not OrderStatus.NOT_FOUND or q.status is OrderStatus.OPEN:
                return replace(q, latency_ms=sw.ms)
            return self._result(req, OrderStatus.REJECTED, sw, error=reply.describe())
        if 400 <= reply.status < 500:
            return self._result(req, OrderStatus.REJECTED, sw, error=reply.describe())
        return self._result(req, OrderStatus.UNKNOWN, sw, error=reply.describe())

    async def _settle(self, req: OrderRequest, uuid: str, sw: Stopwatch, timeout_s: float) -> OrderResult:
        """The order is placed (201): read it back until final, within the call's time budget."""
        last: OrderResult | None = None
        err = ""
        for delay in _POLL_DELAYS_S + (0.5,) * 1000:
            if delay:
                if sw.left(timeout_s) < delay + 0.05:
                    break
                await asyncio.sleep(delay)
            budget = max(0.2, sw.left(timeout_s))
            try:
                reply = await self._call("GET", "/v1/order", {"uuid": uuid}, budget)
            except asyncio.TimeoutError:
                err = "reading the order back timed out"
                break
            except Exception as exc:
                err = f"reading the order back failed: {type(exc).__name__}: {exc}"[:300]
                if sw.left(timeout_s) <= 0:
                    break
                continue
            if reply.status == 200 and isinstance(reply.data, dict):
                last = self._from_order(reply.data, req.symbol, req.client_id, sw)
                if last.status.final:
                    return last
            else:
                err = f"reading the order back: {reply.describe()}"
            if sw.left(timeout_s) <= 0:
                break
        if last is not None:
            return replace(last, error=last.error or "accepted, not final within the time limit: query it")
        return self._result(req, OrderStatus.OPEN, sw, exchange_id=uuid,
                            error=f"accepted (uuid {uuid}); {err or 'not final yet'}: query it")

    async def query(self, symbol: str, client_id: str, timeout_s: float) -> OrderResult:
        sw = Stopwatch()
        side = Side.BUY
        prev = self._sent.last(client_id)
        if prev is not None:
            side = prev.side
        try:
            reply = await self._call("GET", "/v1/order", {"identifier": client_id}, timeout_s)
        except asyncio.TimeoutError:
            return OrderResult(self.name, symbol, side, client_id, OrderStatus.UNKNOWN, latency_ms=sw.ms,
                               error=f"query: no answer within {timeout_s:g} s")
        except Exception as exc:
            return OrderResult(self.name, symbol, side, client_id, OrderStatus.UNKNOWN, latency_ms=sw.ms,
                               error=f"query: {type(exc).__name__}: {exc}"[:300])
        if reply.status == 200 and isinstance(reply.data, dict) and reply.data.get("uuid"):
            res = self._from_order(reply.data, symbol, client_id, sw)
            self._sent.record(res)
            return res
        name, _ = reply.error
        if reply.status == 404 and name == "order_not_found":
            return OrderResult(self.name, symbol, side, client_id, OrderStatus.NOT_FOUND, latency_ms=sw.ms,
                               error=reply.describe())
        return OrderResult(self.name, symbol, side, client_id, OrderStatus.UNKNOWN, latency_ms=sw.ms,
                           retryable=reply.status in (429, 418), error=f"query: {reply.describe()}")

    def _from_order(self, o: dict[str, Any], symbol: str, client_id: str, sw: Stopwatch) -> OrderResult:
        side = Side.BUY if o.get("side") == "bid" else Side.SELL
        trades = [t for t in (o.get("trades") or []) if isinstance(t, dict)]
        t_vol = sum((dec(t.get("volume")) for t in trades), ZERO)
        t_funds = sum((dec(t.get("funds")) for t in trades), ZERO)
        filled = dec(o.get("executed_volume"), t_vol)
        if t_vol > 0:
            avg = t_funds / t_vol
            funds = t_funds
        else:
            funds = dec(o.get("executed_funds"))
            avg = funds / filled if filled > 0 and funds > 0 else ZERO
        fee = dec(o.get("paid_fee"))
        state = o.get("state")
        error = ""
        if state == "done":
            status = OrderStatus.FILLED
        elif state == "cancel":
            if filled <= 0:
                status, error = OrderStatus.REJECTED, "cancelled by the exchange with nothing filled"
            elif self._only_dust_left(o, filled, funds, trades):
                status = OrderStatus.FILLED
            else:
                status, error = OrderStatus.PARTIAL, "cancelled by the exchange after a partial fill"
        elif state in ("wait", "watch"):
            status = OrderStatus.OPEN
        else:
            status, error = OrderStatus.UNKNOWN, f"unrecognised order state {state!r}"
        ident = o.get("identifier") or client_id
        return OrderResult(self.name, symbol, side, str(ident), status, filled_qty=filled,
                           avg_price=_q(avg), fee=fee, exchange_id=str(o.get("uuid", "")), error=error,
                           latency_ms=sw.ms)

    @staticmethod
    def _only_dust_left(o: dict[str, Any], filled: Decimal, funds: Decimal, trades: list[dict]) -> bool:
        """A ``cancel`` that is a complete fill: a KRW-amount buy's leftover (< 1e-8 coin per trade
        at the trade's price, at least 1 KRW) or a sell's zero remaining volume."""
        if o.get("ord_type") == "price":
            price = dec(o.get("price"))
            top = max((dec(t.get("price")) for t in trades), default=ZERO)
            tolerance = max(Decimal(1), top * VOLUME_STEP * (len(trades) + 1))
            return price > 0 and price - funds <= tolerance
        volume = dec(o.get("volume"))
        return volume > 0 and filled >= volume

    # ------------------------------------------------------------------ account
    async def load_rules(self, symbols: list[str]) -> dict[str, MarketRules]:
        """Volume step 1e-8; minimum order total from ``/v1/orders/chance`` (5,000 KRW if unreadable)."""
        out: dict[str, MarketRules] = {}
        for sym in symbols:
            min_total = MIN_ORDER_KRW
            try:
                reply = await self._call("GET", "/v1/orders/chance", {"market": f"KRW-{sym}"}, self.call_timeout_s)
                if reply.status == 200 and isinstance(reply.data, dict):
                    mk = reply.data.get("market") or {}
                    if mk.get("state") not in (None, "active"):
                        log.warning("Upbit KRW-%s market state is %r", sym, mk.get("state"))
                    got = max(dec((mk.get("bid") or {}).get("min_total")), dec((mk.get("ask") or {}).get("min_total")))
                    if got > 0:
                        min_total = got
                else:
                    log.warning("Upbit /v1/orders/chance KRW-%s: %s; using %s KRW", sym, reply.describe(), min_total)
            except Exception as exc:
                log.warning("Upbit /v1/orders/chance KRW-%s failed (%s); using %s KRW", sym,
                            f"{type(exc).__name__}: {exc}", min_total)
            out[sym] = MarketRules(qty_step=VOLUME_STEP, min_qty=VOLUME_STEP, min_notional=min_total,
                                   price_ticks=KRW_TICKS)
        return out

    async def balances(self) -> Balances:
        """KRW and coins available to trade. Upbit's ``balance`` is already net of ``locked``
        (what open orders hold), so free = ``balance``."""
        try:
            reply = await self._call("GET", "/v1/accounts", None, self.call_timeout_s)
        except Exception as exc:
            raise ExchangeUnavailable(f"Upbit /v1/accounts: {type(exc).__name__}: {exc}") from None
        if reply.status != 200 or not isinstance(reply.data, list):
            refused = upbit_key_refused(reply.status, *reply.error)
            if refused is not None:  # the owner must fix the key: the start stops with exit 78
                raise refused
            raise ExchangeUnavailable(f"Upbit /v1/accounts: {reply.describe()}")
        quote = ZERO
        coins: dict[str, Decimal] = {}
        for row in reply.data:
            if not isinstance(row, dict) or "currency" not in row:
                continue
            free = dec(row.get("balance"))
            if row["currency"] == "KRW":
                quote = free
            elif row.get("unit_currency", "KRW") == "KRW":
                coins[str(row["currency"])] = free
        return Balances(quote_free=quote, coins=coins)

    async def cancel_open_orders(self, symbols: list[str]) -> list[str]:
        """Cancel open orders (``wait``/``watch``) of ours (``owns(identifier)``) on these markets."""
        cancelled: list[str] = []
        failed: list[str] = []
        for sym in symbols:
            market = f"KRW-{sym}"
            try:
                reply = await self._call("GET", "/v1/orders/open",
                                         {"market": market, "states[]": ["wait", "watch"], "limit": 100},
                                         self.call_timeout_s)
            except Exception as exc:
                failed.append(f"{market}: listing open orders failed: {type(exc).__name__}: {exc}")
                continue
            if reply.status != 200 or not isinstance(reply.data, list):
                failed.append(f"{market}: listing open orders: {reply.describe()}")
                continue
            for o in reply.data:
                ident = o.get("identifier") if isinstance(o, dict) else None
                if not self.owns(ident):
                    continue
                try:
                    r = await self._call("DELETE", "/v1/order", {"uuid": o["uuid"]}, self.call_timeout_s)
                except Exception as exc:
                    failed.append(f"{ident}: {type(exc).__name__}: {exc}")
                    continue
                if r.status == 200:
                    cancelled.append(str(ident))
                elif r.status == 404:  # filled or cancelled meanwhile: nothing open any more
                    log.info("Upbit cancel %s: %s", ident, r.describe())
                else:
                    failed.append(f"{ident}: {r.describe()}")
        if failed:
            raise CancelIncomplete(f"Upbit: cancelled {cancelled or 'nothing'}; could not cancel: "
                                   + "; ".join(failed), cancelled, failed)
        return cancelled

    async def signed(self, method: str, path: str, params: dict[str, Any] | None = None,
                     timeout_s: float | None = None) -> _Reply:
        """One signed request as the orders use it (``kimpbot doctor`` reads /v1/accounts and
        /v1/api_keys through this): the HTTP status, Upbit's own error words and the JSON body."""
        return await self._call(method, path, params, timeout_s or self.call_timeout_s)

    async def close(self) -> None:
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for s in sessions:
            try:
                s.close()
            except Exception:
                pass


def _q(d: Decimal) -> Decimal:
    """Trim a computed average to 12 decimals (exact inputs, but division can run on)."""
    if d and d.as_tuple().exponent < -12:  # type: ignore[operator]
        return d.quantize(Decimal("0.000000000001"))
    return d
