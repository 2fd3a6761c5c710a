"""Fake FX quotation: the dunamu forex endpoint Korean premium sites read the bank USD/KRW from.

Follows ``GET https://quotation-api-cdn.dunamu.com/v1/forex/recent?codes=FRX.KRWUSD`` (unofficial,
undocumented; shape as the service returns it): a JSON array with one object per code carrying
``code, currencyCode, currencyName, country, name, date, time, recurrenceCount, basePrice,
openingPrice, highPrice, lowPrice, change, changePrice, cashBuyingPrice, cashSellingPrice,
ttBuyingPrice, ttSellingPrice, tcBuyingPrice, fcSellingPrice, exchangeCommission, usDollarRate,
high52wPrice, high52wDate, low52wPrice, low52wDate, currencyUnit, provider, timestamp, id,
createdAt, modifiedAt, signedChangePrice, signedChangeRate, changeRate``. The rate is
``[0].basePrice`` (KRW per 1 USD), served from ``SimMarket.usdkrw``. Unknown codes give ``[]``.
``date``/``time`` (KST) and ``timestamp`` (ms) are the quote's time at its source: a quote frozen
with ``SimMarket.freeze_usdkrw`` (a weekend, a stuck feed) keeps answering with its old rate and
time, as the real endpoint does while the bank market is closed. A rate that jumps and stays
wrong, or walks away in steps, is ``SimMarket.set_usdkrw`` (once, or repeatedly).
Errors look like the CDN's: 503 with an HTML body ("reject"), Spring-style JSON 404s.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web

from kimpbot.sim._common import FakeBase, Reply, split_csv
from kimpbot.sim.faults import Fault

KST = timezone(timedelta(hours=9))


class FxFake(FakeBase):
    venue = "fx"

    def __init__(self, servers: Any) -> None:
        super().__init__(servers)
        self._open = self.market.usdkrw
        self._prev_close = round(self.market.usdkrw * (1 - 0.0012), 2)
        self._hi = self._lo = self.market.usdkrw
        self._count = 0
        self.app.router.add_get("/v1/forex/recent", self.route(self.recent))

    def error_reply(self, status: int, code: Any, message: str) -> Reply:
        return Reply(status, {"timestamp": datetime.now(timezone.utc).isoformat(), "status": status,
                              "error": message, "path": ""})

    def too_many_reply(self, path: str) -> Reply:
        return Reply(429, text="<html><head><title>429 Too Many Requests</title></head><body>"
                               "<center><h1>429 Too Many Requests</h1></center></body></html>",
                     content_type="text/html")

    def not_found_reply(self, request: web.Request) -> Reply:
        return Reply(404, {"timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+00:00"),
                           "status": 404, "error": "Not Found", "path": request.path})

    def reject_reply(self, path: str, params: dict, fault: Fault) -> Reply:
        return Reply(503, text="<html><head><title>503 Service Temporarily Unavailable</title></head><body>"
                               "<center><h1>503 Service Temporarily Unavailable</h1></center></body></html>",
                     content_type="text/html")

    def row(self) -> dict:
        mk = self.market
        rate, now_ms = mk.served_usdkrw()  # a frozen quote keeps its rate and its source time
        rate = round(rate, 2)
        self._hi = max(self._hi, rate)
        self._lo = min(self._lo, rate)
        if mk.usdkrw_frozen is None:
            self._count += 1  # recurrenceCount: the bank's notice round, unchanged while frozen
        kst = datetime.fromtimestamp(now_ms / 1000, KST)
        chg = round(rate - self._prev_close, 2)
        spread_cash = round(rate * 0.0175, 2)
        spread_tt = round(rate * 0.0097, 2)
        return {
            "code": "FRX.KRWUSD", "currencyCode": "USD", "currencyName": "달러", "country": "미국",
            "name": "미국 (KRW/USD)", "date": kst.strftime("%Y-%m-%d"), "time": kst.strftime("%H:%M:%S"),
            "recurrenceCount": 200 + self._count, "basePrice": rate, "openingPrice": round(self._open, 2),
            "highPrice": round(self._hi, 2), "lowPrice": round(self._lo, 2),
            "change": "RISE" if chg > 0 else "FALL" if chg < 0 else "EVEN", "changePrice": abs(chg),
            "cashBuyingPrice": round(rate + spread_cash, 2), "cashSellingPrice": round(rate - spread_cash, 2),
            "ttBuyingPrice": round(rate - spread_tt, 2), "ttSellingPrice": round(rate + spread_tt, 2),
            "tcBuyingPrice": None, "fcSellingPrice": None, "exchangeCommission": 5.6813, "usDollarRate": 1.0,
            "high52wPrice": round(max(rate, 1486.7), 2), "high52wDate": "2025-04-09",
            "low52wPrice": round(min(rate, 1350.5), 2), "low52wDate": "2025-07-01",
            "currencyUnit": 1, "provider": "하나은행", "timestamp": now_ms, "id": 79,
            "createdAt": "2016-10-21T06:13:34.000+0000",
            "modifiedAt": datetime.fromtimestamp(now_ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
            "signedChangePrice": chg, "signedChangeRate": round(chg / self._prev_close, 10),
            "changeRate": round(abs(chg) / self._prev_close, 10),
        }

    async def recent(self, request: web.Request, params: dict, fault: Fault | None) -> Reply:
        codes = split_csv(params.get("codes"))
        return Reply(200, [self.row() for c in codes if c.upper() == "FRX.KRWUSD"])
