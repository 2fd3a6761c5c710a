"""Child process of the crash test: paper pair trades in a loop, resuming after each SIGKILL.

    python crash_child.py DATA_DIR PROGRESS_FILE N_TRADES

Each start runs the trader's restart reconciliation first (finishing or unwinding what the
last kill interrupted), then alternates entries and exits until N trades are complete. A
trade id is appended to PROGRESS_FILE only after the executor returned, so every id there
must be found in the store afterwards.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
from decimal import Decimal

from kimpbot.clock import SystemClock
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.events import EventBus
from kimpbot.execution.executor import ExecConfig
from kimpbot.execution.paper import PaperVenue
from kimpbot.execution.trader import Trader, signal_prices
from kimpbot.market.engine import MarketEngine
from kimpbot.models import Direction, FxRate
from kimpbot.store import Store
from kimpbot.strategy.base import Signal

FINAL = ("filled", "partial", "rolled_back", "failed", "exposed")


def feed(eng: MarketEngine, clock: SystemClock, rng: random.Random) -> None:
    now = clock.now_ms()
    usd = 100_000 * (1 + rng.uniform(-0.001, 0.001))
    krw = usd * 1380 * 1.012
    units = [{"ask_price": round(krw + 1000 * (i + 1), -3), "bid_price": round(krw - 1000 * (i + 1), -3),
              "ask_size": 0.5, "bid_size": 0.5} for i in range(15)]
    eng.on_upbit_message({"type": "orderbook", "code": "KRW-BTC", "timestamp": now, "orderbook_units": units})
    eng.on_binance_message({"e": "depthUpdate", "E": now, "T": now, "s": "BTCUSDT",
                            "b": [[f"{usd - 0.1 * (i + 1):.1f}", "2"] for i in range(20)],
                            "a": [[f"{usd + 0.1 * (i + 1):.1f}", "2"] for i in range(20)]})
    eng.on_fx(FxRate("usdkrw", 1380.0, now, now))


async def main(data_dir: str, progress: str, n: int) -> None:
    clock = SystemClock()
    rng = random.Random(os.getpid())
    owner = load_owner_config(None, "strategy = 'zscore'\nsymbols = ['BTC']\n")
    bus = EventBus()
    eng = MarketEngine(owner, clock, bus)
    feed(eng, clock, rng)
    store = Store(data_dir, "paper", clock=clock)
    up = PaperVenue("upbit", eng, store, clock, Decimal("0.0005"), quote_balance=Decimal(10**10))
    bn = PaperVenue("binance", eng, store, clock, Decimal("0.0005"), quote_balance=Decimal(10**7))
    # the paper venue answers at once: a short grace keeps restarts quick
    trader = Trader(owner, eng, None, store, bus, clock, up, bn, live=False, trade_mode="auto",
                    exec_cfg=ExecConfig(unknown_grace_s=0.5))
    await trader.start()
    print("READY", flush=True)
    while True:
        done = [t for t in store.trades() if t.get("status") in FINAL]
        if len(done) >= n:
            break
        feed(eng, clock, rng)
        snap = eng.views["BTC"].snapshot
        assert snap is not None
        positions = trader.positions()
        if positions:
            pos = positions[0]
            sig = Signal("BTC", pos.direction, "exit", pos.entry_notional_krw, 0.0, snap.exec_short, pos.tier,
                         0.4, "crash test exit", snap.ts, pos.id, "zscore")
        else:
            pos = None
            sig = Signal("BTC", Direction.LONG_PREMIUM, "enter", 2_000_000.0, -2.5, snap.exec_long, "base", 0.4,
                         "crash test entry", snap.ts, None, "zscore")
        up_p, bn_p = signal_prices(sig, snap)
        assert trader.executor is not None
        out = await trader.executor.execute(sig, upbit_price=up_p, binance_price=bn_p, fx=snap.fx_rate,
                                            position=pos)
        with open(progress, "a") as f:
            f.write(f"{out.trade_id} {out.status}\n")
            f.flush()
            os.fsync(f.fileno())
        await asyncio.sleep(0.02)  # leave the parent room to kill us mid-trade
    store.close()
    print("DONE", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
