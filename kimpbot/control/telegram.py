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

from kimpbot.control.commands import Button, CommandCore, Reply
from kimpbot.control.notify import ChatConfigError, event_text, redact
from kimpbot.events import Event

if TYPE_CHECKING:
    from kimpbot.engine import Bot

log = logging.getLogger("kimpbot.control.telegram")

MAX_TEXT = 4000


def quiet_token_loggers() -> None:
    """Loggers that would print the token-bearing URL stay above the levels that do."""
    for name in ("httpx", "httpcore"):
        lg = logging.getLogger(name)
        if lg.getEffectiveLevel() < logging.WARNING:
            lg.setLevel(logging.WARNING)
    tg = logging.getLogger("telegram")
    if tg.getEffectiveLevel() < logging.INFO:
        tg.setLevel(logging.INFO)


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


class TelegramFront:
    def __init__(self, bot: "Bot", core: CommandCore | None = None, *, token: str | None = None,
                 api_url: str | None = None, chat_id: str | int | None = None, poll_timeout: int = 10,
                 retries: int = 5, backoff_s: float = 0.5, critical_retries: int = 40,
                 max_delay_s: float = 30.0) -> None:
        s = bot.settings
        self.bot = bot
        self.core = core or CommandCore(bot)
        self.token = token or s.telegram_bot_token
        self.api_url = (api_url or s.telegram_api_url).rstrip("/")
        cid = chat_id if chat_id is not None else s.telegram_chat_id
        self.chat_id: int | None = int(cid) if str(cid or "").strip() else None
        self.poll_timeout = poll_timeout
        self.retries = retries
        # money-safety alerts (unhedged leg, halt) keep trying through a long chat outage
        # (40 tries at up to 30 s apart: ~20 min); the others give up sooner
        self.critical_retries = critical_retries
        self.backoff_s = backoff_s
        self.max_delay_s = max_delay_s
        self.secrets = list(s.secrets()) + ([self.token] if self.token else [])
        self.app: Any = None
        self.username = ""
        self._ready = asyncio.Event()
        self._starter: asyncio.Task[None] | None = None  # the background start while Telegram is unreachable
        self.refused = False  # Telegram refused the token
        self._signal_msgs: dict[str, tuple[int, int, str]] = {}  # pending id -> (chat, message id, text)
        self._finding_msgs: dict[str, tuple[int, int]] = {}  # finding id -> (chat, message id)
        self._answering: set[int] = set()  # messages whose press is being handled here (edited here)
        self._refusals: set[asyncio.Task[Any]] = set()  # answers to strangers being sent (never awaited)
        self.delivered = 0
        self.undelivered = 0

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
        import random

        from telegram.error import NetworkError

        while True:
            await asyncio.sleep(delay / 2 + random.uniform(0, delay / 2))
            try:
                await self._start_app()
                log.info("Telegram reachable again: commands and alerts flow")
                return
            except NetworkError as exc:
                log.warning("Telegram still unreachable (%s); retrying", self._safe(exc))
            except ChatConfigError as exc:
                log.critical("%s", exc)
                return
            delay = min(delay * 2, cap)

    async def _start_app(self) -> None:
        from telegram import Update
        from telegram.error import InvalidToken
        from telegram.ext import (AIORateLimiter, ApplicationBuilder, CallbackQueryHandler, MessageHandler,
                                  TypeHandler, filters)

        quiet_token_loggers()
        app = (ApplicationBuilder().token(self.token).base_url(f"{self.api_url}/bot")
               .base_file_url(f"{self.api_url}/file/bot").rate_limiter(AIORateLimiter(max_retries=5))
               .concurrent_updates(True).build())
        app.add_handler(TypeHandler(Update, self._gate), group=-1)   # strangers stop here
        app.add_handler(MessageHandler(filters.COMMAND, self._on_command))
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
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=self.poll_timeout,
                                        allowed_updates=["message", "callback_query"])
        self._ready.set()
        log.info("Telegram bot @%s polling; alerts to chat %s", app.bot.username, self.chat_id)

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

    async def _call(self, what: str, fn: Any, *args: Any, retries: int | None = None, **kw: Any) -> Any:
        from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError

        tries = self.retries if retries is None else retries
        for attempt in range(tries + 1):
            try:
                return await fn(*args, **kw)
            except RetryAfter as exc:
                wait = exc.retry_after
                delay = float(wait.total_seconds() if hasattr(wait, "total_seconds") else wait)
            except BadRequest as exc:
                if "not modified" in str(exc):
                    return None
                log.error("Telegram %s refused: %s", what, self._safe(exc))
                return None
            except (Forbidden, InvalidToken) as exc:
                log.error("Telegram %s refused: %s", what, self._safe(exc))
                return None
            except NetworkError as exc:  # includes TimedOut and 5xx
                delay = self.backoff_s * (2 ** min(attempt, 16))
                if attempt < tries:
                    log.warning("Telegram %s failed (%s); retry %d/%d", what, self._safe(exc), attempt + 1, tries)
            except TelegramError as exc:  # ChatMigrated, Conflict, ...: not retried, never raised into the bus
                log.error("Telegram %s failed: %s", what, self._safe(exc))
                return None
            if attempt < tries:
                await asyncio.sleep(min(delay, self.max_delay_s))
        log.error("Telegram %s not delivered after %d attempts", what, tries + 1)
        return None

    async def send(self, chat_id: int, text: str, *, buttons: list[list[Button]] | None = None,
                   mono: bool = False, photo: bytes | None = None, reply_to: int | None = None,
                   retries: int | None = None) -> Any:
        """Post ``text`` (split if long); returns the last Message or None."""
        if self.app is None:
            return None
        if buttons:
            with self.core.offering("telegram"):
                return await self._send(chat_id, text, buttons, mono, photo, reply_to, retries)
        return await self._send(chat_id, text, buttons, mono, photo, reply_to, retries)

    async def _send(self, chat_id: int, text: str, buttons: list[list[Button]] | None, mono: bool,
                    photo: bytes | None, reply_to: int | None, retries: int | None) -> Any:
        bot = self.app.bot
        text = redact(text, self.secrets)
        markup = _markup(buttons or [])
        if photo is not None:
            msg = await self._call("sendPhoto", bot.send_photo, chat_id=chat_id, photo=photo,
                                   caption=text[:1000] or None, reply_markup=markup, retries=retries)
            if msg is not None and buttons:
                self.core.offered("telegram", chat_id, msg.message_id, buttons)
            return msg
        parts = _chunks(text)
        msg = None
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            kw: dict[str, Any] = {"chat_id": chat_id, "reply_markup": markup if last else None}
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
        if buttons:  # the message's new buttons replace the old ones (presses of the old are refused)
            self.core.offered("telegram", chat_id, message_id, buttons)
        text = redact(text, self.secrets)[:MAX_TEXT - 11]
        kw: dict[str, Any] = {"text": f"<pre>{html.escape(text)}</pre>", "parse_mode": "HTML"} if mono else {"text": text}
        return await self._call("editMessageText", self.app.bot.edit_message_text, chat_id=chat_id,
                                message_id=message_id, reply_markup=_markup(buttons or []), **kw)

    async def reply(self, chat_id: int, r: Reply, reply_to: int | None = None) -> Any:
        if not r.text and r.photo is None:
            return None
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
        user = update.effective_user
        if msg is None or chat is None or not msg.text:
            return
        first = msg.text.split(maxsplit=1)[0]
        if "@" in first and first.split("@", 1)[1].lower() != self.username:
            return  # a command for another bot in a group
        r = await self.core.handle("telegram", user.id if user else None, msg.text, chat=chat.id)
        await self.reply(chat.id, r, reply_to=msg.message_id)

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
            await self._call("answerCallbackQuery", q.answer, text="Working…")
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
        if ev.kind == "signal" and ev.data.get("pending_id"):
            pid = str(ev.data["pending_id"])
            text = event_text(ev)
            blocked = self.core.entries_blocked() if ev.data.get("action") != "exit" else ""
            if blocked:  # no buttons for an entry that cannot go
                msg = await self.send(chat, f"{text}\n({blocked})")
            else:
                msg = await self.send(chat, text, buttons=self.core.signal_buttons(pid))
            if msg is not None and not blocked:
                self._signal_msgs[pid] = (chat, msg.message_id, text)
        elif ev.kind in ("signal_answered", "finding_answered"):
            # answered elsewhere (the other chat, the console): this copy loses its buttons too
            msgs: dict[str, Any] = self._signal_msgs if ev.kind == "signal_answered" else self._finding_msgs
            ref = msgs.pop(str(ev.data.get("key")), None)
            if ref is not None and ref[1] not in self._answering:  # a press here edits its own message
                await self.edit(ref[0], ref[1], ev.message)
            return
        elif ev.kind == "signal_expired":
            pid = str(ev.data.get("pending_id"))
            ref = self._signal_msgs.pop(pid, None)
            if ref is not None:
                await self.edit(ref[0], ref[1], ref[2] + "\n⌛ Expired: nothing sent.")
            return
        elif ev.kind == "reconcile" and ev.data.get("findings"):
            msg = await self.send(chat, event_text(ev).split("\n", 1)[0]
                                  + f" {len(ev.data['findings'])} finding(s) below.")
            for f in ev.data["findings"]:
                fid = self.core.add_finding(str(f))
                msg = await self.send(chat, f"🔎 {f}", buttons=self.core.finding_buttons(fid))
                if msg is not None:
                    self._finding_msgs[fid] = (chat, msg.message_id)
        else:
            msg = await self.send(chat, event_text(ev),
                                  retries=self.critical_retries if ev.level == "critical" else None)
        if msg is None:
            self.undelivered += 1
        else:
            self.delivered += 1
