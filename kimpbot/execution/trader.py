"""The trading loop: snapshot → strategy → risk → (confirmation) → executor, plus restart
reconciliation and funding bookkeeping. Market data never waits on it: work that
touches an exchange runs in its own task.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kimpbot.clock import Clock
from kimpbot.strategy_file.read import OwnerConfig
from kimpbot.events import Event, EventBus
from kimpbot.i18n import Joined, Said, Text
from kimpbot.i18n import common as C
from kimpbot.i18n import events as E
from kimpbot.i18n import refusals as R
from kimpbot.i18n import units as U
from kimpbot.execution.executor import (ExecConfig, Executor, OrderResult, TradeOutcome, _merge,
                                        position_from_doc, position_to_doc)
from kimpbot.execution.journal_watch import JournalWatch
from kimpbot.execution.venues import Balances, MarketRules, OrderStatus, PerpVenue, Side, TradingVenue
from kimpbot.market.engine import MarketEngine, SymbolView
from kimpbot.models import Direction, PremiumSnapshot, Venue
from kimpbot.protections import unfillable_sizes
from kimpbot.risk import EntryContext, RiskManager
from kimpbot.store import Store, StoreFailed
from kimpbot.strategy.base import Position, Signal
from kimpbot.strategy.rules import TIER_RANK

log = logging.getLogger(__name__)
HOLDS_STATE_KEY = "signal_holds"  # the store state record of the skip holds (Hold)


@dataclass
class Pending:
    """A signal waiting for the owner's Execute / Skip (confirmation mode)."""

    id: str
    signal: Signal
    snapshot: PremiumSnapshot
    created_ms: int
    expires_ms: int
    state: str = "pending"  # pending | executing | done | skipped | expired | refused
    result: str = ""


@dataclass
class TraderState:
    trade_mode: str = "confirm"  # auto | confirm
    pending: dict[str, Pending] = field(default_factory=dict)
    last_refusal: dict[str, str] = field(default_factory=dict)


@dataclass
class Hold:
    """A skipped or expired signal (issue #11, "skip means skip"): the same signal is not offered again
    while its condition persists. It comes back when the condition has reset, or deeper.

    * entries and adds: the condition is |z| of the executable premium in the signal's direction at
      or beyond the entry threshold (zscore / multi_timeframe: ``entry_threshold``; optimized: the
      normal tier's ``normal_z``). Reset: |z| back inside it. Deeper: a higher tier (normal ->
      extreme -> ultra), or within a tier a larger size (optimized normal tier: the next split;
      for an add, more splits missing).
    * exits: the condition is the strategy's exit rule for that position. Reset: the rule no longer
      holds. Deeper: a more urgent rule (target < maximum holding time < stop loss).
    A hold on a position that is gone is dropped."""

    key: tuple[str, str, str, str]  # symbol, direction, action, position id ("" for an entry)
    depth: tuple[int, float]
    pending_id: str
    since_ms: int


def _exit_rank(reason: str) -> int:
    """How urgent an exit signal is, from the rule that fired (strategy.base._check_exit's words)."""
    r = reason.lower()
    return 3 if r.startswith("stop loss") else 2 if r.startswith("maximum holding") else 1


def signal_depth(sig: Signal) -> tuple[int, float]:
    """(tier or urgency rank, size): a signal deeper than a held one is offered again."""
    if sig.action == "exit":
        return (_exit_rank(sig.reason), 0.0)
    return (TIER_RANK.get(sig.tier, 0), float(sig.size_krw))


def deeper(depth: tuple[int, float], than: tuple[int, float]) -> bool:
    if depth[0] != than[0]:
        return depth[0] > than[0]
    return depth[1] > than[1] * 1.001 + 1.0  # a larger size (the next split), not float noise


def signal_prices(sig: Signal, snap: PremiumSnapshot) -> tuple[float | None, float | None]:
    """Expected (Upbit KRW, Binance USDT) fill prices for the legs ``sig`` would send."""
    buy_upbit = (sig.direction is Direction.LONG_PREMIUM) == (sig.action != "exit")
    if buy_upbit:
        return snap.upbit_buy_vwap, snap.binance_sell_vwap
    return snap.upbit_sell_vwap, snap.binance_buy_vwap


