"""Memory: RSS of `kimpbot run` as a live owner runs it, sampled once a second.

The configuration (issue 14): LIVE mode (KIMPBOT_MODE=live) against the simulated exchanges with
their test keys (a moving market), the real python-telegram-bot front on the fake Telegram Bot
API, the real discord.py bot logged in on the fake Discord gateway plus the Discord webhook, and
the dashboard with one client following its live stream (logged in through a /dashboard link, as
the owner would). Early on the owner sends `/chart BTC` and `/stats` through the fake Telegram.

Prints RSS right after start, after the first /chart, after /stats, with the dashboard client;
then, over the run proper (``--seconds`` once all of that is up), the steady-state mean of its
second half, the max (of everything), and the slope of a least-squares line through the second
half (MB per hour: flat means no leak). The set-up takes a minute or two on a loaded machine.

    .venv/bin/python benchmarks/memory.py [--seconds 1800]

Target (issue 14): <= 200 MB steady and flat over 30 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import socket
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

import _paths  # noqa: F401  (the checkout's kimpbot; the fake chat servers from tests/)
from _proc import rss_mb  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OWNER = 1001
D_OWNER = "111111111111111111"




def slope_per_hour(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    if n < 2:
        return float("nan")
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs) or 1.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den * 3600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def follow_stream(url: str, counts: dict[str, int]) -> None:
    """One dashboard client: log in with the link, then read the live stream until cancelled."""
    base = url.split("/login", 1)[0]
    token = url.split("token=", 1)[1]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(url) as r:
            assert r.status == 200, f"login page: HTTP {r.status}"
        async with http.post(f"{base}/login", data={"token": token}) as r:
            assert r.status == 200 and str(r.url).rstrip("/") == base, f"login: HTTP {r.status} {r.url}"
        while True:
            async with http.ws_connect(f"{base}/ws") as ws:
                counts["connects"] += 1
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.TEXT:
                        counts["messages"] += 1
                    else:
                        break
            await asyncio.sleep(1.0)  # the stream ended (a restart of the server?): follow it again


async def run(seconds: float) -> None:
    from fakes.discord import FakeDiscord
    from kimpbot.sim.market import SimMarket
    from kimpbot.sim.servers import SimServers
    from fakes.telegram import FakeTelegram

    market = SimMarket(seed=11)
    market.speed = 60.0
    sim = SimServers(market)
    tg = FakeTelegram()
    dc = FakeDiscord()
    await sim.start()
    await tg.start()
    await dc.start()
    port = free_port()
    data = tempfile.TemporaryDirectory()
    env = dict(os.environ) | sim.env() | {
        "KIMPBOT_MODE": "live", "KIMPBOT_TRADE_MODE": "auto", "KIMPBOT_DATA_DIR": data.name,
        "KIMPBOT_STRATEGY_FILE": str(REPO / "strategy.toml"), "KIMPBOT_HTTP_PORT": str(port),
        "TELEGRAM_API_URL": tg.base_url, "TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_CHAT_ID": str(OWNER),
        "TELEGRAM_ALLOWED_USERS": str(OWNER), "DISCORD_API_URL": dc.api_url, "DISCORD_WEBHOOK_URL": dc.webhook_url,
        "DISCORD_BOT_TOKEN": dc.bot_token, "DISCORD_CHANNEL_ID": dc.channel_id, "DISCORD_ALLOWED_USERS": D_OWNER}
    log = open(Path(data.name).parent / f"kimpbot-memory-{os.getpid()}.log", "w")
    bot = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kimpbot", "run", "--no-stdin", "--table-every", "3600", "--duration",
        str(seconds + 600), env=env, stdout=log, stderr=log, cwd=data.name)
    ts: list[float] = []
    mb: list[float] = []
    marks: dict[str, float] = {}
    t0 = time.monotonic()

    async def sample() -> None:
        while True:
            await asyncio.sleep(1.0)
            ts.append(time.monotonic() - t0)
            mb.append(rss_mb(bot.pid))
            market.step(1.0)

    async def command(text: str, timeout: float = 120.0) -> dict:
        since = len(tg.sent)
        tg.send_command(OWNER, OWNER, text)
        return await tg.wait_for(lambda r: r.get("chat_id") == OWNER and (
            r["method"] == "sendPhoto" or (r["method"] == "sendMessage" and r.get("reply_to_message_id"))),
            timeout=timeout, since=since)

    async def wait(cond, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            if bot.returncode is not None or time.monotonic() > deadline:
                raise SystemExit(f"memory: {what} did not happen (bot exit {bot.returncode}); see {log.name}")
            await asyncio.sleep(0.5)

    counts = {"connects": 0, "messages": 0}
    sampler = asyncio.create_task(sample())
    stream: asyncio.Task | None = None
    k0 = 0
    try:
        # started: Telegram polls, the Discord bot identified on the gateway, then the HTTP server answers
        await wait(lambda: any(m == "getUpdates" for m, _ in tg.requests) and len(dc.identifies) >= 1,
                   300, "start (Telegram polling and Discord gateway login)")
        up = {"http": False}

        async def health() -> None:  # the HTTP server starts last, after the bot's warm-up
            async with aiohttp.ClientSession() as http:
                while True:
                    with contextlib.suppress(aiohttp.ClientError):
                        async with http.get(f"http://127.0.0.1:{port}/health") as r:
                            if r.status == 200:
                                up["http"] = True
                                return
                    await asyncio.sleep(0.5)

        probe = asyncio.create_task(health())
        try:
            await wait(lambda: up["http"], 300, "start (the HTTP server)")
        finally:
            probe.cancel()
        await asyncio.sleep(5.0)
        marks["start"] = rss_mb(bot.pid)
        await asyncio.sleep(20.0)  # some market history for the chart
        r = await command("/chart BTC")
        marks["chart"] = rss_mb(bot.pid)
        chart_kind = "photo" if r["method"] == "sendPhoto" else f"text: {r.get('text', '')[:60]!r}"
        await command("/stats")
        marks["stats"] = rss_mb(bot.pid)
        r = await command("/dashboard")
        m = re.search(r"http://127\.0\.0\.1:\d+/login\?token=[\w-]+", r.get("text", ""))
        if not m:
            raise SystemExit(f"memory: no login link in the /dashboard reply: {r.get('text')!r}")
        stream = asyncio.create_task(follow_stream(m.group(0), counts))
        await wait(lambda: counts["messages"] >= 2, 60, "dashboard stream")
        marks["dashboard"] = rss_mb(bot.pid)
        k0, t_run = len(mb), time.monotonic()  # the run proper: the whole configuration is up
        while time.monotonic() - t_run < seconds and bot.returncode is None:
            await asyncio.sleep(1.0)
            if stream.done() and stream.exception():
                raise SystemExit(f"memory: the dashboard client failed: {stream.exception()!r}")
    finally:
        alive = bot.returncode is None
        sampler.cancel()
        if stream is not None:
            stream.cancel()
        await asyncio.gather(sampler, *([stream] if stream else []), return_exceptions=True)
        if alive:
            bot.terminate()
            try:
                await asyncio.wait_for(bot.wait(), 30)
            except asyncio.TimeoutError:
                bot.kill()
        await dc.stop()
        await tg.stop()
        await sim.stop()
        log.close()
        data.cleanup()
    run_ts, run_mb = [t for t, x in zip(ts[k0:], mb[k0:]) if x == x], [x for x in mb[k0:] if x == x]
    mb = [x for x in mb if x == x]
    if len(run_mb) < 2:
        raise SystemExit(f"memory: too few samples after the set-up (bot exit {bot.returncode})")
    half = len(run_mb) // 2
    steady, steady_ts = run_mb[half:] or run_mb, run_ts[half:] or run_ts
    load = os.getloadavg()
    print(f"memory: kimpbot run (LIVE on the simulated exchanges, auto, Telegram + Discord bot + webhook, "
          f"dashboard with 1 stream client) for {run_ts[-1] - run_ts[0]:.0f} s after a {run_ts[0]:.0f} s set-up" + ("" if alive else " (the bot exited early!)"))
    print(f"  RSS after start {marks.get('start', 0):.0f} MB, after /chart BTC ({chart_kind}) "
          f"{marks.get('chart', 0):.0f} MB, after /stats {marks.get('stats', 0):.0f} MB, "
          f"with the dashboard client {marks.get('dashboard', 0):.0f} MB")
    print(f"  RSS steady {sum(steady) / len(steady):.0f} MB (mean of the run's second half), max {max(mb):.0f} MB, "
          f"slope {slope_per_hour(steady_ts, steady):+.1f} MB/h over the second half   (target <= 200 MB, flat)")
    print(f"  dashboard stream: {counts['messages']} messages, {counts['connects']} connection(s); "
          f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=1800.0)
    a = ap.parse_args()
    asyncio.run(run(a.seconds))


if __name__ == "__main__":
    main()
