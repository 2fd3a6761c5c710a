"""Backtest input: candle CSVs per venue and symbol plus an FX series, aligned by timestamp.

Directory layout (all UTC):

* ``upbit_<SYM>.csv``   — ``timestamp,open,high,low,close,volume``: Upbit KRW-<SYM>, prices in KRW
* ``binance_<SYM>.csv`` — same columns: Binance <SYM>USDT perpetual, prices in USDT
* ``fx.csv``            — ``timestamp,close``: KRW per USD, stamped when it became known
* ``funding_<SYM>.csv`` — optional ``timestamp,rate``: the perp's funding at each funding time
  (fraction; positive = longs pay), as ``kimpbot history`` writes it from Binance
  /fapi/v1/fundingRate. Where it is present the backtester books these rates instead of
  the constant ``backtest.funding_rate_8h`` (which still covers times outside the file)

``timestamp`` is the bar's OPEN time, in milliseconds since the epoch (UTC) or
ISO-8601 (``2025-01-02T03:00:00Z``; no offset means UTC). Columns are found by
their header names, so extra columns or another order are fine. Bars may have
any interval (1 minute, 1 hour...); the interval is the most common spacing.

Alignment and gaps: a bar is used only where BOTH venues have it (inner join on
timestamp); rows with a bad price (missing, NaN, <= 0) or a duplicate timestamp
are dropped and counted. FX is forward-filled: a bar's decision (at its close)
uses the last rate stamped strictly before the close, a fill at a bar's open the
last rate stamped at or before the open — never a later one. Bars before the
first rate are dropped. Missing bars (spacing larger than the interval) are
reported with their dates; nothing is invented to fill them: the z window counts
the bars that exist, fills happen at the next bar that exists, and funding
accrues by the clock.

Parsed files are cached (``$KIMPBOT_CACHE_DIR``, default ``~/.cache/kimpbot/csv``;
``KIMPBOT_CACHE_DIR=off`` or ``--no-cache`` disables it): a re-run on unchanged
files skips CSV parsing.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "data" / "sample"


class DataError(ValueError):
    """The backtest data cannot be used; the message says which file and why."""


def iso(ms: int | float | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(int(ms) / 1000.0, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> int:
    """A timestamp argument or CSV field: ms since the epoch or ISO-8601 (UTC unless an offset is given)."""
    t = text.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", t):
        v = float(t)
        return int(round(v * 1000)) if abs(v) < 1e11 else int(round(v))
    t2 = t[:-1] + "+00:00" if t.endswith(("Z", "z")) else t
    try:
        dt = datetime.fromisoformat(t2)
    except ValueError:
        raise DataError(f"not a timestamp (ms since the epoch or ISO-8601): {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(round(dt.timestamp() * 1000))


@dataclass
class Table:
    ts: np.ndarray  # int64 ms
    cols: dict[str, np.ndarray]
    dropped_bad: int = 0
    dropped_dup: int = 0
    seconds: bool = False


CACHE_VERSION = "1"
FUNDING_COLUMNS = ("rate",)


def cache_dir() -> Path | None:
    """Where parsed CSVs are cached: $KIMPBOT_CACHE_DIR, else ~/.cache/kimpbot/csv; "off" disables."""
    raw = os.environ.get("KIMPBOT_CACHE_DIR")
    if raw is not None:
        return None if raw.strip().lower() in ("", "off", "none", "0") else Path(raw).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kimpbot" / "csv"


def _cache_key(path: Path, columns: tuple[str, ...]) -> str:
    st = os.stat(path)
    return hashlib.sha1(f"{Path(path).resolve()}|{st.st_size}|{st.st_mtime_ns}|{columns}|{CACHE_VERSION}"
                        .encode()).hexdigest()


def read_csv(path: Path, columns: tuple[str, ...], cache: bool = True) -> Table:
    """Read ``timestamp`` plus ``columns`` by header name, through the parsed-CSV cache.

    The cache holds the parsed arrays keyed by the file's absolute path, size,
    modification time and the columns read; any change to the file misses it.
    """
    cdir = cache_dir() if cache else None
    if cdir is not None:
        hit = _cached(path, columns, cdir)
        if hit is not None:
            return hit
    t = _parse_csv(path, columns)
    if cdir is not None:
        try:
            key = _cache_key(path, columns)
            cdir.mkdir(parents=True, exist_ok=True)
            tmp = cdir / f"{key}.{os.getpid()}.tmp.npz"
            np.savez(tmp, ts=t.ts, bad=t.dropped_bad, dup=t.dropped_dup, sec=t.seconds, **t.cols)
            os.replace(tmp, cdir / f"{key}.npz")
        except OSError:
            pass
    return t


def _parse_csv(path: Path, columns: tuple[str, ...]) -> Table:
    """Read ``timestamp`` plus ``columns`` by header name; fast path for numeric files."""
    try:
        with open(path, "r", encoding="utf-8-sig") as fh:
            header = fh.readline()
            first = fh.readline()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    names = [h.strip().lower() for h in header.strip().split(",")]
    need = ("timestamp",) + columns
    missing = [c for c in need if c not in names]
    if missing:
        raise DataError(f"{path}: header {header.strip()!r} lacks column(s) {', '.join(missing)} "
                        f"(expected {','.join(need)})")
    idx = [names.index(c) for c in need]
    cols = None
    m = re.fullmatch(r"\s*-?\d+(\.\d+)?\s*", first.split(",")[idx[0]]) if first else None
    if m:
        cols = _fast_numeric(path, idx, header, integer_ts=m.group(1) is None)
    bad = 0
    if cols is None:
        rows: list[list[float]] = []
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rd = csv.reader(fh)
            next(rd, None)
            for rec in rd:
                if not rec or all(not f.strip() for f in rec):
                    continue
                try:
                    t = float(parse_time(rec[idx[0]]))
                    vals = [float(rec[j]) for j in idx[1:]]
                except (DataError, ValueError, IndexError):
                    bad += 1
                    continue
                rows.append([t] + vals)
        arr = np.array(rows, dtype=np.float64).reshape(-1, len(need))
        cols = [arr[:, k] for k in range(len(need))]
        seconds = False
    else:
        c0 = cols[0]
        if c0.dtype == np.int64:  # integer stamps (no empty field: polars gives floats with NaN then)
            seconds = bool(c0.shape[0] and max(-int(c0.min()), int(c0.max())) < 1e11)
            if seconds:
                cols[0] = c0 * 1000  # exact, as rint(float(t) * 1000.0) below 1e11 s
        else:
            seconds = bool(c0.shape[0] and np.nanmax(np.abs(c0)) < 1e11)
            if seconds:
                cols[0] = c0 * 1000.0
    # column by column, no 2-D copies: 1.6 M rows a file are common (1-minute bars over a year); a
    # clean column is checked by its min and max (NaN propagates into them), without a mask
    funding = columns == FUNDING_COLUMNS  # funding rates may be zero or negative
    clean = cols[0].dtype == np.int64 or bool(np.isfinite(cols[0]).all())
    for v in cols[1:]:
        if not clean or not v.shape[0]:
            break
        lo, hi = v.min(), v.max()
        clean = bool((lo > -np.inf) if funding else (lo > 0)) and bool(hi < np.inf)
    nbad = 0
    if not clean:
        ok = np.isfinite(cols[0])
        for v in cols[1:]:
            if funding:
                ok &= np.isfinite(v)
            else:
                ok &= (v > 0) & (v < np.inf)  # NaN compares False
        nbad = int(ok.shape[0] - np.count_nonzero(ok))
        if nbad:  # copies only where something is dropped or out of order (a clean file is neither)
            cols = [c[ok] for c in cols]
    bad += nbad
    ts = cols[0] if cols[0].dtype == np.int64 else np.rint(cols[0]).astype(np.int64)
    if ts.shape[0] > 1 and not bool(np.all(ts[1:] > ts[:-1])):
        order = np.argsort(ts, kind="stable")
        ts = ts[order]
        keep = np.ones(ts.shape[0], dtype=bool)
        keep[1:] = ts[1:] != ts[:-1]
        dup = int((~keep).sum())
        ts = ts[keep]
        cols = [c[order][keep] for c in cols]
    else:
        dup = 0
    out = {}
    for k, c in enumerate(columns):
        v = cols[k + 1]
        # a parser's read-only buffer or a strided view becomes an array of our own
        out[c] = v if v.flags.writeable and v.flags.c_contiguous and v.dtype == np.float64 else \
            np.array(v, dtype=np.float64, order="C")
    return Table(ts, out, bad, dup, seconds)


def _fast_numeric(path: Path, idx: list[int], header: str, integer_ts: bool = False) -> list[np.ndarray] | None:
    """All-numeric CSV: the needed columns (in ``idx`` order) as float arrays, or None (a malformed
    row: take the careful path). ``integer_ts``: the first column (the timestamp) looks like
    integers; polars then reads it as Int64 (cheaper than a float parse, and no rounding pass
    after it), falling back to floats if some row is not an integer.

    polars' CSV reader (Rust, imported only here: the live bot never loads it) converts only the
    columns asked for, on all cores: 0.3-0.4 s of CPU for the 160 MB benchmark against 0.5-0.6 s
    for pandas' C parser (its import, ~0.3 s, costs about the same); its floats are correctly
    rounded (a test pins them to Python's ``float``). Without polars, pandas' C parser; without
    either, ``np.loadtxt``."""
    try:
        import polars as pl
    except ImportError:  # pragma: no cover - polars is a declared dependency
        pl = None
    if pl is not None:
        raw = header.lstrip("\ufeff").rstrip("\r\n").split(",")
        names = [raw[j] for j in idx]
        if len(set(raw)) != len(raw) or len(set(names)) != len(names):
            return None  # duplicate header names: polars would refuse them; the careful path copes
        # first try: no quote handling in the tokenizer (candle files have none) and integer stamps as
        # Int64; a file where that fails (a quoted field, a stamp with a fraction) is read as before
        tries = [(integer_ts, None), (False, '"')]
        for int_ts, quote in tries:
            schema = {n: pl.Float64 for n in names}
            if int_ts:
                schema[names[0]] = pl.Int64
            try:
                df = pl.read_csv(path, columns=names, schema_overrides=schema, encoding="utf8", quote_char=quote)
            except pl.exceptions.PolarsError:
                continue  # a field that is not a number, a ragged file, a quoted field...
            # nulls (empty fields) come back as NaN (an Int64 column with nulls as float64)
            return [df.get_column(n).to_numpy() for n in names]
        return None
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        pd = None
    try:
        if pd is not None:
            df = pd.read_csv(path, usecols=idx, dtype=np.float64, engine="c", encoding="utf-8-sig")
            arr = np.empty((df.shape[0], len(idx)), dtype=np.float64)
            order = sorted(range(len(idx)), key=lambda k: idx[k])  # usecols come back in file order
            for k, j in enumerate(order):
                arr[:, j] = df.iloc[:, k].to_numpy(dtype=np.float64)
            return [arr[:, k] for k in range(len(idx))]
        arr = np.loadtxt(path, delimiter=",", skiprows=1, usecols=idx, dtype=np.float64, ndmin=2,
                         encoding="utf-8-sig")
        return [arr[:, k] for k in range(len(idx))]
    except (ValueError, TypeError):
        return None
    except Exception as exc:  # pandas' ParserError (a ragged row) and friends
        if type(exc).__name__ in ("ParserError", "EmptyDataError"):
            return None
        raise


@dataclass
class Gap:
    after_ms: int  # open time of the last bar before the gap
    before_ms: int  # open time of the first bar after it
    missing_bars: int


@dataclass
class SymbolData:
    symbol: str
    interval_ms: int
    ts: np.ndarray  # bar open, int64 ms
    u_open: np.ndarray
    u_close: np.ndarray
    b_open: np.ndarray
    b_close: np.ndarray
    fx_open: np.ndarray  # rate known at the bar's open
    fx_close: np.ndarray  # rate known at the bar's close (decision time)
    gaps: list[Gap] = field(default_factory=list)
    report: dict = field(default_factory=dict)
    funding_ts: np.ndarray | None = None  # funding_<SYM>.csv: funding times (ms) ...
    funding_rate: np.ndarray | None = None  # ... and their rates (fractions)

    @property
    def n(self) -> int:
        return int(self.ts.shape[0])

    @property
    def close_ms(self) -> np.ndarray:
        return self.ts + self.interval_ms

    def head(self, rows: int) -> "SymbolData":
        """The first ``rows`` bars (a prefix: what was known at that time)."""
        sl = slice(0, rows)
        return SymbolData(self.symbol, self.interval_ms, self.ts[sl], self.u_open[sl], self.u_close[sl],
                          self.b_open[sl], self.b_close[sl], self.fx_open[sl], self.fx_close[sl],
                          [g for g in self.gaps if rows and g.before_ms <= self.ts[rows - 1]], dict(self.report),
                          self.funding_ts, self.funding_rate)

    @property
    def missing_bars(self) -> int:
        return sum(g.missing_bars for g in self.gaps)


@dataclass
class Dataset:
    source: str
    symbols: dict[str, SymbolData]
    fx_rows: int
    notes: list[str] = field(default_factory=list)

    @property
    def interval_ms(self) -> int:
        return min(s.interval_ms for s in self.symbols.values())

    @property
    def start_ms(self) -> int:
        return min(int(s.ts[0]) for s in self.symbols.values() if s.n)

    @property
    def end_ms(self) -> int:
        return max(int(s.close_ms[-1]) for s in self.symbols.values() if s.n)

    def rows(self) -> int:
        return sum(s.n for s in self.symbols.values())


def _interval(ts: np.ndarray) -> int:
    if ts.shape[0] < 2:
        return 60_000
    d = np.diff(ts)
    d = d[d > 0]
    vals, counts = np.unique(d, return_counts=True)
    return int(vals[np.argmax(counts)])


def asof_index(fx_ts: np.ndarray, t: np.ndarray, strict: bool) -> np.ndarray:
    """Index of the last FX stamp at or before each ``t`` (strictly before if ``strict``); -1 if none."""
    n = t.shape[0]
    if n > 8 * fx_ts.shape[0] + 64 and bool(np.all(t[1:] >= t[:-1])):
        # many sorted bars, few rates (1-minute bars, daily FX): place each rate among the bars
        # (a binary search per rate, not per bar), then count the rates passed at each bar
        pos = np.searchsorted(t, fx_ts, side="right" if strict else "left")
        return np.cumsum(np.bincount(pos, minlength=n + 1)[:n]) - 1
    return np.searchsorted(fx_ts, t, side="left" if strict else "right") - 1


def asof(fx_ts: np.ndarray, fx_val: np.ndarray, t: np.ndarray, strict: bool,
         k: np.ndarray | None = None) -> np.ndarray:
    """Last FX value stamped at or before ``t`` (strictly before if ``strict``); NaN if none.
    ``k``: :func:`asof_index` for these arguments, when the caller has it already."""
    if k is None:
        k = asof_index(fx_ts, t, strict)
    if fx_val.shape[0] == 0:
        return np.full(t.shape[0], np.nan)
    out = fx_val[np.maximum(k, 0)]
    none = k < 0
    if none.any():
        out[none] = np.nan
    return out


def _interval_sorted(ts: np.ndarray) -> int:
    """:func:`_interval` for strictly increasing stamps: one spacing throughout needs no count."""
    if ts.shape[0] >= 2:
        d = np.diff(ts)
        lo, hi = int(d.min()), int(d.max())
        if lo == hi and lo > 0:
            return lo
    return _interval(ts)


def _asof_sorted(fx_ts: np.ndarray, t: np.ndarray, strict: bool) -> tuple[np.ndarray, np.ndarray]:
    """:func:`asof_index` for strictly increasing ``t`` (no check), and per rate the first row
    that reads it (``pos``): row r reads rate k[r] = (rates placed at or before r) - 1."""
    pos = np.searchsorted(t, fx_ts, side="right" if strict else "left")
    k = np.bincount(pos, minlength=t.shape[0] + 1)[: t.shape[0]]
    np.cumsum(k, out=k)
    k -= 1
    return k, pos


def _common_bars(up: Table, bn: Table) -> tuple[np.ndarray, np.ndarray | slice, np.ndarray | slice]:
    """The bar times both venues have, and where each venue's rows for them are (a slice of
    everything when the two files have the same bars, the usual case: no copy)."""
    if up.ts.shape == bn.ts.shape and np.array_equal(up.ts, bn.ts):
        return up.ts, slice(None), slice(None)
    return np.intersect1d(up.ts, bn.ts, assume_unique=True, return_indices=True)


def build_symbol(symbol: str, up: Table, bn: Table, fx: Table, to_ms: int | None = None) -> SymbolData:
    common, iu, ib = _common_bars(up, bn)
    n0 = int(common.shape[0])
    fx_val = fx.cols["close"]
    if n0 < 2 or not bool((common[1:] > common[:-1]).all()) or not bool(np.isfinite(fx_val).all()) or \
            fx.ts.shape[0] == 0 or not bool((fx.ts[1:] >= fx.ts[:-1]).all()):
        return _build_symbol_general(symbol, up, bn, fx, to_ms)
    # strictly increasing bars (as read_csv leaves them) and rates: every step below is a slice,
    # and as-of lookups are one placement per rate
    interval = _interval_sorted(common)
    report: dict = {
        "upbit_rows": int(up.ts.shape[0]), "binance_rows": int(bn.ts.shape[0]),
        "only_upbit": int(up.ts.shape[0] - n0), "only_binance": int(bn.ts.shape[0] - n0),
        "bad_rows": up.dropped_bad + bn.dropped_bad, "duplicate_rows": up.dropped_dup + bn.dropped_dup,
    }
    ts = common
    u_open, u_close = up.cols["open"][iu], up.cols["close"][iu]
    b_open, b_close = bn.cols["open"][ib], bn.cols["close"][ib]
    end = n0 if to_ms is None else int(np.searchsorted(ts, to_ms - interval, side="right"))  # ts + interval <= to_ms
    close = ts[:end] + interval
    k_close, pos_close = _asof_sorted(fx.ts, close, strict=True)
    k_open, _ = _asof_sorted(fx.ts, ts[:end], strict=False)
    # bars before the first rate (k = -1) are a prefix: k never decreases
    start = max(int(np.searchsorted(k_close, 0)), int(np.searchsorted(k_open, 0)))
    report["before_first_fx"] = start
    sl = slice(start, end)
    ts, u_open, u_close, b_open, b_close = ts[sl], u_open[sl], u_close[sl], b_open[sl], b_close[sl]
    fx_c = fx_val.take(k_close[start:])
    fx_o = fx_val.take(k_open[start:])
    gaps: list[Gap] = []
    if ts.shape[0] > 1:
        d = np.diff(ts)
        for k in np.flatnonzero(d > interval):
            gaps.append(Gap(int(ts[k]), int(ts[k + 1]), int(d[k] // interval) - 1))
    n = int(ts.shape[0])
    report["aligned_rows"] = n
    if n:
        # the oldest rate a decision reads: at the last row reading each rate (rows pos[j].. pos[j+1]-1 read j)
        last_row = np.append(pos_close[1:], close.shape[0]) - 1
        j = np.flatnonzero((last_row >= pos_close) & (last_row >= start))  # rates some kept row reads
        age = close.take(last_row[j]) - fx.ts.take(j)
        report["max_fx_age_hours"] = round(float(age.max()) / 3.6e6, 1)
    return SymbolData(symbol, interval, ts, u_open, u_close, b_open, b_close, fx_o, fx_c, gaps, report)


def _build_symbol_general(symbol: str, up: Table, bn: Table, fx: Table, to_ms: int | None = None) -> SymbolData:
    common, iu, ib = _common_bars(up, bn)
    interval = _interval(common)
    report: dict = {
        "upbit_rows": int(up.ts.shape[0]), "binance_rows": int(bn.ts.shape[0]),
        "only_upbit": int(up.ts.shape[0] - common.shape[0]), "only_binance": int(bn.ts.shape[0] - common.shape[0]),
        "bad_rows": up.dropped_bad + bn.dropped_bad, "duplicate_rows": up.dropped_dup + bn.dropped_dup,
    }
    ts = common
    u_open, u_close = up.cols["open"][iu], up.cols["close"][iu]
    b_open, b_close = bn.cols["open"][ib], bn.cols["close"][ib]
    if to_ms is not None:
        keep = ts + interval <= to_ms
        ts, u_open, u_close, b_open, b_close = ts[keep], u_open[keep], u_close[keep], b_open[keep], b_close[keep]
    k_close = asof_index(fx.ts, ts + interval, strict=True)
    fx_c = asof(fx.ts, fx.cols["close"], ts + interval, strict=True, k=k_close)
    fx_o = asof(fx.ts, fx.cols["close"], ts, strict=False)
    ok = np.isfinite(fx_c) & np.isfinite(fx_o)
    report["before_first_fx"] = int((~ok).sum())
    if not ok.all():  # copies only when bars precede the first rate
        ts, u_open, u_close, b_open, b_close, fx_o, fx_c, k_close = (
            a[ok] for a in (ts, u_open, u_close, b_open, b_close, fx_o, fx_c, k_close))
    gaps: list[Gap] = []
    if ts.shape[0] > 1:
        d = np.diff(ts)
        for k in np.flatnonzero(d > interval):
            gaps.append(Gap(int(ts[k]), int(ts[k + 1]), int(d[k] // interval) - 1))
    report["aligned_rows"] = int(ts.shape[0])
    if ts.shape[0]:
        age = (ts + interval) - fx.ts[k_close]
        report["max_fx_age_hours"] = round(float(age.max()) / 3.6e6, 1)
    return SymbolData(symbol, interval, ts, u_open, u_close, b_open, b_close, fx_o, fx_c, gaps, report)


def load_dataset(directory: Path | str, symbols: tuple[str, ...] | list[str] | None = None,
                 to_ms: int | None = None, cache: bool = True) -> Dataset:
    """Load and align every ``upbit_<SYM>.csv``/``binance_<SYM>.csv`` pair in ``directory``.

    ``symbols``: restrict to these (those without files are reported in ``notes``).
    ``to_ms``: drop bars closing after this time (the future is never loaded).
    """
    d = Path(directory)
    if not d.is_dir():
        raise DataError(f"{d}: no such data directory")
    fx_path = d / "fx.csv"
    if not fx_path.exists():
        raise DataError(f"{d}: fx.csv (timestamp,close in KRW per USD) is missing; the premium needs a real FX "
                        f"series, never a constant")
    fx = read_csv(fx_path, ("close",), cache)
    if fx.ts.shape[0] == 0:
        raise DataError(f"{fx_path}: no usable rows")
    found = sorted(p.name[len("upbit_"):-len(".csv")] for p in d.glob("upbit_*.csv"))
    tables = _read_parallel([(d / f"{v}_{s}.csv") for s in (symbols or found) for v in ("upbit", "binance")
                             if (d / f"{v}_{s}.csv").exists()], ("open", "close"), cache)
    notes: list[str] = []
    if fx.dropped_bad:
        notes.append(f"fx.csv: {fx.dropped_bad} bad row(s) dropped")
    wanted = list(symbols) if symbols else found
    out: dict[str, SymbolData] = {}
    for sym in wanted:
        up_p, bn_p = d / f"upbit_{sym}.csv", d / f"binance_{sym}.csv"
        if not up_p.exists() or not bn_p.exists():
            notes.append(f"{sym}: no data ({up_p.name if not up_p.exists() else bn_p.name} missing): not traded")
            continue
        sd = build_symbol(sym, tables[up_p], tables[bn_p], fx, to_ms)
        fund_p = d / f"funding_{sym}.csv"
        if fund_p.exists():
            ft = read_csv(fund_p, FUNDING_COLUMNS, cache)
            if ft.ts.shape[0]:
                sd.funding_ts, sd.funding_rate = ft.ts, ft.cols["rate"]
                sd.report["funding_file_rows"] = int(ft.ts.shape[0])
            else:
                notes.append(f"{fund_p.name}: no usable rows; the constant funding rate is used")
        if sd.n < 2:
            notes.append(f"{sym}: fewer than 2 aligned bars: not traded")
            continue
        out[sym] = sd
    if not out:
        raise DataError(f"{d}: no symbol with both upbit_<SYM>.csv and binance_<SYM>.csv and aligned bars "
                        f"(wanted {', '.join(wanted) or 'any'})")
    return Dataset(str(d), out, int(fx.ts.shape[0]), notes)


PARALLEL_MIN_BYTES = 16_000_000


def _read_one(args: tuple[Path, tuple[str, ...], bool]) -> Table:
    return read_csv(*args)


def _read_parallel(paths: list[Path], columns: tuple[str, ...], cache: bool) -> dict[Path, Table]:
    """Parse several CSVs; big uncached sets in threads (polars, like pandas' C parser, releases
    the GIL while it tokenizes and converts, so one file's numpy checks run while another parses,
    without copying arrays between processes)."""
    out: dict[Path, Table] = {}
    todo = list(paths)
    size = sum(p.stat().st_size for p in todo)
    workers = min(len(todo), max(2, (os.cpu_count() or 1) + 1))
    if size >= PARALLEL_MIN_BYTES and workers > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as ex:
            for p, t in zip(todo, ex.map(_read_one, [(p, columns, cache) for p in todo])):
                out[p] = t
        return out
    for p in todo:
        out[p] = read_csv(p, columns, cache)
    return out


def _cached(path: Path, columns: tuple[str, ...], cdir: Path) -> Table | None:
    try:
        key = _cache_key(path, columns)
        with np.load(cdir / f"{key}.npz") as z:
            return Table(z["ts"], {c: z[c] for c in columns}, int(z["bad"]), int(z["dup"]), bool(z["sec"]))
    except (OSError, KeyError, ValueError):
        return None


def describe_gaps(sd: SymbolData, limit: int = 3) -> str:
    if not sd.gaps:
        return "no gaps"
    worst = sorted(sd.gaps, key=lambda g: -g.missing_bars)[:limit]
    parts = [f"{g.missing_bars} bar(s) after {iso(g.after_ms)}" for g in worst]
    return f"{len(sd.gaps)} gap(s), {sd.missing_bars} missing bar(s); largest: " + "; ".join(parts)


def interval_label(ms: int) -> str:
    m = ms / 60_000
    if m >= 60 and math.isclose(m % 60, 0):
        return f"{int(m // 60)}h"
    return f"{m:g}m"
