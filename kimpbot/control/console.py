"""Console front end: the bot's commands typed on stdin when no chat token is set.

A thin front end over :class:`~kimpbot.control.commands.CommandCore` (the local operator is
trusted: no user check). Buttons become typed commands: ``/confirm ID``, ``/skip ID``; a close-all
asks for ``/yes`` within two minutes.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import TYPE_CHECKING, Callable

from kimpbot.control.commands import CommandCore, Reply
from kimpbot.i18n import chat as c

if TYPE_CHECKING:
    from kimpbot.engine import Bot

log = logging.getLogger(__name__)


class Console:
    def __init__(self, bot: "Bot", write: Callable[[str], None] | None = None, core: CommandCore | None = None) -> None:
        self.bot = bot
        self.core = core or CommandCore(bot)
        self.write = write or (lambda s: print(s, flush=True))
        self.quit = asyncio.Event()
        self._last_buttons: dict[str, str] = {}

    def _render(self, r: Reply) -> str:
        text = r.text or r.edit or r.toast
        self._last_buttons = {}
        # the console's last answer is "the message" its buttons belong to
        self.core.offered("console", None, "last", r.buttons)
        for row in r.buttons:
            for b in row:
                if b.data.startswith("cy:"):
                    self._last_buttons["/yes"] = b.data
                elif b.data.startswith("cn:"):
                    self._last_buttons["/no"] = b.data
                elif b.data == "ca":
                    self._last_buttons["/closeall"] = b.data
        if "/yes" in self._last_buttons:
            text += "\n" + c.CONSOLE_YES_NO()
        if r.photo is not None:
            text += "\n" + c.CONSOLE_CHART(n=len(r.photo))
        return text

    async def handle(self, line: str) -> str:
        cmd = line.strip().split()[0].lower() if line.strip() else ""
        if not cmd:
            return ""
        if not cmd.startswith("/"):
            line = "/" + line.strip()
            cmd = "/" + cmd
        if cmd in ("/quit", "/exit"):
            self.quit.set()
            return str(c.CONSOLE_STOPPING)
        if cmd in ("/yes", "/no") and cmd in self._last_buttons:
            r = await self.core.press("console", None, self._last_buttons.pop(cmd), message="last")
            self._last_buttons = {}
            return r.edit or r.toast or r.text
        if cmd == "/?":
            line = "/help"
        return self._render(await self.core.handle("console", None, line))

    async def read_stdin(self) -> None:
        """Read commands until EOF; a closed or non-interactive stdin just ends this task."""
        if sys.stdin is None or sys.stdin.closed:
            return
        loop = asyncio.get_running_loop()
        while not self.quit.is_set():
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            out = await self.handle(line)
            if out:
                self.write(out)
