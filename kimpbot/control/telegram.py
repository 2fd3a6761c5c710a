"""Telegram front end (python-telegram-bot Application, long polling) over the command core.

* Every command goes to :class:`~kimpbot.control.commands.CommandCore` with the sender's user id
  (also in group chats: the *user* is checked, never the chat).
* Strangers are turned away first and cheaply, by a ``TypeHandler`` in group -1 that ends their
  update with ``ApplicationHandlerStop`` (python-telegram-bot's documented pattern for "handle an
  update before other handlers", wiki: Frequently requested design patterns): never answered in a
  group, answered at most once a window in private (not awaited, so no update waits on a send),
  audited in aggregate (:mod:`kimpbot.control.gate`). Updates run concurrently, so the owner's
  ``/halt`` never waits behind a stranger or behind the owner's own slow ``/chart``.
* Every message the bot posts with buttons is reported to the core (``offered``) and every press
  names its message, so a button acts only on the message it was put on.
* At start the command menu is registered (``setMyCommands``) from
  :mod:`kimpbot.control.command_list` (``menu=True``): the bot's language as the default list, and
  one list each for ``language_code`` ``ko`` and ``en`` (Telegram shows a user the list of their app
  language, else the default). The first command answer after start, and every ``/start`` and
  ``/help`` answer in a private chat, carry a reply keyboard (``keyboard=True`` commands, resized,
  persistent); its labels are catalogue words, mapped back to their command when pressed.
* Every bus event is posted to ``TELEGRAM_CHAT_ID``; a signal in confirmation mode carries
  Execute / Skip buttons (edited to "expired" when it times out); reconciliation findings carry
  Adopt / Close / Ignore.
* Sends are retried (AIORateLimiter queues for flood limits; network errors and 5xx are retried
  here with backoff) inside the bus subscriber's own task, so a chat outage never blocks trading.
* The token is in every Bot API URL: httpx/httpcore are kept at WARNING and python-telegram-bot
  at INFO (its DEBUG lines print URLs), and error texts are redacted before they are logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from typing import TYPE_CHECKING, Any

from kimpbot import i18n
from kimpbot.backoff import Backoff
from kimpbot.control.cards import Card, card_alert, render_card
from kimpbot.control.command_list import COMMANDS
from kimpbot.control.commands import Button, CommandCore, Reply
from kimpbot.control.front import ChatFront
from kimpbot.control.notify import ChatConfigError, event_text, redact
from kimpbot.events import Event
from kimpbot.i18n import fronts as tx
from kimpbot.i18n.cards import FINDINGS_BELOW

if TYPE_CHECKING:
    from kimpbot.engine import Bot

log = logging.getLogger("kimpbot.control.telegram")

MAX_TEXT = 4000
UNCHANGED = "unchanged"   # an edit Telegram answered "message is not modified": the text is already there


def quiet_token_loggers() -> None:
    """Loggers that would print the token-bearing URL stay above the levels that do."""
    for name in ("httpx", "httpcore"):
        lg = logging.getLogger(name)
        if lg.getEffectiveLevel() < logging.WARNING:
            lg.setLevel(logging.WARNING)
    tg = logging.getLogger("telegram")
    if tg.getEffectiveLevel() < logging.INFO:
        tg.setLevel(logging.INFO)


MENU_LANGS = ("ko", "en")   # language_code lists registered besides the default one
KEYBOARD_COLUMNS = 3        # buttons per row: three short labels fit a phone's width
# the reply keyboard's label of each keyboard=True command (command_list)
KEYBOARD_LABELS = {"status": tx.KB_STATUS, "positions": tx.KB_POSITIONS, "pnl": tx.KB_PNL,
                   "balance": tx.KB_BALANCE, "chart": tx.KB_CHART, "pending": tx.KB_PENDING, "halt": tx.KB_HALT}


def menu_commands(lang: str | None = None) -> list[tuple[str, str]]:
    """(command, description) of Telegram's command menu in ``lang`` (default: the bot's)."""
    return [(c.name, c.help.render(lang)[:256]) for c in COMMANDS if c.menu]


def keyboard_commands() -> list[str]:
    return [c.name for c in COMMANDS if c.keyboard]


def keyboard_rows(lang: str | None = None) -> list[list[str]]:
    """The reply keyboard's labels, ``KEYBOARD_COLUMNS`` a row."""
    labels = [KEYBOARD_LABELS[n].render(lang) if n in KEYBOARD_LABELS else f"/{n}" for n in keyboard_commands()]
    return [labels[i:i + KEYBOARD_COLUMNS] for i in range(0, len(labels), KEYBOARD_COLUMNS)]


