"""Binance USDT-M perpetual orders for the executor (``PerpVenue``), through ccxt ``binanceusdm``.

Account assumptions: **one-way position mode** (``positionSide BOTH``; ``load_rules`` checks it
and refuses hedge mode, where every order would fail with -4061) and cross margin. Leverage is
set to ``leverage`` (default 1: the perp leg is a hedge of spot held in full, so 1x means the
margin covers the whole notional) on every symbol ``load_rules`` sees; a refusal to change it is
logged, not fatal.

Orders: ``create_order(sym, "market", side, qty, params={"newClientOrderId": client_id,
"newOrderRespType": "RESULT", "reduceOnly": True|absent})``. The quantity must already be on
the step (``MarketRules.round_qty``): a quantity ccxt would silently truncate is refused locally.

Error mapping: ccxt's exception *class* is not trusted alone. Against a non-Binance host ccxt
picks the wrong error table (-2019 becomes a bare ``ExchangeError``; ``make_binanceusdm``
merges the linear table to fix that), and ccxt wraps any aiohttp ``ClientError`` (a response
cut mid-body) in a bare ``ExchangeError`` although nothing is known about the order. So the
Binance code in the body decides; without a code, only the rate-limit classes decide; anything
else is UNKNOWN.

    ===============================================  ==================================
    status FILLED                                    FILLED
    EXPIRED / CANCELED / EXPIRED_IN_MATCH, filled>0  PARTIAL
    EXPIRED / CANCELED / EXPIRED_IN_MATCH / REJECTED
    with nothing filled                              REJECTED
    NEW / PARTIALLY_FILLED                           read back until final within the
                                                     time limit; else OPEN (query it)
    HTTP 429 / 418, -1003, -1015 (rate limits),
    -1008 (server busy, request refused)             REJECTED, retryable
    -1021 (timestamp outside recvWindow)             REJECTED, retryable (fix the clock)
    -4116 ClientOrderId is duplicated                the existing order, queried
    -1000 / -1001 / -1006 / -1007 (Binance: "execution
    status unknown"), HTTP 5xx without a code,
    RequestTimeout, NetworkError, a bare ExchangeError
    without a code, malformed body, asyncio timeout  UNKNOWN
    any other code (-2019 margin, -2022 reduce-only,
    -4164 notional, -1111 precision, -2014/-2015 key,
    -1022 signature, ...)                            REJECTED with "<code> <msg>"
    query: -2013 Order does not exist                NOT_FOUND
    ===============================================  ==================================

Fee: ``cumQuote x taker_fee`` (the RESULT answer carries no commission; 0.05 % is VIP 0
taker). Funding: ``fetch_funding_rate`` (``/fapi/v1/premiumIndex``) and
``fetch_funding_history`` (``/fapi/v1/income?incomeType=FUNDING_FEE``), ``tranId`` kept for
de-duplication.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
from decimal import Decimal
from typing import Any, Callable

from kimpbot.clock import Clock
from kimpbot.exchanges.base import ExchangeUnavailable, binance_key_refused
from kimpbot.exchanges.binance import ccxt_symbol, make_binanceusdm
from kimpbot.exchanges.slim import ccxt_async
from kimpbot.exchanges.trading_common import (ZERO, CancelIncomplete, SendOnceVenue, SentOrders, Stopwatch,
                                              dec,
                                              is_our_client_id, plain)
from kimpbot.execution.venues import (Balances, FundingInfo, FundingPayment, MarketRules, OrderRequest,
                                      OrderResult, OrderStatus, Side)
ccxt = ccxt_async()  # ccxt.async_support without its ~100 other exchanges (see slim.py)

log = logging.getLogger(__name__)

TAKER_FEE = Decimal("0.0005")
RATE_LIMIT_CODES = {-1003, -1015}
RETRYABLE_CODES = RATE_LIMIT_CODES | {-1008, -1021}
UNKNOWN_CODES = {-1000, -1001, -1006, -1007}
DUPLICATE_CID = -4116
ORDER_NOT_FOUND = -2013
_BODY = re.compile(r"\{.*\}", re.S)
_POLL_DELAYS_S = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.5, 0.5)


def binance_error(exc: BaseException) -> tuple[int | None, str]:
    """The ``{"code", "msg"}`` ccxt puts at the end of its message, as (code, msg)."""
    text = str(exc)
    m = _BODY.search(text)
    if m:
        try:
            body = json.loads(m.group(0))
        except ValueError:
            body = None
        if isinstance(body, dict) and "code" in body:
            try:
                return int(body["code"]), str(body.get("msg", ""))
            except (TypeError, ValueError):
                pass
    return None, text


class BinanceTrading(SendOnceVenue):
    """``PerpVenue`` for Binance USDT-M perpetuals (see the module doc for the mapping tables)."""

    name = "binance"

    def __init__(self, base_url: str, api_key: str, secret: str, clock: Clock, *, leverage: int = 1,
                 taker_fee: Decimal = TAKER_FEE, call_timeout_s: float = 10.0,
                 owns: Callable[[str | None], bool] = is_our_client_id) -> None:
        if not (api_key and secret):
            raise ValueError("Binance trading needs BINANCE_API_KEY and BINANCE_API_SECRET")
        self.ex = make_binanceusdm(base_url, api_key, secret, timeout_s=call_timeout_s)
        # ccxt's client-side throttle (a token bucket at 50 ms per weight unit) would hold an order
        # back 50-200 ms behind any earlier call (a query, a balance check): leg skew the hedge
        # pays for. This adapter makes a handful of calls per trade, far below Binance's 2400
        # weight/min; a real 429/418 comes back as REJECTED retryable.
        self.ex.enableRateLimit = False
        self.base_url = base_url
        self.clock = clock
        self.leverage = int(leverage)
        self.taker_fee = Decimal(taker_fee)
        self.call_timeout_s = call_timeout_s
        self.owns = owns
        self._sent = SentOrders()
        self._leverage_set: set[str] = set()

    async def _ensure_markets(self, timeout_s: float) -> None:
        if not self.ex.markets:
            await asyncio.wait_for(self.ex.load_markets(), timeout=timeout_s)

    # ------------------------------------------------------------------ orders
    async def _place(self, req: OrderRequest, timeout_s: float, sw: Stopwatch) -> OrderResult:
        symbol = ccxt_symbol(req.symbol)
        try:
            await self._ensure_markets(timeout_s)
        except Exception as exc:  # nothing was sent
            return self._result(req, OrderStatus.REJECTED, sw, retryable=True,
                                error=f"local: markets not loaded ({type(exc).__name__}: {exc})"[:300])
        try:
            amount = self.ex.amount_to_precision(symbol, plain(req.qty))
        except Exception as exc:
            return self._result(req, OrderStatus.REJECTED, sw, error=f"local: quantity {req.qty}: {exc}"[:300])
        if req.qty <= 0 or Decimal(amount) != req.qty:
            return self._result(req, OrderStatus.REJECTED, sw,
                                error=f"local: quantity {req.qty} is not on {req.symbol}'s step "
                                      f"(would be sent as {amount}); round it with MarketRules first")
        params: dict[str, Any] = {"newClientOrderId": req.client_id, "newOrderRespType": "RESULT"}
        if req.reduce_only:
            params["reduceOnly"] = True
        side = "buy" if req.side is Side.BUY else "sell"
        left = max(0.05, sw.left(timeout_s))
        try:
            order = await asyncio.wait_for(self.ex.create_order(symbol, "market", side, amount, None, params),
                                           timeout=left)
        except asyncio.TimeoutError:
            return self._result(req, OrderStatus.UNKNOWN, sw, error=f"no answer within {timeout_s:g} s")
        except Exception as exc:
            code, msg = binance_error(exc)
            if code == DUPLICATE_CID:
                q = await self.query(req.symbol, req.client_id, max(0.5, sw.left(timeout_s)))
                return _replace(q, latency_ms=sw.ms) if q.status is not OrderStatus.NOT_FOUND else \
                    self._result(req, OrderStatus.UNKNOWN, sw, error=f"{code} {msg}; and the query found nothing")
            status, retryable, error = self._classify(exc)
            return self._result(req, status, sw, retryable=retryable, error=error)
        info = order.get("info") if isinstance(order, dict) else None
        if not isinstance(info, dict) or "status" not in info:
            return self._result(req, OrderStatus.UNKNOWN, sw, error=f"unexpected answer: {str(order)[:200]}")
        res = self._from_order(info, req.symbol, req.client_id, sw)
        # a MARKET order normally answers final; under load Binance may answer NEW first
        for delay in _POLL_DELAYS_S:
            if res.status is not OrderStatus.OPEN or sw.left(timeout_s) < delay + 0.05:
                break
            await asyncio.sleep(delay)
            q = await self.query(req.symbol, req.client_id, max(0.2, sw.left(timeout_s)))
            if q.status is not OrderStatus.UNKNOWN and q.status is not OrderStatus.NOT_FOUND:
                res = q
        return _replace(res, latency_ms=sw.ms)

    @staticmethod
    def _classify(exc: BaseException) -> tuple[OrderStatus, bool, str]:
        """(status, retryable, error) for an exception from an order call (see the module table)."""
        code, msg = binance_error(exc)
        if code is not None:
            error = f"{code} {msg}"
            if code in UNKNOWN_CODES:
                return OrderStatus.UNKNOWN, False, error
            if code in RETRYABLE_CODES:
                return OrderStatus.REJECTED, True, error
            if isinstance(exc, (ccxt.DDoSProtection, ccxt.RateLimitExceeded)):  # 418/429 with a body
                return OrderStatus.REJECTED, True, error
            return OrderStatus.REJECTED, False, error
        error = f"{type(exc).__name__}: {exc}"[:300]
        if isinstance(exc, (ccxt.DDoSProtection, ccxt.RateLimitExceeded)):
            return OrderStatus.REJECTED, True, error
        return OrderStatus.UNKNOWN, False, error

    async def query(self, symbol: str, client_id: str, timeout_s: float) -> OrderResult:
        sw = Stopwatch()
        prev = self._sent.last(client_id)
        side = prev.side if prev is not None else Side.BUY
        try:
            await self._ensure_markets(timeout_s)
            order = await asyncio.wait_for(
                self.ex.fetch_order(None, ccxt_symbol(symbol), {"origClientOrderId": client_id}),
                timeout=max(0.05, sw.left(timeout_s)))
        except asyncio.TimeoutError:
            return OrderResult(self.name, symbol, side, client_id, OrderStatus.UNKNOWN, latency_ms=sw.ms,
                               error=f"query: no answer within {timeout_s:g} s")
        except Exception as exc:
            code, msg = binance_error(exc)
            if code == ORDER_NOT_FOUND:
                return OrderResult(self.name, symbol, side, client_id, OrderStatus.NOT_FOUND, latency_ms=sw.ms,
                                   error=f"{code} {msg}")
            _, retryable, error = self._classify(exc)
            return OrderResult(self.name, symbol, side, client_id, OrderStatus.UNKNOWN, latency_ms=sw.ms,
                               retryable=retryable, error=f"query: {error}")
        info = order.get("info") if isinstance(order, dict) else None
        if not isinstance(info, dict) or "status" not in info:
            return OrderResult(self.name, symbol, side, client_id, OrderStatus.UNKNOWN, latency_ms=sw.ms,
                               error=f"query: unexpected answer: {str(order)[:200]}")
        res = self._from_order(info, symbol, client_id, sw)
        self._sent.record(res)
        return res

    def _from_order(self, info: dict[str, Any], symbol: str, client_id: str, sw: Stopwatch) -> OrderResult:
        side = Side.BUY if str(info.get("side", "")).upper() == "BUY" else Side.SELL
        filled = dec(info.get("executedQty"))
        quote = dec(info.get("cumQuote"))
        avg = dec(info.get("avgPrice"))
        if avg <= 0 and filled > 0 and quote > 0:
            avg = quote / filled
        if quote <= 0 and filled > 0 and avg > 0:
            quote = filled * avg
        fee = quote * self.taker_fee
        st = str(info.get("status", "")).upper()
        error = ""
        if st == "FILLED":
            status = OrderStatus.FILLED
        elif st in ("EXPIRED", "CANCELED", "EXPIRED_IN_MATCH", "REJECTED"):
            if filled > 0:
                status, error = OrderStatus.PARTIAL, f"{st.lower()} after a partial fill"
            else:
                status, error = OrderStatus.REJECTED, f"{st.lower()} with nothing filled"
        elif st in ("NEW", "PARTIALLY_FILLED"):
            status, error = OrderStatus.OPEN, f"{st.lower()}: not final yet, query it"
        else:
            status, error = OrderStatus.UNKNOWN, f"unrecognised order status {st!r}"
        return OrderResult(self.name, symbol, side, str(info.get("clientOrderId") or client_id), status,
                           filled_qty=filled, avg_price=avg, fee=fee, exchange_id=str(info.get("orderId", "")),
                           error=error, latency_ms=sw.ms)

    # ------------------------------------------------------------------ account
    async def _api(self, what: str, coro: Any) -> Any:
        try:
            return await asyncio.wait_for(coro, timeout=self.call_timeout_s)
        except asyncio.TimeoutError:
            raise ExchangeUnavailable(f"Binance {what}: no answer within {self.call_timeout_s:g} s") from None
        except ccxt.BaseError as exc:
            code, msg = binance_error(exc)
            refused = binance_key_refused(code, msg)
            if refused is not None:  # the owner must fix the key: the start stops with exit 78
                raise refused from None
            detail = f"{code} {msg}" if code is not None else f"{type(exc).__name__}: {exc}"
            raise ExchangeUnavailable(f"Binance {what}: {detail}"[:400]) from None

    async def load_rules(self, symbols: list[str]) -> dict[str, MarketRules]:
        """Step and minimums from exchangeInfo's raw filters (exact strings); checks one-way mode
        and sets leverage (see the module doc)."""
        await self._api("exchangeInfo", self.ex.load_markets(reload=True))
        out: dict[str, MarketRules] = {}
        for sym in symbols:
            try:
                market = self.ex.market(ccxt_symbol(sym))
            except Exception:
                raise ExchangeUnavailable(f"Binance has no USDT-M perpetual {sym}USDT") from None
            filters = {f.get("filterType"): f for f in (market.get("info") or {}).get("filters", [])
                       if isinstance(f, dict)}
            lot = filters.get("LOT_SIZE", {})
            mlot = filters.get("MARKET_LOT_SIZE", {})
            step = max(dec(lot.get("stepSize")), dec(mlot.get("stepSize")))
            min_qty = max(dec(lot.get("minQty")), dec(mlot.get("minQty")))
            notional = dec(filters.get("MIN_NOTIONAL", {}).get("notional"))
            if step <= 0:  # fall back on ccxt's parsed market
                step = dec((market.get("precision") or {}).get("amount"))
                min_qty = min_qty or dec(((market.get("limits") or {}).get("amount") or {}).get("min"))
                notional = notional or dec(((market.get("limits") or {}).get("cost") or {}).get("min"))
            if step <= 0:
                raise ExchangeUnavailable(f"Binance {sym}USDT: no quantity step in exchangeInfo")
            tick = dec(filters.get("PRICE_FILTER", {}).get("tickSize"))
            out[sym] = MarketRules(qty_step=step, min_qty=min_qty, min_notional=notional, price_tick=tick)
        mode = await self._api("position mode", self.ex.fetch_position_mode(ccxt_symbol(symbols[0]) if symbols else None))
        if mode.get("hedged"):
            raise ExchangeUnavailable("Binance account is in hedge (dual-side) position mode; kimpbot needs "
                                      "one-way mode: switch it in Preferences > Position Mode")
        for sym in symbols:
            if sym not in self._leverage_set:
                try:
                    await self.set_leverage(sym, self.leverage)
                except ExchangeUnavailable as exc:
                    log.warning("%s; orders still work at the account's current leverage", exc)
        return out

    async def set_leverage(self, symbol: str, leverage: int | None = None) -> None:
        lev = int(leverage if leverage is not None else self.leverage)
        await self._api(f"set leverage {symbol} {lev}x", self.ex.set_leverage(lev, ccxt_symbol(symbol)))
        self._leverage_set.add(symbol)

    async def balances(self) -> Balances:
        """USDT available margin (``availableBalance``) and the signed position per symbol."""
        bal = await self._api("balance", self.ex.fetch_balance())
        info = bal.get("info") if isinstance(bal, dict) else None
        free = None
        if isinstance(info, dict):
            for a in info.get("assets") or []:
                if isinstance(a, dict) and a.get("asset") == "USDT":
                    free = dec(a.get("availableBalance"), None)  # type: ignore[arg-type]
        if free is None:
            free = dec((bal.get("USDT") or {}).get("free"))
        positions: dict[str, Decimal] = {}
        for p in await self._api("positions", self.ex.fetch_positions()):
            pi = p.get("info") or {}
            amt = dec(pi.get("positionAmt"))
            sid = str(pi.get("symbol", ""))
            if amt != 0 and sid.endswith("USDT"):
                positions[sid[:-4]] = positions.get(sid[:-4], ZERO) + amt
        return Balances(quote_free=free, positions=positions)

    async def cancel_open_orders(self, symbols: list[str]) -> list[str]:
        cancelled: list[str] = []
        failed: list[str] = []
        for sym in symbols:
            try:
                orders = await self._api(f"open orders {sym}", self.ex.fetch_open_orders(ccxt_symbol(sym)))
            except ExchangeUnavailable as exc:
                failed.append(str(exc))
                continue
            for o in orders:
                info = o.get("info") or {}
                cid = info.get("clientOrderId") or o.get("clientOrderId")
                if not self.owns(cid):
                    continue
                try:
                    await self._api(f"cancel {cid}", self.ex.cancel_order(str(o["id"]), ccxt_symbol(sym)))
                    cancelled.append(str(cid))
                except ExchangeUnavailable as exc:
                    if " -2011 " in f" {exc} ":  # Unknown order: filled or cancelled meanwhile
                        log.info("%s", exc)
                    else:
                        failed.append(str(exc))
        if failed:
            raise CancelIncomplete(f"Binance: cancelled {cancelled or 'nothing'}; could not cancel: "
                                   + "; ".join(failed), cancelled, failed)
        return cancelled

    # ------------------------------------------------------------------ funding
    async def funding_info(self, symbol: str) -> FundingInfo:
        fr = await self._api(f"premiumIndex {symbol}", self.ex.fetch_funding_rate(ccxt_symbol(symbol)))
        info = fr.get("info") or {}
        nxt = info.get("nextFundingTime") or fr.get("fundingTimestamp") or fr.get("nextFundingTimestamp") or 0
        rate = dec(info.get("lastFundingRate"), dec(fr.get("fundingRate")))
        mark = dec(info.get("markPrice"), dec(fr.get("markPrice")))
        return FundingInfo(symbol=symbol, next_funding_ms=int(nxt), rate=rate, mark_price=mark)

    async def funding_payments(self, symbol: str, since_ms: int) -> list[FundingPayment]:
        """Every FUNDING_FEE booked for ``symbol`` at or after ``since_ms``, oldest first, one per tranId."""
        out: dict[str, FundingPayment] = {}
        cursor = int(since_ms)
        for _ in range(100):  # 1000 rows a page; 100 pages is decades of 8-hourly funding
            rows = await self._api(f"income {symbol}", self.ex.fetch_funding_history(
                ccxt_symbol(symbol), since=cursor, limit=1000))
            newest = cursor
            for r in rows:
                info = r.get("info") or {}
                if str(info.get("incomeType", "FUNDING_FEE")) != "FUNDING_FEE":
                    continue
                tran = str(info.get("tranId") or r.get("id") or "")
                ts = int(info.get("time") or r.get("timestamp") or 0)
                if ts < since_ms:
                    continue
                out[tran] = FundingPayment(symbol=symbol, ts=ts, amount_usdt=dec(info.get("income")), tran_id=tran)
                newest = max(newest, ts)
            if len(rows) < 1000 or newest <= cursor:
                break
            cursor = newest  # the same ms may hold more rows: tranId de-duplicates the overlap
        return sorted(out.values(), key=lambda p: (p.ts, p.tran_id))

    # ------------------------------------------------------------------ account checks (kimpbot doctor)
    async def account(self) -> dict[str, Any]:
        """``GET /fapi/v2/account``, signed by ccxt like the orders (raises ccxt's exception)."""
        return await asyncio.wait_for(self.ex.fapiPrivateV2GetAccount(), timeout=self.call_timeout_s)

    async def dual_side_position(self) -> bool:
        """``GET /fapi/v1/positionSide/dual``: True is hedge mode (kimpbot needs one-way)."""
        r = await asyncio.wait_for(self.ex.fapiPrivateGetPositionSideDual(), timeout=self.call_timeout_s)
        return str(r.get("dualSidePosition")).lower() == "true"

    async def api_restrictions(self, spot_api_url: str) -> dict[str, Any]:
        """``GET /sapi/v1/account/apiRestrictions`` on the spot host (only it reports a key's
        permissions), signed with the same key by the same client."""
        self.ex.urls["api"]["sapi"] = spot_api_url.rstrip("/") + "/sapi/v1"
        return await asyncio.wait_for(self.ex.sapiGetAccountApiRestrictions(), timeout=self.call_timeout_s)

    async def close(self) -> None:
        await self.ex.close()


def _replace(res: OrderResult, **kw: Any) -> OrderResult:
    return dataclasses.replace(res, **kw)
