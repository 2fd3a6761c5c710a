"""The status endpoint over a real bot against the simulated exchanges (aiohttp client, no mocks of the bot)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from decimal import Decimal
from types import SimpleNamespace

import aiohttp
import pytest

from kimpbot.config import load_settings
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.control.http import HttpApi, HttpApiError
from kimpbot.engine import Bot
from kimpbot.models import Direction
from kimpbot.store import Store
from kimpbot.strategy.base import Position

from testkit import short_window, wait_until

from .conftest import stop_bot

FAST = short_window(max_quote_age_s=1.5)

CHAT_SECRETS = {
    "TELEGRAM_BOT_TOKEN": "123456:AAH-telegram-secret-token",
    "TELEGRAM_ALLOWED_USERS": "42",
    "DISCORD_BOT_TOKEN": "discord-bot-secret-token-xyz",
    "DISCORD_ALLOWED_USERS": "7",
    "DISCORD_WEBHOOK_URL": "https://discord.com/api/webhooks/123456789012345678/" + "w" * 64,
    "KIMPBOT_HTTP_TOKEN": "monitor-token-0123456789abcdef",
}
AUTH = {"Authorization": "Bearer " + CHAT_SECRETS["KIMPBOT_HTTP_TOKEN"]}




@contextlib.asynccontextmanager
async def serving(sim, tmp_path, strategy: str = FAST):
    """A started bot (paper mode, no warm-up), its endpoint on an ephemeral port, and an HTTP client."""
    sf = tmp_path / "strategy.toml"
    sf.write_text(strategy)
    settings = load_settings(sim.env() | CHAT_SECRETS | {"KIMPBOT_STRATEGY_FILE": str(sf),
                                                         "KIMPBOT_DATA_DIR": str(tmp_path / "data")})
    bot = Bot(settings, load_owner_config(sf), warmup=False)
    await bot.start()
    api = HttpApi(bot, "127.0.0.1", 0)
    await api.start()
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
    try:
        yield bot, api, session
    finally:
        await session.close()
        await api.stop()
        await stop_bot(bot)


@pytest.fixture
async def running(sim, tmp_path):
    async with serving(sim, tmp_path) as rig:
        yield rig


async def get(session, api, path):
    async with session.get(api.url + path, headers=AUTH) as resp:
        return resp.status, await resp.text()


async def test_health_flips_to_503_when_binance_goes_silent_and_back(sim, running):
    bot, api, session = running
    assert api.port > 0 and api.url.startswith("http://127.0.0.1:")

    async def health():
        status, text = await get(session, api, "/health")
        return status, json.loads(text)

    async def is_ok():
        return (await health())[0] == 200

    assert await wait_until(is_ok, timeout=10)
    status, body = await health()
    assert body["status"] == "ok" and "reasons" not in body
    # no warm-up: the z window is filling, which is a note, not a fault
    assert any("warming up" in n for n in body.get("notes", []))

    # Binance stops sending: websocket silent for 4 s, and the REST fallback is refused
    sim.market.faults.inject("binance", "ws", "silence", delay_s=4)
    sim.market.faults.inject("binance", "/fapi/v1/depth", "reject", count=10_000)

    async def is_down():
        return (await health())[0] == 503

    assert await wait_until(is_down, timeout=6)
    status, body = await health()
    assert body["status"] == "unhealthy"
    assert any(r.startswith("Binance BTCUSDT book stale") for r in body["reasons"]), body
    assert not any("Upbit" in r for r in body["reasons"]), body  # it names the venue that stopped

    # the websocket resumes (REST still refused): healthy again from the stream alone
    assert await wait_until(is_ok, timeout=8)
    sim.market.faults.clear()


async def test_health_503_when_the_scheduler_stops(running):
    bot, api, session = running
    bot.scheduler.shutdown(wait=False)
    await asyncio.sleep(0.05)
    status, text = await get(session, api, "/health")
    assert status == 503
    assert "scheduler not running" in json.loads(text)["reasons"]


async def test_status_is_complete_and_has_no_secret(sim, running):
    bot, api, session = running
    assert await wait_until(lambda: all(bot.market.views[s].snapshot for s in bot.market.symbols))
    # a secret that somehow ends up in state the endpoint shows is still redacted
    bot.feeds[0].last_error = f"boom {bot.settings.binance_api_secret} {bot.settings.telegram_bot_token}"
    status, text = await get(session, api, "/status")
    assert status == 200
    assert CHAT_SECRETS["KIMPBOT_HTTP_TOKEN"] in bot.settings.secrets()
    for secret in bot.settings.secrets() + ["w" * 64]:
        assert secret not in text
    doc = json.loads(text)
    assert "***" in doc["feeds"][0]["last_error"]
    assert doc["mode"] == "paper" and doc["trade_mode"] == "confirm" and doc["running"] is True
    assert doc["halted"] is False and doc["trading"] is True and doc["open_positions"] == 0
    assert doc["fx"]["source"] == "usdkrw" and doc["fx"]["rate"] == pytest.approx(sim.market.usdkrw)
    btc = doc["premiums"]["BTC"]
    assert btc["premium_pct"]["mid"] == pytest.approx(sim.market.premium("BTC"), abs=0.05)
    assert set(btc["z"]) == {"mid", "long", "short"}
    assert {f["name"] for f in doc["feeds"]} == {"upbit", "binance"}
    assert all(f["connected"] for f in doc["feeds"])
    assert doc["scheduler_running"] is True
    for path in ("/health", "/positions", "/trades", "/", "/nope"):
        _, other = await get(session, api, path)
        for secret in bot.settings.secrets():
            assert secret not in other


async def test_positions_and_trades(running, tmp_path):
    bot, api, session = running
    assert bot.trader is not None  # the paper trader over a fresh store
    status, text = await get(session, api, "/positions")
    assert status == 200 and json.loads(text) == {"trading": True, "mode": "paper", "positions": []}
    status, text = await get(session, api, "/trades?limit=5")
    assert status == 200 and json.loads(text)["trades"] == []

    real = bot.trader
    bot.trader = None  # a bot without trading
    try:
        status, text = await get(session, api, "/positions")
        assert status == 200 and json.loads(text) == {"trading": False, "positions": []}
        status, text = await get(session, api, "/status")
        assert json.loads(text)["trading"] is False
    finally:
        bot.trader = real

    store = Store(tmp_path / "store", "paper")
    try:
        pos = Position(id="p1", symbol="BTC", direction=Direction.LONG_PREMIUM, tier="normal", opened_ts=1,
                       upbit_qty=0.01, upbit_avg_price_krw=145_000_000.0, binance_qty=0.01,
                       binance_avg_price_usdt=101_500.0, fx_at_entry=1380.0, entry_premium_pct=3.2,
                       entry_notional_krw=1_450_000.0)
        for i in range(3):
            store.upsert_trade({"id": f"t{i}", "status": "filled", "symbol": "BTC", "qty": Decimal("0.01")})
        store.set_halt(True, "unhedged exposure", "executor")
        bot.trader = SimpleNamespace(positions=lambda: [pos], store=store, running=False, funding_next={"BTC": 99},
                                     state=SimpleNamespace(trade_mode="auto", pending={}))
        status, text = await get(session, api, "/positions")
        doc = json.loads(text)
        assert status == 200 and doc["trading"] is True
        assert doc["positions"] == [dataclasses.asdict(pos) | {"direction": pos.direction.value}]
        status, text = await get(session, api, "/trades?limit=2")
        doc = json.loads(text)
        assert [t["id"] for t in doc["trades"]] == ["t2", "t1"] and doc["trades"][0]["qty"] == "0.01"
        status, text = await get(session, api, "/status")
        doc = json.loads(text)
        assert doc["trade_mode"] == "auto" and doc["running"] is False and doc["trading"] is True
        assert doc["halted"] is True and doc["halt"]["reason"] == "unhedged exposure"
        assert doc["open_positions"] == 1 and doc["funding_next_ms"] == {"BTC": 99}
        for bad in ("0", "-1", "abc", "100000"):
            status, text = await get(session, api, f"/trades?limit={bad}")
            assert status == 400 and "limit" in json.loads(text)["error"]
    finally:
        bot.trader = real
        store.close()


async def test_read_only_and_port_in_use(running):
    bot, api, session = running
    async with session.post(api.url + "/status", headers=AUTH) as resp:
        assert resp.status == 405
    other = HttpApi(bot, "127.0.0.1", api.port)
    with pytest.raises(HttpApiError, match="KIMPBOT_HTTP_PORT"):
        await other.start()


async def test_status_names_why_not_trading_and_orders_without_an_answer(sim, tmp_path):
    from kimpbot.control.commands import CommandCore

    # Binance in maintenance at start (503 -1008 on exchangeInfo): NOT TRADING, and /status says why
    sim.market.faults.inject("binance", "/fapi/v1/exchangeInfo", "reject", count=100_000)
    async with serving(sim, tmp_path, FAST + "[startup]\nretry_min_s = 0.3\nretry_max_s = 1.0\n") as (
            bot, api, session):
        assert bot.trader is None and bot.state.not_trading
        _, text = await get(session, api, "/status")
        doc = json.loads(text)
        assert doc["trading"] is False
        assert doc["not_trading"].startswith("NOT TRADING") and "-1008" in doc["not_trading"], doc["not_trading"]
        assert doc["unresolved"] == []

        sim.market.faults.clear()  # maintenance over: trading starts by itself
        assert await wait_until(lambda: bot.trader is not None and bot.trader.executor is not None, timeout=20)
        # an order sent whose answer never came (journaled before sending, as the executor does)
        store = bot.trader.store
        tid = store.new_trade_id()
        store.journal_intent(tid, "B", f"{tid}-B-0", "binance", "ETH", "sell", Decimal("0.05"), Decimal("3000"),
                             "enter")
        _, text = await get(session, api, "/status")
        doc = json.loads(text)
        assert doc["trading"] is True and doc["not_trading"] is None
        (o,) = doc["unresolved"]
        assert (o["client_order_id"], o["symbol"], o["venue"], o["side"], o["qty"]) == (
            f"{tid}-B-0", "ETH", "binance", "sell", "0.05")
        assert o["age_s"] >= 0
        reply = await CommandCore(bot).cmd_status("test", [])
        lines = reply.text.splitlines()
        (i,) = [i for i, ln in enumerate(lines) if ln.startswith("⏳")]
        assert lines[i] == "⏳ ETH Binance sell 0.05", reply.text
        assert "no final answer for" in lines[i + 1] and "watching for a late booking" in lines[i + 2], reply.text
        assert [u["client_order_id"] for u in reply.data["unresolved"]] == [f"{tid}-B-0"]
