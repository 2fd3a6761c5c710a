"""Fake Upbit: REST quotation + exchange API and the public websocket, on one aiohttp app.

Follows Upbit Open API v1 (https://docs.upbit.com/kr/reference, REST guide
https://docs.upbit.com/kr/reference/rest-api-guide, websocket
https://docs.upbit.com/kr/reference/websocket-guide) and what pyupbit 0.2.34 and ccxt 4.5
actually send and parse:

* every response carries ``Remaining-Req: group=<group>; min=1800; sec=<n>`` (pyupbit raises
  without it);
* quotation numbers are JSON numbers, exchange (private) numbers are strings;
* errors are ``{"error": {"name", "message"}}`` with the real names (``jwt_verification``,
  ``invalid_query_payload``, ``invalid_access_key``, ``nonce_used``, ``insufficient_funds_bid``,
  ``under_min_total_ask``, ``invalid_price_bid``, ``validation_error``, ``order_not_found``...);
  a 429 is Upbit's plain-text ``Too many API requests.`` (pyupbit compares the text);
* authentication: HS256 JWT (``access_key``, ``nonce``, ``query_hash`` = SHA512 of the
  urlencoded parameters, ``query_hash_alg``). Private GET parameters are accepted from the query
  string *or* a form body (pyupbit sends them as a body on the GET), POST/DELETE from JSON or query;
* orders: ``ord_type`` ``limit`` | ``price`` (market buy, KRW amount in ``price``) | ``market``
  (market sell, ``volume``); market orders take the book at once with the 0.05 % fee. As on the
  real exchange, the POST answer is the accepted order (``state: "wait"``, nothing executed yet);
  ``GET /v1/order`` then shows ``done`` (or ``cancel`` with a partial ``executed_volume``) and
  ``trades[]``. Duplicate ``identifier`` -> 400 (name ``duplicated_identifier``: the exact name is
  not documented publicly); an identifier is single-use even when its request failed (a 429, a
  refusal), as Upbit's order docs say;
* websocket ``/websocket/v1``: request ``[{"ticket"}, {"type": "ticker"|"orderbook", "codes",
  "is_only_realtime"|"is_only_snapshot"}, {"format": "DEFAULT"}]``; replies are BINARY frames of
  JSON with ``type``, ``code``, ``stream_type`` (SNAPSHOT/REALTIME); text ``PING`` ->
  ``{"status":"UP"}``.

Simplified: one rate-limit answer only when a fault asks for it; resting limit orders never fill
later (only their marketable part fills at once); no SIMPLE websocket format; no ``trade`` stream.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid as uuidlib
import warnings
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote, urlencode

import jwt
from aiohttp import WSMsgType, web

from kimpbot.sim._common import (LATE_BOOKING, RAW_BODY, ApiError, FakeBase, Reply, Waker, corrupt, dumps, fmt_num, num_out,
                                 split_csv, truncate)
from kimpbot.sim.faults import Fault
from kimpbot.sim.market import KOREAN_NAMES, upbit_round, upbit_tick, walk_book

FEE = 0.0005
MIN_TOTAL_KRW = 5000.0
KST = timezone(timedelta(hours=9))
UNITS = (1, 3, 5, 10, 15, 30, 60, 240)

MSG = {
    "jwt_verification": "Jwt 토큰 검증에 실패했습니다.",
    "invalid_query_payload": "Jwt 토큰의 쿼리 정보가 올바르지 않습니다.",
    "invalid_access_key": "잘못된 엑세스 키입니다.",
    "nonce_used": "이미 요청한 nonce값이 다시 사용되었습니다.",
    "under_min_total": "최소주문금액 이상으로 주문해주세요",
    "invalid_price": "주문가격 단위를 잘못 입력하셨습니다. 확인 후 시도해주세요.",
    "order_not_found": "주문을 찾지 못했습니다.",
    "create_error": "주문 요청 정보가 올바르지 않습니다.",
    "duplicated_identifier": "identifier가 중복되었습니다.",
}


def err(status: int, name: Any, message: str) -> ApiError:
    return ApiError(Reply(status, {"error": {"name": name, "message": message}}))


def kst_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, KST).strftime("%Y-%m-%dT%H:%M:%S+09:00")


def parse_to(value: str) -> int:
    """Upbit's ``to``: ISO 8601 (with zone) or 'yyyy-MM-dd HH:mm:ss' (UTC). Returns ms."""
    v = value.strip().replace(" ", "T")
    if v.endswith("Z"):
        v = v[:-1] + "+00:00"
    dt = datetime.fromisoformat(v)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


