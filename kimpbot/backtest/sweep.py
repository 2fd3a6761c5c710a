"""``kimpbot backtest --sweep KEY=V1,V2,... [--sweep KEY2=...] [--walk-forward N]``.

Runs the owner's strategy over a grid of values of strategy-file numbers (any int/float key
of strategy.toml: ``optimized.normal_z``, ``zscore.entry_threshold``, ``backtest.slippage_pct``
...), in parallel over the cores (one process per grid point, the data loaded once and shared
by fork), and prints a table with the owner's current setting marked; ``--chart`` writes a
heatmap of the annual return over the first two keys.

``--walk-forward N`` cuts the period into N consecutive parts of equal time and runs every
grid point on each part alone (trading only inside it; earlier data still warms the z
window, later data is never loaded): every grid point's out-of-sample result per part, and
the walk-forward choice — the point that did best on part k-1, and what it then did on part k.

Nothing here writes to the strategy file: every value lives in memory only.
"""

from __future__ import annotations

import itertools
import math
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np

from kimpbot.backtest.data import Dataset, iso
from kimpbot.strategy_file.declare import ConfigError, ParamSet, ParamValue

_STATE: dict[str, Any] = {}  # the data and settings the worker processes inherit by fork


@dataclass
class Axis:
    key: str
    values: list[Any]


@dataclass
class Point:
    values: dict[str, Any]
    owner: bool = False  # the owner's current setting
    error: str | None = None
    full: dict[str, Any] = field(default_factory=dict)  # figures over the whole period
    parts: list[dict[str, Any]] = field(default_factory=list)  # walk-forward parts


def parse_axes(raw: Sequence[str], params: ParamSet) -> list[Axis]:
    """``KEY=V1,V2,...`` -> axes; the key must be a number of the strategy file."""
    from kimpbot.strategy_file.keys import STRATEGY_SPECS

    numeric = {s.key: s for s in STRATEGY_SPECS if s.kind in (int, float)}
    axes: list[Axis] = []
    for item in raw:
        if "=" not in item:
            raise ConfigError("--sweep", item, "KEY=V1,V2,... such as optimized.normal_z=1.5,2,2.5")
        key, vals = item.split("=", 1)
        key = key.strip()
        spec = numeric.get(key)
        if spec is None:
            raise ConfigError("--sweep", key, "a number key of the strategy file: " + ", ".join(sorted(numeric)))
        if any(a.key == key for a in axes):
            raise ConfigError("--sweep", key, "each key once")
        out = []
        for v in vals.split(","):
            v = v.strip().replace("_", "")
            try:
                num: Any = int(v) if spec.kind is int else float(v)
            except ValueError:
                raise ConfigError(f"--sweep {key}", v, spec.allowed()) from None
            out.append(spec.coerce(num))
        if not out:
            raise ConfigError("--sweep", item, "at least one value")
        axes.append(Axis(key, list(dict.fromkeys(out))))
    return axes


def grid(axes: list[Axis], params: ParamSet) -> list[Point]:
    pts = [Point(dict(zip([a.key for a in axes], combo))) for combo in itertools.product(*(a.values for a in axes))]
    current = {a.key: params[a.key] for a in axes}
    for p in pts:
        p.owner = all(_same(p.values[k], current[k]) for k in current)
    if not any(p.owner for p in pts):
        pts.append(Point(current, owner=True))
    return pts


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(float(a), float(b), rel_tol=1e-12)
    return bool(a == b)


def _owner_for(owner: Any, values: dict[str, Any]) -> Any:
    """An in-memory OwnerConfig with ``values`` in place of the file's (validated like the file)."""
    from kimpbot.strategy_file.read import OwnerConfig, cross_check
    from kimpbot.strategy_file.keys import StrategyParams

    pv = dict(owner.params.values)
    for k, v in values.items():
        pv[k] = ParamValue(pv[k].spec, v, True)
    ps = ParamSet(pv)
    sp = StrategyParams.from_params(ps)
    cross_check(sp)
    return OwnerConfig(params=ps, strategy=sp, source=owner.source + " (sweep, in memory)")


