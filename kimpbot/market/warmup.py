"""Warm-up: rebuild the z window from exchange candle history so the bot can trade at once.

Premium bars are built from candle closes of Upbit KRW-<SYM>, the Binance perp and
an FX series, aligned on bar open time; a bar missing on any venue is skipped and
counted. FX history: with ``fx.source = "usdt"`` Upbit's own KRW-USDT candles are
exact. The bank rate has no history endpoint, so for ``usdkrw`` the KRW-USDT
candles are rescaled by today's bank/USDT ratio: an approximation (it assumes
the USDT premium was steady over the window), stated at start.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from kimpbot.exchanges.base import MarketData
from kimpbot.market.premium import premium_pct
from kimpbot.models import Candle, PremiumBar

log = logging.getLogger(__name__)


@dataclass
class WarmupReport:
    bars: dict[str, list[PremiumBar]]
    skipped: dict[str, int]
    fx_note: str
    since_ms: int | None = None  # open time of the oldest bar asked for: the z window's span starts here

    def summary(self) -> str:
        parts = [f"{s} {len(b)} bars" + (f" ({self.skipped[s]} skipped)" if self.skipped.get(s) else "")
                 for s, b in self.bars.items()]
        return "warm-up: " + ", ".join(parts) + f"; FX history: {self.fx_note}"


def align_premium_bars(symbol: str, minutes: int, upbit: list[Candle], binance: list[Candle],
                       fx: dict[int, float]) -> tuple[list[PremiumBar], int]:
    """Premium bars from candles present on both venues and in the FX series."""
    bmap = {c.ts: c for c in binance}
    out: list[PremiumBar] = []
    skipped = 0
    for u in upbit:
        b = bmap.get(u.ts)
        rate = fx.get(u.ts)
        if b is None or rate is None:
            skipped += 1
            continue
        p = premium_pct(u.close, b.close, rate)
        o = premium_pct(u.open, b.open, rate)
        # High/low of a ratio are not the ratio of highs/lows: keep the honest envelope of o and c.
        out.append(PremiumBar(symbol, u.ts, minutes, o, max(o, p), min(o, p), p, 1))
    skipped += len(set(bmap) - {u.ts for u in upbit})
    return out, skipped


async def warm_up(upbit: MarketData, binance: MarketData, symbols: list[str], minutes: int, bars_needed: int,
                  now_ms: int, fx_source: str, bank_rate: float | None, usdt_rate: float | None) -> WarmupReport:
    span = minutes * 60_000
    until = now_ms - now_ms % span  # only closed bars
    since = until - bars_needed * span
    fx_candles = await upbit.candles("USDT", minutes, since, until)
    if fx_source == "usdt":
        scale, note = 1.0, "Upbit KRW-USDT candles (exact)"
    elif bank_rate and usdt_rate:
        scale = bank_rate / usdt_rate
        note = f"KRW-USDT candles x {scale:.4f} (today's bank/USDT ratio; approximate)"
    else:
        raise RuntimeError("warm-up needs the current bank USD/KRW and KRW-USDT rates to scale FX history")
    fx = {c.ts: c.close * scale for c in fx_candles}

    async def one(sym: str) -> tuple[str, list[PremiumBar], int]:
        u, b = await asyncio.gather(upbit.candles(sym, minutes, since, until),
                                    binance.candles(sym, minutes, since, until))
        bars, skipped = align_premium_bars(sym, minutes, u, b, fx)
        return sym, bars, skipped

    results = await asyncio.gather(*(one(s) for s in symbols))
    report = WarmupReport({s: b for s, b, _ in results}, {s: k for s, _, k in results}, note, since)
    log.info("%s", report.summary())
    return report
