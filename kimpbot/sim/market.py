"""Scripted, deterministic market state shared by the local fakes (Upbit, Binance USDT-M, FX).

What is modelled, and after which real rules:

* Upbit KRW spot markets ``KRW-<SYM>`` plus ``KRW-USDT``. Prices sit on Upbit's KRW tick table
  (https://docs.upbit.com/kr/docs/krw-market-info, policy of 2025-07-31: >=1,000,000 KRW: 1,000;
  500,000-1,000,000: 500; 100,000-500,000: 100; 50,000-100,000: 50; 10,000-50,000: 10;
  5,000-10,000: 5; 100-5,000: 1; below 100: decimal ticks), with the USDT/USDC exception of a
  0.5 KRW tick between 1,000 and 10,000 KRW (changelog usdtkrw_tick_unit_change, 2025-03-21).
* Binance USDT-M perpetuals ``<SYM>USDT`` on their exchangeInfo tick and step sizes
  (BTC 0.1 / 0.001, ETH 0.01 / 0.001, XRP 0.0001 / 0.1).
* The bank USD/KRW rate (what the dunamu FX quotation serves) and Upbit's KRW-USDT price.

The state is a Binance mid per symbol and an Upbit KRW mid per symbol, so the premium
``(upbit_mid / (binance_mid * usdkrw) - 1) * 100`` is whatever the script sets:

* ``set_premium`` moves the Upbit mid; ``set_binance_price`` moves both venues and keeps the
  premium; ``set_usdkrw`` changes only the bank rate, so the measured premium moves (a wrong
  or stale FX rate fakes a premium, exactly the failure the bot must catch). Called once it is a
  rate that jumps and stays wrong, called repeatedly a rate that walks away in small steps.
* ``freeze_usdkrw`` holds the bank quote at its source (rate and date/time/timestamp) while the FX
  fake keeps answering: a weekend, a holiday, a stuck feed. ``freeze_usdt_trades`` holds KRW-USDT's
  last trade (price and trade_timestamp) while Upbit's tickers keep coming.
* ``step`` advances a demo path: a geometric random walk on Binance and a mean-reverting
  (Ornstein-Uhlenbeck) premium with rare excursions of several sigma, all drawn from ``seed``.
* ``candles`` serves history: 1-minute paths generated from ``seed`` for the ``history_days``
  before the market was created (bridged into the starting state), followed by what was
  actually served since (every change is recorded per minute). Upbit and Binance candles of
  the same minute give the premium at the then-current bank rate.
"""

from __future__ import annotations

import math
import random
import threading
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Callable, Iterable

import numpy as np

from kimpbot.sim.faults import FaultPlan

try:  # the project's injected clock; a local fallback keeps this module importable alone
    from kimpbot.clock import SystemClock
except Exception:  # pragma: no cover
    import time as _time

    class SystemClock:  # type: ignore[no-redef]
        def now_ms(self) -> int:
            return _time.time_ns() // 1_000_000

        def monotonic(self) -> float:
            return _time.monotonic()


Level = tuple[float, float]
Book = tuple[list[Level], list[Level]]

DEFAULT_BINANCE_PRICES = {"BTC": 60000.0, "ETH": 3000.0, "XRP": 0.6}
ANNUAL_VOL = {"BTC": 0.55, "ETH": 0.70, "XRP": 0.90}

# Binance USDT-M exchangeInfo facts per symbol (filters as the real exchangeInfo shows them).
BINANCE_SPECS: dict[str, dict] = {
    "BTC": {"tickSize": "0.10", "minPrice": "556.80", "maxPrice": "4529764", "stepSize": "0.001",
            "minQty": "0.001", "maxQty": "1000", "marketMaxQty": "120", "notional": "100",
            "pricePrecision": 2, "quantityPrecision": 3, "onboardDate": 1569398400000,
            "underlyingSubType": ["PoW"], "maxLeverage": 125},
    "ETH": {"tickSize": "0.01", "minPrice": "39.86", "maxPrice": "306177", "stepSize": "0.001",
            "minQty": "0.001", "maxQty": "10000", "marketMaxQty": "2000", "notional": "20",
            "pricePrecision": 2, "quantityPrecision": 3, "onboardDate": 1569398400000,
            "underlyingSubType": ["Layer-1"], "maxLeverage": 125},
    "XRP": {"tickSize": "0.0001", "minPrice": "0.0143", "maxPrice": "100000", "stepSize": "0.1",
            "minQty": "0.1", "maxQty": "10000000", "marketMaxQty": "2000000", "notional": "5",
            "pricePrecision": 4, "quantityPrecision": 1, "onboardDate": 1578362400000,
            "underlyingSubType": ["Payment"], "maxLeverage": 75},
}

