"""P&L anatomy: where a hedged pair's profit came from, and how concentrated it is.

A pair holds ``q`` coin on Upbit (KRW) against ``q`` on the Binance perp (USDT). With
candle (mid) prices ``U`` (KRW), ``B`` (USDT), the rate ``fx`` (KRW per USD) and the
premium ``p = U / (B fx) - 1``, a long-premium pair entered at (U0, B0, fx0) and closed
at (U1, B1, fx1) makes, before costs::

    q (U1 - U0) - q (B1 - B0) fx1
      =  q B0 fx0 (p1 - p0)          premium move: the premium's change on the entry value
      +  q B0 (fx1 - fx0)            USD/KRW move: the perp's entry notional revalued at the
                                     new rate (the pair is long the dollar in KRW terms)
      +  q p1 (B1 fx1 - B0 fx0)      unhedged: the premium's slice of the Upbit leg, which the
                                     equal-quantity perp does not hedge, moving with the coin

(short premium: the negative of each). Adds are summed fill by fill. Then::

    net P&L = premium + usdkrw + unhedged - funding paid - fees - slippage

where slippage is what the fills cost against the candle prices (the rest, exactly).
:func:`summarize` adds the totals and the concentration figures; the chat's /stats can
call :func:`trade_anatomy` and :func:`summarize` on live trades as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

COMPONENTS = ("premium_krw", "usdkrw_krw", "unhedged_krw", "funding_krw", "fees_krw", "slippage_krw")


@dataclass(frozen=True)
class Leg:
    """One entry or add: quantity (both legs) and the candle (pre-slippage) prices and rate."""

    qty: float
    upbit_krw: float
    binance_usdt: float
    fx: float


def trade_anatomy(direction: str, legs: Sequence[Leg], exit_upbit_krw: float, exit_binance_usdt: float,
                  exit_fx: float, pnl_krw: float, fees_krw: float, funding_krw: float) -> dict[str, float]:
    """Split one closed pair's net P&L (KRW) into premium move, USD/KRW move, the unhedged part,
    funding, fees and slippage. ``funding_krw``: funding PAID (negative = received); ``fees_krw``:
    fees paid. The first three are signed contributions; ``funding_krw``/``fees_krw``/
    ``slippage_krw`` are costs (positive = paid): pnl = premium + usdkrw + unhedged - the three."""
    sign = 1.0 if direction == "long_premium" else -1.0
    ref1 = exit_binance_usdt * exit_fx
    p1 = exit_upbit_krw / ref1 - 1.0
    prem = fxm = unh = 0.0
    for lg in legs:
        ref0 = lg.binance_usdt * lg.fx
        p0 = lg.upbit_krw / ref0 - 1.0
        prem += lg.qty * ref0 * (p1 - p0)
        fxm += lg.qty * lg.binance_usdt * (exit_fx - lg.fx)
        unh += lg.qty * p1 * (ref1 - ref0)
    prem, fxm, unh = prem * sign, fxm * sign, unh * sign
    slippage = prem + fxm + unh - funding_krw - fees_krw - pnl_krw
    return {"premium_krw": prem, "usdkrw_krw": fxm, "unhedged_krw": unh, "funding_krw": funding_krw,
            "fees_krw": fees_krw, "slippage_krw": slippage}


def _get(t: Any, k: str) -> float:
    return float(t[k] if isinstance(t, dict) else getattr(t, k))


def summarize(trades: Iterable[Any], initial_capital_krw: float, years: float | None,
              final_capital_krw: float | None = None) -> dict[str, Any]:
    """Totals of the anatomy and the profit concentration over ``trades`` (objects or dicts with
    ``pnl_krw``, the :data:`COMPONENTS` and optionally ``exit_ms``).

    * ``best_trade_share_pct`` / ``best5_share_pct``: the best trade's (best five's) P&L as a
      percent of the total net profit (null when the total is not positive);
    * ``best_hour_share_pct``: the same for the trades closed in the single best UTC hour;
    * ``annual_return_without_best_pct``: the compound annual return with the best trade's P&L
      taken out of the final capital.
    """
    ts = list(trades)
    pnl = [_get(t, "pnl_krw") for t in ts]
    total = sum(pnl)
    out: dict[str, Any] = {"trades": len(ts), "net_krw": round(total)}
    for k in COMPONENTS:
        out[k] = round(sum(_get(t, k) for t in ts))
    out["premium_share_pct"] = _pct(out["premium_krw"], total)
    out["usdkrw_share_pct"] = _pct(out["usdkrw_krw"], total)
    ranked = sorted(pnl, reverse=True)
    best = ranked[0] if ranked else 0.0
    out["best_trade_krw"] = round(best) if ranked else None
    out["best_trade_share_pct"] = _pct(best, total) if ranked else None
    out["best5_share_pct"] = _pct(sum(ranked[:5]), total) if ranked else None
    hours: dict[int, float] = {}
    for t, p in zip(ts, pnl):
        ms = t.get("exit_ms") if isinstance(t, dict) else getattr(t, "exit_ms", None)
        if ms is not None:
            h = int(ms) // 3_600_000
            hours[h] = hours.get(h, 0.0) + p
    if hours:
        h, v = max(hours.items(), key=lambda kv: kv[1])
        out["best_hour"] = _iso_hour(h)
        out["best_hour_share_pct"] = _pct(v, total)
    final = initial_capital_krw + total if final_capital_krw is None else final_capital_krw
    out["annual_return_without_best_pct"] = None
    if ranked and years and years > 0 and final - best > 0:
        out["annual_return_without_best_pct"] = round(((final - best) / initial_capital_krw) ** (1.0 / years) * 100.0
                                                      - 100.0, 4)
    return out


def _pct(part: float, total: float) -> float | None:
    if not total > 0:
        return None
    return round(part / total * 100.0, 2)


def _iso_hour(h: int) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(h * 3600, tz=timezone.utc).strftime("%Y-%m-%dT%H:00Z")