class UpbitFake(FakeBase):
    venue = "upbit"

    def __init__(self, servers: Any, *, access_key: str, secret_key: str, check_signatures: bool = True) -> None:
        super().__init__(servers)
        self.access_key = access_key
        self.secret_key = secret_key
        self.check_signatures = check_signatures
        self.orders: dict[str, dict] = {}         # uuid -> order (internal form)
        self.by_identifier: dict[str, str] = {}
        self.used_identifiers: set[str] = set()  # every identifier an order request carried, placed or not
        self._nonces: dict[str, float] = {}
        self._trade_seq = 0
        self.api_key_valid_days = 365  # what GET /v1/api_keys reports as expire_at (tests may shorten it)
        r = self.app.router
        g = self.route
        r.add_get("/v1/market/all", g(self.market_all))
        r.add_get("/v1/ticker", g(self.ticker))
        r.add_get("/v1/ticker/all", g(self.ticker_all))
        r.add_get("/v1/orderbook", g(self.orderbook))
        r.add_get("/v1/orderbook/instruments", g(self.instruments))
        r.add_get("/v1/candles/minutes/{unit}", g(self.candles_minutes))
        r.add_get("/v1/candles/days", g(self.candles_days))
        r.add_get("/v1/accounts", g(self.accounts))
        r.add_get("/v1/api_keys", g(self.api_keys))
        r.add_get("/v1/orders/chance", g(self.chance))
        r.add_post("/v1/orders", g(self.create_order))
        r.add_get("/v1/order", g(self.get_order))
        r.add_delete("/v1/order", g(self.cancel_order))
        r.add_get("/v1/orders", g(self.list_orders))
        r.add_get("/v1/orders/open", g(self.open_orders))
        r.add_get("/v1/orders/closed", g(self.closed_orders))
        r.add_get("/websocket/v1", self.websocket)

    # ------------------------------------------------------------------ plumbing
    def common_headers(self, path: str, method: str) -> dict[str, str]:
        if path.startswith("/v1/candles"):
            group, sec = "candles", 9
        elif path.startswith("/v1/ticker"):
            group, sec = "ticker", 9
        elif path.startswith("/v1/orderbook"):
            group, sec = "orderbook", 9
        elif path.startswith("/v1/market"):
            group, sec = "market", 9
        elif path == "/v1/orders" and method == "POST" or path == "/v1/order" and method == "DELETE":
            group, sec = "order", 7
        else:
            group, sec = "default", 29
        return {"Remaining-Req": f"group={group}; min=1800; sec={sec}"}

    def is_order_endpoint(self, method: str, path: str) -> bool:
        return method == "POST" and path == "/v1/orders"

    def error_reply(self, status: int, code: Any, message: str) -> Reply:
        return Reply(status, {"error": {"name": code, "message": message}})

    def too_many_reply(self, path: str) -> Reply:
        group = self.common_headers(path, "GET")["Remaining-Req"].split(";")[0]
        return Reply(429, text="Too many API requests.", content_type="text/plain",
                     headers={"Remaining-Req": f"{group}; min=1800; sec=0"})

    def not_found_reply(self, request: web.Request) -> Reply:
        return Reply(404, {"error": {"name": 404, "message": "Not Found"}})

    def claim_client_id(self, params: dict) -> Reply | None:
        # Upbit's order API: identifier must be unique among all of the user's orders, and "even if
        # the order request failed, the same value cannot be sent again" (docs.upbit.com, 주문하기,
        # identifier 파라미터 사용): a second request with it is refused whatever became of the first.
        ident = params.get("identifier")
        if ident is None:
            return None
        if str(ident) in self.used_identifiers:
            return Reply(400, {"error": {"name": "duplicated_identifier", "message": MSG["duplicated_identifier"]}})
        self.used_identifiers.add(str(ident))
        return None

    def unknown_reply(self, path: str) -> Reply:
        # the gateway gave up waiting for the order service: the order's fate is unknown
        return Reply(504, text="<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 "
                               "Gateway Time-out</h1></center></body></html>", content_type="text/html")

    def reject_reply(self, path: str, params: dict, fault: Fault) -> Reply:
        if fault.error:
            return Reply(400, {"error": {"name": fault.error, "message": MSG.get(fault.error, fault.error)}})
        if path == "/v1/orders":
            side = params.get("side", "bid")
            name = "create_ask_error" if side == "ask" else "create_bid_error"
            return Reply(400, {"error": {"name": name, "message": MSG["create_error"]}})
        if path.startswith("/v1/order"):
            return Reply(404, {"error": {"name": "order_not_found", "message": MSG["order_not_found"]}})
        return Reply(500, {"error": {"name": "server_error", "message": "일시적인 서버 오류입니다."}})

    def _authenticate(self, request: web.Request, params: dict) -> None:
        if not self.check_signatures or request.get(LATE_BOOKING):  # a late booking was checked on arrival
            return
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            raise err(401, "jwt_verification", MSG["jwt_verification"])
        token = auth[7:].strip()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the default sim keys are short
                claims = jwt.decode(token, self.secret_key, algorithms=["HS256", "HS512"])
        except Exception:
            try:
                unverified = jwt.decode(token, options={"verify_signature": False})
            except Exception:
                unverified = {}
            if unverified.get("access_key") not in (None, self.access_key):
                raise err(401, "invalid_access_key", MSG["invalid_access_key"])
            raise err(401, "jwt_verification", MSG["jwt_verification"])
        if claims.get("access_key") != self.access_key:
            raise err(401, "invalid_access_key", MSG["invalid_access_key"])
        nonce = str(claims.get("nonce", ""))
        if not nonce:
            raise err(401, "jwt_verification", MSG["jwt_verification"])
        now = time.monotonic()
        if nonce in self._nonces:
            raise err(401, "nonce_used", MSG["nonce_used"])
        if params:
            qh = claims.get("query_hash")
            if not qh or str(claims.get("query_hash_alg", "SHA512")).upper() != "SHA512":
                raise err(401, "invalid_query_payload", MSG["invalid_query_payload"])
            if qh not in self._hash_candidates(request, params):
                raise err(401, "invalid_query_payload", MSG["invalid_query_payload"])
        self._nonces[nonce] = now
        if len(self._nonces) > 20000:
            cutoff = now - 600
            self._nonces = {k: t for k, t in self._nonces.items() if t > cutoff}

    @staticmethod
    def _hash_candidates(request: web.Request, params: dict) -> set[str]:
        texts: set[str] = set()
        qs = request.query_string
        body: bytes = request.get(RAW_BODY, b"")
        btxt = body.decode("utf-8", "replace").strip() if body else ""
        pairs: list[tuple[str, Any]] = []
        for k, v in params.items():
            if isinstance(v, list):
                pairs.extend((k, x) for x in v)
            else:
                pairs.append((k, "" if v is None else v))
        enc = urlencode(pairs, doseq=True)
        for t in (qs, enc, btxt if btxt and not btxt.startswith("{") else ""):
            if t:
                texts.add(t)
                texts.add(t.replace("%5B%5D=", "[]="))
                texts.add(unquote(t))
        # ccxt hashes the raw (unencoded) "k=v&k=v" of its params
        texts.add("&".join(f"{k}={v}" for k, v in pairs))
        return {hashlib.sha512(t.encode()).hexdigest() for t in texts}

    def _market_sym(self, market: Any) -> str:
        m = str(market or "").upper()
        if m not in self.market.upbit_markets():
            raise err(404, 404, "Code not found")
        return m.split("-", 1)[1]

    # ------------------------------------------------------------------ quotation
    async def market_all(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        details = str(params.get("isDetails", params.get("is_details", "false"))).lower() == "true"
        out = []
        for m in self.market.upbit_markets():
            sym = m.split("-", 1)[1]
            ko, en = KOREAN_NAMES.get(sym, (sym, sym))
            row: dict[str, Any] = {"market": m, "korean_name": ko, "english_name": en}
            if details:
                row["market_warning"] = "NONE"
                row["market_event"] = {"warning": False, "caution": {
                    "PRICE_FLUCTUATIONS": False, "TRADING_VOLUME_SOARING": False,
                    "DEPOSIT_AMOUNT_SOARING": False, "GLOBAL_PRICE_DIFFERENCES": False,
                    "CONCENTRATION_OF_SMALL_ACCOUNTS": False}}
            out.append(row)
        return Reply(200, out)

    def ticker_row(self, sym: str) -> dict:
        mk = self.market
        now = mk.clock.now_ms()
        last = mk.upbit_last(sym)
        trade_ms = now
        frozen = mk.usdt_trade_frozen if sym == "USDT" else None
        if frozen is not None:  # no trade since: last trade's price and time stay, `timestamp` moves on
            last, trade_ms = frozen
        st = mk.day_stats("upbit", sym)
        hi52, lo52 = self._52w(sym)
        prev = st["prev_close"]
        chg = last - prev
        rate = chg / prev if prev else 0.0
        utc = datetime.fromtimestamp(trade_ms / 1000, timezone.utc)
        kst = utc.astimezone(KST)
        return {
            "market": f"KRW-{sym}",
            "trade_date": utc.strftime("%Y%m%d"), "trade_time": utc.strftime("%H%M%S"),
            "trade_date_kst": kst.strftime("%Y%m%d"), "trade_time_kst": kst.strftime("%H%M%S"),
            "trade_timestamp": trade_ms,
            "opening_price": num_out(st["open"]), "high_price": num_out(max(st["high"], last)),
            "low_price": num_out(min(st["low"], last)), "trade_price": num_out(last),
            "prev_closing_price": num_out(prev),
            "change": "RISE" if chg > 0 else "FALL" if chg < 0 else "EVEN",
            "change_price": num_out(abs(chg)), "change_rate": round(abs(rate), 10),
            "signed_change_price": num_out(chg), "signed_change_rate": round(rate, 10),
            "trade_volume": round(max(1e-8, st["volume"] / 5000), 8),
            "acc_trade_price": round(st["quote_volume"], 8), "acc_trade_price_24h": round(st["quote_volume_24h"], 8),
            "acc_trade_volume": round(st["volume"], 8), "acc_trade_volume_24h": round(st["volume_24h"], 8),
            "highest_52_week_price": num_out(hi52[0]), "highest_52_week_date": hi52[1],
            "lowest_52_week_price": num_out(lo52[0]), "lowest_52_week_date": lo52[1],
            "timestamp": now,
        }

    def _52w(self, sym: str) -> tuple[tuple[float, str], tuple[float, str]]:
        mk = self.market
        key = ("52w", sym, mk.clock.now_ms() // 3_600_000)
        got = mk._day_cache.get(key)
        if got is None:
            days = mk.candles("upbit", sym, 1440, None, 365)
            hi = max(days, key=lambda c: c[2])
            lo = min(days, key=lambda c: c[3])
            d = lambda ms: datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d")  # noqa: E731
            got = ((hi[2], d(hi[0])), (lo[3], d(lo[0])))
            mk._day_cache[key] = got
        return got

    async def ticker(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        codes = split_csv(params.get("markets"))
        if not codes:
            raise err(400, 400, "Missing request parameter error. Check the required parameters!")
        return Reply(200, [self.ticker_row(self._market_sym(c)) for c in codes])

    async def ticker_all(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        quotes = [q.upper() for q in split_csv(params.get("quote_currencies"))]
        if quotes and "KRW" not in quotes:
            return Reply(200, [])
        return Reply(200, [self.ticker_row(m.split("-", 1)[1]) for m in self.market.upbit_markets()])

    def orderbook_row(self, sym: str, count: int | None = None) -> dict:
        bids, asks = self.market.upbit_book(sym, count or self.market.levels)
        n = min(len(bids), len(asks))
        units = [{"ask_price": num_out(asks[i][0]), "bid_price": num_out(bids[i][0]),
                  "ask_size": asks[i][1], "bid_size": bids[i][1]} for i in range(n)]
        return {"market": f"KRW-{sym}", "timestamp": self.market.clock.now_ms(),
                "total_ask_size": round(sum(a[1] for a in asks[:n]), 8),
                "total_bid_size": round(sum(b[1] for b in bids[:n]), 8),
                "orderbook_units": units, "level": 0}

    async def orderbook(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        codes = split_csv(params.get("markets"))
        if not codes:
            raise err(400, 400, "Missing request parameter error. Check the required parameters!")
        count = params.get("count")
        n = None
        if count not in (None, ""):
            try:
                n = max(1, min(int(count), 30))
            except ValueError:
                raise err(400, "validation_error", "count does not have a valid value") from None
        return Reply(200, [self.orderbook_row(self._market_sym(c), n) for c in codes])

    async def instruments(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        codes = split_csv(params.get("markets")) or self.market.upbit_markets()
        out = []
        for c in codes:
            sym = self._market_sym(c)
            t = upbit_tick(self.market.upbit_last(sym), f"KRW-{sym}")
            out.append({"market": f"KRW-{sym}", "quote_currency": "KRW",
                        "tick_size": fmt_num(t).rstrip("0").rstrip(".") if t >= 1 else fmt_num(t),
                        "supported_levels": ["0"]})
        return Reply(200, out)

    def _candle_rows(self, sym: str, unit: int, params: dict) -> list[dict]:
        mk = self.market
        try:
            count = int(params.get("count") or 1)
        except ValueError:
            raise err(400, "validation_error", "count does not have a valid value") from None
        count = max(1, min(count, 200))
        to = params.get("to")
        end_ms = None
        if to not in (None, ""):
            try:
                end_ms = parse_to(str(to)) - 1  # exclusive
            except ValueError:
                raise err(400, "validation_error", "to does not have a valid value") from None
        rows = mk.candles("upbit", sym, unit, end_ms, count)
        now = mk.clock.now_ms()
        out = []
        prev_close = None
        for c in rows:
            t0, o, h, lo, cl, v = c
            utc = datetime.fromtimestamp(t0 / 1000, timezone.utc)
            row = {"market": f"KRW-{sym}",
                   "candle_date_time_utc": utc.strftime("%Y-%m-%dT%H:%M:%S"),
                   "candle_date_time_kst": utc.astimezone(KST).strftime("%Y-%m-%dT%H:%M:%S"),
                   "opening_price": num_out(o), "high_price": num_out(h), "low_price": num_out(lo),
                   "trade_price": num_out(cl), "timestamp": min(now, t0 + unit * 60000 - 1),
                   "candle_acc_trade_price": round(v * cl, 8), "candle_acc_trade_volume": round(v, 8)}
            if unit == 1440:
                pc = prev_close if prev_close is not None else o
                row.update({"prev_closing_price": num_out(pc), "change_price": num_out(cl - pc),
                            "change_rate": round((cl - pc) / pc, 10) if pc else 0.0})
            else:
                row["unit"] = unit
            prev_close = cl
            out.append(row)
        out.reverse()  # newest first
        return out

    async def candles_minutes(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        try:
            unit = int(request.match_info["unit"])
        except ValueError:
            unit = -1
        if unit not in UNITS:
            raise err(400, "validation_error", "unit does not have a valid value")
        sym = self._market_sym(params.get("market"))
        return Reply(200, self._candle_rows(sym, unit, params))

    async def candles_days(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        sym = self._market_sym(params.get("market"))
        return Reply(200, self._candle_rows(sym, 1440, params))

    # ------------------------------------------------------------------ accounts
    def _account_row(self, cur: str) -> dict:
        mk = self.market
        return {"currency": cur, "balance": fmt_num(mk.upbit_balances.get(cur, 0.0)),
                "locked": fmt_num(mk.upbit_locked.get(cur, 0.0)),
                "avg_buy_price": "0" if cur == "KRW" else fmt_num(mk.upbit_avg_buy_price.get(cur, 0.0), 8).removesuffix(".0"),
                "avg_buy_price_modified": False, "unit_currency": "KRW"}

    async def accounts(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        self._authenticate(request, params)
        mk = self.market
        curs = ["KRW"] + sorted(c for c in set(mk.upbit_balances) | set(mk.upbit_locked)
                                if c != "KRW" and (mk.upbit_balances.get(c, 0) > 0 or mk.upbit_locked.get(c, 0) > 0))
        return Reply(200, [self._account_row(c) for c in curs])

    async def api_keys(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        """``GET /v1/api_keys`` (API Key 목록 조회): every key of the account with its expiry, nothing
        about its permissions. The fake account has one key, valid for a year from now."""
        self._authenticate(request, params)
        expire = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=self.api_key_valid_days)
        return Reply(200, [{"access_key": self.access_key, "expire_at": expire.isoformat()}])

    async def chance(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        self._authenticate(request, params)
        m = str(params.get("market", "")).upper()
        if not m:
            raise err(400, "validation_error", "market is missing")
        sym = self._market_sym(m)
        fee = fmt_num(FEE)
        return Reply(200, {
            "bid_fee": fee, "ask_fee": fee, "maker_bid_fee": fee, "maker_ask_fee": fee,
            "market": {"id": m, "name": f"{sym}/KRW", "order_types": ["limit"], "order_sides": ["ask", "bid"],
                       "bid_types": ["limit", "price"], "ask_types": ["limit", "market"],
                       "bid": {"currency": "KRW", "price_unit": None, "min_total": "5000"},
                       "ask": {"currency": sym, "price_unit": None, "min_total": "5000"},
                       "max_total": "1000000000", "state": "active"},
            "bid_account": self._account_row("KRW"), "ask_account": self._account_row(sym),
        })

    # ------------------------------------------------------------------ orders
    def _num(self, params: dict, key: str, *, required: bool) -> float | None:
        v = params.get(key)
        if v in (None, "", "null"):
            if required:
                raise err(400, "validation_error", f"{key} is missing")
            return None
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise err(400, "validation_error", f"{key} does not have a valid value") from None
        if not x > 0 or x != x:
            raise err(400, "validation_error", f"{key} does not have a valid value")
        return x

    def _order_view(self, o: dict, *, with_trades: bool = False, accepted: bool = False) -> dict:
        """The wire form. ``accepted``: the snapshot a POST answers with (nothing executed yet)."""
        ex_v = 0.0 if accepted else o["executed_volume"]
        ex_f = 0.0 if accepted else o["executed_funds"]
        paid = 0.0 if accepted else o["paid_fee"]
        state = "wait" if accepted else o["state"]
        vol = o["volume"]
        view: dict[str, Any] = {
            "uuid": o["uuid"], "side": o["side"], "ord_type": o["ord_type"],
            "price": None if o["price"] is None else fmt_num(o["price"]),
            "state": state, "market": o["market"], "created_at": kst_iso(o["created_ms"]),
            "volume": None if vol is None else fmt_num(vol),
            "remaining_volume": None if vol is None else fmt_num(max(0.0, vol - ex_v) if state == "wait" else
                                                                 (0.0 if state == "done" else max(0.0, vol - ex_v))),
            "reserved_fee": fmt_num(o["reserved_fee"]),
            "remaining_fee": fmt_num(o["reserved_fee"] if accepted else o["remaining_fee"]),
            "paid_fee": fmt_num(paid),
            "locked": fmt_num(o["locked0"] if accepted else o["locked"]),
            "executed_volume": fmt_num(ex_v), "executed_funds": fmt_num(ex_f),
            "trades_count": 0 if accepted else len(o["trades"]),
            "prevented_volume": "0", "prevented_locked": "0",
        }
        if o.get("time_in_force"):
            view["time_in_force"] = o["time_in_force"]
        if o.get("identifier") is not None:
            view["identifier"] = o["identifier"]
        if with_trades:
            view["trades"] = [dict(t) for t in o["trades"]]
        return view

    async def create_order(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        self._authenticate(request, params)
        mk = self.market
        market = str(params.get("market", "")).upper()
        if not market:
            raise err(400, "validation_error", "market is missing")
        if market not in mk.upbit_markets():
            raise err(400, "validation_error", "market does not have a valid value")
        sym = market.split("-", 1)[1]
        side = params.get("side")
        if side not in ("bid", "ask"):
            raise err(400, "validation_error", "side is missing, side does not have a valid value")
        ord_type = params.get("ord_type")
        if ord_type not in ("limit", "price", "market", "best"):
            raise err(400, "validation_error", "ord_type does not have a valid value")
        ident = params.get("identifier")
        if ident is not None and str(ident) in self.by_identifier:  # (single use: see claim_client_id)
            raise err(400, "duplicated_identifier", MSG["duplicated_identifier"])
        tif = params.get("time_in_force")
        cerr = "create_bid_error" if side == "bid" else "create_ask_error"
        price = self._num(params, "price", required=ord_type in ("limit", "price"))
        volume = self._num(params, "volume", required=ord_type in ("limit", "market"))
        if ord_type == "price" and (side != "bid" or volume is not None):
            raise err(400, cerr, MSG["create_error"])
        if ord_type == "market" and (side != "ask" or price is not None):
            raise err(400, cerr, MSG["create_error"])
        if ord_type == "best":
            raise err(400, cerr, MSG["create_error"])
        if ord_type == "limit":
            assert price is not None
            if abs(upbit_round(price, market) - price) > 1e-9 * max(1.0, price):
                raise err(400, f"invalid_price_{side}", MSG["invalid_price"])
        bids, asks = mk.upbit_book(sym, 30)
        # --- minimum total and funds
        if ord_type == "limit":
            total = price * volume  # type: ignore[operator]
        elif ord_type == "price":
            total = price  # type: ignore[assignment]
        else:
            total = volume * bids[0][0]  # type: ignore[operator]
        if total < MIN_TOTAL_KRW:
            raise err(400, f"under_min_total_{side}", MSG["under_min_total"])
        if side == "bid":
            need = total * (1 + FEE)
            if mk.upbit_balances.get("KRW", 0.0) + 1e-6 < need:
                raise err(400, "insufficient_funds_bid", "주문가능한 금액(KRW)이 부족합니다.")
        else:
            if mk.upbit_balances.get(sym, 0.0) + 1e-12 < volume:  # type: ignore[operator]
                raise err(400, "insufficient_funds_ask", f"주문가능한 금액({sym})이 부족합니다.")
        # --- accept
        now = mk.clock.now_ms()
        o: dict[str, Any] = {
            "uuid": str(uuidlib.uuid4()), "side": side, "ord_type": ord_type, "price": price, "volume": volume,
            "market": market, "sym": sym, "created_ms": now, "identifier": None if ident is None else str(ident),
            "time_in_force": tif, "state": "wait", "executed_volume": 0.0, "executed_funds": 0.0, "paid_fee": 0.0,
            "trades": [],
        }
        reserved_fee = total * FEE if side == "bid" else 0.0  # an ask's fee comes out of the proceeds
        o["reserved_fee"] = reserved_fee
        o["remaining_fee"] = reserved_fee
        o["locked0"] = total * (1 + FEE) if side == "bid" else volume
        o["locked"] = o["locked0"]
        if o["identifier"] is not None:
            self.by_identifier[o["identifier"]] = o["uuid"]
        self.orders[o["uuid"]] = o
        frac = fault.fraction if (fault is not None and fault.kind == "partial") else 1.0
        # lock funds, then fill what is marketable
        cur = "KRW" if side == "bid" else sym
        mk.upbit_balances[cur] = mk.upbit_balances.get(cur, 0.0) - o["locked"]
        mk.upbit_locked[cur] = mk.upbit_locked.get(cur, 0.0) + o["locked"]
        if ord_type == "price":
            fills = walk_book(asks, quote=price * frac, side="buy")  # type: ignore[operator]
        elif ord_type == "market":
            fills = walk_book(bids, qty=round(volume * frac, 8), side="sell")  # type: ignore[operator]
        elif side == "bid":
            fills = walk_book(asks, qty=round(volume * frac, 8), limit=price, side="buy")  # type: ignore[operator]
        else:
            fills = walk_book(bids, qty=round(volume * frac, 8), limit=price, side="sell")  # type: ignore[operator]
        self._apply_fills(o, fills, now)
        remaining = (volume or 0.0) - o["executed_volume"]
        if ord_type == "price":
            unspent = price * frac - o["executed_funds"]  # type: ignore[operator]
            full = frac >= 1.0 and unspent <= asks[-1][0] * 1e-8 + 1.0
            self._close(o, "done" if full else "cancel")
        elif ord_type == "market":
            self._close(o, "done" if frac >= 1.0 and remaining <= 1e-9 else "cancel")
        elif frac < 1.0 or tif in ("ioc", "fok"):
            self._close(o, "done" if remaining <= 1e-9 else "cancel")
        elif remaining <= 1e-9:
            self._close(o, "done")
        # else: rests as "wait" with the rest locked
        return Reply(201, self._order_view(o, accepted=True))

    def _apply_fills(self, o: dict, fills: list[tuple[float, float]], now: int) -> None:
        mk = self.market
        sym = o["sym"]
        for p, q in fills:
            funds = p * q
            fee = funds * FEE
            self._trade_seq += 1
            o["trades"].append({"market": o["market"], "uuid": str(uuidlib.uuid4()), "price": fmt_num(p),
                                "volume": fmt_num(q), "funds": fmt_num(funds), "trend": "up" if o["side"] == "bid" else "down",
                                "created_at": kst_iso(now), "side": o["side"]})
            o["executed_volume"] = round(o["executed_volume"] + q, 8)
            o["executed_funds"] += funds
            o["paid_fee"] += fee
            o["remaining_fee"] = max(0.0, o["remaining_fee"] - fee)
            if o["side"] == "bid":
                used = funds + fee
                o["locked"] -= used
                mk.upbit_locked["KRW"] = mk.upbit_locked.get("KRW", 0.0) - used
                held = mk.upbit_balances.get(sym, 0.0)
                avg = mk.upbit_avg_buy_price.get(sym, 0.0)
                mk.upbit_avg_buy_price[sym] = (held * avg + funds) / (held + q) if held + q > 0 else 0.0
                mk.upbit_balances[sym] = round(held + q, 8)
            else:
                o["locked"] -= q
                mk.upbit_locked[sym] = round(mk.upbit_locked.get(sym, 0.0) - q, 8)
                mk.upbit_balances["KRW"] = mk.upbit_balances.get("KRW", 0.0) + funds - fee

    def _close(self, o: dict, state: str) -> None:
        """Finish an order: release what is still locked."""
        mk = self.market
        cur = "KRW" if o["side"] == "bid" else o["sym"]
        left = max(0.0, o["locked"])
        mk.upbit_locked[cur] = max(0.0, mk.upbit_locked.get(cur, 0.0) - left)
        mk.upbit_balances[cur] = mk.upbit_balances.get(cur, 0.0) + left
        if cur != "KRW":
            mk.upbit_locked[cur] = round(mk.upbit_locked[cur], 8)
            mk.upbit_balances[cur] = round(mk.upbit_balances[cur], 8)
        o["locked"] = 0.0
        o["remaining_fee"] = 0.0
        o["state"] = state

    def _find(self, params: dict) -> dict:
        u = params.get("uuid")
        ident = params.get("identifier")
        o = None
        if u:
            o = self.orders.get(str(u))
        elif ident:
            uid = self.by_identifier.get(str(ident))
            o = self.orders.get(uid) if uid else None
        else:
            raise err(400, "validation_error", "uuid or identifier is missing")
        if o is None:
            raise err(404, "order_not_found", MSG["order_not_found"])
        return o

    async def get_order(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        self._authenticate(request, params)
        return Reply(200, self._order_view(self._find(params), with_trades=True))

    async def cancel_order(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        self._authenticate(request, params)
        o = self._find(params)
        if o["state"] != "wait":
            raise err(404, "order_not_found", MSG["order_not_found"])
        view = self._order_view(o)
        self._close(o, "cancel")
        return Reply(200, view)

    def _select(self, params: dict, states: set[str]) -> list[dict]:
        market = params.get("market")
        uuids = set(map(str, params.get("uuids[]", []) or []))
        idents = set(map(str, params.get("identifiers[]", []) or []))
        out = [o for o in self.orders.values() if o["state"] in states
               and (not market or o["market"] == str(market).upper())
               and (not uuids or o["uuid"] in uuids) and (not idents or o.get("identifier") in idents)]
        desc = str(params.get("order_by", "desc")).lower() != "asc"
        out.sort(key=lambda o: o["created_ms"], reverse=desc)
        try:
            limit = max(1, min(int(params.get("limit") or 100), 1000))
            page = max(1, int(params.get("page") or 1))
        except ValueError:
            raise err(400, "validation_error", "limit does not have a valid value") from None
        return out[(page - 1) * limit: page * limit]

    async def list_orders(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        self._authenticate(request, params)
        states = set(params.get("states[]", []) or []) or {str(params.get("state") or "wait")}
        if params.get("uuids[]") or params.get("identifiers[]"):
            states = states if (params.get("states[]") or params.get("state")) else {"wait", "watch", "done", "cancel"}
        return Reply(200, [self._order_view(o) for o in self._select(params, states)])

    async def open_orders(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        self._authenticate(request, params)
        states = set(params.get("states[]", []) or []) or {str(params.get("state") or "wait")}
        return Reply(200, [self._order_view(o) for o in self._select(params, states & {"wait", "watch"})])

    async def closed_orders(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        self._authenticate(request, params)
        states = set(params.get("states[]", []) or []) or ({str(params["state"])} if params.get("state") else {"done", "cancel"})
        return Reply(200, [self._order_view(o) for o in self._select(params, states & {"done", "cancel"})])

    # ------------------------------------------------------------------ websocket
    def ws_ticker(self, sym: str, stream_type: str) -> dict:
        row = self.ticker_row(sym)
        msg = {"type": "ticker", "code": row.pop("market")}
        msg.update(row)
        msg.update({"ask_bid": "BID", "acc_ask_volume": round(row["acc_trade_volume"] / 2, 8),
                    "acc_bid_volume": round(row["acc_trade_volume"] / 2, 8), "market_state": "ACTIVE",
                    "is_trading_suspended": False, "delisting_date": None, "market_warning": "NONE",
                    "stream_type": stream_type})
        for k in ("trade_date_kst", "trade_time_kst"):
            msg.pop(k, None)
        return msg

    def ws_orderbook(self, sym: str, count: int | None, stream_type: str) -> dict:
        row = self.orderbook_row(sym, count)
        msg = {"type": "orderbook", "code": row.pop("market")}
        msg.update(row)
        msg["stream_type"] = stream_type
        return msg

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=None, autoping=True, max_msg_size=1 << 20)
        await ws.prepare(request)
        self._ws.add(ws)
        self.servers.note_ws_connect("upbit")
        waker: Waker = self.servers._waker
        ev = asyncio.Event()
        waker.events.add(ev)
        subs: list[tuple[str, str, int | None]] = []  # (type, sym, count)
        storm_checked = False
        pusher: asyncio.Task | None = None

        async def send(msg: dict) -> bool:
            f = self.market.faults.take("upbit", "ws")
            if f is not None:
                if f.kind == "drop":
                    await ws.close()
                    return False
                if f.kind == "silence":
                    await asyncio.sleep(f.wait_s)
                    return not ws.closed
                if f.kind in ("nan", "negative"):
                    msg = corrupt(msg, f.kind)
                elif f.kind == "malformed":
                    await ws.send_bytes(truncate(dumps(msg)))
                    return True
            await ws.send_bytes(dumps(msg))
            return True

        try:
            async for msg in ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    raw = msg.data if isinstance(msg.data, str) else msg.data.decode("utf-8", "replace")
                    if raw.strip() == "PING":
                        await ws.send_str('{"status":"UP"}')
                        continue
                    try:
                        req = json.loads(raw)
                        if not isinstance(req, list):
                            raise ValueError
                    except Exception:
                        await ws.send_bytes(dumps({"error": {"name": "WRONG_FORMAT", "message": "잘못된 형식입니다."}}))
                        continue
                    new: list[tuple[str, str, int | None]] = []
                    realtime_only = snapshot_only = False
                    bad = False
                    for part in req:
                        if not isinstance(part, dict) or "type" not in part:
                            continue
                        typ = part.get("type")
                        if typ not in ("ticker", "orderbook"):
                            bad = True
                            continue
                        realtime_only = realtime_only or bool(part.get("is_only_realtime"))
                        snapshot_only = snapshot_only or bool(part.get("is_only_snapshot"))
                        for code in part.get("codes") or []:
                            c = str(code)
                            cnt = None
                            if "." in c:
                                c, _, n = c.partition(".")
                                cnt = int(n) if n.isdigit() else None
                            if c.upper() != c or c not in self.market.upbit_markets():
                                bad = True
                                continue
                            new.append((typ, c.split("-", 1)[1], cnt))
                    if bad and not new:
                        await ws.send_bytes(dumps({"error": {"name": "INVALID_PARAM", "message": "잘못된 요청입니다."}}))
                        continue
                    if not storm_checked:
                        storm_checked = True
                        f = self.market.faults.take("upbit", "ws", connection=True)
                        if f is not None and f.kind == "storm":  # Upbit sends no ack: close before any data
                            await ws.close()
                            break
                    subs[:] = new  # a new request replaces the previous subscription
                    if pusher is not None:
                        pusher.cancel()
                    pusher = asyncio.ensure_future(self._push(ws, ev, subs, send, not realtime_only, snapshot_only))
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
        except Exception:
            pass
        finally:
            await self.ws_ended(ws, pusher, waker, ev)
        return ws

    async def _push(self, ws: web.WebSocketResponse, ev: asyncio.Event, subs: list, send: Any,
                    snapshot_first: bool, only_snapshot: bool) -> None:
        try:
            stream = "SNAPSHOT"
            if not snapshot_first:
                stream = "REALTIME"
                try:
                    await asyncio.wait_for(ev.wait(), timeout=self.servers.push_interval_s)
                except asyncio.TimeoutError:
                    pass
            while not ws.closed:
                ev.clear()
                for typ, sym, cnt in list(subs):
                    msg = self.ws_ticker(sym, stream) if typ == "ticker" else self.ws_orderbook(sym, cnt, stream)
                    if not await send(msg):
                        return
                if only_snapshot:
                    return
                stream = "REALTIME"
                try:
                    await asyncio.wait_for(ev.wait(), timeout=self.servers.push_interval_s)
                except asyncio.TimeoutError:
                    pass
        except asyncio.CancelledError:
            raise
        except Exception:  # a closed socket or a bug never kills the server
            return