KOREAN_NAMES = {"BTC": ("비트코인", "Bitcoin"), "ETH": ("이더리움", "Ethereum"), "XRP": ("엑스알피(리플)", "XRP"),
                "USDT": ("테더", "Tether"), "SOL": ("솔라나", "Solana"), "DOGE": ("도지코인", "Dogecoin")}


# --------------------------------------------------------------------------- price grids
def _dec(x: float | str | Decimal) -> Decimal:
    return x if isinstance(x, Decimal) else Decimal(str(x))


def upbit_tick(price: float, market: str = "KRW-BTC") -> float:
    """Upbit KRW-market order price unit for ``price`` (current policy, see module docstring)."""
    p = float(price)
    base = market.split("-", 1)[-1].upper()
    if base in ("USDT", "USDC") and 1_000 <= p < 10_000:
        return 0.5
    if p >= 1_000_000:
        return 1000.0
    if p >= 500_000:
        return 500.0
    if p >= 100_000:
        return 100.0
    if p >= 50_000:
        return 50.0
    if p >= 10_000:
        return 10.0
    if p >= 5_000:
        return 5.0
    if p >= 100:
        return 1.0
    if p >= 10:
        return 0.01
    if p >= 1:
        return 0.001
    if p >= 0.1:
        return 0.0001
    if p >= 0.01:
        return 0.00001
    if p >= 0.001:
        return 0.000001
    if p >= 0.0001:
        return 0.0000001
    return 0.00000001


_TICK_EDGES = np.array([1e-4, 1e-3, 1e-2, 0.1, 1, 10, 100, 5_000, 10_000, 50_000, 100_000, 500_000, 1_000_000])
_TICKS = np.array([1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1, 5, 10, 50, 100, 500, 1000])


def upbit_round_array(prices: np.ndarray, market: str, mode: str = "nearest") -> np.ndarray:
    """Vectorised ``upbit_round`` for history arrays."""
    x = np.asarray(prices, dtype=np.float64)
    ticks = _TICKS[np.searchsorted(_TICK_EDGES, x, side="right")]
    if market.split("-", 1)[-1].upper() in ("USDT", "USDC"):
        ticks = np.where((x >= 1_000) & (x < 10_000), 0.5, ticks)
    f = {"nearest": np.round, "down": np.floor, "up": np.ceil}[mode]
    q = f(x / ticks + {"nearest": 0.0, "down": 1e-9, "up": -1e-9}[mode])
    digits = np.maximum(0, -np.floor(np.log10(ticks))).astype(int)
    out = q * ticks
    if digits.max() == 0:
        return out
    scale = 10.0 ** digits
    return np.round(out * scale) / scale


def round_to(x: float, step: float | str, mode: str = "nearest") -> float:
    """Round ``x`` onto a grid of ``step`` exactly (Decimal), returning a float."""
    s = _dec(step)
    q = _dec(x) / s
    rounding = {"nearest": ROUND_HALF_UP, "down": ROUND_FLOOR, "up": ROUND_CEILING}[mode]
    return float(q.to_integral_value(rounding=rounding) * s)


def fmt_step(x: float, step: float | str) -> str:
    """Format ``x`` with exactly as many decimals as ``step`` has (Binance's style)."""
    s = _dec(step).normalize()
    places = max(0, -s.as_tuple().exponent)  # type: ignore[operator]
    return f"{x:.{places}f}"


def upbit_round(price: float, market: str, mode: str = "nearest") -> float:
    t = upbit_tick(price, market)
    r = round_to(price, t, mode)
    t2 = upbit_tick(r, market)  # crossing a band edge: snap to the new band's grid
    return r if t2 == t else round_to(r, t2, mode)


def binance_spec(sym: str, price: float | None = None) -> dict:
    spec = BINANCE_SPECS.get(sym.upper())
    if spec is not None:
        return spec
    p = price or 1.0  # a plausible grid for any other symbol
    digits = max(0, min(8, 4 - int(math.floor(math.log10(p))) if p > 0 else 4))
    tick = f"{10 ** -digits:.{digits}f}" if digits else "1"
    qdigits = max(0, min(3, int(math.floor(math.log10(p))) if p > 0 else 0))
    step = f"{10 ** -qdigits:.{qdigits}f}" if qdigits else "1"
    return {"tickSize": tick, "minPrice": tick, "maxPrice": "1000000", "stepSize": step, "minQty": step,
            "maxQty": "10000000", "marketMaxQty": "1000000", "notional": "5", "pricePrecision": digits,
            "quantityPrecision": qdigits, "onboardDate": 1600000000000, "underlyingSubType": [],
            "maxLeverage": 50}


