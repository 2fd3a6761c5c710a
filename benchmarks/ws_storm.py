"""Benchmark: websocket reconnects per minute during a drop storm, with the production defaults.

    python benchmarks/ws_storm.py                  # 180 s, both venues at once
    python benchmarks/ws_storm.py --seconds 60

The simulated exchanges get a ``storm`` fault (every connection is accepted, its subscription
acknowledged by Binance, then closed before any market data). The real ``UpbitFeed`` and
``BinanceFeed`` run against them with the bot's defaults (back-off 0.25 s doubling to 30 s,
connection budget 0.2 of the documented limits). Prints the connections the fakes counted per
venue: in the first minute, per minute after it, and the largest count in any 60 s window, next
to the venue's documented limits (Upbit 100 per minute, Binance 300 per 5 minutes = 60 per minute
on average).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kimpbot.clock import SystemClock  # noqa: E402
from kimpbot.market.feeds import BinanceFeed, UpbitFeed  # noqa: E402
from kimpbot.sim.market import SimMarket  # noqa: E402
from kimpbot.sim.servers import SimServers  # noqa: E402


def max_in_window(times: list[float], window: float) -> int:
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] < t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


async def main(seconds: float) -> None:
    logging.basicConfig(level=logging.ERROR)
    async with SimServers(SimMarket(seed=1), push_interval_s=0.1) as sim:
        for venue in ("upbit", "binance"):
            sim.market.faults.inject(venue, "ws", "storm", count=10**9)
        env = sim.env()
        async with aiohttp.ClientSession() as session:
            feeds = [UpbitFeed(env["UPBIT_WS_URL"], session, lambda m: None, SystemClock(), ["BTC"]),
                     BinanceFeed(env["BINANCE_FUTURES_WS_URL"], session, lambda m: None, SystemClock(), ["BTC"])]
            t0 = asyncio.get_running_loop().time()
            for f in feeds:
                f.start()
            await asyncio.sleep(seconds)
            for f in feeds:
                f.idle_timeout_s = 0.05
                await f.stop()
        for venue, limit in (("upbit", "100 per minute (5 per second)"), ("binance", "300 per 5 minutes")):
            times = [t - t0 for t in sim.ws_connects[venue]]
            first = sum(1 for t in times if t < 60)
            later = [t for t in times if t >= 60]
            per_min = len(later) / ((seconds - 60) / 60) if seconds > 60 else float("nan")
            print(f"{venue:8s} {len(times):4d} connections in {seconds:g} s: first minute {first}, "
                  f"after it {per_min:.1f}/min, most in any 60 s {max_in_window(times, 60.0)}, "
                  f"in any 300 s {max_in_window(times, 300.0)}; documented limit {limit}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=180.0)
    asyncio.run(main(ap.parse_args().seconds))
