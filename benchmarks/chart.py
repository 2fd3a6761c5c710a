"""Benchmark: ``/chart`` as the owner sees it, and what it costs the bot's memory.

The simulated exchanges, the fake Telegram Bot API and the real bot with its real
python-telegram-bot front run in this process (paper mode, the owner's 20-day window warmed up
from the sims' candle history). The owner sends ``/chart`` five times (1d, 7d, 20d, 1d, 7d);
printed per chart: the time from the command to the PNG arriving at the fake Telegram, and the
PNG's size. Printed around them: this process's RSS before the first chart, after the fifth, and
after the drawing process has exited (idle), plus the drawing process's own peak RSS.

    .venv/bin/python benchmarks/chart.py                 # drawing in the child process (the product)
    .venv/bin/python benchmarks/chart.py --in-process    # for comparison: matplotlib in the bot (old way)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

OWNER = 42
PERIODS = ("1d", "7d", "20d", "1d", "7d")
STRATEGY = """
[fx]
poll_seconds = 1
"""


def rss_mb(pid: int | str = "self") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class PeakWatcher:
    """Samples the drawing process's RSS every 20 ms (it lives only while charts are asked for)."""

    def __init__(self, worker) -> None:
        self.worker, self.peak, self._stop = worker, 0.0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            pid = self.worker.pid
            if pid:
                r = rss_mb(pid)
                if r == r:
                    self.peak = max(self.peak, r)

    def stop(self) -> None:
        self._stop.set()
        self._t.join()


async def main(in_process: bool, idle_s: float) -> None:
    from kimpbot.config import load_owner_config, load_settings
    from kimpbot.control import charts
    from kimpbot.control.commands import CommandCore
    from kimpbot.control.telegram import TelegramFront
    from kimpbot.engine import Bot
    from kimpbot.sim.market import SimMarket
    from kimpbot.sim.servers import SimServers
    from kimpbot.sim.telegram import FakeTelegram

    if in_process:
        class InProcess(charts.ChartWorker):
            def draw(self, req):  # the old way: matplotlib imported into the bot itself
                from kimpbot.control.chart_draw import draw_premium
                png, self.last = draw_premium(req)
                return png, self.last
        charts.WORKER = InProcess()
    charts.WORKER.idle_s = idle_s
    tmp = Path(tempfile.mkdtemp(prefix="kimpbot-chart-bench-"))
    sf = tmp / "strategy.toml"
    sf.write_text(STRATEGY)
    sim = SimServers(SimMarket(seed=5), push_interval_s=0.2)
    tg = FakeTelegram("7654321:bench-token")
    await sim.start()
    await tg.start()
    env = sim.env() | {"KIMPBOT_STRATEGY_FILE": str(sf), "KIMPBOT_DATA_DIR": str(tmp / "data"),
                       "TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_API_URL": tg.base_url,
                       "TELEGRAM_CHAT_ID": str(OWNER), "TELEGRAM_ALLOWED_USERS": str(OWNER)}
    bot = Bot(load_settings(env), load_owner_config(sf))
    core = CommandCore(bot)
    front = TelegramFront(bot, core, poll_timeout=2, backoff_s=0.05)
    front.attach()
    await front.start()
    t0 = time.perf_counter()
    await bot.start()
    try:
        from testkit import wait_until

        assert await wait_until(lambda: bot.market.views["BTC"].snapshot is not None, timeout=120)
        print(f"bot up with {bot.strategy.stats('BTC').count} BTC bars in the z window "
              f"({time.perf_counter() - t0:.1f} s)")
        await asyncio.sleep(2.0)   # let start-up settle before the first reading
        before = rss_mb()
        print(f"bot RSS before any chart: {before:.1f} MB"
              + (" (drawing in this process)" if in_process else " (drawing in a child process)"))
        watch = PeakWatcher(charts.WORKER)
        for period in PERIODS:
            since = len(tg.sent)
            t = time.perf_counter()
            tg.send_command(OWNER, OWNER, f"/chart BTC {period}")
            r = await tg.wait_for(lambda x: x["method"] in ("sendPhoto", "sendMessage") and x.get("chat_id") == OWNER,
                                  timeout=120, since=since)
            dt = time.perf_counter() - t
            size = len(r.get("photo_bytes") or b"")
            first = (r.get("caption") or r.get("text") or "").splitlines()[0]
            print(f"/chart BTC {period:>3}: answered in {dt:5.2f} s, PNG {size / 1024:5.1f} KB, "
                  f"of which drawing {charts.WORKER.last.get('draw_s', float('nan')):4.2f} s; bot RSS {rss_mb():6.1f} MB"
                  f"  [{first}]")
        after = rss_mb()
        print(f"bot RSS after 5 charts: {after:.1f} MB ({after - before:+.1f} MB)")
        if not in_process:
            print(f"drawing process peak RSS: {watch.peak:.1f} MB (its own process, started "
                  f"{charts.WORKER.started} time(s))")
            assert await wait_until(lambda: charts.WORKER.pid is None, timeout=idle_s + 30)
            print(f"drawing process exited after {idle_s:g} s idle; bot RSS then: {rss_mb():.1f} MB")
        watch.stop()
    finally:
        await front.stop()
        await bot.stop()
        await tg.stop()
        await sim.stop()
        charts.WORKER.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--in-process", action="store_true", help="draw in the bot process (the old way), to compare")
    ap.add_argument("--idle-s", type=float, default=5.0,
                    help="the drawing process's idle time before it exits (product default 30 s)")
    a = ap.parse_args()
    asyncio.run(main(a.in_process, a.idle_s))
