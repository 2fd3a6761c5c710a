"""Protections no configuration can silently switch off (SPEC §3).

After freqtrade's MaxDrawdown / StoplossGuard / CooldownPeriod and hummingbot's kill switch, over
the trade history the store already keeps (closed positions with their realized P&L, rolled-back
trades with their cost):

- daily loss limit: the net realized loss of the KST day (fees, funding, rollback costs included)
  reaches ``protections.daily_loss_limit_pct`` of the capital -> halt;
- round trips: one coin completes ``protections.max_round_trips_per_hour`` round trips within 60
  minutes -> halt (a churning coin pays fees every trip);
- consecutive losses: ``protections.max_consecutive_losses`` exits in a row at a loss -> halt;
- cooldown: after an exit at a loss, no new entry in that coin for ``protections.loss_cooldown_minutes``.

A halt is the store's persisted halt (one critical alert naming rule, value and limit; ``/resume``
lifts it). The cooldown blocks one coin for a while (one alert per losing exit); it ends by itself.
``/resume`` also restarts every count from that moment (the owner has looked at what tripped), so a
lifted halt does not trip again on the same history. The functions here are pure over a
:class:`History`; :class:`ProtectionGuard` reads the store and keeps the baseline.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

from kimpbot.events import Event, EventBus
from kimpbot.i18n import events as E

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
KST_OFFSET_MS = 9 * HOUR_MS
SINCE_KEY = "protections.since_ms"  # store state: counts start here (set by /resume)


@dataclass(frozen=True)
class Limits:
    daily_loss_pct: float
    capital_krw: float
    max_round_trips: int
    cooldown_minutes: float
    max_consecutive_losses: int

    @property
    def daily_loss_krw(self) -> float:
        return self.capital_krw * self.daily_loss_pct / 100.0

    @property
    def cooldown_ms(self) -> int:
        return int(self.cooldown_minutes * 60_000)

    @classmethod
    def from_owner(cls, owner: Any) -> "Limits":
        return cls(daily_loss_pct=float(owner["protections.daily_loss_limit_pct"]),
                   capital_krw=float(owner["capital.initial_capital_krw"]),
                   max_round_trips=int(owner["protections.max_round_trips_per_hour"]),
                   cooldown_minutes=float(owner["protections.loss_cooldown_minutes"]),
                   max_consecutive_losses=int(owner["protections.max_consecutive_losses"]))


@dataclass(frozen=True)
class RoundTrip:
    """A closed position: one entry (and its adds) and its exit."""

    id: str
    symbol: str
    closed_ms: int
    realized_krw: float

    @property
    def loss(self) -> bool:
        return self.realized_krw < 0


@dataclass(frozen=True)
class Cost:
    """What a rolled-back trade cost (one leg filled and was unwound)."""

    symbol: str
    ms: int
    krw: float


@dataclass(frozen=True)
class History:
    trips: tuple[RoundTrip, ...]  # oldest first
    costs: tuple[Cost, ...] = ()

    @classmethod
    def from_docs(cls, positions: list[dict[str, Any]], trades: list[dict[str, Any]], since_ms: int) -> "History":
        trips = []
        for d in positions:
            if d.get("status") != "closed":
                continue
            closed = int(d.get("closed_ms") or 0)
            if closed <= since_ms:
                continue
            trips.append(RoundTrip(str(d.get("id")), str(d.get("symbol")), closed,
                                   float(d.get("realized_krw") or 0.0)))
        costs = []
        for t in trades:
            ms = int(t.get("closed_ms") or t.get("created_ms") or 0)
            if t.get("status") == "rolled_back" and ms > since_ms and float(t.get("cost_krw") or 0.0) > 0:
                costs.append(Cost(str(t.get("symbol")), ms, float(t["cost_krw"])))
        trips.sort(key=lambda r: (r.closed_ms, r.id))
        costs.sort(key=lambda c: c.ms)
        return cls(tuple(trips), tuple(costs))


def kst_day_start(ms: int) -> int:
    """Start of the KST calendar day holding ``ms`` (epoch ms)."""
    return (ms + KST_OFFSET_MS) // DAY_MS * DAY_MS - KST_OFFSET_MS


def daily_loss_krw(h: History, now_ms: int) -> float:
    """Net realized loss of the KST day so far (positive = a loss): exits' realized P&L and rollbacks' costs."""
    day0 = kst_day_start(now_ms)
    net = sum(r.realized_krw for r in h.trips if day0 <= r.closed_ms <= now_ms)
    net -= sum(c.krw for c in h.costs if day0 <= c.ms <= now_ms)
    return -net


def round_trips_last_hour(h: History, symbol: str, now_ms: int) -> int:
    return sum(1 for r in h.trips if r.symbol == symbol and now_ms - HOUR_MS < r.closed_ms <= now_ms)


def consecutive_losses(h: History) -> int:
    n = 0
    for r in reversed(h.trips):
        if not r.loss:
            break
        n += 1
    return n


def last_loss(h: History, symbol: str) -> RoundTrip | None:
    return next((r for r in reversed(h.trips) if r.symbol == symbol and r.loss), None)


@dataclass(frozen=True)
class Trip:
    """A protection that tripped: which rule, the value that tripped it, the limit and its key."""

    rule: str
    key: str
    value: str
    limit: str
    symbol: str | None = None
    until_ms: int | None = None  # a cooldown's end

    def text(self) -> str:
        return f"protection {self.rule}: {self.value}, limit {self.key} = {self.limit}"


def _krw(x: float) -> str:
    return f"{x:,.0f} KRW"


def halting_trips(h: History, lim: Limits, now_ms: int, symbols: list[str]) -> list[Trip]:
    """The rules that halt all entries, tripped by ``h`` at ``now_ms``."""
    out: list[Trip] = []
    loss = daily_loss_krw(h, now_ms)
    if loss >= lim.daily_loss_krw:
        out.append(Trip("daily loss limit", "protections.daily_loss_limit_pct",
                        f"net realized loss today (KST) {_krw(loss)}",
                        f"{lim.daily_loss_pct:g} % of {_krw(lim.capital_krw)} = {_krw(lim.daily_loss_krw)}"))
    streak = consecutive_losses(h)
    if streak >= lim.max_consecutive_losses:
        out.append(Trip("consecutive losses", "protections.max_consecutive_losses",
                        f"{streak} exits in a row at a loss", str(lim.max_consecutive_losses)))
    for sym in symbols:
        n = round_trips_last_hour(h, sym, now_ms)
        if n >= lim.max_round_trips:
            out.append(Trip("round trips per coin", "protections.max_round_trips_per_hour",
                            f"{sym} made {n} round trips within 60 min", f"{lim.max_round_trips} per hour", sym))
    return out


def cooldown_trip(h: History, lim: Limits, symbol: str, now_ms: int) -> Trip | None:
    """The cooldown that blocks entries in ``symbol`` at ``now_ms``, if any."""
    r = last_loss(h, symbol)
    if r is None or now_ms >= r.closed_ms + lim.cooldown_ms:
        return None
    until = r.closed_ms + lim.cooldown_ms
    return Trip("cooldown after a loss", "protections.loss_cooldown_minutes",
                f"{symbol} exit at a loss of {_krw(r.realized_krw)} at {_kst(r.closed_ms)}, no new {symbol} entry "
                f"until {_kst(until)} KST", f"{lim.cooldown_minutes:g} min", symbol, until)


def _kst(ms: int) -> str:
    return time.strftime("%H:%M", time.gmtime((ms + KST_OFFSET_MS) / 1000))


class ProtectionGuard:
    """Reads the trade history from the store, halts through ``halt`` (the risk manager's persisted
    halt: it alerts once and does nothing when already halted) and alerts each cooldown once."""

    def __init__(self, owner: Any, store: Any, bus: EventBus, now_ms: Callable[[], int],
                 halt: Callable[[str, str], bool]) -> None:
        self.store = store
        self.bus = bus
        self.now_ms = now_ms
        self._halt = halt
        self._cache: tuple[int, History] | None = None  # (read at ms, history)
        self.configure(owner)
        # losses booked before a restart were alerted by the run that booked them
        self._cooldowns_alerted: set[str] = {r.id for r in self.history().trips if r.loss}

    def configure(self, owner: Any) -> None:
        self.limits = Limits.from_owner(owner)
        self.symbols = list(owner.strategy.symbols)

    def since_ms(self) -> int:
        return int(self.store.get_state(SINCE_KEY, 0) or 0)

    # Entry signals ask several times a second while a cooldown lasts: the history read from the store is
    # reused for this long. Every exit this process books calls check(), which reads afresh.
    CACHE_MS = 2_000

    def history(self, fresh: bool = False) -> History:
        now = self.now_ms()
        if not fresh and self._cache is not None and 0 <= now - self._cache[0] < self.CACHE_MS:
            return self._cache[1]
        since = self.since_ms()
        # trades only matter for today's rollback costs: the newest few hundred cover any day
        h = History.from_docs(self.store.positions(status="closed"), self.store.trades(limit=500), since)
        self._cache = (now, h)
        return h

    def check(self) -> list[str]:
        """Trip what the history trips: halt (once) on a halting rule, alert a new cooldown once.
        Returns the halting trips' texts (empty: nothing halts)."""
        now = self.now_ms()
        h = self.history(fresh=True)
        for sym in self.symbols:
            cool = cooldown_trip(h, self.limits, sym, now)
            r = last_loss(h, sym)
            if cool is not None and r is not None and r.id not in self._cooldowns_alerted:
                self._cooldowns_alerted.add(r.id)
                msg = E.COOLDOWN(text=cool.text())
                log.critical("%s", msg.render("en"))
                self.bus.publish(Event("protection", msg, "critical",
                                       {"rule": cool.rule, "key": cool.key, "symbol": sym, "until_ms": cool.until_ms}))
        trips = halting_trips(h, self.limits, now, self.symbols)
        if trips:
            self._halt(trips[0].text() + ("" if len(trips) == 1 else
                                          "; also " + "; ".join(t.text() for t in trips[1:])), "protections")
        return [t.text() for t in trips]

    def entry_refusal(self, symbol: str) -> str | None:
        """Why an entry in ``symbol`` is refused now by a protection (None: it may go)."""
        now = self.now_ms()
        h = self.history()
        cool = cooldown_trip(h, self.limits, symbol, now)
        if cool is not None:
            return cool.text() + "; /resume lifts it early"
        trips = halting_trips(h, self.limits, now, self.symbols)
        return trips[0].text() if trips else None

    def cooling(self) -> list[str]:
        """The coins a cooldown blocks now."""
        now, h = self.now_ms(), self.history()
        return [s for s in self.symbols if cooldown_trip(h, self.limits, s, now) is not None]

    def reset(self) -> None:
        """/resume: every count starts again now (the owner has looked at what tripped)."""
        self.store.set_state(SINCE_KEY, self.now_ms())
        self._cache = None


