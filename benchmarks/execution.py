"""Execution latency: from a signal to both orders received by the local fake exchanges.

The simulated exchanges run in their own process (`kimpbot sim`), so the bot's event loop
is not shared with the servers; each fake stamps an order's arrival with time.monotonic(),
which is the same clock across processes on Linux. The bot side is the real executor with
the live adapters (pyupbit in a thread for Upbit, ccxt for Binance), journaling both
intents to the crash-safe store before sending.

    .venv/bin/python benchmarks/execution.py [--trades 200]

Targets (issue 4): p50 <= 20 ms from signal to both orders received; leg skew p99 <= 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from pathlib import Path

from kimpbot.clock import SystemClock
from kimpbot.events import EventBus
from kimpbot.exchanges.binance_trading import BinanceTrading
from kimpbot.exchanges.upbit_trading import UpbitTrading
from kimpbot.execution.executor import ExecConfig, Executor
from kimpbot.models import Direction
from kimpbot.store import Store
from kimpbot.strategy.base import Signal


def start_sim() -> tuple[subprocess.Popen, dict[str, str]]:
    proc = subprocess.Popen([sys.executable, "-m", "kimpbot", "sim", "--sim-step", "3600"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    env: dict[str, str] = {}
    assert proc.stdout is not None
    while not {"UPBIT_API_URL", "BINANCE_API_SECRET", "UPBIT_SECRET_KEY"} <= set(env):
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("kimpbot sim exited")
        if "=" in line and line.split("=", 1)[0].isupper():
            k, v = line.strip().split("=", 1)
            env[k] = v
    return proc, env


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def run(n: int, env: dict[str, str]) -> dict[str, float]:
    clock = SystemClock()
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d), "live", clock=clock)
        up = UpbitTrading(env["UPBIT_API_URL"], env["UPBIT_ACCESS_KEY"], env["UPBIT_SECRET_KEY"], clock)
        bn = BinanceTrading(env["BINANCE_FUTURES_API_URL"], env["BINANCE_API_KEY"], env["BINANCE_API_SECRET"], clock)
        syms = ["BTC"]
        rules = {("upbit", "BTC"): (await up.load_rules(syms))["BTC"],
                 ("binance", "BTC"): (await bn.load_rules(syms))["BTC"]}
        await up.balances()
        await bn.balances()  # warm connections
        ex = Executor(up, bn, store, EventBus(), clock, rules, ExecConfig())
        state = json.loads(urllib.request.urlopen(env["UPBIT_API_URL"] + "/_sim/state").read())
        starts: dict[str, float] = {}
        for i in range(n):
            positions = ex.positions()
            if positions:
                p = positions[0]
                s = Signal("BTC", p.direction, "exit", p.entry_notional_krw, 0.0, 0.0, "base", 0.4, "bench", 0,
                           p.id, "zscore")
            else:
                p = None
                s = Signal("BTC", Direction.LONG_PREMIUM, "enter", 2_000_000.0, -2.5, 1.0, "base", 0.4, "bench", 0,
                           None, "zscore")
            t0 = time.monotonic()
            out = await ex.execute(s, upbit_price=_px(state, "upbit"), binance_price=_px(state, "binance"),
                                   fx=1380.0, position=p)
            starts[out.trade_id] = t0
        orders = json.loads(urllib.request.urlopen(env["UPBIT_API_URL"] + "/_sim/orders").read())
        await up.close()
        await bn.close()
        store.close()
    first: dict[str, dict[str, float]] = {}
    for o in orders:
        cid = o.get("client_id") or ""
        if o.get("method") != "POST" or not cid.endswith(("-U-0", "-B-0")):
            continue
        tid = cid.rsplit("-", 2)[0]
        first.setdefault(tid, {})[cid.rsplit("-", 2)[1]] = o["received_at"]
    lat, skew = [], []
    for tid, legs in first.items():
        if tid in starts and {"U", "B"} <= set(legs):
            lat.append((max(legs.values()) - starts[tid]) * 1000)
            skew.append(abs(legs["U"] - legs["B"]) * 1000)
    return {"n": len(lat), "p50": statistics.median(lat), "p99": pct(lat, 0.99), "skew_p50": statistics.median(skew),
            "skew_p99": pct(skew, 0.99)}


def _px(state: dict, venue: str) -> float:
    """A price hint from the sim's state (any recent mid works: market orders walk the book)."""
    sym = state.get("symbols", {}).get("BTC") or state.get("BTC") or {}
    for key in (f"{venue}_mid", venue):
        if isinstance(sym.get(key), (int, float)):
            return float(sym[key])
    return 140_000_000.0 if venue == "upbit" else 100_000.0


def main() -> None:
    warnings.filterwarnings("ignore", message="The HMAC key")  # the fakes' short test keys
    ap = argparse.ArgumentParser()
    ap.add_argument("--trades", type=int, default=200)
    a = ap.parse_args()
    proc, env = start_sim()
    try:
        r = asyncio.run(run(a.trades, env))
    finally:
        proc.terminate()
        proc.wait(10)
    print(f"execution: {r['n']} pair trades (entries and exits alternating), live adapters -> fakes in another process")
    print(f"  signal -> both orders received: p50 {r['p50']:.1f} ms   p99 {r['p99']:.1f} ms   (target p50 <= 20 ms)")
    print(f"  leg skew (Upbit vs Binance arrival): p50 {r['skew_p50']:.2f} ms   p99 {r['skew_p99']:.2f} ms   "
          f"(target p99 <= 5 ms)")


if __name__ == "__main__":
    main()
