"""The chat-independent command core (like freqtrade's ``rpc``): Telegram, Discord and the console
are thin front ends over it.

Every entry point takes the front end's name and the caller's user id, checks it against the
allowed set for that front end, and returns a :class:`Reply`: data for a program plus a short,
phone-sized text. Buttons carry short ``callback data`` strings::

    x:<pending_id>   Execute a pending signal        s:<pending_id>  Skip it
    ca               offer "close all" (step 1)      cy:<nonce> / cn:<nonce>  confirm / cancel (step 2)
    ra:<fid> / rc:<fid> / ri:<fid>                    Adopt / Close / Ignore a reconciliation finding
    fx:<position id> offer to close one position (step 1 of /forceexit)
    rf:status / rf:positions                          Refresh: the view again, edited in place
    pp:<section>     /params of one section (paged in place)

Every text comes from the catalogue (``kimpbot.i18n.chat``), rendered when the reply is made, in the
language being rendered (the process's ``KIMPBOT_LANG``, or an enclosing ``i18n.using``).
Monospace views keep within 36 cells a line (:func:`kimpbot.control.format.mono`).

Destructive actions (close all, a parameter change, a switch to live or back to paper) need a
second, one-time confirmation button (``cy``/``cn``) that expires after ``CONFIRM_TTL_S``. Every state change
and every refusal is audited through ``store.audit`` (who = ``"<front>:<user id>"``).

A button only acts where it was offered: the front reports each message it posted with buttons
(:meth:`CommandCore.offered`), and a press (:meth:`CommandCore.press`) names the message it came
from. A callback data the bot never put on that message (a ``/set`` Apply forged onto a signal, an
Execute pressed as Apply) is refused and does nothing; a confirmation answers only to the user who
asked for it. Strangers are refused through :class:`~kimpbot.control.gate.StrangerGate` (counted,
aggregated, rate-limited answers).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import secrets as _secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from kimpbot.control.command_list import BY_NAME, COMMANDS, CommandSpec
from kimpbot.control.format import fx_lines, mono, unresolved_line, unresolved_orders
from kimpbot.control.gate import StrangerGate
from kimpbot.control.notify_prefs import NotifyCommands
from kimpbot.control.reports import FileRecords, ReportCommands
from kimpbot.events import Event
from kimpbot.i18n import chat as c
from kimpbot.i18n import common, pad
from kimpbot.i18n.units import duration, krw, kst, num, pct, qty, usdt
from kimpbot.logs import log_tail, redact_line
from kimpbot.params import ParamValue

if TYPE_CHECKING:
    from kimpbot.engine import Bot

log = logging.getLogger("kimpbot.control.commands")

KST_OFFSET_MS = 9 * 3_600_000
CONFIRM_TTL_S = 120.0
MAX_KEYBOARDS = 5000   # messages with buttons remembered (oldest forgotten first: their presses are refused)
LOGS_DEFAULT = 20
FORCEEXIT_WAIT_S = 10.0  # /forceexit waits this long for a trade of the coin in flight, then refuses
LOGS_MAX = 200         # /logs n: more than this is not read on a phone (and Telegram cuts at 4096 characters)

# /help: the command list (command_list.py) in groups; a command not named here goes under "Other"
HELP_GROUPS: tuple[tuple[Any, tuple[str, ...]], ...] = (
    (c.HELP_GROUP_VIEW, ("status", "positions", "pnl", "balance", "trades", "pending", "chart", "params")),
    (c.HELP_GROUP_REPORTS, ("daily", "weekly", "monthly", "performance", "stats")),
    (c.HELP_GROUP_CONTROL, ("start", "stop", "halt", "resume", "forceexit", "closeall", "confirm", "skip")),
    (c.HELP_GROUP_SETUP, ("set", "reload", "notify", "live", "paper")),
)
ARG_WORDS = {"symbol": (c.ARG_SYMBOL,), "symbol period": (c.ARG_SYMBOL, c.ARG_PERIOD), "position": (c.ARG_POSITION,),
             "n": (c.ARG_N,), "id": (c.ARG_ID,), "key value": (c.ARG_KEY_VALUE,), "kind level": (c.ARG_KIND_LEVEL,)}

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


@dataclass
class _Confirm:
    action: str      # close_all | set_param | mode
    created: float
    by: str          # the user who asked: the only one who may answer
    used: bool = False
    payload: Any = None
    message: tuple[str, str, str] | None = None   # (front, chat, message id) it was offered on


MessageKey = tuple[str, str, str]


def message_key(front: str, chat: Any, message: Any) -> MessageKey:
    return (front, "" if chat is None else str(chat), "" if message is None else str(message))


def who(front: str, user_id: int | str | None) -> str:
    return front if user_id is None else f"{front}:{user_id}"


def help_text() -> str:
    """/help: every command of command_list.py once, in groups, one short line each."""
    lines = [str(c.HELP_HEAD)]
    seen: set[str] = set()
    groups = [*HELP_GROUPS, (c.HELP_GROUP_OTHER, tuple(x.name for x in COMMANDS))]
    for title, names in groups:
        specs = [BY_NAME[n] for n in names if n in BY_NAME and n not in seen]
        if not specs:
            continue
        lines += ["", str(title)]
        for spec in specs:
            seen.add(spec.name)
            lines += [_usage(spec), f"  {spec.help}"]
    return mono(lines)  # short lines: a long one wraps under its command


def _usage(spec: CommandSpec) -> str:
    return " ".join([f"/{spec.name}", *(str(w) for w in ARG_WORDS.get(spec.args, ()))])


def _mode_words(mode: str) -> tuple[str, str]:
    live = str(mode).lower() == "live"
    return str(c.MODE_ICON_LIVE if live else c.MODE_ICON_PAPER), str(common.mode(mode))


def _direction(d: Any) -> str:
    from kimpbot.models import Direction

    return str(c.DIR_LONG if d in (Direction.LONG_PREMIUM, "long_premium") else c.DIR_SHORT)


class CommandCore(ReportCommands, NotifyCommands):
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
        self._confirms: dict[str, _Confirm] = {}
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

    def _audit(self, action: str, by: str, details: dict[str, Any] | None = None) -> None:
        store = self.bot.store
        if store is None:
            log.info("audit (no store): %s by %s %s", action, by, details or {})
            return
        try:
            store.audit(action, by, details or {})
        except Exception as exc:  # auditing must never break a command
            log.error("audit of %s failed: %s: %s", action, type(exc).__name__, exc)

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

    # ---- helpers --------------------------------------------------------------------------

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

    def _state_lines(self) -> list[str]:
        """Mode first (paper/live, trade mode), then running/stopped/halted and why."""
        s = self.bot.settings
        t = self.trader
        if t is None:
            run = self._bot_status() or str(c.WATCHING_ONLY)
            store = self.bot.store
            if store is not None and store.halt_state().halted:  # a /halt before trading started
                hs = store.halt_state()
                run += "\n" + str(c.HALTED_BY(reason=hs.reason, by=hs.by))
        elif t.journal.halted:
            run = str(c.HALTED_STORE(why=t.journal.reason()))
        elif t.risk.halted:
            hs = t.store.halt_state()
            run = str(c.HALTED_BY(reason=hs.reason, by=hs.by))
        else:
            run = str(c.RUNNING if t.running else c.STOPPED)
        tm = t.state.trade_mode if t is not None else s.trade_mode
        icon, mode = _mode_words(s.mode)
        return [str(c.STATE_HEAD(icon=icon, mode=mode, tmode=c.TM_AUTO if tm == "auto" else c.TM_CONFIRM)), run]

    def _state_line(self) -> str:
        return " · ".join(self._state_lines())

    @staticmethod
    def _ledger_pnl(positions: list[dict[str, Any]], now: int) -> dict[str, Any]:
        """Realized P&L over a ledger's positions (closed ones, and the realized part of open ones)."""
        day0 = (now + KST_OFFSET_MS) // 86_400_000 * 86_400_000 - KST_OFFSET_MS
        today = total = 0.0
        n_today = n = 0
        for p in positions:
            r = float(p.get("realized_krw") or 0.0)
            if p.get("status") == "closed":
                total += r
                n += 1
                if int(p.get("closed_ms") or 0) >= day0:
                    today += r
                    n_today += 1
            elif r:   # partly closed positions carry realized P&L too
                total += r
                today += r
        return {"today_krw": today, "total_krw": total, "closed": n, "today_closed": n_today}

    def pnl_data(self) -> dict[str, Any]:
        """Realized P&L of the running mode's ledger (each mode keeps its own store)."""
        store = self.bot.store
        mode = self.bot.settings.mode
        if store is None:
            return {"today_krw": 0.0, "total_krw": 0.0, "closed": 0, "today_closed": 0, "mode": mode}
        return self._ledger_pnl(store.positions(), self.bot.clock.now_ms()) | {"mode": mode}

    def other_ledger_pnl(self) -> dict[str, Any] | None:
        """Realized P&L of the other mode's ledger (paper results stay visible after /live, and the
        live ledger after /paper); None when that mode never traded here."""
        other = "paper" if self.bot.settings.live else "live"
        directory = Path(self.bot.settings.data_dir).expanduser() / other
        if not directory.exists():
            return None
        try:   # read from its files, as /daily does: no lock taken, nothing written (a Store would compact)
            positions = FileRecords(directory, other).positions()
        except Exception as exc:  # unreadable or damaged: say so
            return {"mode": other, "error": f"{type(exc).__name__}"}
        d = self._ledger_pnl(positions, self.bot.clock.now_ms())
        return None if d["closed"] == 0 and d["total_krw"] == 0 else d | {"mode": other}

    def dashboard_link(self, front: str, user_id: Any, chat: Any = None) -> Reply:
        """``/dashboard``: a one-time login link (10 min, single use) for this chat user. Never in a
        group chat: anyone there could open it first."""
        by = who(front, user_id)
        web = self.web_auth
        if web is None:
            return Reply(text=str(c.DASHBOARD_OFF))
        if front == "telegram" and chat is not None and str(chat) != str(user_id):
            self._audit("web_link_refused", by, {"why": "group chat", "chat": str(chat)})
            return Reply(text=str(c.DASHBOARD_PRIVATE_ONLY))
        # the console is the local operator (no user id): its link logs in as "console:0"
        url, ttl = web.login_link(front, int(user_id) if user_id is not None else 0)
        self._audit("web_link_issued", by, {})
        return Reply(text=str(c.DASHBOARD_LINK(minutes=f"{ttl / 60:.0f}", url=url)), private=True,
                     data={"url": url})

    # ---- read-only commands ---------------------------------------------------------------

    async def cmd_help(self, by: str, args: list[str]) -> Reply:
        return Reply(text=help_text(), data=[x.name for x in COMMANDS])

    async def cmd_start(self, by: str, args: list[str]) -> Reply:
        return self._set_running(by, True)

    async def cmd_stop(self, by: str, args: list[str]) -> Reply:
        return self._set_running(by, False)

    def _set_running(self, by: str, on: bool) -> Reply:
        t = self.trader
        if t is None:
            return self._no_trader()
        t.running = on
        self.bot.state.running = on
        self._audit("start" if on else "stop", by)
        if on:
            text = str(c.ENTRIES_ALLOWED(extra=c.BUT_HALTED() if t.risk.halted else ""))
        else:
            text = str(c.ENTRIES_PAUSED)
        return Reply(text=text, data={"running": on})

    @staticmethod
    def refresh_buttons(view: str) -> list[list[Button]]:
        return [[Button(str(common.REFRESH), f"rf:{view}")]]

    async def cmd_status(self, by: str, args: list[str]) -> Reply:
        m = self.bot.market
        rows = []
        now = self.bot.clock.now_ms()
        lines: list[Any] = [*self._state_lines()]
        pnl = self.pnl_data()
        lines.append(c.PNL_TODAY_TOTAL(today=krw(pnl["today_krw"], sign=True), total=krw(pnl["total_krw"], sign=True)))
        if self.trader is not None:
            lines.append(c.OPEN_PAIRS(n=len(self.trader.positions())))
        lines += fx_lines(m)
        glob = m.global_problems()
        if glob:
            lines.append(c.DATA_PROBLEMS(what="; ".join(glob)))
        # a narrow table: 4 cells the coin, 6 each number (34 cells)
        lines.append(pad(str(c.COL_SYM), 4) + "".join(pad(str(h), 6, right=True) for h in
                                                      (c.COL_MID, c.COL_LONG, c.COL_ZLONG, c.COL_SHORT, c.COL_ZSHORT)))
        stale: list[str] = []
        for sym in m.symbols:
            v = m.views[sym]
            snap = v.snapshot
            probs = m.symbol_problems(sym)
            if probs:
                stale.append(str(c.SYM_STALE(sym=sym, why=probs[0])))
            if snap is None:
                lines.append(f"{sym:<4} {c.WAITING_DATA}")
                rows.append({"symbol": sym})
                continue
            lines.append(pad(sym, 4) + "".join(f"{_f(x):>6}" for x in (snap.mid, snap.exec_long, v.z_long,
                                                                         snap.exec_short, v.z_short)))
            rows.append({"symbol": sym, "mid": snap.mid, "exec_long": snap.exec_long, "exec_short": snap.exec_short,
                         "z_mid": v.z_mid, "z_long": v.z_long, "z_short": v.z_short, "problems": probs})
        lines += stale
        waiting = unresolved_orders(self.trader, now)
        lines.extend(unresolved_line(o) for o in waiting)
        lines.append(c.STAMP(time=kst(now, seconds=True)))
        state = getattr(self.bot, "state", None)
        return Reply(text=mono(lines), mono=True, buttons=self.refresh_buttons("status"), data={
            "symbols": rows, "pnl": pnl, "mode": self.bot.settings.mode, "trading": self.trader is not None,
            "unresolved": waiting,
            "not_trading": getattr(state, "not_trading", "") if self.trader is None else ""})

    def _position_view(self, p: Any, now: int) -> tuple[list[str], dict[str, Any]]:
        from kimpbot.models import Direction
        from kimpbot.strategy.base import position_net_profit_krw

        t = self.trader
        snap = self.bot.market.views[p.symbol].snapshot
        cur = None
        pnl_krw = None
        if snap is not None:
            cur = snap.exec_short if p.direction is Direction.LONG_PREMIUM else snap.exec_long
            if cur is None:
                cur = snap.mid
            pnl_krw = position_net_profit_krw(p, snap)
        pnl_pct = pnl_krw / p.entry_notional_krw * 100 if pnl_krw is not None and p.entry_notional_krw else None
        nf = t.funding_next.get(p.symbol)
        # the coarser of the two venues' steps (the hedge holds the same quantity on both)
        rules = t.rules.get(("binance", p.symbol)) if hasattr(t, "rules") else None
        step = getattr(rules, "qty_step", None)
        lines = [str(c.POSITION_HEAD(symbol=p.symbol, direction=_direction(p.direction), tier=p.tier)),
                 str(c.POSITION_PNL(pnl=krw(pnl_krw, sign=True), pct=pct(pnl_pct))),
                 str(c.POSITION_PREMIUM(entry=pct(p.entry_premium_pct), now=pct(cur))),
                 str(c.POSITION_TARGET(target=pct(p.target_pct, sign=False), age=duration((now - p.opened_ts) / 1000))),
                 str(c.POSITION_FUNDING(left=duration((nf - now) / 1000)) if nf and nf > now else c.POSITION_NO_FUNDING),
                 str(c.POSITION_SIZE(size=krw(p.entry_notional_krw), qty=qty(p.upbit_qty, step, p.symbol))),
                 str(c.POSITION_ID(id=p.id))]
        data = {"id": p.id, "symbol": p.symbol, "direction": p.direction.value,
                "entry_premium_pct": p.entry_premium_pct, "current_premium_pct": cur,
                "size_krw": p.entry_notional_krw, "unrealized_krw": pnl_krw, "unrealized_pct": pnl_pct,
                "age_ms": now - p.opened_ts, "next_funding_ms": nf}
        return lines, data

    async def cmd_positions(self, by: str, args: list[str]) -> Reply:
        t = self.trader
        if t is None:
            return self._no_trader()
        now = self.bot.clock.now_ms()
        out = []
        icon, mode = _mode_words(self.bot.settings.mode)
        lines: list[str] = [f"{icon} {c.POSITIONS_HEAD(mode=mode)}"]
        for p in t.positions():
            block, data = self._position_view(p, now)
            lines += ["", *block]
            out.append(data)
        if not out:
            lines.append(str(c.NO_POSITIONS))
        lines += ["", str(c.STAMP(time=kst(now, seconds=True)))]
        # private (issue 11 item 7): sizes and P&L are for the owner's eyes (Discord: ephemeral)
        return Reply(text=mono(lines), data=out, private=True, buttons=self.refresh_buttons("positions"))

    async def cmd_pnl(self, by: str, args: list[str]) -> Reply:
        d = self.pnl_data()
        icon, mode = _mode_words(d["mode"])
        lines = [f"{c.PNL_HEAD(mode=mode)} {icon}",
                 str(c.PNL_TODAY(krw=krw(d["today_krw"], sign=True), n=d["today_closed"])),
                 str(c.PNL_TOTAL(krw=krw(d["total_krw"], sign=True), n=d["closed"]))]
        if self.trader is not None and self.trader.positions():
            lines.append(str(c.PNL_OPEN(n=len(self.trader.positions()))))
        other = await asyncio.to_thread(self.other_ledger_pnl)
        if other is not None:
            oicon, omode = _mode_words(other["mode"])
            if "error" in other:
                lines.append(f"{oicon} {c.PNL_OTHER_UNREAD(mode=omode, why=other['error'])}")
            else:
                lines.append(f"{oicon} {c.PNL_OTHER(mode=omode, krw=krw(other['total_krw'], sign=True), n=other['closed'])}")
        return Reply(text=mono(lines), data=d | {"other": other}, private=True)

    async def cmd_trades(self, by: str, args: list[str]) -> Reply:
        store = self.bot.store
        if store is None:
            return self._no_trader()
        n = 10
        if args:
            # ASCII digits only: str.isdigit() also accepts "²" or "৩", which int() refuses or misreads
            if not re.fullmatch(r"[0-9]{1,6}", args[0]):
                return Reply(text=str(c.TRADES_BAD_N(got=repr(args[0][:20]))))
            n = max(1, min(30, int(args[0])))
        rows = store.trades(limit=n)
        icon, mode = _mode_words(self.bot.settings.mode)
        if not rows:
            return Reply(text=f"{icon} {c.NO_TRADES(mode=mode)}", data=rows)
        lines = [f"{icon} {c.TRADES_HEAD(n=len(rows), mode=mode)}"]
        for t in rows:
            d = "L" if t.get("direction") == "long_premium" else "S"
            lines.append(str(c.TRADE_LINE(time=kst(int(t.get("created_ms") or 0)), symbol=t.get("symbol", "?"), dir=d,
                                          action=t.get("action", "?"), status=t.get("status", "?"),
                                          size=krw(float(t.get("size_krw") or 0)))))
        return Reply(text=mono(lines), mono=True, data=rows)

    async def cmd_balance(self, by: str, args: list[str]) -> Reply:
        t = self.trader
        if t is None:
            return self._no_trader()
        await t.refresh_balances()
        b = t.balances
        lines = []
        up = b.get("upbit")
        bn = b.get("binance")
        if up is not None:
            lines.append(str(c.BALANCE_UPBIT(krw=krw(up.quote_free))))
            for coin, q in sorted(up.coins.items()):
                if q:
                    lines.append(str(c.BALANCE_COIN(qty=qty(q, None, coin))))
        if bn is not None:
            lines.append(str(c.BALANCE_BINANCE(usdt=usdt(bn.quote_free))))
            for coin, q in sorted(bn.positions.items()):
                if q:
                    lines.append(str(c.BALANCE_PERP(coin=coin, qty=f"{q:+}")))
        icon, mode = _mode_words(self.bot.settings.mode)
        text = (mono([f"{c.BALANCE_HEAD(mode=mode)} {icon}", *lines]) if lines else str(c.BALANCE_UNKNOWN))
        return Reply(text=text, data={k: {"quote_free": str(v.quote_free),
                                          "coins": {cc: str(q) for cc, q in v.coins.items()},
                                          "positions": {cc: str(q) for cc, q in v.positions.items()}}
                                      for k, v in b.items()} | {"mode": self.bot.settings.mode}, private=True)

    # ---- /params: grouped by section, one section a page ------------------------------------------

    def _sections(self) -> dict[str, list[tuple[str, str, str]]]:
        out: dict[str, list[tuple[str, str, str]]] = {}
        for k, v, status in self.bot.owner.params.describe():
            out.setdefault(k.split(".", 1)[0], []).append((k, v, status))
        return out

    def _params_buttons(self) -> list[list[Button]]:
        names = list(self._sections())
        per = 4  # Discord: at most 5 rows of 5; 17 sections fit in 5 rows of 4
        return [[Button(n, f"pp:{n}") for n in names[i:i + per]] for i in range(0, len(names), per)]

    async def cmd_params(self, by: str, args: list[str]) -> Reply:
        if args:
            return self._params_section(args[0].lower().split(".", 1)[0])
        secs = self._sections()
        src = self.bot.owner.source
        # the file's name: its full path would wrap over 3 phone lines (/set's question names the path)
        lines = [str(c.PARAMS_HEAD(source=Path(src).name if "/" in src else src)), ""]
        for name, rows in secs.items():
            unset = sum(1 for _k, _v, st in rows if "unset" in st)
            lines.append(str(c.PARAMS_OVERVIEW(section=name, n=len(rows), unset=unset)))
        lines += ["", str(c.PARAMS_PICK)]
        return Reply(text=mono(lines), mono=True, buttons=self._params_buttons(),
                     data=self.bot.owner.params.describe())

    def _params_section(self, section: str) -> Reply:
        secs = self._sections()
        rows = secs.get(section)
        if rows is None:
            return Reply(text=str(c.PARAMS_UNKNOWN_SECTION(section=section[:40], sections=", ".join(secs))))
        names = list(secs)
        lines = [str(c.PARAMS_SECTION_HEAD(section=section, page=f"{names.index(section) + 1}/{len(names)}"))]
        for k, v, status in rows:
            owner_set = "set by owner" in status and "unset" not in status
            leaf = k.split(".", 1)[1] if "." in k else k
            lines.append(f"{leaf} = {v}" + ("" if owner_set else " *"))
            for pk, pv in self.pending_restart.items():
                if pk == k or pk.startswith(k + "."):
                    lines.append(str(c.PARAMS_PENDING(key=pk, value=_plain(pv))))
        lines += ["", str(c.PARAMS_UNSET_MARK), str(c.PARAMS_SET_HINT)]
        return Reply(text=mono(lines), mono=True, buttons=self._params_buttons(),
                     data=[r for r in rows])

    async def cmd_set(self, by: str, args: list[str]) -> Reply:
        """``/set KEY VALUE``: step 1 of a parameter change; nothing changes before "Apply"."""
        from kimpbot.params import ConfigError
        from kimpbot.strategy_file import plan_change

        if len(args) < 2:
            return Reply(text=str(c.SET_USAGE))
        key, raw = args[0], " ".join(args[1:])
        path = self.bot.settings.strategy_file
        today = time.strftime("%Y-%m-%d", time.gmtime(self.bot.clock.now_ms() / 1000))
        try:
            change = await asyncio.to_thread(plan_change, path, key, raw, by, today)
        except ConfigError as exc:
            self._audit("param_change_refused", by, {"key": key[:60], "value": raw[:60], "why": str(exc)[:200]})
            return Reply(text=str(c.ERROR(error=exc)), data={"error": str(exc)})
        running = self.bot.owner[change.key]
        if change.shown_key != change.key and isinstance(running, dict):
            running = running.get(change.shown_key[len(change.key) + 1:])
        differs: Any = ""
        if running != change.old:  # the file was edited by hand since the start
            differs = c.SET_DIFFERS(running=_plain(running), file=_plain(change.old), key=change.shown_key)
        nonce = self._new_confirm("set_param", by, change)
        self._audit("param_change_requested", by, {"key": change.shown_key, "old": _plain(change.old),
                                                    "new": _plain(change.new)})
        return Reply(text=str(c.SET_ASK(key=change.shown_key, old=_old_value(change), status=change.old_status,
                                        new=_value(change.new), path=change.path, when=_when(change.applies),
                                        differs=differs)),
                     buttons=[[Button(str(c.APPLY), f"cy:{nonce}"), Button(str(c.CANCEL), f"cn:{nonce}")]],
                     data={"nonce": nonce, "key": change.shown_key, "old": change.old, "new": change.new,
                           "applies": change.applies})

    async def _apply_param(self, cf: _Confirm, by: str) -> Reply:
        from kimpbot.params import ConfigError
        from kimpbot.strategy_file import write_change

        change = cf.payload
        try:
            new_owner = await asyncio.to_thread(write_change, change)
        except (ConfigError, OSError) as exc:
            self._audit("param_change_failed", by, {"key": change.shown_key, "why": str(exc)[:200]})
            return Reply(toast=str(c.NOT_APPLIED_TOAST), edit=str(c.NOT_CHANGED(key=change.shown_key, error=exc)),
                         data={"applied": False})
        when = str(c.IN_FORCE_NOW)
        if change.applies == "now":
            pv = new_owner.params.values[change.key]
            if change.shown_key != change.key:  # one table entry: the other entries stay as they run
                table = dict(self.bot.owner[change.key])
                table[change.shown_key[len(change.key) + 1:]] = change.new
                pv = ParamValue(pv.spec, table, True)
            try:
                self.bot.apply_owner({change.key: pv}, new_owner.source)
            except ConfigError as exc:  # a cross-check against running values that are not in the file yet
                when = str(c.NOT_IN_FORCE(error=exc))
                self.pending_restart[change.shown_key] = change.new
        elif change.applies == "restart":
            when = str(c.IN_FORCE_NEXT_START)
            self.pending_restart[change.shown_key] = change.new
        else:
            when = str(c.USED_BY_BACKTEST)
        self._audit("param_changed", by, {"key": change.shown_key, "old": _plain(change.old),
                                          "new": _plain(change.new), "file": str(change.path), "when": when})
        log.warning("strategy file: %s changed by %s (%s)", change.shown_key, by, when)
        return Reply(toast=str(c.APPLIED_TOAST), edit=str(c.SET_DONE(key=change.shown_key, old=_old_value(change),
                                                                      new=_value(change.new), by=by, when=when)),
                     data={"applied": True, "when": change.applies})

    async def cmd_live(self, by: str, args: list[str]) -> Reply:
        return await self._offer_mode("live", by)

    async def cmd_paper(self, by: str, args: list[str]) -> Reply:
        return await self._offer_mode("paper", by)

    def _mode_blocked(self, mode: str) -> str:
        s = self.bot.settings
        t = self.trader
        if self.bot_switching():
            return str(c.WHY_SWITCH_IN_PROGRESS)
        if t is None:
            return str(c.WHY_NOT_TRADING)
        if s.mode == mode:
            return str(c.WHY_ALREADY_MODE(mode=common.mode(mode)))
        if t.journal.halted:  # a switch would drop what only memory holds (late fills, an unsaved halt)
            return str(c.WHY_STORE(why=t.journal.reason()))
        if mode == "live":
            missing = [n for n, v in (("UPBIT_ACCESS_KEY", s.upbit_access_key), ("UPBIT_SECRET_KEY", s.upbit_secret_key),
                                      ("BINANCE_API_KEY", s.binance_api_key), ("BINANCE_API_SECRET", s.binance_api_secret))
                       if not v]
            if missing:
                return str(c.WHY_LIVE_KEYS(keys=", ".join(missing)))
            if t.risk.halted:
                return str(c.WHY_LIVE_HALTED)
        if t.positions():
            return str(c.WHY_OPEN_POSITIONS(n=len(t.positions()), mode=common.mode(s.mode)))
        if t._busy or (t.store is not None and t.store.journal_open()):
            return str(c.WHY_IN_FLIGHT)
        return ""

    async def _offer_mode(self, mode: str, by: str) -> Reply:
        blocked = self._mode_blocked(mode)
        if blocked:
            self._audit("mode_switch_refused", by, {"mode": mode, "why": blocked})
            return Reply(text=str(c.MODE_NOT_SWITCHING(mode=common.mode(mode), why=blocked)),
                         data={"mode": mode, "refused": blocked})
        lines: list[str] = []
        if mode == "live":
            from kimpbot.doctor import FAIL, live_preflight

            checks = await live_preflight(self.bot.settings, list(self.bot.market.symbols))
            failed = [c for c in checks if c.status == FAIL]
            lines = [f"{'❌' if c.status == FAIL else '✅' if c.status == 'PASS' else '➖'} {c.name}: {c.detail}"
                     for c in checks]
            if failed:
                self._audit("mode_switch_refused", by, {"mode": mode, "why": "; ".join(c.name for c in failed)})
                return Reply(text="\n".join([str(c.LIVE_CHECKS_FAILED), *lines]),
                             data={"mode": mode, "refused": [c.name for c in failed]})
            canary = self.bot.owner["risk.live_canary_max_krw"]
            cap = c.CANARY_CAP(krw=krw(canary)) if canary is not None else c.NO_CANARY()
            tm = self.trader.state.trade_mode if self.trader is not None else self.bot.settings.trade_mode
            how = c.HOW_AUTO() if tm == "auto" else c.HOW_CONFIRM()
            head = str(c.LIVE_ASK(cap=cap, how=how))
        else:
            head = str(c.PAPER_ASK)
        nonce = self._new_confirm("mode", by, mode)
        self._audit("mode_switch_requested", by, {"mode": mode})
        label = str(c.YES_LIVE if mode == "live" else c.YES_PAPER)
        return Reply(text="\n".join([head, *lines]),
                     buttons=[[Button(label, f"cy:{nonce}"), Button(str(c.CANCEL), f"cn:{nonce}")]],
                     data={"nonce": nonce, "mode": mode})

    async def _switch_mode(self, cf: _Confirm, by: str) -> Reply:
        mode = cf.payload
        blocked = self._mode_blocked(mode)  # things may have changed while the button waited
        if blocked:
            self._audit("mode_switch_refused", by, {"mode": mode, "why": blocked})
            return Reply(toast=str(c.NOT_SWITCHED_TOAST), edit=str(c.NOT_SWITCHED(mode=common.mode(mode), why=blocked)),
                         data={"switched": False})
        self._audit("mode_switch_confirmed", by, {"mode": mode})
        try:
            await self.bot.switch_mode(mode, by)
        except Exception as exc:
            self._audit("mode_switch_failed", by, {"mode": mode, "why": f"{type(exc).__name__}: {exc}"[:200]})
            return Reply(toast=str(c.SWITCH_FAILED_TOAST),
                         edit=str(c.SWITCH_FAILED(mode=common.mode(mode), error=f"{type(exc).__name__}: {exc}",
                                                  now=common.mode(self.bot.settings.mode))), data={"switched": False})
        self._audit("mode_switched", by, {"mode": mode})  # into the new mode's store: each ledger tells its story
        icon, word = _mode_words(mode)
        return Reply(toast=str(c.NOW_MODE_TOAST(mode=word)), edit=str(c.SWITCHED(icon=icon, mode=word, by=by)),
                     data={"switched": True, "mode": mode})

    async def cmd_chart(self, by: str, args: list[str]) -> Reply:
        """``/chart [COIN] [1d|7d|20d]``: see :mod:`kimpbot.control.charts` (drawn off the loop, in a
        child process)."""
        from kimpbot.control import charts

        parsed = charts.parse_args(args, list(self.bot.market.symbols))
        if not isinstance(parsed, tuple):
            return Reply(text=str(parsed), data={"refused": parsed.msg.key})
        coin, period = parsed
        d, png, text = await charts.make_chart(self.bot, coin, period)
        return Reply(text=str(text), photo=png, data=charts.as_dict(d))

    # ---- signals ----------------------------------------------------------------------------

    @staticmethod
    def signal_buttons(pending_id: str) -> list[list[Button]]:
        return [[Button(str(c.EXECUTE), f"x:{pending_id}"), Button(str(c.SKIP), f"s:{pending_id}")]]

    async def cmd_pending(self, by: str, args: list[str]) -> Reply:
        t = self.trader
        if t is None:
            return self._no_trader()
        now = self.bot.clock.now_ms()
        live = [p for p in t.state.pending.values() if p.state == "pending" and now < p.expires_ms]
        if not live:
            return Reply(text=str(c.NO_PENDING))
        lines, buttons = [], []
        for p in live:
            s = p.signal
            lines.append(str(c.PENDING_LINE(id=p.id, symbol=s.symbol, direction=_direction(s.direction), action=s.action,
                                            size=krw(s.size_krw), premium=pct(s.premium_pct or 0),
                                            z=num(s.z or 0, sign=True), left=f"{(p.expires_ms - now) / 1000:.0f}")))
            buttons += self.signal_buttons(p.id)
        return Reply(text="\n".join(lines), buttons=buttons, data=[p.id for p in live])

    async def cmd_confirm(self, by: str, args: list[str]) -> Reply:
        if not args:
            return Reply(text=str(c.CONFIRM_USAGE))
        r = await self._execute(args[0], by)
        return Reply(text=r.edit or r.toast, data=r.data)

    async def cmd_skip(self, by: str, args: list[str]) -> Reply:
        if not args:
            return Reply(text=str(c.SKIP_USAGE))
        r = self._skip(args[0], by)
        return Reply(text=r.edit or r.toast, data=r.data)

    def entries_blocked(self) -> str:
        """Why new entries cannot go now ("" when they can)."""
        t = self.trader
        if t is None:
            return str(c.BLOCKED_NOT_RUNNING(why=self._bot_status() or c.WATCHING_ONLY()))
        if t.risk.halted:
            return str(c.BLOCKED_HALTED)
        if not t.running:
            return str(c.BLOCKED_STOPPED)
        return ""

    def _pending(self, pid: str) -> Any:
        t = self.trader
        return None if t is None else t.state.pending.get(pid)

    def _signal_text(self, p: Any) -> str:
        s = p.signal
        return str(c.SIGNAL_TEXT(symbol=s.symbol, direction=_direction(s.direction), action=s.action,
                                 size=krw(s.size_krw), premium=pct(s.premium_pct or 0), z=num(s.z or 0, sign=True),
                                 target=pct(s.target_pct, sign=False)))

    async def _execute(self, pid: str, by: str) -> Reply:
        if self.bot_switching():
            return Reply(toast=str(c.SWITCHING_TOAST), data={"state": "switching"})
        p = self._pending(pid)
        if p is None:
            return Reply(toast=str(c.UNKNOWN_SIGNAL), data={"state": "unknown"})
        if p.state != "pending":
            return Reply(toast=str(c.ALREADY(state=p.state)), data={"state": p.state, "already": True})
        if self.bot.clock.now_ms() >= p.expires_ms:
            p.state = "expired"
            self._audit("signal_expired_press", by, {"pending_id": pid})
            return Reply(toast=str(c.EXPIRED_NOTHING_SENT), edit=self._signal_text(p) + "\n" + c.EXPIRED_EDIT(),
                         data={"state": "expired", "already": True})
        if self.trader.risk.halted or not self.trader.running:
            why = str(c.WHY_HALTED_RESUME if self.trader.risk.halted else c.WHY_STOPPED_START)
            return Reply(toast=str(c.ENTRIES_BLOCKED(why=why)), data={"state": p.state, "blocked": why})
        self._audit("confirm", by, {"pending_id": pid, "symbol": p.signal.symbol, "action": p.signal.action})
        result = await self.trader.confirm(pid, by)
        state = p.state
        if state == "done" and p.result in ("filled", "partial"):
            mark = "✅"
        else:
            mark = "⚠️"
        edit = f"{self._signal_text(p)}\n{c.SIGNAL_RESULT(mark=mark, result=result, by=by)}"
        if state != "pending":
            self._answered("signal_answered", pid, edit, by)
        return Reply(toast=result[:190], edit=edit, data={"state": state, "result": result})

    def _skip(self, pid: str, by: str) -> Reply:
        p = self._pending(pid)
        if p is None:
            return Reply(toast=str(c.UNKNOWN_SIGNAL), data={"state": "unknown"})
        if p.state != "pending":
            return Reply(toast=str(c.ALREADY(state=p.state)), data={"state": p.state, "already": True})
        if self.bot.clock.now_ms() >= p.expires_ms:
            p.state = "expired"
            return Reply(toast=str(c.EXPIRED), edit=self._signal_text(p) + "\n" + c.EXPIRED_EDIT(),
                         data={"state": "expired", "already": True})
        result = self.trader.skip(pid, by)
        self._audit("skip", by, {"pending_id": pid})
        edit = f"{self._signal_text(p)}\n{c.SIGNAL_RESULT(mark='✖️', result=result, by=by)}"
        self._answered("signal_answered", pid, edit, by)
        return Reply(toast=str(self.trader.skip_note(p)), edit=edit, data={"state": p.state})

    # ---- halt / resume / close all -----------------------------------------------------------

    async def cmd_halt(self, by: str, args: list[str]) -> Reply:
        t = self.trader
        reason = " ".join(args) or c.HALT_REASON_CHAT.render("en")  # the stored reason: the audit's language
        if t is None:
            return self._halt_before_trading(reason, by)
        was = t.risk.halted
        task = asyncio.create_task(t.halt(reason, by))
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)
        # the halt itself is persisted synchronously at the task's first step; cancelling open
        # orders may take longer and finishes in the background
        done, _ = await asyncio.wait({task}, timeout=0.7)
        self._audit("halt_command", by, {"reason": reason})
        if task in done and task.exception() is None:
            cancelled = task.result()
            orders = c.ORDERS_CANCELLED(n=len(cancelled)) if cancelled else c.NO_OPEN_ORDERS()
        elif task in done:
            orders = c.CANCEL_FAILED(error=type(task.exception()).__name__)
        else:
            orders = c.CANCEL_BACKGROUND()
        head = c.ALREADY_HALTED_HEAD() if was else c.HALTED_HEAD()
        n = len(t.positions())
        text = str(c.HALT_TEXT(head=head, orders=orders))
        buttons: list[list[Button]] = []
        if n:
            text += "\n" + c.HALT_POSITIONS(n=n)
            buttons = [[Button(str(c.CLOSE_ALL_BUTTON(n=n)), "ca")]]
        return Reply(text=text, buttons=buttons, data={"halted": True, "positions": n})

    def _halt_before_trading(self, reason: str, by: str) -> Reply:
        """/halt while warming up or not trading: persisted now (the store is open from the first
        second), so no entry goes out when trading starts; there are no orders to cancel yet."""
        if self.bot.store is None:
            return self._no_trader()
        was = not self.bot.halt_entries(reason, by)
        self._audit("halt_command", by, {"reason": reason, "before_trading": True})
        head = c.ALREADY_HALTED_HEAD() if was else c.HALTED_HEAD()
        return Reply(text=str(c.HALT_BEFORE_TRADING(head=head, status=self._bot_status())),
                     data={"halted": True, "positions": 0})

    async def cmd_resume(self, by: str, args: list[str]) -> Reply:
        t = self.trader
        if t is None:
            if self.bot.store is None:
                return self._no_trader()
            ok = self.bot.resume_entries(by)
            self._audit("resume_command", by, {"lifted": ok, "before_trading": True})
            return Reply(text=str(c.HALT_LIFTED_LATER if ok else c.NOT_HALTED), data={"halted": False})
        was_store = t.journal.halted
        if was_store and not await t.journal.probe():  # halt kind "store": lifts itself, /resume retries
            return Reply(text=str(c.STILL_HALTED_STORE(why=t.journal.reason())), data={"halted": True})
        ok = t.risk.resume(by)
        if not ok and was_store:
            return Reply(text=str(c.STORE_HALT_LIFTED), data={"halted": False})
        self._audit("resume_command", by, {"lifted": ok})
        if not ok:
            return Reply(text=str(c.NOT_HALTED), data={"halted": False})
        run = "" if t.running else c.STILL_PAUSED()
        return Reply(text=str(c.HALT_LIFTED(extra=run)), data={"halted": False})

    async def cmd_closeall(self, by: str, args: list[str]) -> Reply:
        return self._offer_close_all(by, as_message=True)

    def _new_confirm(self, action: str, by: str, payload: Any = None) -> str:
        now = time.monotonic()
        for k in [k for k, cf in self._confirms.items() if now - cf.created > self.confirm_ttl_s * 5]:
            del self._confirms[k]
        nonce = _secrets.token_hex(4)
        self._confirms[nonce] = _Confirm(action, now, by, payload=payload)
        return nonce

    def _offer_close_all(self, by: str, as_message: bool = True) -> Reply:
        t = self.trader
        if t is None:
            return self._no_trader()
        n = len(t.positions())
        if n == 0:
            return Reply(text=str(c.NO_POSITIONS_TO_CLOSE), toast=str(c.NO_POSITIONS_TOAST))
        nonce = self._new_confirm("close_all", by)
        self._audit("close_all_requested", by, {"positions": n})
        return Reply(text=str(c.CLOSE_ALL_ASK(n=n)),
                     buttons=[[Button(str(c.YES_CLOSE_ALL), f"cy:{nonce}"), Button(str(c.CANCEL), f"cn:{nonce}")]],
                     toast=str(c.CONFIRM_BELOW), data={"nonce": nonce, "positions": n})

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
        if cf.action == "set_param":
            return await self._apply_param(cf, by)
        if cf.action == "mode":
            return await self._switch_mode(cf, by)
        if cf.action == "forceexit":
            return await self._forceexit(cf, by)
        if cf.action == "reload":
            return await self._apply_reload(cf, by)
        self._audit("close_all_confirmed", by)
        outs = await self.trader.close_all(by)
        summary = ", ".join(f"{o.symbol} {o.status}" for o in outs) or str(c.NOTHING_TO_CLOSE)
        left = len(self.trader.positions())
        return Reply(toast=str(c.CLOSING_TOAST), edit=str(c.CLOSE_ALL_DONE(by=by, summary=summary, left=left)),
                     data={"results": [o.status for o in outs], "left": left})

    # ---- /forceexit: close one chosen position (two steps) ----------------------------------------

    async def cmd_forceexit(self, by: str, args: list[str]) -> Reply:
        t = self.trader
        if t is None:
            return self._no_trader()
        pos = t.positions()
        if not pos:
            return Reply(text=str(c.NO_POSITIONS_TO_CLOSE), toast=str(c.NO_POSITIONS_TOAST))
        if not args:  # step 0: one button per open position
            now = self.bot.clock.now_ms()
            rows = []
            for p in pos:
                _lines, d = self._position_view(p, now)
                label = str(c.FORCEEXIT_BUTTON(symbol=p.symbol, direction=_direction(p.direction),
                                               pnl=krw(d["unrealized_krw"], sign=True)))
                rows.append([Button(label[:60], f"fx:{p.id}"[:64])])
            return Reply(text=str(c.FORCEEXIT_PICK), buttons=rows[:25], data=[p.id for p in pos])
        arg = args[0]
        ids = ", ".join(p.id for p in pos)
        hit = [p for p in pos if p.id == arg]
        if not hit and re.fullmatch(r"[0-9]{1,3}", arg) and 1 <= int(arg) <= len(pos):
            hit = [pos[int(arg) - 1]]   # /forceexit 2: the second position of /positions
        if not hit:
            hit = [p for p in pos if p.symbol == arg.upper()]
            if len(hit) > 1:
                return Reply(text=str(c.FORCEEXIT_AMBIGUOUS(arg=arg.upper(), ids=ids)))
        if not hit:
            self._audit("forceexit_refused", by, {"position": arg[:64], "why": "no such open position"})
            return Reply(text=str(c.FORCEEXIT_UNKNOWN(arg=arg[:64], ids=ids)))
        return self._offer_forceexit(hit[0].id, by, as_message=True)

    def _offer_forceexit(self, pid: str, by: str, as_message: bool = False) -> Reply:
        """Step 1: the chosen position and a one-time Yes / Cancel (a button press edits the list in
        place into this question; the typed command posts it)."""
        t = self.trader
        p = next((x for x in t.positions() if x.id == pid), None) if t is not None else None
        if p is None:
            text = str(c.FORCEEXIT_GONE(id=pid))
            return Reply(text=text, toast=text[:190]) if as_message else Reply(toast=text[:190], edit=text)
        _lines, d = self._position_view(p, self.bot.clock.now_ms())
        nonce = self._new_confirm("forceexit", by, p.id)
        self._audit("forceexit_requested", by, {"position": p.id, "symbol": p.symbol})
        text = str(c.FORCEEXIT_ASK(symbol=p.symbol, direction=_direction(p.direction), id=p.id,
                                   size=krw(p.entry_notional_krw), pnl=krw(d["unrealized_krw"], sign=True)))
        buttons = [[Button(str(c.YES_CLOSE), f"cy:{nonce}"), Button(str(c.CANCEL), f"cn:{nonce}")]]
        data = {"nonce": nonce, "position": p.id}
        if as_message:
            return Reply(text=text, buttons=buttons, data=data)
        return Reply(toast=str(c.CONFIRM_BELOW), edit=text, buttons=buttons, data=data)

    async def _forceexit(self, cf: _Confirm, by: str) -> Reply:
        """Step 2: close the one position at market, both legs, as /closeall does for each. The coin
        is marked busy first, so the strategy starts no exit of its own at the same time (never a
        doubled order); an exit already in flight is waited for, and then the position re-checked."""
        from kimpbot.execution.trader import signal_prices
        from kimpbot.strategy.base import Signal

        t = self.trader
        pid = cf.payload
        p = next((x for x in t.positions() if x.id == pid), None) if t is not None else None
        if p is None:
            self._audit("forceexit_refused", by, {"position": pid, "why": "no longer open"})
            return Reply(toast=str(c.FORCEEXIT_GONE(id=pid))[:190], edit=str(c.FORCEEXIT_GONE(id=pid)),
                         data={"closed": False})
        sym = p.symbol
        loop = asyncio.get_running_loop()
        end = loop.time() + FORCEEXIT_WAIT_S
        while sym in t._busy and loop.time() < end:  # the strategy's look at this coin (or its trade) ends first
            await asyncio.sleep(0.05)
        if sym in t._busy:
            why = str(c.FORCEEXIT_BUSY(symbol=sym))
            self._audit("forceexit_refused", by, {"position": pid, "why": "trade in flight"})
            return Reply(toast=why[:190], edit=str(c.FORCEEXIT_NOT_DONE(symbol=sym, id=pid, why=why)),
                         data={"closed": False})
        t._busy.add(sym)
        try:
            async with t.executor.lock(sym):  # an order of this coin still out finishes first
                pass
            p = next((x for x in t.positions() if x.id == pid), None)
            if p is None:
                self._audit("forceexit_refused", by, {"position": pid, "why": "closed meanwhile"})
                return Reply(toast=str(c.FORCEEXIT_GONE(id=pid))[:190], edit=str(c.FORCEEXIT_GONE(id=pid)),
                             data={"closed": False})
            snap = self.bot.market.views[sym].snapshot
            up = bp = None
            sig = None
            if snap is not None:
                sig = Signal(sym, p.direction, "exit", p.entry_notional_krw, None, None, p.tier, p.target_pct,
                             f"force exit by {by}", snap.ts, p.id, "manual")
                up, bp = signal_prices(sig, snap)
            if sig is None or up is None or bp is None:
                why = str(c.FORCEEXIT_NO_PRICES(symbol=sym))
                self._audit("forceexit_failed", by, {"position": pid, "why": "no prices"})
                return Reply(toast=why[:190], edit=str(c.FORCEEXIT_NOT_DONE(symbol=sym, id=pid, why=why)),
                             data={"closed": False})
            self._audit("forceexit_confirmed", by, {"position": pid, "symbol": sym})
            out = await t.executor.execute(sig, upbit_price=up, binance_price=bp, fx=snap.fx_rate, position=p, by=by)
        finally:
            t._busy.discard(sym)
        await t.refresh_balances()
        still = any(x.id == pid for x in t.positions())
        rec = self.bot.store.get_position(pid) if self.bot.store is not None else None
        realized = (c.REALIZED(krw=krw(rec.get("realized_krw"), sign=True))
                    if rec and rec.get("realized_krw") is not None and not still else "")
        self._audit("forceexit_done", by, {"position": pid, "symbol": sym, "status": out.status, "open": still})
        text = str(c.FORCEEXIT_DONE(symbol=sym, direction=_direction(p.direction), id=pid, by=by, status=out.status,
                                    realized=realized))
        return Reply(toast=str(c.CLOSING_TOAST), edit=text,
                     data={"closed": not still, "status": out.status, "trade_id": out.trade_id})

    # ---- /logs, /version ---------------------------------------------------------------------------

    async def cmd_logs(self, by: str, args: list[str]) -> Reply:
        from kimpbot.logs import RedactingFilter

        n = LOGS_DEFAULT
        if args:
            if not re.fullmatch(r"[0-9]{1,6}", args[0]):
                return Reply(text=str(c.LOGS_BAD_N(max=LOGS_MAX, got=repr(args[0][:20]))))
            n = max(1, min(LOGS_MAX, int(args[0])))
        path = next((h.baseFilename for h in logging.getLogger().handlers
                     if getattr(h, "_kimpbot", False) and isinstance(h, logging.FileHandler)), None)
        if path is not None:
            lines = await asyncio.to_thread(_tail_file, path, n)
            source = c.LOGS_SOURCE_FILE()
        else:
            lines = list(log_tail().lines)[-n:]
            source = c.LOGS_SOURCE_MEMORY()
        flt = RedactingFilter(self.bot.settings.secrets())
        # the date is today's: a phone line starts at the time
        shown = [redact_line(ln[11:] if re.match(r"\d{4}-\d\d-\d\d ", ln) else ln, flt)[:300] for ln in lines]
        self._audit("logs_shown", by, {"lines": len(shown)})
        if not shown:
            return Reply(text=str(c.LOGS_EMPTY(source=source)), private=True)
        return Reply(text="\n".join([str(c.LOGS_HEAD(n=len(shown), source=source)), *shown]), private=True,
                     data={"lines": shown})

    async def cmd_version(self, by: str, args: list[str]) -> Reply:
        info = await asyncio.to_thread(version_info)
        lines = [str(c.VERSION_HEAD(version=info["kimpbot"])),
                 str(c.VERSION_COMMIT(commit=info["commit"]) if info["commit"] else c.VERSION_NO_COMMIT),
                 f"Python {info['python']}"]
        lines += [str(c.VERSION_LIB(name=k, version=v)) for k, v in info["libraries"].items()]
        return Reply(text=mono(lines), mono=True, data=info)

    # ---- /reload: the strategy file again, shown, applied on confirmation --------------------------

    async def cmd_reload(self, by: str, args: list[str]) -> Reply:
        from kimpbot.config import load_owner_config
        from kimpbot.params import ConfigError

        path = self.bot.settings.strategy_file
        try:
            new = await asyncio.to_thread(load_owner_config, path)
        except (ConfigError, OSError) as exc:
            self._audit("reload_refused", by, {"why": str(exc)[:300]})
            return Reply(text=str(c.RELOAD_INVALID(error=exc)), data={"error": str(exc)})
        diffs = self._reload_diffs(new)
        if not diffs:
            self._audit("reload_unchanged", by, {})
            return Reply(text=str(c.RELOAD_SAME), data={"changes": []})
        lines = [str(c.RELOAD_ASK(n=len(diffs)))]
        for key, old, newv, applies in diffs:
            lines.append(str(c.RELOAD_LINE(key=key, old=old, new=newv, when={
                "now": c.RELOAD_WHEN_NOW, "restart": c.RELOAD_WHEN_RESTART,
                "backtest": c.RELOAD_WHEN_BACKTEST}[applies]())))
        lines.append(str(c.RELOAD_QUESTION))
        nonce = self._new_confirm("reload", by, {"owner": new, "diffs": diffs})
        self._audit("reload_requested", by, {"changes": [d[0] for d in diffs]})
        return Reply(text=mono(lines),
                     buttons=[[Button(str(c.APPLY), f"cy:{nonce}"), Button(str(c.CANCEL), f"cn:{nonce}")]],
                     data={"nonce": nonce, "changes": [{"key": k, "old": o, "new": nv, "applies": a}
                                                       for k, o, nv, a in diffs]})

    def _reload_diffs(self, new: Any) -> list[tuple[str, str, str, str]]:
        """(key, running value, file value, when it applies) for each key whose value or owner-set
        state differs between the running values and the file."""
        from kimpbot.strategy_file import applies

        out = []
        cur = self.bot.owner.params.values
        for key, pv in new.params.values.items():
            old = cur.get(key)
            if old is not None and old.value == pv.value and old.owner_set == pv.owner_set:
                continue

            def shown(x: Any) -> str:
                if x is None:
                    return "—"
                v = _value(x.value)
                return v if x.owner_set else f"{v} ({c.RELOAD_UNSET})"
            out.append((key, shown(old), shown(pv), applies(key)))
        return out

    async def _apply_reload(self, cf: _Confirm, by: str) -> Reply:
        from kimpbot.config import load_owner_config
        from kimpbot.params import ConfigError

        offered = cf.payload["owner"]
        try:  # the file as it is now must still be what was shown
            now_file = await asyncio.to_thread(load_owner_config, self.bot.settings.strategy_file)
        except (ConfigError, OSError) as exc:
            self._audit("reload_failed", by, {"why": str(exc)[:300]})
            return Reply(toast=str(c.NOT_APPLIED_TOAST), edit=str(c.RELOAD_INVALID(error=exc)), data={"applied": False})
        same = all((a.value, a.owner_set) == (now_file.params.values[k].value, now_file.params.values[k].owner_set)
                   for k, a in offered.params.values.items())
        if not same:
            self._audit("reload_failed", by, {"why": "file changed since the question"})
            return Reply(toast=str(c.NOT_APPLIED_TOAST), edit=str(c.RELOAD_CHANGED_SINCE), data={"applied": False})
        diffs = cf.payload["diffs"]
        now_keys = {k: offered.params.values[k] for k, _o, _n, a in diffs if a == "now"}
        later = [k for k, _o, _n, a in diffs if a == "restart"]
        backtest = [k for k, _o, _n, a in diffs if a == "backtest"]
        try:
            if now_keys:
                self.bot.apply_owner(now_keys, offered.source)
        except ConfigError as exc:
            self._audit("reload_failed", by, {"why": str(exc)[:300]})
            return Reply(toast=str(c.NOT_APPLIED_TOAST), edit=str(c.RELOAD_FAILED(error=exc)), data={"applied": False})
        for k in later:
            self.pending_restart[k] = offered.params.values[k].value
        self._audit("reload_applied", by, {"now": sorted(now_keys), "restart": later, "backtest": backtest,
                                           "changes": [{"key": k, "old": o, "new": n} for k, o, n, _a in diffs]})
        log.warning("strategy file reloaded by %s: %d key(s) now, %d at the next start", by, len(now_keys), len(later))
        return Reply(toast=str(c.APPLIED_TOAST),
                     edit=str(c.RELOAD_DONE(by=by, now=len(now_keys), restart=len(later), backtest=len(backtest))),
                     data={"applied": True, "now": sorted(now_keys), "restart": later, "backtest": backtest})

    # ---- reconciliation findings ---------------------------------------------------------------

    def add_finding(self, text: str) -> str:
        """An id for a reconciliation finding; every front posting the same open finding gets the
        same id, so answering it in one chat answers it everywhere."""
        for fid, f in self.findings.items():
            if f["text"] == text and f["state"] in ("open", "working"):
                return fid
        fid = f"f{next(self._fids)}"
        self.findings[fid] = {"text": text, "state": "open"}
        return fid

    def _answered(self, kind: str, key: str, text: str, by: str) -> None:
        """Tell every front that a signal / finding was answered, so the copies of its message in
        other chats lose their buttons too (the front that took the press has edited its own)."""
        self.bot.bus.publish(Event(kind, text, "info", {"key": key, "by": by}))

    @staticmethod
    def finding_buttons(fid: str) -> list[list[Button]]:
        return [[Button(str(c.ADOPT), f"ra:{fid}"), Button(str(c.CLOSE), f"rc:{fid}"), Button(str(c.IGNORE), f"ri:{fid}")]]

    async def _finding(self, kind: str, fid: str, by: str) -> Reply:
        f = self.findings.get(fid)
        if f is None:
            return Reply(toast=str(c.UNKNOWN_FINDING))
        if f["state"] != "open":
            return Reply(toast=str(c.ALREADY(state=f["state"])), data={"already": True})
        if self.bot_switching():
            return Reply(toast=str(c.SWITCHING_TRY_AGAIN))
        f["state"] = "working"  # a second press while the order is out answers "Already working"
        t = self.trader
        meta = t.finding_meta.get(f["text"]) if t is not None else None
        state = {"ra": "adopted", "rc": "closed", "ri": "ignored"}[kind]
        try:
            if kind == "ra" and meta is not None:
                state, note = await t.adopt_finding(meta, by)
            elif kind == "rc" and meta is not None:
                state, note = await t.close_finding(meta, by)
            elif kind == "ra":
                note = str(c.FINDING_NOTE_ADOPT)
            elif kind == "rc":
                note = str(c.FINDING_NOTE_CLOSE)
            else:
                note = str(c.FINDING_NOTE_IGNORE)
        except Exception:
            f["state"] = "open"
            raise
        f["state"] = state
        what = {"ra": "adopt", "rc": "close", "ri": "ignore"}[kind]
        self._audit(f"reconcile_{what}" + ("" if state != "open" else "_refused"), by,
                    {"finding": f["text"][:300], "state": state, "result": note[:300]})
        if state == "open":  # nothing done: the buttons stay, the answer says why
            label = {"ra": c.ADOPT, "rc": c.CLOSE, "ri": c.IGNORE}[kind]
            return Reply(toast=str(c.FINDING_NOT_DONE_TOAST), text=str(c.FINDING_NOT_DONE(what=label, note=note)),
                         data={"state": state, "result": note})
        edit = str(c.FINDING_DONE(text=f["text"], state=state, by=by, note=note))
        if state != "pending":
            self._answered("finding_answered", fid, edit, by)
        return Reply(toast=str(c.FINDING_STATE_TOAST(state=state.capitalize())), edit=edit,
                     data={"state": state, "result": note})


