"""``kimpbot history`` against the simulated exchanges (real HTTP through aiohttp): a download
interrupted by SIGKILL and run again ends with no gap and no duplicate, byte for byte what an
uninterrupted download writes; the backtester then runs on it and books the downloaded funding."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from testkit import wait_until

from kimpbot import history
from kimpbot.backtest import cli as bt
from kimpbot.backtest.data import load_dataset
from kimpbot.backtest.engine import run_strategy
from kimpbot.backtest.fills import market_model
from kimpbot.clock import ManualClock
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.sim.market import SimMarket
from kimpbot.sim.servers import SimServers

ROOT = Path(__file__).resolve().parents[2]
H = 3_600_000
DAY = 86_400_000
FIXED_NOW_MS = 1_796_000_000_000  # 2026-11-30 01:33:20 UTC
FAST = {"upbit": 500.0, "binance": 500.0, "funding": 500.0}


@pytest.fixture
async def sim():
    # the sim's history ends at its clock's "now": a fixed clock pins where the hours and the 8-hourly
    # funding times fall on its seeded path, so what the backtest below sees does not depend on the
    # time of day the suite runs (it once found no position held over a funding time)
    servers = SimServers(SimMarket(seed=3, history_days=5, clock=ManualClock(FIXED_NOW_MS)), push_interval_s=0.5)
    await servers.start()
    try:
        yield servers
    finally:
        await servers.stop()


def lines(p: Path) -> list[str]:
    return p.read_text().splitlines()


def assert_complete(path: Path, start: int, end: int, step: int, offset: int = 0) -> None:
    ts = [int(r.split(",")[0]) for r in lines(path)[1:]]
    assert ts == list(range(start + offset, end + offset, step)), path.name  # every bar once, in order


async def test_interrupted_download_resumes_without_gaps_or_duplicates(sim, tmp_path: Path) -> None:
    now = sim.market.clock.now_ms()
    start = (now - 3 * DAY) // H * H
    end = start + 2 * DAY  # 2,880 one-minute bars per stream, well inside the sim's history
    out = tmp_path / "dl"
    env = dict(os.environ, UPBIT_API_URL=sim.upbit_url, BINANCE_FUTURES_API_URL=sim.binance_url,
               PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "kimpbot", "history", "--from", str(start), "--to", str(end), "--interval", "1m",
           "--symbols", "BTC", "ETH", "--out", str(out), "--no-progress", "--upbit-per-s", "6",
           "--binance-per-s", "20"]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        up = out / "upbit_BTC.csv"
        assert await wait_until(lambda: up.exists() and len(lines(up)) > 300, timeout=60)
        os.kill(proc.pid, signal.SIGKILL)  # a hard interrupt, mid-download
    finally:
        await asyncio.to_thread(proc.wait)
    assert len(lines(up)) - 1 < 2880  # it really was cut short
    summary = await history.download(out, ["BTC", "ETH"], start, end, "1m", sim.upbit_url, sim.binance_url,
                                     paces=FAST)
    fresh = tmp_path / "fresh"
    await history.download(fresh, ["BTC", "ETH"], start, end, "1m", sim.upbit_url, sim.binance_url, paces=FAST)
    for name in summary["files"]:
        assert (out / name).read_bytes() == (fresh / name).read_bytes(), name
    for sym in ("BTC", "ETH"):
        assert_complete(out / f"upbit_{sym}.csv", start, end, 60_000)
        assert_complete(out / f"binance_{sym}.csv", start, end, 60_000)
        f = [int(r.split(",")[0]) for r in lines(out / f"funding_{sym}.csv")[1:]]
        assert f == list(range(-(-start // (8 * H)) * 8 * H, end, 8 * H))
    assert_complete(out / "fx.csv", start, end, 60_000, offset=60_000)  # stamped at each candle's end
    # a third run has nothing left to fetch
    again = await history.download(out, ["BTC", "ETH"], start, end, "1m", sim.upbit_url, sim.binance_url,
                                   paces=FAST)
    assert again["requests"] <= 7  # one empty look per stream at most
    assert (out / "upbit_BTC.csv").read_bytes() == (fresh / "upbit_BTC.csv").read_bytes()


def test_half_written_last_row_is_cut_and_a_foreign_file_refused(tmp_path: Path) -> None:
    p = tmp_path / "upbit_BTC.csv"
    p.write_text(history.CANDLE_HEADER + "1000,1,1,1,1,1\n2000,1,1,1,1,1\n3000,1,1")
    assert history.resume_point(p, history.CANDLE_HEADER) == 2000
    assert p.read_text().endswith("2000,1,1,1,1,1\n")
    p.write_text("time;price\n")
    with pytest.raises(history.HistoryError, match="not a file kimpbot history wrote"):
        history.resume_point(p, history.CANDLE_HEADER)


async def test_backtest_runs_on_the_download_with_its_real_funding(sim, tmp_path: Path, capsys,
                                                                 monkeypatch) -> None:
    now = sim.market.clock.now_ms()
    start = (now - 5 * DAY) // H * H + DAY
    end = now // H * H - H
    out = tmp_path / "dl"
    await history.download(out, ["BTC", "ETH", "XRP"], start, end, "1h", sim.upbit_url, sim.binance_url, paces=FAST)
    oc = load_owner_config(None, text="[zscore]\nwindow_days = 1.0\nentry_threshold = 1.0\n"
                                      "[optimized]\nnormal_z = 1.0\nextreme_z = 2.5\nultra_z = 4.0\n")
    ds = load_dataset(out, cache=False)
    sd = ds.symbols["BTC"]
    assert sd.funding_ts is not None and sd.report["funding_file_rows"] == len(lines(out / "funding_BTC.csv")) - 1
    m = market_model(oc)
    run = run_strategy(ds, oc.strategy, "optimized", m, "full")
    held = [t for t in run.trades if t.exit_ms - t.entry_ms > 8 * H]
    assert held, "a position held over a funding time"
    # the funding booked is the downloaded rates', not the constant 0.01 %
    for p in out.glob("funding_*.csv"):
        p.unlink()
    const = run_strategy(load_dataset(out, cache=False), oc.strategy, "optimized", m, "full")
    assert [t.funding_krw for t in run.trades] != [t.funding_krw for t in const.trades]
    rates = np.array([float(r.split(",")[1]) for r in lines(tmp_path / "dl" / "fx.csv")[1:2]])
    assert rates.size == 1  # fx.csv holds rates (KRW per USDT)
    # and the CLI runs on it end to end
    monkeypatch.chdir(tmp_path)
    (tmp_path / "strategy.toml").write_text("[zscore]\nwindow_days = 1.0\n")
    import argparse

    p = argparse.ArgumentParser()
    bt.add_arguments(p)
    await history.download(out, ["BTC", "ETH", "XRP"], start, end, "1h", sim.upbit_url, sim.binance_url, paces=FAST)
    assert await asyncio.to_thread(bt.run, p.parse_args(["--data", str(out), "--json", "--no-cache"])) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["meta"]["symbols"]["BTC"]["funding_file_rows"] > 0


def test_bad_arguments_are_named_and_exit_2(tmp_path: Path, capsys) -> None:
    import argparse

    p = argparse.ArgumentParser()
    history.add_arguments(p)
    args = p.parse_args(["--from", "2025-02-01", "--to", "2025-01-01", "--out", str(tmp_path / "x"),
                         "--symbols", "BTC"])
    assert history.run(args) == 2
    assert "--to must be after --from" in capsys.readouterr().err
    args = p.parse_args(["--from", "yesterday", "--to", "2025-01-01", "--out", str(tmp_path / "x")])
    assert history.run(args) == 2
    assert "not a timestamp" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        p.parse_args(["--from", "2025-01-01", "--to", "2025-01-02", "--out", "x", "--interval", "2m"])


async def test_rate_limit_answers_are_waited_out_and_retried(sim, tmp_path: Path) -> None:
    """Upbit's plain-text 429 and Binance's 429 with Retry-After: the download waits, retries and
    still ends complete (waits capped short for the test)."""
    now = sim.market.clock.now_ms()
    start = (now - 3 * DAY) // H * H
    end = start + DAY
    f = sim.market.faults
    f.inject("upbit", "/v1/candles/minutes/60", "http429", count=2)
    f.inject("binance", "/fapi/v1/klines", "http429")
    f.inject("binance", "/fapi/v1/fundingRate", "http429")
    out = tmp_path / "dl"
    summary = await history.download(out, ["BTC"], start, end, "1h", sim.upbit_url, sim.binance_url, paces=FAST,
                                     backoff_s=0.01, max_wait_s=0.05)
    assert sum(1 for x in f.fired if x.kind == "http429") == 4
    assert summary["requests"] >= 4 + 4  # each stream once at least, plus the four refused tries
    assert_complete(out / "upbit_BTC.csv", start, end, H)
    assert_complete(out / "binance_BTC.csv", start, end, H)
    assert_complete(out / "fx.csv", start, end, H, offset=H)
    assert len(lines(out / "funding_BTC.csv")) - 1 == len(range(-(-start // (8 * H)) * 8 * H, end, 8 * H))


async def test_a_venue_that_keeps_failing_stops_with_a_clear_message(sim, tmp_path: Path) -> None:
    now = sim.market.clock.now_ms()
    start = (now - 3 * DAY) // H * H
    sim.market.faults.inject("binance", "/fapi/v1/klines", "http429", count=50)
    with pytest.raises(history.HistoryError, match="fapi/v1/klines.*HTTP 429"):
        await history.download(tmp_path / "dl", ["BTC"], start, start + DAY, "1h", sim.upbit_url, sim.binance_url,
                               paces=FAST, retries=2, backoff_s=0.01, max_wait_s=0.02)