def keyboard_command(text: str) -> str | None:
    """The command a pressed keyboard label stands for (a label of either language), else None."""
    t = (text or "").strip()
    for name in keyboard_commands():
        msg = KEYBOARD_LABELS.get(name)
        if msg is not None and t in {msg.render(lang) for lang in i18n.LANGS}:
            return name
    return None


def reply_keyboard(lang: str | None = None) -> Any:
    from telegram import KeyboardButton, ReplyKeyboardMarkup

    return ReplyKeyboardMarkup([[KeyboardButton(t) for t in row] for row in keyboard_rows(lang)],
                               resize_keyboard=True, is_persistent=True,
                               input_field_placeholder=tx.KB_PLACEHOLDER.render(lang)[:64])


def _markup(buttons: list[list[Button]]) -> Any:
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    if not buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.text, callback_data=b.data) for b in row]
                                 for row in buttons])


def _chunks(text: str, size: int = MAX_TEXT) -> list[str]:
    if len(text) <= size:
        return [text]
    out, cur = [], ""
    for line in text.split("\n"):
        while len(line) > size:
            if cur:
                out.append(cur)
                cur = ""
            out.append(line[:size])
            line = line[size:]
        if len(cur) + len(line) + 1 > size:
            out.append(cur)
            cur = line
        else:
            cur = f"{cur}\n{line}" if cur else line
    if cur:
        out.append(cur)
    return out


