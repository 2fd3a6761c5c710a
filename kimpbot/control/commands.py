"""The chat-independent command core (like freqtrade's ``rpc``): Telegram, Discord and the console
are thin front ends over it.

Every entry point takes the front end's name and the caller's user id, checks it against the
allowed set for that front end, and returns a :class:`Reply`: data for a program plus a short,
phone-sized text. Buttons carry short ``callback data`` strings::

    x:<pending_id>   Execute a pending signal        s:<pending_id>  Skip it
    ca               offer "close all" (step 1)      cy:<nonce> / cn:<nonce>  confirm / cancel (step 2)
    ra:<fid> / rc:<fid> / ri:<fid>                    Adopt / Close / Ignore a reconciliation finding

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
from typing import TYPE_CHECKING, Any, Iterator

from kimpbot.control.format import fx_line, unresolved_line, unresolved_orders
from kimpbot.control.gate import StrangerGate
from kimpbot.control.reports import ReportCommands
from kimpbot.events import Event
from kimpbot.params import ParamValue

if TYPE_CHECKING:
    from kimpbot.engine import Bot

log = logging.getLogger("kimpbot.control.commands")

KST_OFFSET_MS = 9 * 3_600_000
CONFIRM_TTL_S = 120.0
MAX_KEYBOARDS = 5000   # messages with buttons remembered (oldest forgotten first: their presses are refused)

HELP = """kimpbot commands
/status     mode, running/halted, data, FX, premium and z
/positions  open pairs: entry/now premium, size, P&L, age, funding
/pnl        realized P&L today (KST) and in total
/trades     last trades
/balance    Upbit and Binance balances
/params     strategy numbers (owner set or default)
/chart SYM  PNG of premium and z with entry/exit marks
/pending    signals waiting for Execute / Skip
/start      allow new entries     /stop    pause new entries
/halt       stop entries now, cancel orders, offer close-all
/resume     lift a halt
/closeall   close every position (asks to confirm)
/set KEY VALUE  change a strategy-file number (asks to confirm)
/live  /paper   switch trading mode (asks to confirm)
/confirm ID  /skip ID   answer a signal by id
/dashboard  one-time login link for the web dashboard
/help       this list"""


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


def _age(ms: float) -> str:
    s = max(0, int(ms / 1000))
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600}h"


def _krw(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+,.0f}"


class CommandCore(ReportCommands):
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
        text = f"⛔ Not authorized (user id {user_id}). Ask the owner to add your id to the allowed users."
        return Reply(text=text, toast="⛔ Not authorized", refused=True)

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
            c = self._confirms.get(nonce) if kind in ("cy", "cn") else None
            if c is not None and c.message is None:  # a confirmation is offered on one message only
                c.message = key
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
            return "the bot put no buttons on this message (or it is too old)"
        if data not in offered:
            return "this button was not offered on this message"
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
            return Reply(text=f"Unknown command /{name}. /help lists the commands.")
        try:
            return await fn(by, args)
        except Exception as exc:
            log.exception("command /%s failed", name)
            return Reply(text=f"❌ /{name} failed: {type(exc).__name__}: {exc}")

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
        except Exception as exc:
            log.exception("button %s failed", data)
            return Reply(toast="failed", edit=None, text=f"❌ {type(exc).__name__}: {exc}")
        return Reply(toast="unknown button")

    def _refuse_button(self, by: str, data: str, key: MessageKey, why: str) -> Reply:
        """A press that may not act here: nothing is done; audited (only allowed users get here)."""
        log.warning("button %r from %s on message %s in %s %s refused: %s", data[:64], by, key[2], key[0], key[1], why)
        self._audit("button_refused", by, {"data": data[:64], "chat": key[1], "message": key[2], "why": why})
        return Reply(text=f"⛔ Nothing done: {why}.", toast=f"⛔ Nothing done: {why}"[:190], refused=True,
                     data={"refused": why})

    # ---- helpers --------------------------------------------------------------------------

    def bot_switching(self) -> bool:
        return bool(getattr(self.bot, "switching", False))

    @property
    def trader(self) -> Any:
        return self.bot.trader

    def _no_trader(self) -> Reply:
        why = self._bot_status() or "watching only, or still starting"
        return Reply(text=f"Trading is not running ({why}).")

    def _bot_status(self) -> str:
        """The bot's own line while it has no trader (starting, warm-up, NOT TRADING and why)."""
        fn = getattr(self.bot, "trading_status", None)
        return fn() if callable(fn) else ""

    def _state_line(self) -> str:
        s = self.bot.settings
        t = self.trader
        if t is None:
            run = self._bot_status() or "watching only"
            store = self.bot.store
            if store is not None and store.halt_state().halted:  # a /halt before trading started
                hs = store.halt_state()
                run += f" · HALTED ({hs.reason}, by {hs.by})"
        elif t.journal.halted:
            run = f"HALTED (store: {t.journal.reason()})"
        elif t.risk.halted:
            hs = t.store.halt_state()
            run = f"HALTED ({hs.reason}, by {hs.by})"
        else:
            run = "running" if t.running else "stopped (no new entries)"
        mode = t.state.trade_mode if t is not None else s.trade_mode
        return f"{s.mode} · {mode} · {run}"

    def pnl_data(self) -> dict[str, Any]:
        store = self.bot.store
        if store is None:
            return {"today_krw": 0.0, "total_krw": 0.0, "closed": 0, "today_closed": 0}
        now = self.bot.clock.now_ms()
        day0 = (now + KST_OFFSET_MS) // 86_400_000 * 86_400_000 - KST_OFFSET_MS
        today = total = 0.0
        n_today = n = 0
        for p in store.positions(status="closed"):
            r = float(p.get("realized_krw") or 0.0)
            total += r
            n += 1
            if int(p.get("closed_ms") or 0) >= day0:
                today += r
                n_today += 1
        # partly closed positions carry realized P&L too
        for p in store.open_positions():
            r = float(p.get("realized_krw") or 0.0)
            if r:
                total += r
                today += r
        return {"today_krw": today, "total_krw": total, "closed": n, "today_closed": n_today}

    def dashboard_link(self, front: str, user_id: Any, chat: Any = None) -> Reply:
        """``/dashboard``: a one-time login link (10 min, single use) for this chat user. Never in a
        group chat: anyone there could open it first."""
        by = who(front, user_id)
        web = self.web_auth
        if web is None:
            return Reply(text="The web dashboard is off (KIMPBOT_HTTP_PORT=0, or the HTTP server did not start).")
        if front == "telegram" and chat is not None and str(chat) != str(user_id):
            self._audit("web_link_refused", by, {"why": "group chat", "chat": str(chat)})
            return Reply(text="🔒 Login links only in a private chat with the bot: open it and send /dashboard there.")
        # the console is the local operator (no user id): its link logs in as "console:0"
        url, ttl = web.login_link(front, int(user_id) if user_id is not None else 0)
        self._audit("web_link_issued", by, {})
        return Reply(text=f"🔑 Dashboard login (one use, valid {ttl / 60:.0f} min):\n{url}", private=True,
                     data={"url": url})

    # ---- read-only commands ---------------------------------------------------------------

    async def cmd_help(self, by: str, args: list[str]) -> Reply:
        return Reply(text=HELP, mono=True)

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
            extra = " (but HALTED: /resume lifts the halt)" if t.risk.halted else ""
            text = f"▶️ New entries allowed{extra}."
        else:
            text = "⏸ New entries paused; open positions are still managed and exited."
        return Reply(text=text, data={"running": on})

    async def cmd_status(self, by: str, args: list[str]) -> Reply:
        m = self.bot.market
        rows = []
        lines = [self._state_line(), fx_line(m)]
        glob = m.global_problems()
        if glob:
            lines.append("data: " + "; ".join(glob))
        lines.append("sym   mid%   long%  z-long  short% z-short data")
        for sym in m.symbols:
            v = m.views[sym]
            snap = v.snapshot
            probs = m.symbol_problems(sym)
            health = "ok" if not probs and not glob else "STALE" if probs else "fx?"
            if snap is None:
                lines.append(f"{sym:<4} waiting for data")
                rows.append({"symbol": sym})
                continue
            lines.append(f"{sym:<4}{_f(snap.mid):>7}{_f(snap.exec_long):>7}{_f(v.z_long):>7}"
                         f"{_f(snap.exec_short):>8}{_f(v.z_short):>7} {health}")
            rows.append({"symbol": sym, "mid": snap.mid, "exec_long": snap.exec_long, "exec_short": snap.exec_short,
                         "z_mid": v.z_mid, "z_long": v.z_long, "z_short": v.z_short, "problems": probs})
        pnl = self.pnl_data()
        lines.append(f"P&L today {_krw(pnl['today_krw'])} KRW · total {_krw(pnl['total_krw'])} KRW")
        if self.trader is not None:
            n = len(self.trader.positions())
            lines.append(f"open pairs: {n}")
        waiting = unresolved_orders(self.trader, self.bot.clock.now_ms())
        lines.extend("⏳ " + unresolved_line(o) for o in waiting)
        state = getattr(self.bot, "state", None)
        return Reply(text="\n".join(lines), mono=True, data={
            "symbols": rows, "pnl": pnl, "trading": self.trader is not None, "unresolved": waiting,
            "not_trading": getattr(state, "not_trading", "") if self.trader is None else ""})

    async def cmd_positions(self, by: str, args: list[str]) -> Reply:
        from kimpbot.models import Direction
        from kimpbot.strategy.base import position_net_profit_krw

        t = self.trader
        if t is None:
            return self._no_trader()
        now = self.bot.clock.now_ms()
        out = []
        lines = []
        for p in t.positions():
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
            fund = f"in {_age(nf - now)}" if nf and nf > now else "n/a"
            d = "long" if p.direction is Direction.LONG_PREMIUM else "short"
            lines.append(f"{p.symbol} {d} premium ({p.tier}) · {p.id}\n"
                         f"  entry {p.entry_premium_pct:+.2f}% → now {_f(cur).strip()}% · target {p.target_pct:g}%\n"
                         f"  size {p.entry_notional_krw:,.0f} KRW ({p.upbit_qty:g} {p.symbol})\n"
                         f"  P&L {_krw(pnl_krw)} KRW ({'n/a' if pnl_pct is None else f'{pnl_pct:+.2f}%'})"
                         f" · age {_age(now - p.opened_ts)} · funding {fund}")
            out.append({"id": p.id, "symbol": p.symbol, "direction": p.direction.value,
                        "entry_premium_pct": p.entry_premium_pct, "current_premium_pct": cur,
                        "size_krw": p.entry_notional_krw, "unrealized_krw": pnl_krw, "unrealized_pct": pnl_pct,
                        "age_ms": now - p.opened_ts, "next_funding_ms": nf})
        text = "\n".join(lines) if lines else "No open positions."
        # private (issue 11 item 7): sizes and P&L are for the owner's eyes (Discord: ephemeral)
        return Reply(text=text, data=out, private=True)

    async def cmd_pnl(self, by: str, args: list[str]) -> Reply:
        d = self.pnl_data()
        text = (f"💰 Realized P&L\ntoday (KST): {_krw(d['today_krw'])} KRW ({d['today_closed']} closed)\n"
                f"total: {_krw(d['total_krw'])} KRW ({d['closed']} closed)")
        if self.trader is not None and self.trader.positions():
            text += f"\nopen pairs: {len(self.trader.positions())} (/positions for unrealized)"
        return Reply(text=text, data=d, private=True)

    async def cmd_trades(self, by: str, args: list[str]) -> Reply:
        store = self.bot.store
        if store is None:
            return self._no_trader()
        n = 10
        if args:
            # ASCII digits only: str.isdigit() also accepts "²" or "৩", which int() refuses or misreads
            if not re.fullmatch(r"[0-9]{1,6}", args[0]):
                return Reply(text=f"/trades takes a number of trades, 1 to 30 (e.g. /trades 5), not {args[0][:20]!r}.")
            n = max(1, min(30, int(args[0])))
        rows = store.trades(limit=n)
        lines = []
        for t in rows:
            ts = time.strftime("%m-%d %H:%M", time.gmtime((int(t.get("created_ms") or 0) + KST_OFFSET_MS) / 1000))
            d = "L" if t.get("direction") == "long_premium" else "S"
            lines.append(f"{ts} {t.get('symbol', '?'):<4}{d} {t.get('action', '?'):<5} {t.get('status', '?'):<11}"
                         f"{float(t.get('size_krw') or 0):>12,.0f}")
        text = ("time(KST)   sym  act   status            KRW\n" + "\n".join(lines)) if lines else "No trades yet."
        return Reply(text=text, mono=bool(lines), data=rows)

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
            lines.append(f"Upbit: {float(up.quote_free):,.0f} KRW free")
            for c, q in sorted(up.coins.items()):
                if q:
                    lines.append(f"  {c} {q}")
        if bn is not None:
            lines.append(f"Binance: {float(bn.quote_free):,.2f} USDT margin free")
            for c, q in sorted(bn.positions.items()):
                if q:
                    lines.append(f"  {c}USDT perp {q:+}")
        tag = " (paper)" if not self.bot.settings.live else ""
        text = (f"💼 Balances{tag}\n" + "\n".join(lines)) if lines else "Balances unknown (refresh failed)."
        return Reply(text=text, data={k: {"quote_free": str(v.quote_free),
                                          "coins": {c: str(q) for c, q in v.coins.items()},
                                          "positions": {c: str(q) for c, q in v.positions.items()}}
                                      for k, v in b.items()}, private=True)

    async def cmd_params(self, by: str, args: list[str]) -> Reply:
        rows = self.bot.owner.params.describe()
        lines = [f"strategy file: {self.bot.owner.source}"]
        for k, v, status in rows:
            mark = "" if "set by owner" in status and "unset" not in status else " *"
            later = [f"{pk} = {_plain(pv)}" for pk, pv in self.pending_restart.items()
                     if pk == k or pk.startswith(k + ".")]
            after = f"  (file: {', '.join(later)} from the next start)" if later else ""
            lines.append(f"{k} = {v}{mark}{after}")
        lines.append("* default, unset by owner · /set KEY VALUE changes one (asks to confirm)")
        return Reply(text="\n".join(lines), mono=True, data=rows)

    async def cmd_set(self, by: str, args: list[str]) -> Reply:
        """``/set KEY VALUE``: step 1 of a parameter change; nothing changes before "Apply"."""
        from kimpbot.params import ConfigError
        from kimpbot.strategy_file import plan_change

        if len(args) < 2:
            return Reply(text="usage: /set KEY VALUE, e.g. /set zscore.exit_z 0.5 or /set stop_loss_pct off\n"
                              "/params lists the keys. The change is written to the strategy file after you "
                              "confirm it.")
        key, raw = args[0], " ".join(args[1:])
        path = self.bot.settings.strategy_file
        today = time.strftime("%Y-%m-%d", time.gmtime(self.bot.clock.now_ms() / 1000))
        try:
            change = await asyncio.to_thread(plan_change, path, key, raw, by, today)
        except ConfigError as exc:
            self._audit("param_change_refused", by, {"key": key[:60], "value": raw[:60], "why": str(exc)[:200]})
            return Reply(text=f"❌ {exc}", data={"error": str(exc)})
        running = self.bot.owner[change.key]
        if change.shown_key != change.key and isinstance(running, dict):
            running = running.get(change.shown_key[len(change.key) + 1:])
        differs = ""
        if running != change.old:  # the file was edited by hand since the start
            differs = (f"\n(in force now: {_plain(running)}; the file says {_plain(change.old)}: only "
                       f"{change.shown_key} changes)")
        nonce = self._new_confirm("set_param", by, change)
        self._audit("param_change_requested", by, {"key": change.shown_key, "old": _plain(change.old),
                                                    "new": _plain(change.new)})
        return Reply(text=f"⚙️ Change the owner's strategy file?\n{change.summary()}{differs}",
                     buttons=[[Button("Apply", f"cy:{nonce}"), Button("Cancel", f"cn:{nonce}")]],
                     data={"nonce": nonce, "key": change.shown_key, "old": change.old, "new": change.new,
                           "applies": change.applies})

    async def _apply_param(self, c: _Confirm, by: str) -> Reply:
        from kimpbot.params import ConfigError
        from kimpbot.strategy_file import write_change

        change = c.payload
        try:
            new_owner = await asyncio.to_thread(write_change, change)
        except (ConfigError, OSError) as exc:
            self._audit("param_change_failed", by, {"key": change.shown_key, "why": str(exc)[:200]})
            return Reply(toast="Not applied", edit=f"❌ {change.shown_key} not changed: {exc}",
                         data={"applied": False})
        when = "in force now"
        if change.applies == "now":
            pv = new_owner.params.values[change.key]
            if change.shown_key != change.key:  # one table entry: the other entries stay as they run
                table = dict(self.bot.owner[change.key])
                table[change.shown_key[len(change.key) + 1:]] = change.new
                pv = ParamValue(pv.spec, table, True)
            try:
                self.bot.apply_owner({change.key: pv}, new_owner.source)
            except ConfigError as exc:  # a cross-check against running values that are not in the file yet
                when = f"written, NOT in force until a restart ({exc})"
                self.pending_restart[change.shown_key] = change.new
        elif change.applies == "restart":
            when = "in force from the next start (restart kimpbot)"
            self.pending_restart[change.shown_key] = change.new
        else:
            when = "used by the next `kimpbot backtest`"
        self._audit("param_changed", by, {"key": change.shown_key, "old": _plain(change.old),
                                          "new": _plain(change.new), "file": str(change.path), "when": when})
        log.warning("strategy file: %s changed by %s (%s)", change.shown_key, by, when)
        return Reply(toast="Applied", edit=f"⚙️ {change.summary().splitlines()[0]}\n✅ written by {by}; {when}.",
                     data={"applied": True, "when": change.applies})

    async def cmd_live(self, by: str, args: list[str]) -> Reply:
        return await self._offer_mode("live", by)

    async def cmd_paper(self, by: str, args: list[str]) -> Reply:
        return await self._offer_mode("paper", by)

    def _mode_blocked(self, mode: str) -> str:
        s = self.bot.settings
        t = self.trader
        if self.bot_switching():
            return "a mode switch is already in progress"
        if t is None:
            return "trading is not running (watching only)"
        if s.mode == mode:
            return f"already in {mode} mode"
        if t.journal.halted:  # a switch would drop what only memory holds (late fills, an unsaved halt)
            return f"the {t.journal.reason()}: free disk space first"
        if mode == "live":
            missing = [n for n, v in (("UPBIT_ACCESS_KEY", s.upbit_access_key), ("UPBIT_SECRET_KEY", s.upbit_secret_key),
                                      ("BINANCE_API_KEY", s.binance_api_key), ("BINANCE_API_SECRET", s.binance_api_secret))
                       if not v]
            if missing:
                return "live mode needs " + ", ".join(missing) + " in the config (.env), then a restart"
            if t.risk.halted:
                return "HALTED: /resume first, so the live start is not halted by paper state"
        if t.positions():
            what = "paper" if s.mode == "paper" else "live"
            return (f"{len(t.positions())} {what} position(s) are open and would no longer be managed: close them "
                    "first (/closeall)")
        if t._busy or (t.store is not None and t.store.journal_open()):
            return "a trade is in flight; try again in a moment"
        return ""

    async def _offer_mode(self, mode: str, by: str) -> Reply:
        blocked = self._mode_blocked(mode)
        if blocked:
            self._audit("mode_switch_refused", by, {"mode": mode, "why": blocked})
            return Reply(text=f"❌ Not switching to {mode}: {blocked}.", data={"mode": mode, "refused": blocked})
        lines: list[str] = []
        if mode == "live":
            from kimpbot.doctor import FAIL, live_preflight

            checks = await live_preflight(self.bot.settings, list(self.bot.market.symbols))
            failed = [c for c in checks if c.status == FAIL]
            lines = [f"{'❌' if c.status == FAIL else '✅' if c.status == 'PASS' else '➖'} {c.name}: {c.detail}"
                     for c in checks]
            if failed:
                self._audit("mode_switch_refused", by, {"mode": mode, "why": "; ".join(c.name for c in failed)})
                return Reply(text="❌ Not switching to live: the checks failed.\n" + "\n".join(lines),
                             data={"mode": mode, "refused": [c.name for c in failed]})
            canary = self.bot.owner["risk.live_canary_max_krw"]
            cap = (f"orders are capped at {canary:,.0f} KRW (risk.live_canary_max_krw)" if canary is not None
                   else "NO order cap (risk.live_canary_max_krw is off)")
            tm = self.trader.state.trade_mode if self.trader is not None else self.bot.settings.trade_mode
            how = ("AUTO trade mode: signals trade real money without asking" if tm == "auto"
                   else "confirm trade mode: each signal asks Execute / Skip first")
            head = (f"🔴 Switch to LIVE trading? Real orders on Upbit and Binance with your keys; {cap}; {how}. "
                    f"Live records are kept apart from paper. Lasts until kimpbot restarts (then KIMPBOT_MODE "
                    f"decides).")
        else:
            head = "Switch back to PAPER trading? No real orders from then on; the live ledger is kept."
        nonce = self._new_confirm("mode", by, mode)
        self._audit("mode_switch_requested", by, {"mode": mode})
        label = "Yes, trade LIVE" if mode == "live" else "Yes, paper"
        return Reply(text="\n".join([head, *lines]),
                     buttons=[[Button(label, f"cy:{nonce}"), Button("Cancel", f"cn:{nonce}")]],
                     data={"nonce": nonce, "mode": mode})

    async def _switch_mode(self, c: _Confirm, by: str) -> Reply:
        mode = c.payload
        blocked = self._mode_blocked(mode)  # things may have changed while the button waited
        if blocked:
            self._audit("mode_switch_refused", by, {"mode": mode, "why": blocked})
            return Reply(toast="Not switched", edit=f"❌ Not switched to {mode}: {blocked}.", data={"switched": False})
        self._audit("mode_switch_confirmed", by, {"mode": mode})
        try:
            await self.bot.switch_mode(mode, by)
        except Exception as exc:
            self._audit("mode_switch_failed", by, {"mode": mode, "why": f"{type(exc).__name__}: {exc}"[:200]})
            return Reply(toast="Switch failed", edit=f"❌ Switch to {mode} failed ({type(exc).__name__}: {exc}); "
                                                     f"still {self.bot.settings.mode}.", data={"switched": False})
        self._audit("mode_switched", by, {"mode": mode})  # into the new mode's store: each ledger tells its story
        return Reply(toast=f"{mode} now", edit=f"{'🔴 LIVE' if mode == 'live' else '📝 PAPER'} trading now "
                                               f"(switched by {by}).", data={"switched": True, "mode": mode})

    async def cmd_chart(self, by: str, args: list[str]) -> Reply:
        from kimpbot.control.charts import chart_data, render_chart

        syms = self.bot.market.symbols
        sym = (args[0].upper() if args else syms[0])
        if sym not in syms:
            return Reply(text=f"Unknown symbol {sym}; one of {', '.join(syms)}.")
        data = chart_data(self.bot, sym)
        if len(data["premium"]) < 2:
            return Reply(text=f"Not enough {sym} history for a chart yet.")
        png = await asyncio.to_thread(render_chart, data)
        last = data["premium"][-1]
        return Reply(text=f"{sym} premium and z ({len(data['premium'])} bars, last {last:+.2f}%)", photo=png,
                     data={k: v for k, v in data.items() if k != "bars"})

    # ---- signals ----------------------------------------------------------------------------

    @staticmethod
    def signal_buttons(pending_id: str) -> list[list[Button]]:
        return [[Button("✅ Execute", f"x:{pending_id}"), Button("✖️ Skip", f"s:{pending_id}")]]

    async def cmd_pending(self, by: str, args: list[str]) -> Reply:
        t = self.trader
        if t is None:
            return self._no_trader()
        now = self.bot.clock.now_ms()
        live = [p for p in t.state.pending.values() if p.state == "pending" and now < p.expires_ms]
        if not live:
            return Reply(text="No signals waiting.")
        lines, buttons = [], []
        for p in live:
            s = p.signal
            lines.append(f"{p.id}: {s.symbol} {s.direction.label} {s.action} {s.size_krw:,.0f} KRW at "
                         f"{(s.premium_pct or 0):+.2f}% (z {(s.z or 0):+.2f}), {(p.expires_ms - now) / 1000:.0f} s left")
            buttons += self.signal_buttons(p.id)
        return Reply(text="\n".join(lines), buttons=buttons, data=[p.id for p in live])

    async def cmd_confirm(self, by: str, args: list[str]) -> Reply:
        if not args:
            return Reply(text="usage: /confirm <signal id>")
        r = await self._execute(args[0], by)
        return Reply(text=r.edit or r.toast, data=r.data)

    async def cmd_skip(self, by: str, args: list[str]) -> Reply:
        if not args:
            return Reply(text="usage: /skip <signal id>")
        r = self._skip(args[0], by)
        return Reply(text=r.edit or r.toast, data=r.data)

    def entries_blocked(self) -> str:
        """Why new entries cannot go now ("" when they can)."""
        t = self.trader
        if t is None:
            return f"trading is not running ({self._bot_status() or 'watching only'})"
        if t.risk.halted:
            return "HALTED: not offered (/resume first)"
        if not t.running:
            return "stopped: not offered (/start first)"
        return ""

    def _pending(self, pid: str) -> Any:
        t = self.trader
        return None if t is None else t.state.pending.get(pid)

    def _signal_text(self, p: Any) -> str:
        s = p.signal
        return (f"🔔 {s.symbol} {s.direction.label} {s.action}: {s.size_krw:,.0f} KRW at "
                f"{(s.premium_pct or 0):+.2f}% (z {(s.z or 0):+.2f}), target {s.target_pct:g}%")

    async def _execute(self, pid: str, by: str) -> Reply:
        if self.bot_switching():
            return Reply(toast="A mode switch is in progress: nothing sent; try again in a moment",
                         data={"state": "switching"})
        p = self._pending(pid)
        if p is None:
            return Reply(toast="Unknown or old signal", data={"state": "unknown"})
        if p.state != "pending":
            return Reply(toast=f"Already {p.state}", data={"state": p.state, "already": True})
        if self.bot.clock.now_ms() >= p.expires_ms:
            p.state = "expired"
            self._audit("signal_expired_press", by, {"pending_id": pid})
            return Reply(toast="Already expired: nothing sent", edit=self._signal_text(p) + "\n⌛ Expired, nothing sent.",
                         data={"state": "expired", "already": True})
        if self.trader.risk.halted or not self.trader.running:
            why = "halted (/resume first)" if self.trader.risk.halted else "stopped (/start first)"
            return Reply(toast=f"Entries are {why}: nothing sent", data={"state": p.state, "blocked": why})
        self._audit("confirm", by, {"pending_id": pid, "symbol": p.signal.symbol, "action": p.signal.action})
        result = await self.trader.confirm(pid, by)
        state = p.state
        if state == "done" and p.result in ("filled", "partial"):
            mark = "✅"
        else:
            mark = "⚠️"
        edit = f"{self._signal_text(p)}\n{mark} {result} (by {by})"
        if state != "pending":
            self._answered("signal_answered", pid, edit, by)
        return Reply(toast=result[:190], edit=edit, data={"state": state, "result": result})

    def _skip(self, pid: str, by: str) -> Reply:
        p = self._pending(pid)
        if p is None:
            return Reply(toast="Unknown or old signal", data={"state": "unknown"})
        if p.state != "pending":
            return Reply(toast=f"Already {p.state}", data={"state": p.state, "already": True})
        if self.bot.clock.now_ms() >= p.expires_ms:
            p.state = "expired"
            return Reply(toast="Already expired", edit=self._signal_text(p) + "\n⌛ Expired, nothing sent.",
                         data={"state": "expired", "already": True})
        result = self.trader.skip(pid, by)
        self._audit("skip", by, {"pending_id": pid})
        edit = f"{self._signal_text(p)}\n✖️ {result} (by {by})"
        self._answered("signal_answered", pid, edit, by)
        return Reply(toast="Skipped", edit=edit, data={"state": p.state})

    # ---- halt / resume / close all -----------------------------------------------------------

    async def cmd_halt(self, by: str, args: list[str]) -> Reply:
        t = self.trader
        reason = " ".join(args) or "/halt from chat"
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
            orders = f"cancelled {len(cancelled)} open order(s)" if cancelled else "no open orders"
        elif task in done:
            orders = f"cancelling orders failed: {type(task.exception()).__name__}"
        else:
            orders = "cancelling open orders in the background"
        head = "🛑 Already halted" if was else "🛑 HALTED"
        n = len(t.positions())
        text = f"{head}: new entries stopped, {orders}. /resume lifts it."
        buttons: list[list[Button]] = []
        if n:
            text += f"\n{n} open position(s) stay hedged. Close them all?"
            buttons = [[Button(f"Close all {n} positions…", "ca")]]
        return Reply(text=text, buttons=buttons, data={"halted": True, "positions": n})

    def _halt_before_trading(self, reason: str, by: str) -> Reply:
        """/halt while warming up or not trading: persisted now (the store is open from the first
        second), so no entry goes out when trading starts; there are no orders to cancel yet."""
        if self.bot.store is None:
            return self._no_trader()
        was = not self.bot.halt_entries(reason, by)
        self._audit("halt_command", by, {"reason": reason, "before_trading": True})
        head = "🛑 Already halted" if was else "🛑 HALTED"
        return Reply(text=f"{head}: no new entries, also once trading starts ({self._bot_status()}). "
                          "/resume lifts it.", data={"halted": True, "positions": 0})

    async def cmd_resume(self, by: str, args: list[str]) -> Reply:
        t = self.trader
        if t is None:
            if self.bot.store is None:
                return self._no_trader()
            ok = self.bot.resume_entries(by)
            self._audit("resume_command", by, {"lifted": ok, "before_trading": True})
            return Reply(text="▶️ Halt lifted: entries allowed once trading starts." if ok else "Not halted.",
                         data={"halted": False})
        was_store = t.journal.halted
        if was_store and not await t.journal.probe():  # halt kind "store": lifts itself, /resume retries
            return Reply(text=f"🛑 Still halted: the {t.journal.reason()}. It lifts by itself once a write "
                              "succeeds (free disk space); tried again just now.", data={"halted": True})
        ok = t.risk.resume(by)
        if not ok and was_store:
            return Reply(text="▶️ The journal writes again: store halt lifted, new entries allowed.",
                         data={"halted": False})
        self._audit("resume_command", by, {"lifted": ok})
        if not ok:
            return Reply(text="Not halted.", data={"halted": False})
        run = "" if t.running else " (entries are still paused by /stop: /start allows them)"
        return Reply(text=f"▶️ Halt lifted: new entries allowed{run}.", data={"halted": False})

    async def cmd_closeall(self, by: str, args: list[str]) -> Reply:
        return self._offer_close_all(by, as_message=True)

    def _new_confirm(self, action: str, by: str, payload: Any = None) -> str:
        now = time.monotonic()
        for k in [k for k, c in self._confirms.items() if now - c.created > self.confirm_ttl_s * 5]:
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
            return Reply(text="No open positions to close.", toast="No open positions")
        nonce = self._new_confirm("close_all", by)
        self._audit("close_all_requested", by, {"positions": n})
        return Reply(text=f"⚠️ Close all {n} open position(s) at market on both exchanges? This cannot be undone.",
                     buttons=[[Button("Yes, close all", f"cy:{nonce}"), Button("Cancel", f"cn:{nonce}")]],
                     toast="Confirm below", data={"nonce": nonce, "positions": n})

    async def _confirm_answer(self, nonce: str, by: str, yes: bool, key: MessageKey | None = None) -> Reply:
        """Step 2 of a destructive action: one use, within the time limit, on the message it was
        offered on, by the user who asked for it."""
        c = self._confirms.get(nonce)
        if c is None:
            return Reply(toast="Unknown or old confirmation")
        data = f"{'cy' if yes else 'cn'}:{nonce}"
        if key is not None and c.message != key:
            return self._refuse_button(by, data, key, "this confirmation belongs to another message")
        if c.by != by:
            return self._refuse_button(by, data, key or ("", "", ""),
                                       f"only {c.by}, who asked for it, can answer this confirmation")
        if c.used:
            return Reply(toast="Already answered", data={"already": True})
        if self.bot_switching():  # the nonce stays usable
            return Reply(toast="A mode switch is in progress: nothing done; press again in a moment")
        what = {"close_all": "Close-all", "set_param": "Parameter change", "mode": "Mode switch"}[c.action]
        if time.monotonic() - c.created > self.confirm_ttl_s:
            c.used = True
            self._audit(f"{c.action}_expired", by)
            return Reply(toast="Expired: ask again", edit=f"⌛ {what} confirmation expired; nothing done.",
                         data={"expired": True})
        c.used = True
        if not yes:
            self._audit(f"{c.action}_cancelled", by)
            return Reply(toast="Cancelled", edit=f"{what} cancelled by {by}; nothing done.", data={"cancelled": True})
        if c.action == "set_param":
            return await self._apply_param(c, by)
        if c.action == "mode":
            return await self._switch_mode(c, by)
        self._audit("close_all_confirmed", by)
        outs = await self.trader.close_all(by)
        summary = ", ".join(f"{o.symbol} {o.status}" for o in outs) or "nothing to close"
        left = len(self.trader.positions())
        return Reply(toast="Closing", edit=f"Close all by {by}: {summary}. Open positions left: {left}.",
                     data={"results": [o.status for o in outs], "left": left})

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
        return [[Button("Adopt", f"ra:{fid}"), Button("Close", f"rc:{fid}"), Button("Ignore", f"ri:{fid}")]]

    async def _finding(self, kind: str, fid: str, by: str) -> Reply:
        f = self.findings.get(fid)
        if f is None:
            return Reply(toast="Unknown finding")
        if f["state"] != "open":
            return Reply(toast=f"Already {f['state']}", data={"already": True})
        if self.bot_switching():
            return Reply(toast="A mode switch is in progress: try again in a moment")
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
                note = "recorded; nothing for kimpbot to take over here."
            elif kind == "rc":
                note = ("recorded. kimpbot sends no orders for this finding: check it on the exchange by hand (it "
                        "names the venue and quantity).")
            else:
                note = "ignored (recorded); it is reported again at the next restart if it is still there."
        except Exception:
            f["state"] = "open"
            raise
        f["state"] = state
        what = {"ra": "adopt", "rc": "close", "ri": "ignore"}[kind]
        self._audit(f"reconcile_{what}" + ("" if state != "open" else "_refused"), by,
                    {"finding": f["text"][:300], "state": state, "result": note[:300]})
        if state == "open":  # nothing done: the buttons stay, the answer says why
            return Reply(toast="Not done", text=f"🔎 {what.capitalize()} not done: {note}",
                         data={"state": state, "result": note})
        edit = f"🔎 {f['text']}\n→ {state} by {by}: {note}"
        if state != "pending":
            self._answered("finding_answered", fid, edit, by)
        return Reply(toast=state.capitalize(), edit=edit, data={"state": state, "result": note})


def _plain(v: Any) -> Any:
    """A value for the audit log (JSON)."""
    return v if v is None or isinstance(v, (bool, int, float, str)) else str(v)


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.2f}"
