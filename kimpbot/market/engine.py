"""The market engine: latest books, FX and premiums per symbol, bars, and data health.

Flow (one direction): feed message → strict parse → book/ticker/FX state →
premium snapshot (quoted, mid, executable both ways) → premium bars → the
strategy's z window. Signals are allowed for a symbol only while its health is
clean: both books fresh, the FX rate fresh by its source's own time and
confirmed by the other source (kimpbot.market.fx), and the z window warmed up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from kimpbot.clock import Clock
from kimpbot.strategy_file.read import OwnerConfig
from kimpbot.events import Event, EventBus
from kimpbot.i18n import events as E
from kimpbot.market import parse
from kimpbot.market.bars import BarBuilder
from kimpbot.market.fx import FxGuard, FxPolicy
from kimpbot.market.premium import make_snapshot
from kimpbot.models import BadMarketData, BookLevel, FxRate, OrderBook, PremiumBar, PremiumSnapshot, Ticker, Venue
from kimpbot.strategy.rolling import MIN_STD, RollingStats

log = logging.getLogger(__name__)


class ZSource(Protocol):
    """What the engine needs of a strategy: feed it bars, ask it for z."""

    def on_bar(self, bar: PremiumBar) -> None: ...

    def zscore(self, symbol: str, premium_pct: float, now_ms: int | None = None) -> float | None: ...

    def history_from(self, symbol: str, since_ms: int) -> None: ...

    def stats(self, symbol: str) -> RollingStats: ...


@dataclass(slots=True)
class SymbolView:
    """What /status shows for one symbol."""

    snapshot: PremiumSnapshot | None = None
    z_mid: float | None = None
    z_long: float | None = None  # z of the executable long-premium entry
    z_short: float | None = None
    updates: int = 0


class MarketEngine:
    def __init__(self, owner: OwnerConfig, clock: Clock, bus: EventBus, strategy: ZSource | None = None) -> None:
        self.owner = owner
        self.symbols = list(owner.strategy.symbols)
        self.clock = clock
        self.bus = bus
        self.strategy = strategy
        self.fx = FxGuard(FxPolicy.from_owner(owner), clock)
        self.max_age_ms = int(owner["market.max_quote_age_s"] * 1000)
        self.upbit_fee = float(owner["fees.upbit_taker"])
        self.binance_fee = float(owner["fees.binance_taker"])
        self.order_krw = {s: owner.order_krw(s) for s in self.symbols}
        self.books: dict[tuple[Venue, str], OrderBook] = {}
        self.upbit_last: dict[str, Ticker] = {}
        self.views: dict[str, SymbolView] = {s: SymbolView() for s in self.symbols}
        self.window_bars = BarBuilder(owner.strategy.bar_minutes)
        self.confirm_bars = BarBuilder(owner.strategy.confirm_bar_minutes)
        self.last_bar_ts: dict[tuple[int, str], int] = {}
        self.bar_gaps = 0
        self.rejected = 0
        self.warm_bars: dict[str, int] = {s: 0 for s in self.symbols}  # window-length bars received (not: in the window)
        self._problems: dict[str, tuple[str, ...]] = {}
        self._fx_note_kind = ""
        self.on_snapshot: Callable[[PremiumSnapshot, SymbolView], None] | None = None

    # ---- inputs -------------------------------------------------------------------------

    def on_upbit_message(self, msg: dict[str, Any]) -> bool:
        """One Upbit websocket message (or REST element). Returns False if rejected."""
        now = self.clock.now_ms()
        kind = msg.get("type") or msg.get("ty")
        try:
            if kind == "orderbook":
                self.on_book(parse.upbit_orderbook(msg, now))
            elif kind == "ticker":
                t = parse.upbit_ticker(msg, now)
                if t.symbol == "USDT" or msg.get("code") == "KRW-USDT":
                    self.on_fx(FxRate("usdt", t.last, t.exchange_ts, now))
                elif t.symbol in self.views:
                    self.upbit_last[t.symbol] = t
            else:
                return True  # status frames and other types are not market data
        except BadMarketData as exc:
            return self._reject("upbit", exc)
        return True

    def on_binance_message(self, msg: dict[str, Any]) -> bool:
        now = self.clock.now_ms()
        kind = msg.get("e")
        try:
            if kind == "depthUpdate":
                self.on_book(parse.binance_depth(msg, now))
            elif kind == "bookTicker":
                sym, bid, ask, ts = parse.binance_book_ticker(msg, now)
                self._merge_top(sym, bid, ask, ts, now)
            elif "result" in msg or "id" in msg:
                if msg.get("error"):
                    log.error("binance websocket refused the subscription: %s", msg.get("error"))
                return True
        except BadMarketData as exc:
            return self._reject("binance", exc)
        return True

    def _reject(self, venue: str, exc: Exception) -> bool:
        self.rejected += 1
        log.warning("%s: rejected market data: %s", venue, exc)
        return False

    def _merge_top(self, sym: str, bid: BookLevel, ask: BookLevel, ts: int, now: int) -> None:
        """bookTicker is faster than the 100 ms depth snapshot: lay it over the top levels."""
        book = self.books.get((Venue.BINANCE, sym))
        if book is None or ts < book.exchange_ts:
            return
        bids = [bid] + [lv for lv in book.bids if lv.price < bid.price]
        asks = [ask] + [lv for lv in book.asks if lv.price > ask.price]
        self.on_book(OrderBook(Venue.BINANCE, sym, bids, asks, ts, now))

    def on_book(self, book: OrderBook) -> None:
        if book.symbol not in self.views:
            return
        key = (book.venue, book.symbol)
        prev = self.books.get(key)
        if prev is not None and book.exchange_ts < prev.exchange_ts:
            return  # out of order: keep the newer book
        self.books[key] = book
        self._recompute(book.symbol)

    def on_fx(self, reading: FxRate) -> None:
        note = self.fx.update(reading)
        if note:
            level = "warning" if self.fx.suspect else "info"
            log.log(logging.WARNING if self.fx.suspect else logging.INFO, "%s", note)
            self.bus.publish(Event("fx", E.FX_NOTE(note=note), level, {"source": reading.source, "rate": reading.rate,
                                                       "suspect": self.fx.suspect}))
        if reading.source == self.fx.source:
            self.recompute_all()
        elif note:
            # a confirmation by the other source changes what signals may do: re-evaluate now
            self.recompute_all()

    def recompute_all(self) -> None:
        for sym in self.symbols:
            self._recompute(sym)

    # ---- premium ------------------------------------------------------------------------

    def _recompute(self, sym: str) -> None:
        ub = self.books.get((Venue.UPBIT, sym))
        bb = self.books.get((Venue.BINANCE, sym))
        fx = self.fx.rate()
        if ub is None or bb is None or fx is None:
            return
        last = self.upbit_last.get(sym)
        now = self.clock.now_ms()
        snap = make_snapshot(sym, ub, bb, fx.rate, self.fx.source, self.order_krw[sym], self.upbit_fee,
                             self.binance_fee, now, last.last if last else None)
        view = self.views[sym]
        view.snapshot = snap
        view.updates += 1
        closed = self.window_bars.add(sym, now, snap.mid)
        if closed is not None:
            self._bar_closed(closed)
        closed = self.confirm_bars.add(sym, now, snap.mid)
        if closed is not None:
            self._bar_closed(closed)
        strat = self.strategy
        if strat is not None:
            view.z_mid = strat.zscore(sym, snap.mid, now)  # now: bars older than the window's span drop out
            view.z_long = strat.zscore(sym, snap.exec_long, now) if snap.exec_long is not None else None
            view.z_short = strat.zscore(sym, snap.exec_short, now) if snap.exec_short is not None else None
        if self.on_snapshot is not None:
            self.on_snapshot(snap, view)

    def roll_bars(self) -> list[PremiumBar]:
        """Scheduler job at each bar boundary: close bars even when no tick arrived."""
        now = self.clock.now_ms()
        bars = self.window_bars.roll(now) + self.confirm_bars.roll(now)
        for bar in bars:
            self._bar_closed(bar)
        return bars

    def _bar_closed(self, bar: PremiumBar) -> None:
        key = (bar.minutes, bar.symbol)
        last = self.last_bar_ts.get(key)
        if last is not None and bar.ts > last + bar.minutes * 60_000:
            missing = (bar.ts - last) // (bar.minutes * 60_000) - 1
            self.bar_gaps += missing
            log.warning("%s: %d missing %d-minute premium bar(s) before %d (no data)", bar.symbol, missing,
                        bar.minutes, bar.ts)
        if last is None or bar.ts > last:  # history landing behind a live bar is not a step back
            self.last_bar_ts[key] = bar.ts
        if bar.minutes == self.window_bars.minutes:
            self.warm_bars[bar.symbol] = self.warm_bars.get(bar.symbol, 0) + 1
        if self.strategy is not None:
            self.strategy.on_bar(bar)

    def warm_start(self, bars: dict[str, list[PremiumBar]], since_ms: int | None = None) -> None:
        """Feed history (oldest first) into the z window; ``since_ms``: where it was asked from.
        Live bars may already be in the window (the first one can close while candles are being
        fetched): history takes its place before them."""
        for sym, rows in bars.items():
            if since_ms is not None and self.strategy is not None:
                self.strategy.history_from(sym, since_ms)
            for bar in rows:
                self._bar_closed(bar)
        self.recompute_all()  # z is there at once, not at the next tick

    # ---- health -------------------------------------------------------------------------

    def global_problems(self) -> list[str]:
        return self.fx.problems()

    def symbol_problems(self, sym: str) -> list[str]:
        now = self.clock.now_ms()
        out: list[str] = []
        for venue, label in ((Venue.UPBIT, f"Upbit KRW-{sym}"), (Venue.BINANCE, f"Binance {sym}USDT")):
            book = self.books.get((venue, sym))
            if book is None:
                out.append(f"{label} book missing: no data yet")
                continue
            age = now - book.received_ts
            if age > self.max_age_ms:
                out.append(f"{label} book stale: {age / 1000:.1f} s old "
                           f"(market.max_quote_age_s {self.max_age_ms / 1000:g})")
            lag = book.received_ts - book.exchange_ts
            if lag > self.max_age_ms:
                out.append(f"{label} book stale: exchange time is {lag / 1000:.1f} s behind arrival")
        view = self.views[sym]
        snap = view.snapshot
        if snap is not None and (snap.exec_long is None or snap.exec_short is None):
            out.append(f"{sym}: book too thin to fill {snap.order_krw:,.0f} KRW")
        if self.strategy is not None and snap is not None:
            why = self._z_problem(sym, snap.mid, now)
            if why:
                out.append(why)
        return out

    def _z_problem(self, sym: str, mid: float, now: int) -> str:
        """Why there is no z now ("" when there is one), from the window itself (not the z of the
        last tick, which a bar closed by the scheduler since may have changed)."""
        assert self.strategy is not None
        if self.strategy.zscore(sym, mid, now) is not None:
            return ""
        st = self.strategy.stats(sym)
        if st.covered < st.window:
            return f"{sym}: z window warming up (history covers {st.covered}/{st.window} bars of its span)"
        if st.count < st.need:
            return (f"{sym}: z window warming up ({st.count}/{st.need} bars in its span; "
                    f"zscore.min_window_fill)")
        return f"{sym}: z window flat (std below {MIN_STD:g} pp over {st.count} bars): no z"

    def check_health(self) -> dict[str, list[str]]:
        """Problems per symbol (global FX problems included); publishes transitions."""
        glob = self.global_problems()
        self._fx_note_changes()
        result: dict[str, list[str]] = {}
        for sym in self.symbols:
            probs = glob + self.symbol_problems(sym)
            result[sym] = probs
            # Compare by kind of problem, not its text: ages change every second.
            key = tuple(p.split(":")[0] for p in probs)
            before = self._problems.get(sym)
            if before is None or bool(before) != bool(key) or (key and before != key):
                if key:
                    msg = E.HEALTH_STOPPED(coin=sym, problems="; ".join(probs))
                    log.warning("%s", msg.render("en"))
                    self.bus.publish(Event("health", msg, "warning", {"symbol": sym, "problems": probs}))
                elif before:
                    msg = E.HEALTH_OK(coin=sym)
                    log.info("%s", msg.render("en"))
                    self.bus.publish(Event("health", msg, "info", {"symbol": sym, "problems": []}))
            self._problems[sym] = key
        return result

    def _fx_note_changes(self) -> None:
        """Tell the owner once when trading goes on under an FX caveat (a closed bank market
        confirmed by USDT, the other source suspect or unavailable); compared by kind, not numbers."""
        note = self.fx.note()
        kind = note.split(",")[0].split("(")[0].strip()
        if kind != self._fx_note_kind:
            self._fx_note_kind = kind
            if note:
                log.info("FX: %s", note)
                self.bus.publish(Event("fx", E.FX_CAVEAT(note=note), "info", {"source": self.fx.source, "note": note}))

    def signals_allowed(self, sym: str) -> bool:
        return not self.global_problems() and not self.symbol_problems(sym)
