"""PNG of equity, premium and z with entries and exits marked, and the P&L anatomy
(matplotlib, Agg backend, imported lazily)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from kimpbot.backtest.engine import StrategyRun
from kimpbot.backtest.metrics import equity_curve


def _thin(x: np.ndarray, limit: int = 4000) -> slice:
    step = max(1, x.shape[0] // limit)
    return slice(None, None, step)


def write_chart(path: Path | str, runs: Sequence[StrategyRun], initial: float, from_ms: int | None = None,
                entry_threshold: float = 2.0) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    def dt(ms: np.ndarray) -> np.ndarray:
        return (np.asarray(ms, dtype="int64")).astype("datetime64[ms]")

    fig, axes = plt.subplots(4, 1, figsize=(13, 13), sharex=True, gridspec_kw={"height_ratios": [2, 2, 1.4, 1.6]})
    ax_eq, ax_p, ax_z, ax_an = axes
    for run in runs:
        t, eq, _ = equity_curve(run, initial, from_ms)
        if t.shape[0]:
            s = _thin(t)
            ax_eq.plot(dt(t[s]), eq[s] / 1e6, label=run.name, lw=1.2)
    ax_eq.set_ylabel("equity (M KRW)")
    ax_eq.legend(loc="upper left", fontsize=8)
    ax_eq.grid(alpha=0.3)
    main = runs[0]
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
    for k, (sym, ind) in enumerate(main.indicators.items()):
        c = colors[k % len(colors)]
        s = _thin(ind.close_ms)
        ax_p.plot(dt(ind.close_ms[s]), ind.mid[s], color=c, lw=0.7, label=f"{sym} premium")
        ax_z.plot(dt(ind.close_ms[s]), ind.z_mid[s], color=c, lw=0.6, label=f"{sym} z")
        sr = main.symbols.get(sym)
        if sr is None:
            continue
        for d in sr.decisions:
            marker = {"enter": "^" if d.direction == "long_premium" else "v", "add": "+", "exit": "x"}[d.action]
            if d.action == "exit":
                ax_p.scatter(dt(np.array([d.ts])), [ind.mid[d.row]], marker="x", color="black", s=36, zorder=3,
                             linewidths=1.2)
            else:
                filled = marker != "+"
                ax_p.scatter(dt(np.array([d.ts])), [ind.mid[d.row]], marker=marker, color=c, s=44, zorder=3,
                             edgecolors="black" if filled else None, linewidths=0.6 if filled else 1.2)
    ax_p.set_ylabel("premium % (mid)")
    ax_p.set_title(f"entries ▲ long / ▼ short premium, + adds, × exits: {main.name}", fontsize=9)
    ax_p.legend(loc="upper left", fontsize=8)
    ax_p.grid(alpha=0.3)
    for y in (entry_threshold, -entry_threshold):
        ax_z.axhline(y, color="grey", lw=0.8, ls="--")
    ax_z.set_ylabel("z (mid)")
    ax_z.legend(loc="upper left", fontsize=8)
    ax_z.grid(alpha=0.3)
    # P&L anatomy of the main strategy, cumulative by exit time (costs drawn negative)
    trades = sorted(main.trades, key=lambda t: t.exit_ms)
    if trades:
        tx = dt(np.array([t.exit_ms for t in trades]))
        parts = (("premium move", [t.premium_krw for t in trades], "tab:blue"),
                 ("USD/KRW move", [t.usdkrw_krw for t in trades], "tab:green"),
                 ("unhedged", [t.unhedged_krw for t in trades], "tab:cyan"),
                 ("funding", [-t.funding_krw for t in trades], "tab:purple"),
                 ("fees", [-t.fees_krw for t in trades], "tab:red"),
                 ("slippage", [-t.slippage_krw for t in trades], "tab:orange"),
                 ("net", [t.pnl_krw for t in trades], "black"))
        for label, vals, c in parts:
            ax_an.step(tx, np.cumsum(vals) / 1e6, where="post", color=c, lw=1.4 if label == "net" else 1.0,
                       label=f"{label} {sum(vals) / 1e6:+.2f}M")
    ax_an.axhline(0.0, color="grey", lw=0.6)
    ax_an.set_ylabel("cum. P&L (M KRW)")
    ax_an.set_title(f"P&L anatomy: {main.name}", fontsize=9)
    ax_an.legend(loc="upper left", fontsize=8, ncol=3)
    ax_an.grid(alpha=0.3)
    ax_an.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    fig.autofmt_xdate()
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
