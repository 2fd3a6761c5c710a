"""Fixtures for the operations tests: the chat fakes, and a bot stop that cannot hang a teardown."""

from __future__ import annotations

import pytest


async def stop_bot(bot) -> None:
    """``bot.stop()``, first making each websocket feed's read time out at once.

    On Python 3.11 ``asyncio.wait_for`` swallows a cancellation that lands in the same loop
    iteration as the awaited message (the receive finished, so it returns the message), and
    ``WsFeed._session_once`` reads in ``while True`` without looking at ``_stopping``: such a feed
    task keeps reading until its connection ends, and ``WsFeed.stop()`` waits for it (up to a
    minute against the fakes). A short idle timeout ends that read loop at the next quiet gap.
    """
    for f in getattr(bot, "feeds", []):
        f.idle_timeout_s = 0.05
    await bot.stop()


@pytest.fixture
async def telegram():
    from fakes.telegram import FakeTelegram

    async with FakeTelegram() as tg:
        yield tg


@pytest.fixture
async def discord_fake():
    from kimpbot.control.discord_http import get_discord_api_base, set_discord_api_base
    from fakes.discord import FakeDiscord

    before = get_discord_api_base()
    async with FakeDiscord() as dc:
        try:
            yield dc
        finally:
            set_discord_api_base(before)
