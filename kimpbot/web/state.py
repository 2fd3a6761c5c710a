"""What the dashboard shows, as plain JSON data, read from the running bot on its own loop.

The same figures as ``/status``, ``/positions``, ``/pnl``, ``/trades`` and ``/pending`` in the chat
(the command core computes positions and P&L; this module only arranges them)."""

from __future__ import annotations

import math
import time
from typing import Any

KST_OFFSET_MS = 9 * 3_600_000


def _num(x: Any, nd: int = 4) -> float | None:
    if x is None:
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return round(f, nd) if math.isfinite(f) else None


def tiers(bot: Any) -> list[float]:
    """The owner's z tiers (normal / extreme / ultra: 2 / 3 / 4 by SPEC's defaults) from the
    strategy parameters in force."""
    sp = bot.owner.strategy
    return [float(sp.normal_z), float(sp.extreme_z), float(sp.ultra_z)]


def level(z: float | None, t: list[float]) -> int:
    """0 calm (green), 1 past the normal tier (yellow), 2 extreme (orange), 3 ultra (red)."""
    if z is None:
        return -1
    a = abs(z)
    return 3 if a >= t[2] else 2 if a >= t[1] else 1 if a >= t[0] else 0


def data_state(market: Any, sym: str) -> tuple[str, list[str]]:
    glob = market.global_problems()
    probs = market.symbol_problems(sym)
    hard = [p for p in probs if "warming up" not in p]
    if market.views[sym].snapshot is None:
        return "waiting", glob + probs
    if glob:
        return "fx", glob + probs
    if hard:
        return "stale", probs
    if probs:
        return "warming", probs
    return "fresh", []


def coins(bot: Any) -> list[dict[str, Any]]:
    market = bot.market
    t = tiers(bot)
    strat = getattr(bot, "strategy", None)
    out = []
    for sym in market.symbols:
        v = market.views[sym]
        snap = v.snapshot
        state, probs = data_state(market, sym)
        mean = std = None
        if strat is not None and hasattr(strat, "stats"):
            st = strat.stats(sym)
            if st.count >= 2:
                mean, std = _num(st.mean, 5), _num(st.std, 5)
        out.append({
            "sym": sym,
            "quoted": _num(snap.quoted) if snap else None,
            "mid": _num(snap.mid) if snap else None,
            "exec_long": _num(snap.exec_long) if snap else None,
            "exec_short": _num(snap.exec_short) if snap else None,
            "z": _num(v.z_mid, 3), "z_long": _num(v.z_long, 3), "z_short": _num(v.z_short, 3),
            "level": level(v.z_mid, t),
            "data": state, "problems": probs[:4],
            "mean": mean, "std": std,
        })
    return out


def chart(bot: Any, sym: str, hours: float = 24.0) -> dict[str, Any]:
    """The closed premium bars of the last ``hours`` (the z window's own bars), oldest first."""
    strat = getattr(bot, "strategy", None)
    bar_min = int(getattr(strat, "bar_minutes", 5) or 5)
    bar_ms = bar_min * 60_000
    closes: list[float] = []
    if strat is not None and hasattr(strat, "stats"):
        n = int(hours * 60 / bar_min)
        closes = list(strat.stats(sym)._buf)[-n:]
    now = bot.clock.now_ms()
    last_end = now // bar_ms * bar_ms
    ts = [last_end - (len(closes) - 1 - i) * bar_ms for i in range(len(closes))]
    return {"sym": sym, "ts": ts, "p": [round(c, 4) for c in closes], "bar_ms": bar_ms}


def bot_state(bot: Any, core: Any) -> dict[str, Any]:
    s = bot.settings
    t = getattr(bot, "trader", None)
    out: dict[str, Any] = {"mode": s.mode, "trading": t is not None,
                           "trade_mode": t.state.trade_mode if t is not None else s.trade_mode,
                           "switching": bool(getattr(bot, "switching", False))}
    if t is None:
        out["run"] = "watching"
    elif t.risk.halted:
        hs = t.store.halt_state()
        out.update(run="halted", halt_reason=hs.reason, halt_by=hs.by, halt_ts=hs.ts)
    else:
        out["run"] = "running" if t.running else "stopped"
    fx = bot.market.fx
    cur = fx.rate()
    out["fx"] = {"source": fx.source, "label": fx.label, "rate": _num(cur.rate if cur else None, 2),
                 "problems": bot.market.global_problems()[:3]}
    return out


def pending(bot: Any) -> list[dict[str, Any]]:
    t = getattr(bot, "trader", None)
    if t is None:
        return []
    now = bot.clock.now_ms()
    out = []
    for p in t.state.pending.values():
        if p.state != "pending" or now >= p.expires_ms:
            continue
        sg = p.signal
        out.append({"id": p.id, "sym": sg.symbol, "dir": sg.direction.value, "label": sg.direction.label,
                    "action": sg.action, "size_krw": _num(sg.size_krw, 0), "premium": _num(sg.premium_pct),
                    "z": _num(sg.z, 3), "expires_ms": p.expires_ms})
    return out


def trades(bot: Any, n: int = 10) -> list[dict[str, Any]]:
    store = getattr(bot, "store", None)
    if store is None:
        return []
    rows = []
    for tr in store.trades(limit=n):
        rows.append({"id": str(tr.get("id", "")), "ts": int(tr.get("created_ms") or 0),
                     "sym": tr.get("symbol"), "dir": tr.get("direction"), "action": tr.get("action"),
                     "status": tr.get("status"), "size_krw": _num(tr.get("size_krw"), 0)})
    return rows


async def positions(core: Any) -> list[dict[str, Any]]:
    if core is None or core.trader is None:
        return []
    r = await core.cmd_positions("web", [])
    rows = r.data if isinstance(r.data, list) else []
    return [{"id": p["id"], "sym": p["symbol"], "dir": p["direction"], "entry": _num(p["entry_premium_pct"]),
             "now": _num(p["current_premium_pct"]), "size_krw": _num(p["size_krw"], 0),
             "pnl_krw": _num(p["unrealized_krw"], 0), "pnl_pct": _num(p["unrealized_pct"], 3),
             "age_ms": p["age_ms"]} for p in rows]


class PnlBook:
    """Today's and total realized P&L per mode. The ledger of the mode running now is read through
    the command core; the other mode's figures are those last seen in this process (a /live switch
    keeps them), never mixed into the running mode's."""

    def __init__(self) -> None:
        self.by_mode: dict[str, dict[str, float]] = {}
        self._at = 0.0

    def update(self, bot: Any, core: Any, max_age_s: float = 2.0, force: bool = False) -> dict[str, Any]:
        now = time.monotonic()
        mode = bot.settings.mode
        if core is not None and getattr(bot, "store", None) is not None and (
                force or now - self._at >= max_age_s or mode not in self.by_mode):
            d = core.pnl_data()
            self.by_mode[mode] = {"today": round(d["today_krw"], 0), "total": round(d["total_krw"], 0),
                                  "closed": d["closed"]}
            self._at = now
        return {m: self.by_mode.get(m) for m in ("paper", "live")}