def _run_point(task: tuple[int, dict[str, Any]]) -> tuple[int, dict[str, Any] | str, list[dict[str, Any]]]:
    from kimpbot.backtest.engine import StrategyRefused, run_strategy
    from kimpbot.backtest.fills import market_model
    from kimpbot.backtest.metrics import compute

    idx, values = task
    st = _STATE
    try:
        oc = _owner_for(st["owner"], values)
    except ConfigError as exc:
        return idx, f"invalid: {exc}", []
    ov = st["overrides"]
    m = market_model(oc, ov.get("slippage_pct"), ov.get("funding_rate_8h"), ov.get("fill"))
    sp = oc.strategy
    try:
        run = run_strategy(st["ds"], sp, st["name"], m, st["inventory"], st["from_ms"])
        full = _figures(compute(run, sp.initial_capital_krw, st["from_ms"]))
        parts = []
        for (a, b) in st["parts"]:
            ds_k = cut(st["ds"], b)
            r = run_strategy(ds_k, sp, st["name"], m, st["inventory"], a)
            parts.append(_figures(compute(r, sp.initial_capital_krw, a)))
    except StrategyRefused as exc:
        return idx, f"refused: {exc}", []
    return idx, full, parts


def _figures(m: dict[str, Any]) -> dict[str, Any]:
    an = m.get("anatomy") or {}
    return {"annual_return_pct": m["annual_return_pct"], "total_return_pct": m["total_return_pct"],
            "sharpe": m["sharpe"], "max_drawdown_pct": m["max_drawdown_pct"], "trades": m["trades"],
            "win_rate_pct": m["win_rate_pct"], "profit_krw": m["total_profit_krw"],
            "best_trade_share_pct": an.get("best_trade_share_pct"),
            "annual_return_without_best_pct": an.get("annual_return_without_best_pct"),
            "period_start": m["period_start"], "period_end": m["period_end"]}


def cut(ds: Dataset, to_ms: int) -> Dataset:
    """The data as known at ``to_ms``: bars closing after it are not loaded (no look-ahead)."""
    syms = {}
    for s, sd in ds.symbols.items():
        n = int(np.searchsorted(sd.close_ms, to_ms, side="right"))
        if n >= 2:
            syms[s] = sd.head(n)
    return Dataset(ds.source, syms, ds.fx_rows, list(ds.notes))


def walk_parts(ds: Dataset, owner: Any, name: str, m: Any, from_ms: int | None, n: int) -> list[tuple[int, int]]:
    """N consecutive parts of equal time over the tradable period (after the z window's warm-up)."""
    from kimpbot.backtest.engine import prepare

    inds = prepare(ds, replace(owner.strategy, strategy=name), m)
    starts = [int(i.close_ms[i.first_ready_row]) for i in inds.values() if i.first_ready_row is not None]
    if not starts:
        raise ConfigError("--walk-forward", n, "data long enough for the z window to fill")
    t0 = max(min(starts), from_ms or 0)
    t1 = ds.end_ms
    edges = [int(t0 + (t1 - t0) * k / n) for k in range(n + 1)]
    return [(edges[k], edges[k + 1]) for k in range(n)]


