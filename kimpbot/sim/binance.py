"""Fake Binance USDⓈ-M futures: REST (public + signed) and the public market websocket.

Follows the Binance USDⓈ-M Futures API
(https://developers.binance.com/docs/derivatives/usds-margined-futures) as ccxt 4.5
``binanceusdm`` calls and parses it:

* numbers are strings (``"60000.10"``); errors are ``{"code": -NNNN, "msg": ...}`` with the real
  codes and HTTP statuses: -1022 bad signature, -2014/-2015 bad API key (401), -1021 timestamp
  outside ``recvWindow``, -1102 missing parameter, -1121 invalid symbol, -1111 precision,
  -4164 notional too small, -2019 margin insufficient, -2022 reduce-only rejected,
  -4116 ``ClientOrderId is duplicated.`` (unique among OPEN orders, as the real API says),
  -4015 client id not valid, -2013 order does not exist, -2011 unknown order, -1003 (429);
* signed requests: HMAC-SHA256 (hex) of the query string concatenated with the body, without the
  ``signature`` parameter; header ``X-MBX-APIKEY``; ``timestamp`` within ``recvWindow`` (default
  5000 ms, checked against this machine's wall clock, as ``/fapi/v1/time`` reports it);
* one-way position mode, cross margin, default leverage 20: positions per symbol
  (``positionAmt``, ``entryPrice``, ``unRealizedProfit`` at the mark price), USDT wallet moved by
  fills (taker 0.05 %, maker 0.02 %), realized PnL and funding (every 00/08/16 UTC, booked as
  ``FUNDING_FEE`` income);
* MARKET orders take the book at once; ``newOrderRespType=RESULT`` answers ``FILLED`` with
  ``avgPrice``/``executedQty``/``cumQuote`` (ACK, the API default, answers ``NEW``);
* websocket at ``/public/ws`` (aliases ``/ws``, ``/market/ws``, ``/public/ws/<streams>``) and the
  combined ``/public/stream?streams=a/b``: ``SUBSCRIBE``/``UNSUBSCRIBE``/``LIST_SUBSCRIPTIONS``;
  ``<sym>@bookTicker``, ``<sym>@depth5|10|20[@100ms|@250ms|@500ms]`` (``depthUpdate`` with
  ``U``/``u``/``pu``) and ``<sym>@markPrice[@1s]`` text frames.

Simplified: resting LIMIT orders never fill later and reserve no margin; no hedge mode, no
isolated-margin maths (the setting is stored), no liquidation; depth serves at most 100 levels.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
from typing import Any

from aiohttp import WSMsgType, web

from kimpbot.sim._common import LATE_BOOKING, RAW_BODY, ApiError, FakeBase, Reply, Waker, corrupt, dumps, split_csv, truncate
from kimpbot.sim.faults import Fault
from kimpbot.sim.market import binance_spec, round_to, walk_book

TAKER = 0.0005
MAKER = 0.0002
DEFAULT_LEVERAGE = 20
CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
INTERVALS = {"1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "2h": 120, "4h": 240, "6h": 360,
             "8h": 480, "12h": 720, "1d": 1440}
EIGHT_H = 8 * 3600 * 1000


def err(status: int, code: int, msg: str) -> ApiError:
    return ApiError(Reply(status, {"code": code, "msg": msg}))


def missing(name: str) -> ApiError:
    return err(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class BinanceFake(FakeBase):
    venue = "binance"

    def __init__(self, servers: Any, *, api_key: str, api_secret: str, check_signatures: bool = True) -> None:
        super().__init__(servers)
        self.api_key = api_key
        self.api_secret = api_secret
        self.check_signatures = check_signatures
        self.orders: dict[int, dict] = {}
        self.trades: list[dict] = []
        self.income: list[dict] = []
        self.positions: dict[str, dict] = {}
        self.leverage: dict[str, int] = {}
        self.margin_type: dict[str, str] = {}
        self._order_seq = 8_389_765_500_000_000
        self._trade_seq = 5_000_000
        self._tran_seq = 9_000_000_000
        self._last_funding_ms = self.market.clock.now_ms()
        self._wallet_update_ms = wall_ms()
        r = self.app.router
        g = self.route
        for path, fn in (
            ("/fapi/v1/ping", self.ping), ("/fapi/v1/time", self.time_), ("/fapi/v1/exchangeInfo", self.exchange_info),
            ("/fapi/v1/depth", self.depth), ("/fapi/v1/ticker/bookTicker", self.book_ticker),
            ("/fapi/v1/ticker/price", self.ticker_price), ("/fapi/v2/ticker/price", self.ticker_price),
            ("/fapi/v1/ticker/24hr", self.ticker_24hr), ("/fapi/v1/klines", self.klines),
            ("/fapi/v1/premiumIndex", self.premium_index), ("/fapi/v1/fundingRate", self.funding_rate),
            ("/fapi/v1/fundingInfo", self.funding_info),
            ("/fapi/v3/account", self.account), ("/fapi/v2/account", self.account),
            ("/fapi/v2/balance", self.balance), ("/fapi/v3/balance", self.balance),
            ("/fapi/v3/positionRisk", self.position_risk), ("/fapi/v2/positionRisk", self.position_risk),
            ("/fapi/v1/leverageBracket", self.leverage_bracket), ("/fapi/v1/positionSide/dual", self.dual_side),
            ("/fapi/v1/order", self.get_order), ("/fapi/v1/openOrders", self.open_orders),
            ("/fapi/v1/openOrder", self.open_order), ("/fapi/v1/allOrders", self.all_orders),
            ("/fapi/v1/income", self.get_income), ("/fapi/v1/userTrades", self.user_trades),
            ("/fapi/v1/commissionRate", self.commission_rate),
        ):
            r.add_get(path, g(fn))
        r.add_post("/fapi/v1/order", g(self.new_order))
        r.add_delete("/fapi/v1/order", g(self.cancel_order))
        r.add_delete("/fapi/v1/allOpenOrders", g(self.cancel_all))
        r.add_post("/fapi/v1/leverage", g(self.set_leverage))
        r.add_post("/fapi/v1/marginType", g(self.set_margin_type))
        for p in ("/public/ws", "/ws", "/market/ws", "/public/ws/{streams:.+}", "/ws/{streams:.+}",
                  "/market/ws/{streams:.+}", "/public/stream", "/stream", "/market/stream"):
            r.add_get(p, self.websocket)

    # ------------------------------------------------------------------ plumbing
    def common_headers(self, path: str, method: str) -> dict[str, str]:
        h = {"X-MBX-USED-WEIGHT-1M": "5"}
        if path == "/fapi/v1/order" and method == "POST":
            h["X-MBX-ORDER-COUNT-10S"] = "1"
            h["X-MBX-ORDER-COUNT-1M"] = "1"
        return h

    def is_order_endpoint(self, method: str, path: str) -> bool:
        return method == "POST" and path == "/fapi/v1/order"

    def error_reply(self, status: int, code: Any, message: str) -> Reply:
        return Reply(status, {"code": code if isinstance(code, int) else -1000, "msg": message})

    def too_many_reply(self, path: str) -> Reply:
        return Reply(429, {"code": -1003, "msg": "Too many requests; current limit of IP(127.0.0.1) is 2400 requests "
                                                  "per minute. Please use the websocket for live updates to avoid "
                                                  "polling the API."}, headers={"Retry-After": "10"})

    def unknown_reply(self, path: str) -> Reply:
        # Binance: "HTTP 503 ... the API successfully sent the message but not get a response within
        # the timeout period ... the execution status is UNKNOWN and could have been a success"
        return Reply(503, {"code": -1007, "msg": "Timeout waiting for response from backend server. Send status "
                                                 "unknown; execution status unknown."})

    def not_found_reply(self, request: web.Request) -> Reply:
        return Reply(404, {"code": -5000, "msg": f"Path {request.path}, Method {request.method} is invalid"})

    def reject_reply(self, path: str, params: dict, fault: Fault) -> Reply:
        if fault.error:
            try:
                code = int(fault.error)
            except ValueError:
                code = -1000
            return Reply(400, {"code": code, "msg": KNOWN_MSG.get(code, "An unknown error occured while processing "
                                                                         "the request.")})
        if path == "/fapi/v1/order":
            return Reply(400, {"code": -2019, "msg": "Margin is insufficient."})
        return Reply(503, {"code": -1008, "msg": "Server is currently overloaded with other requests. Please try "
                                                 "again in a few minutes."})

    def _auth(self, request: web.Request, params: dict) -> None:
        if request.get(LATE_BOOKING):  # a "late" fault's booking: checked when the request arrived
            return
        key = request.headers.get("X-MBX-APIKEY")
        if not key:
            raise err(401, -2014, "API-key format invalid.")
        if key != self.api_key:
            raise err(401, -2015, "Invalid API-key, IP, or permissions for action, request ip: 127.0.0.1")
        if not self.check_signatures:
            return
        sig = params.get("signature")
        if not sig:
            raise missing("signature")
        ts = params.get("timestamp")
        if ts in (None, ""):
            raise missing("timestamp")

        def strip(s: str) -> str:
            return "&".join(p for p in s.split("&") if p and not p.startswith("signature="))

        body = request.get(RAW_BODY, b"").decode("utf-8", "replace")
        payload = strip(request.query_string) + strip(body)
        want = hmac.new(self.api_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, str(sig).lower()):
            raise err(400, -1022, "Signature for this request is not valid.")
        try:
            ts_i = int(ts)
            rw = int(params.get("recvWindow") or 5000)
        except ValueError:
            raise err(400, -1102, "Illegal characters found in parameter 'timestamp'; legal range is '^[0-9]{1,20}$'.") from None
        if rw > 60000 or rw <= 0:
            raise err(400, -1131, "recvWindow must be less than 60000")
        now = wall_ms()
        if ts_i > now + 1000 or now - ts_i > rw:
            raise err(400, -1021, "Timestamp for this request is outside of the recvWindow.")

    def _sym(self, params: dict, required: bool = True) -> str | None:
        s = params.get("symbol")
        if s in (None, ""):
            if required:
                raise missing("symbol")
            return None
        s = str(s).upper()
        if not s.endswith("USDT") or s[:-4] not in self.market.symbols:
            raise err(400, -1121, "Invalid symbol.")
        return s[:-4]

    def _px(self, sym: str, x: float) -> str:
        spec = binance_spec(sym)
        return f"{x:.{spec['pricePrecision']}f}"

    def _qty(self, sym: str, x: float) -> str:
        spec = binance_spec(sym)
        return f"{x:.{spec['quantityPrecision']}f}"

    # ------------------------------------------------------------------ accounting
    def _pos(self, sym: str) -> dict:
        return self.positions.setdefault(sym, {"amt": 0.0, "entry": 0.0, "update": 0})

    def _upnl(self, sym: str) -> float:
        p = self.positions.get(sym)
        if not p or p["amt"] == 0:
            return 0.0
        return p["amt"] * (self.market.mark_price(sym) - p["entry"])

    def _margin_used(self, override: dict[str, float] | None = None) -> float:
        total = 0.0
        for s in self.market.symbols:
            amt = (override or {}).get(s, self.positions.get(s, {}).get("amt", 0.0))
            total += abs(amt) * self.market.mark_price(s) / self.leverage.get(s, DEFAULT_LEVERAGE)
        return total

    def _settle_funding(self) -> None:
        """Book funding for every 00/08/16 UTC passed since the last look."""
        now = self.market.clock.now_ms()
        t = (self._last_funding_ms // EIGHT_H + 1) * EIGHT_H
        while t <= now:
            for s, p in self.positions.items():
                if p["amt"] == 0:
                    continue
                rate = self.market.funding_rate.get(s, 0.0001)
                pay = -p["amt"] * self.market.mark_price(s) * rate
                self.market.binance_usdt += pay
                self._add_income(s, "FUNDING_FEE", pay, t)
            t += EIGHT_H
        self._last_funding_ms = now

    def _add_income(self, sym: str, kind: str, amount: float, t: int, trade_id: str = "") -> None:
        self._tran_seq += 1
        self.income.append({"symbol": f"{sym}USDT" if sym else "", "incomeType": kind, "income": f"{amount:.8f}",
                            "asset": "USDT", "info": kind if kind == "FUNDING_FEE" else trade_id,
                            "time": t, "tranId": self._tran_seq, "tradeId": trade_id})

    # ------------------------------------------------------------------ public
    async def ping(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        return Reply(200, {})

    async def time_(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        return Reply(200, {"serverTime": wall_ms()})

    def symbol_info(self, sym: str) -> dict:
        spec = binance_spec(sym)
        return {
            "symbol": f"{sym}USDT", "pair": f"{sym}USDT", "contractType": "PERPETUAL", "deliveryDate": 4133404800000,
            "onboardDate": spec["onboardDate"], "status": "TRADING", "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000", "baseAsset": sym, "quoteAsset": "USDT", "marginAsset": "USDT",
            "pricePrecision": spec["pricePrecision"], "quantityPrecision": spec["quantityPrecision"],
            "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN",
            "underlyingSubType": spec["underlyingSubType"], "settlePlan": 0, "triggerProtect": "0.0500",
            "liquidationFee": "0.012500", "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
            "filters": [
                {"minPrice": spec["minPrice"], "maxPrice": spec["maxPrice"], "filterType": "PRICE_FILTER",
                 "tickSize": spec["tickSize"]},
                {"stepSize": spec["stepSize"], "filterType": "LOT_SIZE", "maxQty": spec["maxQty"], "minQty": spec["minQty"]},
                {"stepSize": spec["stepSize"], "filterType": "MARKET_LOT_SIZE", "maxQty": spec["marketMaxQty"],
                 "minQty": spec["minQty"]},
                {"limit": 200, "filterType": "MAX_NUM_ORDERS"},
                {"limit": 10, "filterType": "MAX_NUM_ALGO_ORDERS"},
                {"notional": spec["notional"], "filterType": "MIN_NOTIONAL"},
                {"multiplierDown": "0.9500", "multiplierUp": "1.0500", "multiplierDecimal": "4",
                 "filterType": "PERCENT_PRICE"},
            ],
            "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                           "TRAILING_STOP_MARKET"],
            "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
            "permissionSets": ["GRID", "COPY"],
        }

    async def exchange_info(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        return Reply(200, {
            "timezone": "UTC", "serverTime": wall_ms(), "futuresType": "U_MARGINED",
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
            ],
            "exchangeFilters": [],
            "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"},
                       {"asset": "BTC", "marginAvailable": True, "autoAssetExchange": "-0.10000000"}],
            "symbols": [self.symbol_info(s) for s in self.market.symbols],
        })

    def _book(self, sym: str, limit: int) -> tuple[list, list]:
        return self.market.binance_book(sym, limit)

    async def depth(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        sym = self._sym(params)
        assert sym is not None
        try:
            limit = int(params.get("limit") or 500)
        except ValueError:
            raise err(400, -1100, "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.") from None
        if limit not in (5, 10, 20, 50, 100, 500, 1000):
            raise err(400, -4021, "Invalid depth limit.")
        bids, asks = self._book(sym, min(limit, 100))
        now = self.market.clock.now_ms()
        return Reply(200, {"lastUpdateId": self.market.update_id[sym], "E": now, "T": now - 2,
                           "bids": [[self._px(sym, p), self._qty(sym, q)] for p, q in bids],
                           "asks": [[self._px(sym, p), self._qty(sym, q)] for p, q in asks]})

    def _book_ticker(self, sym: str) -> dict:
        bids, asks = self._book(sym, 1)
        return {"symbol": f"{sym}USDT", "bidPrice": self._px(sym, bids[0][0]), "bidQty": self._qty(sym, bids[0][1]),
                "askPrice": self._px(sym, asks[0][0]), "askQty": self._qty(sym, asks[0][1]),
                "time": self.market.clock.now_ms(), "lastUpdateId": self.market.update_id[sym]}

    async def book_ticker(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        sym = self._sym(params, required=False)
        if sym:
            return Reply(200, self._book_ticker(sym))
        return Reply(200, [self._book_ticker(s) for s in self.market.symbols])

    async def ticker_price(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        def row(s: str) -> dict:
            return {"symbol": f"{s}USDT", "price": self._px(s, self.market.binance_last(s)),
                    "time": self.market.clock.now_ms()}
        sym = self._sym(params, required=False)
        return Reply(200, row(sym) if sym else [row(s) for s in self.market.symbols])

    async def ticker_24hr(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        def row(s: str) -> dict:
            mk = self.market
            now = mk.clock.now_ms()
            bars = mk.candles("binance", s, 60, now, 25)
            last = mk.binance_last(s)
            open_ = bars[0][4] if bars else last
            vol = sum(b[5] for b in bars[1:])
            qv = sum(b[5] * b[4] for b in bars[1:])
            return {"symbol": f"{s}USDT", "priceChange": self._px(s, last - open_),
                    "priceChangePercent": f"{(last / open_ - 1) * 100:.3f}",
                    "weightedAvgPrice": self._px(s, qv / vol if vol else last), "lastPrice": self._px(s, last),
                    "lastQty": self._qty(s, float(binance_spec(s)["minQty"])), "openPrice": self._px(s, open_),
                    "highPrice": self._px(s, max([b[2] for b in bars] + [last])),
                    "lowPrice": self._px(s, min([b[3] for b in bars] + [last])),
                    "volume": self._qty(s, vol), "quoteVolume": f"{qv:.2f}", "openTime": now - 86_400_000,
                    "closeTime": now, "firstId": 1, "lastId": 1000, "count": 1000}
        sym = self._sym(params, required=False)
        return Reply(200, row(sym) if sym else [row(s) for s in self.market.symbols])

    async def klines(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        sym = self._sym(params)
        assert sym is not None
        interval = params.get("interval")
        if interval in (None, ""):
            raise missing("interval")
        unit = INTERVALS.get(str(interval))
        if unit is None:
            raise err(400, -1120, "Invalid interval.")
        try:
            limit = int(params.get("limit") or 500)
            start = int(params["startTime"]) if params.get("startTime") not in (None, "") else None
            end = int(params["endTime"]) if params.get("endTime") not in (None, "") else None
        except ValueError:
            raise err(400, -1100, "Illegal characters found in a parameter.") from None
        limit = max(1, min(limit, 1500))
        mk = self.market
        now = mk.clock.now_ms()
        ums = unit * 60000
        if start is not None:
            first_open = -(-start // ums) * ums
            last_open = first_open + (limit - 1) * ums
            end_ms = min(last_open, end if end is not None else last_open, now)
            if end_ms < first_open:
                return Reply(200, [])
            count = (end_ms // ums * ums - first_open) // ums + 1
            rows = [c for c in mk.candles("binance", sym, unit, end_ms, count) if c[0] >= start]
        else:
            rows = mk.candles("binance", sym, unit, end if end is not None else now, limit)
        out = []
        for t0, o, h, lo, c, v in rows:
            qv = v * c
            out.append([t0, self._px(sym, o), self._px(sym, h), self._px(sym, lo), self._px(sym, c), self._qty(sym, v),
                        t0 + ums - 1, f"{qv:.5f}", max(1, int(v * 37) % 5000 + 100), self._qty(sym, v * 0.5),
                        f"{qv * 0.5:.5f}", "0"])
        return Reply(200, out)

    def _premium_row(self, sym: str) -> dict:
        mk = self.market
        now = mk.clock.now_ms()
        return {"symbol": f"{sym}USDT", "markPrice": f"{mk.mark_price(sym):.8f}",
                "indexPrice": f"{mk.index_price(sym):.8f}", "estimatedSettlePrice": f"{mk.index_price(sym):.8f}",
                "lastFundingRate": f"{mk.funding_rate.get(sym, 0.0001):.8f}", "interestRate": "0.00010000",
                "nextFundingTime": mk.next_funding_ms(now), "time": now}

    async def premium_index(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        self._settle_funding()
        sym = self._sym(params, required=False)
        return Reply(200, self._premium_row(sym) if sym else [self._premium_row(s) for s in self.market.symbols])

    def _rate_at(self, sym: str, t: int) -> float:
        base = self.market.funding_rate.get(sym, 0.0001)
        h = (t // EIGHT_H * 2654435761 + sum(map(ord, sym)) * 40503) % 1000
        return round(base + (h - 500) * 1e-7, 8)

    async def funding_rate(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        self._settle_funding()
        sym = self._sym(params, required=False)
        try:
            limit = max(1, min(int(params.get("limit") or 100), 1000))
            start = int(params["startTime"]) if params.get("startTime") not in (None, "") else None
            end = int(params["endTime"]) if params.get("endTime") not in (None, "") else None
        except ValueError:
            raise err(400, -1100, "Illegal characters found in a parameter.") from None
        now = self.market.clock.now_ms()
        last = min(end if end is not None else now, now) // EIGHT_H * EIGHT_H
        syms = [sym] if sym else list(self.market.symbols)
        out = []
        if start is not None:
            t = -(-start // EIGHT_H) * EIGHT_H
            times = []
            while t <= last and len(times) < limit:
                times.append(t)
                t += EIGHT_H
        else:
            times = [last - i * EIGHT_H for i in range(limit)][::-1]
        for t in times:
            for s in syms:
                out.append({"symbol": f"{s}USDT", "fundingTime": t, "fundingRate": f"{self._rate_at(s, t):.8f}",
                            "markPrice": f"{self.market.mark_price(s):.8f}"})
        return Reply(200, out[-limit:] if start is None else out[:limit])

    async def funding_info(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        return Reply(200, [{"symbol": f"{s}USDT", "adjustedFundingRateCap": "0.02000000",
                            "adjustedFundingRateFloor": "-0.02000000", "fundingIntervalHours": 8,
                            "disclaimer": False} for s in self.market.symbols])

    # ------------------------------------------------------------------ account
    def _wallet_numbers(self) -> dict[str, float]:
        self._settle_funding()
        wallet = self.market.binance_usdt
        upnl = sum(self._upnl(s) for s in self.market.symbols)
        im = self._margin_used()
        return {"wallet": wallet, "upnl": upnl, "margin": wallet + upnl, "im": im,
                "avail": max(0.0, wallet + upnl - im), "maint": im * 0.1}

    async def account(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        self._auth(request, params)
        n = self._wallet_numbers()
        f = lambda x: f"{x:.8f}"  # noqa: E731
        asset = {"asset": "USDT", "walletBalance": f(n["wallet"]), "unrealizedProfit": f(n["upnl"]),
                 "marginBalance": f(n["margin"]), "maintMargin": f(n["maint"]), "initialMargin": f(n["im"]),
                 "positionInitialMargin": f(n["im"]), "openOrderInitialMargin": "0.00000000",
                 "crossWalletBalance": f(n["wallet"]), "crossUnPnl": f(n["upnl"]),
                 "availableBalance": f(n["avail"]), "maxWithdrawAmount": f(n["avail"]),
                 "marginAvailable": True, "updateTime": self._wallet_update_ms}
        positions = []
        v2 = request.path.startswith("/fapi/v2")
        for s in self.market.symbols:
            p = self.positions.get(s)
            if not v2 and (not p or p["amt"] == 0):
                continue
            positions.append(self._position_row(s, v3=not v2, account=True))
        out = {"totalInitialMargin": f(n["im"]), "totalMaintMargin": f(n["maint"]),
               "totalWalletBalance": f(n["wallet"]), "totalUnrealizedProfit": f(n["upnl"]),
               "totalMarginBalance": f(n["margin"]), "totalPositionInitialMargin": f(n["im"]),
               "totalOpenOrderInitialMargin": "0.00000000", "totalCrossWalletBalance": f(n["wallet"]),
               "totalCrossUnPnl": f(n["upnl"]), "availableBalance": f(n["avail"]),
               "maxWithdrawAmount": f(n["avail"]), "assets": [asset], "positions": positions}
        if v2:
            out.update({"feeTier": 0, "canTrade": True, "canDeposit": True, "canWithdraw": True, "updateTime": 0,
                        "multiAssetsMargin": False, "tradeGroupId": -1})
        return Reply(200, out)

    async def balance(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        self._auth(request, params)
        n = self._wallet_numbers()
        return Reply(200, [{"accountAlias": "SgsR", "asset": "USDT", "balance": f"{n['wallet']:.8f}",
                            "crossWalletBalance": f"{n['wallet']:.8f}", "crossUnPnl": f"{n['upnl']:.8f}",
                            "availableBalance": f"{n['avail']:.8f}", "maxWithdrawAmount": f"{n['avail']:.8f}",
                            "marginAvailable": True, "updateTime": self._wallet_update_ms}])

    def _position_row(self, sym: str, *, v3: bool, account: bool = False) -> dict:
        p = self.positions.get(sym) or {"amt": 0.0, "entry": 0.0, "update": 0}
        mark = self.market.mark_price(sym)
        amt = p["amt"]
        lev = self.leverage.get(sym, DEFAULT_LEVERAGE)
        notional = amt * mark
        upnl = self._upnl(sym)
        im = abs(notional) / lev
        spec = binance_spec(sym)
        qty = lambda x: f"{x:.{spec['quantityPrecision']}f}"  # noqa: E731
        if account:
            row = {"symbol": f"{sym}USDT", "positionSide": "BOTH", "positionAmt": qty(amt),
                   "unrealizedProfit": f"{upnl:.8f}", "isolatedMargin": "0", "notional": f"{notional:.8f}",
                   "isolatedWallet": "0", "initialMargin": f"{im:.8f}", "maintMargin": f"{im * 0.1:.8f}",
                   "updateTime": p["update"]}
            if not v3:
                row.update({"leverage": str(lev), "entryPrice": f"{p['entry']:.8f}", "maxNotional": "250000",
                            "isolated": self.margin_type.get(sym, "CROSSED") == "ISOLATED", "bidNotional": "0",
                            "askNotional": "0"})
            return row
        liq = 0.0
        if amt != 0:
            liq = max(0.0, p["entry"] * (1 - 0.9 / lev) if amt > 0 else p["entry"] * (1 + 0.9 / lev))
        row = {"symbol": f"{sym}USDT", "positionSide": "BOTH", "positionAmt": qty(amt),
               "entryPrice": f"{p['entry']:.8f}".rstrip("0").rstrip(".") if p["entry"] else "0.0",
               "breakEvenPrice": f"{p['entry'] * (1 + (TAKER if amt > 0 else -TAKER)):.8f}" if amt else "0.0",
               "markPrice": f"{mark:.8f}", "unRealizedProfit": f"{upnl:.8f}", "liquidationPrice": f"{liq:.8f}",
               "isolatedMargin": "0", "notional": f"{notional:.8f}", "isolatedWallet": "0",
               "updateTime": p["update"]}
        if v3:
            row.update({"marginAsset": "USDT", "initialMargin": f"{im:.8f}", "maintMargin": f"{im * 0.1:.8f}",
                        "positionInitialMargin": f"{im:.8f}", "openOrderInitialMargin": "0",
                        "adl": 2 if amt else 0, "bidNotional": "0", "askNotional": "0"})
        else:
            row.update({"leverage": str(lev), "maxNotionalValue": "250000",
                        "marginType": "isolated" if self.margin_type.get(sym) == "ISOLATED" else "cross",
                        "isAutoAddMargin": "false", "isolated": False, "adlQuantile": 2 if amt else 0})
        return row

    async def position_risk(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        self._auth(request, params)
        self._settle_funding()
        sym = self._sym(params, required=False)
        v3 = request.path.startswith("/fapi/v3")
        syms = [sym] if sym else list(self.market.symbols)
        rows = []
        for s in syms:
            p = self.positions.get(s)
            has_open = any(o["sym"] == s and o["status"] in ("NEW", "PARTIALLY_FILLED") for o in self.orders.values())
            if v3 and (not p or p["amt"] == 0) and not has_open:
                continue  # v3 lists only symbols with a position or open orders
            rows.append(self._position_row(s, v3=v3))
        return Reply(200, rows)

    def _brackets(self, sym: str) -> dict:
        maxlev = binance_spec(sym)["maxLeverage"]
        caps = [(maxlev, 50_000, 0.004), (min(maxlev, 100), 600_000, 0.005), (75, 3_000_000, 0.0065),
                (50, 12_000_000, 0.01), (25, 70_000_000, 0.02), (20, 100_000_000, 0.025),
                (10, 230_000_000, 0.05), (5, 480_000_000, 0.1), (4, 600_000_000, 0.125),
                (3, 800_000_000, 0.15), (2, 1_200_000_000, 0.25), (1, 1_800_000_000, 0.5)]
        brackets, floor, cum = [], 0, 0.0
        for i, (lev, cap, mmr) in enumerate(caps):
            lev = min(lev, maxlev)
            if brackets:
                prev = brackets[-1]
                cum = cum + floor * (mmr - prev["maintMarginRatio"])
            brackets.append({"bracket": i + 1, "initialLeverage": lev, "notionalCap": cap, "notionalFloor": floor,
                             "maintMarginRatio": mmr, "cum": round(cum, 2)})
            floor = cap
        return {"symbol": f"{sym}USDT", "notionalCoef": 1.0, "brackets": brackets}

    async def leverage_bracket(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        self._auth(request, params)
        sym = self._sym(params, required=False)
        if sym:
            return Reply(200, [self._brackets(sym)])
        return Reply(200, [self._brackets(s) for s in self.market.symbols])

    async def dual_side(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        self._auth(request, params)
        return Reply(200, {"dualSidePosition": False})

    async def commission_rate(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        self._auth(request, params)
        sym = self._sym(params)
        return Reply(200, {"symbol": f"{sym}USDT", "makerCommissionRate": f"{MAKER:.6f}",
                           "takerCommissionRate": f"{TAKER:.6f}", "rpiCommissionRate": "0"})

    async def set_leverage(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        self._auth(request, params)
        sym = self._sym(params)
        assert sym is not None
        raw = params.get("leverage")
        if raw in (None, ""):
            raise missing("leverage")
        try:
            lev = int(raw)
        except ValueError:
            raise err(400, -1100, "Illegal characters found in parameter 'leverage'; legal range is '^[0-9]{1,20}$'.") from None
        if not 1 <= lev <= binance_spec(sym)["maxLeverage"]:
            raise err(400, -4028, f"Leverage {lev} is not valid")
        self.leverage[sym] = lev
        cap = next(b["notionalCap"] for b in self._brackets(sym)["brackets"] if b["initialLeverage"] >= lev) \
            if any(b["initialLeverage"] >= lev for b in self._brackets(sym)["brackets"]) else 50_000
        return Reply(200, {"leverage": lev, "maxNotionalValue": str(cap), "symbol": f"{sym}USDT"})

    async def set_margin_type(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        self._auth(request, params)
        sym = self._sym(params)
        assert sym is not None
        mt = str(params.get("marginType") or "").upper()
        if mt not in ("ISOLATED", "CROSSED"):
            raise err(400, -4044 if mt else -1102, "The margin type is invalid." if mt else
                      "Mandatory parameter 'marginType' was not sent, was empty/null, or malformed.")
        if self.margin_type.get(sym, "CROSSED") == mt:
            raise err(400, -4046, "No need to change margin type.")
        if self.positions.get(sym, {}).get("amt", 0.0) != 0:
            raise err(400, -4048, "Margin type cannot be changed if there exists position.")
        self.margin_type[sym] = mt
        return Reply(200, {"code": 200, "msg": "success"})

    # ------------------------------------------------------------------ orders
    def _order_view(self, o: dict, *, full: bool = True) -> dict:
        sym = o["sym"]
        spec = binance_spec(sym)
        ex = o["executedQty"]
        avg = o["cumQuote"] / ex if ex > 0 else 0.0
        view = {
            "orderId": o["orderId"], "symbol": f"{sym}USDT", "status": o["status"], "clientOrderId": o["clientOrderId"],
            "price": self._px(sym, o["price"]) if o["price"] else "0",
            "avgPrice": f"{avg:.{max(spec['pricePrecision'], 2) + 3}f}" if ex > 0 else "0.00",
            "origQty": self._qty(sym, o["origQty"]), "executedQty": self._qty(sym, ex),
            "cumQty": self._qty(sym, ex), "cumQuote": f"{o['cumQuote']:.{spec['pricePrecision'] + spec['quantityPrecision']}f}",
            "timeInForce": o["timeInForce"], "type": o["type"], "reduceOnly": o["reduceOnly"], "closePosition": False,
            "side": o["side"], "positionSide": "BOTH", "stopPrice": "0", "workingType": "CONTRACT_PRICE",
            "priceProtect": False, "origType": o["type"], "priceMatch": "NONE", "selfTradePreventionMode": "EXPIRE_MAKER",
            "goodTillDate": 0, "updateTime": o["updateTime"],
        }
        if full:
            view["time"] = o["time"]
        return view

    async def new_order(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        self._auth(request, params)
        self._settle_funding()
        mk = self.market
        sym = self._sym(params)
        assert sym is not None
        spec = binance_spec(sym)
        side = str(params.get("side") or "").upper()
        if not side:
            raise missing("side")
        if side not in ("BUY", "SELL"):
            raise err(400, -1117, "Invalid side.")
        typ = str(params.get("type") or "").upper()
        if not typ:
            raise missing("type")
        if typ not in ("MARKET", "LIMIT"):
            raise err(400, -1116, "Invalid orderType.")
        ps = str(params.get("positionSide") or "BOTH").upper()
        if ps != "BOTH":
            raise err(400, -4061, "Order's position side does not match user's setting.")
        cid = params.get("newClientOrderId")
        if cid not in (None, ""):
            cid = str(cid)
            if not CLIENT_ID_RE.match(cid):
                raise err(400, -4015, "Client order id is not valid.")
            if any(o["clientOrderId"] == cid and o["status"] in ("NEW", "PARTIALLY_FILLED")
                   for o in self.orders.values()):
                raise err(400, -4116, "ClientOrderId is duplicated.")
        else:
            cid = "x-" + hashlib.md5(str(self._order_seq).encode()).hexdigest()[:22]
        raw_q = params.get("quantity")
        if raw_q in (None, ""):
            raise missing("quantity")
        try:
            qty_d = float(raw_q)
        except ValueError:
            raise err(400, -1100, "Illegal characters found in parameter 'quantity'; legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.") from None
        if qty_d <= 0:
            raise err(400, -4003, "Quantity less than or equal to zero.")
        if abs(round_to(qty_d, spec["stepSize"]) - qty_d) > 1e-12 * max(1.0, qty_d):
            raise err(400, -1111, "Precision is over the maximum defined for this asset.")
        if qty_d < float(spec["minQty"]) - 1e-12:
            raise err(400, -4004, "Quantity less than min quantity.")
        reduce_only = str(params.get("reduceOnly", "false")).lower() == "true"
        tif = str(params.get("timeInForce") or ("GTC" if typ == "LIMIT" else "GTC")).upper()
        price = 0.0
        if typ == "LIMIT":
            if params.get("timeInForce") in (None, ""):
                raise missing("timeInForce")
            if params.get("price") in (None, ""):
                raise missing("price")
            price = float(params["price"])
            if abs(round_to(price, spec["tickSize"]) - price) > 1e-9 * max(1.0, price):
                raise err(400, -4014, "Price not increased by tick size.")
            if qty_d > float(spec["maxQty"]):
                raise err(400, -4005, "Quantity greater than max quantity.")
        elif qty_d > float(spec["marketMaxQty"]):
            raise err(400, -4005, "Quantity greater than max quantity.")
        bids, asks = mk.binance_book(sym, 100)
        ref = asks[0][0] if side == "BUY" else bids[0][0]
        pos = self._pos(sym)
        sign = 1 if side == "BUY" else -1
        if reduce_only:
            if pos["amt"] == 0 or (pos["amt"] > 0) == (side == "BUY"):
                raise err(400, -2022, "ReduceOnly Order is rejected.")
            qty_d = min(qty_d, abs(pos["amt"]))
        elif (price or ref) * qty_d < float(spec["notional"]) - 1e-9:
            raise err(400, -4164, f"Order's notional must be no smaller than {spec['notional']} (unless you choose reduce only).")
        # margin: an order that increases exposure must fit in the free margin
        new_amt = pos["amt"] + sign * qty_d
        if abs(new_amt) > abs(pos["amt"]) + 1e-12:
            n = self._wallet_numbers()
            need = self._margin_used({sym: new_amt}) + qty_d * ref * TAKER
            if need > n["margin"] + 1e-9:
                raise err(400, -2019, "Margin is insufficient.")
        if typ == "LIMIT" and tif == "GTX" and ((side == "BUY" and price >= asks[0][0]) or
                                                (side == "SELL" and price <= bids[0][0])):
            raise err(400, -5022, "Due to the order could not be executed as maker, the Post Only order will be rejected.")
        # accept
        now = mk.clock.now_ms()
        self._order_seq += 1
        o = {"orderId": self._order_seq, "sym": sym, "clientOrderId": cid, "side": side, "type": typ,
             "timeInForce": tif, "price": price, "origQty": qty_d, "executedQty": 0.0, "cumQuote": 0.0,
             "reduceOnly": reduce_only, "status": "NEW", "time": now, "updateTime": now}
        self.orders[o["orderId"]] = o
        frac = fault.fraction if (fault is not None and fault.kind == "partial") else 1.0
        want = round_to(qty_d * frac, spec["stepSize"], "down") if frac < 1 else qty_d
        book_side = asks if side == "BUY" else bids
        if typ == "LIMIT" and tif == "FOK":
            avail = sum(q for p, q in book_side if (p <= price if side == "BUY" else p >= price))
            fills = [] if avail + 1e-12 < want else walk_book(book_side, qty=want, limit=price, side=side.lower())
        else:
            fills = walk_book(book_side, qty=want, limit=price if typ == "LIMIT" else None, side=side.lower())
        self._apply_fills(o, fills, now)
        left = qty_d - o["executedQty"]
        if left <= 1e-12:
            o["status"] = "FILLED"
        elif typ == "MARKET" or tif in ("IOC", "FOK") or frac < 1:
            o["status"] = "EXPIRED"
        else:
            o["status"] = "PARTIALLY_FILLED" if o["executedQty"] > 0 else "NEW"
        o["updateTime"] = now
        resp_type = str(params.get("newOrderRespType") or "ACK").upper()
        view = self._order_view(o, full=False)
        if resp_type == "ACK":
            view.update({"status": "NEW", "executedQty": self._qty(sym, 0), "cumQty": self._qty(sym, 0),
                         "cumQuote": "0.00000", "avgPrice": "0.00"})
        return Reply(200, view)

    def _apply_fills(self, o: dict, fills: list[tuple[float, float]], now: int) -> None:
        mk = self.market
        sym = o["sym"]
        spec = binance_spec(sym)
        pos = self._pos(sym)
        sign = 1 if o["side"] == "BUY" else -1
        for p, q in fills:
            q = round_to(q, spec["stepSize"], "down")
            if q <= 0:
                continue
            notional = p * q
            fee = notional * TAKER
            realized = 0.0
            amt = pos["amt"]
            if amt == 0 or (amt > 0) == (sign > 0):  # open / add
                new_amt = amt + sign * q
                pos["entry"] = (abs(amt) * pos["entry"] + q * p) / abs(new_amt)
                pos["amt"] = new_amt
            else:  # reduce, maybe flip
                closing = min(q, abs(amt))
                realized = closing * (p - pos["entry"]) * (1 if amt > 0 else -1)
                new_amt = amt + sign * q
                if abs(new_amt) < 1e-12:
                    pos["amt"], pos["entry"] = 0.0, 0.0
                elif (new_amt > 0) != (amt > 0):
                    pos["amt"], pos["entry"] = new_amt, p
                else:
                    pos["amt"] = new_amt
            pos["amt"] = round(pos["amt"], 8)
            pos["update"] = now
            mk.binance_usdt += realized - fee
            self._wallet_update_ms = wall_ms()
            o["executedQty"] = round(o["executedQty"] + q, 8)
            o["cumQuote"] += notional
            self._trade_seq += 1
            tid = self._trade_seq
            qp = spec["pricePrecision"] + spec["quantityPrecision"]
            self.trades.append({"buyer": sign > 0, "commission": f"{fee:.8f}", "commissionAsset": "USDT", "id": tid,
                                "maker": False, "orderId": o["orderId"], "price": self._px(sym, p),
                                "qty": self._qty(sym, q), "quoteQty": f"{notional:.{qp}f}",
                                "realizedPnl": f"{realized:.8f}", "side": o["side"], "positionSide": "BOTH",
                                "symbol": f"{sym}USDT", "time": now})
            self._add_income(sym, "COMMISSION", -fee, now, str(tid))
            if realized:
                self._add_income(sym, "REALIZED_PNL", realized, now, str(tid))

    def _find(self, params: dict) -> dict:
        sym = self._sym(params)
        oid = params.get("orderId")
        cid = params.get("origClientOrderId")
        if oid in (None, "") and cid in (None, ""):
            raise err(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        found = None
        if oid not in (None, ""):
            try:
                found = self.orders.get(int(oid))
            except ValueError:
                raise err(400, -1100, "Illegal characters found in parameter 'orderId'; legal range is '^[0-9]{1,20}$'.") from None
        else:
            for o in self.orders.values():
                if o["clientOrderId"] == str(cid):
                    found = o  # the latest order with that client id
        if found is None or found["sym"] != sym:
            raise err(400, -2013, "Order does not exist.")
        return found

    async def get_order(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        self._auth(request, params)
        return Reply(200, self._order_view(self._find(params)))

    async def cancel_order(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        self._auth(request, params)
        try:
            o = self._find(params)
        except ApiError as e:
            if e.reply.data.get("code") == -2013:
                raise err(400, -2011, "Unknown order sent.") from None
            raise
        if o["status"] not in ("NEW", "PARTIALLY_FILLED"):
            raise err(400, -2011, "Unknown order sent.")
        o["status"] = "CANCELED"
        o["updateTime"] = self.market.clock.now_ms()
        return Reply(200, self._order_view(o, full=False))

    async def cancel_all(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        self._auth(request, params)
        sym = self._sym(params)
        for o in self.orders.values():
            if o["sym"] == sym and o["status"] in ("NEW", "PARTIALLY_FILLED"):
                o["status"] = "CANCELED"
        return Reply(200, {"code": 200, "msg": "The operation of cancel all open order is done."})

    async def open_orders(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        self._auth(request, params)
        sym = self._sym(params, required=False)
        return Reply(200, [self._order_view(o) for o in self.orders.values()
                           if o["status"] in ("NEW", "PARTIALLY_FILLED") and (sym is None or o["sym"] == sym)])

    async def open_order(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        self._auth(request, params)
        o = self._find(params)
        if o["status"] not in ("NEW", "PARTIALLY_FILLED"):
            raise err(400, -2013, "Order does not exist.")
        return Reply(200, self._order_view(o))

    async def all_orders(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        self._auth(request, params)
        sym = self._sym(params)
        limit = max(1, min(int(params.get("limit") or 500), 1000))
        rows = [self._order_view(o) for o in self.orders.values() if o["sym"] == sym]
        return Reply(200, rows[-limit:])

    async def get_income(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        self._auth(request, params)
        self._settle_funding()
        sym = self._sym(params, required=False)
        kind = params.get("incomeType")
        start = int(params["startTime"]) if params.get("startTime") not in (None, "") else None
        end = int(params["endTime"]) if params.get("endTime") not in (None, "") else None
        limit = max(1, min(int(params.get("limit") or 100), 1000))
        rows = [r for r in self.income if (sym is None or r["symbol"] == f"{sym}USDT")
                and (not kind or r["incomeType"] == kind) and (start is None or r["time"] >= start)
                and (end is None or r["time"] <= end)]
        return Reply(200, rows[:limit] if start is not None else rows[-limit:])

    async def user_trades(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        self._auth(request, params)
        sym = self._sym(params)
        oid = params.get("orderId")
        limit = max(1, min(int(params.get("limit") or 500), 1000))
        rows = [t for t in self.trades if t["symbol"] == f"{sym}USDT" and (oid in (None, "") or t["orderId"] == int(oid))]
        return Reply(200, rows[-limit:])

    # ------------------------------------------------------------------ websocket
    def _stream_payload(self, name: str) -> dict | None:
        base, _, kind = name.partition("@")
        sym = base.upper().removesuffix("USDT")
        if not base.lower().endswith("usdt") or sym not in self.market.symbols:
            return None
        mk = self.market
        now = mk.clock.now_ms()
        kind_l = kind.lower()
        if kind_l == "bookticker":
            bt = self._book_ticker(sym)
            return {"e": "bookTicker", "u": mk.update_id[sym], "s": f"{sym}USDT", "b": bt["bidPrice"],
                    "B": bt["bidQty"], "a": bt["askPrice"], "A": bt["askQty"], "T": now - 1, "E": now}
        m = re.fullmatch(r"depth(5|10|20)(@(100|250|500)ms)?", kind_l)
        if m:
            n = int(m.group(1))
            bids, asks = self._book(sym, n)
            return {"e": "depthUpdate", "E": now, "T": now - 1, "s": f"{sym}USDT", "U": 0, "u": mk.update_id[sym],
                    "pu": 0, "b": [[self._px(sym, p), self._qty(sym, q)] for p, q in bids],
                    "a": [[self._px(sym, p), self._qty(sym, q)] for p, q in asks]}
        if kind_l in ("markprice", "markprice@1s"):
            r = self._premium_row(sym)
            return {"e": "markPriceUpdate", "E": now, "s": f"{sym}USDT", "p": r["markPrice"], "i": r["indexPrice"],
                    "P": r["estimatedSettlePrice"], "r": r["lastFundingRate"], "T": r["nextFundingTime"]}
        return None

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=180.0, autoping=True, max_msg_size=1 << 20)
        await ws.prepare(request)
        self._ws.add(ws)
        self.servers.note_ws_connect("binance")
        waker: Waker = self.servers._waker
        ev = asyncio.Event()
        waker.events.add(ev)
        storm = self.market.faults.take("binance", "ws", connection=True)  # drop right after the ack
        combined = request.path.endswith("/stream")
        streams: list[str] = []
        tail = request.match_info.get("streams")
        if tail:
            streams.extend(s for s in tail.split("/") if "@" in s)
        if combined:
            streams.extend(s for s in split_csv(request.query.get("streams", "").replace("/", ",")) if "@" in s)
        last_u: dict[str, int] = {}
        if storm is not None and streams:  # streams named in the URL: no subscription to ack
            await ws.close()
        pusher = asyncio.ensure_future(self._push(ws, ev, streams, combined, last_u)) if storm is None else None
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    try:
                        req = json.loads(msg.data)
                        method = req.get("method")
                        rid = req.get("id")
                    except Exception:
                        await ws.send_str(json.dumps({"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}))
                        continue
                    params = req.get("params") or []
                    if method == "SUBSCRIBE" and isinstance(params, list):
                        for p in params:
                            if isinstance(p, str) and p not in streams:
                                streams.append(p)
                        await ws.send_str(json.dumps({"result": None, "id": rid}))
                        if storm is not None:
                            await ws.close()
                            break
                        ev.set()
                    elif method == "UNSUBSCRIBE" and isinstance(params, list):
                        for p in params:
                            if p in streams:
                                streams.remove(p)
                        await ws.send_str(json.dumps({"result": None, "id": rid}))
                    elif method == "LIST_SUBSCRIPTIONS":
                        await ws.send_str(json.dumps({"result": list(streams), "id": rid}))
                    else:
                        await ws.send_str(json.dumps({"error": {"code": 2, "msg": f"Invalid request: unknown method {method!r}"},
                                                      "id": rid}))
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
        except Exception:
            pass
        finally:
            await self.ws_ended(ws, pusher, waker, ev)
        return ws

    async def _push(self, ws: web.WebSocketResponse, ev: asyncio.Event, streams: list[str], combined: bool,
                    last_u: dict[str, int]) -> None:
        try:
            while not ws.closed:
                ev.clear()
                for name in list(streams):
                    payload = self._stream_payload(name)
                    if payload is None:
                        continue
                    if payload["e"] == "depthUpdate":
                        prev = last_u.get(name, payload["u"] - 1)
                        payload["U"], payload["pu"] = prev + 1, prev
                        last_u[name] = payload["u"]
                    data: Any = {"stream": name, "data": payload} if combined else payload
                    f = self.market.faults.take("binance", "ws")
                    if f is not None:
                        if f.kind == "drop":
                            await ws.close()
                            return
                        if f.kind == "silence":
                            await asyncio.sleep(f.wait_s)
                            if ws.closed:
                                return
                        elif f.kind in ("nan", "negative"):
                            data = corrupt(data, f.kind, binance=True)
                        elif f.kind == "malformed":
                            await ws.send_str(truncate(dumps(data)).decode("utf-8", "replace"))
                            continue
                    await ws.send_str(dumps(data).decode())
                try:
                    await asyncio.wait_for(ev.wait(), timeout=self.servers.push_interval_s)
                except asyncio.TimeoutError:
                    pass
        except asyncio.CancelledError:
            raise
        except Exception:  # a closed socket or a bug never kills the server
            return


KNOWN_MSG = {
    -1003: "Too many requests; current limit of IP(127.0.0.1) is 2400 requests per minute.",
    -1008: "Server is currently overloaded with other requests. Please try again in a few minutes.",
    -1021: "Timestamp for this request is outside of the recvWindow.",
    -1022: "Signature for this request is not valid.",
    -2010: "NEW_ORDER_REJECTED",
    -2011: "Unknown order sent.",
    -2013: "Order does not exist.",
    -2015: "Invalid API-key, IP, or permissions for action, request ip: 127.0.0.1",
    -2019: "Margin is insufficient.",
    -2022: "ReduceOnly Order is rejected.",
    -4116: "ClientOrderId is duplicated.",
    -4164: "Order's notional must be no smaller than 100 (unless you choose reduce only).",
}
