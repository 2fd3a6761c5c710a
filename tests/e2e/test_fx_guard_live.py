"""A wrong FX rate against the whole bot in paper auto mode: the FX fake (dunamu wire shape) and
the Upbit fake (KRW-USDT ticker) serve the fault, the real feed code reads it, the paper trader
decides. No order on a premium that only a suspect rate creates; the suspect source is named; a
closed bank market confirmed by USDT and a genuine move confirmed by both keep trading."""

from __future__ import annotations

from pathlib import Path

import pytest

from kimpbot.config import load_settings
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.control.format import fx_line
from kimpbot.control.http import status_report
from kimpbot.engine import Bot
from testkit import wait_until

BANK, USDT = 1380.0, 1395.0  # the sim's starting rates


async def start(sim, tmp_path: Path, fx: str = "") -> Bot:
    text = f"[zscore]\nwindow_days = 1\n[fx]\npoll_seconds = 1\n{fx}\n[market]\nmax_quote_age_s = 3\n"
    path = tmp_path / "strategy.toml"
    path.write_text(text)
    env = sim.env() | {"KIMPBOT_DATA_DIR": str(tmp_path / "data"), "KIMPBOT_TRADE_MODE": "auto"}
    bot = Bot(load_settings(env), load_owner_config(path))
    await bot.start()
    assert bot.trader is not None
    assert await wait_until(lambda: bot.market.signals_allowed("BTC"), timeout=45.0)
    return bot


async def decided_on(bot: Bot, below_pct: float, for_s: float = 2.5) -> None:
    """Wait until the bot's BTC premium reads below ``below_pct`` and the trader has evaluated
    it for ``for_s`` seconds (an entry would have gone out by then: see the controls)."""
    m = bot.market
    assert await wait_until(lambda: (s := m.views["BTC"].snapshot) is not None and s.mid < below_pct,
                            timeout=15.0)
    t0 = bot.clock.now_ms()
    assert await wait_until(lambda: bot.trader._last_eval.get("BTC", 0) > t0 + for_s * 1000, timeout=15.0)


def btc_open(bot: Bot) -> bool:
    return any(p.symbol == "BTC" for p in bot.trader.positions())


def fx_events(bot: Bot) -> list[str]:
    return [e.message for e in bot.bus.history if e.kind == "fx"]


async def test_persistent_wrong_bank_rate_no_order_and_named(sim, tmp_path):
    # jump_hold_s = 1: the old guard trusted the jumped rate after one second and entered
    bot = await start(sim, tmp_path, "jump_hold_s = 1")
    try:
        m = bot.market
        sim.market.set_usdkrw(BANK * 1.029)  # served wrong and stays wrong; coins are not repriced
        await decided_on(bot, -1.5)  # fakes a -1.85 % premium (z << -2)
        assert bot.trader.positions() == []
        assert m.fx.suspect == "usdkrw"
        (p,) = m.global_problems()
        assert p.startswith("FX bank USD/KRW suspect: +2.90% since confirmed, Upbit KRW-USDT did not follow")
        assert any(e.startswith("FX bank USD/KRW suspect") for e in fx_events(bot))
        assert status_report(bot)["fx"]["suspect"] == "usdkrw"
        health = [e.message for e in bot.bus.history if e.kind == "health" and "BTC" in e.message]
        assert any("FX bank USD/KRW suspect" in h for h in health)
        # control: once KRW-USDT moves the same way, the move is confirmed and the bot trades it
        sim.market.set_usdt_krw(USDT * 1.029)
        assert await wait_until(lambda: btc_open(bot), timeout=15.0)
        assert any("FX bank USD/KRW confirmed again by Upbit KRW-USDT" in e for e in fx_events(bot))
        assert "fx.jump_hold_s is no longer used" in str(bot.banner())  # the retired key is named at start
    finally:
        await bot.stop()


async def test_wrong_bank_rate_in_small_steps_no_order(sim, tmp_path):
    bot = await start(sim, tmp_path)
    try:
        m = bot.market
        bank = BANK
        for _ in range(8):  # +0.25 % per step, each far inside the old 1 % jump band
            bank *= 1.0025
            sim.market.set_usdkrw(bank)
            assert await wait_until(lambda: abs(m.fx.states["usdkrw"].latest.rate - bank) < 0.01, timeout=10.0)
        await decided_on(bot, -0.8)  # 2 % in all: the premium reads about -1 %
        assert bot.trader.positions() == []
        assert m.fx.suspect == "usdkrw"
        assert m.global_problems()[0].startswith("FX bank USD/KRW suspect")
    finally:
        await bot.stop()


@pytest.mark.parametrize("fx, frozen, problem", [
    # the bank quote answered every poll with the same date/time/timestamp
    ('usdkrw_max_age_s = 2\nweekend = "stop"', "usdkrw", "FX bank USD/KRW stale at source"),
    # Upbit's KRW-USDT ticker keeps coming, its trade_timestamp does not move
    ('source = "usdt"\nusdt_max_age_s = 2', "usdt_trades", "FX Upbit KRW-USDT stale at source"),
])
async def test_a_frozen_fx_quote_is_stale_while_it_keeps_arriving(sim, tmp_path, fx, frozen, problem):
    bot = await start(sim, tmp_path, fx)
    try:
        m = bot.market
        getattr(sim.market, f"freeze_{frozen}")()
        assert await wait_until(lambda: any(p.startswith(problem) for p in m.global_problems()), timeout=10.0)
        if frozen == "usdkrw":   # ... while the same quote keeps arriving
            assert await wait_until(lambda: (r := m.fx.states["usdkrw"].latest).received_ts - r.exchange_ts > 2500,
                                    timeout=10.0)
            assert any(p.startswith(problem) for p in m.global_problems())
        sim.market.set_premium("BTC", -3.0)
        await decided_on(bot, -2.5)
        assert bot.trader.positions() == []
        # control: the quote moves at its source again
        getattr(sim.market, f"unfreeze_{frozen}")()
        assert await wait_until(lambda: btc_open(bot), timeout=15.0)
    finally:
        await bot.stop()


