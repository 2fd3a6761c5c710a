"""Dashboard: premium change in the sim -> new value in the browser's DOM, and the bot's RSS with
five dashboard clients connected against none.

This process runs the simulated exchanges (moving market) and the fake Telegram Bot API;
`kimpbot run` (paper, confirm mode, its HTTP server on a free port) is a child process pointed at
them, so its RSS is the bot's alone. Then:

1. RSS of the bot, sampled once a second for ``--seconds`` with no dashboard client;
2. five headless Chromium pages (Debian's chromium via Playwright), each logged in through its own
   one-time link from ``/dashboard`` in the fake Telegram, connected for another ``--seconds``;
3. 50 premium changes (``SimMarket.set_premium``, 1 s apart): the time until the first page's DOM
   shows the new value (``page.wait_for_function``), p50 / p99.

    .venv/bin/python benchmarks/dashboard.py [--seconds 300] [--changes 50]

Targets (issue 12): p99 <= 1 s; RSS with 5 clients <= +15 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _paths  # noqa: F401  (the checkout's kimpbot; the fake chat servers from tests/)
from _proc import rss_mb  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OWNER = 1001
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]




def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def sample(pid: int, seconds: float, label: str) -> list[float]:
    out = []
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        out.append(rss_mb(pid))
        await asyncio.sleep(1.0)
    half = out[len(out) // 2:]
    print(f"{label}: RSS mean of the second half {statistics.mean(half):.1f} MB, max {max(out):.1f} MB "
          f"({len(out)} samples)", flush=True)
    return half


async def main(a: argparse.Namespace) -> int:
    from playwright.async_api import async_playwright

    from kimpbot.sim.market import SimMarket
    from kimpbot.sim.servers import SimServers
    from fakes.telegram import FakeTelegram

    market = SimMarket(seed=11)
    sim = SimServers(market, push_interval_s=0.1)  # Binance depth@100ms cadence
    tg = FakeTelegram()
    await sim.start()
    await tg.start()
    tmp = Path(tempfile.mkdtemp(prefix="kimpbot-dash-"))
    port = free_port()
    env = dict(os.environ) | sim.env() | {
        "TELEGRAM_API_URL": tg.base_url, "TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_CHAT_ID": str(OWNER),
        "TELEGRAM_ALLOWED_USERS": str(OWNER), "KIMPBOT_HTTP_PORT": str(port), "KIMPBOT_DATA_DIR": str(tmp),
        "KIMPBOT_STRATEGY_FILE": str(REPO / "strategy.toml"), "KIMPBOT_TRADE_MODE": "confirm"}
    env.pop("DISCORD_WEBHOOK_URL", None)
    env.pop("DISCORD_BOT_TOKEN", None)
    bot_log = open(tmp / "bot.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "kimpbot", "run", "--no-stdin", "--table-every", "3600"],
                            env=env, cwd=tmp, stdout=bot_log, stderr=subprocess.STDOUT)
    pw = browser = None
    try:
        import aiohttp

        async with aiohttp.ClientSession() as s:
            for _ in range(600):
                try:
                    async with s.get(f"http://127.0.0.1:{port}/health") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if proc.poll() is not None:
                    print("kimpbot run exited", proc.returncode)
                    return 1
                await asyncio.sleep(0.5)
        mover_stop = asyncio.Event()

        async def mover() -> None:  # the market keeps moving in both phases
            while not mover_stop.is_set():
                market.step(1.0)
                await asyncio.sleep(1.0)

        mv = asyncio.create_task(mover())
        base = await sample(proc.pid, a.seconds, "without dashboard clients")

        pw = await async_playwright().start()
        browser = await pw.chromium.launch(executable_path=a.chromium, headless=True, args=ARGS)
        pages = []
        for i in range(a.clients):
            since = len(tg.sent)
            tg.send_command(OWNER, OWNER, "/dashboard")
            try:
                rec = await tg.wait_for(lambda r: "/login?token=" in (r.get("text") or ""), since=since, timeout=30)
            except TimeoutError:
                print(f"no login link; bot alive: {proc.poll() is None}; log tail:\n"
                      + (tmp / "bot.log").read_text()[-3000:], flush=True)
                raise
            url = re.search(r"(http://\S+/login\?token=\S+)", rec["text"]).group(1)  # type: ignore[union-attr]
            ctx = await browser.new_context(viewport={"width": 390, "height": 844})
            page = await ctx.new_page()
            await page.goto(url)
            await page.click("#login")
            await page.wait_for_selector('.coin[data-coin="BTC"]', timeout=30000)
            pages.append(page)
        print(f"{len(pages)} dashboard pages logged in and streaming", flush=True)
        with_clients = await sample(proc.pid, a.seconds, f"with {len(pages)} dashboard clients")
        d = statistics.mean(with_clients) - statistics.mean(base)
        print(f"RSS difference: {d:+.1f} MB (target <= +15 MB)", flush=True)

        mover_stop.set()
        await mv
        from playwright.async_api import TimeoutError as PwTimeout

        lat = []
        missed = []
        page = pages[0]
        for i in range(a.changes):
            target = round(0.5 + (i % 10) * 0.37 + (i // 10) * 0.05, 2)
            t0 = time.perf_counter()
            market.set_premium("BTC", target)
            try:
                await page.wait_for_function(
                    "(v) => { const t = document.querySelector('.coin[data-coin=\"BTC\"] .quoted').textContent;"
                    " return Math.abs(parseFloat(t) - v) < 0.015; }", arg=target, timeout=30000, polling="raf")
            except PwTimeout:
                shown = await page.text_content('.coin[data-coin="BTC"]')
                missed.append(target)
                print(f"change to {target:+.2f}% not shown within 30 s; the page shows: {shown!r}", flush=True)
                continue
            lat.append(time.perf_counter() - t0)
            await asyncio.sleep(1.0)
        if missed:
            print(f"{len(missed)} of {a.changes} changes never reached the page", flush=True)
        lat.sort()
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, int(round(0.99 * (len(lat) - 1))))]
        print(f"premium change -> browser DOM over {len(lat)} changes: p50 {p50 * 1000:.0f} ms, "
              f"p99 {p99 * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms (target p99 <= 1000 ms); slowest: "
              + ", ".join(f"{x * 1000:.0f}" for x in lat[-5:][::-1]) + " ms; load average "
              + " ".join(f"{x:.1f}" for x in os.getloadavg()), flush=True)
        return 0
    finally:
        if browser is not None:
            await browser.close()
        if pw is not None:
            await pw.stop()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        await tg.stop()
        await sim.stop()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=300.0, help="length of each RSS phase (default 300)")
    p.add_argument("--changes", type=int, default=50)
    p.add_argument("--clients", type=int, default=5)
    p.add_argument("--chromium", default="/usr/bin/chromium")
    raise SystemExit(asyncio.run(main(p.parse_args())))