def unfillable_sizes(owner: Any, rules: dict[tuple[str, str], Any], fx: float | None) -> list[str]:
    """At start, with each venue's own minimums: the coins whose smallest entry (or, live, the canary
    cap) is below a venue's minimum order, so those entries can never fill. Upbit's KRW minimum is
    also refused by the loader; Binance's minimum is per symbol in USDT (read at start), converted
    at the FX rate in force (skipped while there is none)."""
    from kimpbot.strategy_file.read import smallest_orders_krw

    out: list[str] = []
    for sym, krw in smallest_orders_krw(owner.params, owner.strategy).items():
        u, b = rules.get(("upbit", sym)), rules.get(("binance", sym))
        if u is not None and krw < float(u.min_notional):
            out.append(f"{sym}: the smallest entry {krw:,.0f} KRW is below Upbit's minimum order "
                       f"{float(u.min_notional):,.0f} KRW")
        if b is not None and fx:
            need = float(b.min_notional) * fx
            if krw < need:
                out.append(f"{sym}: the smallest entry {krw:,.0f} KRW is below Binance's minimum notional "
                           f"{b.min_notional} USDT (~{need:,.0f} KRW at {fx:,.2f}); such entries are refused")
    return out


def protections_line(owner: Any) -> str:
    """The protections in force, for the start banner."""
    lim = Limits.from_owner(owner)
    return (f"protections: halt at a daily loss of {_krw(lim.daily_loss_krw)} ({lim.daily_loss_pct:g} %), "
            f"{lim.max_round_trips} round trips per coin per hour or {lim.max_consecutive_losses} losses in a row; "
            f"{lim.cooldown_minutes:g} min cooldown after a loss")
