"""What every part of the command core shares: the reply a front shows (:class:`Reply` with its
:class:`Button` rows), the pending two-step confirmation (:class:`Confirm`), and
:class:`CoreParts`, the base of the command mixins: the running bot, the audit trail, the trader
or why there is none, and a new one-time confirmation."""

from __future__ import annotations

import logging
import secrets as _secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kimpbot.i18n import chat as c
from kimpbot.i18n import common

if TYPE_CHECKING:
    from kimpbot.engine import Bot

# one logger for the whole core: log filters (and tests) name it
log = logging.getLogger("kimpbot.control.commands")


@dataclass(frozen=True)
class Button:
    text: str
    data: str  # callback data, <= 64 bytes


@dataclass
class Reply:
    text: str = ""                      # a new message to post (commands), plain text
    mono: bool = False                  # show as a fixed-width block (tables)
    buttons: list[list[Button]] = field(default_factory=list)
    photo: bytes | None = None          # PNG to send (text is its caption)
    toast: str = ""                     # button presses: the short answer to the press
    edit: str | None = None             # button presses: new text for the message that carried the buttons
    refused: bool = False               # the caller is not allowed
    private: bool = False               # only for the caller's eyes (Discord: ephemeral)
    data: Any = None                    # the same content for programs and tests


MessageKey = tuple[str, str, str]


@dataclass
class Confirm:
    action: str      # close_all | set_param | mode | forceexit | reload
    created: float
    by: str          # the user who asked: the only one who may answer
    used: bool = False
    payload: Any = None
    message: MessageKey | None = None   # (front, chat, message id) it was offered on


def message_key(front: str, chat: Any, message: Any) -> MessageKey:
    return (front, "" if chat is None else str(chat), "" if message is None else str(message))


def who(front: str, user_id: int | str | None) -> str:
    return front if user_id is None else f"{front}:{user_id}"


def mode_words(mode: str) -> tuple[str, str]:
    """(icon, word) of a trading mode: paper or live."""
    live = str(mode).lower() == "live"
    return str(c.MODE_ICON_LIVE if live else c.MODE_ICON_PAPER), str(common.mode(mode))


def direction_word(d: Any) -> str:
    from kimpbot.models import Direction

    return str(c.DIR_LONG if d in (Direction.LONG_PREMIUM, "long_premium") else c.DIR_SHORT)


class CoreParts:
    """The base of the command mixins (:class:`~kimpbot.control.commands.CommandCore` sets these up)."""

    bot: "Bot"
    confirm_ttl_s: float
    _confirms: dict[str, Confirm]

    def _audit(self, action: str, by: str, details: dict[str, Any] | None = None) -> None:
        store = self.bot.store
        if store is None:
            log.info("audit (no store): %s by %s %s", action, by, details or {})
            return
        try:
            store.audit(action, by, details or {})
        except Exception as exc:  # auditing must never break a command
            log.error("audit of %s failed: %s: %s", action, type(exc).__name__, exc)

    def bot_switching(self) -> bool:
        return bool(getattr(self.bot, "switching", False))

    @property
    def trader(self) -> Any:
        return self.bot.trader

    def _no_trader(self) -> Reply:
        why = self._bot_status() or str(c.WATCHING_OR_STARTING)
        return Reply(text=str(c.NO_TRADER(why=why)))

    def _bot_status(self) -> str:
        """The bot's own line while it has no trader (starting, warm-up, NOT TRADING and why)."""
        fn = getattr(self.bot, "trading_status", None)
        return fn() if callable(fn) else ""

    def _new_confirm(self, action: str, by: str, payload: Any = None) -> str:
        """Step 1 of a destructive action: a one-time nonce for its ``cy``/``cn`` buttons (answered
        in :meth:`CommandCore._confirm_answer`)."""
        now = time.monotonic()
        for k in [k for k, cf in self._confirms.items() if now - cf.created > self.confirm_ttl_s * 5]:
            del self._confirms[k]
        nonce = _secrets.token_hex(4)
        self._confirms[nonce] = Confirm(action, now, by, payload=payload)
        return nonce