def run_sweep(axes: list[Axis], owner: Any, ds: Dataset, name: str, inventory: Any, from_ms: int | None,
              overrides: dict[str, Any], walk_forward: int = 0, workers: int | None = None) -> dict[str, Any]:
    from kimpbot.backtest.fills import market_model

    pts = grid(axes, owner.params)
    parts: list[tuple[int, int]] = []
    if walk_forward:
        m = market_model(owner, overrides.get("slippage_pct"), overrides.get("funding_rate_8h"),
                         overrides.get("fill"))
        parts = walk_parts(ds, owner, name, m, from_ms, walk_forward)
    _STATE.update(owner=owner, ds=ds, name=name, inventory=inventory, from_ms=from_ms, overrides=overrides,
                  parts=parts)
    tasks = [(i, p.values) for i, p in enumerate(pts)]
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(tasks)))
    if n_workers > 1:
        import multiprocessing as mp

        with ProcessPoolExecutor(n_workers, mp_context=mp.get_context("fork")) as ex:
            results = list(ex.map(_run_point, tasks))
    else:
        results = [_run_point(t) for t in tasks]
    for idx, full, prt in results:
        if isinstance(full, str):
            pts[idx].error = full
        else:
            pts[idx].full = full
            pts[idx].parts = prt
    doc: dict[str, Any] = {
        "strategy": name, "keys": [a.key for a in axes], "workers": n_workers,
        "owner_values": {a.key: owner.params[a.key] for a in axes},
        "points": [{"values": p.values, "owner": p.owner, "error": p.error, **p.full,
                    **({"walk_forward": p.parts} if parts else {})} for p in pts],
    }
    if parts:
        doc["parts"] = [{"from": iso(a), "to": iso(b)} for a, b in parts]
        doc["walk_forward_choice"] = _choices(pts, len(parts))
    return doc


def _choices(pts: list[Point], n: int) -> list[dict[str, Any]]:
    """Walk-forward: the point best on part k-1 (annual return), and its result on part k."""
    ok = [p for p in pts if p.error is None and p.parts]
    out = []
    for k in range(1, n):
        scored = [(p.parts[k - 1]["total_return_pct"], p) for p in ok if p.parts[k - 1]["total_return_pct"] is not None]
        if not scored:
            continue
        _, best = max(scored, key=lambda sp: sp[0])
        own = next((p for p in ok if p.owner), None)
        out.append({"part": k + 1, "chosen_on_part": k, "values": best.values,
                    "out_of_sample_total_return_pct": best.parts[k]["total_return_pct"],
                    "owner_total_return_pct": own.parts[k]["total_return_pct"] if own else None})
    return out


def print_table(out: Any, doc: dict[str, Any]) -> None:
    w = out.write
    keys = doc["keys"]
    w(f"sweep of {doc['strategy']} over {', '.join(keys)} ({len(doc['points'])} runs on {doc['workers']} "
      f"process(es)); the strategy file is not changed\n")
    w("  * = the owner's current setting (" + ", ".join(f"{k} = {_g(v)}" for k, v in doc["owner_values"].items())
      + ")\n\n")
    kw = [max(len(k.split(".")[-1]), 8) for k in keys]
    head = "  " + "".join(f"{k.split('.')[-1]:>{n}} " for k, n in zip(keys, kw))
    cols = (("annual %", "annual_return_pct", "{:+.2f}"), ("sharpe", "sharpe", "{:.2f}"),
            ("max DD %", "max_drawdown_pct", "{:.2f}"), ("trades", "trades", "{:d}"),
            ("win %", "win_rate_pct", "{:.1f}"), ("best trade %", "best_trade_share_pct", "{:.1f}"),
            ("annual w/o best %", "annual_return_without_best_pct", "{:+.2f}"))
    w(head + "".join(f"{c[0]:>{max(10, len(c[0]) + 2)}}" for c in cols) + "\n")
    for p in doc["points"]:
        cells = "".join(f"{_g(p['values'][k]):>{n}} " for k, n in zip(keys, kw))
        mark = "*" if p["owner"] else " "
        if p["error"]:
            w(f"{mark} {cells}  {p['error']}\n")
            continue
        w(f"{mark} {cells}" + "".join(f"{_fmt(p.get(c[1]), c[2]):>{max(10, len(c[0]) + 2)}}" for c in cols) + "\n")
    if doc.get("parts"):
        w("\nwalk-forward: total return % of each part, every grid point (out of sample: each part traded alone)\n")
        w("  " + "".join(f"{k.split('.')[-1]:>{n}} " for k, n in zip(keys, kw))
          + "".join(f"{'part ' + str(i + 1):>12}" for i in range(len(doc["parts"]))) + "\n")
        for p in doc["points"]:
            if p["error"]:
                continue
            cells = "".join(f"{_g(p['values'][k]):>{n}} " for k, n in zip(keys, kw))
            w(("* " if p["owner"] else "  ") + cells
              + "".join(f"{_fmt(x['total_return_pct'], '{:+.2f}'):>12}" for x in p["walk_forward"]) + "\n")
        for i, part in enumerate(doc["parts"]):
            w(f"  part {i + 1}: {part['from'][:16]} .. {part['to'][:16]}\n")
        for c in doc.get("walk_forward_choice", []):
            vals = ", ".join(f"{k.split('.')[-1]} {_g(v)}" for k, v in c["values"].items())
            w(f"  part {c['part']}: best on part {c['chosen_on_part']} was {vals} -> "
              f"{_fmt(c['out_of_sample_total_return_pct'], '{:+.2f}')}% out of sample (owner's setting "
              f"{_fmt(c['owner_total_return_pct'], '{:+.2f}')}%)\n")


