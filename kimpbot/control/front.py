"""What the Telegram and Discord fronts share: the running bot and its command core, the bot token
(kept out of every text they send or log), the retry budget of a post, the delivery counts, and the
trade cards they keep up to date."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from kimpbot.control.cards import CardDesk
from kimpbot.control.commands import CommandCore

if TYPE_CHECKING:
    from kimpbot.engine import Bot


class ChatFront:
    def __init__(self, bot: "Bot", core: CommandCore | None, token: str, *, retries: int, backoff_s: float,
                 critical_retries: int, max_delay_s: float) -> None:
        self.bot = bot
        self.core = core or CommandCore(bot)
        self.token = token
        self.secrets = list(bot.settings.secrets()) + ([token] if token else [])
        self.retries = retries
        # money-safety alerts (unhedged leg, halt, any critical event) keep trying through a long
        # chat outage (40 tries at up to 30 s apart: ~20 min); the others give up sooner
        self.critical_retries = critical_retries
        self.backoff_s = backoff_s
        self.max_delay_s = max_delay_s
        self._answering: set[int] = set()   # messages whose press is being handled here (edited here)
        self.delivered = 0
        self.undelivered = 0
        self.cards = CardDesk.for_bot(bot)
        self._card_locks: dict[str, asyncio.Lock] = {}

    @staticmethod
    def target(given: str | int | None, configured: str | int | None) -> int | None:
        """The chat (channel) id a front posts to: the one given, else the configured one; unset
        (None or blank) is None."""
        cid = given if given is not None else configured
        return int(cid) if str(cid or "").strip() else None

    def retry_delay(self, attempt: int) -> float:
        """The wait before retry ``attempt + 1``: doubling from ``backoff_s``, at most ``max_delay_s``."""
        return min(self.backoff_s * (2 ** min(attempt, 16)), self.max_delay_s)
