"""Numbers as the owner reads them, in the language being rendered.

Each helper returns a small display value whose text is made when the message is rendered, so one
event shows ``81,153,000원`` in a Korean chat and ``81,153,000 KRW`` in the English log. Rules (issue
#11): KRW with separators and 원/KRW, coin quantities to the venue's step, prices to the tick, fees
with their currency, percentages with 2 decimals, times in KST.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Callable

from kimpbot.i18n import lang

KST_OFFSET_S = 9 * 3600
NA = {"ko": "—", "en": "n/a"}


@dataclass(frozen=True)
class Shown:
    """A value and how to show it; rendered in the current language."""
    value: Any
    how: Callable[[Any, str], str]

    def __str__(self) -> str:
        if self.value is None:
            return NA[lang()]
        return self.how(self.value, lang())

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def _dec(x: Any) -> Decimal:
    if isinstance(x, Decimal):
        return x
    try:
        return Decimal(str(x))
    except (InvalidOperation, ValueError):
        raise ValueError(f"not a number: {x!r}") from None


def _places(step: Any) -> int:
    """Decimals a step or tick has: 0.001 -> 3, 1 -> 0, 0.5 -> 1."""
    if step in (None, "", 0):
        return -1
    d = _dec(step).normalize()
    exp = d.as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def _group(d: Decimal, places: int, sign: bool, rounding: str = ROUND_HALF_UP) -> str:
    q = d.quantize(Decimal(1).scaleb(-places), rounding=rounding) if places >= 0 else d
    s = f"{q:,.{places}f}" if places >= 0 else f"{q:,}"
    if sign and q > 0:
        s = "+" + s
    return s


def krw(x: Any, *, sign: bool = False) -> Shown:
    """Won, whole: ``81,153,000원`` / ``81,153,000 KRW`` (``sign``: ``+1,234원``)."""
    def how(v: Any, lg: str) -> str:
        s = _group(_dec(v), 0, sign)
        return f"{s}원" if lg == "ko" else f"{s} KRW"
    return Shown(x, how)


def krw_short(x: Any, *, sign: bool = False) -> Shown:
    """Large won the Korean way (``1.23억원``, ``4,520만원``); English keeps ``123,000,000 KRW``."""
    def how(v: Any, lg: str) -> str:
        d = _dec(v)
        if lg != "ko" or abs(d) < 100_000:
            return str(krw(d, sign=sign))
        plus = "+" if sign and d > 0 else ""
        if abs(d) >= 100_000_000:
            return f"{plus}{d / 100_000_000:,.2f}억원"
        return f"{plus}{d / 10_000:,.0f}만원"
    return Shown(x, how)


def usdt(x: Any, *, sign: bool = False, places: int = 2) -> Shown:
    return Shown(x, lambda v, lg: f"{_group(_dec(v), places, sign)} USDT")


def money(x: Any, currency: str, *, sign: bool = False) -> Shown:
    """An amount with its currency: KRW as won, USDT to the cent, a coin to 8 decimals at most."""
    cur = (currency or "").upper()
    if cur == "KRW":
        return krw(x, sign=sign)
    if cur in ("USDT", "USD", "USDC"):
        return usdt(x, sign=sign, places=4 if x is not None and abs(_dec(x)) < 1 else 2)
    return Shown(x, lambda v, lg: f"{_trim(_group(_dec(v), 8, sign))} {cur}".rstrip())


def _trim(s: str) -> str:
    return s.rstrip("0").rstrip(".") if "." in s else s


def qty(x: Any, step: Any = None, coin: str = "") -> Shown:
    """A coin quantity down to the venue's step, trailing zeros trimmed (``0.00123 BTC``)."""
    def how(v: Any, lg: str) -> str:
        p = _places(step)
        # down to the step, as the venue books it (never show more coin than there is)
        # trailing zeros trimmed: Upbit's step is 1e-8, and 0.03900000 BTC reads worse than 0.039 BTC
        s = _trim(_group(_dec(v), p if p >= 0 else 8, False, ROUND_DOWN))
        return f"{s} {coin}".rstrip()
    return Shown(x, how)


def price(x: Any, tick: Any = None, currency: str = "") -> Shown:
    """A price to the tick (``81,153,000`` KRW, ``67,250.1`` USDT); the currency only when given."""
    def how(v: Any, lg: str) -> str:
        p = _places(tick)
        d = _dec(v)
        if p < 0:   # no tick known: won prices whole above 1,000, else 4 significant decimals
            p = 0 if abs(d) >= 1000 else 2 if abs(d) >= 1 else 4
        s = _group(d, p, False)
        if not currency:
            return s
        return f"{s}원" if currency.upper() == "KRW" and lg == "ko" else f"{s} {currency.upper()}"
    return Shown(x, how)


def pct(x: Any, *, sign: bool = True, places: int = 2) -> Shown:
    """A percentage, 2 decimals: ``+0.52%``."""
    return Shown(x, lambda v, lg: f"{float(v):{'+' if sign else ''}.{places}f}%")


def num(x: Any, places: int = 2, *, sign: bool = False) -> Shown:
    return Shown(x, lambda v, lg: f"{float(v):{'+' if sign else ''},.{places}f}")


def kst(ms: Any, *, date: bool = True, seconds: bool = False) -> Shown:
    """A moment in Korea time: ``12-03 14:05 KST`` (``date=False``: ``14:05``)."""
    def how(v: Any, lg: str) -> str:
        t = time.gmtime(int(v) / 1000 + KST_OFFSET_S)
        fmt = ("%m-%d " if date else "") + ("%H:%M:%S" if seconds else "%H:%M")
        return time.strftime(fmt, t) + (" KST" if date else "")
    return Shown(ms, how)


def duration(seconds: Any) -> Shown:
    """A span: ``2시간 5분`` / ``2h05m``; ``3일 4시간`` / ``3d4h``; ``45초`` / ``45s``."""
    def how(v: Any, lg: str) -> str:
        s = max(0, int(float(v)))
        d, h, m = s // 86400, (s % 86400) // 3600, (s % 3600) // 60
        if lg == "ko":
            if d:
                return f"{d}일 {h}시간" if h else f"{d}일"
            if h:
                return f"{h}시간 {m}분" if m else f"{h}시간"
            return f"{m}분" if m else f"{s}초"
        if d:
            return f"{d}d{h}h"
        if h:
            return f"{h}h{m:02d}m"
        return f"{m}m" if m else f"{s}s"
    return Shown(seconds, how)
