"""What the review of /live, /set and the findings' Close found, pinned: no press or change runs
during a mode switch, a failed switch says so (and stops trading loudly when it cannot restore), a
restart in the other mode alerts about the ledger it does not manage, Close refuses while a trade
is in flight or the position changed since the finding, and a failing exit waits before retrying."""

from __future__ import annotations

import asyncio

import pytest

from kimpbot.store import Store

from .conftest import OWNER, STRATEGY, make_rig, running, wait_until
from .test_params_live import _buttons, _press


async def _execute_signal(rig):
    tg, bot, sim = rig.tg, rig.bot, rig.sim
    assert await wait_until(lambda: bot.market.signals_allowed("BTC"))
    base = sim.market.premium("BTC")
    n = len(tg.sent)
    sim.market.set_premium("BTC", base - 3.0)
    sig = await tg.wait_for(lambda x: x["method"] == "sendMessage" and (x.get("text") or "").startswith("🔔"),
                            since=n, timeout=10)
    ex = next(d for t, d in tg.buttons(sig["message_id"], chat_id=OWNER) if "Execute" in t)
    return base, sig, ex


async def _live_with_unexplained_btc_short(rig):
    """The exchange holds a BTC perp short the live journal cannot explain; /live; its finding."""
    rig.sim.binance._pos("BTC").update(amt=-0.01, entry=100_000.0)
    r = await rig.command("/live", timeout=15)
    n = len(rig.tg.sent)
    await _press(rig, r, _buttons(rig, r)["Yes, trade LIVE"])
    return await rig.tg.wait_for(lambda x: x["method"] == "sendMessage" and (x.get("text") or "").startswith(
        "🔎 unexpected Binance BTC position"), since=n, timeout=10)


async def test_no_press_or_change_during_a_switch(rig):
    bot, tg = rig.bot, rig.tg
    base, sig, ex = await _execute_signal(rig)
    r = await rig.command("/set zscore.exit_z 0.9")
    bot.switching = True
    try:
        n = len(tg.sent)
        tg.press_button(OWNER, OWNER, sig["message_id"], ex)
        ans = await tg.wait_for(lambda x: x["method"] == "answerCallbackQuery", since=n)
        assert "mode switch is in progress" in ans["text"] and bot.store.trades() == []
        ans, _ = await _press(rig, r, _buttons(rig, r)["Apply"])
        assert "mode switch is in progress" in ans["text"] and bot.strategy.params.exit_z == 0.5
        again = await rig.command("/live")
        assert "already in progress" in again["text"]
        with pytest.raises(RuntimeError, match="already in progress"):
            await bot.switch_mode("live", "test")
    finally:
        bot.switching = False
    ans, edit = await _press(rig, r, _buttons(rig, r)["Apply"])  # the nonce was kept: it works now
    assert ans["text"] == "Applied" and bot.strategy.params.exit_z == 0.9


async def test_failed_switch_restores_and_alerts_and_a_double_failure_stops_loudly(rig, monkeypatch):
    bot, tg = rig.bot, rig.tg
    real_start = type(bot)._start_trading

    async def live_fails(self, **kw):
        if self.settings.live:
            raise ConnectionError("exchange rules not loaded")
        await real_start(self, **kw)

    monkeypatch.setattr(type(bot), "_start_trading", live_fails)
    n = len(tg.sent)
    with pytest.raises(ConnectionError):
        await bot.switch_mode("live", "test")
    assert bot.settings.mode == "paper" and bot.trader is not None and bot.market.on_snapshot is not None
    await tg.wait_for(lambda x: "switch to live failed (ConnectionError: exchange rules not loaded); still paper"
                      in (x.get("text") or ""), since=n)

    async def all_fail(self, **kw):
        raise ConnectionError("exchanges down")

    monkeypatch.setattr(type(bot), "_start_trading", all_fail)
    n = len(tg.sent)
    with pytest.raises(RuntimeError, match="NOT TRADING"):
        await bot.switch_mode("live", "test")
    assert bot.trader is None and bot.market.on_snapshot is None
    rec = await tg.wait_for(lambda x: "NOT TRADING" in (x.get("text") or ""), since=n)
    assert rec["text"].startswith("❌") and "tries paper again by itself" in rec["text"]
    st = await rig.command("/status")
    assert "NOT TRADING: switch to live failed" in st["text"], st["text"]
    # not the end: once paper can start again, it trades by itself (the start-up retry)
    monkeypatch.setattr(type(bot), "_start_trading", real_start)
    assert await wait_until(lambda: bot.state.phase == "trading", timeout=30)
    assert bot.settings.mode == "paper" and bot.trader is not None and bot.market.on_snapshot is not None
    await tg.wait_for(lambda x: "Trading again" in (x.get("text") or ""), since=n)


