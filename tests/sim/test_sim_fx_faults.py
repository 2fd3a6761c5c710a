"""FX faults of the fakes, over HTTP as a client sees them: a bank quote frozen at its source keeps
being answered with its old rate and time (dunamu shape); KRW-USDT without trades keeps its
trade_price / trade_timestamp while the ticker's own timestamp moves on (Upbit shape)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import aiohttp

from kimpbot.market.fx import parse_bank_fx
from testkit import wait_until

KST = timezone(timedelta(hours=9))


async def _bank(s: aiohttp.ClientSession, url: str) -> dict:
    async with s.get(f"{url}/v1/forex/recent", params={"codes": "FRX.KRWUSD"}) as r:
        assert r.status == 200
        (row,) = await r.json()
        return row


async def _usdt(s: aiohttp.ClientSession, url: str) -> dict:
    async with s.get(f"{url}/v1/ticker", params={"markets": "KRW-USDT"}) as r:
        assert r.status == 200
        (row,) = await r.json()
        return row


async def test_frozen_bank_quote_keeps_answering_its_old_time(sim):
    friday = 1_764_916_200_000  # Fri 2025-12-05 15:30:00 KST
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{sim.fx_url}/_sim/fx", json={"freeze_usdkrw": True, "at_ms": friday}) as r:
            assert (await r.json())["usdkrw_frozen"] is True
        sim.market.set_usdkrw(1400.0)  # the world moves on; the frozen source does not
        a = await _bank(s, sim.fx_url)
        assert a["basePrice"] == 1380.0 and a["timestamp"] == friday
        assert (a["date"], a["time"]) == ("2025-12-05", "15:30:00")
        assert parse_bank_fx([a], 0).exchange_ts == friday
        b = await _bank(s, sim.fx_url)
        assert b["recurrenceCount"] == a["recurrenceCount"]  # no new notice round
        async with s.post(f"{sim.fx_url}/_sim/fx", json={"freeze_usdkrw": False}) as r:
            assert (await r.json())["usdkrw_frozen"] is False
        c = await _bank(s, sim.fx_url)
        assert c["basePrice"] == 1400.0 and c["timestamp"] > friday
        assert datetime.fromtimestamp(c["timestamp"] / 1000, KST).strftime("%H:%M:%S")[:5] == c["time"][:5]


async def test_usdt_without_trades_keeps_its_trade_time(sim):
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{sim.upbit_url}/_sim/fx", json={"freeze_usdt": True}) as r:
            assert (await r.json())["usdt_frozen"] is True
        a = await _usdt(s, sim.upbit_url)
        sim.market.set_usdt_krw(1410.0)
        assert await wait_until(lambda: sim.market.clock.now_ms() > a["timestamp"] + 20)
        b = await _usdt(s, sim.upbit_url)
        assert b["trade_price"] == a["trade_price"] == 1395.0
        assert b["trade_timestamp"] == a["trade_timestamp"] and b["timestamp"] > a["timestamp"]
        sim.market.unfreeze_usdt_trades()
        c = await _usdt(s, sim.upbit_url)
        assert c["trade_price"] == 1410.0 and c["trade_timestamp"] > a["trade_timestamp"]
