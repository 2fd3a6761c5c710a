"""Issue #11 §3 end to end over the fake Telegram with the real python-telegram-bot: one trade is one
card message edited in place; routine is silent, alerts ring; /notify per kind, kept across a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from kimpbot.config import load_owner_config, load_settings
from kimpbot.control.commands import CommandCore
from kimpbot.control.notify import DiscordWebhookNotifier
from kimpbot.control.telegram import TelegramFront
from kimpbot.engine import Bot
from kimpbot.events import Event
from kimpbot.sim.discord import FakeDiscord
from kimpbot.sim.telegram import FakeTelegram

from .conftest import OWNER, STRATEGY, TG_TOKEN, ChatRig, close_rig, wait_until

LIVE = STRATEGY + """[risk]
live_canary_max_krw = 50_000_000
[execution]
order_timeout_s = 1.0
"""


async def cards_rig(sim, tmp_path: Path, strategy: str, env_extra: dict[str, str], tg: FakeTelegram | None = None,
                    dc: FakeDiscord | None = None) -> ChatRig:
    """The chat rig of conftest.make_rig with another mode (auto trading, live) and reusable fakes
    (a restart keeps the chat's servers)."""
    sf = tmp_path / "strategy.toml"
    sf.write_text(strategy)
    if tg is None:
        tg = FakeTelegram(TG_TOKEN)
        await tg.start()
    if dc is None:
        dc = FakeDiscord()
        await dc.start()
    env = sim.env() | {"KIMPBOT_STRATEGY_FILE": str(sf), "KIMPBOT_DATA_DIR": str(tmp_path / "data"),
                       "KIMPBOT_TRADE_MODE": "auto", "TELEGRAM_BOT_TOKEN": tg.token,
                       "TELEGRAM_API_URL": tg.base_url, "TELEGRAM_CHAT_ID": str(OWNER),
                       "TELEGRAM_ALLOWED_USERS": str(OWNER), "DISCORD_WEBHOOK_URL": dc.webhook_url,
                       "DISCORD_API_URL": dc.api_url} | env_extra
    settings = load_settings(env)
    bot = Bot(settings, load_owner_config(sf))
    core = CommandCore(bot)
    front = TelegramFront(bot, core, poll_timeout=2, backoff_s=0.05)
    hook = DiscordWebhookNotifier(settings.discord_webhook_url, settings.discord_api_url,
                                  secrets=settings.secrets(), backoff_s=0.05)
    front.attach()
    hook.attach(bot)
    await front.start()
    await hook.start()
    await bot.start()
    return ChatRig(sim, tg, dc, bot, front, hook, core)


def _card_msgs(tg, since: int, word: str) -> list[dict]:
    return [r for r in tg.sent[since:] if r["method"] == "sendMessage" and word in (r.get("text") or "")]


def _edits(tg, since: int, message_id: int) -> list[dict]:
    return [r for r in tg.sent[since:] if r["method"] == "editMessageText" and r["message_id"] == message_id]


@pytest.fixture
async def auto_rig(sim, tmp_path, log_records):
    r = await cards_rig(sim, tmp_path, STRATEGY, {})
    try:
        yield r
    finally:
        await close_rig(r, log_records)


async def test_auto_entry_is_one_card_edited_in_place(auto_rig):
    rig = auto_rig
    tg, bot, sim = rig.tg, rig.bot, rig.sim
    assert await wait_until(lambda: bot.market.signals_allowed("BTC"))
    n = len(tg.sent)
    sim.market.set_premium("BTC", sim.market.premium("BTC") - 3.0)
    assert await wait_until(lambda: any(t.get("action") == "enter" and t.get("status") == "filled"
                                        for t in bot.store.trades()), timeout=15)
    done = await tg.wait_for(lambda r: r["method"] in ("sendMessage", "editMessageText")
                             and "enter filled" in (r.get("text") or ""), since=n, timeout=10)
    await bot.bus.drain()
    trade_msgs = [r for r in tg.sent[n:] if r["method"] == "sendMessage" and "BTC" in (r.get("text") or "")]
    assert len(trade_msgs) == 1, [r["text"] for r in trade_msgs]   # one message for the whole trade
    card = trade_msgs[0]
    assert done["message_id"] == card["message_id"]
    edits = _edits(tg, n, card["message_id"])
    assert edits, "the card is edited as the trade goes"
    sends = [r for r in tg.sent[n:] if r["method"] == "sendMessage"]
    print(f"\nauto entry: {len(sends)} sendMessage, {len(edits)} editMessageText")
    final = edits[-1]["text"]
    print(final)
    assert final.startswith("✅ BTC long premium enter filled")
    assert "Upbit buy ✔" in final and "Binance sell ✔" in final
    assert "net " in final and " KRW" in final and "fee " in final
    assert card["raw_text"].startswith("<pre>") and card["disable_notification"] is True   # routine: silent