async def test_a_start_alerts_and_halts_when_the_other_ledger_holds_positions(sim, tmp_path, log_records):
    live = Store(tmp_path / "data", "live")
    live.upsert_position({"id": "P-live-1", "symbol": "BTC", "status": "open", "direction": "long_premium"})
    live.close()
    async with running(make_rig(sim, tmp_path, STRATEGY, log_records), log_records) as rig:
        rec = await rig.tg.wait_for(lambda x: "LIVE ledger has 1 open position(s)" in (x.get("text") or ""))
        assert "KIMPBOT_MODE=live" in rec["text"] and rec["text"].startswith("❌")
        assert rig.bot.trader.risk.halted and "live positions unmanaged" in rig.bot.store.halt_state().reason


async def test_close_refused_while_busy_or_changed_then_closes(rig):
    bot, tg, sim = rig.bot, rig.tg, rig.sim
    msg = await _live_with_unexplained_btc_short(rig)
    close = _buttons(rig, msg)["Close"]
    orders = len(sim.orders)
    # a BTC trade in flight: nothing sent, the buttons stay
    bot.trader._busy.add("BTC")
    n = len(tg.sent)
    tg.press_button(OWNER, OWNER, msg["message_id"], close)
    ans = await tg.wait_for(lambda x: x["method"] == "answerCallbackQuery", since=n)
    reply = await tg.wait_for(lambda x: x["method"] == "sendMessage" and "Close not done" in (x.get("text") or ""),
                              since=n)
    assert ans["text"] == "Not done" and "trade is in flight" in reply["text"] and len(sim.orders) == orders
    bot.trader._busy.discard("BTC")
    # the position moved since the finding: nothing sent either
    sim.binance._pos("BTC").update(amt=-0.03)
    n = len(tg.sent)
    tg.press_button(OWNER, OWNER, msg["message_id"], close)
    reply = await tg.wait_for(lambda x: x["method"] == "sendMessage" and "Close not done" in (x.get("text") or ""),
                              since=n)
    assert "changed since the finding (unexplained -0.01 then, -0.03 now)" in reply["text"]
    assert len(sim.orders) == orders
    sim.binance._pos("BTC").update(amt=-0.01)
    ans, edit = await _press(rig, msg, close)
    assert ans["text"] == "Closed" and "buy 0.01 BTC of 0.01 BTC" in edit["text"] and len(sim.orders) == orders + 1


async def test_a_failing_exit_waits_before_it_is_tried_again(rig):
    bot, tg, sim = rig.bot, rig.tg, rig.sim
    base, sig, ex = await _execute_signal(rig)
    n = len(tg.sent)
    tg.press_button(OWNER, OWNER, sig["message_id"], ex)
    await tg.wait_for(lambda x: "enter filled" in (x.get("text") or ""), since=n, timeout=10)
    [pos] = bot.trader.positions()
    bot.trader.binance.positions.pop("BTC")  # the perp leg is gone behind the bot's back: exits are refused
    n = len(tg.sent)
    sim.market.set_premium("BTC", base + 1.0)  # far past the exit
    rec = await tg.wait_for(lambda x: "did not complete" in (x.get("text") or ""), since=n, timeout=10)
    assert f"exit of position {pos.id}" in rec["text"] and "next try in 30s" in rec["text"]
    await asyncio.sleep(2.0)  # many ticks later: no second attempt yet
    exits = [t for t in bot.store.trades() if t.get("action") == "exit"]
    assert len(exits) == 1, [t.get("status") for t in exits]
    assert bot.trader._exit_retry[pos.id][1] == 1


@pytest.fixture
async def quick_rig(sim, tmp_path, log_records):
    text = STRATEGY + "[execution]\norder_timeout_s = 0.5\nunknown_grace_s = 1.0\n"
    async with running(make_rig(sim, tmp_path, text, log_records), log_records) as r:
        yield r


async def test_a_close_without_an_answer_is_booked_later_never_reversed(quick_rig):
    rig = quick_rig
    bot, tg, sim = rig.bot, rig.tg, rig.sim
    msg = await _live_with_unexplained_btc_short(rig)
    # the order is placed and fills, but neither its answer nor the queries come back in time
    sim.market.faults.inject("binance", "/fapi/v1/order", "lost")
    sim.market.faults.inject("binance", "/fapi/v1/order", "timeout", count=20, delay_s=5.0)
    ans, edit = await _press(rig, msg, _buttons(rig, msg)["Close"])
    assert ans["text"] == "Pending" and "no answer yet" in edit["text"]
    assert sim.binance.positions["BTC"]["amt"] == 0  # it did fill
    assert _buttons(rig, msg) == {}  # nothing to press twice while the answer is outstanding
    n = len(tg.sent)
    sim.market.faults.clear()
    # housekeeping asks again: the fill is booked, not treated as a late fill to reverse
    await bot.trader.recheck_open_orders()
    await tg.wait_for(lambda x: "reconcile close by reconcile: Binance BTC: buy 0.01 BTC" in (x.get("text") or ""),
                      since=n, timeout=10)
    await bot.bus.drain()
    texts = [x.get("text") or "" for x in tg.sent[n:]]
    assert not any("UNHEDGED" in t or "late fill" in t for t in texts), texts
    assert not bot.trader.risk.halted and sim.binance.positions["BTC"]["amt"] == 0
    closes = [t for t in bot.store.trades() if t.get("action") == "reconcile_close"]
    assert [t["status"] for t in closes] == ["closed"]
