"""PNG of equity, premium and z with entries and exits marked, and the P&L anatomy
(matplotlib, Agg backend, imported lazily). The title names the owner's strategy, the period, its
return and Sharpe; entries and exits are drawn in their coin's colour, with a legend. Labels come
from the catalogue in the bot's language (English where no Korean font is installed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from kimpbot import i18n
from kimpbot.backtest.engine import StrategyRun
from kimpbot.backtest.metrics import equity_curve
from kimpbot.i18n import charts as m
from kimpbot.i18n.units import num, pct

COIN_COLORS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]


def title(name: str, result: dict[str, Any] | None) -> i18n.Text:
    """``optimized · 2024-01-01 to 2024-06-30 · return +12.34% · Sharpe 1.23`` (``result``: metrics.compute)."""
    r = result or {}
    day = (lambda s: str(s)[:10] if s else "?")
    return m.BT_TITLE(strategy=name, start=day(r.get("period_start")), end=day(r.get("period_end")),
                      ret=pct(r.get("total_return_pct")), sharpe=num(r.get("sharpe")))


def _thin(x: np.ndarray, limit: int = 4000) -> slice:
    step = max(1, x.shape[0] // limit)
    return slice(None, None, step)


def write_chart(path: Path | str, runs: Sequence[StrategyRun], initial: float, from_ms: int | None = None,
                entry_threshold: float = 2.0, results: dict[str, dict[str, Any]] | None = None) -> Path:
    """``runs[0]`` is the owner's strategy (its marks and title); ``results``: metrics per run name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kimpbot.control.chart_draw import korean_font

    lang = i18n.lang()
    font = korean_font() if lang == "ko" else None
    if lang == "ko" and font is None:
        lang = "en"   # no Korean glyphs here: English labels rather than empty boxes
    with i18n.using(lang), plt.rc_context({"font.family": [font, "DejaVu Sans"] if font else ["DejaVu Sans"],
                                           "axes.unicode_minus": False}):
        fig = figure(runs, initial, from_ms, entry_threshold, results or {})
        try:
            out = Path(path)
            fig.savefig(out, dpi=110, metadata={"Title": fig.get_suptitle()})
        finally:
            plt.close(fig)
    return out


def figure(runs: Sequence[StrategyRun], initial: float, from_ms: int | None, entry_threshold: float,
           results: dict[str, dict[str, Any]]) -> Any:
    """The chart as a matplotlib Figure (the caller saves and closes it)."""
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    def dt(ms: np.ndarray) -> np.ndarray:
        return (np.asarray(ms, dtype="int64")).astype("datetime64[ms]")

    fig, axes = plt.subplots(4, 1, figsize=(13, 13), sharex=True, gridspec_kw={"height_ratios": [2, 2, 1.4, 1.6]})
    ax_eq, ax_p, ax_z, ax_an = axes
    for run in runs:
        t, eq, _ = equity_curve(run, initial, from_ms)
        if t.shape[0]:
            s = _thin(t)
            ax_eq.plot(dt(t[s]), eq[s] / 1e6, label=run.name, lw=1.2)
    main = runs[0]
    fig.suptitle(str(title(main.name, results.get(main.name))), fontsize=12)
    ax_eq.set_ylabel(str(m.BT_EQUITY))
    ax_eq.legend(loc="upper left", fontsize=8)
    ax_eq.grid(alpha=0.3)
    any_marks = any(sr.decisions for sr in main.symbols.values())
    marks: list[Any] = []   # legend: per coin, its premium line and its entry and exit marks in its colour
    for k, (sym, ind) in enumerate(main.indicators.items()):
        c = COIN_COLORS[k % len(COIN_COLORS)]
        s = _thin(ind.close_ms)
        (line,) = ax_p.plot(dt(ind.close_ms[s]), ind.mid[s], color=c, lw=0.7, label=str(m.BT_COIN_PREMIUM(coin=sym)))
        marks.append(line)
        ax_z.plot(dt(ind.close_ms[s]), ind.z_mid[s], color=c, lw=0.6, label=f"{sym} z")
        sr = main.symbols.get(sym)
        if any_marks:
            marks += [Line2D([], [], ls="", marker="^", color=c, markeredgecolor="black", markeredgewidth=0.6,
                             label=str(m.BT_COIN_ENTRY(coin=sym))),
                      Line2D([], [], ls="", marker="x", color=c, markeredgewidth=1.6,
                             label=str(m.BT_COIN_EXIT(coin=sym)))]
        for d in (sr.decisions if sr is not None else []):
            marker = {"enter": "^" if d.direction == "long_premium" else "v", "add": "+", "exit": "x"}[d.action]
            if d.action == "exit":
                ax_p.scatter(dt(np.array([d.ts])), [ind.mid[d.row]], marker="x", color=c, s=40, zorder=3,
                             linewidths=1.6)
            else:
                filled = marker != "+"
                ax_p.scatter(dt(np.array([d.ts])), [ind.mid[d.row]], marker=marker, color=c, s=44, zorder=3,
                             edgecolors="black" if filled else None, linewidths=0.6 if filled else 1.2)
    ax_p.set_ylabel(str(m.BT_PREMIUM))
    ax_p.set_title(str(m.BT_MARKS(strategy=main.name)), fontsize=9)
    # one column per coin: its premium line, its entry mark, its exit mark
    ax_p.legend(handles=marks, loc="upper left", fontsize=8, ncol=max(1, len(main.indicators)))
    ax_p.grid(alpha=0.3)
    for y in (entry_threshold, -entry_threshold):
        ax_z.axhline(y, color="grey", lw=0.8, ls="--")
    ax_z.set_ylabel(str(m.BT_Z))
    ax_z.legend(loc="upper left", fontsize=8)
    ax_z.grid(alpha=0.3)
    # P&L anatomy of the main strategy, cumulative by exit time (costs drawn negative)
    trades = sorted(main.trades, key=lambda t: t.exit_ms)
    if trades:
        tx = dt(np.array([t.exit_ms for t in trades]))
        parts = ((m.BT_PART_PREMIUM, [t.premium_krw for t in trades], "tab:blue"),
                 (m.BT_PART_FX, [t.usdkrw_krw for t in trades], "tab:green"),
                 (m.BT_PART_UNHEDGED, [t.unhedged_krw for t in trades], "tab:cyan"),
                 (m.BT_PART_FUNDING, [-t.funding_krw for t in trades], "tab:purple"),
                 (m.BT_PART_FEES, [-t.fees_krw for t in trades], "tab:red"),
                 (m.BT_PART_SLIPPAGE, [-t.slippage_krw for t in trades], "tab:orange"),
                 (m.BT_PART_NET, [t.pnl_krw for t in trades], "black"))
        for label, vals, c in parts:
            ax_an.step(tx, np.cumsum(vals) / 1e6, where="post", color=c, lw=1.4 if label is m.BT_PART_NET else 1.0,
                       label=f"{label} {sum(vals) / 1e6:+.2f}M")
    ax_an.axhline(0.0, color="grey", lw=0.6)
    ax_an.set_ylabel(str(m.BT_CUM_PNL))
    ax_an.set_title(str(m.BT_ANATOMY(strategy=main.name)), fontsize=9)
    ax_an.legend(loc="upper left", fontsize=8, ncol=3)
    ax_an.grid(alpha=0.3)
    ax_an.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    fig.autofmt_xdate()
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    return fig
