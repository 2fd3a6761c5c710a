"""P&L anatomy: where a hedged pair's profit came from, and how concentrated it is.

A pair holds ``q`` coin on Upbit (KRW) against ``q`` on the Binance perp (USDT). With
candle (mid) prices ``U`` (KRW), ``B`` (USDT) and the rate ``fx`` (KRW per USD), the
KRW gap per coin is ``V = U - B x fx`` (= ``B x fx x premium``). For a long-premium pair
entered at (U0, B0, fx0) and closed at (U1, B1, fx1), before costs::

    q (U1 - U0) - q (B1 - B0) fx1  =  q (V1 - V0)  +  q B0 (fx1 - fx0)
                                      premium move     USD/KRW move

(short premium: the negative of both). The premium part is the change of the KRW gap
itself; the USD/KRW part is the perp's entry notional revalued at the new rate — the
pair is long the dollar in KRW terms, so a rising USD/KRW pays a long-premium pair
even when the premium does not move. Adds are summed fill by fill. Then::

    net P&L = premium + usdkrw - funding paid - fees - slippage

where slippage is what the fills cost against the candle prices (the rest, exactly).
:func:`summarize` adds the totals and the concentration figures; the chat's /stats can
call :func:`trade_anatomy` and :func:`summarize` on live trades as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

COMPONENTS = ("premium_krw", "usdkrw_krw", "funding_krw", "fees_krw", "slippage_krw")


@dataclass(frozen=True)
class Leg:
    """One entry or add: quantity (both legs) and the candle (pre-slippage) prices and rate."""

    qty: float
    upbit_krw: float
    binance_usdt: float
    fx: float


def trade_anatomy(direction: str, legs: Sequence[Leg], exit_upbit_krw: float, exit_binance_usdt: float,
                  exit_fx: float, pnl_krw: float, fees_krw: float, funding_krw: float) -> dict[str, float]:
    """Split one closed pair's net P&L (KRW) into premium move, USD/KRW move, funding, fees and
    slippage. ``funding_krw``: funding PAID (negative = received); ``fees_krw``: fees paid.
    Returns the parts as signed contributions to P&L except ``funding_krw``/``fees_krw``/
    ``slippage_krw``, which are costs (positive = paid): pnl = premium + usdkrw - the three."""
    sign = 1.0 if direction == "long_premium" else -1.0
    v1 = exit_upbit_krw - exit_binance_usdt * exit_fx
    prem = sum(lg.qty * (v1 - (lg.upbit_krw - lg.binance_usdt * lg.fx)) for lg in legs) * sign
    fxm = sum(lg.qty * lg.binance_usdt * (exit_fx - lg.fx) for lg in legs) * sign
    slippage = prem + fxm - funding_krw - fees_krw - pnl_krw
    return {"premium_krw": prem, "usdkrw_krw": fxm, "funding_krw": funding_krw, "fees_krw": fees_krw,
            "slippage_krw": slippage}


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
