"""PNG of equity, premium and z with entries and exits marked (matplotlib, Agg backend, imported lazily)."""

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

    fig, axes = plt.subplots(3, 1, figsize=(13, 10), sharex=True, gridspec_kw={"height_ratios": [2, 2, 1.4]})
    ax_eq, ax_p, ax_z = axes
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
    ax_z.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    fig.autofmt_xdate()
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
