"""``optimized`` — "extreme-value multi-symbol", the owner's confirmed choice (SPEC §2.3).

Tiers by |z| of the executable premium for the direction:
  ultra   |z| >= ultra_z (4.0):   one entry of ultra_size (40 %), target 2.0 %
  extreme |z| >= extreme_z (3.0): extreme_size_mult x base (20 %), target 1.5 %
  normal  |z| >= normal_z (2.0):  normal_size_mult x base (15 %) in ``normal_splits``
          equal parts, split k due at |z| >= normal_z + k x split_step (the step
          derived from the tiers unless the owner sets ``split_step_z``: 1/3 with
          the defaults, splits at 2.0, 2.33, 2.67), so the whole 15 % is in before
          the extreme tier; an entry takes every split its |z| has reached; target 0.8 %
Sizes are fractions of the symbol's capital (initial capital x allocation).
Entries and adds need ``|premium| >= min_kimp_entry``, read on the mid premium
(``zscore.min_kimp_on``). A position's tier (and so
its target) is set at its first entry; if |z| reaches a deeper tier while it is
open, it is topped up to that tier's full size and adopts that tier's target
(``optimized.topup_on_deeper_tier``, on by default; never above
``max_single_position``). Exit when net profit >= the position's target.
"""

from __future__ import annotations

from kimpbot.models import Direction, PremiumSnapshot
from kimpbot.strategy import rules
from kimpbot.strategy.base import Decision, Position, Signal, Strategy, _fmt_dir


class OptimizedStrategy(Strategy):
    name = "optimized"

    def _check_entry(self, snap: PremiumSnapshot, zl: float | None, zs: float | None, inventory_krw: float,
                     now_ms: int, out: Decision) -> None:
        p = self.params
        sym = snap.symbol
        for direction, z, prem in ((Direction.LONG_PREMIUM, zl, snap.exec_long),
                                   (Direction.SHORT_PREMIUM, zs, snap.exec_short)):
            if z is None or prem is None:
                continue
            az = -z if direction is Direction.LONG_PREMIUM else z
            rank = int(rules.tier_rank(az, p))
            floor = rules.floor_premium(snap.mid, prem, p)
            if rank < 1 or not abs(floor) >= p.opt_min_kimp_entry:
                continue
            tier = rules.tier_name(rank)
            assert tier is not None
            splits = int(rules.splits_due(az, p))
            size = rules.entry_size_krw(p, self.name, sym, tier, splits)
            target = rules.tier_target(tier, p)
            part = (f" (split{'s' if splits > 1 else ''} {splits}/{p.normal_splits} of "
                    f"{rules.tier_fraction('normal', p):g})" if tier == "normal" and p.normal_splits > 1 else "")
            reason = (f"optimized {tier} entry {_fmt_dir(direction)}: |z| {az:.2f} >= "
                      f"{ {'normal': p.normal_z, 'extreme': p.extreme_z, 'ultra': p.ultra_z}[tier]:g} and "
                      f"|{p.min_kimp_on} premium| {abs(floor):.3f}% >= {p.opt_min_kimp_entry:g}%; size "
                      f"{size / self.capital(sym):.4g} of {self.capital(sym):,.0f} KRW{part}, target {target:g}%")
            self._emit(out, Signal(sym, direction, "enter", size, z, prem, tier, target, reason, snap.ts, None,
                                   self.name), inventory_krw)
            return

    def _check_add(self, pos: Position, snap: PremiumSnapshot, zl: float | None, zs: float | None,
                   inventory_krw: float, now_ms: int, out: Decision) -> None:
        p = self.params
        long = pos.direction is Direction.LONG_PREMIUM
        z = zl if long else zs
        prem = snap.exec_long if long else snap.exec_short
        if z is None or prem is None or not abs(rules.floor_premium(snap.mid, prem, p)) >= p.opt_min_kimp_entry:
            return
        az = -z if long else z
        got = rules.optimized_add(p, pos.symbol, pos.tier, pos.adds, pos.last_add_abs_z, pos.entry_notional_krw, az)
        if got is None:
            return
        tier, size, why = got
        target = rules.tier_target(tier, p)
        reason = f"optimized add {_fmt_dir(pos.direction)}: {why}; add {size:,.0f} KRW, target {target:g}%"
        self._emit(out, Signal(pos.symbol, pos.direction, "add", size, z, prem, tier, target, reason, snap.ts,
                               pos.id, self.name), inventory_krw)

    def _exit_rule(self, pos: Position, net: float, z_exit: float | None) -> str | None:
        if rules.target_exit_ok(net, pos.target_pct):
            return f"optimized {pos.tier} exit: net profit {net:.3f}% >= target {pos.target_pct:g}%"
        return None
