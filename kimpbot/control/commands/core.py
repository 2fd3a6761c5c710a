"""The dispatcher of the command core: :class:`CommandCore` checks who is asking, runs a typed
command (``cmd_<name>`` of one of its parts) or a button press, and answers the second step of
every two-step action.

Every entry point takes the front end's name and the caller's user id, checks it against the
allowed set for that front end, and returns a :class:`~kimpbot.control.commands.base.Reply`.
Strangers are refused through :class:`~kimpbot.control.gate.StrangerGate` (counted, aggregated,
rate-limited answers).

A button only acts where it was offered: the front reports each message it posted with buttons
(:meth:`CommandCore.offered`), and a press (:meth:`CommandCore.press`) names the message it came
from. A callback data the bot never put on that message (a ``/set`` Apply forged onto a signal, an
Execute pressed as Apply) is refused and does nothing; a confirmation answers only to the user who
asked for it, on the message it was offered on, once, within ``CONFIRM_TTL_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Iterator

from kimpbot.control.commands.base import Button, Confirm, MessageKey, Reply, log, message_key, who
from kimpbot.control.commands.params import ParamsCommands
from kimpbot.control.commands.signals import SignalCommands
from kimpbot.control.commands.system import SystemCommands
from kimpbot.control.commands.trading import TradingCommands
from kimpbot.control.commands.views import ViewCommands
from kimpbot.control.gate import StrangerGate
from kimpbot.control.notify_prefs import NotifyCommands
from kimpbot.control.reports import ReportCommands
from kimpbot.i18n import chat as c
from kimpbot.i18n import common
from kimpbot.logs import log_tail

if TYPE_CHECKING:
    from kimpbot.engine import Bot

CONFIRM_TTL_S = 120.0
MAX_KEYBOARDS = 5000   # messages with buttons remembered (oldest forgotten first: their presses are refused)


class CommandCore(ViewCommands, TradingCommands, SignalCommands, ParamsCommands, SystemCommands, ReportCommands,
                  NotifyCommands):
    """Commands and button presses over a running :class:`~kimpbot.engine.Bot`."""

    def __init__(self, bot: "Bot", allowed: dict[str, frozenset[int] | None] | None = None) -> None:
        self.bot = bot
        s = bot.settings
        # None = no check (the console is the local operator); an empty set refuses everyone
        self.allowed: dict[str, frozenset[int] | None] = allowed if allowed is not None else {
            "telegram": frozenset(s.telegram_allowed_users),
            "discord": frozenset(s.discord_allowed_users),
            "console": None,
        }
        self._confirms: dict[str, Confirm] = {}
        self.findings: dict[str, dict[str, Any]] = {}   # fid -> {"text", "state"}
        self._fids = itertools.count(1)
        self._bg: set[asyncio.Task[Any]] = set()
        self.confirm_ttl_s = CONFIRM_TTL_S
        self.pending_restart: dict[str, Any] = {}  # confirmed changes that take effect at the next start
        self.gate = StrangerGate(self._audit)
        # (front, chat, message id) -> the callback data the bot put on that message
        self._keyboards: OrderedDict[MessageKey, frozenset[str]] = OrderedDict()
        self._offering: dict[str, int] = {}          # front -> posts with buttons whose answer is awaited
        self._offers_changed: asyncio.Event | None = None
        self.web_auth: Any = None  # the web dashboard (kimpbot.web), when the HTTP server runs
        log_tail()  # /logs without a log file reads the lines logged from now on

    # ---- authorization --------------------------------------------------------------------

    def authorized(self, front: str, user_id: int | str | None) -> bool:
        allowed = self.allowed.get(front, frozenset())
        if allowed is None:
            return True
        try:
            return user_id is not None and int(user_id) in allowed
        except (TypeError, ValueError):
            return False

    def refuse(self, front: str, user_id: Any, what: str, chat: Any = None, *, answer: bool = True) -> Reply:
        """A stranger's attempt: counted and audited in aggregate (:class:`StrangerGate`). The reply's
        text and toast are empty when nothing is to be sent back (``answer`` False, e.g. in a group,
        or past the rate limit)."""
        if not self.gate.refuse(who(front, user_id), what, chat, may_answer=answer):
            return Reply(refused=True)
        return Reply(text=str(c.NOT_AUTHORIZED_TEXT(uid=user_id)), toast=str(common.NOT_AUTHORIZED), refused=True)

    def _refuse(self, front: str, user_id: Any, what: str, chat: Any = None) -> Reply:
        return self.refuse(front, user_id, what, chat)

    # ---- buttons bound to their message ----------------------------------------------------------

    def offered(self, front: str, chat: Any, message: Any, buttons: list[list[Button]]) -> None:
        """The front posted (or edited) message ``message`` in ``chat`` with ``buttons``: from now
        on those callback data, and only those, act when pressed on it."""
        key = message_key(front, chat, message)
        data = frozenset(b.data for row in buttons for b in row)
        if not data:
            self._keyboards.pop(key, None)
            return
        self._keyboards[key] = data
        self._keyboards.move_to_end(key)
        while len(self._keyboards) > MAX_KEYBOARDS:
            self._keyboards.popitem(last=False)
        for d in data:
            kind, _, nonce = d.partition(":")
            cf = self._confirms.get(nonce) if kind in ("cy", "cn") else None
            if cf is not None and cf.message is None:  # a confirmation is offered on one message only
                cf.message = key
        self._changed()

    @contextlib.contextmanager
    def offering(self, front: str) -> Iterator[None]:
        """Around a post with buttons: a press that arrives before the post's answer (so before
        :meth:`offered`) waits for it instead of being refused."""
        self._offering[front] = self._offering.get(front, 0) + 1
        try:
            yield
        finally:
            self._offering[front] -= 1
            self._changed()

    def _changed(self) -> None:
        if self._offers_changed is not None:
            self._offers_changed.set()

    async def _settle(self, front: str, key: MessageKey, data: str, timeout: float = 5.0) -> str:
        """:meth:`_unbound`, after the posts of ``front`` still in flight have been answered."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        why = self._unbound(key, data)
        while why and self._offering.get(front) and loop.time() < end:
            if self._offers_changed is None:
                self._offers_changed = asyncio.Event()
            self._offers_changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._offers_changed.wait(), end - loop.time())
            why = self._unbound(key, data)
        return why

    def _unbound(self, key: MessageKey, data: str) -> str:
        """Why ``data`` may not act when pressed on message ``key`` ("" when it may)."""
        offered = self._keyboards.get(key)
        if offered is None:
            return str(c.WHY_NO_BUTTONS)
        if data not in offered:
            return str(c.WHY_NOT_OFFERED)
        return ""

    # ---- entry points -------------------------------------------------------------------

    async def handle(self, front: str, user_id: int | str | None, text: str, chat: Any = None) -> Reply:
        """A typed command: ``/name args`` (``/name@botname`` and a missing slash accepted)."""
        parts = text.strip().split()
        if not parts:
            return Reply(text="")
        name = parts[0].lstrip("/").split("@", 1)[0].lower()
        args = parts[1:]
        if not self.authorized(front, user_id):
            return self._refuse(front, user_id, f"/{name}", chat)
        by = who(front, user_id)
        if name == "dashboard":  # needs the front, the user and the chat, not just "by"
            return self.dashboard_link(front, user_id, chat)
        fn = getattr(self, f"cmd_{name}", None)
        if fn is None or name in ("",):
            return Reply(text=str(c.UNKNOWN_COMMAND(name=name[:40])))
        try:
            return await fn(by, args)
        except Exception as exc:
            log.exception("command /%s failed", name)
            return Reply(text=str(c.COMMAND_FAILED(name=name, error=f"{type(exc).__name__}: {exc}")))

    async def press(self, front: str, user_id: int | str | None, data: str, chat: Any = None,
                    message: Any = None) -> Reply:
        """A button press with callback ``data`` on message ``message`` of ``chat``: it acts only if
        the bot offered exactly that button on exactly that message."""
        if not self.authorized(front, user_id):
            return self._refuse(front, user_id, f"button {data[:64]}", chat)
        by = who(front, user_id)
        key = message_key(front, chat, message)
        why = await self._settle(front, key, data)
        if why:
            return self._refuse_button(by, data, key, why)
        kind, _, arg = data.partition(":")
        try:
            if kind == "x":
                return await self._execute(arg, by)
            if kind == "s":
                return self._skip(arg, by)
            if kind == "ca":
                return self._offer_close_all(by)
            if kind in ("cy", "cn"):
                return await self._confirm_answer(arg, by, kind == "cy", key)
            if kind in ("ra", "rc", "ri"):
                return await self._finding(kind, arg, by)
            if kind == "n":
                return self.notify_press(arg, by)
            if kind == "fx":
                return self._offer_forceexit(arg, by)
            if kind == "rf" and arg in ("status", "positions"):
                r = await (self.cmd_status if arg == "status" else self.cmd_positions)(by, [])
                return Reply(toast=str(c.REFRESHED), edit=r.text, mono=r.mono, buttons=r.buttons, data=r.data,
                             private=r.private)
            if kind == "pp":
                r = self._params_section(arg)
                return Reply(toast=arg[:40], edit=r.text, mono=r.mono, buttons=r.buttons, data=r.data)
        except Exception as exc:
            log.exception("button %s failed", data)
            return Reply(toast=str(c.FAILED_TOAST), edit=None,
                         text=str(c.BUTTON_FAILED(error=f"{type(exc).__name__}: {exc}")))
        return Reply(toast=str(c.UNKNOWN_BUTTON))

    def _refuse_button(self, by: str, data: str, key: MessageKey, why: str) -> Reply:
        """A press that may not act here: nothing is done; audited (only allowed users get here)."""
        log.warning("button %r from %s on message %s in %s %s refused: %s", data[:64], by, key[2], key[0], key[1], why)
        self._audit("button_refused", by, {"data": data[:64], "chat": key[1], "message": key[2], "why": why})
        return Reply(text=str(c.NOTHING_DONE(why=why)), toast=str(c.NOTHING_DONE_TOAST(why=why))[:190], refused=True,
                     data={"refused": why})

    # ---- step 2 of a two-step action -------------------------------------------------------------

    async def _confirm_answer(self, nonce: str, by: str, yes: bool, key: MessageKey | None = None) -> Reply:
        """Step 2 of a destructive action: one use, within the time limit, on the message it was
        offered on, by the user who asked for it."""
        cf = self._confirms.get(nonce)
        if cf is None:
            return Reply(toast=str(c.UNKNOWN_CONFIRM))
        data = f"{'cy' if yes else 'cn'}:{nonce}"
        if key is not None and cf.message != key:
            return self._refuse_button(by, data, key, str(c.WHY_OTHER_MESSAGE))
        if cf.by != by:
            return self._refuse_button(by, data, key or ("", "", ""), str(c.WHY_ONLY_ASKER(who=cf.by)))
        if cf.used:
            return Reply(toast=str(c.ALREADY_ANSWERED), data={"already": True})
        if self.bot_switching():  # the nonce stays usable
            return Reply(toast=str(c.SWITCHING_DONE_NOTHING))
        what = {"close_all": c.ACTION_CLOSE_ALL, "set_param": c.ACTION_SET_PARAM, "mode": c.ACTION_MODE,
                "forceexit": c.ACTION_FORCEEXIT, "reload": c.ACTION_RELOAD}[cf.action]()
        if time.monotonic() - cf.created > self.confirm_ttl_s:
            cf.used = True
            self._audit(f"{cf.action}_expired", by)
            return Reply(toast=str(c.CONFIRM_EXPIRED_TOAST), edit=str(c.CONFIRM_EXPIRED(what=what)),
                         data={"expired": True})
        cf.used = True
        if not yes:
            self._audit(f"{cf.action}_cancelled", by)
            return Reply(toast=str(c.CANCELLED_TOAST), edit=str(c.CANCELLED(what=what, by=by)), data={"cancelled": True})
        act = {"close_all": self._close_all, "set_param": self._apply_param, "mode": self._switch_mode,
               "forceexit": self._forceexit, "reload": self._apply_reload}[cf.action]
        return await act(cf, by)
