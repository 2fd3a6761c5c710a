"""Dashboard access: one-time login links from the chat, sessions, CSRF tokens, a login rate limit.

* ``/dashboard`` in Telegram or Discord (an allowed user) → :meth:`Auth.issue_link`: a random
  token valid ``link_ttl_s`` (10 min), usable once, tied to that chat user.
* ``POST /login`` with the token → a session (random id in an HttpOnly, SameSite=Strict cookie,
  Secure when the public base is https) with its own CSRF token; it ends after ``session_ttl_s``
  or at ``/logout``. Sessions live in memory: a restart logs everyone out (send /dashboard again).
* Only SHA-256 digests of link tokens and session ids are kept, so a memory dump or a log line
  never holds a usable credential.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass, field

LINK_TTL_S = 600.0
SESSION_TTL_S = 12 * 3600.0


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class LoginLink:
    front: str
    user_id: int
    expires: float
    used: bool = False


@dataclass
class Session:
    front: str
    user_id: int
    csrf: str
    created: float
    expires: float
    key: str = field(repr=False, default="")

    @property
    def who(self) -> str:
        return f"{self.front}:{self.user_id}"


class RateLimit:
    """At most ``n`` events per ``window_s`` (sliding window)."""

    def __init__(self, n: int, window_s: float) -> None:
        self.n = n
        self.window_s = window_s
        self._times: deque[float] = deque()

    def allow(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()
        if len(self._times) >= self.n:
            return False
        self._times.append(now)
        return True


class Auth:
    def __init__(self, *, link_ttl_s: float = LINK_TTL_S, session_ttl_s: float = SESSION_TTL_S,
                 login_per_minute: int = 10, max_sessions: int = 50) -> None:
        self.link_ttl_s = link_ttl_s
        self.session_ttl_s = session_ttl_s
        self.max_sessions = max_sessions
        self._links: dict[str, LoginLink] = {}
        self._sessions: dict[str, Session] = {}
        # per process, not per client address: behind a reverse proxy every client is 127.0.0.1,
        # and a 256-bit token cannot be guessed at any rate; this only keeps a scanner cheap
        self.login_limit = RateLimit(login_per_minute, 60.0)

    # ---- links -----------------------------------------------------------------------------

    def issue_link(self, front: str, user_id: int) -> str:
        self._prune()
        token = secrets.token_urlsafe(32)
        self._links[_digest(token)] = LoginLink(front, int(user_id), time.monotonic() + self.link_ttl_s)
        return token

    def check_link(self, token: str) -> tuple[str, LoginLink | None]:
        """("ok" | "bad" | "used" | "expired", link) without using it."""
        link = self._links.get(_digest(token)) if token else None
        if link is None:
            return "bad", None
        if link.used:
            return "used", link
        if time.monotonic() >= link.expires:
            return "expired", link
        return "ok", link

    def use_link(self, token: str) -> tuple[str, Session | None, str]:
        """Consume the token: (status, session, session key for the cookie)."""
        status, link = self.check_link(token)
        if status != "ok" or link is None:
            return status, None, ""
        link.used = True  # single use, whatever happens next
        key = secrets.token_urlsafe(32)
        now = time.monotonic()
        s = Session(link.front, link.user_id, secrets.token_urlsafe(24), now, now + self.session_ttl_s)
        s.key = _digest(key)
        self._sessions[s.key] = s
        if len(self._sessions) > self.max_sessions:  # the oldest sessions go first
            for k in sorted(self._sessions, key=lambda k: self._sessions[k].created)[:-self.max_sessions]:
                del self._sessions[k]
        return "ok", s, key

    # ---- sessions ---------------------------------------------------------------------------

    def session(self, key: str | None) -> Session | None:
        if not key:
            return None
        s = self._sessions.get(_digest(key))
        if s is None:
            return None
        if time.monotonic() >= s.expires:
            self._sessions.pop(s.key, None)
            return None
        return s

    def end(self, key: str | None) -> bool:
        return bool(key) and self._sessions.pop(_digest(key or ""), None) is not None

    def end_all(self, front: str, user_id: int) -> int:
        gone = [k for k, s in self._sessions.items() if s.front == front and s.user_id == user_id]
        for k in gone:
            del self._sessions[k]
        return len(gone)

    @staticmethod
    def csrf_ok(s: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(s.csrf.encode(), (token or "").encode())

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    def _prune(self) -> None:
        now = time.monotonic()
        # used or expired links are kept for a while so a second click says "already used"
        for k in [k for k, v in self._links.items() if now - v.expires > self.link_ttl_s]:
            del self._links[k]
        for k in [k for k, s in self._sessions.items() if now >= s.expires]:
            del self._sessions[k]
