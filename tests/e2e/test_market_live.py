"""The bot's market side end to end: real ccxt, aiohttp websockets and the FX client against the sims."""

from __future__ import annotations

import logging

import pytest

from kimpbot.config import load_settings
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.engine import Bot
from kimpbot.models import Venue
from testkit import wait_until




@pytest.fixture
async def bot(sim, strategy_file, tmp_path):
    settings = load_settings(sim.env() | {"KIMPBOT_STRATEGY_FILE": str(strategy_file),
                                          "KIMPBOT_DATA_DIR": str(tmp_path / "data")})
    owner = load_owner_config(strategy_file)
    b = Bot(settings, owner)
    await b.start()
    try:
        yield b
    finally:
        await b.stop()


async def test_live_premium_follows_the_market(sim, bot):
    m = bot.market
    assert await wait_until(lambda: all(m.views[s].snapshot is not None for s in m.symbols))
    for sym in m.symbols:
        assert m.views[sym].snapshot.mid == pytest.approx(sim.market.premium(sym), abs=0.05)
    # warm-up filled the (1-day) z window from candle history, so z is there at once
    assert bot.strategy is not None
    assert all(m.views[s].z_mid is not None for s in m.symbols)
    assert "warm-up: BTC 288 bars" in bot.state.warmup_note
    assert await wait_until(lambda: all(m.signals_allowed(s) for s in m.symbols))
    sim.market.set_premium("BTC", 4.2)
    assert await wait_until(lambda: abs(m.views["BTC"].snapshot.mid - 4.2) < 0.05, timeout=5)
    snap = m.views["BTC"].snapshot
    assert snap.exec_short < snap.mid < snap.exec_long
    assert snap.fx_source == "usdkrw" and snap.fx_rate == pytest.approx(sim.market.usdkrw)


async def test_dropped_websocket_reconnects(sim, bot):
    upbit_feed = next(f for f in bot.feeds if f.name == "upbit")
    assert await wait_until(lambda: upbit_feed.connected and upbit_feed.last_message_ms > 0)
    sim.market.faults.inject("upbit", "ws", "drop")
    assert await wait_until(lambda: upbit_feed.connects >= 2 and upbit_feed.connected, timeout=10)
    assert upbit_feed.disconnects >= 1
    before = bot.market.views["BTC"].updates
    sim.market.set_premium("BTC", 2.0)
    assert await wait_until(lambda: bot.market.views["BTC"].updates > before)


async def test_malformed_nan_negative_rejected_without_crash(sim, bot, caplog):
    m = bot.market
    assert await wait_until(lambda: m.views["BTC"].snapshot is not None)
    with caplog.at_level(logging.WARNING):
        sim.market.faults.inject("binance", "ws", "nan", count=1)
        sim.market.faults.inject("binance", "ws", "negative", count=1)
        sim.market.faults.inject("upbit", "ws", "malformed", count=1)
        assert await wait_until(lambda: m.rejected >= 2 and
                              any("not JSON" in r.getMessage() for r in caplog.records), timeout=10)
    rejected_lines = [r for r in caplog.records if "rejected" in r.getMessage()]
    assert 3 <= len(rejected_lines) <= 6  # one line per bad message, no tracebacks
    assert not any(r.exc_info for r in caplog.records)
    # the feeds kept running and data stays healthy
    sim.market.set_premium("ETH", 0.3)
    assert await wait_until(lambda: abs(m.views["ETH"].snapshot.mid - 0.3) < 0.05)


async def test_stale_feed_stops_signals_and_says_why(sim, bot):
    m = bot.market
    assert await wait_until(lambda: m.signals_allowed("BTC"))
    # websocket goes silent and the REST fallback fails too: the Binance books go stale
    sim.market.faults.inject("binance", "ws", "silence", delay_s=30)
    sim.market.faults.inject("binance", "/fapi/v1/depth", "reject", count=1000)
    assert await wait_until(lambda: not m.signals_allowed("BTC"), timeout=10)
    probs = m.symbol_problems("BTC")
    assert any(p.startswith("Binance BTCUSDT book stale") for p in probs), probs
    bot.market.check_health()
    assert any(e.kind == "health" and "BTC: signals stopped" in e.message for e in bot.bus.history)
    sim.market.faults.clear()
    assert await wait_until(lambda: m.signals_allowed("BTC"), timeout=30)


async def test_missing_fx_stops_signals(sim, strategy_file, tmp_path):
    strategy_file.write_text(strategy_file.read_text().replace("poll_seconds = 1", "poll_seconds = 1\nmax_age_s = 2"))
    sim.market.faults.inject("fx", "/v1/forex/recent", "reject", count=10_000)
    settings = load_settings(sim.env() | {"KIMPBOT_DATA_DIR": str(tmp_path / "data")})
    b = Bot(settings, load_owner_config(strategy_file), warmup=False)
    await b.start()
    try:
        m = b.market
        assert await wait_until(lambda: m.books.get((Venue.UPBIT, "BTC")) is not None)
        probs = m.global_problems()
        assert any("FX bank USD/KRW rate missing" in p for p in probs)
        assert not m.signals_allowed("BTC")
        sim.market.faults.clear()
        assert await wait_until(lambda: not m.global_problems(), timeout=5)
        sim.market.faults.inject("fx", "/v1/forex/recent", "malformed", count=10_000)
        assert await wait_until(lambda: any("stale" in p for p in m.global_problems()), timeout=6)
    finally:
        await b.stop()
