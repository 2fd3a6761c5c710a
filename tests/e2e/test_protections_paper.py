"""Issue 10 §3 end to end: the whole bot in paper auto mode over the simulated exchanges. A stop
loss closes a position at a loss; the protections trip (consecutive-loss limit: a halt, persisted,
one critical alert naming rule, value and limit; the cooldown for that coin: one alert), the still
extreme premium is refused instead of churning round trips, and /resume lifts it all."""

from __future__ import annotations

from kimpbot.config import load_settings
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.control.commands import CommandCore
from kimpbot.engine import Bot
from testkit import SHORT_WINDOW, wait_until

STRATEGY = SHORT_WINDOW + """
[exits]
stop_loss_pct = 0.5
[protections]
max_consecutive_losses = 1
[risk]
emergency_move_pct = 20  # the scripted -3 % -> -4.5 % path moves Upbit ~6 %: not the rule under test
"""


async def test_a_losing_exit_trips_halts_alerts_once_and_resume_lifts_it(sim, tmp_path):
    sf = tmp_path / "strategy.toml"
    sf.write_text(STRATEGY)
    env = sim.env() | {"KIMPBOT_DATA_DIR": str(tmp_path / "data"), "KIMPBOT_TRADE_MODE": "auto"}
    bot = Bot(load_settings(env), load_owner_config(sf))
    core = CommandCore(bot)
    await bot.start()
    try:
        t, store = bot.trader, bot.store
        assert t is not None and store is not None
        assert await wait_until(lambda: bot.market.signals_allowed("BTC"), timeout=15.0)
        sim.market.set_premium("BTC", -3.0)  # z << -2: a long-premium entry
        assert await wait_until(lambda: len(t.positions()) == 1, timeout=15.0)
        sim.market.set_premium("BTC", -4.5)  # the premium falls further: net loss > 0.5 %: stop loss
        assert await wait_until(lambda: store.positions(status="closed"), timeout=15.0)
        (closed,) = store.positions(status="closed")
        assert closed["realized_krw"] < 0
        assert await wait_until(lambda: t.risk.halted, timeout=10.0)
        hs = store.halt_state()
        assert hs.by == "protections" and "consecutive losses" in hs.reason
        # the premium is still extreme: the entry it signals is refused, not churned
        assert await wait_until(lambda: "protection" in t.state.last_refusal.get("BTC:enter", "")
                                or "halted" in t.state.last_refusal.get("BTC:enter", ""), timeout=10.0)
        assert t.positions() == [] and len(store.positions()) == 1
        halts = [e for e in bot.bus.history if e.kind == "halt" and e.level == "critical"]
        assert len(halts) == 1
        assert "consecutive losses: 1 exits in a row at a loss, limit protections.max_consecutive_losses = 1" \
            in halts[0].message
        cools = [e for e in bot.bus.history if e.kind == "protection"]
        assert len(cools) == 1 and "protections.loss_cooldown_minutes = 30 min" in cools[0].message
        # /trades with a digit int() cannot read answers, instead of failing
        r = await core.cmd_trades("owner", ["²"])
        assert "takes a number of trades" in r.text
        r = await core.cmd_resume("owner", [])
        assert "Halt lifted" in r.text and not t.risk.halted
        # entries flow again (the cooldown is lifted too); the next signal opens a pair
        assert await wait_until(lambda: len(t.positions()) == 1, timeout=15.0)
        assert len([e for e in bot.bus.history if e.kind == "halt" and e.level == "critical"]) == 1
    finally:
        await bot.stop()
