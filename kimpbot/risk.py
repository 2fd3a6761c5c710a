"""Risk: pre-trade checks and emergency stops (SPEC §3), the owner's policy enforced by code.

Every refusal names the rule, the value and the limit, so the owner can tell from
a phone why a signal did not trade. Emergency conditions halt new entries; a halt
is persisted by the store and lasts until ``/resume``.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from kimpbot.clock import Clock
from kimpbot.strategy_file.read import OwnerConfig
from kimpbot.events import Event, EventBus
from kimpbot.i18n import events as E
from kimpbot.i18n import refusals as R
from kimpbot.execution.venues import Balances, MarketRules
from kimpbot.models import Direction, PremiumSnapshot
from kimpbot.protections import ProtectionGuard
from kimpbot.store import Store, StoreFailed
from kimpbot.strategy.base import Position, Signal

log = logging.getLogger(__name__)


@dataclass
class EntryContext:
    """What the pre-trade checks look at, gathered by the engine just before an entry."""

    snapshot: PremiumSnapshot
    positions: list[Position]
    upbit: Balances
    binance: Balances
    rules_upbit: MarketRules
    rules_binance: MarketRules
    data_problems: list[str]
    live: bool
    running: bool
    minutes_to_funding: float | None = None
    leverage: float = 1.0


class RiskManager:
    def __init__(self, owner: OwnerConfig, store: Store, bus: EventBus, clock: Clock) -> None:
        self.store = store
        self.bus = bus
        self.clock = clock
        self.protections: ProtectionGuard | None = None
        self.configure(owner)
        self.protections = ProtectionGuard(owner, store, bus, clock.now_ms, lambda why, by: self.halt(why, by=by))
        self._prices: dict[tuple[str, str], deque[tuple[int, float]]] = {}
        self.failures = 0
        self.unsaved_halt: tuple[str, str] | None = None  # (reason, by) a failed store write could not persist

    def configure(self, owner: OwnerConfig) -> None:
        """Read the owner's limits (at start, and when a confirmed /set changes one)."""
        self.owner = owner
        self.sp = owner.strategy
        self.move_pct = float(owner["risk.emergency_move_pct"])
        self.window_ms = int(owner["risk.emergency_window_s"] * 1000)
        self.max_positions = int(owner["risk.max_concurrent_positions"])
        self.max_failures = int(owner["risk.max_order_failures"])
        self.canary = owner["risk.live_canary_max_krw"]
        self.funding_guard = owner["risk.funding_guard_minutes"]
        if self.protections is not None:
            self.protections.configure(owner)

    # ---- halt ---------------------------------------------------------------------------

    @property
    def halted(self) -> bool:
        return self.unsaved_halt is not None or self.store.halt_state().halted

    def halt(self, reason: str, by: str = "risk") -> bool:
        """Halt new entries (persisted). Returns False if already halted."""
        if self.halted:
            return False
        try:
            self.store.set_halt(True, reason, by)
        except StoreFailed:  # the disk refuses: halt in memory now, persist once it writes again
            self.unsaved_halt = (reason, by)
        msg = E.HALTED(reason=reason)
        log.critical("%s", msg.render("en"))
        self.bus.publish(Event("halt", msg, "critical", {"reason": reason, "by": by}))
        return True

    def persist_unsaved(self) -> None:
        """The store writes again: persist a halt only memory held (raises StoreFailed if not)."""
        if self.unsaved_halt is not None:
            reason, by = self.unsaved_halt
            self.store.set_halt(True, reason, by)
            self.unsaved_halt = None

    def resume(self, by: str) -> bool:
        if not self.halted:
            if self.protections is not None and self.protections.cooling():
                self.protections.reset()  # /resume lifts a protection's cooldown early too
                self.bus.publish(Event("halt", E.COOLDOWN_LIFTED(by=by), "info", {"by": by}))
                return True
            return False
        if self.store.halt_state().halted:
            self.store.set_halt(False, "resumed", by)
        self.unsaved_halt = None
        self.failures = 0
        if self.protections is not None:
            self.protections.reset()  # the protections count again from now
        self.bus.publish(Event("halt", E.RESUMED(by=by), "info", {"by": by}))
        return True

    # ---- protections (kimpbot.protections) -------------------------------------------------

    def protections_check(self) -> None:
        """After a booked exit: halt (once) on a tripped protection, alert a new cooldown once."""
        if self.protections is not None:
            self.protections.check()

    def protection_refusal(self, symbol: str) -> str | None:
        """Why a protection refuses an entry in ``symbol`` now (tripping a halt on the way)."""
        if self.protections is None:
            return None
        why = self.protections.entry_refusal(symbol)
        if why and not self.halted:
            self.protections.check()  # a halting rule (after a restart, say) halts here, once
        return why

    # ---- emergency conditions -------------------------------------------------------------

    def watch_prices(self, snap: PremiumSnapshot) -> None:
        """A move beyond ``risk.emergency_move_pct`` within the window on either exchange halts."""
        now = snap.ts
        # The ask-side fill price is enough to see a 5 % move; the spread is far smaller.
        for venue, price in (("Upbit", snap.upbit_buy_vwap), ("Binance", snap.binance_buy_vwap)):
            if not price:
                continue
            key = (venue, snap.symbol)
            dq = self._prices.get(key)
            if dq is None:
                dq = self._prices[key] = deque()
            dq.append((now, price))
            while dq and dq[0][0] < now - self.window_ms:
                dq.popleft()
            lo = min(p for _, p in dq)
            hi = max(p for _, p in dq)
            move = (hi / lo - 1.0) * 100.0
            if move > self.move_pct:
                self.halt(f"emergency: {venue} {snap.symbol} moved {move:.2f}% within "
                          f"{self.window_ms / 1000:g} s (risk.emergency_move_pct {self.move_pct:g})")
                dq.clear()

    def order_failed(self, what: str) -> None:
        self.failures += 1
        if self.failures >= self.max_failures:
            self.halt(f"emergency: {self.failures} consecutive order failures, last: {what} "
                      f"(risk.max_order_failures {self.max_failures})")

    def order_ok(self) -> None:
        self.failures = 0

    # ---- pre-trade ------------------------------------------------------------------------

    def check_entry(self, sig: Signal, ctx: EntryContext) -> list[str]:
        """Reasons to refuse an enter/add signal; empty means it may go. Each names rule, value, limit
        (a :class:`~kimpbot.i18n.Said`: the English string, shown in the owner's language)."""
        out: list[str] = []
        hs = self.store.halt_state()
        if hs.halted:
            out.append(R.HALTED.said(reason=hs.reason, by=hs.by))
        elif self.unsaved_halt is not None:
            out.append(R.HALTED.said(reason=self.unsaved_halt[0], by=self.unsaved_halt[1]))
        if not ctx.running:
            out.append(R.PAUSED.said())
        why = self.protection_refusal(sig.symbol)
        if why:
            out.append(why)
        for p in ctx.data_problems:
            out.append(R.DATA.said(problem=p))
        sym = sig.symbol
        mine = [p for p in ctx.positions if p.symbol == sym]
        if sig.action == "enter" and len(ctx.positions) >= self.max_positions:
            out.append(R.MAX_POSITIONS.said(n=len(ctx.positions), limit=self.max_positions))
        cap = self.sp.symbol_capital(sym)
        held = sum(p.entry_notional_krw for p in mine)
        after = held + sig.size_krw
        max_single = self.sp.max_single_position * cap
        if after > max_single * (1 + 1e-9):
            out.append(R.MAX_SINGLE.said(after=after, share=self.sp.max_single_position, cap=cap, most=max_single))
        if after > cap * (1 + 1e-9):
            out.append(R.ALLOCATION.said(after=after, coin=sym, cap=cap))
        snap = ctx.snapshot
        fx = snap.fx_rate
        long_p = sig.direction is Direction.LONG_PREMIUM
        uprice = (snap.upbit_buy_vwap if long_p else snap.upbit_sell_vwap) or 0.0
        bprice = (snap.binance_sell_vwap if long_p else snap.binance_buy_vwap) or 0.0
        if uprice <= 0 or bprice <= 0:
            out.append(R.THIN_BOOK.said(size=sig.size_krw))
            return out
        qty = Decimal(str(sig.size_krw / uprice))
        bq = ctx.rules_binance.round_qty(qty)
        if bq < ctx.rules_binance.min_qty or bq <= 0:
            out.append(R.MIN_SIZE.said(qty=qty, coin=sym, rounded=bq, least=ctx.rules_binance.min_qty,
                                       step=ctx.rules_binance.qty_step))
        elif float(bq) * bprice < float(ctx.rules_binance.min_notional):
            out.append(R.MIN_NOTIONAL_BINANCE.said(usdt=float(bq) * bprice, least=ctx.rules_binance.min_notional,
                                                   least_krw=float(ctx.rules_binance.min_notional) * fx))
        if sig.size_krw < float(ctx.rules_upbit.min_notional):
            out.append(R.MIN_NOTIONAL_UPBIT.said(size=sig.size_krw, least=ctx.rules_upbit.min_notional))
        if ctx.live and self.canary is not None and sig.size_krw > self.canary:
            out.append(R.CANARY.said(size=sig.size_krw, limit=self.canary))
        fee_u = snap.upbit_fee
        if long_p:
            need = sig.size_krw * (1 + fee_u)
            have = float(ctx.upbit.quote_free)
            if have < need:
                out.append(R.KRW_BALANCE.said(have=have, need=need))
        else:
            have_c = float(ctx.upbit.coins.get(sym, Decimal(0)))
            if have_c < float(qty):
                out.append(R.INVENTORY.said(coin=sym, have=have_c, need=float(qty)))
        margin_need = float(bq) * bprice / max(ctx.leverage, 1e-9) * 1.05  # 5 % headroom for fees and moves
        if float(ctx.binance.quote_free) < margin_need:
            out.append(R.MARGIN.said(free=float(ctx.binance.quote_free), need=margin_need, leverage=ctx.leverage))
        if self.funding_guard is not None and ctx.minutes_to_funding is not None \
                and ctx.minutes_to_funding < self.funding_guard:
            out.append(R.FUNDING_GUARD.said(minutes=ctx.minutes_to_funding, limit=self.funding_guard))
        return out