async def test_weekend_bank_quote_confirmed_by_usdt_keeps_trading(sim, tmp_path):
    bot = await start(sim, tmp_path, "usdkrw_max_age_s = 2")
    try:
        m = bot.market
        sim.market.freeze_usdkrw()  # Friday's close, served all weekend
        sim.market.set_usdt_krw(USDT + 0.5)  # KRW-USDT keeps trading, within its range
        assert await wait_until(lambda: "confirmed by USDT" in m.fx.note(), timeout=10.0)
        assert m.fx.note().startswith("bank rate from ")
        assert "confirmed by USDT" in fx_line(m)  # what /status shows
        assert status_report(bot)["fx"]["note"] == m.fx.note()
        # told in the chat once (the health job, every second, compares the kind of note)
        assert await wait_until(lambda: f"FX: {m.fx.note()}" in fx_events(bot), timeout=5.0)
        assert m.signals_allowed("BTC")
        sim.market.set_premium("BTC", -3.0)
        assert await wait_until(lambda: btc_open(bot), timeout=15.0)
    finally:
        await bot.stop()


@pytest.mark.parametrize("source", ["usdkrw", "usdt"])
async def test_genuine_fx_move_confirmed_by_both_keeps_trading(sim, tmp_path, source):
    bot = await start(sim, tmp_path, f'source = "{source}"')
    try:
        m = bot.market
        sim.market.set_usdkrw(BANK * 1.015)  # the dollar really rose: both sources follow
        sim.market.set_usdt_krw(USDT * 1.015)
        assert await wait_until(lambda: abs(m.fx.states["usdkrw"].latest.rate - BANK * 1.015) < 0.01
                                and abs(m.fx.states["usdt"].latest.rate - USDT * 1.015) < 0.6, timeout=10.0)
        assert await wait_until(lambda: m.fx.suspect is None and m.signals_allowed("BTC"), timeout=10.0)
        sim.market.set_premium("BTC", -3.0)  # a real dislocation, priced at the new rate
        assert await wait_until(lambda: btc_open(bot), timeout=15.0)
        (pos,) = [p for p in bot.trader.positions() if p.symbol == "BTC"]
        assert pos.entry_premium_pct < -2.5 and pos.fx_at_entry == pytest.approx(
            (BANK if source == "usdkrw" else USDT) * 1.015, abs=0.6)
    finally:
        await bot.stop()



async def test_restart_under_a_wrong_bank_rate_does_not_learn_it(sim, tmp_path):
    bot = await start(sim, tmp_path)
    try:
        assert await wait_until(lambda: (tmp_path / "data" / "fx_ratio.json").exists(), timeout=10.0)
    finally:
        await bot.stop()
    sim.market.set_usdkrw(BANK * 1.029)  # wrong while the bot is down, and from its first answer
    env = sim.env() | {"KIMPBOT_DATA_DIR": str(tmp_path / "data"), "KIMPBOT_TRADE_MODE": "auto"}
    bot = Bot(load_settings(env), load_owner_config(tmp_path / "strategy.toml"))
    t0 = bot.clock.now_ms()
    await bot.start()
    try:
        m = bot.market
        # past the first fx.confirm_readings (3) polls, when a fresh learner would trust the rate
        assert await wait_until(lambda: m.fx.states["usdkrw"].latest.received_ts > t0 + 4000, timeout=15.0)
        await decided_on(bot, -1.5)
        assert bot.trader.positions() == []
        # Without the saved history the guard learns the wrong rate here and trusts it (this
        # run's warm-up, rescaled by the same wrong rate, happens to hide the fake premium from z).
        assert m.fx.suspect == "usdkrw"
        assert m.global_problems()[0].startswith("FX bank USD/KRW suspect")
        details = "\n".join(bot.banner_details())  # the FX check's start note, on the console and in the log
        assert "readings of the last" in details and "restored" in details
    finally:
        await bot.stop()


async def test_fake_premium_from_suspect_rate_is_not_even_refused_in_chat(sim, tmp_path):
    """A fake premium that only a suspect rate creates says nothing: not even the strategy's
    "short premium entry refused: needs inventory" (paper ledger without BTC). Data and FX are
    checked before anything about the signal is published."""
    bot = await start(sim, tmp_path)
    try:
        m = bot.market

        def refused() -> list[str]:
            return [e.message for e in bot.bus.history if e.kind == "refused" and e.data.get("symbol") == "BTC"]

        sim.market.set_usdkrw(BANK / 1.029)  # served wrong: fakes a +2.9 % premium (short premium, z >> 2)
        assert await wait_until(lambda: (s := m.views["BTC"].snapshot) is not None and s.mid > 1.5, timeout=15.0)
        t0 = bot.clock.now_ms()
        assert await wait_until(lambda: bot.trader._last_eval.get("BTC", 0) > t0 + 2500, timeout=15.0)
        assert m.fx.suspect == "usdkrw"
        assert refused() == []
        # control: once KRW-USDT confirms the move the premium is real and the refusal is told
        sim.market.set_usdt_krw(USDT / 1.029)
        assert await wait_until(lambda: any("short premium entry refused" in r for r in refused()), timeout=15.0)
        assert bot.trader.positions() == []
    finally:
        await bot.stop()
