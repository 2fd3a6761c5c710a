"""Two-leg executor: a signal becomes a hedged pair trade, or an unwound, reported failure.

Order of operations for every pair (entry, add or exit):

1. the trade and both leg intents are journaled (crash-safe) before anything is sent;
2. both legs go out concurrently, each with a client order id derived from the
   trade id, each under a timeout;
3. a leg with no answer (timeout, lost response, a 5xx / Binance -1007 "execution status
   unknown", pyupbit's ``None``) is queried by client id until it is final: never assumed
   placed, never assumed not. "Not found" after such an answer is provisional: the trade settles
   as if nothing filled, but the order stays open in the journal and is watched (queried with
   back-off) for ``late_window_s``; a late booking is journaled, alerted (critical, naming coin,
   venue, side and quantity) and unwound the moment it shows. While any order of a coin has no
   final answer, no order of that coin goes out (``unresolved``);
4. the filled quantities are compared. Any difference beyond dust is unwound by a
   market order on the larger side (entry), or the missing leg is retried and, if
   it still fails, the filled leg is reversed (exit), so every outcome ends
   hedged or flat;
5. every fill, partial fill, rollback and unwind is published; anything left
   unhedged is published as a critical ``exposure`` event naming symbol, venue,
   side and quantity, and new entries are halted.

When the journal cannot be written (disk full), nothing more is sent: an order whose intent (or
"sent" mark) fails to write is answered REJECTED "not sent" without reaching the exchange, unwinds
included. An unjournaled unwind would be sent a second time by the restart reconciliation, which
would still see the leg unhedged: so the leg is left as it is, named in a critical alert, and
unwound by that same reconciliation once the journal writes again (``Trader``'s store recovery).
Results that arrive for orders already sent are kept in memory (``unjournaled``) and written first
thing when the journal writes again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Awaitable, Callable

from kimpbot.clock import Clock
from kimpbot.events import Event, EventBus
from kimpbot.i18n import Text
from kimpbot.i18n import common as C
from kimpbot.i18n import events as E
from kimpbot.i18n import units as U
from kimpbot.execution.venues import (MarketRules, OrderRequest, OrderResult, OrderStatus, PerpVenue, Side,
                                      TradingVenue)
from kimpbot.models import Direction
from kimpbot.store import Store, StoreFailed
from kimpbot.store.codec import parse_client_order_id
from kimpbot.strategy.base import PairFill, Position, Signal, add_to_position, open_position

log = logging.getLogger(__name__)

# journal statuses (kimpbot.store)
_J_STATUS = {
    OrderStatus.FILLED: "filled",
    OrderStatus.PARTIAL: "canceled",  # final with a partial fill in filled_qty
    OrderStatus.REJECTED: "rejected",
    OrderStatus.NOT_FOUND: "unknown",  # keep it open: a late placement is re-checked by reconciliation
    OrderStatus.OPEN: "open",
    OrderStatus.UNKNOWN: "unknown",
}


@dataclass(frozen=True)
class ExecConfig:
    order_timeout_s: float = 5.0
    query_timeout_s: float = 3.0
    unknown_grace_s: float = 10.0  # how long to keep querying a leg with no answer
    query_interval_s: float = 0.25
    retry_delay_s: float = 0.5  # before resending a retryable (429) order with the same client id
    max_retries: int = 2
    # An order answered "status unknown" and then not found may still be booked by the exchange:
    # it is watched (queried with back-off up to late_query_max_s) this long before it is taken as
    # never placed; meanwhile no order of its coin goes out.
    late_window_s: float = 120.0
    late_query_max_s: float = 2.0
    position_check_s: float = 2.0  # the trader compares journal and exchange positions this often


# Rejections that come back the same on the next try (the account or the request is wrong, not the
# moment): the first one halts entries, naming the cause. Binance USDT-M error codes / Upbit error names.
_PERMANENT_BINANCE = {
    -2019: "margin is insufficient", -2018: "balance is insufficient", -2014: "API key format invalid",
    -2015: "API key, IP or permissions refused", -1022: "signature refused", -2022: "reduce-only order refused",
    -4164: "order notional below the minimum", -1111: "quantity precision", -4003: "quantity not positive",
    -4004: "quantity below the minimum", -4005: "quantity above the maximum", -4061: "position side "
    "(hedge mode) mismatch", -2010: "order refused by the matching engine", -1102: "a parameter is missing",
}
_PERMANENT_UPBIT = ("insufficient_funds", "under_min_total", "invalid_", "out_of_scope", "no_authorization_ip",
                    "expired_access_key", "jwt_verification", "validation_error", "create_ask_error",
                    "create_bid_error", "market_offline", "duplicated_identifier")


def permanent_rejection(res: OrderResult) -> str | None:
    """The cause of a rejection that a retry would meet again (None: transient, e.g. a rate limit,
    a clock skew, a market order that found no liquidity)."""
    if res.status is not OrderStatus.REJECTED or res.retryable or res.error.startswith("local: markets"):
        return None
    err = res.error or ""
    if res.venue == "binance":
        m = re.match(r"^(-\d+)\b\s*(.*)", err)
        if m and int(m.group(1)) in _PERMANENT_BINANCE:
            return f"Binance {m.group(1)} {m.group(2).strip() or _PERMANENT_BINANCE[int(m.group(1))]}"
        return None
    m = re.match(r"^HTTP (\d+) (\w+)", err)
    if m and (m.group(1) in ("401", "403") or m.group(2).startswith(_PERMANENT_UPBIT)):
        return f"Upbit {m.group(2)} ({err.split(':', 1)[-1].strip()[:80]})"
    return None


@dataclass
class TradeOutcome:
    trade_id: str
    symbol: str
    action: str  # enter | add | exit
    status: str  # filled | partial | rolled_back | failed | exposed
    position_id: str | None = None
    upbit: OrderResult | None = None
    binance: OrderResult | None = None
    unwinds: list[OrderResult] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    cost_krw: float = 0.0  # what a rollback cost (the unwound part's entry fee, the unwind's fee, price move), KRW
    cost_fees_krw: float = 0.0  # of which fees
    exposure: list[str] = field(default_factory=list)  # unhedged quantities left, named
    skew_ms: float = 0.0  # time between the two legs leaving

    @property
    def hedged_or_flat(self) -> bool:
        return not self.exposure


def position_to_doc(p: Position, status: str = "open", **extra: Any) -> dict[str, Any]:
    d = dataclasses.asdict(p)
    d["direction"] = p.direction.value
    d["status"] = status
    d.update(extra)
    return d


def position_from_doc(d: dict[str, Any]) -> Position:
    names = {f.name for f in dataclasses.fields(Position)}
    kw = {k: v for k, v in d.items() if k in names}
    kw["direction"] = Direction(kw["direction"])
    return Position(**kw)


class Executor:
    def __init__(self, upbit: TradingVenue, binance: PerpVenue, store: Store, bus: EventBus, clock: Clock,
                 rules: dict[tuple[str, str], MarketRules], cfg: ExecConfig | None = None) -> None:
        self.upbit = upbit
        self.binance = binance
        self.store = store
        self.bus = bus
        self.clock = clock
        self.rules = rules
        self.cfg = cfg or ExecConfig()
        self.locks: dict[str, asyncio.Lock] = {}
        self.consecutive_failures = 0
        self.on_failure: Callable[[str], None] | None = None  # risk manager hook
        self.on_exposure: Callable[[str], None] | None = None  # halts entries
        self.on_rejection: Callable[[str], None] | None = None  # a permanent rejection: halts entries
        # a watched order got its final answer (journaled already); default: book_late_fill if it filled
        self.on_resolved: Callable[[Any, OrderResult], Awaitable[Any]] | None = None
        self._watchers: dict[str, asyncio.Task[None]] = {}  # client id -> late-booking watch
        self.activity: dict[str, int] = {}  # symbol -> orders started + finished (position checks skip a change)
        self._wake: dict[str, asyncio.Event] = {}
        # order results the journal refused (disk full), written by flush_unjournaled() on recovery
        self.unjournaled: dict[str, tuple[OrderRequest, OrderResult]] = {}
        # late fills whose reversal could not be journaled (so not sent): reversed on store recovery
        self.late_held: dict[str, tuple[Any, OrderResult]] = {}

    # ---- orders without a final answer ---------------------------------------------------

    def unresolved(self, symbol: str) -> list[Any]:
        """Journal entries of ``symbol`` with no final answer: while there is one, no order of
        that coin may go out (a late booking of it would double or unhedge the next one)."""
        return [e for e in self.store.journal_open() if e.symbol == symbol]

    @staticmethod
    def describe_unresolved(entries: list[Any]) -> str:
        e = entries[0]
        more = f" (and {len(entries) - 1} more)" if len(entries) > 1 else ""
        return (f"order {e.client_order_id} ({e.venue} {e.side} {e.qty} {e.symbol}) has no final answer yet{more}; "
                f"no {e.symbol} order goes out until it has")

    def watching(self, client_id: str) -> bool:
        t = self._watchers.get(client_id)
        return t is not None and not t.done()

    def watch(self, client_id: str) -> None:
        """Query ``client_id`` with back-off until it is final or its late window has passed."""
        if self.watching(client_id):
            return
        self._wake[client_id] = asyncio.Event()
        task = asyncio.create_task(self._watch(client_id))
        self._watchers[client_id] = task
        task.add_done_callback(lambda t, cid=client_id: self._watch_done(cid, t))

    def _watch_done(self, cid: str, task: asyncio.Task[None]) -> None:
        if self._watchers.get(cid) is task:
            self._watchers.pop(cid, None)
            self._wake.pop(cid, None)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("watch of %s failed: %s: %s", cid, type(exc).__name__, exc, exc_info=exc)
            self._publish("error", E.WATCH_FAILED(cid=cid, err=f"{type(exc).__name__}: {exc}"), "critical",
                          client_id=cid)

    def poke(self, symbol: str) -> None:
        """Query the watched orders of ``symbol`` now (the position check saw something move)."""
        for e in self.unresolved(symbol):
            ev = self._wake.get(e.client_order_id)
            if ev is not None:
                ev.set()

    async def stop(self) -> None:
        tasks = list(self._watchers.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _venue(self, name: str) -> TradingVenue:
        return self.upbit if name == "upbit" else self.binance

    def late_window(self, venue_name: str) -> float:
        """How long after sending an order "not found" stays provisional on that venue."""
        return self.cfg.late_window_s if getattr(self._venue(venue_name), "can_book_late", True) else 0.0

    async def _watch(self, cid: str) -> None:
        delay = max(0.05, self.cfg.query_interval_s)
        said_unknown = False
        while True:
            e = self.store.journal_get(cid)
            if e is None or e.is_final:
                return
            venue = self._venue(e.venue)
            try:
                q = await venue.query(e.symbol, cid, self.cfg.query_timeout_s)
            except Exception as exc:
                q = OrderResult(e.venue, e.symbol, Side(e.side), cid, OrderStatus.UNKNOWN,
                                error=f"{type(exc).__name__}: {exc}")
            age_s = (self.clock.now_ms() - e.created_ms) / 1000
            if q.status in (OrderStatus.FILLED, OrderStatus.PARTIAL, OrderStatus.REJECTED):
                q = dataclasses.replace(q, side=Side(e.side))
                self._journal(_req_of_entry(e), q)
                if self.on_resolved is not None:
                    await self.on_resolved(e, q)
                elif q.filled_qty > 0:
                    await self.book_late_fill(e, q)
                if q.filled_qty <= 0:
                    self._publish("reconcile", E.LATE_NOTHING(coin=e.symbol, venue=C.venue(e.venue), cid=cid,
                                                              status=E.status(q.status.value)),
                                  "info", symbol=e.symbol, client_id=cid)
                return
            window = self.late_window(e.venue)
            if q.status is OrderStatus.NOT_FOUND and (age_s >= window or e.status == "intent"):
                self.store.journal_update(cid, "expired", Decimal(0), None, None, None,
                                          f"not found {age_s:.0f} s after it was sent (window {window:g} s): "
                                          "never placed")
                self._publish("reconcile", E.NEVER_PLACED(coin=e.symbol, venue=C.venue(e.venue), cid=cid,
                                                          age=f"{age_s:.0f}"), "info", symbol=e.symbol, client_id=cid)
                return
            if q.status is OrderStatus.UNKNOWN and age_s >= window and not said_unknown:
                said_unknown = True
                self._publish("error", E.NO_ANSWER(coin=e.symbol, venue=C.venue(e.venue), cid=cid, side=C.side(e.side),
                                                   qty=self._qty(e.venue, e.symbol, e.qty), age=f"{age_s:.0f}",
                                                   err=q.error), "critical", symbol=e.symbol, client_id=cid)
            ev = self._wake.get(cid)
            try:
                if ev is not None:
                    await asyncio.wait_for(ev.wait(), timeout=delay)
                else:
                    await asyncio.sleep(delay)
            except asyncio.TimeoutError:
                pass
            if ev is not None:
                ev.clear()
            delay = min(delay * 2, max(self.cfg.late_query_max_s, self.cfg.query_interval_s))

    async def book_late_fill(self, e: Any, res: OrderResult) -> Decimal:
        """An order given up on (its trade settled without it) filled after all: alert it as
        unhedged and reverse it. Returns the quantity reversed."""
        trade = self.store.get_trade(e.trade_id) or {}
        async with self.lock(e.symbol):  # after the trade that sent it has finished settling
            trade = self.store.get_trade(e.trade_id) or {}
            if trade.get("status") in (None, "sending"):
                return Decimal(0)  # not settled yet (a restart): its settlement counts this fill
            rules = self.rules.get((e.venue, e.symbol))
            late_args = dict(coin=e.symbol, venue=C.venue(e.venue), side=C.side(e.side),
                             qty=self._qty(e.venue, e.symbol, res.filled_qty),
                             price=self._price(e.venue, e.symbol, res.avg_price) if res.avg_price else "?",
                             cid=e.client_order_id, kind=e.kind, trade_id=e.trade_id)
            msg = E.LATE_FILL(**late_args, tail="").render("en")
            log.critical("%s", msg)
            # a coin no longer in the strategy file has no market rules loaded: alert it, never reverse blind
            late = e.kind == "unwind" or rules is None
            tail = (E.LATE_TAIL_UNWIND() if e.kind == "unwind" else E.LATE_TAIL_UNTRADED(coin=e.symbol)
                    if rules is None else E.LATE_TAIL_REVERSING())
            self._publish("exposure", E.LATE_FILL(**late_args, tail=tail), "critical", symbol=e.symbol,
                          venue=e.venue, side=e.side, qty=str(res.filled_qty), client_id=e.client_order_id,
                          trade_id=e.trade_id, late_fill=True)
            if late:
                if self.on_exposure:
                    self.on_exposure(msg)
                return Decimal(0)
            out = TradeOutcome(e.trade_id, e.symbol, "unwind", "filled")
            fx = float(trade.get("fx") or 0.0)
            try:
                # In flight again until the reversal is booked: a crash or stop meanwhile leaves the
                # trade "sending", and the restart settles it from the journal (this fill and any
                # reversal sent netted), as for any interrupted trade. Nothing else would name a
                # late Upbit surplus after a restart.
                self.store.upsert_trade({"id": e.trade_id, "status": "sending"})
            except StoreFailed:
                pass  # the reversal's intent cannot be written either: held below for the store recovery
            reopen = e.kind in ("exit", "exit_retry")  # a late close is reversed by re-opening
            done = await self._unwind(out, e.venue, e.symbol, Side(e.side), res.filled_qty, res.avg_price, rules,
                                      fx, reopen=reopen)
            left = res.filled_qty - done
            if left > 0 and self.store.failed is not None:
                # its reversal could not be journaled, so it was not sent: the store recovery
                # (Trader._after_store_recovered) reverses what is left, as a restart would
                self.late_held[e.client_order_id] = (e, dataclasses.replace(res, filled_qty=left))
                self._publish("exposure", E.LATE_NOT_REVERSED(coin=e.symbol, venue=C.venue(e.venue),
                                                               side=C.side(e.side),
                                                               qty=self._qty(e.venue, e.symbol, left),
                                                               cid=e.client_order_id), "critical", symbol=e.symbol, venue=e.venue, side=e.side, qty=str(left),
                              client_id=e.client_order_id, trade_id=e.trade_id)
                return done
            notes = list(trade.get("messages") or []) + [f"late fill {e.client_order_id}: {res.filled_qty} filled "
                                                         f"after settling; reversed {done}"]
            try:
                self.store.upsert_trade({"id": e.trade_id, "messages": notes, "status": trade.get("status"),
                                         "cost_krw": float(trade.get("cost_krw") or 0.0) + out.cost_krw})
            except StoreFailed as exc:  # the orders are journaled; only this note of the trade is lost
                log.warning("trade %s: late fill note not written (%s)", e.trade_id, exc)
            if left > 0 and not self._is_dust(left, res.avg_price or Decimal(1), rules):
                if self.on_exposure:
                    self.on_exposure(f"late fill of {e.client_order_id} could not be fully reversed ({left} left)")
            return done

    # ---- public ------------------------------------------------------------------------

    def lock(self, symbol: str) -> asyncio.Lock:
        """One pair trade at a time per symbol: a second signal waits or is skipped."""
        lk = self.locks.get(symbol)
        if lk is None:
            lk = self.locks[symbol] = asyncio.Lock()
        return lk

    def positions(self) -> list[Position]:
        return [position_from_doc(d) for d in self.store.open_positions()]

    async def execute(self, signal: Signal, *, upbit_price: float, binance_price: float, fx: float,
                      position: Position | None = None, by: str = "auto", pending_id: str = "") -> TradeOutcome:
        """Carry out ``signal`` (enter/add/exit). Prices are the expected VWAPs the signal read.
        ``pending_id``: the confirmed signal this trade carries out (kept on the trade record, so
        whoever shows the trade links it to that signal rather than guessing by symbol)."""
        async with self.lock(signal.symbol):
            waiting = self.unresolved(signal.symbol)
            if waiting:
                why = self.describe_unresolved(waiting)
                self._publish("refused", E.NOT_SENT(coin=signal.symbol, action=E.action(signal.action), why=why),
                              "warning",
                              symbol=signal.symbol, reasons=[why])
                return TradeOutcome("", signal.symbol, signal.action, "failed", messages=[why])
            trade_id = self.store.new_trade_id()
            plan = self._plan(trade_id, signal, upbit_price, binance_price, position)
            if isinstance(plan, str):
                out = TradeOutcome(trade_id, signal.symbol, signal.action, "failed", messages=[plan])
                self._publish("error", E.NOT_SENT(coin=signal.symbol, action=E.action(signal.action), why=plan),
                              "warning",
                              trade_id=trade_id, pending_id=pending_id or None)
                return out
            ureq, breq = plan
            self.store.upsert_trade({
                "id": trade_id, "symbol": signal.symbol, "direction": signal.direction.value,
                "action": signal.action, "status": "sending", "by": by, "tier": signal.tier,
                "signal_reason": signal.reason, "expected_premium_pct": signal.premium_pct, "z": signal.z,
                "size_krw": signal.size_krw, "fx": fx, "position_id": position.id if position else None,
                "created_ms": self.clock.now_ms(), "upbit_cid": ureq.client_id, "binance_cid": breq.client_id,
                "target_pct": signal.target_pct, "pending_id": pending_id or None,
            })
            for req, leg in ((ureq, "U"), (breq, "B")):
                self.store.journal_intent(trade_id, leg, req.client_id, req.venue, req.symbol, req.side.value,
                                          req.qty, req.price_hint, signal.action)
            t0 = time.perf_counter()
            ures, bres = await asyncio.gather(self._send(self.upbit, ureq), self._send(self.binance, breq))
            out = TradeOutcome(trade_id, signal.symbol, signal.action, "filled", upbit=ures, binance=bres)
            out.skew_ms = abs(ures.latency_ms - bres.latency_ms)
            log.info("trade %s %s %s sent both legs in %.1f ms", trade_id, signal.symbol, signal.action,
                     (time.perf_counter() - t0) * 1000)
            try:
                if signal.action == "exit":
                    assert position is not None
                    await self._settle_exit(out, signal, position, ureq, breq, fx)
                else:
                    await self._settle_entry(out, signal, position, ureq, breq, fx)
                self.store.upsert_trade({"id": trade_id, "status": out.status, "position_id": out.position_id,
                                         "cost_krw": out.cost_krw, "exposure": out.exposure,
                                         "messages": out.messages, "closed_ms": self.clock.now_ms()})
            except StoreFailed as exc:
                self._unbooked(out, exc)
                return out
            if out.status in ("failed", "rolled_back", "exposed"):
                self.consecutive_failures += 1
                if self.on_failure:
                    self.on_failure(f"{signal.symbol} {signal.action} {out.status}")
            else:
                self.consecutive_failures = 0
            causes = [c for c in (permanent_rejection(r) for r in (out.upbit, out.binance, *out.unwinds)
                                  if r is not None) if c]
            if causes:
                cause = f"{signal.symbol} {signal.action} refused: {causes[0]}"
                out.messages.append(f"permanent rejection: {causes[0]}")
                log.error("%s (not retried: the next try would meet it again)", cause)
                if self.on_rejection:
                    self.on_rejection(cause)
            return out

    # ---- planning ----------------------------------------------------------------------

    def _plan(self, trade_id: str, s: Signal, upbit_price: float, binance_price: float,
              position: Position | None) -> tuple[OrderRequest, OrderRequest] | str:
        ur = self.rules[("upbit", s.symbol)]
        br = self.rules[("binance", s.symbol)]
        up = Decimal(str(upbit_price))
        bp = Decimal(str(binance_price))
        long_p = s.direction is Direction.LONG_PREMIUM
        if s.action == "exit":
            if position is None:
                return "exit without a position"
            uqty = ur.round_qty(Decimal(str(position.upbit_qty)))
            bqty = br.round_qty(Decimal(str(position.binance_qty)) + br.qty_step / 2)  # float noise
            # exit long premium: sell Upbit, buy back the short perp; short premium the other way
            uside = Side.SELL if long_p else Side.BUY
            bside = Side.BUY if long_p else Side.SELL
            reduce = True
        else:
            # the hedge quantity is fixed by the coarser step (Binance's), both legs trade it
            raw = Decimal(str(s.size_krw)) / up
            bqty = br.round_qty(raw)
            uqty = ur.round_qty(bqty)
            uside = Side.BUY if long_p else Side.SELL
            bside = Side.SELL if long_p else Side.BUY
            reduce = False
        if bqty <= 0 or bqty < br.min_qty:
            return (f"quantity {bqty} {s.symbol} is below Binance's minimum {br.min_qty} "
                    f"(size {s.size_krw:,.0f} KRW at {upbit_price:,.0f} KRW)")
        if bqty * bp < br.min_notional and not reduce:
            return (f"Binance notional {bqty * bp:.2f} USDT is below the minimum {br.min_notional} USDT")
        if uqty * up < ur.min_notional:
            return f"Upbit notional {uqty * up:,.0f} KRW is below the minimum {ur.min_notional:,.0f} KRW"
        ureq = OrderRequest("upbit", s.symbol, uside, self.store.client_order_id(trade_id, "U", 0), uqty, up)
        breq = OrderRequest("binance", s.symbol, bside, self.store.client_order_id(trade_id, "B", 0), bqty, bp,
                            reduce_only=reduce)
        return ureq, breq

    # ---- sending -----------------------------------------------------------------------

    async def _send(self, venue: TradingVenue, req: OrderRequest) -> OrderResult:
        """Place with retries of retryable refusals, then resolve unknowns. A retry carries the same
        client id, except on a venue whose ids are single-use (Upbit): there the first id is queried
        (it may have landed after all) and, only when the exchange has no such order, closed as
        refused and a new id (the next attempt) is journaled and sent."""
        self.activity[req.symbol] = self.activity.get(req.symbol, 0) + 1
        try:
            return await self._send_once(venue, req)
        finally:
            self.activity[req.symbol] = self.activity.get(req.symbol, 0) + 1

    async def _send_once(self, venue: TradingVenue, req: OrderRequest) -> OrderResult:
        attempt = 0
        while True:
            try:
                self.store.journal_update(req.client_id, "sent", None, None, None, None)
            except StoreFailed as exc:  # never send what the journal does not hold
                return self._not_sent(req, exc)
            t0 = time.perf_counter()
            try:
                res = await venue.place_market(req, self.cfg.order_timeout_s)
            except Exception as exc:  # an adapter bug must not lose track of an order
                log.exception("%s order %s raised", req.venue, req.client_id)
                res = OrderResult(req.venue, req.symbol, req.side, req.client_id, OrderStatus.UNKNOWN,
                                  error=f"{type(exc).__name__}: {exc}")
            res = dataclasses.replace(res, latency_ms=(time.perf_counter() - t0) * 1000)
            if res.status is OrderStatus.REJECTED and res.retryable and attempt < self.cfg.max_retries:
                attempt += 1
                self._journal(req, res)
                await asyncio.sleep(self.cfg.retry_delay_s * attempt)
                if getattr(venue, "single_use_client_ids", False):
                    q = await self._query(venue, req)
                    if q.status is not OrderStatus.NOT_FOUND:
                        # there after all, or its state is unknown: resolved by query, never resent
                        res = dataclasses.replace(q, latency_ms=res.latency_ms)
                        if q.status is OrderStatus.UNKNOWN:
                            res = dataclasses.replace(res, error=f"after a refusal ({res.error}) the query failed: "
                                                      f"{q.error}")
                        break
                    self.store.journal_update(req.client_id, "rejected", Decimal(0), None, None, None,
                                              f"{res.error}; not on the exchange; resent under a new identifier")
                    req = self._next_attempt(req)
                    log.warning("%s order %s refused (%s); the identifier is single-use: resending as %s",
                                req.venue, res.client_id, res.error, req.client_id)
                else:
                    log.warning("%s order %s refused (%s); resending the same client id", req.venue,
                                req.client_id, res.error)
                continue
            break
        if res.status in (OrderStatus.UNKNOWN, OrderStatus.OPEN):
            self._journal(req, res)
            res = await self._resolve(venue, req, res)
        self._journal(req, res)
        self._publish_leg(req, res)
        return res

    def _next_attempt(self, req: OrderRequest) -> OrderRequest:
        """The same order under the next attempt's client id, journaled before it is sent."""
        trade_id, leg, _ = parse_client_order_id(req.client_id)
        attempt = sum(1 for e in self.store.journal_for_trade(trade_id) if e.leg == leg)
        prev = self.store.journal_get(req.client_id)
        new = dataclasses.replace(req, client_id=self.store.client_order_id(trade_id, leg, attempt))
        self.store.journal_intent(trade_id, leg, new.client_id, new.venue, new.symbol, new.side.value, new.qty,
                                  new.price_hint, prev.kind if prev else "retry")
        return new

    async def _query(self, venue: TradingVenue, req: OrderRequest) -> OrderResult:
        try:
            return await venue.query(req.symbol, req.client_id, self.cfg.query_timeout_s)
        except Exception as exc:
            return OrderResult(req.venue, req.symbol, req.side, req.client_id, OrderStatus.UNKNOWN,
                               error=f"{type(exc).__name__}: {exc}")

    async def _resolve(self, venue: TradingVenue, req: OrderRequest, first: OrderResult) -> OrderResult:
        """Query by client id until the order is final or the grace period ends. An order still not
        final then (not found, or no answer) is watched for a late booking (``watch``)."""
        deadline = time.monotonic() + self.cfg.unknown_grace_s
        last = first
        log.warning("%s order %s: no final answer (%s); querying by client id", req.venue, req.client_id,
                    first.error or first.status.value)
        while True:
            q = await self._query(venue, req)
            if q.status.final and q.status is not OrderStatus.NOT_FOUND:
                return dataclasses.replace(q, latency_ms=first.latency_ms)
            last = q
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(self.cfg.query_interval_s)
        self.watch(req.client_id)
        if last.status is OrderStatus.NOT_FOUND:
            # Not found after an unknown answer is provisional: settled as nothing filled, while the
            # journal entry stays open and the watch books a late placement the moment it shows.
            window = self.late_window(req.venue)
            return dataclasses.replace(last, error=f"not found after {self.cfg.unknown_grace_s:g} s "
                                       f"({first.error or 'no answer'})" + (f"; watched for a late booking for "
                                       f"{window:g} s" if window > 0 else ""), latency_ms=first.latency_ms)
        return dataclasses.replace(last, status=OrderStatus.UNKNOWN, latency_ms=first.latency_ms,
                                   error=last.error or first.error or "no answer")

    def _journal(self, req: OrderRequest, res: OrderResult) -> None:
        try:
            self.store.journal_update(req.client_id, _J_STATUS[res.status], res.filled_qty,
                                      res.avg_price if res.filled_qty > 0 else None, res.fee,
                                      res.exchange_id or None, res.error or None,
                                      fee_asset="KRW" if req.venue == "upbit" else "USDT")
        except StoreFailed:
            # the order is out: its answer is kept and written once the journal writes again
            self.unjournaled[req.client_id] = (req, res)
            log.warning("%s order %s: %s %s not journaled (store failed); kept in memory", req.venue,
                        req.client_id, res.status.value, res.filled_qty)
        else:
            self.unjournaled.pop(req.client_id, None)

    def flush_unjournaled(self) -> int:
        """Write the answers the journal refused (oldest first). Raises StoreFailed if it still does."""
        n = 0
        for cid, (req, res) in list(self.unjournaled.items()):
            self.store.journal_update(req.client_id, _J_STATUS[res.status], res.filled_qty,
                                      res.avg_price if res.filled_qty > 0 else None, res.fee,
                                      res.exchange_id or None, res.error or None,
                                      fee_asset="KRW" if req.venue == "upbit" else "USDT")
            del self.unjournaled[cid]
            n += 1
        return n

    def _not_sent(self, req: OrderRequest, exc: StoreFailed) -> OrderResult:
        log.error("%s order %s NOT SENT: the journal cannot be written (%s)", req.venue, req.client_id, exc)
        return OrderResult(req.venue, req.symbol, req.side, req.client_id, OrderStatus.REJECTED,
                           error="not sent: the journal cannot be written (disk full?)")

    def _unbooked(self, out: TradeOutcome, exc: StoreFailed) -> None:
        """Orders went out, then the journal failed before the trade was booked. What filled is
        known here and on the exchanges; the store recovery books it, as a restart would."""
        legs = [r for r in (out.upbit, out.binance, *out.unwinds) if r is not None]
        if not out.exposure and all(r.filled_qty == 0 and r.status is not OrderStatus.UNKNOWN for r in legs):
            out.status = "failed"  # nothing went out or nothing filled: nothing to book
            log.warning("trade %s not booked (%s); nothing filled", out.trade_id, exc)
        elif out.exposure and out.status != "exposed":
            out.status = "exposed"
            self._exposure(out)  # names every unhedged leg
        elif out.status != "exposed":
            out.status = "unbooked"
            self._publish("error", E.UNBOOKED(coin=out.symbol, action=E.action(out.action), trade_id=out.trade_id,
                                              note=out.messages[-1] if out.messages else E.NO_UNHEDGED_NAMED()),
                          "critical", trade_id=out.trade_id, symbol=out.symbol)

    async def _order(self, venue: TradingVenue, trade_id: str, leg: str, symbol: str, side: Side, qty: Decimal,
                     price: Decimal, reduce_only: bool, kind: str) -> OrderResult:
        """A follow-up order (unwind, retry) with its own journaled intent and next attempt number."""
        attempt = sum(1 for e in self.store.journal_for_trade(trade_id) if e.leg == leg)
        cid = self.store.client_order_id(trade_id, leg, attempt)
        req = OrderRequest(venue.name, symbol, side, cid, qty, price, reduce_only)
        try:
            self.store.journal_intent(trade_id, leg, cid, venue.name, symbol, side.value, qty, price, kind)
        except StoreFailed as exc:  # an unwind or retry the journal cannot hold is not sent (see the top)
            return self._not_sent(req, exc)
        return await self._send(venue, req)

    # ---- settling ----------------------------------------------------------------------

    async def _settle_entry(self, out: TradeOutcome, s: Signal, position: Position | None, ureq: OrderRequest,
                            breq: OrderRequest, fx: float) -> None:
        ures, bres = out.upbit, out.binance
        assert ures is not None and bres is not None
        for res in (ures, bres):
            if res.status is OrderStatus.UNKNOWN:
                out.exposure.append(self._unknown_exposure(res))
        ur = self.rules[("upbit", s.symbol)]
        br = self.rules[("binance", s.symbol)]
        fu, fb = ures.filled_qty, bres.filled_qty
        pid = position.id if position is not None else out.trade_id
        booked = self.store.get_position(pid)
        applied = list(booked.get("trade_ids", [])) if booked else []
        if out.trade_id in applied:
            # settled before a crash (one that came before the trade record's status): never booked
            # twice, and no unwind sent again: the books hold what the first settling left, and an
            # unwind now would take the exchanges away from them (the position check compares both)
            out.position_id = pid
            out.status = _entry_status(fu, fb, ureq, breq, br)
            self._finish(out)
            return
        # A difference finer than Binance's step cannot be hedged: it stays, recorded per leg.
        # Anything beyond it is unwound on the side that filled more; the rollback's cost counts
        # that part's entry fee too.
        if fu - fb >= br.qty_step or (fb == 0 and fu > 0):
            fu -= await self._unwind(out, "upbit", s.symbol, ureq.side, fu - fb,
                                     ures.avg_price or ureq.price_hint, ur, fx,
                                     entry_fee=_pro_rata(ures.fee, fu - fb, fu))
        elif fb - fu >= br.qty_step or (fu == 0 and fb > 0):
            fb -= await self._unwind(out, "binance", s.symbol, breq.side, fb - fu,
                                     bres.avg_price or breq.price_hint, br, fx,
                                     entry_fee=_pro_rata(bres.fee, fb - fu, fb))
        mismatch = fu - fb
        if mismatch != 0 and (abs(mismatch) >= br.qty_step or fu == 0 or fb == 0):
            venue, side, rules, price = (("upbit", ureq.side, ur, ures.avg_price or ureq.price_hint) if mismatch > 0
                                         else ("binance", breq.side, br, bres.avg_price or breq.price_hint))
            if self._is_dust(abs(mismatch), price, rules):
                out.messages.append(f"dust left on {venue}: {abs(mismatch)} {s.symbol} (below the minimum order)")
            else:
                out.exposure.append(f"{s.symbol} {venue} {side.value} {abs(mismatch)} unhedged (unwind failed)")
        if fu > 0 and fb > 0:
            fill = self._pair_fill(ures, bres, fu, fb, fx)
            if position is None:
                pos = open_position(out.trade_id, s, fill)
            else:
                pos = position
                add_to_position(pos, s, fill)
            booked = self.store.get_position(pid)  # as it is now, after the unwinds' awaits
            applied = list(booked.get("trade_ids", [])) if booked else []
            self.store.upsert_position(position_to_doc(pos, trade_ids=applied + [out.trade_id]))
            out.position_id = pos.id
            out.status = _entry_status(fu, fb, ureq, breq, br)
            if fu != fb and abs(fu - fb) < br.qty_step:
                out.messages.append(f"residual delta {fu - fb} {s.symbol} (finer than Binance's step {br.qty_step})")
            self._publish("trade", E.TRADE_FILLED(
                coin=s.symbol, direction=E.direction(s.direction), action=E.action(s.action),
                state=E.FILLED() if out.status == "filled" else E.PARTLY_FILLED(),
                uside=C.side(ureq.side.value), uqty=U.qty(fu, ur.qty_step, s.symbol),
                uprice=U.price(ures.avg_price, ur.tick(ures.avg_price) or None, "KRW"),
                bside=C.side(breq.side.value), bqty=U.qty(fb, br.qty_step, s.symbol),
                bprice=U.price(bres.avg_price, br.tick(bres.avg_price) or None, "USDT"),
                premium=U.pct(fill_premium(fill)), expected=U.pct(s.premium_pct), target=U.pct(s.target_pct, sign=False),
                ufee=U.money(ures.fee, "KRW"), bfee=U.money(bres.fee, "USDT")),
                "info", trade_id=out.trade_id, symbol=s.symbol,
                direction=s.direction.value, action=s.action, qty=str(fb), position_id=pos.id,
                upbit=_res_dict(ures), binance=_res_dict(bres), expected_profit_pct=s.target_pct,
                size_krw=float(fu * ures.avg_price), **self._display(s.symbol))
        else:
            self._failed(out, E.TRADE_FAILED_HEAD(coin=s.symbol, direction=E.direction(s.direction),
                                                  action=E.action(s.action)),
                         E.TAIL_UNWOUND(cost=U.krw(out.cost_krw), fees=U.krw(out.cost_fees_krw),
                                        move=U.krw(out.cost_krw - out.cost_fees_krw))
                         if out.unwinds else E.TAIL_NOTHING_FILLED())
        self._finish(out)

    async def _settle_exit(self, out: TradeOutcome, s: Signal, pos: Position, ureq: OrderRequest,
                           breq: OrderRequest, fx: float) -> None:
        ur = self.rules[("upbit", s.symbol)]
        br = self.rules[("binance", s.symbol)]
        booked = self.store.get_position(pos.id) or {}
        if out.trade_id in booked.get("trade_ids", []):
            # settled before a crash (one that came before the trade record's status): never booked
            # twice, and no order is sent for it again: a retry or re-open now would move the
            # exchanges away from books that already hold this exit's result
            out.status = "filled" if booked.get("status") == "closed" else "partial"
            out.position_id = pos.id
            return
        # A leg that did not (fully) close is retried (new attempt id) before anything is reversed.
        for venue, req, rules, key in ((self.upbit, ureq, ur, "upbit"), (self.binance, breq, br, "binance")):
            res = out.upbit if key == "upbit" else out.binance
            assert res is not None
            if res.status is OrderStatus.UNKNOWN:
                out.exposure.append(self._unknown_exposure(res))
                continue
            if res.status is OrderStatus.NOT_FOUND:
                continue  # provisional: it may still be booked, so no second close is sent beside it
            missing = rules.round_qty(req.qty - res.filled_qty)
            if missing > 0 and not self._is_dust(missing, req.price_hint, rules):
                retry = await self._order(venue, out.trade_id, "U" if key == "upbit" else "B", s.symbol,
                                          req.side, missing, req.price_hint, req.reduce_only, "exit_retry")
                merged = _merge(res, retry)
                if key == "upbit":
                    out.upbit = merged
                else:
                    out.binance = merged
        ures, bres = out.upbit, out.binance
        assert ures is not None and bres is not None
        cu, cb = ures.filled_qty, bres.filled_qty  # closed per leg
        # If one leg closed more than the other beyond a step, re-open that difference so
        # what remains of the position stays hedged.
        if cu - cb >= br.qty_step:
            cu -= await self._unwind(out, "upbit", s.symbol, ureq.side, cu - cb, ures.avg_price, ur, fx, reopen=True)
        elif cb - cu >= br.qty_step:
            cb -= await self._unwind(out, "binance", s.symbol, breq.side, cb - cu, bres.avg_price, br, fx,
                                     reopen=True)
        left_u = Decimal(str(pos.upbit_qty)) - cu
        left_b = Decimal(str(pos.binance_qty)) - cb
        if abs(left_u - left_b) >= br.qty_step and not self._is_dust(abs(left_u - left_b), ureq.price_hint, ur):
            side = "long" if (left_u - left_b) * (1 if pos.direction is Direction.LONG_PREMIUM else -1) > 0 else "short"
            out.exposure.append(f"{s.symbol} net {side} {abs(left_u - left_b)} after a failed exit leg")
        if cu > 0 or cb > 0:
            pnl = self._realized(pos, cu, cb, ures, bres, fx)
            flat = (left_u <= 0 or self._is_dust(left_u, ureq.price_hint, ur)) and \
                   (left_b <= 0 or self._is_dust(left_b, breq.price_hint, br))
            booked = self.store.get_position(pos.id) or {}  # as it is now, after this exit's orders
            if flat:
                # one journal record: a crash between "this exit is applied" and "closed" would
                # leave a position open that the re-settling then skips as already booked
                with self.store.batch():
                    self.store.upsert_position({"id": pos.id, "trade_ids": list(booked.get("trade_ids", []))
                                                + [out.trade_id]})
                    # earlier partial exits of this position booked their part already: add, not replace
                    self.store.close_position(pos.id, realized_krw=float(booked.get("realized_krw") or 0.0) + pnl,
                                              exit_trade_id=out.trade_id,
                                              exit_premium_pct=s.premium_pct,
                                              exit_upbit_price=float(ures.avg_price),
                                              exit_binance_price=float(bres.avg_price), exit_fx=fx)
                out.status = "filled"
                verb: Text = E.CLOSED()
            else:
                frac = float(cu) / pos.upbit_qty if pos.upbit_qty else 0.0
                pos.fees_krw *= (1 - frac)
                pos.funding_krw *= (1 - frac)
                pos.entry_notional_krw *= (1 - frac)
                pos.upbit_qty = float(left_u)
                pos.binance_qty = float(left_b)
                doc = position_to_doc(pos, trade_ids=list(booked.get("trade_ids", [])) + [out.trade_id])
                doc["realized_krw"] = float((self.store.get_position(pos.id) or {}).get("realized_krw", 0.0)) + pnl
                self.store.upsert_position(doc)
                out.status = "partial"
                verb = E.PARTLY_CLOSED(done=U.qty(cu, ur.qty_step), total=U.qty(cu + left_u, ur.qty_step, s.symbol))
            out.position_id = pos.id
            self._publish("trade", E.EXIT_DONE(
                coin=s.symbol, direction=E.direction(s.direction), verb=verb,
                uside=C.side(ureq.side.value), uqty=U.qty(cu, ur.qty_step, s.symbol),
                uprice=U.price(ures.avg_price, ur.tick(ures.avg_price) or None, "KRW"),
                bside=C.side(breq.side.value), bqty=U.qty(cb, br.qty_step, s.symbol),
                bprice=U.price(bres.avg_price, br.tick(bres.avg_price) or None, "USDT"),
                pnl=U.krw(pnl, sign=True)), "info", trade_id=out.trade_id, symbol=s.symbol, action="exit",
                realized_krw=pnl, position_id=pos.id, upbit=_res_dict(ures), binance=_res_dict(bres),
                direction=s.direction.value, qty=str(cb), **self._display(s.symbol))
        else:
            self._failed(out, E.EXIT_FAILED_HEAD(coin=s.symbol),
                         E.TAIL_EXIT_REVERSED(cost=U.krw(out.cost_krw)) if out.unwinds else E.TAIL_EXIT_STAYS())
        self._finish(out)

    def _failed(self, out: TradeOutcome, head: Text, tail: Text) -> None:
        """Nothing of the pair stands: a rollback (something was unwound) or a plain failure."""
        out.status = "rolled_back" if out.unwinds else "failed"
        why = "; ".join(f"{r.venue}: {r.error or r.status.value}" for r in (out.upbit, out.binance)
                        if r is not None and r.status is not OrderStatus.FILLED)
        self._publish("rollback" if out.unwinds else "error", E.TRADE_FAILED(head=head, why=why, tail=tail),
                      "warning", trade_id=out.trade_id, symbol=out.symbol, cost_krw=out.cost_krw,
                      cost_fees_krw=out.cost_fees_krw, action=out.action)

    def _finish(self, out: TradeOutcome) -> None:
        if out.exposure:
            out.status = "exposed"
            self._exposure(out)

    async def _unwind(self, out: TradeOutcome, venue_name: str, symbol: str, filled_side: Side, qty: Decimal,
                      fill_price: Decimal, rules: MarketRules, fx: float, reopen: bool = False,
                      entry_fee: Decimal = Decimal(0)) -> Decimal:
        """Reverse ``qty`` filled on one venue with a market order; returns the quantity reversed.
        ``entry_fee``: what filling ``qty`` cost in fees (venue quote currency), part of the cost.

        What cannot be reversed (below the venue's minimum) is reported as dust, not sent.
        """
        venue = self.upbit if venue_name == "upbit" else self.binance
        q = rules.round_qty(qty)
        price = fill_price if fill_price > 0 else Decimal(1)
        if q <= 0 or self._is_dust(q, price, rules):
            out.messages.append(f"dust left on {venue_name}: {qty} {symbol} (below the minimum order)")
            return Decimal(0)
        res = await self._order(venue, out.trade_id, "UU" if venue_name == "upbit" else "BU", symbol,
                                filled_side.opposite, q, price,
                                reduce_only=(venue_name == "binance" and not reopen), kind="unwind")
        out.unwinds.append(res)
        if res.filled_qty > 0:
            # bought at fill_price and sold back at the unwind price (or the reverse), plus the fees
            # of both: the entry's share for what was reversed and the unwind's own
            gain = (res.avg_price - price) * res.filled_qty
            if filled_side is Side.SELL:
                gain = -gain
            fees = res.fee + _pro_rata(entry_fee, res.filled_qty, q)
            rate = fx if venue_name == "binance" else 1.0
            out.cost_krw += float(-gain + fees) * rate
            out.cost_fees_krw += float(fees) * rate
        left = qty - res.filled_qty
        self._publish("unwind", E.UNWIND(
            coin=symbol, venue=C.venue(venue_name), side=C.side(filled_side.opposite.value),
            qty=U.qty(q, rules.qty_step), status=E.status(res.status.value),
            filled=U.qty(res.filled_qty, rules.qty_step, symbol),
            at=E.AT_PRICE(price=U.price(res.avg_price, rules.tick(res.avg_price) or None,
                                      "KRW" if venue_name == "upbit" else "USDT")) if res.filled_qty else "",
            err=f" ({res.error})" if res.error else ""), "warning" if left <= 0 else "critical",
            trade_id=out.trade_id, symbol=symbol, venue=venue_name, qty=str(q), result=_res_dict(res))
        return res.filled_qty

    # ---- helpers -----------------------------------------------------------------------

    @staticmethod
    def _is_dust(qty: Decimal, price: Decimal, rules: MarketRules) -> bool:
        """Too small to be ordered on that venue (below step, minimum quantity or notional)."""
        if qty < rules.min_qty or rules.round_qty(qty) <= 0:
            return True
        return qty * price < rules.min_notional

    def _unknown_exposure(self, res: OrderResult) -> str:
        return (f"{res.symbol} {res.venue} {res.side.value} order {res.client_id} state unknown "
                f"({res.error or 'no answer'}): may be filled")

    def _exposure(self, out: TradeOutcome) -> None:
        text = E.EXPOSURE(coin=out.symbol, what="; ".join(out.exposure), trade_id=out.trade_id,
                          tail=E.EXPOSURE_NO_JOURNAL() if self.store.failed is not None else "")
        msg = text.render("en")
        log.critical("%s", msg)
        self._publish("exposure", text, "critical", trade_id=out.trade_id, symbol=out.symbol,
                      exposure=list(out.exposure))
        if self.on_exposure:
            self.on_exposure(msg)

    def _pair_fill(self, ures: OrderResult, bres: OrderResult, fu: Decimal, fb: Decimal, fx: float) -> PairFill:
        """The hedged part of both legs. Fees are counted in full: an unwound part's fee is spent too."""
        fees = float(ures.fee) + float(bres.fee) * fx
        return PairFill(self.clock.now_ms(), float(ures.avg_price), float(fu), float(bres.avg_price), float(fb),
                        fx, fees)

    @staticmethod
    def _realized(pos: Position, cu: Decimal, cb: Decimal, ures: OrderResult, bres: OrderResult,
                  fx: float) -> float:
        """KRW P&L of closing ``cu`` Upbit and ``cb`` Binance coins of the position, all costs in."""
        sign = 1.0 if pos.direction is Direction.LONG_PREMIUM else -1.0
        upbit_pnl = sign * (float(ures.avg_price) - pos.upbit_avg_price_krw) * float(cu)
        binance_pnl = -sign * (float(bres.avg_price) - pos.binance_avg_price_usdt) * float(cb) * fx
        frac = float(cu) / pos.upbit_qty if pos.upbit_qty else 1.0
        fees = pos.fees_krw * frac + float(ures.fee) + float(bres.fee) * fx
        return upbit_pnl + binance_pnl - fees - pos.funding_krw * frac

    def _publish_leg(self, req: OrderRequest, res: OrderResult) -> None:
        if res.filled_qty <= 0:
            return
        kind = "fill" if res.status is OrderStatus.FILLED else "partial"
        rules = self.rules.get((req.venue, req.symbol))
        step = rules.qty_step if rules else None
        fee_cur = "KRW" if req.venue == "upbit" else "USDT"
        self.bus.publish(Event(kind, E.LEG_FILL(
            coin=req.symbol, venue=C.venue(req.venue), side=C.side(req.side.value), filled=U.qty(res.filled_qty, step),
            qty=U.qty(req.qty, step, req.symbol), price=self._price(req.venue, req.symbol, res.avg_price),
            status=E.status(res.status.value), fee=U.money(res.fee, fee_cur)), "info",
            {"venue": req.venue, "symbol": req.symbol, "side": req.side.value, "client_id": req.client_id,
             "qty": str(req.qty), "filled_qty": str(res.filled_qty), "avg_price": str(res.avg_price),
             "fee": str(res.fee), "fee_currency": fee_cur,
             "step": str(step) if step else None,
             "tick": str(rules.tick(res.avg_price)) if rules and rules.tick(res.avg_price) else None}))

    # ---- display (issue #11: quantity to the venue's step, price to its tick) -------------------

    def _qty(self, venue: str, symbol: str, q: Any) -> Any:
        rules = self.rules.get((venue, symbol))
        return U.qty(q, rules.qty_step if rules else None, symbol)

    def _price(self, venue: str, symbol: str, p: Any) -> Any:
        rules = self.rules.get((venue, symbol))
        d = Decimal(str(p))
        tick = rules.tick(d) if rules else Decimal(0)
        return U.price(d, tick if tick > 0 else None, "KRW" if venue == "upbit" else "USDT")

    def _display(self, symbol: str) -> dict[str, Any]:
        """Steps and ticks of both venues, for whoever renders a trade from ``ev.data``."""
        out: dict[str, Any] = {}
        for venue in ("upbit", "binance"):
            r = self.rules.get((venue, symbol))
            if r is not None:
                out[f"{venue}_step"] = str(r.qty_step)
                out[f"{venue}_tick"] = str(r.price_tick) if r.price_tick else None
        return out

    def _publish(self, kind: str, message: Text | str, level: str, **data: Any) -> None:
        (log.warning if level != "info" else log.info)("%s", message.render("en") if isinstance(message, Text)
                                                        else message)
        self.bus.publish(Event(kind, message, level, data))