def _mult(*key: int) -> float:
    """Deterministic pseudo-random factor in [0.6, 1.4) for book level sizes."""
    h = 2166136261
    for k in key:
        h = ((h ^ (k & 0xFFFFFFFF)) * 16777619) & 0xFFFFFFFF
    return 0.6 + 0.8 * (h / 2**32)


def walk_book(levels: Iterable[Level], *, qty: float | None = None, quote: float | None = None,
              limit: float | None = None, side: str = "buy") -> list[Level]:
    """Take liquidity from ``levels`` (best first) for ``qty`` base or ``quote`` amount.

    Returns the fills as (price, qty). ``limit`` stops at a worse price. ``quote`` fills are in
    base units of 8 decimals (Upbit's volume precision).
    """
    fills: list[Level] = []
    left_q = qty
    left_c = quote
    for price, size in levels:
        if limit is not None and ((side == "buy" and price > limit) or (side == "sell" and price < limit)):
            break
        if left_q is not None:
            if left_q <= 1e-15:
                break
            take = min(size, left_q)
            left_q -= take
        else:
            assert left_c is not None
            if left_c <= 1e-9:
                break
            take = min(size, math.floor(left_c / price * 1e8) / 1e8)
            left_c -= take * price
        if take > 0:
            fills.append((price, take))
    return fills