class TelegramFront(ChatFront):
    def __init__(self, bot: "Bot", core: CommandCore | None = None, *, token: str | None = None,
                 api_url: str | None = None, chat_id: str | int | None = None, poll_timeout: int = 10,
                 retries: int = 5, backoff_s: float = 0.5, critical_retries: int = 40,
                 max_delay_s: float = 30.0) -> None:
        s = bot.settings
        super().__init__(bot, core, token or s.telegram_bot_token, retries=retries, backoff_s=backoff_s,
                         critical_retries=critical_retries, max_delay_s=max_delay_s)
        self.api_url = (api_url or s.telegram_api_url).rstrip("/")
        self.chat_id = self.target(chat_id, s.telegram_chat_id)
        self.poll_timeout = poll_timeout
        self.app: Any = None
        self.username = ""
        self._ready = asyncio.Event()
        self._starter: asyncio.Task[None] | None = None  # the background start while Telegram is unreachable
        self.refused = False  # Telegram refused the token
        self._signal_msgs: dict[str, tuple[int, int, str]] = {}  # pending id -> (chat, message id, text)
        self._finding_msgs: dict[str, tuple[int, int]] = {}  # finding id -> (chat, message id)
        self._refusals: set[asyncio.Task[Any]] = set()  # answers to strangers being sent (never awaited)
        self.menu_set: dict[str, bool] = {}   # "" (default), "ko", "en" -> setMyCommands accepted
        self._keyboard_shown = False          # the reply keyboard went out since start
        self._card_msgs: dict[str, tuple[int, int]] = {}     # card key -> (chat, message id)
        self._card_at: dict[tuple[int, int], str] = {}       # (chat, message id) -> card key

    # ---- lifecycle ------------------------------------------------------------------------

    def attach(self) -> None:
        """Subscribe to the bot's events (before ``bot.start()`` so nothing is missed)."""
        self.bot.bus.subscribe(self.on_event)

    async def start(self, retry_s: float = 5.0, retry_max_s: float = 300.0) -> None:
        """Start polling. A refused token raises :class:`ChatConfigError` (the owner must fix it);
        Telegram unreachable (network, 5xx, maintenance) never fails the start: it is tried again in
        the background with a doubling, capped and jittered back-off, and alerts wait for it."""
        from telegram.error import NetworkError

        try:
            await self._start_app()
        except NetworkError as exc:
            log.warning("Telegram unreachable at start (%s); retrying in the background", self._safe(exc))
            self._starter = asyncio.create_task(self._start_later(retry_s, retry_max_s))

    async def _start_later(self, delay: float, cap: float) -> None:
        from telegram.error import NetworkError

        policy = Backoff(delay, cap)
        while True:
            await asyncio.sleep(policy.next_wait())
            try:
                await self._start_app()
                log.info("Telegram reachable again: commands and alerts flow")
                return
            except NetworkError as exc:
                log.warning("Telegram still unreachable (%s); retrying", self._safe(exc))
            except ChatConfigError as exc:
                log.critical("%s", exc)
                return

    async def _start_app(self) -> None:
        from telegram import Update
        from telegram.error import InvalidToken
        from telegram.ext import (
            AIORateLimiter,
            ApplicationBuilder,
            CallbackQueryHandler,
            MessageHandler,
            TypeHandler,
            filters,
        )

        quiet_token_loggers()
        app = (ApplicationBuilder().token(self.token).base_url(f"{self.api_url}/bot")
               .base_file_url(f"{self.api_url}/file/bot").rate_limiter(AIORateLimiter(max_retries=5))
               .concurrent_updates(True).build())
        app.add_handler(TypeHandler(Update, self._gate), group=-1)   # strangers stop here
        app.add_handler(MessageHandler(filters.COMMAND, self._on_command))
        app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self._on_text))   # keyboard labels
        app.add_handler(CallbackQueryHandler(self._on_callback))
        app.add_error_handler(self._on_error)
        try:
            await app.initialize()
        except InvalidToken:
            # the exception's text carries the token: never log or show it
            self.refused = True  # events are not held for a front that can never post
            raise ChatConfigError("Telegram refused TELEGRAM_BOT_TOKEN (check it with @BotFather)") from None
        except BaseException:
            with contextlib.suppress(Exception):
                await app.shutdown()
            raise
        self.app = app
        self.username = (app.bot.username or "").lower()
        self._keyboard_shown = False
        await self.set_menu()
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=self.poll_timeout,
                                        allowed_updates=["message", "callback_query"])
        self._ready.set()
        log.info("Telegram bot @%s polling; alerts to chat %s", app.bot.username, self.chat_id)

    async def set_menu(self) -> dict[str, bool]:
        """Register the command menu: the bot's language as the default list, then one per
        ``MENU_LANGS`` code. A refusal or an outage only warns (commands still work typed)."""
        from telegram import BotCommand

        assert self.app is not None
        for code in ("",) + MENU_LANGS:
            cmds = [BotCommand(n, d) for n, d in menu_commands(code or None)]
            kw = {"language_code": code} if code else {}
            ok = await self._call("setMyCommands", self.app.bot.set_my_commands, cmds, retries=1, **kw)
            self.menu_set[code] = bool(ok)
            if not ok:
                log.warning("Telegram command menu (%s) not registered", code or "default")
        return self.menu_set

    async def stop(self) -> None:
        self._ready.clear()
        self.core.gate.close()
        for t in list(self._refusals):
            t.cancel()
        starter, self._starter = self._starter, None
        if starter is not None:
            starter.cancel()
            await asyncio.gather(starter, return_exceptions=True)
        app, self.app = self.app, None
        if app is None:
            return
        try:
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
            await app.shutdown()
        except Exception as exc:
            log.warning("Telegram shutdown: %s", self._safe(exc))

    # ---- sending with retries ---------------------------------------------------------------

    def _safe(self, exc: BaseException) -> str:
        from telegram.error import InvalidToken

        if isinstance(exc, InvalidToken):
            return "InvalidToken"
        return redact(f"{type(exc).__name__}: {exc}", self.secrets)

    async def _call(self, what: str, fn: Any, *args: Any, retries: int | None = None, unchanged: Any = None,
                    **kw: Any) -> Any:
        """``fn(*args, **kw)`` with retries; None when not delivered. ``unchanged``: what to return when
        Telegram says the message is not modified (an edit to the text it already has: no error)."""
        from telegram.error import (
            BadRequest,
            Forbidden,
            InvalidToken,
            NetworkError,
            RetryAfter,
            TelegramError,
        )

        tries = self.retries if retries is None else retries
        for attempt in range(tries + 1):
            try:
                return await fn(*args, **kw)
            except RetryAfter as exc:
                # AIORateLimiter already waited out Telegram's flood limit max_retries times: retrying
                # here again would only hold the queue longer (the one flood policy is the limiter's)
                log.error("Telegram %s not delivered: flood limit still in force after the rate limiter's "
                          "retries (%s)", what, self._safe(exc))
                return None
            except BadRequest as exc:
                if "not modified" in str(exc):
                    return unchanged
                log.error("Telegram %s refused: %s", what, self._safe(exc))
                return None
            except (Forbidden, InvalidToken) as exc:
                log.error("Telegram %s refused: %s", what, self._safe(exc))
                return None
            except NetworkError as exc:  # includes TimedOut and 5xx
                if attempt < tries:
                    log.warning("Telegram %s failed (%s); retry %d/%d", what, self._safe(exc), attempt + 1, tries)
            except TelegramError as exc:  # ChatMigrated, Conflict, ...: not retried, never raised into the bus
                log.error("Telegram %s failed: %s", what, self._safe(exc))
                return None
            if attempt < tries:
                await asyncio.sleep(self.retry_delay(attempt))
        log.error("Telegram %s not delivered after %d attempts", what, tries + 1)
        return None

    async def send(self, chat_id: int, text: str, *, buttons: list[list[Button]] | None = None,
                   mono: bool = False, photo: bytes | None = None, reply_to: int | None = None,
                   retries: int | None = None, silent: bool = False) -> Any:
        """Post ``text`` (split if long); returns the last Message or None. ``silent``: delivered
        without a sound (``disable_notification``), for routine messages; alerts ring."""
        if self.app is None:
            return None
        if buttons:
            with self.core.offering("telegram"):
                return await self._send(chat_id, text, buttons, mono, photo, reply_to, retries, silent)
        return await self._send(chat_id, text, buttons, mono, photo, reply_to, retries, silent)

    async def _send(self, chat_id: int, text: str, buttons: list[list[Button]] | None, mono: bool,
                    photo: bytes | None, reply_to: int | None, retries: int | None, silent: bool = False) -> Any:
        bot = self.app.bot
        text = redact(text, self.secrets)
        markup = _markup(buttons or [])
        if photo is not None:
            msg = await self._call("sendPhoto", bot.send_photo, chat_id=chat_id, photo=photo,
                                   caption=text[:1000] or None, reply_markup=markup, retries=retries,
                                   **({"disable_notification": True} if silent else {}))
            if msg is not None and buttons:
                self.core.offered("telegram", chat_id, msg.message_id, buttons)
            return msg
        parts = _chunks(text)
        msg = None
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            kw: dict[str, Any] = {"chat_id": chat_id, "reply_markup": markup if last else None}
            if silent:
                kw["disable_notification"] = True
            if mono:
                kw["text"] = f"<pre>{html.escape(part)}</pre>"
                kw["parse_mode"] = "HTML"
            else:
                kw["text"] = part
            if reply_to is not None and i == 0:
                kw["reply_to_message_id"] = reply_to
            msg = await self._call("sendMessage", bot.send_message, retries=retries, **kw)
        if msg is not None and buttons:
            self.core.offered("telegram", chat_id, msg.message_id, buttons)
        return msg

    async def edit(self, chat_id: int, message_id: int, text: str, buttons: list[list[Button]] | None = None,
                   mono: bool = False) -> Any:
        if self.app is None:
            return None
        card = self.cards.get(self._card_at.get((chat_id, message_id), ""))
        if card is not None:
            # a trade card answered by a press here: it shows its own state (the answer included),
            # never the plain answer text over it
            return await self._show_card(self.cards.sync(card))
        if buttons:  # the message's new buttons replace the old ones (presses of the old are refused)
            self.core.offered("telegram", chat_id, message_id, buttons)
        text = redact(text, self.secrets)[:MAX_TEXT - 11]
        kw: dict[str, Any] = {"text": f"<pre>{html.escape(text)}</pre>", "parse_mode": "HTML"} if mono else {"text": text}
        return await self._call("editMessageText", self.app.bot.edit_message_text, chat_id=chat_id,
                                message_id=message_id, reply_markup=_markup(buttons or []), **kw)

    async def reply(self, chat_id: int, r: Reply, reply_to: int | None = None, *, keyboard: bool = False) -> Any:
        """Answer a command; ``keyboard``: with the reply keyboard, when the answer has no inline
        buttons of its own (a message carries one markup) and fits one message. Should that send
        be refused, the answer goes out the ordinary way: an answer is never lost to the keyboard."""
        if not r.text and r.photo is None:
            return None
        if keyboard and not r.buttons and r.photo is None and self.app is not None:
            text = redact(r.text, self.secrets)
            if text and len(text) <= MAX_TEXT:   # Telegram counts the text after parsing (not the HTML)
                body = f"<pre>{html.escape(text)}</pre>" if r.mono else text
                kw: dict[str, Any] = {"chat_id": chat_id, "reply_markup": reply_keyboard(), "text": body}
                if r.mono:
                    kw["parse_mode"] = "HTML"
                if reply_to is not None:
                    kw["reply_to_message_id"] = reply_to
                msg = await self._call("sendMessage", self.app.bot.send_message, **kw)
                if msg is not None:
                    self._keyboard_shown = True
                    return msg
        return await self.send(chat_id, r.text, buttons=r.buttons, mono=r.mono, photo=r.photo, reply_to=reply_to)

    # ---- updates ---------------------------------------------------------------------------

    async def _gate(self, update: Any, context: Any) -> None:
        """Group -1, before every other handler: an allowed user's update goes on; anyone else's
        stops here after a few dictionary operations (no await, no store write per update)."""
        from telegram.ext import ApplicationHandlerStop

        user = update.effective_user
        if user is not None and self.core.authorized("telegram", user.id):
            return
        self._turn_away(update, None if user is None else user.id)
        raise ApplicationHandlerStop

    def _turn_away(self, update: Any, user_id: int | None) -> None:
        q = update.callback_query
        chat = update.effective_chat
        chat_id = chat.id if chat is not None else None
        if q is not None:
            # a press's answer is a pop-up only the presser sees: allowed, rate-limited
            r = self.core.refuse("telegram", user_id, f"button {(q.data or '')[:64]}", chat_id)
            if r.toast:
                self._in_background(self._call("answerCallbackQuery", q.answer, text=r.toast, show_alert=True,
                                               retries=0))
            return
        msg = update.effective_message
        text = (msg.text or "") if msg is not None else ""
        if not text.startswith("/") or chat is None:
            return  # not a command (a group's chatter): not an attempt, nothing to count
        first = text.split(maxsplit=1)[0]
        if "@" in first and first.split("@", 1)[1].lower() != self.username:
            return  # a command for another bot in the group
        name = first.split("@", 1)[0][:40]
        r = self.core.refuse("telegram", user_id, name, chat_id, answer=chat.type == "private")
        if r.text:
            self._in_background(self.send(chat_id, r.text, reply_to=msg.message_id, retries=0))

    def _in_background(self, coro: Any) -> None:
        """Answer a stranger without holding up the update (or anyone else's)."""
        task = asyncio.create_task(coro)
        self._refusals.add(task)
        task.add_done_callback(self._refusals.discard)

    async def _on_command(self, update: Any, context: Any) -> None:
        msg = update.effective_message
        chat = update.effective_chat
        if msg is None or chat is None or not msg.text:
            return
        first = msg.text.split(maxsplit=1)[0]
        if "@" in first and first.split("@", 1)[1].lower() != self.username:
            return  # a command for another bot in a group
        await self._command(update, msg.text)

    async def _on_text(self, update: Any, context: Any) -> None:
        """A reply keyboard press arrives as its label: run the command it stands for."""
        msg = update.effective_message
        name = keyboard_command(msg.text or "") if msg is not None else None
        if name is not None:
            await self._command(update, f"/{name}")

    async def _command(self, update: Any, text: str) -> None:
        msg = update.effective_message
        chat = update.effective_chat
        user = update.effective_user
        r = await self.core.handle("telegram", user.id if user else None, text, chat=chat.id)
        name = text.split(maxsplit=1)[0].lstrip("/").split("@", 1)[0].lower()
        # the keyboard only in a private chat: in a group (privacy mode) a tapped label is a plain
        # message the bot never receives, so the buttons would do nothing
        want = name in ("start", "help") or not self._keyboard_shown
        await self.reply(chat.id, r, reply_to=msg.message_id, keyboard=want and chat.type == "private")

    async def _on_callback(self, update: Any, context: Any) -> None:
        q = update.callback_query
        if q is None:
            return
        chat_id = q.message.chat.id if q.message is not None else None
        mid = q.message.message_id if q.message is not None else None
        if mid is not None:
            self._answering.add(mid)
        try:
            await self._answer_press(q, chat_id)
        finally:
            self._answering.discard(mid)  # type: ignore[arg-type]

    async def _answer_press(self, q: Any, chat_id: int | None) -> None:
        mid = q.message.message_id if q.message is not None else None
        task = asyncio.create_task(self.core.press("telegram", q.from_user.id, q.data or "", chat=chat_id,
                                                   message=mid))
        done, _ = await asyncio.wait({task}, timeout=4.0)
        answered = False
        if task not in done:  # an execution takes a while: answer the press now, report after
            await self._call("answerCallbackQuery", q.answer, text=tx.WORKING.render())
            answered = True
        r = await task
        if not answered:
            await self._call("answerCallbackQuery", q.answer, text=(r.toast or None) and r.toast[:190],
                             show_alert=r.refused)
        if r.refused:
            return
        if r.edit is not None and q.message is not None:
            await self.edit(chat_id, q.message.message_id, r.edit, r.buttons, mono=r.mono)
            for pid, (c, m, _t) in list(self._signal_msgs.items()):
                if c == chat_id and m == q.message.message_id:
                    del self._signal_msgs[pid]
            for fid, (c, m) in list(self._finding_msgs.items()):
                if c == chat_id and m == q.message.message_id:
                    del self._finding_msgs[fid]
        elif r.text and chat_id is not None:
            await self.reply(chat_id, r)

    async def _on_error(self, update: Any, context: Any) -> None:
        log.error("Telegram update handling failed: %s", self._safe(context.error))

    # ---- events ----------------------------------------------------------------------------

    async def on_event(self, ev: Event) -> None:
        if self.chat_id is None or self.refused:
            return
        if not self._ready.is_set():
            try:
                await asyncio.wait_for(self._ready.wait(), timeout=60)
            except asyncio.TimeoutError:
                self.undelivered += 1
                log.warning("Telegram not ready: %s event not posted", ev.kind)
                return
        chat = self.chat_id
        level = self.core.notify_prefs.level(ev)
        card = self.cards.feed(ev)
        if card is not None:
            if ev.kind == "signal":
                card.blocked = self.core.entries_blocked() if card.action != "exit" else ""
            ok = await self._show_card(card)
            if card_alert(ev):  # a critical alert also goes out on its own, loud (never only in a card)
                ok = await self.send(chat, event_text(ev), retries=self.critical_retries) is not None and ok
            if ok is not None:
                self._count(ok)
            return
        if ev.kind in ("signal_answered", "finding_answered", "signal_expired"):
            if ev.kind == "finding_answered":
                # answered elsewhere (the other chat, the console): this copy loses its buttons too
                ref = self._finding_msgs.pop(str(ev.data.get("key")), None)
                if ref is not None and ref[1] not in self._answering:  # a press here edits its own message
                    await self.edit(ref[0], ref[1], ev.shown())
            return   # a signal this chat never showed: nothing to edit
        if level == "off":
            return
        silent = level == "silent"
        if ev.kind == "reconcile" and ev.data.get("findings"):
            msg = await self.send(chat, event_text(ev).split("\n", 1)[0]
                                  + " " + str(FINDINGS_BELOW(n=len(ev.data['findings']))))
            for f in ev.data["findings"]:
                fid = self.core.add_finding(str(f))
                msg = await self.send(chat, f"🔎 {f}", buttons=self.core.finding_buttons(fid))
                if msg is not None:
                    self._finding_msgs[fid] = (chat, msg.message_id)
        else:
            msg = await self.send(chat, event_text(ev), silent=silent,
                                  retries=self.critical_retries if ev.level == "critical" else None)
        self._count(msg is not None)

    def _count(self, ok: bool) -> None:
        if ok:
            self.delivered += 1
        else:
            self.undelivered += 1

    async def _show_card(self, card: Card) -> bool | None:
        """Post the card, or edit its message to the card's current state. A failed edit posts the
        new state as a new message (never lost); "message is not modified" is not a failure.
        True delivered, False not, None nothing to show (its kind is turned off)."""
        lock = self._card_locks.setdefault(card.key, asyncio.Lock())
        async with lock:
            if self.app is None:   # stopping
                return False
            ref = self._card_msgs.get(card.key)
            text = render_card(card)
            buttons = self.core.signal_buttons(card.pending_id) if card.buttons_wanted() else None
            if ref is not None:
                if buttons:
                    self.core.offered("telegram", ref[0], ref[1], buttons)
                res = await self._call("editMessageText", self.app.bot.edit_message_text, chat_id=ref[0],
                                       message_id=ref[1], text=f"<pre>{html.escape(redact(text, self.secrets))}</pre>",
                                       parse_mode="HTML", reply_markup=_markup(buttons or []), unchanged=UNCHANGED)
                if res is not None:
                    return True
                log.warning("Telegram: card %s not edited; its new state is posted as a new message", card.key)
                self._card_at.pop(ref, None)
                if not buttons:
                    self.core.offered("telegram", ref[0], ref[1], [])
            level = self.core.notify_prefs.group_level(card.group)
            if level == "off" and ref is None:
                return None
            msg = await self.send(self.chat_id, text, mono=True, buttons=buttons,  # type: ignore[arg-type]
                                  silent=level == "silent" or ref is not None,
                                  retries=self.critical_retries if card.alert else None)
            if msg is None:
                return False
            self._card_msgs[card.key] = (msg.chat_id, msg.message_id)
            self._card_at[(msg.chat_id, msg.message_id)] = card.key
            while len(self._card_msgs) > self.cards.max_cards:
                old_key = next(iter(self._card_msgs))
                self._card_at.pop(self._card_msgs.pop(old_key), None)
                self._card_locks.pop(old_key, None)
            return True
