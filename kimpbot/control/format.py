"""Plain-text views shared by the console and the chat front ends (narrow enough for a phone)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from kimpbot.market.fx import FX_LABELS

if TYPE_CHECKING:
    from kimpbot.market.engine import MarketEngine


def _pct(x: float | None) -> str:
    return "   n/a" if x is None else f"{x:+6.2f}"


def _z(x: float | None) -> str:
    return "  n/a" if x is None else f"{x:+5.2f}"


def fx_line(market: "MarketEngine") -> str:
    fx = market.fx
    cur = fx.rate()
    other = "usdt" if fx.source == "usdkrw" else "usdkrw"
    o = fx.states[other].latest
    parts = [f"FX {fx.source} ({fx.label}): " + (f"{cur.rate:,.2f}" if cur else "missing")]
    if o is not None:
        parts.append(f"{FX_LABELS[other]} {o.rate:,.2f}")
    div = fx.divergence_pct()
    if div is not None:
        parts.append(f"USDT vs bank {div:+.2f}%")
    note = fx.note()  # e.g. "bank rate from Fri 15:30 KST, confirmed by USDT"
    if note:
        parts.append(note)
    return " · ".join(parts)


def premium_table(market: "MarketEngine", now_ms: int | None = None) -> str:
    """Premium per symbol: quoted and mid (display), executable both ways (signals), z, health."""
    stamp = time.strftime("%H:%M:%S", time.gmtime((now_ms or market.clock.now_ms()) / 1000))
    lines = [f"{stamp} UTC  {fx_line(market)}",
             "sym  quoted    mid  x-long x-short   z-mid z-long z-short  data"]
    glob = market.global_problems()
    for sym in market.symbols:
        view = market.views[sym]
        snap = view.snapshot
        probs = glob + market.symbol_problems(sym)
        health = "ok" if not probs else probs[0].split(":")[0] if ":" in probs[0] else probs[0]
        if snap is None:
            lines.append(f"{sym:<4} {'waiting for data':<40}  {health}")
            continue
        lines.append(f"{sym:<4} {_pct(snap.quoted)} {_pct(snap.mid)} {_pct(snap.exec_long)} {_pct(snap.exec_short)}"
                     f"   {_z(view.z_mid)}  {_z(view.z_long)}  {_z(view.z_short)}  {health}")
    lines.append("premiums in %; x-long/x-short = executable for "
                 + ", ".join(f"{s} {market.order_krw[s]:,.0f}" for s in market.symbols)
                 + " KRW incl. taker fees")
    return "\n".join(lines)


def unresolved_orders(trader: Any, now_ms: int) -> list[dict[str, Any]]:
    """Orders without a final answer (the executor's ``unresolved``, every coin): while one stands no
    order of that coin goes out, and the executor watches it for a late booking."""
    ex = getattr(trader, "executor", None) if trader is not None else None
    if ex is None:
        return []
    syms = list(dict.fromkeys([*trader.market.symbols, *(e.symbol for e in ex.store.journal_open())]))
    return [{"client_order_id": e.client_order_id, "trade_id": e.trade_id, "symbol": e.symbol, "venue": e.venue,
             "side": e.side, "qty": str(e.qty), "kind": e.kind, "status": e.status, "created_ms": e.created_ms,
             "age_s": round(max(0, now_ms - e.created_ms) / 1000.0, 1)}
            for s in syms for e in ex.unresolved(s)]


def unresolved_line(o: dict[str, Any]) -> str:
    return (f"{o['symbol']} {o['venue']} {o['side']} {o['qty']}: no final answer for {o['age_s']:.0f} s, "
            "watching for a late booking")