class Trader:
    def __init__(self, owner: OwnerConfig, market: MarketEngine, strategy: Any, store: Store, bus: EventBus,
                 clock: Clock, upbit: TradingVenue, binance: PerpVenue, *, live: bool, trade_mode: str = "confirm",
                 exec_cfg: ExecConfig | None = None, confirm_timeout_s: float = 120.0,
                 confirm_tolerance_pct: float = 0.2, eval_interval_ms: int = 200) -> None:
        self.owner = owner
        self.market = market
        self.strategy = strategy
        self.store = store
        self.bus = bus
        self.clock = clock
        self.upbit = upbit
        self.binance = binance
        self.live = live
        self.state = TraderState(trade_mode=trade_mode)
        self.exec_cfg = exec_cfg or ExecConfig()
        self.confirm_timeout_ms = int(confirm_timeout_s * 1000)
        self.confirm_tolerance = confirm_tolerance_pct
        self.eval_interval_ms = eval_interval_ms
        self.risk = RiskManager(owner, store, bus, clock)
        self.rules: dict[tuple[str, str], MarketRules] = {}
        self.executor: Executor | None = None
        self.running = True  # /start and /stop
        self.balances: dict[str, Balances] = {}
        self._last_eval: dict[str, int] = {}
        self._busy: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pending_ids = itertools.count(1)
        self.holds: dict[tuple[str, str, str, str], Hold] = self._load_holds()  # skipped / expired, held back
        self._held_ids: set[str] = set()  # pending ids already turned into a hold
        self.funding_next: dict[str, int] = {}
        self._refusal_ms: dict[str, int] = {}
        self.refusal_quiet_ms = 300_000
        self._exit_retry: dict[str, tuple[int, int]] = {}  # position id -> (not before ms, failed exits)
        self.finding_meta: dict[str, dict[str, Any]] = {}  # reconciliation finding text -> what Adopt/Close act on
        self._provisional: set[str] = set()  # client ids a restart found "not found" (may still be booked)
        self._gaps: dict[str, str] = {}  # symbol -> the position finding already alerted (not repeated)
        # (symbol, action, direction, tier) skipped by the owner: not offered again while the strategy
        # keeps giving that signal (SPEC: "a skipped signal is not offered again while its condition persists")
        self.position_check_s = self.exec_cfg.position_check_s
        self.position_checks = 0  # completed continuous comparisons (for /status and tests)
        # halt kind "store": while the journal cannot be written nothing is decided or sent
        self.journal = JournalWatch(store, bus, clock, reminder_s=float(owner["store.alert_reminder_s"]))
        self.journal.on_recovered = self._after_store_recovered

    # ---- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        syms = list(self.market.symbols)
        ur, br = await asyncio.gather(self.upbit.load_rules(syms), self.binance.load_rules(syms))
        for s in syms:
            self.rules[("upbit", s)] = ur[s]
            self.rules[("binance", s)] = br[s]
        self.executor = Executor(self.upbit, self.binance, self.store, self.bus, self.clock, self.rules,
                                 self.exec_cfg)
        self.executor.on_failure = self.risk.order_failed
        self.executor.on_exposure = lambda msg: self.risk.halt("unhedged exposure: see the alert above",
                                                               by="executor")
        self.executor.on_resolved = self._resolved
        self.executor.on_rejection = lambda cause: self.risk.halt(
            f"{cause} — the exchange would refuse it again, so it is not retried; fix the cause, then /resume",
            by="executor")
        await self.refresh_balances()
        await self.reconcile()
        self.risk.protections_check()  # exits settled by the reconciliation count too
        fx = self.market.fx.rate()
        for problem in unfillable_sizes(self.owner, self.rules, fx.rate if fx else None):
            self.bus.publish(Event("error", E.UNFILLABLE(problem=problem), "warning", {"rule": "minimum order"}))
        if self.position_check_s > 0:
            self._spawn(self._position_watch())
        self._spawn(self.journal.run())
        hs = self.store.halt_state()
        if hs.halted:
            # persisted: set before a restart, or by a /halt sent while warming up or not trading yet
            text = (E.HALTED_SINCE(since=U.kst(hs.ts), by=hs.by, reason=hs.reason) if hs.ts
                    else E.HALTED_BY(by=hs.by, reason=hs.reason))
            self.bus.publish(Event("halt", text, "warning", {"reason": hs.reason, "by": hs.by, "since_ms": hs.ts}))

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.executor is not None:
            await self.executor.stop()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("trading task failed: %s: %s", type(exc).__name__, exc, exc_info=exc)
            self.bus.publish(Event("error", E.TASK_FAILED(err=f"{type(exc).__name__}: {exc}"), "critical"))

    def apply_owner(self, owner: OwnerConfig) -> None:
        """New owner numbers from a confirmed /set (the strategy object is updated by the bot)."""
        self.owner = owner
        self.risk.configure(owner)
        self.confirm_timeout_ms = int(owner["execution.confirm_timeout_s"] * 1000)
        self.confirm_tolerance = owner["execution.confirm_tolerance_pct"]
        self.journal.reminder_s = float(owner["store.alert_reminder_s"])

    # ---- balances -----------------------------------------------------------------------

    async def refresh_balances(self) -> None:
        try:
            u, b = await asyncio.gather(self.upbit.balances(), self.binance.balances())
        except Exception as exc:  # a failed refresh keeps the last known; risk checks use those
            log.warning("balance refresh failed: %s: %s", type(exc).__name__, exc)
            return
        self.balances = {"upbit": u, "binance": b}

    def positions(self) -> list[Position]:
        return [position_from_doc(d) for d in self.store.open_positions()]

    # ---- the hot path hook --------------------------------------------------------------

    def on_snapshot(self, snap: PremiumSnapshot, view: SymbolView) -> None:
        """Called by the market engine on every premium update; cheap unless a signal fires."""
        self.risk.watch_prices(snap)
        sym = snap.symbol
        last = self._last_eval.get(sym, 0)
        if snap.ts - last < self.eval_interval_ms or sym in self._busy or self.executor is None:
            return
        self._last_eval[sym] = snap.ts
        if self.journal.check():  # halt kind "store": one alert from the watch, not one per tick
            self.journal.skipped += 1
            return
        positions = self.positions()
        coins = self.balances.get("upbit", Balances(Decimal(0))).coins.get(sym, Decimal(0))
        inventory_krw = float(coins) * (snap.upbit_sell_vwap or 0.0)
        signals = self.strategy.evaluate(snap, positions, inventory_krw, snap.ts)
        self._sync_holds()
        if self.holds:
            self._lift_holds(sym, snap, positions)
        # stale/thin/unwarmed data or a suspect FX rate: what the strategy saw may be a fake premium,
        # so nothing about an entry is said (not even a refusal), checked before anything is published
        allowed = self.market.signals_allowed(sym)
        for ref in (getattr(self.strategy, "last_refusals", []) or []) if allowed else []:
            self._refused(ref, [ref.reason])
        for sig in signals:
            if sig.action != "exit" and not allowed:
                continue  # never opens a position
            if self._held(sig):
                continue  # skipped (or expired) while its condition persists: not offered again
            waiting = self.executor.unresolved(sym)
            if waiting:  # a late booking of that order would double or unhedge the next one
                self._refused(sig, [self.executor.describe_unresolved(waiting)])
                continue
            if sig.action == "exit":
                held = self._exit_retry.get(sig.position_id or "")
                if held is not None and self.clock.now_ms() < held[0]:
                    continue  # a failing exit waits before it is tried again (each try costs fees)
                self._busy.add(sym)
                self._spawn(self._run(sig, snap, by="auto"))
            elif self.risk.halted or not self.running:
                # no offer to press while entries are halted or paused; say why once in a while
                hs = self.store.halt_state()
                self._refused(sig, [R.HALTED_OFFER.said(reason=hs.reason) if hs.halted else R.PAUSED_OFFER.said()])
            elif why := self.risk.protection_refusal(sym):  # a cooldown, or a protection that just halted
                self._refused(sig, [why])
            elif self.state.trade_mode == "auto":
                self._busy.add(sym)
                self._spawn(self._run(sig, snap, by="auto"))
            else:
                self._offer(sig, snap)

    # ---- confirmation -------------------------------------------------------------------

    def _offer(self, sig: Signal, snap: PremiumSnapshot) -> None:
        self.expire_pending()  # an offer that just ran out is held, not replaced by a fresh one
        if self._held(sig):
            return
        now = self.clock.now_ms()
        for p in self.state.pending.values():
            if p.state == "pending" and p.signal.symbol == sig.symbol and p.signal.action == sig.action \
                    and now < p.expires_ms:
                return  # one open offer per symbol and action
        pid = f"S{next(self._pending_ids)}-{now % 1_000_000}"
        p = Pending(pid, sig, snap, now, now + self.confirm_timeout_ms)
        self.state.pending[pid] = p
        self.bus.publish(Event("signal", E.SIGNAL(
            coin=sig.symbol, direction=E.direction(sig.direction), action=E.action(sig.action), reason=sig.reason,
            size=U.krw(sig.size_krw), premium=U.pct(sig.premium_pct), z=U.num(sig.z, sign=True),
            target=U.pct(sig.target_pct, sign=False), secs=f"{self.confirm_timeout_ms / 1000:g}"), "info",
            {"pending_id": pid, "symbol": sig.symbol, "direction": sig.direction.value, "action": sig.action,
             "size_krw": sig.size_krw, "premium_pct": sig.premium_pct, "z": sig.z, "expires_ms": p.expires_ms}))

    async def confirm(self, pending_id: str, by: str) -> str:
        """Execute a pending signal after re-checking the premium against the tolerance."""
        p = self.state.pending.get(pending_id)
        if p is None:
            return f"no such signal {pending_id}"
        now = self.clock.now_ms()
        if p.state != "pending":
            return f"signal {pending_id} was already {p.state}"
        if self.journal.check():
            return f"nothing sent: the {self.journal.reason()}"
        if now >= p.expires_ms:
            p.state = "expired"
            self._hold(p)
            return f"signal {pending_id} expired {(now - p.expires_ms) / 1000:.0f} s ago; nothing sent"
        view = self.market.views.get(p.signal.symbol)
        snap = view.snapshot if view else None
        if snap is None:
            return "no current premium to re-check against"
        cur = snap.exec_long if p.signal.direction is Direction.LONG_PREMIUM else snap.exec_short
        if cur is None or p.signal.premium_pct is None:
            p.state = "refused"
            return "the executable premium is unavailable now (book too thin); nothing sent"
        # worse means: long premium pays more, short premium receives less
        worse = (cur - p.signal.premium_pct) if p.signal.direction is Direction.LONG_PREMIUM \
            else (p.signal.premium_pct - cur)
        if worse > self.confirm_tolerance:
            p.state = "refused"
            return (f"premium moved against the signal: {p.signal.premium_pct:+.2f}% -> {cur:+.2f}% "
                    f"(tolerance {self.confirm_tolerance:g} pp); nothing sent")
        p.state = "executing"
        self._busy.add(p.signal.symbol)
        out = await self._run(p.signal, snap, by=by, pending_id=p.id)
        p.state = "done"
        p.result = out.status if out else "refused"
        return f"{p.signal.symbol} {p.signal.action}: {p.result}"

    def skip(self, pending_id: str, by: str) -> str | Text:
        p = self.state.pending.get(pending_id)
        if p is None:
            return f"no such signal {pending_id}"
        if p.state != "pending":
            return f"signal {pending_id} was already {p.state}"
        p.state = "skipped"
        self._hold(p)
        log.info("signal %s skipped by %s; held until its condition resets", pending_id, by)
        return E.SKIPPED(coin=p.signal.symbol, action=E.action(p.signal.action))

    def skip_note(self, p: Pending) -> Text:
        """The answer to a Skip press: skipped, and when the signal comes back."""
        return E.SKIP_ANSWER(note=self.hold_note(p.signal))

    def hold_note(self, sig: Signal) -> Text:
        if sig.action == "exit":
            return E.SKIP_NOTE_EXIT()
        thr = self._entry_threshold()
        return E.SKIP_NOTE(threshold=f"{thr:g}" if thr is not None else "?")

    def expire_pending(self) -> None:
        now = self.clock.now_ms()
        for p in self.state.pending.values():
            if p.state == "pending" and now >= p.expires_ms:
                p.state = "expired"
                self._hold(p)
                self.bus.publish(Event("signal_expired", E.SIGNAL_EXPIRED(coin=p.signal.symbol, pid=p.id,
                                                                          note=self.hold_note(p.signal)),
                                       "info", {"pending_id": p.id, "symbol": p.signal.symbol}))

    # ---- skip means skip (Hold) ------------------------------------------------------------

    @staticmethod
    def _hold_key(sig: Signal) -> tuple[str, str, str, str]:
        return (sig.symbol, sig.direction.value, sig.action, sig.position_id or "")

    def _hold(self, p: Pending) -> None:
        """Hold back the signal of a skipped or expired offer (the newest skip of a key wins: it was
        offered, so it is the deepest)."""
        self._held_ids.add(p.id)
        key = self._hold_key(p.signal)
        self.holds[key] = Hold(key, signal_depth(p.signal), p.id, self.clock.now_ms())
        self._save_holds()

    def _load_holds(self) -> dict[tuple[str, str, str, str], Hold]:
        """The holds a previous run kept (a restart does not offer a skipped signal again); a
        record that does not read back is dropped with a warning (the worst case is one more offer)."""
        try:
            saved = self.store.get_state(HOLDS_STATE_KEY, []) or []
        except Exception as exc:  # noqa: BLE001  (an unreadable record must not stop the bot)
            log.warning("skip holds not read back (%s): a skipped signal may be offered once more", exc)
            return {}
        out: dict[tuple[str, str, str, str], Hold] = {}
        for d in saved if isinstance(saved, list) else []:
            try:
                key = tuple(str(k) for k in d["key"])
                if len(key) != 4:
                    raise ValueError(f"key {d['key']!r}")
                out[key] = Hold(key, (int(d["depth"][0]), float(d["depth"][1])),  # type: ignore[arg-type]
                                str(d["pending_id"]), int(d["since_ms"]))
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                log.warning("a saved skip hold dropped (%s): %r", exc, d)
        return out

    def _save_holds(self) -> None:
        """Keep the holds in the store, so a restart still holds what the owner skipped."""
        doc = [{"key": list(h.key), "depth": list(h.depth), "pending_id": h.pending_id, "since_ms": h.since_ms}
               for h in self.holds.values()]
        try:
            self.store.set_state(HOLDS_STATE_KEY, doc)
        except StoreFailed as exc:
            log.warning("skip holds not saved (%s): after a restart a skipped signal may be offered once more",
                        exc)

    def _sync_holds(self) -> None:
        """Offers marked skipped / expired elsewhere (a Skip or Execute press after the deadline) hold too."""
        for p in self.state.pending.values():
            if p.state in ("skipped", "expired") and p.id not in self._held_ids:
                self._hold(p)

    def _held(self, sig: Signal) -> bool:
        h = self.holds.get(self._hold_key(sig))
        if h is None:
            return False
        if deeper(signal_depth(sig), h.depth):
            del self.holds[h.key]
            self._save_holds()
            log.info("%s %s deeper than the skipped %s: offered again", sig.symbol, sig.action, h.pending_id)
            return False
        return True

    def _entry_threshold(self) -> float | None:
        p = getattr(self.strategy, "params", None)
        if p is None:
            return None
        return float(p.normal_z if getattr(self.strategy, "name", "") == "optimized" else p.entry_threshold)

    def _abs_z(self, sym: str, direction: Direction, snap: PremiumSnapshot) -> float | None:
        """|z| in ``direction``'s favour, as the strategy reads it (None: not known now)."""
        zfn = getattr(self.strategy, "zscore", None)
        prem = snap.exec_long if direction is Direction.LONG_PREMIUM else snap.exec_short
        if zfn is None or prem is None:
            return None
        z = zfn(sym, prem)
        if z is None:
            return None
        return -z if direction is Direction.LONG_PREMIUM else z

    def _lift_holds(self, sym: str, snap: PremiumSnapshot, positions: list[Position]) -> None:
        before = len(self.holds)
        self._lift_holds_of(sym, snap, positions)
        if len(self.holds) != before:
            self._save_holds()

    def _lift_holds_of(self, sym: str, snap: PremiumSnapshot, positions: list[Position]) -> None:
        open_ids = {p.id: p for p in positions}
        thr = self._entry_threshold()
        for key, h in list(self.holds.items()):
            if key[0] != sym:
                continue
            direction, action, pid = Direction(key[1]), key[2], key[3]
            if pid and pid not in open_ids:
                del self.holds[key]  # the position it acted on is gone
                continue
            if action == "exit":
                check = getattr(self.strategy, "_check_exit", None)
                if check is None:
                    continue
                zl = self._abs_z(sym, Direction.LONG_PREMIUM, snap)
                zs = self._abs_z(sym, Direction.SHORT_PREMIUM, snap)
                # the exit rule itself, not gated by multi_timeframe's exit-check interval
                if check(open_ids[pid], snap, None if zl is None else -zl, zs, snap.ts) is None:
                    del self.holds[key]
                    log.info("%s exit condition reset: the skipped exit may be offered again", sym)
                continue
            az = self._abs_z(sym, direction, snap)
            if az is not None and thr is not None and az < thr:
                del self.holds[key]
                log.info("%s |z| %.2f back inside %g: the skipped %s may be offered again", sym, az, thr, action)

    # ---- execution ----------------------------------------------------------------------

    async def _run(self, sig: Signal, snap: PremiumSnapshot, by: str, pending_id: str = "") -> TradeOutcome | None:
        sym = sig.symbol
        try:
            assert self.executor is not None
            waiting = self.executor.unresolved(sym)
            if waiting:
                self._refused(sig, [self.executor.describe_unresolved(waiting)])
                return None
            pos = None
            if sig.action in ("add", "exit"):
                pos = next((p for p in self.positions() if p.id == sig.position_id), None)
                if pos is None:
                    self._refused(sig, [R.POSITION_NOT_OPEN.said(position=sig.position_id)])
                    return None
            if sig.action != "exit":
                refusals = self.risk.check_entry(sig, self._context(sig, snap))
                adopted = self._adopted(sym)
                perp = -1.0 if sig.direction is Direction.LONG_PREMIUM else 1.0
                if adopted * perp < 0:
                    refusals.append(R.ADOPTED_PERP.said(coin=sym, adopted=adopted))
                if refusals:
                    self._refused(sig, refusals)
                    return None
            up, bp = signal_prices(sig, snap)
            if up is None or bp is None:
                self._refused(sig, [R.THIN_FOR_SIZE.said()])
                return None
            out = await self.executor.execute(sig, upbit_price=up, binance_price=bp, fx=snap.fx_rate,
                                              position=pos, by=by, pending_id=pending_id)
            both = out.upbit is not None and out.binance is not None and out.upbit.filled_qty > 0 \
                and out.binance.filled_qty > 0
            if out.status == "filled" or (out.status == "partial" and both):
                self.risk.order_ok()  # a "partial" made of one leg and its unwind is no success
            if sig.action == "exit" and pos is not None:
                self._exit_done(pos.id, sym, out)
                self.risk.protections_check()  # SPEC §3 protections: a booked exit may trip one
            await self.refresh_balances()
            return out
        except StoreFailed:  # nothing unjournaled was sent; the journal watch alerts (once) and halts
            self.journal.check()
            return None
        finally:
            self._busy.discard(sym)

    def _exit_done(self, pid: str, sym: str, out: TradeOutcome) -> None:
        """An exit that left the position open is retried later, with a growing wait (30 s doubling
        to 30 min): a leg the exchange keeps refusing must not be crossed and reversed every tick."""
        doc = self.store.get_position(pid)
        if out.status == "filled" or doc is None or doc.get("status") == "closed":
            self._exit_retry.pop(pid, None)
            return
        fails = self._exit_retry.get(pid, (0, 0))[1] + 1
        wait_s = min(30 * 2 ** (fails - 1), 1800)
        self._exit_retry[pid] = (self.clock.now_ms() + wait_s * 1000, fails)
        self.bus.publish(Event("error", E.EXIT_INCOMPLETE(coin=sym, pid=pid, status=out.status, attempt=fails,
                                                          wait=U.duration(wait_s)), "critical" if fails >= 3 else "warning",
                               {"symbol": sym, "position_id": pid, "attempt": fails}))

    def _context(self, sig: Signal, snap: PremiumSnapshot) -> EntryContext:
        nf = self.funding_next.get(sig.symbol)
        mins = (nf - self.clock.now_ms()) / 60_000 if nf else None
        return EntryContext(
            snapshot=snap, positions=self.positions(),
            upbit=self.balances.get("upbit", Balances(Decimal(0))),
            binance=self.balances.get("binance", Balances(Decimal(0))),
            rules_upbit=self.rules[("upbit", sig.symbol)], rules_binance=self.rules[("binance", sig.symbol)],
            data_problems=self.market.global_problems() + self.market.symbol_problems(sig.symbol),
            live=self.live, running=self.running, minutes_to_funding=mins)

    def _refused(self, sig: Signal, reasons: list[str]) -> None:
        """Publish why a signal did not trade: once per rule and symbol per quiet period, not every tick.
        The reasons are strings (English: the log, the quiet-period key); a catalogue reason
        (:class:`~kimpbot.i18n.Said`) is shown in the owner's language."""
        parts = tuple(r if isinstance(r, Said) else r.removeprefix("refused: ") for r in reasons)
        text = "; ".join(parts)
        action = "entry" if sig.action == "refused" else sig.action
        key = f"{sig.symbol}:{action}:{sig.direction.value}:{text.split(':')[0]}"
        now = self.clock.now_ms()
        last = self._refusal_ms.get(key)
        if last is not None and now - last < self.refusal_quiet_ms:
            return
        self._refusal_ms[key] = now
        self.state.last_refusal[f"{sig.symbol}:{action}"] = text
        msg = E.REFUSED(coin=sig.symbol, direction=E.direction(sig.direction), action=E.action(action),
                        why=Joined(parts))
        log.warning("%s", msg.render("en"))
        self.bus.publish(Event("refused", msg, "warning", {"symbol": sig.symbol, "reasons": reasons}))

    # ---- halt and close-all -------------------------------------------------------------

    async def halt(self, reason: str, by: str) -> list[str]:
        """Stop new entries at once (persisted) and cancel open orders."""
        self.risk.halt(reason, by)
        cancelled: list[str] = []
        for venue in (self.upbit, self.binance):
            try:
                cancelled += await venue.cancel_open_orders(list(self.market.symbols))
            except Exception as exc:
                self.bus.publish(Event("error", E.HALT_CANCEL_FAILED(venue=C.venue(venue.name), err=exc), "critical"))
        return cancelled

    async def close_all(self, by: str) -> list[TradeOutcome]:
        """Close every open position at market (after the owner's second confirmation)."""
        assert self.executor is not None
        outs = []
        for pos in self.positions():
            snap = self.market.views[pos.symbol].snapshot
            if snap is None:
                self.bus.publish(Event("error", E.CLOSEALL_NO_PRICES(coin=pos.symbol), "critical"))
                continue
            sig = Signal(pos.symbol, pos.direction, "exit", pos.entry_notional_krw, None, None, pos.tier,
                         pos.target_pct, f"close all by {by}", snap.ts, pos.id, "manual")
            up, bp = signal_prices(sig, snap)
            if up is None or bp is None:
                self.bus.publish(Event("error", E.CLOSEALL_THIN(coin=pos.symbol), "critical"))
                continue
            outs.append(await self.executor.execute(sig, upbit_price=up, binance_price=bp, fx=snap.fx_rate,
                                                    position=pos, by=by))
        await self.refresh_balances()
        return outs

    # ---- restart reconciliation ---------------------------------------------------------

    async def reconcile(self) -> list[str]:
        """Finish or unwind what was in flight at the last stop; compare the books with the exchanges."""
        assert self.executor is not None
        found = await self._recheck_journal(late=True)
        for t in self.store.trades(status="sending"):
            found += await self._finish_trade(t)
        self._watch_open()  # after the trades are settled: a late fill is then unhedged for sure
        found += await self._compare_positions()
        if found:
            msg = E.RECONCILE_RESTART(findings="\n- ".join(found))
            self.bus.publish(Event("reconcile", msg, "warning", {"findings": found}))
            log.warning("%s", msg.render("en").replace("\n", " "))
        return found

    async def _after_store_recovered(self) -> None:
        """The journal writes again (halt kind "store" still on): write the answers kept in memory
        and any halt memory held, then settle what failed writes interrupted, exactly as a restart
        would (a leg left unhedged because its unwind could not be journaled is unwound now).
        A StoreFailed on the way leaves the halt on; the watch tries again."""
        assert self.executor is not None
        self.executor.flush_unjournaled()
        self.risk.persist_unsaved()
        while self._busy:  # a trade in flight finishes first (its own writes succeed again)
            await asyncio.sleep(0.05)
        syms = set(self.market.symbols)
        self._busy |= syms  # no exit starts while the journal is settled
        try:
            found = await self._recheck_journal(late=True)
            # late fills whose reversal the failing journal kept from being sent (before the trades
            # below: one marked "sending" already is reversed by its settlement, not twice)
            for cid, (e, res) in list(self.executor.late_held.items()):
                del self.executor.late_held[cid]
                found += await self._late_fill(e, res)
            for t in self.store.trades(status="sending"):
                async with self.executor.lock(t["symbol"]):  # a close-all trade in flight ends first
                    cur = self.store.get_trade(t["id"]) or {}
                    if cur.get("status") == "sending":
                        found += await self._finish_trade(cur)
        finally:
            self._busy -= syms
        self._watch_open()  # orders still without an answer are watched now, not from the next re-check
        if found:
            msg = E.RECONCILE_RECOVERED(findings="\n- ".join(found))
            self.bus.publish(Event("reconcile", msg, "warning", {"findings": found}))
            log.warning("%s", msg.render("en").replace("\n", " "))

    async def recheck_open_orders(self) -> list[str]:
        """Periodic: orders the journal still holds open (no final answer) are queried again;
        a late fill of an order given up on is an unhedged leg and is alerted and unwound."""
        if self.journal.check():  # answers could not be booked: the store recovery does this
            return []
        found = await self._recheck_journal(late=True)
        self._watch_open()
        if found:
            self.bus.publish(Event("reconcile", E.RECONCILE_RECHECK(findings="\n- ".join(found)), "warning",
                                   {"findings": found}))
        return found

    def _watch_open(self) -> None:
        """Every order still without a final answer is watched for a late booking (executor)."""
        assert self.executor is not None
        for e in self.store.journal_open():
            if not self._in_flight(e):
                self.executor.watch(e.client_order_id)

    def _in_flight(self, e: Any) -> bool:
        """The order's coin has a trade in flight (a /closeall exit, say, which the loop's busy set does
        not cover): that trade resolves its own orders and starts their watch if they stay unanswered.
        A watch or re-check of its own must not resolve one first: its fill would be taken for a late
        one and reversed after the trade booked it."""
        assert self.executor is not None
        return self.executor.lock(e.symbol).locked()

    async def _recheck_journal(self, late: bool = False) -> list[str]:
        assert self.executor is not None
        found: list[str] = []
        venues = {"upbit": self.upbit, "binance": self.binance}
        for e in self.store.journal_open():
            if self.executor.watching(e.client_order_id) or self._in_flight(e):
                continue  # its watch (or its own trade) queries it and books a late fill already
            # an intent never marked sent never reached the wire: "not found" is final for it
            window = 0.0 if e.status == "intent" else self.executor.late_window(e.venue)
            venue = venues[e.venue]
            res = await venue.query(e.symbol, e.client_order_id, self.exec_cfg.query_timeout_s)
            age_s = (self.clock.now_ms() - e.created_ms) / 1000
            if res.status is OrderStatus.NOT_FOUND and age_s <= self.exec_cfg.unknown_grace_s:
                # Too young to call anything: a request may still land. Wait out the grace period
                # once, then ask again.
                await asyncio.sleep(self.exec_cfg.unknown_grace_s - age_s + 0.1)
                if self.executor.watching(e.client_order_id) or self._in_flight(e):
                    continue  # its trade gave up meanwhile and watches it (or still runs): the watch books it
                res = await venue.query(e.symbol, e.client_order_id, self.exec_cfg.query_timeout_s)
                age_s = (self.clock.now_ms() - e.created_ms) / 1000
            if res.status.final and res.status is not OrderStatus.NOT_FOUND:
                res = dataclasses.replace(res, side=Side(e.side))
                self.executor._journal(_req_of(e), res)
                self._provisional.discard(e.client_order_id)
                found.append(f"order {e.client_order_id} ({e.venue} {e.side} {e.qty} {e.symbol}) was "
                             f"{res.status.value}, filled {res.filled_qty}")
            elif res.status is OrderStatus.NOT_FOUND and age_s > max(window, self.exec_cfg.unknown_grace_s):
                self.store.journal_update(e.client_order_id, "expired", Decimal(0), None, None, None,
                                          f"not found on {e.venue} {age_s:.0f} s after it was sent: never placed")
                self._provisional.discard(e.client_order_id)
                found.append(f"order {e.client_order_id} ({e.venue} {e.side} {e.symbol}) was never placed")
                continue
            elif res.status is OrderStatus.NOT_FOUND:
                # the exchange could still book it: settled as nothing filled, watched meanwhile
                self._provisional.add(e.client_order_id)
                found.append(f"order {e.client_order_id} ({e.venue} {e.side} {e.qty} {e.symbol}) is not on "
                             f"{e.venue} yet; watched for a late booking until {window:g} s after it was sent, "
                             f"no {e.symbol} order goes out meanwhile")
                continue
            else:
                found.append(f"order {e.client_order_id} on {e.venue}: state still {res.status.value}; "
                             "will check again")
                continue
            trade = self.store.get_trade(e.trade_id) or {}
            if trade.get("action") == "reconcile_close":  # a lone reduce-only close: book it, never unwind it
                if trade.get("status") == "sending":
                    self._book_reconcile_close(e.trade_id, e.symbol, res, None, "reconcile")
                continue
            if late and res.filled_qty > 0:
                if trade.get("status") not in (None, "sending"):
                    # the trade was settled without this fill: it is unhedged now
                    found += await self._late_fill(e, res)
        return found

    async def _resolved(self, e: Any, res: OrderResult) -> None:
        """A watched order's final answer (executor): a reconcile close is booked as the owner's close,
        never reversed; any other fill arrived after its trade settled without it."""
        assert self.executor is not None
        trade = self.store.get_trade(e.trade_id) or {}
        if trade.get("action") == "reconcile_close":
            if trade.get("status") == "sending":
                self._book_reconcile_close(e.trade_id, e.symbol, res, None, "reconcile")
            return
        if res.filled_qty > 0:
            await self.executor.book_late_fill(e, res)

    async def _late_fill(self, e: Any, res: OrderResult) -> list[str]:
        """The executor's late-fill booking (alert, reverse, halt if it cannot)."""
        assert self.executor is not None
        done = await self.executor.book_late_fill(e, res)
        return [f"late fill: {e.symbol} {e.venue} {e.side} {res.filled_qty} (order {e.client_order_id}) arrived "
                f"after its trade was settled without it; reversed {done}"]

    async def _finish_trade(self, t: dict[str, Any]) -> list[str]:
        """A trade interrupted between sending and booking: settle it from the journal."""
        assert self.executor is not None
        entries = self.store.journal_for_trade(t["id"])
        if t.get("action") == "reconcile_close":  # a single reduce-only order, nothing to pair
            filled = sum((e.filled_qty for e in entries), Decimal(0))
            self.store.upsert_trade({"id": t["id"], "status": "closed" if filled > 0 else "failed"})
            return [f"reconcile close {t['id']} ({t['symbol']}) was in flight: {filled} filled"]
        legs = {e.leg: e for e in entries if e.leg in ("U", "B") and e.attempt == 0}
        if set(legs) != {"U", "B"}:
            self.store.upsert_trade({"id": t["id"], "status": "failed", "messages": ["interrupted before sending"]})
            return [f"trade {t['id']} ({t['symbol']}) was interrupted before its orders were sent"]
        # Net each venue's fills: the first order, any retries, minus unwinds already done.
        results = {}
        for leg, unwind_leg in (("U", "UU"), ("B", "BU")):
            res = _result_of(legs[leg])
            if legs[leg].client_order_id in self._provisional:  # not found (yet): nothing filled so far
                res = dataclasses.replace(res, status=OrderStatus.NOT_FOUND, error="not found after restart")
            for e in entries:
                if e.leg == leg and e.attempt > 0:
                    res = _merge(res, _result_of(e))
            undone = sum((e.filled_qty for e in entries if e.leg == unwind_leg), Decimal(0))
            results[leg] = dataclasses.replace(res, filled_qty=res.filled_qty - undone)
        sig = Signal(t["symbol"], Direction(t["direction"]), t["action"], float(t.get("size_krw") or 0), t.get("z"),
                     t.get("expected_premium_pct"), t.get("tier", "base"), float(t.get("target_pct") or 0),
                     "resumed after restart", self.clock.now_ms(), t.get("position_id"))
        out = TradeOutcome(t["id"], t["symbol"], t["action"], "filled", upbit=results["U"], binance=results["B"])
        fx = float(t.get("fx") or (self.market.fx.rate().rate if self.market.fx.rate() else 0.0))
        ureq, breq = _req_of(legs["U"]), _req_of(legs["B"])
        pos = None
        if t.get("position_id"):
            doc = self.store.get_position(t["position_id"])
            pos = position_from_doc(doc) if doc and doc.get("status") != "closed" else None
        if t["action"] == "exit" and pos is not None:
            await self.executor._settle_exit(out, sig, pos, ureq, breq, fx)
        elif t["action"] != "exit":
            await self.executor._settle_entry(out, sig, pos, ureq, breq, fx)
        self.store.upsert_trade({"id": t["id"], "status": out.status, "position_id": out.position_id,
                                 "exposure": out.exposure, "messages": out.messages + ["settled after restart"]})
        return [f"trade {t['id']} {t['symbol']} {t['action']} was in flight: settled as {out.status}"]

    async def _compare_positions(self) -> list[str]:
        """At start: what the exchanges hold that the journal does not explain (posted with the
        restart findings; the continuous check does not post the same difference a second time, and
        halts entries when it changes)."""
        try:
            b = await self.binance.balances()
            u = await self.upbit.balances()
        except Exception as exc:
            return [f"could not compare positions with the exchanges: {type(exc).__name__}: {exc}"]
        out: list[str] = []
        for sym in self.market.symbols:
            found = self._position_findings(b, u, [sym])
            if found:
                self._gaps[sym] = "\n".join(found)
            out += found
        return out

    async def _position_watch(self) -> None:
        """Compare the journal with the exchanges' positions every ``position_check_s`` while running.
        A coin with a trade in flight is skipped (its books are being written); a coin with an order
        still unanswered gets that order queried at once (its watch books a late fill). Any other
        difference beyond dust is a critical finding (coin, venue, quantity, Adopt / Close / Ignore)
        and halts entries; it is alerted once, again only when it changes."""
        assert self.executor is not None
        failed_since: float | None = None
        while True:
            await asyncio.sleep(self.position_check_s)
            if self.journal.halted:  # answers the journal could not hold make it differ: compare after recovery
                continue
            before = {sym: self._activity(sym) for sym in self.market.symbols}
            try:
                b, u = await asyncio.gather(self.binance.balances(), self.upbit.balances())
            except Exception as exc:
                loop_t = asyncio.get_running_loop().time()
                if failed_since is None:
                    failed_since = loop_t
                    log.warning("position check: reading the exchanges failed: %s: %s", type(exc).__name__, exc)
                continue
            failed_since = None
            try:
                # a coin that traded while the exchanges were read is compared next round
                self._check_positions(b, u, [s for s, a in before.items() if a is not None and
                                             self._activity(s) == a])
            except Exception as exc:  # a bug here must not end the watch
                log.exception("position check failed: %s", exc)
            self.position_checks += 1

    def _activity(self, sym: str) -> int | None:
        """Orders sent on ``sym`` so far; None while one is in flight (its books are being written)."""
        assert self.executor is not None
        if sym in self._busy or self.executor.lock(sym).locked():
            return None
        return self.executor.activity.get(sym, 0)

    def _check_positions(self, b: Balances, u: Balances, symbols: list[str]) -> None:
        assert self.executor is not None
        syms = []
        for sym in symbols:
            if self.executor.unresolved(sym):
                self.executor.poke(sym)  # its watch queries now and books a late fill
                continue
            syms.append(sym)
        for sym in syms:
            found = self._position_findings(b, u, [sym])
            key = "\n".join(found)
            if not found:
                self._gaps.pop(sym, None)
                continue
            if self._gaps.get(sym) == key:
                continue  # already alerted; the owner's buttons are on that message
            self._gaps[sym] = key
            for f in found:
                log.critical("position check: %s", f)
            self.bus.publish(Event("reconcile", E.POSITION_MISMATCH(coin=sym), "critical",
                                   {"findings": found, "symbol": sym}))
            self.risk.halt(f"position mismatch: {found[0].split(' (adopt')[0]}", by="position check")

    def _position_findings(self, b: Balances, u: Balances, symbols: list[str]) -> list[str]:
        out: list[str] = []
        positions = self.positions()
        for sym in symbols:
            expect = self._expected_binance(sym, positions)
            have = float(b.positions.get(sym, Decimal(0)))
            step = float(self.rules[("binance", sym)].qty_step)
            if abs(have - expect) >= step / 2:
                text = (f"unexpected Binance {sym} position: exchange {have:+g}, journal {expect:+g} "
                        "(adopt, close or ignore)")
                out.append(text)
                self.finding_meta[text] = {"kind": "binance_position", "symbol": sym, "gap": str(
                    b.positions.get(sym, Decimal(0)) - Decimal(str(expect)))}
            need = sum(p.upbit_qty for p in positions if p.symbol == sym and p.direction is Direction.LONG_PREMIUM)
            held = float(u.coins.get(sym, Decimal(0)))
            if held + 1e-12 < need * 0.999:
                out.append(f"Upbit {sym} holding {held:g} is below the {need:g} the open positions bought")
        return out

    def _expected_binance(self, sym: str, positions: list[Position] | None = None) -> float:
        """The signed perp position the journal explains: open pairs plus what the owner adopted."""
        pairs = sum((-p.binance_qty if p.direction is Direction.LONG_PREMIUM else p.binance_qty)
                    for p in (self.positions() if positions is None else positions) if p.symbol == sym)
        return float(pairs) + self._adopted(sym)

    def _adopted(self, sym: str) -> float:
        """The signed perp quantity the owner adopted as their own (outside the pairs)."""
        return float(self.store.get_state(f"adopted.binance.{sym}", 0.0) or 0.0)

    async def _binance_gap(self, sym: str) -> tuple[Decimal, Decimal]:
        """(exchange position now, exchange minus expected), re-read: a finding may be stale."""
        b = await self.binance.balances()
        have = b.positions.get(sym, Decimal(0))
        return have, have - Decimal(str(self._expected_binance(sym)))

    def _finding_blocked(self, sym: str) -> str:
        if self.journal.check():
            return "the journal cannot be written (disk full?), so no order can be sent or booked"
        if sym in self._busy:
            return f"a {sym} trade is in flight"
        if any(e.symbol == sym for e in self.store.journal_open()):
            return f"a {sym} order has no final answer yet (it is being watched for a late booking)"
        return ""

    async def _checked_gap(self, meta: dict[str, Any]) -> tuple[Decimal, Decimal, str]:
        """(position now, gap now, why not) — refused when the gap is not the one the owner saw."""
        sym = meta["symbol"]
        have, gap = await self._binance_gap(sym)
        step = self.rules[("binance", sym)].qty_step
        seen = Decimal(str(meta.get("gap", gap)))
        if abs(gap - seen) >= step / 2:
            return have, gap, (f"Binance {sym} changed since the finding (unexplained {_signed(seen)} then, "
                               f"{_signed(gap)} now): nothing done; it is reported again if it stays")
        return have, gap, ""

    async def adopt_finding(self, meta: dict[str, Any], by: str) -> tuple[str, str]:
        """Adopt: the perp position the journal does not explain is the owner's (a hand-made hedge,
        say). It stays outside the pairs' P&L and is no longer reported as unexpected.
        Returns (state, text): state "adopted", or "open" when nothing was done."""
        if meta.get("kind") != "binance_position":
            return "adopted", "recorded; nothing for kimpbot to take over here."
        sym = meta["symbol"]
        why = self._finding_blocked(sym)
        if why:
            return "open", f"not now: {why}; press again when it is done."
        have, gap, why = await self._checked_gap(meta)
        if why:
            return "open", why
        if abs(gap) < self.rules[("binance", sym)].qty_step / 2:
            return "adopted", f"nothing to adopt any more: Binance {sym} {_signed(have)} matches the journal."
        adopted = self._adopted(sym)
        total = adopted + float(gap)
        pairs = self._expected_binance(sym) - adopted
        if total * pairs < 0 and abs(total) > 1e-12:
            # one-way mode nets the two: the pairs' reduce-only exits would be refused
            return "open", (f"not adopted: the open {sym} pairs hold {pairs:+g} on Binance and an adopted "
                            f"{total:+g} of the other sign would net against them, so their exits could not "
                            "close; close the difference instead (Close) or close the pairs first.")
        self.store.set_state(f"adopted.binance.{sym}", total)
        log.warning("reconcile: Binance %s %+g adopted by %s (outside the pairs)", sym, float(gap), by)
        return "adopted", (f"Binance {sym} {_signed(gap)} adopted as the owner's own (outside kimpbot's pairs and "
                           f"P&L; not reported again). New {sym} pairs whose perp leg has the other sign are "
                           "refused while it is there (one-way mode would net them).")

    async def close_finding(self, meta: dict[str, Any], by: str) -> tuple[str, str]:
        """Close: a reduce-only market order brings the perp position back to what the journal
        explains. The order is journaled like any leg (client id from a trade id of its own), and
        the symbol is busy meanwhile, so no pair trade runs beside it.
        Returns (state, text): "closed", "open" (nothing sent, or it failed) or "pending" (no answer)."""
        if meta.get("kind") != "binance_position":
            return "closed", ("recorded. kimpbot sends no orders for this finding: check it on the exchange (it "
                              "names the venue and quantity).")
        assert self.executor is not None
        sym = meta["symbol"]
        why = self._finding_blocked(sym)
        if why:
            return "open", f"not now: {why}; nothing sent, press again when it is done."
        self._busy.add(sym)
        try:
            have, gap, why = await self._checked_gap(meta)
            if why:
                return "open", why
            rules = self.rules[("binance", sym)]
            qty = (abs(gap) // rules.qty_step) * rules.qty_step
            if qty <= 0:
                return "closed", f"nothing to close any more: Binance {sym} {_signed(have)} matches the journal."
            side = Side.SELL if gap > 0 else Side.BUY
            book = self.market.books.get((Venue.BINANCE, sym))
            hint = Decimal(str(book.bids[0].price if side is Side.SELL else book.asks[0].price)) if book and \
                book.bids and book.asks else Decimal(0)
            trade_id = self.store.new_trade_id()
            self.store.upsert_trade({"id": trade_id, "symbol": sym, "action": "reconcile_close", "status": "sending",
                                     "direction": "", "size_krw": 0.0, "created_ms": self.clock.now_ms(), "by": by})
            res = await self.executor._order(self.binance, trade_id, "B", sym, side, qty, hint, True,
                                             "reconcile_close")
            return self._book_reconcile_close(trade_id, sym, res, qty, by)
        finally:
            self._busy.discard(sym)

    def _book_reconcile_close(self, trade_id: str, sym: str, res: OrderResult, qty_: Decimal | None,
                              by: str) -> tuple[str, str]:
        rules = self.rules.get(("binance", sym))
        step = rules.qty_step if rules else None
        tick = rules.tick(res.avg_price) if rules and res.avg_price else Decimal(0)
        rtext = E.RECONCILE_CLOSE_TEXT(
            coin=sym, side=C.side(res.side.value), filled=U.qty(res.filled_qty, step, sym),
            of=E.RC_OF(qty=U.qty(qty_, step, sym)) if qty_ is not None else "", status=E.status(res.status.value),
            avg=E.RC_AVG(price=U.price(res.avg_price, tick or None, "USDT")) if res.avg_price else "")
        text = str(rtext)
        if not res.status.final:  # no answer: the journal keeps it open and housekeeping asks again
            self.bus.publish(Event("error", E.RECONCILE_CLOSE_PENDING(by=by, text=rtext), "warning",
                                   {"symbol": sym, "venue": "binance", "trade_id": trade_id}))
            return "pending", text + "; no answer yet: checked again every minute"
        ok = res.filled_qty > 0
        self.store.upsert_trade({"id": trade_id, "status": "closed" if ok else "failed",
                                 "binance": {"status": res.status.value, "filled_qty": str(res.filled_qty),
                                             "avg_price": str(res.avg_price or "")}})
        self.bus.publish(Event("fill" if ok else "error", E.RECONCILE_CLOSE(by=by, text=rtext),
                               "info" if ok else "warning", {"symbol": sym, "venue": "binance",
                                                             "trade_id": trade_id}))
        self._spawn(self.refresh_balances())
        return ("closed" if ok else "open"), text

    # ---- funding ------------------------------------------------------------------------

    async def book_funding(self) -> None:
        """Book perp funding payments into each open position and note the next funding time."""
        fx_r = self.market.fx.rate()
        fx = fx_r.rate if fx_r else None
        for sym in self.market.symbols:
            try:
                info = await self.binance.funding_info(sym)
                self.funding_next[sym] = info.next_funding_ms
            except Exception as exc:
                log.warning("funding info %s failed: %s", sym, exc)
        if fx is None or self.journal.check():
            return
        for doc in self.store.open_positions():
            try:
                pays = await self.binance.funding_payments(doc["symbol"], int(doc["opened_ts"]))
            except Exception as exc:
                log.warning("funding history %s failed: %s", doc["symbol"], exc)
                continue
            seen = set(doc.get("funding_ids", []))
            new = [p for p in pays if p.tran_id not in seen]
            if not new:
                continue
            paid_krw = -sum(float(p.amount_usdt) for p in new) * fx  # negative income = paid = a cost
            pos = position_from_doc(doc)
            pos.funding_krw += paid_krw
            self.store.upsert_position(position_to_doc(pos, funding_ids=sorted(seen | {p.tran_id for p in new})))
            self.bus.publish(Event("funding", E.FUNDING(coin=pos.symbol, amount=U.krw(-paid_krw, sign=True),
                                                        n=len(new)), "info", {"symbol": pos.symbol, "krw": -paid_krw}))


def _qty(q: Decimal) -> str:
    return format(q.normalize(), "f")


def _signed(q: Decimal | float) -> str:
    d = q if isinstance(q, Decimal) else Decimal(str(q))
    return ("+" if d > 0 else "-" if d < 0 else "") + _qty(abs(d))


def _req_of(e: Any) -> Any:
    from kimpbot.execution.venues import OrderRequest

    return OrderRequest(e.venue, e.symbol, Side(e.side), e.client_order_id, e.qty, e.price_hint or Decimal(0),
                        reduce_only=e.kind in ("exit", "exit_retry") and e.venue == "binance")


def _result_of(e: Any) -> OrderResult:
    status = {"filled": OrderStatus.FILLED, "canceled": OrderStatus.PARTIAL, "rejected": OrderStatus.REJECTED,
              "expired": OrderStatus.REJECTED}.get(e.status, OrderStatus.UNKNOWN)
    if status is OrderStatus.PARTIAL and e.filled_qty == 0:
        status = OrderStatus.REJECTED
    return OrderResult(e.venue, e.symbol, Side(e.side), e.client_order_id, status, e.filled_qty,
                       e.avg_price or Decimal(0), e.fee or Decimal(0), e.exchange_order_id or "", e.raw_error or "")