class SimMarket:
    """Scripted, deterministic price state shared by all fakes."""

    def __init__(self, symbols=("BTC", "ETH", "XRP"), *, usdkrw=1380.0, usdt_krw=1395.0, seed=0,
                 binance_prices=None, premium_pct=None, levels=15, spread_bps=2.0,
                 level_size_krw=30_000_000.0, clock=None, history_days: int = 30) -> None:
        self.symbols: tuple[str, ...] = tuple(s.upper() for s in symbols)
        self.clock = clock if clock is not None else SystemClock()
        self.seed = int(seed)
        self.levels = int(levels)
        self.spread_bps = float(spread_bps)
        self.level_size_krw = float(level_size_krw)
        self.history_days = int(history_days)
        self.faults = FaultPlan()
        self._lock = threading.RLock()
        self._callbacks: list[Callable[[], None]] = []
        self._rng = random.Random(self.seed)

        self.usdkrw = float(usdkrw)
        self.usdt_krw = float(usdt_krw)
        prices = dict(DEFAULT_BINANCE_PRICES)
        prices.update({k.upper(): float(v) for k, v in (binance_prices or {}).items()})
        prem = {k.upper(): float(v) for k, v in (premium_pct or {}).items()}
        self._bn: dict[str, float] = {}
        self._up: dict[str, float] = {}
        self._mu: dict[str, float] = {}
        for s in self.symbols:
            if s not in prices:
                raise ValueError(f"no Binance price for {s}: pass binance_prices={{{s!r}: ...}}")
            self._bn[s] = prices[s]
            p = prem.get(s, 1.0)
            self._mu[s] = p
            self._up[s] = prices[s] * self.usdkrw * (1 + p / 100)
        self.update_id: dict[str, int] = {s: 1_000_000 * (i + 1) for i, s in enumerate(self.symbols)}
        self.update_id["USDT"] = 9_000_000

        # demo-path parameters (step)
        self.speed = 1.0
        self.premium_std = 0.4            # stationary std of the OU part, percentage points
        self.premium_half_life_s = 1800.0
        self.excursion_rate_per_s = 1 / (6 * 3600)
        self.excursion_sigmas = (3.0, 8.0)
        self.usdkrw_vol_daily = 0.003
        self.funding_rate: dict[str, float] = {s: 0.0001 for s in self.symbols}

        # paper-ish accounts for the private endpoints
        self.upbit_balances: dict[str, float] = {"KRW": 100_000_000.0, "BTC": 1.0, "ETH": 10.0, "XRP": 10000.0}
        self.upbit_locked: dict[str, float] = {}
        self.upbit_avg_buy_price: dict[str, float] = {
            c: self.upbit_last(c) for c in self.upbit_balances if c != "KRW" and c in self._up}
        self.binance_usdt: float = 100_000.0

        # history
        self.t0_ms = int(self.clock.now_ms())
        self._t0_min = self.t0_ms // 60000
        self._hist: dict[tuple[str, str], dict[str, np.ndarray]] = {}
        self._live: dict[tuple[str, str], dict[int, list[float]]] = {}
        self._live_keys: dict[tuple[str, str], list[int]] = {}
        # Source-side FX faults: a quote that keeps being served but no longer moves at its source.
        self.usdkrw_frozen: tuple[float, int] | None = None  # bank quote held: (rate, source time ms)
        self.usdt_trade_frozen: tuple[float, int] | None = None  # KRW-USDT: no trade since (price, ms)
        self._fx_hist = (self.usdkrw, self.usdt_krw)
        self._start = (dict(self._bn), dict(self._up), self.usdkrw)
        self._day_cache: dict = {}
        self._record()

    # ------------------------------------------------------------------ callbacks
    def on_change(self, cb: Callable[[], None]) -> None:
        self._callbacks.append(cb)

    def remove_on_change(self, cb: Callable[[], None]) -> None:
        try:
            self._callbacks.remove(cb)
        except ValueError:
            pass

    def _changed(self) -> None:
        with self._lock:
            for k in self.update_id:
                self.update_id[k] += 1
            self._record()
        for cb in list(self._callbacks):
            try:
                cb()
            except Exception:  # a broken listener never breaks the market
                pass

    # ------------------------------------------------------------------ setters
    def _check(self, sym: str) -> str:
        s = sym.upper()
        if s not in self._bn:
            raise KeyError(f"unknown symbol {sym!r}; known: {self.symbols}")
        return s

    def set_binance_price(self, sym: str, usdt: float) -> None:
        """Move the Binance perp mid; the Upbit mid follows so the premium is unchanged."""
        s = self._check(sym)
        usdt = float(usdt)
        if not (usdt > 0 and math.isfinite(usdt)):
            raise ValueError("price must be positive")
        with self._lock:
            ratio = usdt / self._bn[s]
            self._bn[s] = usdt
            self._up[s] *= ratio
        self._changed()

    def set_premium(self, sym: str, pct: float) -> None:
        """Move the Upbit KRW mid so that the mid premium vs usdkrw equals ``pct``."""
        s = self._check(sym)
        with self._lock:
            self._up[s] = self._bn[s] * self.usdkrw * (1 + float(pct) / 100)
        self._changed()

    def set_upbit_price(self, sym: str, krw: float) -> None:
        s = self._check(sym)
        with self._lock:
            self._up[s] = float(krw)
        self._changed()

    def set_usdkrw(self, rate: float) -> None:
        """Change the bank USD/KRW rate the FX fake serves (KRW prices stay where they are)."""
        rate = float(rate)
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError("rate must be positive")
        with self._lock:
            self.usdkrw = rate
        self._changed()

    def set_usdt_krw(self, rate: float) -> None:
        """Move Upbit's KRW-USDT market."""
        rate = float(rate)
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError("rate must be positive")
        with self._lock:
            self.usdt_krw = rate
        self._changed()

    def freeze_usdkrw(self, at_ms: int | None = None, rate: float | None = None) -> None:
        """The bank quote stops at its source (weekend, holiday, a stuck feed): the FX fake keeps
        answering, with ``rate`` (default: the current one) stamped ``at_ms`` (default: now) in
        ``date``/``time``/``timestamp``, until ``unfreeze_usdkrw``. ``set_usdkrw`` meanwhile moves
        the true rate (what the coins are priced at), not what is served."""
        with self._lock:
            self.usdkrw_frozen = (float(self.usdkrw if rate is None else rate),
                                  int(self.clock.now_ms() if at_ms is None else at_ms))
        self._changed()

    def unfreeze_usdkrw(self) -> None:
        with self._lock:
            self.usdkrw_frozen = None
        self._changed()

    def served_usdkrw(self) -> tuple[float, int]:
        """(rate, source time ms) the FX fake serves now."""
        with self._lock:
            return self.usdkrw_frozen or (self.usdkrw, int(self.clock.now_ms()))

    def freeze_usdt_trades(self, at_ms: int | None = None) -> None:
        """No KRW-USDT trade after ``at_ms`` (default now): Upbit's ticker keeps its ``trade_price``
        and ``trade_timestamp`` while the message ``timestamp`` advances (as a quiet market looks)."""
        with self._lock:
            self.usdt_trade_frozen = (self.upbit_last("USDT"),
                                      int(self.clock.now_ms() if at_ms is None else at_ms))
        self._changed()

    def unfreeze_usdt_trades(self) -> None:
        with self._lock:
            self.usdt_trade_frozen = None
        self._changed()

    def set_funding_rate(self, sym: str, rate: float) -> None:
        s = self._check(sym)
        self.funding_rate[s] = float(rate)
        self._changed()

    # ------------------------------------------------------------------ readers
    def upbit_market(self, sym: str) -> str:
        return f"KRW-{sym.upper()}"

    def upbit_markets(self) -> list[str]:
        return [f"KRW-{s}" for s in self.symbols] + ["KRW-USDT"]

    def _upbit_raw(self, sym: str) -> float:
        s = sym.upper()
        if s == "USDT":
            return self.usdt_krw
        return self._up[self._check(s)]

    def upbit_last(self, sym: str) -> float:
        """Last trade price on Upbit (the raw mid on the tick grid)."""
        s = sym.upper()
        return upbit_round(self._upbit_raw(s), f"KRW-{s}")

    def binance_last(self, sym: str) -> float:
        s = self._check(sym)
        return round_to(self._bn[s], binance_spec(s)["tickSize"])

    def upbit_mid(self, sym) -> float:
        bids, asks = self.upbit_book(sym)
        return (bids[0][0] + asks[0][0]) / 2

    def binance_mid(self, sym) -> float:
        bids, asks = self.binance_book(sym)
        return (bids[0][0] + asks[0][0]) / 2

    def premium(self, sym: str) -> float:
        """Current mid premium in percent (from the served books and the bank rate)."""
        s = self._check(sym)
        return (self.upbit_mid(s) / (self.binance_mid(s) * self.usdkrw) - 1) * 100

    def raw_premium(self, sym: str) -> float:
        s = self._check(sym)
        return (self._up[s] / (self._bn[s] * self.usdkrw) - 1) * 100

    def upbit_book(self, sym, levels: int | None = None) -> Book:
        """(bids descending, asks ascending) of (price KRW, size) on Upbit's tick grid."""
        s = sym.upper()
        market = f"KRW-{s}"
        n = levels or self.levels
        with self._lock:
            mid = self._upbit_raw(s)
        tick = upbit_tick(mid, market)
        half = mid * self.spread_bps / 2 / 1e4
        bid0 = upbit_round(mid - half, market, "down")
        ask0 = upbit_round(mid + half, market, "up")
        if ask0 <= bid0:
            ask0 = upbit_round(bid0 + tick, market, "up")
        step = max(tick, round_to(mid * 1e-4, tick, "down"))
        salt = sum(ord(c) for c in s)
        bids, asks = [], []
        last_b, last_a = None, None
        for i in range(n):
            bp = upbit_round(bid0 - i * step, market, "down")
            ap = upbit_round(ask0 + i * step, market, "up")
            if last_b is not None and bp >= last_b:
                bp = upbit_round(last_b - upbit_tick(last_b, market), market, "down")
            if last_a is not None and ap <= last_a:
                ap = upbit_round(last_a + upbit_tick(last_a, market), market, "up")
            last_b, last_a = bp, ap
            if bp > 0:
                bids.append((bp, round(self.level_size_krw * _mult(salt, 1, i) / bp, 8)))
            asks.append((ap, round(self.level_size_krw * _mult(salt, 2, i) / ap, 8)))
        return bids, asks

    def binance_book(self, sym, levels: int | None = None) -> Book:
        """(bids descending, asks ascending) of (price USDT, qty) on Binance's tick/step grid."""
        s = self._check(sym)
        spec = binance_spec(s, self._bn[s])
        n = levels or max(self.levels, 20)
        with self._lock:
            mid = self._bn[s]
            usdkrw = self.usdkrw
        tick = float(spec["tickSize"])
        half = mid * self.spread_bps / 2 / 1e4
        bid0 = round_to(mid - half, spec["tickSize"], "down")
        ask0 = round_to(mid + half, spec["tickSize"], "up")
        if ask0 <= bid0:
            ask0 = round_to(bid0 + tick, spec["tickSize"])
        step = max(tick, round_to(mid * 1e-4, spec["tickSize"], "down"))
        qstep = spec["stepSize"]
        salt = sum(ord(c) for c in s)
        bids, asks = [], []
        for i in range(n):
            bp = round_to(bid0 - i * step, spec["tickSize"])
            ap = round_to(ask0 + i * step, spec["tickSize"])
            notional = self.level_size_krw / usdkrw
            bq = max(float(qstep), round_to(notional * _mult(salt, 3, i) / max(bp, tick), qstep, "down"))
            aq = max(float(qstep), round_to(notional * _mult(salt, 4, i) / ap, qstep, "down"))
            if bp > 0:
                bids.append((bp, bq))
            asks.append((ap, aq))
        return bids, asks

    def mark_price(self, sym: str) -> float:
        s = self._check(sym)
        return round(self._bn[s], 8)

    def index_price(self, sym: str) -> float:
        s = self._check(sym)
        return round(self._bn[s] * (1 - 0.00005), 8)

    def next_funding_ms(self, now_ms: int | None = None) -> int:
        """Next 00:00 / 08:00 / 16:00 UTC."""
        now = self.clock.now_ms() if now_ms is None else now_ms
        period = 8 * 3600 * 1000
        return (now // period + 1) * period

    def state(self) -> dict:
        """JSON-able snapshot (the control API's ``GET /_sim/state``)."""
        out = {"time": self.clock.now_ms(), "usdkrw": self.usdkrw, "usdt_krw": self.usdt_krw, "symbols": {}}
        for s in self.symbols:
            ub, ua = self.upbit_book(s, 1)
            bb, ba = self.binance_book(s, 1)
            out["symbols"][s] = {
                "binance_mid": self.binance_mid(s), "binance_bid": bb[0][0], "binance_ask": ba[0][0],
                "upbit_mid": self.upbit_mid(s), "upbit_bid": ub[0][0], "upbit_ask": ua[0][0],
                "upbit_last": self.upbit_last(s), "premium_pct": self.premium(s),
                "premium_usdt_pct": (self.upbit_mid(s) / (self.binance_mid(s) * self.usdt_krw) - 1) * 100,
                "funding_rate": self.funding_rate[s],
            }
        out["upbit_balances"] = dict(self.upbit_balances)
        out["binance_usdt"] = self.binance_usdt
        return out

    # ------------------------------------------------------------------ demo path
    def step(self, dt_s: float) -> None:
        """Advance the demo path by ``dt_s`` seconds (times ``speed``), deterministically from seed."""
        dt = float(dt_s) * self.speed
        if dt <= 0:
            return
        g = self._rng.gauss
        with self._lock:
            fxv = self.usdkrw_vol_daily / math.sqrt(86400)
            theta = math.log(2) / self.premium_half_life_s
            a = math.exp(-theta * dt)
            ratio = self.usdt_krw / self.usdkrw
            old_fx = self.usdkrw
            self.usdkrw *= math.exp(fxv * math.sqrt(dt) * g(0, 1))
            self.usdt_krw = self.usdkrw * (ratio + (1.011 - ratio) * (1 - a)
                                           + 0.0005 * math.sqrt(1 - a * a) * g(0, 1))
            noise = self.premium_std * math.sqrt(max(0.0, 1 - a * a))
            p_exc = 1 - math.exp(-self.excursion_rate_per_s * dt)
            for s in self.symbols:
                p = (self._up[s] / (self._bn[s] * old_fx) - 1) * 100
                vol = ANNUAL_VOL.get(s, 0.8) / math.sqrt(365 * 86400)
                self._bn[s] *= math.exp(vol * math.sqrt(dt) * g(0, 1) - 0.5 * vol * vol * dt)
                mu = self._mu[s]
                p = mu + (p - mu) * a + noise * g(0, 1)
                if self._rng.random() < p_exc:
                    lo, hi = self.excursion_sigmas
                    p += self._rng.choice((-1, 1)) * self._rng.uniform(lo, hi) * self.premium_std
                self._up[s] = self._bn[s] * self.usdkrw * (1 + p / 100)
        self._changed()

    # ------------------------------------------------------------------ history
    def _series(self, venue: str, sym: str) -> tuple[str, str]:
        v = venue.lower()
        s = sym.upper()
        if v not in ("upbit", "binance"):
            raise ValueError(f"unknown venue {venue!r}")
        if v == "binance":
            self._check(s)
        elif s != "USDT":
            self._check(s)
        return (v, s)

    def _record(self) -> None:
        """Fold the served state into per-minute OHLC aggregates (the live part of history)."""
        m = self.clock.now_ms() // 60000
        vals = []
        for s in self.symbols:
            vals.append((("binance", s), self.binance_last(s)))
            vals.append((("upbit", s), self.upbit_last(s)))
        vals.append((("upbit", "USDT"), self.upbit_last("USDT")))
        for key, v in vals:
            agg = self._live.setdefault(key, {})
            keys = self._live_keys.setdefault(key, [])
            bar = agg.get(m)
            if bar is None:
                agg[m] = [v, v, v, v]
                if not keys or keys[-1] < m:
                    keys.append(m)
                else:  # clock moved backwards (tests): keep the key list sorted
                    import bisect
                    bisect.insort(keys, m)
            else:
                bar[1] = max(bar[1], v)
                bar[2] = min(bar[2], v)
                bar[3] = v
        if len(self._day_cache) > 64:
            self._day_cache.clear()

    def _volume(self, key: tuple[str, str], minutes: np.ndarray, price: np.ndarray) -> np.ndarray:
        salt = (sum(ord(c) for c in key[0] + key[1]) * 2654435761) & 0xFFFFFFFF
        h = (minutes.astype(np.uint64) * np.uint64(2246822519) + np.uint64(salt)) & np.uint64(0xFFFFFFFF)
        h = (h ^ (h >> np.uint64(13))) * np.uint64(3266489917) & np.uint64(0xFFFFFFFF)
        u = (h.astype(np.float64) + 0.5) / 2**32
        krw_per_min = self.level_size_krw * (0.2 + 3.0 * u * u)
        if key[0] == "binance":
            krw_per_min = krw_per_min * 4
            return krw_per_min / (price * self._fx_hist[0])
        return krw_per_min / price

    def _synthetic(self, key: tuple[str, str]) -> dict[str, np.ndarray]:
        """1-minute OHLCV for the ``history_days`` before t0, generated once from the seed."""
        got = self._hist.get(key)
        if got is not None:
            return got
        venue, s = key
        n = self.history_days * 1440
        usdkrw0, usdt0 = self._fx_hist
        if s == "USDT":
            rng = np.random.default_rng([self.seed, 7777])
            dev = self._ou_path(rng, n, mu=0.0, std=0.15, half_life_min=240.0, end=0.0, excursions=False)
            close = usdt0 * (1 + dev / 100)
            c = upbit_round_array(close, "KRW-USDT")
        else:
            idx = self.symbols.index(s)
            rng = np.random.default_rng([self.seed, idx, 1])
            prem = self._ou_path(rng, n, mu=self._mu[s], std=self.premium_std,
                                 half_life_min=self.premium_half_life_s / 60, end=self._mu_start(s), excursions=True)
            rng2 = np.random.default_rng([self.seed, idx, 2])
            vol_m = ANNUAL_VOL.get(s, 0.8) / math.sqrt(365 * 1440)
            steps = rng2.normal(0.0, vol_m, n)
            cum = np.cumsum(steps)
            logp = math.log(self._start[0][s]) + (cum - cum[-1])  # ends at the start price
            bn = np.exp(logp)
            spec = binance_spec(s, self._start[0][s])
            if venue == "binance":
                t = float(spec["tickSize"])
                c = np.round(bn / t) * t
            else:
                krw = bn * usdkrw0 * (1 + prem / 100)
                market = f"KRW-{s}"
                c = upbit_round_array(krw, market)
        o = np.empty_like(c)
        o[0] = c[0]
        o[1:] = c[:-1]
        minutes = np.arange(self._t0_min - n, self._t0_min, dtype=np.int64)
        w = ((minutes * 2654435761) % 1000).astype(np.float64) / 1000.0 * 0.0004
        hi = np.maximum(o, c) * (1 + w)
        lo = np.minimum(o, c) * (1 - w)
        if venue == "binance":
            t = float(binance_spec(s, float(c[-1]))["tickSize"])
            hi = np.ceil(hi / t - 1e-9) * t
            lo = np.floor(lo / t + 1e-9) * t
        else:
            market = f"KRW-{s}"
            hi = upbit_round_array(hi, market, "up")
            lo = upbit_round_array(lo, market, "down")
        v = self._volume(key, minutes, c)
        got = {"o": o, "h": hi, "l": lo, "c": c, "v": v}
        self._hist[key] = got
        return got

    def _mu_start(self, s: str) -> float:
        bn, up, fx = self._start
        return (up[s] / (bn[s] * fx) - 1) * 100

    @staticmethod
    def _ou_path(rng: np.random.Generator, n: int, *, mu: float, std: float, half_life_min: float, end: float,
                 excursions: bool) -> np.ndarray:
        a = math.exp(-math.log(2) / max(half_life_min, 1e-9))
        eps = rng.normal(0.0, std * math.sqrt(1 - a * a), n)
        if excursions:
            jumps = rng.random(n) < (1 / 360.0)  # about one every 6 hours
            sizes = rng.uniform(3.0, 8.0, n) * std * np.where(rng.random(n) < 0.5, -1.0, 1.0)
            eps = eps + np.where(jumps, sizes, 0.0)
        x = np.empty(n)
        prev = rng.normal(0.0, std)  # deviation from mu, AR(1) solved in vectorised chunks
        chunk = 256
        pw = a ** np.arange(1, chunk + 1)
        for c0 in range(0, n, chunk):
            e = eps[c0:c0 + chunk]
            k = len(e)
            dev = pw[:k] * (prev + np.cumsum(e / pw[:k]))
            x[c0:c0 + k] = dev
            prev = dev[-1]
        x += mu
        tau = 60.0  # bridge the last hour into the starting state
        k = np.arange(n)
        x = x + (end - x[-1]) * np.exp(-(n - 1 - k) / tau)
        return x

    def _minute_bars(self, key: tuple[str, str], m_a: int, m_b: int) -> tuple[int, np.ndarray]:
        """Per-minute rows [o, h, l, c, v] for minutes m_a..m_b (clipped to what exists)."""
        syn = self._synthetic(key)
        n = len(syn["c"])
        m_start = self._t0_min - n
        m_a = max(m_a, m_start)
        if m_b < m_a:
            return m_a, np.empty((0, 5))
        rows = []
        if m_a < self._t0_min:
            i0 = m_a - m_start
            i1 = min(m_b, self._t0_min - 1) - m_start + 1
            rows.append(np.column_stack([syn["o"][i0:i1], syn["h"][i0:i1], syn["l"][i0:i1], syn["c"][i0:i1],
                                         syn["v"][i0:i1]]))
        if m_b >= self._t0_min:
            import bisect
            agg = self._live.get(key, {})
            keys = self._live_keys.get(key, [])
            la = max(m_a, self._t0_min)
            mins = np.arange(la, m_b + 1, dtype=np.int64)
            live = np.empty((len(mins), 5))
            pos = bisect.bisect_right(keys, la) - 1
            last_close = agg[keys[pos]][3] if pos >= 0 else float(syn["c"][-1])
            for j, m in enumerate(range(la, m_b + 1)):
                bar = agg.get(m)
                if bar is None:
                    live[j, :4] = last_close
                else:
                    live[j, 0], live[j, 1], live[j, 2], live[j, 3] = bar
                    last_close = bar[3]
            live[:, 4] = self._volume(key, mins, live[:, 3])
            rows.append(live)
        return m_a, np.vstack(rows) if len(rows) > 1 else rows[0]

    def candles(self, venue: str, sym: str, minutes: int, end_ms: int | None = None,
                count: int = 200) -> list[tuple[int, float, float, float, float, float]]:
        """The last ``count`` candles of ``minutes`` length whose open time is <= ``end_ms``.

        Oldest first, as (open_ms, open, high, low, close, volume). Buckets are aligned to UTC
        (a 1440-minute candle is a UTC day, i.e. Upbit's KST 09:00 day). The newest candle may be
        the one in progress. Nothing exists before ``history_days`` ahead of the market's start.
        """
        key = self._series(venue, sym)
        unit = int(minutes)
        if unit <= 0 or count <= 0:
            return []
        now_ms = int(self.clock.now_ms())
        end = now_ms if end_ms is None else min(int(end_ms), now_ms)
        now_min = now_ms // 60000
        last_b = (end // 60000) // unit * unit
        first_b = last_b - (count - 1) * unit
        with self._lock:
            m_a, rows = self._minute_bars(key, first_b, min(last_b + unit - 1, now_min))
        out = []
        if len(rows) == 0:
            return out
        m_last = m_a + len(rows) - 1
        b = max(first_b, (m_a // unit) * unit)
        while b <= last_b:
            i0 = max(b, m_a) - m_a
            i1 = min(b + unit - 1, m_last) - m_a
            if i1 >= i0:
                seg = rows[i0:i1 + 1]
                out.append((b * 60000, float(seg[0, 0]), float(seg[:, 1].max()), float(seg[:, 2].min()),
                            float(seg[-1, 3]), float(seg[:, 4].sum())))
            b += unit
        return out

    def history_5m(self, venue: str, sym: str, end_ms: int | None = None, count: int = 5760):
        """5-minute candles, oldest first (20 days = 5760 bars by default)."""
        return self.candles(venue, sym, 5, end_ms, count)

    def day_stats(self, venue: str, sym: str) -> dict:
        """Today's (UTC day = Upbit's KST 09:00 day) open/high/low, previous close, 24h volume."""
        now = self.clock.now_ms()
        key = (venue, sym.upper(), now // 60000, self.update_id.get(sym.upper(), 0))
        got = self._day_cache.get(key)
        if got is not None:
            return got
        days = self.candles(venue, sym, 1440, now, 2)
        today = days[-1]
        prev_close = days[-2][4] if len(days) > 1 else today[1]
        day24 = self.candles(venue, sym, 60, now, 24)
        vol24 = sum(c[5] for c in day24)
        quote24 = sum(c[5] * c[4] for c in day24)
        got = {"open": today[1], "high": today[2], "low": today[3], "prev_close": prev_close,
               "volume": today[5], "quote_volume": today[5] * today[4], "volume_24h": vol24,
               "quote_volume_24h": quote24, "day_open_ms": today[0]}
        self._day_cache[key] = got
        return got
