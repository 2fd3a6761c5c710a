"""The backtester's speed paths give bit for bit what the plain rules give: premiums computed in
place, z per window slot, entries and adds evaluated only on the rows past the lowest z threshold,
integer stamps parsed as Int64, sorted bars aligned with slices."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kimpbot.backtest import data as dm
from kimpbot.backtest.data import SAMPLE_DIR, Table, load_dataset
from kimpbot.backtest.engine import Indicators, _Cands, _premium, run_strategy
from kimpbot.backtest.fills import market_model
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.strategy import rules
from kimpbot.strategy.rolling import zscores

OWNER = load_owner_config(None)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal as IEEE doubles, NaN where NaN (a NaN's payload aside)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    na, nb = np.isnan(a), np.isnan(b)
    return a.shape == b.shape and bool((na == nb).all()) and a[~na].tobytes() == b[~nb].tobytes()


def test_in_place_premium_equals_rules_premium_arr() -> None:
    rng = np.random.default_rng(3)
    u = rng.uniform(1e-4, 2e8, 20_000)
    b = rng.uniform(1e-6, 1e5, 20_000)
    fx = rng.uniform(900, 1600, 20_000)
    assert same_bits(_premium(u, b, fx), rules.premium_arr(u, b, fx))
    scratch = b * 0.9995
    assert same_bits(_premium(u, scratch.copy(), fx, True), rules.premium_arr(u, scratch, fx))


@pytest.mark.parametrize("fill", ["next_open", "next_close"])
def test_indicators_equal_the_rules_on_whole_arrays(fill: str) -> None:
    m = market_model(OWNER, slippage_pct=0.07, fill=fill)
    ds = load_dataset(SAMPLE_DIR, cache=False)
    for sd in ds.symbols.values():
        ind = Indicators(sd, OWNER.strategy, m)
        s = m.slip
        u_buy, u_sell = rules.slipped(sd.u_close, s, True), rules.slipped(sd.u_close, s, False)
        b_buy, b_sell = rules.slipped(sd.b_close, s, True), rules.slipped(sd.b_close, s, False)
        assert same_bits(ind.u_buy, u_buy) and same_bits(ind.b_sell, b_sell)
        assert same_bits(ind.mid, rules.premium_arr(sd.u_close, sd.b_close, sd.fx_close))
        assert same_bits(ind.exec_long, rules.exec_long_arr(u_buy, b_sell, sd.fx_close, m.upbit_fee, m.binance_fee))
        assert same_bits(ind.exec_short, rules.exec_short_arr(u_sell, b_buy, sd.fx_close, m.upbit_fee, m.binance_fee))
        assert np.isnan(ind.mean).any() and np.isfinite(ind.mean).any()  # warm-up rows and ready rows
        assert same_bits(ind.zL, zscores(ind.exec_long, ind.mean, ind.std))
        assert same_bits(ind.zS, zscores(ind.exec_short, ind.mean, ind.std))
        assert ind.first_ready_row == int(np.argmax(np.isfinite(ind.mean)))
        F = ind.funding_ms
        assert np.array_equal(ind.funding_upto(slice(0, ind.n)), np.searchsorted(F, ind.close_ms, side="right"))


def test_flat_window_gives_no_z_as_zscores_does() -> None:
    """A window whose std is below MIN_STD has no z (the per-slot rule equals zscores()')."""
    from kimpbot.backtest.synth import frames_to_dataset, premium_frames

    prem = [1.0] * 600 + list(1.0 + np.sin(np.arange(400)) * 0.3)
    ds = frames_to_dataset(premium_frames(prem, 1_735_689_600_000, 60.0))
    ind = Indicators(ds.symbols["BTC"], OWNER.strategy, market_model(OWNER))
    flat = np.isfinite(ind.mean) & ~(ind.std > 1e-9)
    assert flat.any()  # the test covers the flat case
    assert np.isnan(ind.zL[flat]).all()
    assert same_bits(ind.zS, zscores(ind.exec_short, ind.mean, ind.std))


@pytest.mark.parametrize("text", ["", "[optimized]\nnormal_z = 1.5\nextreme_z = 2.2\nultra_z = 2.9\n"
                                  "[zscore]\nmin_kimp_on = \"executable\"\n"])
def test_entry_candidates_equal_the_dense_rules(text: str) -> None:
    oc = load_owner_config(None, text=text) if text else OWNER
    p = oc.strategy
    m = market_model(oc)
    ds = load_dataset(SAMPLE_DIR, cache=False)
    for sd in ds.symbols.values():
        ind = Indicators(sd, p, m)
        with np.errstate(invalid="ignore"):
            for long in (True, False):
                z = ind.zL if long else ind.zS
                az = -z if long else z
                prem = rules.floor_premium(ind.mid, ind.exec_long if long else ind.exec_short, p)
                c = _Cands.optimized(ind, p, long)
                rank = rules.tier_rank(az, p)
                ok = (rank >= 1) & (abs(prem) >= p.opt_min_kimp_entry)
                assert np.array_equal(c.rows[(c.rank >= 1) & c.premok], np.flatnonzero(ok))
                assert np.array_equal(c.rank, rank[c.rows])
                assert same_bits(c.splits, rules.splits_due(az, p)[c.rows])
                outside = np.ones(ind.n, dtype=bool)
                outside[c.rows] = False  # no rule can fire elsewhere: rank 0, no split due
                assert not rank[outside].any() and not np.nan_to_num(rules.splits_due(az, p)[outside]).any()
                s = _Cands.simple(ind, p, long, False)
                f = rules.long_entry_ok if long else rules.short_entry_ok
                dense = f(z, prem, p.entry_threshold, p.min_kimp_entry)
                assert np.array_equal(s.rows[s.premok], np.flatnonzero(dense))


def test_inventory_refusals_while_holding_are_counted_as_before() -> None:
    """Adds refused for lack of Upbit coin (a short-premium position with little inventory):
    the counts the dense chunk scan gave on the sample (pinned)."""
    oc = load_owner_config(None)
    ds = load_dataset(SAMPLE_DIR, cache=False)
    r = run_strategy(ds, oc.strategy, "optimized", market_model(oc), "3000000")
    assert (sum(x.refusals for x in r.symbols.values()), sum(x.refusal_episodes for x in r.symbols.values())) \
        == (39, 4)
    assert len(r.trades) == 17


def test_integer_stamps_parse_like_the_careful_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {
        "ms.csv": "timestamp,open,close\n1704067260000,1.25,3\n1704067200000,1.5,2\n1704067200000,1.5,9\n"
                  "1704067320000,,3\n1704067380000,-1,3\n1704067440000,2,0.1\n",
        "sec.csv": "timestamp,open,close\n1704067200,1.5,2\n1704067260,1.25,3\n",
        "frac.csv": "timestamp,open,close\n1704067200000,1.5,2\n1704067260000.4,1.25,3\n",
        "quoted.csv": "timestamp,open,close\n1704067200000,\"1.5\",2\n1704067260000,1.25,3\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    fast = {n: dm._parse_csv(tmp_path / n, ("open", "close")) for n in files}
    monkeypatch.setattr(dm, "_fast_numeric", lambda *a, **k: None)  # the csv-module path
    for n in files:
        slow = dm._parse_csv(tmp_path / n, ("open", "close"))
        a = fast[n]
        assert a.ts.dtype == np.int64 and np.array_equal(a.ts, slow.ts), n
        assert all(same_bits(a.cols[c], slow.cols[c]) for c in ("open", "close")), n
        assert (a.dropped_bad, a.dropped_dup) == (slow.dropped_bad, slow.dropped_dup), n
    assert fast["ms.csv"].dropped_bad == 2 and fast["ms.csv"].dropped_dup == 1 and fast["sec.csv"].seconds


def test_sorted_alignment_equals_the_general_path() -> None:
    rng = np.random.default_rng(11)
    cases = 0
    for _ in range(80):
        n = int(rng.integers(2, 1500))
        iv = int(rng.choice([60_000, 300_000, 3_600_000]))
        t0 = 1_700_000_000_000 + int(rng.integers(0, 10)) * iv
        ts = t0 + np.arange(n, dtype=np.int64) * iv
        tu = ts[~(rng.random(n) < rng.choice([0.0, 0.01, 0.2]))]
        tb = ts[~(rng.random(n) < rng.choice([0.0, 0.01, 0.2]))]
        up = Table(tu, {"open": rng.uniform(1, 2, tu.shape[0]), "close": rng.uniform(1, 2, tu.shape[0])})
        bn = Table(tb, {"open": rng.uniform(1, 2, tb.shape[0]), "close": rng.uniform(1, 2, tb.shape[0])})
        step = int(rng.choice([iv, iv // 3, 7]))
        fts = np.unique(t0 - 5 * iv + rng.integers(0, (n + 10) * iv // step, int(rng.integers(1, 60))) * step)
        if rng.random() < 0.3:  # rates stamped exactly at bar opens and closes
            fts = np.unique(np.concatenate([fts, ts[rng.integers(0, n, 5)], ts[rng.integers(0, n, 5)] + iv]))
        fx = Table(fts.astype(np.int64), {"close": rng.uniform(1300, 1400, fts.shape[0])})
        to_ms = None if rng.random() < 0.5 else int(ts[int(rng.integers(0, n))] + rng.integers(-iv, 2 * iv))
        a = dm.build_symbol("X", up, bn, fx, to_ms)
        b = dm._build_symbol_general("X", up, bn, fx, to_ms)
        assert a.interval_ms == b.interval_ms and a.report == b.report
        for f in ("ts", "u_open", "u_close", "b_open", "b_close", "fx_open", "fx_close"):
            assert np.array_equal(getattr(a, f), getattr(b, f)), f
        assert [(g.after_ms, g.before_ms, g.missing_bars) for g in a.gaps] == \
            [(g.after_ms, g.before_ms, g.missing_bars) for g in b.gaps]
        cases += a.report["before_first_fx"] > 0
    assert cases > 5  # bars before the first rate were among the cases


def test_backtest_process_keeps_freed_memory() -> None:
    """In its own process (the setting is process-wide): applied once on glibc, a no-op after."""
    code = ("import sys; from kimpbot.backtest.alloc import keep_freed_memory as k; "
            "r = k(); assert r == k(); print(r)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    import platform

    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert out.stdout.strip() == "True"
