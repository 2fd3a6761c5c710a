"""P&L anatomy: premium move + USD/KRW move - funding - fees - slippage = net P&L, per trade and in
total, with the profit concentration; in --json, the text table and the chart."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from kimpbot.backtest import cli
from kimpbot.backtest.anatomy import summarize
from kimpbot.backtest.engine import run_strategy
from kimpbot.backtest.fills import market_model
from kimpbot.backtest.metrics import compute
from kimpbot.backtest.reference import reference_run
from kimpbot.backtest.synth import frames_to_dataset, premium_frames
from testkit import hand_owner

H = 3_600_000
F0 = 1_735_689_600_000
ZPATH = [1, 3, 1, 3, 1, 3, 1, 3, 1, 3, -1, -1, 2, 2, 2]  # tests/backtest/test_bt_handpaths.py: enter bar 11, exit 13


owner = hand_owner


def fx_move_dataset():
    """ZPATH with USD/KRW 1,000 until bar 13's open, then 1,010 (the premium itself unchanged: Upbit
    follows the rate). The decision at bar 12's close still reads 1,000; the exit fill reads 1,010."""
    fr = premium_frames(ZPATH, F0)
    fr["fx"] = {"timestamp": np.array([F0 - 86_400_000, F0 + 13 * H]), "close": np.array([1000.0, 1010.0])}
    u = fr["upbit_BTC"]
    p = np.array(ZPATH, dtype=float)
    for col in ("open", "close", "high", "low"):
        u[col][13:] = 100.0 * 1010.0 * (1 + p[13:] / 100.0)
    return frames_to_dataset(fr)


def test_long_premium_profit_split_into_premium_and_usdkrw_by_hand() -> None:
    """Entry at Upbit 99,000 (premium -1 % at 1,000), exit at 103,020 (premium +2 % at 1,010), perp flat
    at 100 USDT; q = 4,000,000 / 99,000. Net = q x 4,020. Premium move: +3 points on the entry value
    100 x 1,000: q x 3,000. USD/KRW: the perp's 100 USDT revalued by +10 KRW: q x 1,000. Unhedged: the
    2 % premium slice of the Upbit leg rose with the rate, 0.02 x (101,000 - 100,000): q x 20."""
    oc = owner()
    [t] = run_strategy(fx_move_dataset(), oc.strategy, "zscore", market_model(oc)).trades
    q = 4_000_000 / 99_000
    assert t.pnl_krw == pytest.approx(q * 4_020, abs=1e-6)
    assert t.premium_krw == pytest.approx(q * 3_000, abs=1e-6)
    assert t.usdkrw_krw == pytest.approx(q * 1_000, abs=1e-6)
    assert t.unhedged_krw == pytest.approx(q * 20, abs=1e-6)
    assert t.slippage_krw == pytest.approx(0.0, abs=1e-6) and t.fees_krw == 0.0


def test_costs_are_named_and_everything_adds_up_in_both_engines() -> None:
    oc = owner(fee=0.0005, slip=0.02, funding=0.0003)
    ds = fx_move_dataset()
    m = market_model(oc)
    [t] = run_strategy(ds, oc.strategy, "zscore", m).trades
    [r] = reference_run(ds, oc.strategy, "zscore", m)["BTC"].trades
    q = 4_000_000 / (99_000 * 1.0002)  # the Upbit buy slipped 0.02 %
    assert t.slippage_krw > 0 and t.fees_krw > 0
    # slippage: both legs moved 0.02 % against us, in and out (q coin each, Upbit in KRW; the perp's
    # USDT P&L, its entry slippage included, is converted at the exit rate 1,010)
    slip = q * (99_000 * 0.0002 + 100 * 0.0002 * 1010 + 103_020 * 0.0002 + 100 * 0.0002 * 1010)
    assert t.slippage_krw == pytest.approx(slip, rel=1e-9)
    parts = t.premium_krw + t.usdkrw_krw + t.unhedged_krw - t.funding_krw - t.fees_krw - t.slippage_krw
    assert parts == pytest.approx(t.pnl_krw, abs=1e-6)
    for k in ("premium_krw", "usdkrw_krw", "unhedged_krw", "slippage_krw"):
        assert getattr(t, k) == pytest.approx(getattr(r, k), rel=1e-9, abs=1e-6)


def test_concentration_figures() -> None:
    trades = [{"pnl_krw": v, "premium_krw": v, "usdkrw_krw": 0.0, "unhedged_krw": 0.0, "funding_krw": 0.0, "fees_krw": 0.0,
               "slippage_krw": 0.0, "exit_ms": F0 + k * H} for k, v in enumerate([100.0, -50.0, 700.0, 10.0, 20.0,
                                                                                   30.0, 40.0])]
    trades[3]["exit_ms"] = trades[2]["exit_ms"]  # closed in the same hour as the best trade
    s = summarize(trades, 10_000.0, 1.0)
    assert s["net_krw"] == 850 and s["best_trade_krw"] == 700
    assert s["best_trade_share_pct"] == pytest.approx(700 / 850 * 100, abs=0.01)
    assert s["best5_share_pct"] == pytest.approx((700 + 100 + 40 + 30 + 20) / 850 * 100, abs=0.01)
    assert s["best_hour_share_pct"] == pytest.approx(710 / 850 * 100, abs=0.01)
    assert s["annual_return_without_best_pct"] == pytest.approx(1.5, abs=1e-9)  # (10,850 - 700) / 10,000 in a year
    assert summarize(trades[1:2], 10_000.0, 1.0)["best_trade_share_pct"] is None  # no profit: no share


def test_report_text_json_and_chart_carry_the_anatomy(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("KIMPBOT_CACHE_DIR", "off")
    monkeypatch.chdir(tmp_path)
    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    assert cli.run(p.parse_args(["--strategy", "optimized", "--json", "--trades"])) == 0
    doc = json.loads(capsys.readouterr().out)["optimized"]
    an = doc["anatomy"]
    assert an["premium_krw"] + an["usdkrw_krw"] + an["unhedged_krw"] - an["funding_krw"] - an["fees_krw"] - \
        an["slippage_krw"] == pytest.approx(an["net_krw"], abs=6)
    assert an["net_krw"] == doc["total_profit_krw"]
    for k in ("best_trade_share_pct", "best5_share_pct", "annual_return_without_best_pct", "best_hour"):
        assert k in an
    t = doc["trade_list"][0]
    assert {"premium_krw", "usdkrw_krw", "unhedged_krw", "slippage_krw"} <= set(t)
    chart = tmp_path / "c.png"
    assert cli.run(p.parse_args(["--strategy", "optimized", "--chart", str(chart)])) == 0
    out = capsys.readouterr().out
    for label in ("premium move", "USD/KRW move", "unhedged coin x premium", "slippage cost", "Best trade % of profit",
                  "Annual % w/o best trade"):
        assert label in out
    assert chart.stat().st_size > 10_000


def test_compute_includes_anatomy_of_every_trade() -> None:
    oc = owner(fee=0.0005, slip=0.02, funding=0.0001)
    ds = fx_move_dataset()
    run = run_strategy(ds, oc.strategy, "zscore", market_model(oc))
    m = compute(run, oc.strategy.initial_capital_krw)
    assert m["anatomy"]["trades"] == m["trades"] == 1
    assert m["anatomy"]["usdkrw_krw"] == round(run.trades[0].usdkrw_krw)
