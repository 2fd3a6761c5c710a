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
        """Reasons to refuse an enter/add signal; empty means it may go. Each names rule, value, limit."""
        out: list[str] = []
        hs = self.store.halt_state()
        if hs.halted:
            out.append(f"halted: {hs.reason} (by {hs.by}); /resume lifts it")
        elif self.unsaved_halt is not None:
            out.append(f"halted: {self.unsaved_halt[0]} (by {self.unsaved_halt[1]}); /resume lifts it")
        if not ctx.running:
            out.append("entries paused (/stop); /start allows them")
        why = self.protection_refusal(sig.symbol)
        if why:
            out.append(why)
        for p in ctx.data_problems:
            out.append(f"data freshness: {p}")
        sym = sig.symbol
        mine = [p for p in ctx.positions if p.symbol == sym]
        if sig.action == "enter" and len(ctx.positions) >= self.max_positions:
            out.append(f"max concurrent positions: {len(ctx.positions)} open, limit "
                       f"risk.max_concurrent_positions {self.max_positions}")
        cap = self.sp.symbol_capital(sym)
        held = sum(p.entry_notional_krw for p in mine)
        after = held + sig.size_krw
        max_single = self.sp.max_single_position * cap
        if after > max_single * (1 + 1e-9):
            out.append(f"max single position: {after:,.0f} KRW after this entry, limit "
                       f"{self.sp.max_single_position:g} x {cap:,.0f} = {max_single:,.0f} KRW")
        if after > cap * (1 + 1e-9):
            out.append(f"capital allocation: {after:,.0f} KRW in {sym}, limit {cap:,.0f} KRW")
        snap = ctx.snapshot
        fx = snap.fx_rate
        long_p = sig.direction is Direction.LONG_PREMIUM
        uprice = (snap.upbit_buy_vwap if long_p else snap.upbit_sell_vwap) or 0.0
        bprice = (snap.binance_sell_vwap if long_p else snap.binance_buy_vwap) or 0.0
        if uprice <= 0 or bprice <= 0:
            out.append(f"book too thin: no executable price for {sig.size_krw:,.0f} KRW")
            return out
        qty = Decimal(str(sig.size_krw / uprice))
        bq = ctx.rules_binance.round_qty(qty)
        if bq < ctx.rules_binance.min_qty or bq <= 0:
            out.append(f"minimum size: {qty:.8f} {sym} rounds to {bq} on Binance, minimum "
                       f"{ctx.rules_binance.min_qty} (step {ctx.rules_binance.qty_step})")
        elif float(bq) * bprice < float(ctx.rules_binance.min_notional):
            out.append(f"minimum notional: {float(bq) * bprice:,.2f} USDT on Binance, minimum "
                       f"{ctx.rules_binance.min_notional} USDT ({float(ctx.rules_binance.min_notional) * fx:,.0f} KRW)")
        if sig.size_krw < float(ctx.rules_upbit.min_notional):
            out.append(f"minimum notional: {sig.size_krw:,.0f} KRW on Upbit, minimum "
                       f"{ctx.rules_upbit.min_notional:,.0f} KRW")
        if ctx.live and self.canary is not None and sig.size_krw > self.canary:
            out.append(f"live canary: order {sig.size_krw:,.0f} KRW, limit risk.live_canary_max_krw "
                       f"{self.canary:,.0f} KRW")
        fee_u = snap.upbit_fee
        if long_p:
            need = sig.size_krw * (1 + fee_u)
            have = float(ctx.upbit.quote_free)
            if have < need:
                out.append(f"Upbit KRW balance: {have:,.0f} KRW free, need {need:,.0f} KRW")
        else:
            have_c = float(ctx.upbit.coins.get(sym, Decimal(0)))
            if have_c < float(qty):
                out.append(f"Upbit {sym} inventory for a short-premium entry: {have_c:.8f} {sym} held, need "
                           f"{float(qty):.8f} {sym} (sell held coin + long perp; without inventory this entry "
                           "cannot be made)")
        margin_need = float(bq) * bprice / max(ctx.leverage, 1e-9) * 1.05  # 5 % headroom for fees and moves
        if float(ctx.binance.quote_free) < margin_need:
            out.append(f"Binance USDT margin: {float(ctx.binance.quote_free):,.2f} USDT free, need "
                       f"{margin_need:,.2f} USDT at {ctx.leverage:g}x")
        if self.funding_guard is not None and ctx.minutes_to_funding is not None \
                and ctx.minutes_to_funding < self.funding_guard:
            out.append(f"funding guard: next funding in {ctx.minutes_to_funding:.0f} min, "
                       f"limit risk.funding_guard_minutes {self.funding_guard:g}")
        return out