def _tail_file(path: str, n: int) -> list[str]:
    """The last ``n`` lines of a log file (read from its end: a log can be large)."""
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        block = min(size, max(8192, n * 400))
        f.seek(size - block)
        data = f.read().decode("utf-8", "replace")
    lines = data.splitlines()
    if block < size:
        lines = lines[1:]  # the first one is cut
    return lines[-n:]


def version_info() -> dict[str, Any]:
    """kimpbot's version, the git commit it runs from (when a checkout), Python and key libraries."""
    import platform
    import subprocess
    from importlib import metadata

    def ver(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "—"
    commit = ""
    try:
        r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).resolve().parent,
                           capture_output=True, text=True, timeout=3)
        if r.returncode == 0:
            commit = r.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    libs = {name: ver(dist) for name, dist in (
        ("python-telegram-bot", "python-telegram-bot"), ("discord.py", "discord.py"), ("ccxt", "ccxt"),
        ("pyupbit", "pyupbit"), ("aiohttp", "aiohttp"), ("APScheduler", "APScheduler"), ("tinydb", "tinydb"))}
    return {"kimpbot": ver("kimpbot"), "commit": commit, "python": platform.python_version(), "libraries": libs}


def _plain(v: Any) -> Any:
    """A value for the audit log (JSON)."""
    return v if v is None or isinstance(v, (bool, int, float, str)) else str(v)


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.2f}"


def _value(v: Any) -> str:
    from kimpbot.strategy_file import _fmt_value

    return _fmt_value(v)


def _old_value(change: Any) -> str:
    return str(c.NO_ENTRY) if change.old is None and change.shown_key != change.key else _value(change.old)


def _when(applies: str) -> str:
    return str({"now": c.WHEN_NOW, "restart": c.WHEN_RESTART, "backtest": c.WHEN_BACKTEST}[applies])
