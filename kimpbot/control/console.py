"""Console front end: the bot's commands typed on stdin when no chat token is set."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import TYPE_CHECKING, Callable

from kimpbot.control.format import premium_table

if TYPE_CHECKING:
    from kimpbot.engine import Bot

log = logging.getLogger(__name__)

HELP = """commands:
  /status    mode, data health, FX, premium and z per symbol
  /params    the owner's strategy numbers and whether the owner set them
  /start     allow new entries      /stop   pause new entries
  /help      this list              /quit   stop the bot"""


class Console:
    def __init__(self, bot: "Bot", write: Callable[[str], None] | None = None) -> None:
        self.bot = bot
        self.write = write or (lambda s: print(s, flush=True))
        self.quit = asyncio.Event()

    def handle(self, line: str) -> str:
        cmd = line.strip().split()[0].lower() if line.strip() else ""
        if not cmd:
            return ""
        if not cmd.startswith("/"):
            cmd = "/" + cmd
        if cmd == "/status":
            return self.status()
        if cmd == "/params":
            return params_text(self.bot)
        if cmd == "/start":
            self.bot.state.running = True
            return "new entries allowed"
        if cmd == "/stop":
            self.bot.state.running = False
            return "new entries paused (open positions are still managed)"
        if cmd in ("/help", "/?"):
            return HELP
        if cmd in ("/quit", "/exit"):
            self.quit.set()
            return "stopping"
        return f"unknown command {cmd!r}; /help lists the commands"

    def status(self) -> str:
        b = self.bot
        mode = b.settings.mode
        run = "running" if b.state.running else "stopped (no new entries)"
        return f"{mode} mode, {run}, strategy {b.owner.strategy.strategy}\n" + premium_table(b.market)

    async def read_stdin(self) -> None:
        """Read commands until EOF; a closed or non-interactive stdin just ends this task."""
        if sys.stdin is None or sys.stdin.closed:
            return
        loop = asyncio.get_running_loop()
        while not self.quit.is_set():
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            out = self.handle(line)
            if out:
                self.write(out)


def params_text(bot: "Bot") -> str:
    rows = bot.owner.params.describe()
    width = max(len(k) for k, _, _ in rows)
    lines = [f"strategy file: {bot.owner.source}"]
    lines += [f"{k:<{width}}  {v:<22} {status}" for k, v, status in rows]
    return "\n".join(lines)