def _g(v: Any) -> str:
    return f"{v:g}" if isinstance(v, (int, float)) else str(v)


def _fmt(v: Any, f: str) -> str:
    return "n/a" if v is None else f.format(v)


def write_heatmap(path: str, doc: dict[str, Any], metric: str = "annual_return_pct") -> str:
    """Heatmap of ``metric`` over the first two keys (the best over any further keys); one key:
    bars. The owner's cell is outlined."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = doc["keys"]
    pts = [p for p in doc["points"] if not p["error"]]
    fig, ax = plt.subplots(figsize=(8, 6))
    if len(keys) == 1:
        k = keys[0]
        pts.sort(key=lambda p: p["values"][k])
        xs = [_g(p["values"][k]) for p in pts]
        ys = [p.get(metric) or 0.0 for p in pts]
        bars = ax.bar(xs, ys, color=["tab:orange" if p["owner"] else "tab:blue" for p in pts])
        for b, y in zip(bars, ys):
            ax.annotate(f"{y:+.2f}", (b.get_x() + b.get_width() / 2, y), ha="center", va="bottom", fontsize=8)
        ax.set_xlabel(k)
        ax.set_ylabel(metric)
    else:
        kx, ky = keys[0], keys[1]
        xv = sorted({p["values"][kx] for p in pts})
        yv = sorted({p["values"][ky] for p in pts})
        z = np.full((len(yv), len(xv)), np.nan)
        for p in pts:
            i, j = yv.index(p["values"][ky]), xv.index(p["values"][kx])
            v = p.get(metric)
            if v is not None and (np.isnan(z[i, j]) or v > z[i, j]):
                z[i, j] = v
        from matplotlib.colors import Normalize, TwoSlopeNorm

        lo, hi = (float(np.nanmin(z)), float(np.nanmax(z))) if np.isfinite(z).any() else (-1.0, 1.0)
        if hi <= lo:
            lo, hi = lo - 1.0, hi + 1.0
        norm = TwoSlopeNorm(0.0, lo, hi) if lo < 0.0 < hi else Normalize(lo, hi)  # red below 0 only
        im = ax.imshow(z, origin="lower", cmap="RdYlGn" if lo < 0.0 < hi else ("Greens" if lo >= 0 else "Reds_r"),
                       norm=norm, aspect="auto")
        fig.colorbar(im, ax=ax, label=metric + (" (best over " + ", ".join(keys[2:]) + ")" if len(keys) > 2 else ""))
        ax.set_xticks(range(len(xv)), [_g(v) for v in xv])
        ax.set_yticks(range(len(yv)), [_g(v) for v in yv])
        ax.set_xlabel(kx)
        ax.set_ylabel(ky)
        for i in range(len(yv)):
            for j in range(len(xv)):
                if np.isfinite(z[i, j]):
                    ax.text(j, i, f"{z[i, j]:+.2f}", ha="center", va="center", fontsize=8)
        own = doc["owner_values"]
        if own[kx] in xv and own[ky] in yv:
            j, i = xv.index(own[kx]), yv.index(own[ky])
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="black", lw=2.5))
            ax.text(j, i - 0.32, "owner", ha="center", va="center", fontsize=7)
    ax.set_title(f"{doc['strategy']}: {metric} per setting (outlined/orange: the owner's current setting)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
