"""``/chart SYM``: a PNG (matplotlib, Agg) of the premium bars in the z window, z against the
window's mean/std, the live premium, and entry/exit marks of the owner's positions."""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kimpbot.engine import Bot


def chart_data(bot: "Bot", sym: str, max_bars: int = 600) -> dict[str, Any]:
    strat = bot.strategy
    now = bot.clock.now_ms()
    bar_ms = int(getattr(strat, "bar_minutes", 5)) * 60_000
    closes: list[float] = []
    stats = getattr(strat, "_stats", {}).get(sym) if strat is not None else None
    if stats is not None:
        closes = list(stats._buf)[-max_bars:]
    n = len(closes)
    ts = [now - (n - i) * bar_ms for i in range(n)]
    snap = bot.market.views[sym].snapshot
    if snap is not None and snap.mid is not None:
        closes.append(snap.mid)
        ts.append(now)
    mean = sum(closes) / len(closes) if closes else 0.0
    var = sum((x - mean) ** 2 for x in closes) / (len(closes) - 1) if len(closes) > 1 else 0.0
    sd = math.sqrt(var)
    z = [(x - mean) / sd if sd > 0 else 0.0 for x in closes]
    marks: list[tuple[int, float, str]] = []
    store = bot.store
    if store is not None and ts:
        t0 = ts[0]
        for p in store.positions(limit=200):
            if p.get("symbol") != sym:
                continue
            if int(p.get("opened_ts") or 0) >= t0 and p.get("entry_premium_pct") is not None:
                marks.append((int(p["opened_ts"]), float(p["entry_premium_pct"]), "entry"))
            if p.get("status") == "closed" and p.get("exit_premium_pct") is not None \
                    and int(p.get("closed_ms") or 0) >= t0:
                marks.append((int(p["closed_ms"]), float(p["exit_premium_pct"]), "exit"))
    entry_z = float(bot.owner.strategy.entry_threshold) if hasattr(bot.owner.strategy, "entry_threshold") else 2.0
    return {"symbol": sym, "ts": ts, "premium": closes, "z": z, "mean": mean, "std": sd, "marks": marks,
            "entry_z": entry_z}


def render_chart(data: dict[str, Any]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from datetime import datetime, timedelta, timezone

    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    kst = timezone(timedelta(hours=9))
    t = [datetime.fromtimestamp(x / 1000, kst) for x in data["ts"]]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 5), sharex=True, dpi=100,
                                   gridspec_kw={"height_ratios": [3, 2]})
    try:
        ax1.plot(t, data["premium"], color="#1f77b4", lw=1.2, label="premium %")
        ax1.axhline(data["mean"], color="grey", lw=0.8, ls="--", label="window mean")
        for ts, prem, kind in data["marks"]:
            ax1.scatter([datetime.fromtimestamp(ts / 1000, kst)], [prem], marker="^" if kind == "entry" else "v",
                        color="green" if kind == "entry" else "red", zorder=5, s=50, label=kind)
        handles, labels = ax1.get_legend_handles_labels()
        uniq = dict(zip(labels, handles))
        ax1.legend(uniq.values(), uniq.keys(), fontsize=8, loc="best")
        ax1.set_title(f"{data['symbol']} kimchi premium (KST)")
        ax1.set_ylabel("premium %")
        ax1.grid(alpha=0.3)
        ax2.plot(t, data["z"], color="#ff7f0e", lw=1.0)
        ez = data["entry_z"]
        for y in (ez, -ez):
            ax2.axhline(y, color="red", lw=0.8, ls=":")
        ax2.axhline(0, color="grey", lw=0.6)
        ax2.set_ylabel("z")
        ax2.grid(alpha=0.3)
        ax2.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M", tz=kst))
        fig.autofmt_xdate()
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)
