"""``zscore`` (the base strategy) and ``multi_timeframe`` (zscore confirmed on 1-minute bars).

zscore (SPEC §2.1): enter when ``|z| >= entry_threshold`` and ``|premium| >=
min_kimp_entry`` (z of the executable premium for the direction; the floor reads
the mid premium the owner sees unless ``zscore.min_kimp_on = "executable"``);
one position per symbol of ``position_size`` (unset by owner: SPEC gives no size)
x the symbol's capital (initial capital x the owner's allocation, BTC 40 / ETH 35 /
XRP 25, unless ``zscore.allocation`` is set); exit when net profit ``>= min_profit_exit`` and
``|z| <= exit_z`` (z of the exit-side executable premium).

multi_timeframe (SPEC §2.2): the same, but an entry also needs the last
``confirm_bars`` (3) closed confirmation bars (1 minute) each to have moved
back toward the mean: strictly rising closes for a long-premium entry (the
premium is below the mean), strictly falling for a short-premium entry — while
|z| is still at or beyond the threshold at the tick. Exits are checked at most
every ``exit_check_seconds`` (30 s).
"""

from __future__ import annotations

from kimpbot.models import Direction, PremiumSnapshot
from kimpbot.strategy import rules
from kimpbot.strategy.base import Decision, Position, Signal, Strategy, _fmt_dir


class ZScoreStrategy(Strategy):
    name = "zscore"

    def _confirmed(self, symbol: str, direction: Direction) -> tuple[bool, str]:
        return True, ""

    def _check_entry(self, snap: PremiumSnapshot, zl: float | None, zs: float | None, inventory_krw: float,
                     now_ms: int, out: Decision) -> None:
        p = self.params
        sym = snap.symbol
        size = rules.entry_size_krw(p, self.name, sym, None)
        for direction, z, prem in ((Direction.LONG_PREMIUM, zl, snap.exec_long),
                                   (Direction.SHORT_PREMIUM, zs, snap.exec_short)):
            if z is None or prem is None:
                continue
            floor = rules.floor_premium(snap.mid, prem, p)
            ok = (rules.long_entry_ok(z, floor, p.entry_threshold, p.min_kimp_entry)
                  if direction is Direction.LONG_PREMIUM
                  else rules.short_entry_ok(z, floor, p.entry_threshold, p.min_kimp_entry))
            if not ok:
                continue
            confirmed, how = self._confirmed(sym, direction)
            if not confirmed:
                continue
            sign = "<= -" if direction is Direction.LONG_PREMIUM else ">= "
            reason = (f"{self.name} entry {_fmt_dir(direction)}: z {z:.2f} {sign}{p.entry_threshold:g} and "
                      f"|{p.min_kimp_on} premium| {abs(floor):.3f}% >= {p.min_kimp_entry:g}%{how}; size {p.position_size:g} x "
                      f"{self.capital(sym):,.0f} KRW")
            self._emit(out, Signal(sym, direction, "enter", size, z, prem, "base", p.min_profit_exit, reason,
                                   snap.ts, None, self.name), inventory_krw)
            return

    def _exit_rule(self, pos: Position, net: float, z_exit: float | None) -> str | None:
        p = self.params
        if z_exit is None:
            return None
        if rules.zscore_exit_ok(net, z_exit, p.min_profit_exit, p.exit_z):
            return (f"{self.name} exit: net profit {net:.3f}% >= {p.min_profit_exit:g}% and |z| {abs(z_exit):.2f} "
                    f"<= exit_z {p.exit_z:g}")
        return None


class MultiTimeframeStrategy(ZScoreStrategy):
    name = "multi_timeframe"

    def _confirmed(self, symbol: str, direction: Direction) -> tuple[bool, str]:
        n = self.params.confirm_bars
        dq = self._confirm.get(symbol)
        if dq is None or len(dq) < n + 1:
            return False, ""
        closes = list(dq)
        if direction is Direction.LONG_PREMIUM:
            ok = all(closes[k] < closes[k + 1] for k in range(n))
        else:
            ok = all(closes[k] > closes[k + 1] for k in range(n))
        return ok, f", confirmed by {n} consecutive {self.confirm_minutes}-minute bars moving back toward the mean"

    def _exit_due(self, symbol: str, now_ms: int) -> bool:
        last = self._last_exit_check.get(symbol)
        if last is not None and now_ms - last < self.params.exit_check_seconds * 1000:
            return False
        self._last_exit_check[symbol] = now_ms
        return True
