"""Tick latency: a parsed exchange update -> updated premium (quoted, mid, executable) and z.

Prints p50/p99 microseconds per update over a stream of realistic Upbit orderbook
(15 levels) and Binance depth20 messages for 3 symbols, with a full 20-day z
window (5,760 bars) already warm, then the RSS of a running bot (`kimpbot run`
against `kimpbot sim` in separate processes).

    .venv/bin/python benchmarks/tick.py [--updates 200000] [--no-rss]

Target (issue 2): p99 <= 50 us per update.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time

from _proc import rss_mb

from kimpbot.clock import ManualClock
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.engine import _make_strategy
from kimpbot.events import EventBus
from kimpbot.market.engine import MarketEngine
from kimpbot.models import FxRate, PremiumBar

MIDS = {"BTC": 100_000.0, "ETH": 3_500.0, "XRP": 0.6}


def upbit_msg(sym: str, usd: float, ts: int, rng: random.Random) -> dict:
    krw = usd * 1380 * 1.01
    tick = max(krw * 1e-5, 0.1)
    units = [{"ask_price": krw + tick * (i + 1), "bid_price": krw - tick * (i + 1),
              "ask_size": rng.uniform(0.01, 2) * 1e5 / usd, "bid_size": rng.uniform(0.01, 2) * 1e5 / usd}
             for i in range(15)]
    return {"type": "orderbook", "code": f"KRW-{sym}", "timestamp": ts, "total_ask_size": 1, "total_bid_size": 1,
            "orderbook_units": units, "stream_type": "REALTIME", "level": 0}


def binance_msg(sym: str, usd: float, ts: int, rng: random.Random) -> dict:
    tick = usd * 1e-5
    return {"e": "depthUpdate", "E": ts, "T": ts, "s": f"{sym}USDT", "U": 1, "u": 2, "pu": 0,
            "b": [[f"{usd - tick * (i + 1):.6f}", f"{rng.uniform(0.01, 2) * 1e5 / usd:.4f}"] for i in range(20)],
            "a": [[f"{usd + tick * (i + 1):.6f}", f"{rng.uniform(0.01, 2) * 1e5 / usd:.4f}"] for i in range(20)]}


def bench_ticks(n: int) -> dict:
    owner = load_owner_config(None)
    clock = ManualClock(1_760_000_000_000)
    strategy = _make_strategy(owner)
    eng = MarketEngine(owner, clock, EventBus(), strategy)
    rng = random.Random(1)
    span = owner.strategy.bar_minutes * 60_000
    start = clock.now_ms() - owner.strategy.window_bars * span
    start -= start % span
    for sym in eng.symbols:
        eng.warm_start({sym: [PremiumBar(sym, start + i * span, owner.strategy.bar_minutes, 0, 0, 0,
                                         1.0 + rng.gauss(0, 0.5), 1) for i in range(owner.strategy.window_bars)]})
    eng.on_fx(FxRate("usdkrw", 1380.0, clock.now_ms(), clock.now_ms()))
    raw: list[tuple[str, str]] = []
    for i in range(2000):
        sym = eng.symbols[i % 3]
        usd = MIDS[sym] * (1 + rng.gauss(0, 0.001))
        ts = clock.now_ms() + i
        if i % 2:
            raw.append(("b", json.dumps(binance_msg(sym, usd, ts, rng))))
        else:
            raw.append(("u", json.dumps(upbit_msg(sym, usd, ts, rng))))
    parsed = [(k, json.loads(s)) for k, s in raw]
    for k, m in parsed[:200]:  # prime both books of every symbol
        (eng.on_binance_message if k == "b" else eng.on_upbit_message)(m)
    times = []
    decode = []
    gc.collect()
    gc.disable()
    perf = time.perf_counter_ns
    for i in range(n):
        k, m = parsed[i % len(parsed)]
        clock.advance(0.001)
        m["T" if k == "b" else "timestamp"] = clock.now_ms()
        fn = eng.on_binance_message if k == "b" else eng.on_upbit_message
        t0 = perf()
        fn(m)
        times.append(perf() - t0)
        if i < 20000:
            s = raw[i % len(raw)][1]
            t0 = perf()
            json.loads(s)
            decode.append(perf() - t0)
    gc.enable()
    assert eng.rejected == 0, "benchmark messages must all be accepted"
    assert all(eng.views[s].z_long is not None for s in eng.symbols)
    times.sort()
    decode.sort()

    def pct(xs: list[int], q: float) -> float:
        return xs[min(len(xs) - 1, int(q * len(xs)))] / 1000.0

    return {"updates": n, "p50_us": pct(times, 0.5), "p99_us": pct(times, 0.99), "max_us": times[-1] / 1000,
            "json_decode_p50_us": pct(decode, 0.5), "json_decode_p99_us": pct(decode, 0.99)}




def bench_rss(seconds: float) -> dict:
    """RSS of `kimpbot run` (paper, 3 symbols, websocket feeds) against `kimpbot sim` in another process."""
    env = dict(os.environ)
    sim = subprocess.Popen([sys.executable, "-m", "kimpbot", "sim"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert sim.stdout is not None
        for _ in range(30):
            line = sim.stdout.readline()
            if "=" in line and line.split("=", 1)[0].isupper():
                k, v = line.strip().split("=", 1)
                env[k] = v
            if "BINANCE_API_SECRET" in env and "FX_API_URL" in env and "UPBIT_WS_URL" in env:
                break
        with tempfile.TemporaryDirectory() as d:
            env["KIMPBOT_DATA_DIR"] = d
            bot = subprocess.Popen([sys.executable, "-m", "kimpbot", "run", "--no-stdin", "--table-every", "3600",
                                    "--duration", str(seconds + 30)], env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
            samples = []
            t0 = time.monotonic()
            while time.monotonic() - t0 < seconds and bot.poll() is None:
                time.sleep(1.0)
                samples.append(rss_mb(bot.pid))
            bot.terminate()
            bot.wait(10)
    finally:
        sim.terminate()
        sim.wait(10)
    steady = samples[len(samples) // 2:] or samples
    return {"rss_samples": len(samples), "rss_max_mb": max(samples), "rss_steady_mb": sum(steady) / len(steady)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--updates", type=int, default=200_000)
    ap.add_argument("--rss-seconds", type=float, default=40.0)
    ap.add_argument("--no-rss", action="store_true")
    a = ap.parse_args()
    r = bench_ticks(a.updates)
    print(f"tick: {r['updates']} updates (Upbit 15-level / Binance 20-level books, 3 symbols, 5760-bar window)")
    print(f"  parsed update -> premium + z: p50 {r['p50_us']:.1f} us   p99 {r['p99_us']:.1f} us   "
          f"max {r['max_us']:.0f} us   (target p99 <= 50 us)")
    print(f"  (JSON decode of the frame, not included: p50 {r['json_decode_p50_us']:.1f} us, "
          f"p99 {r['json_decode_p99_us']:.1f} us)")
    if not a.no_rss:
        m = bench_rss(a.rss_seconds)
        print(f"rss: running bot (kimpbot run vs kimpbot sim, 3 symbols, ws feeds): steady {m['rss_steady_mb']:.0f} MB, "
              f"max {m['rss_max_mb']:.0f} MB over {m['rss_samples']} s")


if __name__ == "__main__":
    main()
