"""Commands about the program rather than the trading: /logs (the last log lines, secrets
redacted), /version, and /dashboard (a one-time login link to the web dashboard)."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import Any

from kimpbot.control.commands.base import CoreParts, Reply, who
from kimpbot.control.format import mono
from kimpbot.i18n import chat as c
from kimpbot.logs import log_tail, redact_line

LOGS_DEFAULT = 20
LOGS_MAX = 200         # /logs n: more than this is not read on a phone (and Telegram cuts at 4096 characters)


class SystemCommands(CoreParts):
    """Mixed into :class:`~kimpbot.control.commands.CommandCore`."""

    web_auth: Any

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

    # ---- /dashboard ------------------------------------------------------------------------------

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
