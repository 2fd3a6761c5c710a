"""``/notify``: per kind of event, on (with sound) / silent / off, kept in the store.

Kinds are grouped the way an owner thinks of them (signals, trade cards, funding, data and FX
health, bot status, reports). Alerts — unhedged legs, halts, errors, reconciliation findings, any
critical event — always go out with sound and cannot be changed. Trade cards can be made silent but
not turned off: every fill and rollback reaches the chat (house rule).

Every delivery path (Telegram, the Discord bot, the Discord webhook) asks :meth:`NotifyPrefs.level`
for each event; the setting lives in the trading store (``state`` key ``notify_prefs``), so it
survives a restart.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable

from kimpbot.events import Event
from kimpbot.i18n import Msg, render
from kimpbot.i18n import cards as c

if TYPE_CHECKING:
    from kimpbot.control.commands import Reply

log = logging.getLogger("kimpbot.control.notify_prefs")

STATE_KEY = "notify_prefs"
LEVELS = ("on", "silent", "off")
ALERT = "alert"      # what level() answers for an alert: loud, always
# group -> the event kinds in it (a kind added later falls into "system")
GROUPS: dict[str, frozenset[str]] = {
    "signals": frozenset({"signal", "signal_expired", "signal_answered", "refused"}),
    "trades": frozenset({"trade", "fill", "partial", "unwind", "rollback"}),
    "funding": frozenset({"funding"}),
    "market": frozenset({"health", "fx", "feed"}),
    "system": frozenset({"start", "mode", "trading", "halt"}),
    "reports": frozenset({"report", "daily", "weekly", "monthly"}),
}
GROUP_NAMES: dict[str, Msg] = {"signals": c.G_SIGNALS, "trades": c.G_TRADES, "funding": c.G_FUNDING,
                               "market": c.G_MARKET, "system": c.G_SYSTEM, "reports": c.G_REPORTS}
# a signal asks for an answer within a minute: it rings; the rest of the routine is silent
DEFAULTS = {"signals": "on", "trades": "silent", "funding": "silent", "market": "silent", "system": "silent",
            "reports": "silent"}
NOT_OFF = frozenset({"trades"})   # every fill and rollback reaches the chat
ALERT_KINDS = frozenset({"exposure", "error", "protection", "reconcile"})
ALIASES = {"signal": "signals", "trade": "trades", "cards": "trades", "fills": "trades", "fill": "trades",
           "health": "market", "fx": "market", "status": "system", "report": "reports", "alerts": ALERT,
           "alert": ALERT, "신호": "signals", "거래": "trades", "펀딩": "funding", "펀딩비": "funding",
           "시세": "market", "환율": "market", "상태": "system", "리포트": "reports", "경보": ALERT}
LEVEL_ALIASES = {"on": "on", "loud": "on", "sound": "on", "켬": "on", "소리": "on", "silent": "silent",
                 "quiet": "silent", "mute": "silent", "무음": "silent", "off": "off", "끔": "off"}
LEVEL_NAMES = {"on": c.L_ON, "silent": c.L_SILENT, "off": c.L_OFF}


def is_alert(ev: Event) -> bool:
    """Loud, always, whatever /notify says."""
    if ev.level == "critical" or ev.kind in ALERT_KINDS:
        return True
    return ev.kind == "halt" and ev.level != "info"


def group_of(kind: str) -> str:
    for g, kinds in GROUPS.items():
        if kind in kinds:
            return g
    return "system"


class NotifyPrefs:
    """The owner's notification levels, read from (and written to) the store each time: every front
    and the webhook see a change at once, and nothing is lost on a restart."""

    def __init__(self, store: Callable[[], Any]) -> None:
        self._store = store

    def levels(self) -> dict[str, str]:
        saved: dict[str, str] = {}
        st = self._store()
        if st is not None:
            try:
                saved = dict(st.get_state(STATE_KEY, {}) or {})
            except Exception as exc:   # unreadable: the defaults, said in the log
                log.warning("notification settings not read (%s): defaults used", type(exc).__name__)
        out = dict(DEFAULTS)
        out.update({g: v for g, v in saved.items() if g in DEFAULTS and v in LEVELS})
        return out

    def group_level(self, group: str) -> str:
        if group == ALERT:
            return ALERT
        lv = self.levels().get(group, "on")
        return "silent" if group in NOT_OFF and lv == "off" else lv

    def level(self, ev: Event) -> str:
        """``alert`` (loud, always), ``on``, ``silent`` or ``off`` for ``ev``."""
        if is_alert(ev):
            return ALERT
        return self.group_level(group_of(ev.kind))

    def set(self, group: str, level: str) -> None:
        """Raises ValueError with the owner's message (a catalogue Text) when not allowed."""
        if group == ALERT:
            raise ValueError(c.NOTIFY_ALERTS_FIXED())
        if group not in DEFAULTS:
            raise ValueError(c.NOTIFY_UNKNOWN_KIND(kind=group, kinds=", ".join(DEFAULTS)))
        if level not in LEVELS:
            raise ValueError(c.NOTIFY_UNKNOWN_LEVEL(level=level))
        if group in NOT_OFF and level == "off":
            raise ValueError(c.NOTIFY_TRADES_NOT_OFF())
        st = self._store()
        if st is None:
            raise ValueError(c.NOTIFY_NOT_SAVED(why="no store"))
        cur = {g: v for g, v in self.levels().items() if v != DEFAULTS.get(g)}
        cur[group] = level
        try:
            st.set_state(STATE_KEY, cur)
        except Exception as exc:
            raise ValueError(c.NOTIFY_NOT_SAVED(why=type(exc).__name__)) from None


