"""The door for strangers: what kimpbot does with a command or button press from a user who is not
allowed, so that a flood of them costs next to nothing and never delays the owner.

* Counted per stranger in fixed windows (``window_s``). The first refusal of a stranger in a window
  is logged and audited at once (what, where); the rest of the window is one audit line with the
  count when the window closes (``unauthorized_repeated``). At most ``max_audited`` strangers a window
  get lines of their own; the others are counted into one ``unauthorized_flood`` line. So a flood
  writes at most ``2 * max_audited + 1`` audit lines a window, whatever its size, and every refusal
  is counted.
* Answers are rate-limited: in a group, never (a refusal posted there would queue behind Telegram's
  20 messages a minute per group, and the owner's replies with it); in a private chat or as a
  button's answer, at most once per stranger per window and ``max_replies`` a window in all.

Windows close lazily (at the next refusal) and by a timer when an event loop runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

log = logging.getLogger("kimpbot.control.commands")  # where refusals were always logged (log filters keep working)

WINDOW_S = 60.0
MAX_REPLIES = 10      # refusal answers a window, all strangers together
MAX_AUDITED = 20      # strangers a window with audit lines of their own
MAX_TRACKED = 2000    # strangers a window counted one by one (memory bound); the rest only in the total


@dataclass
class _Stranger:
    count: int = 0
    replied: bool = False
    audited: bool = False
    last: str = ""
    chats: set[str] = field(default_factory=set)


class StrangerGate:
    """Refusal bookkeeping for users who are not allowed (see the module docstring)."""

    def __init__(self, audit: Callable[[str, str, dict[str, Any]], None], *, window_s: float = WINDOW_S,
                 max_replies: int = MAX_REPLIES, max_audited: int = MAX_AUDITED, max_tracked: int = MAX_TRACKED,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._audit = audit
        self.window_s = window_s
        self.max_replies = max_replies
        self.max_audited = max_audited
        self.max_tracked = max_tracked
        self._clock = clock
        self._start = clock()
        self._strangers: dict[str, _Stranger] = {}
        self._n_audited = 0           # strangers with lines of their own this window
        self._replies = 0
        self._flood_count = 0         # refusals of the others (one line for all of them)
        self._flood_users = 0
        self._untracked = 0           # refusals past max_tracked strangers (not told apart)
        self._timer: asyncio.TimerHandle | None = None
        self.refused_total = 0        # since start, for /status and tests
        self.replied_total = 0

    def refuse(self, who: str, what: str, chat: Any = None, *, may_answer: bool = True) -> bool:
        """Count a refused attempt by ``who`` ("<front>:<user id>"); True when an answer may be sent
        (``may_answer`` False: a group, where nothing is ever answered)."""
        now = self._clock()
        self.flush(now=now)
        self.refused_total += 1
        s = self._strangers.get(who)
        if s is None:
            if len(self._strangers) >= self.max_tracked:
                self._flood_count += 1
                self._untracked += 1
                return False
            s = self._strangers[who] = _Stranger(audited=self._n_audited < self.max_audited)
            if s.audited:
                self._n_audited += 1
                where = f" in chat {chat}" if chat is not None else ""
                log.warning("refused %s from unauthorized %s%s", what[:100], _user_words(who), where)
                self._audit("unauthorized", who, {"what": what[:100], "chat": "" if chat is None else str(chat),
                                                  "count": 1})
            else:
                self._flood_users += 1
            self._arm()
        s.count += 1
        s.last = what[:100]
        if chat is not None and len(s.chats) < 5:
            s.chats.add(str(chat))
        if not s.audited:
            self._flood_count += 1
        if not may_answer or s.replied or self._replies >= self.max_replies:
            return False
        s.replied = True
        self._replies += 1
        self.replied_total += 1
        return True

    def flush(self, now: float | None = None, *, force: bool = False) -> None:
        """Close the window when it is over (``force``: now): one line per stranger with the count."""
        now = self._clock() if now is None else now
        if not force and now - self._start < self.window_s:
            return
        strangers, count, users, untracked = self._strangers, self._flood_count, self._flood_users, self._untracked
        self._strangers, self._flood_count, self._flood_users, self._untracked = {}, 0, 0, 0
        self._n_audited = self._replies = 0
        self._start = now
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for who, s in strangers.items():
            if s.audited and s.count > 1:
                log.warning("refused %d more attempt(s) from unauthorized %s within %.0f s (last: %s)",
                            s.count - 1, _user_words(who), self.window_s, s.last)
                self._audit("unauthorized_repeated", who, {"what": s.last, "chats": sorted(s.chats),
                                                          "count": s.count - 1, "window_s": self.window_s})
        if count:
            log.warning("refused %d attempt(s) from %d%s more unauthorized user(s) within %.0f s", count, users,
                        "+" if untracked else "", self.window_s)
            self._audit("unauthorized_flood", "*", {"count": count, "users": users, "untracked": untracked,
                                                    "window_s": self.window_s})

    def _arm(self) -> None:
        """Close the window by itself when the flood stops (when an event loop runs)."""
        if self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        delay = max(0.0, self.window_s - (self._clock() - self._start)) + 0.01
        self._timer = loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        try:
            self.flush()
        except Exception as exc:  # bookkeeping must never break the loop
            log.error("closing the refusal window failed: %s: %s", type(exc).__name__, exc)
        if self._strangers:
            self._arm()

    def close(self) -> None:
        """Write what the open window counted (at shutdown)."""
        if self._strangers or self._flood_count:
            self.flush(force=True)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _user_words(who: str) -> str:
    front, _, uid = who.partition(":")
    return f"{front} user id {uid}" if uid else front
