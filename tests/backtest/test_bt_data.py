"""Backtest input: CSV parsing (ms or ISO-8601), alignment, gaps, FX without look-ahead, the cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from kimpbot.backtest.data import (SAMPLE_DIR, DataError, describe_gaps, iso, load_dataset, parse_time, read_csv)

H = 3_600_000
T0 = 1_735_689_600_000  # 2025-01-01T00:00Z


def write(d: Path, name: str, text: str) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(text)


def ohlcv(rows: list[tuple]) -> str:
    return "timestamp,open,high,low,close,volume\n" + "".join(",".join(str(v) for v in r) + "\n" for r in rows)


def basic(d: Path, up_ts: list, bn_ts: list, fx_rows: str = f"timestamp,close\n{T0 - 86_400_000},1000\n") -> None:
    write(d, "upbit_BTC.csv", ohlcv([(t, 101_000, 101_000, 101_000, 101_000, 1) for t in up_ts]))
    write(d, "binance_BTC.csv", ohlcv([(t, 100, 100, 100, 100, 1) for t in bn_ts]))
    write(d, "fx.csv", fx_rows)


def test_iso_and_ms_timestamps_load_the_same(tmp_path: Path) -> None:
    ms = [T0 + k * H for k in range(5)]
    basic(tmp_path / "a", ms, ms)
    isos = [iso(t) for t in ms]
    basic(tmp_path / "b", isos, [s.replace("Z", "+00:00") for s in isos],
          f"timestamp,close\n{iso(T0 - 86_400_000)},1000\n")
    a = load_dataset(tmp_path / "a", cache=False).symbols["BTC"]
    b = load_dataset(tmp_path / "b", cache=False).symbols["BTC"]
    assert np.array_equal(a.ts, b.ts) and np.array_equal(a.u_close, b.u_close) and a.interval_ms == H
    assert parse_time("2025-01-01") == T0 and parse_time("2025-01-01T09:00:00+09:00") == T0
    assert parse_time(str(T0 // 1000)) == T0  # seconds are recognised
    with pytest.raises(DataError):
        parse_time("yesterday")


def test_columns_by_header_name_and_bad_rows_dropped(tmp_path: Path) -> None:
    write(tmp_path, "upbit_BTC.csv", "volume,close,timestamp,open\n1,101000,%d,101000\n1,nan,%d,101000\n"
          "1,-5,%d,101000\n1,,%d,101000\n1,101500,%d,101500\n1,101600,%d,101600\n"
          % (T0, T0 + H, T0 + 2 * H, T0 + 3 * H, T0 + 4 * H, T0 + 4 * H))
    write(tmp_path, "binance_BTC.csv", ohlcv([(T0 + k * H, 100, 100, 100, 100, 1) for k in range(5)]))
    write(tmp_path, "fx.csv", f"timestamp,close\n{T0 - 86_400_000},1000\n")
    sd = load_dataset(tmp_path, cache=False).symbols["BTC"]
    assert sd.report["bad_rows"] == 3 and sd.report["duplicate_rows"] == 1
    assert sd.ts.tolist() == [T0, T0 + 4 * H]
    assert sd.report["only_binance"] == 3
    write(tmp_path, "upbit_ETH.csv", "time,price\n1,2\n")
    write(tmp_path, "binance_ETH.csv", ohlcv([(T0, 1, 1, 1, 1, 1)]))
    with pytest.raises(DataError, match="lacks column"):
        load_dataset(tmp_path, ["ETH"], cache=False)


def test_gaps_are_reported_with_dates_and_rows_missing_on_one_venue(tmp_path: Path) -> None:
    up = [T0 + k * H for k in range(20) if k not in (5, 6, 7)]
    bn = [T0 + k * H for k in range(20) if k != 12]
    basic(tmp_path, up, bn)
    sd = load_dataset(tmp_path, cache=False).symbols["BTC"]
    assert sd.interval_ms == H and sd.n == 16
    assert [(iso(g.after_ms), g.missing_bars) for g in sd.gaps] == [("2025-01-01T04:00:00Z", 3),
                                                                    ("2025-01-01T11:00:00Z", 1)]
    assert sd.missing_bars == 4 and "2 gap(s), 4 missing bar(s)" in describe_gaps(sd)
    assert sd.report["only_upbit"] == 1 and sd.report["only_binance"] == 3


def test_fx_is_never_read_before_it_is_known(tmp_path: Path) -> None:
    """Rates stamped 01:00 (1,100) and 02:30 (1,200). The bar 01:00-02:00 decides at 02:00 with
    1,100 (not the 02:30 rate); a fill at the 02:00 bar's open uses 1,100 too, its decision at
    03:00 uses 1,200. The bar 00:00-01:00 closes at 01:00: the 01:00 rate is not strictly before
    its close, and no earlier rate exists, so that bar is dropped (and counted)."""
    ts = [T0 + k * H for k in range(4)]
    basic(tmp_path, ts, ts, f"timestamp,close\n{T0 + H},1100\n{T0 + 2 * H + H // 2},1200\n")
    sd = load_dataset(tmp_path, cache=False).symbols["BTC"]
    assert sd.report["before_first_fx"] == 1
    assert sd.ts.tolist() == ts[1:]
    assert sd.fx_close.tolist() == [1100, 1200, 1200]
    assert sd.fx_open.tolist() == [1100, 1100, 1200]


def test_to_drops_the_future_and_missing_inputs_are_errors(tmp_path: Path) -> None:
    ts = [T0 + k * H for k in range(10)]
    basic(tmp_path, ts, ts)
    sd = load_dataset(tmp_path, to_ms=T0 + 5 * H, cache=False).symbols["BTC"]
    assert sd.n == 5 and int(sd.close_ms[-1]) == T0 + 5 * H
    os.remove(tmp_path / "fx.csv")
    with pytest.raises(DataError, match="fx.csv"):
        load_dataset(tmp_path, cache=False)
    with pytest.raises(DataError, match="no such data directory"):
        load_dataset(tmp_path / "nope")
    basic(tmp_path, ts, ts)
    with pytest.raises(DataError, match="no symbol"):
        load_dataset(tmp_path, ["DOGE"], cache=False)
    ds = load_dataset(tmp_path, ["BTC", "DOGE"], cache=False)
    assert any("DOGE: no data" in n for n in ds.notes)


def test_parsed_csv_cache_hits_and_misses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIMPBOT_CACHE_DIR", str(tmp_path / "cache"))
    ts = [T0 + k * H for k in range(5)]
    basic(tmp_path / "d", ts, ts)
    f = tmp_path / "d" / "upbit_BTC.csv"
    a = read_csv(f, ("open", "close"))
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    b = read_csv(f, ("open", "close"))
    assert np.array_equal(a.ts, b.ts) and np.array_equal(a.cols["close"], b.cols["close"])
    f.write_text(ohlcv([(t, 99_000, 99_000, 99_000, 99_000, 1) for t in ts]))  # changed: size differs
    assert read_csv(f, ("open", "close")).cols["close"][0] == 99_000
    monkeypatch.setenv("KIMPBOT_CACHE_DIR", "off")
    assert read_csv(f, ("open", "close")).cols["close"][0] == 99_000


def test_shipped_sample_is_small_synthetic_and_has_its_gaps() -> None:
    files = sorted(p.name for p in SAMPLE_DIR.iterdir())
    assert "README.md" in files and "fx.csv" in files
    assert sum(p.stat().st_size for p in SAMPLE_DIR.iterdir()) < 1_000_000
    assert "Synthetic, not market data" in (SAMPLE_DIR / "README.md").read_text()
    ds = load_dataset(SAMPLE_DIR, cache=False)
    assert set(ds.symbols) == {"BTC", "ETH", "XRP"}
    assert ds.symbols["ETH"].missing_bars == 6 and ds.symbols["XRP"].missing_bars == 2


def test_sample_regenerates_byte_for_byte(tmp_path: Path) -> None:
    from kimpbot.backtest.synth import SAMPLE_NUMPY, write_sample

    if not np.__version__.startswith(SAMPLE_NUMPY):
        pytest.skip(f"the sample was drawn with numpy {SAMPLE_NUMPY}.x; this is {np.__version__}")

    write_sample(tmp_path)
    for p in SAMPLE_DIR.glob("*.csv"):
        assert (tmp_path / p.name).read_bytes() == p.read_bytes(), p.name


def test_fast_parser_floats_are_correctly_rounded_and_columns_in_asked_order(tmp_path) -> None:
    """The fast path (polars' CSV reader) must give the same doubles as Python's float() for
    candle-like decimals, and the columns asked for, whatever their order in the file."""
    import random

    from kimpbot.backtest.data import _parse_csv

    rng = random.Random(3)
    rows = []
    for k in range(3000):
        close = f"{rng.uniform(1.0, 200_000):.{rng.randint(0, 8)}f}"
        open_ = f"{rng.uniform(0.1, 3):.{rng.randint(1, 12)}f}"
        rows.append((1_700_000_000_000 + k * 60_000, close, open_))
    p = tmp_path / "x.csv"
    p.write_text("timestamp,close,volume,open\n" + "".join(f"{t},{c},1,{o}\n" for t, c, o in rows))
    t = _parse_csv(p, ("open", "close"))
    assert t.ts.tolist() == [r[0] for r in rows]
    assert t.cols["close"].tolist() == [float(r[1]) for r in rows]
    assert t.cols["open"].tolist() == [float(r[2]) for r in rows]


def test_live_bot_does_not_import_the_csv_parser() -> None:
    """polars is the backtester's CSV parser only: importing the bot (and the backtest data module)
    must not load it; parsing a CSV does."""
    import subprocess
    import sys

    code = ("import sys, kimpbot.cli, kimpbot.backtest.data as d; assert 'polars' not in sys.modules, 'eager';"
            "d.load_dataset(d.SAMPLE_DIR, cache=False); assert 'polars' in sys.modules, 'unused'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_asof_index_counting_path_equals_binary_search() -> None:
    """The per-rate placement used for many sorted bars gives the same index as a search per bar,
    at and around every stamp, strict or not (a rate is never used before it is stamped)."""
    from kimpbot.backtest.data import asof, asof_index

    rng = np.random.default_rng(5)
    fx_ts = np.sort(rng.choice(np.arange(0, 100_000, 7), 40, replace=False)).astype(np.int64)
    fx_val = rng.uniform(1300, 1400, fx_ts.shape[0])
    t = np.sort(np.concatenate([fx_ts, fx_ts - 1, fx_ts + 1, rng.integers(-50, 100_050, 3000)])).astype(np.int64)
    assert t.shape[0] > 8 * fx_ts.shape[0] + 64  # the counting path is the one taken
    for strict in (True, False):
        want = np.searchsorted(fx_ts, t, side="left" if strict else "right") - 1
        assert np.array_equal(asof_index(fx_ts, t, strict), want)
        got = asof(fx_ts, fx_val, t, strict)
        assert np.array_equal(np.isnan(got), want < 0)
        assert np.array_equal(got[want >= 0], fx_val[want[want >= 0]])