def parse_group(word: str) -> str:
    w = word.strip().lower()
    return ALIASES.get(w, w)


class NotifyCommands:
    """``/notify`` for the command core (mixed into :class:`~kimpbot.control.commands.CommandCore`;
    ``self.bot`` and ``self._audit`` are the core's). Buttons carry ``n:<group>:<level>``."""

    bot: Any

    @property
    def notify_prefs(self) -> NotifyPrefs:
        prefs = self.__dict__.get("_notify_prefs")
        if prefs is None:
            prefs = self.__dict__["_notify_prefs"] = NotifyPrefs(lambda: getattr(self.bot, "store", None))
        return prefs

    def _notify_view(self, head: str = "") -> "Reply":
        from kimpbot.control.commands import Button, Reply

        levels = self.notify_prefs.levels()
        rows = [render(c.NOTIFY_HEAD())]
        buttons = []
        for g, lv in levels.items():
            lv = "silent" if g in NOT_OFF and lv == "off" else lv
            rows.append(render(c.NOTIFY_ROW(group=GROUP_NAMES[g](), level=LEVEL_NAMES[lv]())))
            row = []
            for opt in LEVELS:
                if g in NOT_OFF and opt == "off":
                    continue
                mark = "✓" if opt == lv else ""
                row.append(Button(f"{mark}{render(LEVEL_NAMES[opt]())} · {render(GROUP_NAMES[g]())}"[:60],
                                  f"n:{g}:{opt}"))
            buttons.append(row)
        rows.append(render(c.NOTIFY_ROW(group=c.G_ALERTS(), level=c.L_ALWAYS())))
        rows.append(render(c.NOTIFY_FOOT()))
        text = "\n".join(([head] if head else []) + rows)
        return Reply(text=text, buttons=buttons, data={"levels": levels})

    async def cmd_notify(self, by: str, args: list[str]) -> "Reply":
        from kimpbot.control.commands import Reply

        if not args:
            return self._notify_view()
        if len(args) != 2:
            return Reply(text=render(c.NOTIFY_USAGE(kinds=", ".join(DEFAULTS))))
        group, level = parse_group(args[0]), LEVEL_ALIASES.get(args[1].lower(), args[1].lower())
        try:
            self.notify_prefs.set(group, level)
        except ValueError as exc:
            return Reply(text=f"❌ {render(exc.args[0])}", data={"error": render(exc.args[0], "en")})
        self._audit("notify", by, {"group": group, "level": level})  # type: ignore[attr-defined]
        head = render(c.NOTIFY_SET(group=GROUP_NAMES[group](), level=LEVEL_NAMES[level]()))
        r = self._notify_view(head)
        r.data = {"group": group, "level": level, "levels": self.notify_prefs.levels()}
        return r

    def notify_press(self, arg: str, by: str) -> "Reply":
        """A button of the /notify list: set, then show the list again in place."""
        from kimpbot.control.commands import Reply

        group, _, level = arg.partition(":")
        try:
            self.notify_prefs.set(group, level)
        except ValueError as exc:
            return Reply(toast=render(exc.args[0])[:190])
        self._audit("notify", by, {"group": group, "level": level})  # type: ignore[attr-defined]
        head = render(c.NOTIFY_SET(group=GROUP_NAMES[group](), level=LEVEL_NAMES[level]()))
        view = self._notify_view(head)
        return Reply(toast=head[:190], edit=view.text, buttons=view.buttons,
                     data={"group": group, "level": level})
