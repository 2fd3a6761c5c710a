"""Plain-text views shared by the console and the chat front ends (narrow enough for a phone).

A monospace block goes through :func:`mono` last: every line at most 36 cells (Hangul counts 2),
longer lines wrapped at spaces with a 2-cell indent, so a phone never re-wraps a table."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Iterable

from kimpbot.i18n import MONO_WIDTH, cell_width
from kimpbot.i18n import chat as c
from kimpbot.i18n import common
from kimpbot.i18n.units import num, pct, qty
from kimpbot.market.fx import FX_LABELS

if TYPE_CHECKING:
    from kimpbot.market.engine import MarketEngine


def _pct(x: float | None) -> str:
    return "   n/a" if x is None else f"{x:+6.2f}"


def _z(x: float | None) -> str:
    return "  n/a" if x is None else f"{x:+5.2f}"


def _split(word: str, width: int) -> list[str]:
    """A word wider than a line, cut at cell boundaries."""
    out, cur = [], ""
    for ch in word:
        if cell_width(cur + ch) > width:
            out.append(cur)
            cur = ""
        cur += ch
    return out + [cur]


def wrap(line: str, width: int = MONO_WIDTH, indent: str = "  ") -> list[str]:
    """One line as phone lines of at most ``width`` cells (continuations indented)."""
    if cell_width(line) <= width:
        return [line]
    out: list[str] = []
    cur = ""
    for word in line.split(" "):
        lim = width if not out else width - len(indent)
        cand = word if not cur else f"{cur} {word}"
        if cell_width(cand) <= lim:
            cur = cand
            continue
        if cur:
            out.append(cur)
            cur = ""
        lim = width - len(indent)
        pieces = _split(word, lim) if cell_width(word) > lim else [word]
        out.extend(pieces[:-1])
        cur = pieces[-1]
    if cur:
        out.append(cur)
    return [out[0]] + [indent + ln for ln in out[1:]]


def mono(lines: Iterable[Any], width: int = MONO_WIDTH) -> str:
    """A monospace block: the lines (Texts rendered now), none wider than ``width`` cells."""
    out: list[str] = []
    for ln in lines:
        for part in str(ln).split("\n"):
            out.extend(wrap(part.rstrip(), width))
    return "\n".join(out)


def fx_lines(market: "MarketEngine") -> list[str]:
    """The FX rate in force first, then the other source and their divergence, then any note."""
    fx = market.fx
    cur = fx.rate()
    other = "usdt" if fx.source == "usdkrw" else "usdkrw"
    o = fx.states[other].latest
    first = str(c.FX(rate=num(cur.rate), label=fx.label) if cur else c.FX_MISSING(label=fx.label))
    second = []
    if o is not None:
        second.append(str(c.FX_OTHER(label=FX_LABELS[other], rate=num(o.rate))))
    div = fx.divergence_pct()
    if div is not None:
        second.append(str(c.FX_DIVERGENCE(pct=pct(div))))
    lines = [first] + ([" · ".join(second)] if second else [])
    note = fx.note()  # e.g. "bank rate from Fri 15:30 KST, confirmed by USDT"
    if note:
        lines.append(note)
    return lines


def fx_line(market: "MarketEngine") -> str:
    """One line for the wide console table of ``kimpbot run`` (source name, rate, the other source)."""
    fx = market.fx
    cur = fx.rate()
    head = f"FX {fx.source} ({fx.label}): " + (f"{cur.rate:,.2f}" if cur else "missing")
    return " · ".join([head, *fx_lines(market)[1:]])


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
    return str(c.UNRESOLVED(symbol=o["symbol"], venue=common.venue(o["venue"]), side=common.side(o["side"]),
                            qty=qty(o["qty"]), age=f"{o['age_s']:.0f}"))