def _entry_status(fu: Decimal, fb: Decimal, ureq: OrderRequest, breq: OrderRequest, br: MarketRules) -> str:
    """"filled" when both legs got what was asked, else "partial". The Upbit market buy is sized in
    KRW: a few coins' dust off the wanted quantity, finer than the perp's step, is a complete fill."""
    return "filled" if (fb == breq.qty and abs(fu - ureq.qty) < br.qty_step) else "partial"


def _pro_rata(total: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    return total * part / whole if whole > 0 else Decimal(0)


def _req_of_entry(e: Any) -> OrderRequest:
    """A journal entry as the request it was sent as (for journaling a later answer)."""
    return OrderRequest(e.venue, e.symbol, Side(e.side), e.client_order_id, e.qty, e.price_hint or Decimal(0),
                        reduce_only=e.kind in ("exit", "exit_retry") and e.venue == "binance")


def fill_premium(fill: PairFill) -> float:
    return (fill.upbit_price_krw / (fill.binance_price_usdt * fill.fx) - 1.0) * 100.0


def _merge(a: OrderResult, b: OrderResult) -> OrderResult:
    """Two orders of one leg as one: total quantity, quantity-weighted price, summed fees."""
    q = a.filled_qty + b.filled_qty
    avg = ((a.avg_price * a.filled_qty + b.avg_price * b.filled_qty) / q) if q > 0 else Decimal(0)
    status = b.status if b.filled_qty > 0 or a.filled_qty == 0 else a.status
    return dataclasses.replace(a, status=status, filled_qty=q, avg_price=avg, fee=a.fee + b.fee,
                               error=b.error or a.error)


def _res_dict(r: OrderResult) -> dict[str, Any]:
    return {"status": r.status.value, "filled_qty": str(r.filled_qty), "avg_price": str(r.avg_price),
            "fee": str(r.fee), "client_id": r.client_id, "error": r.error}


