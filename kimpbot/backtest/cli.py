"""``kimpbot backtest`` (also ``python -m kimpbot.backtest``).

Reads the owner's strategy file (``--strategy-file``, default
``$KIMPBOT_STRATEGY_FILE`` or ``./strategy.toml``; missing -> built-in defaults)
and runs the chosen strategy, or all three side by side, over candle CSVs.
``--strategy`` only chooses which strategy runs; the numbers are the owner's.
The market model (fees from ``fees.*``, ``backtest.*`` slippage, funding, fill
and inventory) comes from the same file; the flags below override it for a
what-if run and the report names the values used.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from kimpbot.backtest.data import SAMPLE_DIR, DataError, describe_gaps, interval_label, iso, load_dataset, parse_time
from kimpbot.backtest.engine import StrategyRun, bar_lengths, multi_timeframe_problem, prepare, run_strategy
from kimpbot.backtest.fills import MarketModel, market_model
from kimpbot.backtest.metrics import compute, trade_rows
from kimpbot.backtest.progress import Progress
from kimpbot.strategy_file.declare import ConfigError
from kimpbot.strategy_file.keys import STRATEGIES, STRATEGY_SPECS

PROGRESS_MIN_ROWS = 200_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=str(SAMPLE_DIR),
                        help="directory of upbit_<SYM>.csv, binance_<SYM>.csv and fx.csv (default: the shipped "
                             "synthetic sample)")
    parser.add_argument("--strategy", default=None, metavar="NAME|all",
                        help="zscore, multi_timeframe, optimized, or all side by side (default: the strategy file's)")
    parser.add_argument("--from", dest="date_from", default=None, metavar="DATE",
                        help="trade from this time (ISO-8601 or ms); earlier data still warms the z window")
    parser.add_argument("--to", dest="date_to", default=None, metavar="DATE",
                        help="ignore data after this time (a date alone includes that whole day)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument("--chart", default=None, metavar="FILE", help="write a PNG of equity, premium and z")
    parser.add_argument("--trades", action="store_true", help="list every trade")
    parser.add_argument("--strategy-file", default=None,
                        help="the owner's strategy.toml (default: $KIMPBOT_STRATEGY_FILE or ./strategy.toml; "
                             "missing: built-in defaults)")
    parser.add_argument("--inventory", default=None, metavar="none|full|KRW",
                        help="Upbit coin held for short-premium entries (default: backtest.inventory, 'none')")
    parser.add_argument("--fill", choices=("next_open", "next_close"), default=None,
                        help="fill a decision at the next bar's open or close (default: backtest.fill)")
    parser.add_argument("--slippage-pct", type=float, default=None,
                        help="per-leg slippage in percent (default: backtest.slippage_pct)")
    parser.add_argument("--funding-rate-8h", type=float, default=None,
                        help="perp funding per 8 h, fraction (default: backtest.funding_rate_8h)")
    parser.add_argument("--no-cache", action="store_true",
                        help="do not use or fill the parsed-CSV cache ($KIMPBOT_CACHE_DIR, default "
                             "~/.cache/kimpbot/csv)")
    parser.add_argument("--sweep", action="append", default=[], metavar="KEY=V1,V2,...",
                        help="run a grid over a strategy-file number (repeat for more keys); the file is never "
                             "changed, the owner's current row is marked; --chart writes a heatmap")
    parser.add_argument("--walk-forward", type=int, default=0, metavar="N",
                        help="with --sweep: cut the period into N consecutive parts and report each part's "
                             "out-of-sample result for every grid point")
    parser.add_argument("--workers", type=int, default=None, help="processes for --sweep (default: all cores)")
    parser.add_argument("--progress", dest="progress", action="store_true", default=None,
                        help="force the progress bar on stderr")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def _strategy_file(args: argparse.Namespace) -> Path:
    if args.strategy_file:
        return Path(args.strategy_file).expanduser()
    return Path(os.environ.get("KIMPBOT_STRATEGY_FILE", "strategy.toml")).expanduser()


def _inventory(raw: str) -> str | float:
    r = raw.strip().lower()
    if r in ("none", "full"):
        return r
    try:
        v = float(r.replace("_", "").replace(",", ""))
    except ValueError:
        raise ConfigError("--inventory", raw, "none, full or a KRW amount") from None
    if v < 0:
        raise ConfigError("--inventory", raw, "none, full or a KRW amount >= 0")
    return v


def _to_ms(text: str) -> int:
    ms = parse_time(text)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        ms += 86_400_000  # a date alone: through the end of that day
    return ms


def run(args: argparse.Namespace) -> int:
    from kimpbot.backtest.alloc import keep_freed_memory
    from kimpbot.strategy_file.read import load_owner_config

    keep_freed_memory()  # a backtest process: freed arrays are reused, not page-faulted in again

    out = sys.stdout
    try:
        path = _strategy_file(args)
        # a what-if over history risks no money: a missing file means SPEC's defaults, named in the report
        owner = load_owner_config(path if os.path.lexists(path) else None)
        sp = owner.strategy
        which = args.strategy or sp.strategy
        if which not in STRATEGIES + ("all",):
            raise ConfigError("--strategy", which, "zscore, multi_timeframe, optimized or all")
        names = list(STRATEGIES) if which == "all" else [which]
        model = market_model(owner, args.slippage_pct, args.funding_rate_8h, args.fill)
        if model.slippage_pct < 0:
            raise ConfigError("--slippage-pct", model.slippage_pct, ">= 0")
        inventory = _inventory(args.inventory if args.inventory is not None else owner["backtest.inventory"])
        from_ms = parse_time(args.date_from) if args.date_from else None
        to_ms = _to_ms(args.date_to) if args.date_to else None
        if from_ms is not None and to_ms is not None and to_ms <= from_ms:
            raise ConfigError("--to", args.date_to, "a time after --from")
        t0 = time.perf_counter()
        ds = load_dataset(Path(args.data).expanduser(), sp.symbols, to_ms, cache=not args.no_cache)
    except (ConfigError, DataError) as exc:
        print(f"backtest: {exc}", file=sys.stderr)
        return 2
    t_load = time.perf_counter() - t0
    refused: dict[str, str] = {}
    if "multi_timeframe" in names:
        why = multi_timeframe_problem(sp, ds.interval_ms)
        if why:
            if len(names) == 1:
                print(f"backtest: {why}", file=sys.stderr)
                return 2
            names.remove("multi_timeframe")
            refused["multi_timeframe"] = why
    if args.sweep or args.walk_forward:
        return _run_sweep(args, owner, ds, names, inventory, from_ms, out)
    rows = ds.rows()
    show = args.progress if args.progress is not None else (sys.stderr.isatty() and rows * len(names) >=
                                                            PROGRESS_MIN_ROWS and not args.json)
    prog = Progress(rows * len(names), bool(show))
    inds = prepare(ds, sp, model)
    runs: list[StrategyRun] = []
    for name in names:
        runs.append(run_strategy(ds, sp, name, model, inventory, from_ms, inds, prog))
    prog.finish()
    t_run = time.perf_counter() - t0
    results = {r.name: compute(r, sp.initial_capital_krw, from_ms) for r in runs}
    if args.trades:
        for r in runs:
            results[r.name]["trade_list"] = trade_rows(r.trades)
    meta = _meta(args, owner, ds, model, inventory, from_ms, to_ms, runs, t_load, t_run)
    for name, why in refused.items():
        meta["notes"].append(f"not run: {why}")
    meta["not_run"] = refused
    if args.chart:
        from kimpbot.backtest.chart import write_chart

        try:
            marked = sorted(runs, key=lambda r: r.name != sp.strategy)  # the owner's strategy gets the markers
            meta["chart"] = str(write_chart(args.chart, marked, sp.initial_capital_krw, from_ms, sp.entry_threshold,
                                            results))
        except OSError as exc:
            print(f"backtest: cannot write chart {args.chart}: {exc.strerror}", file=sys.stderr)
            return 2
    if args.json:
        doc: dict[str, Any] = dict(results)
        doc["meta"] = meta
        json.dump(doc, out, indent=2, allow_nan=False)
        out.write("\n")
        return 0
    _print_text(out, results, meta, runs, args.trades)
    return 0


def _run_sweep(args: argparse.Namespace, owner: Any, ds: Any, names: list[str], inventory: Any,
               from_ms: int | None, out: Any) -> int:
    from kimpbot.backtest import sweep

    try:
        if len(names) != 1:
            raise ConfigError("--strategy", "all", "one strategy for --sweep (the grid runs that one)")
        if not args.sweep:
            raise ConfigError("--walk-forward", args.walk_forward, "used with --sweep KEY=V1,V2,...")
        if args.walk_forward < 0 or args.walk_forward == 1:
            raise ConfigError("--walk-forward", args.walk_forward, "a number of parts >= 2")
        if args.workers is not None and args.workers < 1:
            raise ConfigError("--workers", args.workers, ">= 1")
        axes = sweep.parse_axes(args.sweep, owner.params)
        overrides = {"slippage_pct": args.slippage_pct, "funding_rate_8h": args.funding_rate_8h, "fill": args.fill}
        doc = sweep.run_sweep(axes, owner, ds, names[0], inventory, from_ms, overrides, args.walk_forward,
                              args.workers)
    except ConfigError as exc:
        print(f"backtest: {exc}", file=sys.stderr)
        return 2
    doc["data"] = str(ds.source)
    doc["strategy_file"] = owner.source
    if args.chart:
        try:
            doc["chart"] = sweep.write_heatmap(args.chart, doc)
        except OSError as exc:
            print(f"backtest: cannot write chart {args.chart}: {exc.strerror}", file=sys.stderr)
            return 2
    if args.json:
        json.dump(doc, out, indent=2, allow_nan=False)
        out.write("\n")
        return 0
    out.write(f"kimpbot backtest --sweep — data {doc['data']} — strategy file: {doc['strategy_file']}\n")
    sweep.print_table(out, doc)
    if doc.get("chart"):
        out.write(f"\nheatmap written to {doc['chart']}\n")
    return 0


def _meta(args: argparse.Namespace, owner: Any, ds: Any, model: MarketModel, inventory: str | float,
          from_ms: int | None, to_ms: int | None, runs: list[StrategyRun], t_load: float, t_run: float
          ) -> dict[str, Any]:
    sp = owner.strategy
    iv = ds.interval_ms
    bar_m, _conf_m = bar_lengths(sp, iv)
    notes = list(ds.notes)
    if bar_m != sp.bar_minutes:
        notes.append(f"data bars are {interval_label(iv)}: the z window counts the data's own bars, "
                     f"{sp.window_bars_for(bar_m)} bars = {sp.window_days:g} days (the owner's span)")
    funded = {s: sd.report["funding_file_rows"] for s, sd in ds.symbols.items() if sd.report.get("funding_file_rows")}
    if funded:
        notes.append("funding: the downloaded history in funding_<SYM>.csv (" + ", ".join(
            f"{s} {n:,} rates" for s, n in funded.items()) + f"); {model.funding_rate_8h * 100:g}% per 8 h only where "
            "it has no rate")
    symbols = {}
    for sym, sd in ds.symbols.items():
        ind = runs[0].indicators.get(sym) if runs else None
        symbols[sym] = {
            "bars": sd.n, "interval": interval_label(sd.interval_ms), "first_bar": iso(int(sd.ts[0])),
            "last_bar": iso(int(sd.ts[-1])), "gaps": len(sd.gaps), "missing_bars": sd.missing_bars,
            "gap_summary": describe_gaps(sd),
            "largest_gaps": [{"after": iso(g.after_ms), "before": iso(g.before_ms), "missing_bars": g.missing_bars}
                             for g in sorted(sd.gaps, key=lambda g: -g.missing_bars)[:5]],
            "window_ready": iso(int(ind.close_ms[ind.first_ready_row])) if ind is not None and
            ind.first_ready_row is not None else None,
            **{k: v for k, v in sd.report.items() if k != "aligned_rows"},
        }
        if ind is not None and ind.first_ready_row is None:
            notes.append(f"{sym}: only {sd.n} bars, the {ind.window}-bar z window never fills: no trades")
    strategy_keys = {s.key for s in STRATEGY_SPECS}
    unset = [k for k in owner.params.unset_open_keys() if k in strategy_keys]
    return {
        "data": str(ds.source), "symbols": symbols, "fx_rows": ds.fx_rows, "notes": notes,
        "strategy_file": owner.source, "strategies": [r.name for r in runs],
        "initial_capital_krw": sp.initial_capital_krw,
        "fees": {"upbit_taker": model.upbit_fee, "binance_taker": model.binance_fee},
        "slippage_pct_per_leg": model.slippage_pct, "funding_rate_8h": model.funding_rate_8h,
        "fill": model.fill, "inventory": inventory, "from": iso(from_ms), "to": iso(to_ms),
        "window_bars": sp.window_bars_for(bar_m), "window_bar_minutes": bar_m,
        "unset_by_owner": unset,
        "seconds": {"load": round(t_load, 3), "load_and_run": round(t_run, 3)},
    }


def _f(v: Any, fmt: str = "{:,.2f}") -> str:
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    return fmt.format(v)


ROWS = (
    ("Annual return %", "annual_return_pct", "{:+.2f}"),
    ("Sharpe", "sharpe", "{:.2f}"),
    ("Max drawdown %", "max_drawdown_pct", "{:.2f}"),
    ("Win rate %", "win_rate_pct", "{:.1f}"),
    ("Trades", "trades", "{:d}"),
    ("Avg profit / trade KRW", "avg_profit_krw", "{:,.0f}"),
    ("Final capital KRW", "final_capital_krw", "{:,.0f}"),
    ("Total return %", "total_return_pct", "{:+.2f}"),
    ("Sortino", "sortino", "{:.2f}"),
    ("Calmar", "calmar", "{:.2f}"),
    ("Profit factor", "profit_factor", "{:.2f}"),
    ("Expectancy KRW", "expectancy_krw", "{:,.0f}"),
    ("Expectancy ratio", "expectancy_ratio", "{:.2f}"),
    ("Max DD peak", "max_drawdown_start", "{}"),
    ("Max DD bottom", "max_drawdown_bottom", "{}"),
    ("Max DD recovered", "max_drawdown_end", "{}"),
    ("Longest losing streak", "longest_losing_streak", "{:d}"),
    ("Avg holding hours", "avg_holding_hours", "{:.1f}"),
    ("Fees paid KRW", "fees_paid_krw", "{:,.0f}"),
    ("Funding paid KRW", "funding_paid_krw", "{:,.0f}"),
    ("Long / short premium", None, ""),
    ("P&L anatomy (KRW):", "", ""),
    ("  premium move", "anatomy.premium_krw", "{:+,.0f}"),
    ("  USD/KRW move", "anatomy.usdkrw_krw", "{:+,.0f}"),
    ("  unhedged coin x premium", "anatomy.unhedged_krw", "{:+,.0f}"),
    ("  funding paid", "anatomy.funding_krw", "{:,.0f}"),
    ("  fees paid", "anatomy.fees_krw", "{:,.0f}"),
    ("  slippage cost", "anatomy.slippage_krw", "{:,.0f}"),
    ("  = net", "anatomy.net_krw", "{:+,.0f}"),
    ("Best trade % of profit", "anatomy.best_trade_share_pct", "{:.1f}"),
    ("Best 5 trades % of profit", "anatomy.best5_share_pct", "{:.1f}"),
    ("Best hour % of profit", "anatomy.best_hour_share_pct", "{:.1f}"),
    ("Best hour", "anatomy.best_hour", "{}"),
    ("Annual % w/o best trade", "anatomy.annual_return_without_best_pct", "{:+.2f}"),
    ("Refused short entries", "refused_entries", "{:d}"),
    ("Closed at end of data", "end_of_data_exits", "{:d}"),
)


def _lookup(doc: dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        if not isinstance(doc, dict):
            return None
        doc = doc.get(part)  # type: ignore[assignment]
    return doc


def _print_text(out: Any, results: dict[str, dict[str, Any]], meta: dict[str, Any], runs: list[StrategyRun],
                show_trades: bool) -> None:
    w = out.write
    w(f"kimpbot backtest — data {meta['data']} — strategy file: {meta['strategy_file']}\n")
    for sym, s in meta["symbols"].items():
        w(f"  {sym}: {s['bars']} {s['interval']} bars {s['first_bar']} .. {s['last_bar']}; {s['gap_summary']}; "
          f"z window full from {s['window_ready'] or 'never'}\n")
    w(f"  fees upbit {meta['fees']['upbit_taker']:g} / binance {meta['fees']['binance_taker']:g}, slippage "
      f"{meta['slippage_pct_per_leg']:g}% per leg, fill at {meta['fill'].replace('_', ' ')}, funding "
      f"{meta['funding_rate_8h'] * 100:g}% per 8 h, inventory for short premium: {meta['inventory']}\n")
    if meta["unset_by_owner"]:
        w("  unset by owner (defaults in force): " + ", ".join(meta["unset_by_owner"]) + "\n")
    for note in meta["notes"]:
        w(f"  note: {note}\n")
    names = list(results)
    first = results[names[0]]
    w(f"  period {first['period_start']} .. {first['period_end']} ({first['period_days']} days after warm-up)\n\n")
    colw = max(18, max(len(n) for n in names) + 2)
    w(f"{'':26}" + "".join(f"{n:>{colw}}" for n in names) + "\n")
    for label, key, fmt in ROWS:
        if key is None:
            cells = [f"{results[n]['long_premium_trades']} / {results[n]['short_premium_trades']}" for n in names]
        elif key == "":
            cells = [""] * len(names)
        else:
            cells = [_f(_lookup(results[n], key), fmt) for n in names]
            if key.startswith("max_drawdown_") and key != "max_drawdown_pct":
                cells = [c[:16] if c != "n/a" else ("—" if key == "max_drawdown_end" and
                                                     results[n].get("max_drawdown_start") else c)
                         for c, n in zip(cells, names)]
        w(f"{label:26}" + "".join(f"{c:>{colw}}" for c in cells) + "\n")
    for n in names:
        ex = results[n].get("refusal_examples") or []
        if ex:
            w(f"\n{n}: {results[n]['refused_entries']} bar(s) with a short-premium signal refused for lack of Upbit "
              f"inventory ({results[n]['refusal_episodes']} episode(s)); e.g. {ex[0]}\n")
    if show_trades:
        for n in names:
            w(f"\ntrades — {n}\n")
            for t in results[n].get("trade_list", []):
                w(f"  {t['entry'][:16]} -> {t['exit'][:16]} {t['symbol']:4} {t['direction']:13} {t['tier']:7} "
                  f"{t['notional_krw']:>12,} KRW  {t['pnl_krw']:>+11,} KRW ({t['pnl_pct']:+.2f}%)  "
                  f"premium {t['premium_krw']:+,} USD/KRW {t['usdkrw_krw']:+,} unhedged {t['unhedged_krw']:+,} funding {-t['funding_krw']:+,} "
                  f"fees {-t['fees_krw']:+,} slippage {-t['slippage_krw']:+,}  {t['exit_reason']}\n")
    if meta.get("chart"):
        w(f"\nchart written to {meta['chart']}\n")
    w(f"\n({meta['seconds']['load_and_run']:.2f} s)\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="kimpbot backtest", description="Backtest the owner's strategies over candles")
    add_arguments(p)
    return run(p.parse_args(argv))
