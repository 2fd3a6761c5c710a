"""FX: the live KRW rate the premium is converted at, and the guard that distrusts it.

Two sources (SPEC §1):
- ``usdkrw``: the bank USD/KRW rate as Korean premium sites quote it, from the
  dunamu quotation API ``GET /v1/forex/recent?codes=FRX.KRWUSD`` → ``[0].basePrice``.
- ``usdt``: Upbit's KRW-USDT price, the rate a trader actually converts at. It
  already holds part of the Korean premium, so it measures a different premium.

A wrong rate fakes a premium (a constant 1350 once made 0.56 % read as 3.4 %), so
signals stop when the rate in use is missing or stale, just jumped, or the two
sources disagree beyond a band.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import aiohttp

from kimpbot.clock import Clock
from kimpbot.models import BadMarketData, FxRate, valid_price

log = logging.getLogger(__name__)

FX_LABELS = {
    "usdkrw": "bank USD/KRW",
    "usdt": "Upbit KRW-USDT",
}

# Some clients of this unofficial endpoint send a browser User-Agent; harmless to send.
_HEADERS = {"User-Agent": "Mozilla/5.0 (kimpbot)", "Accept": "application/json"}


class BankFxClient:
    """Fetches the bank USD/KRW rate from the quotation API at ``base_url``."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession, clock: Clock, timeout_s: float = 5.0):
        self.url = f"{base_url}/v1/forex/recent"
        self.session = session
        self.clock = clock
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def fetch(self) -> FxRate:
        async with self.session.get(self.url, params={"codes": "FRX.KRWUSD"}, headers=_HEADERS,
                                    timeout=self.timeout) as resp:
            if resp.status != 200:
                raise BadMarketData(f"FX API answered HTTP {resp.status}")
            try:
                body = await resp.json(content_type=None)
            except ValueError:
                raise BadMarketData("FX API sent a body that is not JSON") from None
        return parse_bank_fx(body, self.clock.now_ms())


def parse_bank_fx(body: object, received_ts: int) -> FxRate:
    if not isinstance(body, list) or not body or not isinstance(body[0], dict):
        raise BadMarketData(f"FX API: expected a non-empty JSON array, got {str(body)[:80]!r}")
    row = body[0]
    rate = valid_price(row.get("basePrice"), "FX basePrice")
    # Sanity band: KRW per USD has lived between ~700 and ~2000 for decades.
    if not 500.0 <= rate <= 5000.0:
        raise BadMarketData(f"FX basePrice {rate} is outside any plausible KRW/USD range")
    ts = row.get("timestamp")
    ts = int(ts) if isinstance(ts, (int, float)) and ts > 0 else received_ts
    return FxRate("usdkrw", rate, ts, received_ts)


@dataclass
class FxState:
    latest: FxRate | None = None
    previous: FxRate | None = None
    jump_until_ms: int = 0
    jump_note: str = ""


class FxGuard:
    """Holds both rates and says whether the one in use can be trusted now."""

    def __init__(self, source: str, clock: Clock, *, max_age_s: float, max_jump_pct: float,
                 jump_hold_s: float, max_divergence_pct: float) -> None:
        if source not in FX_LABELS:
            raise ValueError(f"fx source must be one of {', '.join(FX_LABELS)}, got {source!r}")
        self.source = source
        self.clock = clock
        self.max_age_ms = int(max_age_s * 1000)
        self.max_jump_pct = max_jump_pct
        self.jump_hold_ms = int(jump_hold_s * 1000)
        self.max_divergence_pct = max_divergence_pct
        self.states: dict[str, FxState] = {k: FxState() for k in FX_LABELS}

    @property
    def label(self) -> str:
        return FX_LABELS[self.source]

    def update(self, reading: FxRate) -> str | None:
        """Record a reading; returns a message when it jumped beyond the band."""
        st = self.states[reading.source]
        note = None
        if st.latest is not None:
            move = abs(reading.rate / st.latest.rate - 1.0) * 100.0
            if move > self.max_jump_pct:
                st.jump_until_ms = reading.received_ts + self.jump_hold_ms
                note = (f"FX {FX_LABELS[reading.source]} jumped {move:.2f}% "
                        f"({st.latest.rate:,.2f} -> {reading.rate:,.2f}), beyond fx.max_jump_pct "
                        f"{self.max_jump_pct:g}%: signals stop for {self.jump_hold_ms / 1000:g} s")
                st.jump_note = note
        st.previous, st.latest = st.latest, reading
        return note

    def rate(self) -> FxRate | None:
        return self.states[self.source].latest

    def divergence_pct(self) -> float | None:
        """KRW-USDT against the bank rate, in percent; None unless both readings are fresh."""
        bank = self.states["usdkrw"].latest
        usdt = self.states["usdt"].latest
        if bank is None or usdt is None:
            return None
        now = self.clock.now_ms()
        if now - bank.received_ts > self.max_age_ms or now - usdt.received_ts > self.max_age_ms:
            return None
        return (usdt.rate / bank.rate - 1.0) * 100.0

    def problems(self) -> list[str]:
        """Why the rate in use cannot be trusted right now (empty when it can)."""
        now = self.clock.now_ms()
        out: list[str] = []
        st = self.states[self.source]
        if st.latest is None:
            out.append(f"FX {self.label} rate missing: no reading yet")
        else:
            age = now - st.latest.received_ts
            if age > self.max_age_ms:
                out.append(f"FX {self.label} rate stale: last reading {age / 1000:.0f} s ago "
                           f"(fx.max_age_s {self.max_age_ms / 1000:g})")
        for name, s in self.states.items():
            if now < s.jump_until_ms:
                out.append(s.jump_note or f"FX {FX_LABELS[name]} jumped")
        div = self.divergence_pct()
        if div is not None and math.isfinite(div) and abs(div) > self.max_divergence_pct:
            out.append(f"FX sources diverge: Upbit KRW-USDT is {div:+.2f}% from bank USD/KRW "
                       f"(fx.max_divergence_pct {self.max_divergence_pct:g})")
        return out
