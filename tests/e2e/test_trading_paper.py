"""The whole bot in paper auto mode over the sims: a premium dislocation opens a hedged pair,
its reversion closes it, fills and P&L are published and stored; a restart finds it all."""

from __future__ import annotations


from kimpbot.config import load_settings
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.engine import Bot
from kimpbot.models import Direction
from kimpbot.store import Store
from testkit import wait_until




async def test_paper_round_trip(sim, strategy_file, tmp_path):
    env = sim.env() | {"KIMPBOT_DATA_DIR": str(tmp_path / "data"), "KIMPBOT_TRADE_MODE": "auto"}
    bot = Bot(load_settings(env), load_owner_config(strategy_file))
    await bot.start()
    try:
        assert bot.trader is not None and bot.store is not None
        m = bot.market
        assert await wait_until(lambda: m.signals_allowed("BTC"), timeout=15.0)
        assert bot.trader.positions() == []
        sim.market.set_premium("BTC", -3.0)  # far below the warm window: z << -2
        assert await wait_until(lambda: len(bot.trader.positions()) == 1, timeout=15.0)
        (pos,) = bot.trader.positions()
        assert pos.symbol == "BTC" and pos.direction is Direction.LONG_PREMIUM
        assert pos.entry_premium_pct < -2.5
        assert abs(pos.upbit_qty - pos.binance_qty) < 0.001  # hedged to Binance's step
        kinds = [e.kind for e in bot.bus.history]
        assert "fill" in kinds and "trade" in kinds
        sim.market.set_premium("BTC", 1.5)  # reverts: profit far above the 0.8 % target
        assert await wait_until(lambda: not [p for p in bot.trader.positions() if p.symbol == "BTC"],
                                timeout=15.0)
        closed = bot.store.positions(status="closed")
        assert closed and closed[0]["realized_krw"] > 0
        exit_msgs = [e.message for e in bot.bus.history if e.kind == "trade" and "exit closed" in e.message]
        assert exit_msgs and "realized +" in exit_msgs[-1]
        # flat again on the paper ledger itself (the trader's cached balances refresh after the
        # position is booked, so reading them at once raced the refresh on a loaded machine)
        ub = await bot.trader.upbit.balances()
        assert ub.coins.get("BTC", 0) == 0
    finally:
        await bot.stop()
    # a restart reloads the same paper store and reconciles cleanly
    store = Store(tmp_path / "data", "paper")
    try:
        assert store.journal_open() == []
        assert len(store.trades()) >= 2
        assert not [t for t in store.trades() if t["status"] in ("sending", "exposed")]
    finally:
        store.close()
