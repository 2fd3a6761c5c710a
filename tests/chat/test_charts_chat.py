"""``/chart`` end to end: the REAL python-telegram-bot front against the fake Bot API; the PNG is drawn
by the real child process and arrives as a sendPhoto; a bad period is refused in words."""

from __future__ import annotations

import struct

import pytest

from kimpbot.control.charts import WORKER

from .conftest import OWNER, wait_until

PNG_SIG = b"\x89PNG\r\n\x1a\n"


def _png(rec: dict) -> tuple[int, int]:
    data = rec["photo_bytes"]
    assert data[:8] == PNG_SIG, "not a PNG"
    assert 10_000 < len(data) < 1_000_000, len(data)
    return struct.unpack(">II", data[16:24])


async def _history(rig) -> None:
    bot = rig.bot
    assert await wait_until(lambda: bot.market.views["BTC"].snapshot is not None
                            and bot.strategy.stats("BTC").count >= 2, timeout=60)


async def test_chart_png_over_telegram_and_a_refused_period(rig):
    await _history(rig)
    tg = rig.tg
    r = await rig.command("/chart BTC 1d", timeout=90)
    assert r["method"] == "sendPhoto" and r["chat_id"] == OWNER
    assert _png(r) == (720, 440)
    cap = r["caption"]
    assert cap.startswith("📈 BTC premium · 1d") and "z " in cap and "bands mean±kσ (1d): ±2 ±3 ±4" in cap
    assert WORKER.pid is not None            # drawn by the child process, which is still warm

    r = await rig.command("/chart BTC 3d")
    assert r["method"] == "sendMessage" and "period 3d: one of 1d, 7d, 20d" in r["text"]
    r = await rig.command("/chart DOGE")
    assert r["method"] == "sendMessage" and "DOGE: not traded here" in r["text"]

    # 7 days asked, the 1-day window holds less: a chart, and it says so
    since = len(tg.sent)
    r = await rig.command("/chart 7d ETH", timeout=90)
    assert r["method"] == "sendPhoto" and "ETH premium · 7d" in r["caption"] and "⚠️ only " in r["caption"]
    assert len([x for x in tg.sent[since:] if x["method"] == "sendPhoto"]) == 1


@pytest.mark.korean_default
async def test_chart_caption_in_korean(rig):
    await _history(rig)
    r = await rig.command("/chart XRP", timeout=90)
    assert r["method"] == "sendPhoto" and _png(r)
    assert r["caption"].startswith("📈 XRP 김프 · 1일")
    r = await rig.command("/chart XRP 2w")
    assert "기간 2w: 1d, 7d, 20d 중 하나" in r["text"]
