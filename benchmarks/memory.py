"""Memory: RSS of the full bot over a long run — both chat front ends, 3 symbols, websocket feeds.

A server process runs the simulated exchanges (moving market), the fake Telegram Bot API and the
fake Discord webhook; `kimpbot run` (paper, auto trading) is pointed at all of them and its RSS is
sampled once a second. Prints the steady-state mean (second half), the max, and the slope of a
least-squares line through the second half (MB per hour: flat means no leak).

    .venv/bin/python benchmarks/memory.py [--seconds 600]

Target (issue 6): <= 160 MB steady and flat.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


async def serve() -> None:
    """Child mode: all fakes in one process; prints KEY=VALUE lines, then runs until killed."""
    from kimpbot.sim.discord import FakeDiscord
    from kimpbot.sim.market import SimMarket
    from kimpbot.sim.servers import SimServers
    from kimpbot.sim.telegram import FakeTelegram

    market = SimMarket(seed=11)
    market.speed = 60.0
    sim = SimServers(market)
    tg = FakeTelegram()
    dc = FakeDiscord()
    await sim.start()
    await tg.start()
    await dc.start()
    env = sim.env() | {"TELEGRAM_API_URL": tg.base_url, "TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_CHAT_ID": "1001",
                       "TELEGRAM_ALLOWED_USERS": "1001", "DISCORD_API_URL": dc.api_url,
                       "DISCORD_WEBHOOK_URL": dc.webhook_url}
    for k, v in env.items():
        print(f"{k}={v}", flush=True)
    print("READY", flush=True)
    while True:
        await asyncio.sleep(1.0)
        market.step(1.0)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def slope_per_hour(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs) or 1.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den * 3600


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve:
        asyncio.run(serve())
        return
    server = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True)
    env = dict(os.environ)
    try:
        assert server.stdout is not None
        for line in server.stdout:
            if line.strip() == "READY":
                break
            k, v = line.strip().split("=", 1)
            env[k] = v
        with tempfile.TemporaryDirectory() as d:
            env.update({"KIMPBOT_DATA_DIR": d, "KIMPBOT_TRADE_MODE": "auto", "KIMPBOT_MODE": "paper"})
            bot = subprocess.Popen([sys.executable, "-m", "kimpbot", "run", "--no-stdin", "--table-every", "3600",
                                    "--duration", str(a.seconds + 60)], env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
            ts: list[float] = []
            mb: list[float] = []
            t0 = time.monotonic()
            while time.monotonic() - t0 < a.seconds and bot.poll() is None:
                time.sleep(1.0)
                ts.append(time.monotonic() - t0)
                mb.append(rss_mb(bot.pid))
            alive = bot.poll() is None
            bot.terminate()
            bot.wait(20)
    finally:
        server.terminate()
        server.wait(10)
    half = len(mb) // 2
    steady = mb[half:] or mb
    print(f"memory: kimpbot run (paper, auto, 3 symbols, ws feeds, Telegram + Discord) for {ts[-1]:.0f} s"
          + ("" if alive else " (the bot exited early!)"))
    print(f"  RSS steady {sum(steady) / len(steady):.0f} MB, max {max(mb):.0f} MB, "
          f"slope {slope_per_hour(ts[half:], steady):+.1f} MB/h over the second half   (target <= 160 MB, flat)")


if __name__ == "__main__":
    main()
