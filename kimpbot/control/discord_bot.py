"""Discord bot front end: slash commands (``app_commands``) and buttons (``discord.ui.View``) that
are thin calls into the command core. Per-user authorization happens in the core
(``DISCORD_ALLOWED_USERS``), on every command and every button.

Alerts go by webhook (:mod:`kimpbot.control.notify`); this gateway bot answers commands. Pending
signals get Execute / Skip buttons through ``/pending``.
"""

from __future__ import annotations

import asyncio
import io
import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands as dcommands

from kimpbot.control.commands import Button, CommandCore, Reply
from kimpbot.control.notify import quiet_discord_logger, redact

if TYPE_CHECKING:
    from kimpbot.engine import Bot

log = logging.getLogger("kimpbot.control.discord_bot")

SLASH = {
    "status": "mode, running/halted, data, FX, premium and z",
    "positions": "open pairs with entry/current premium, size, P&L, age, funding",
    "pnl": "realized P&L today and in total",
    "trades": "last trades",
    "balance": "Upbit and Binance balances",
    "params": "strategy numbers",
    "chart": "PNG of premium and z (args: symbol)",
    "pending": "signals waiting for Execute / Skip",
    "start": "allow new entries",
    "stop": "pause new entries",
    "halt": "stop new entries now, cancel orders, offer close-all",
    "resume": "lift a halt",
    "closeall": "close every position (asks to confirm)",
    "confirm": "execute a pending signal (args: id)",
    "skip": "skip a pending signal (args: id)",
    "help": "the command list",
}


def _content(r: Reply, text: str | None = None) -> str:
    t = r.text if text is None else text
    if r.mono and text is None:
        t = f"```\n{t[:1980]}\n```"
    return t[:2000]


class CoreView(discord.ui.View):
    """Buttons of a core reply; each press goes back to the core with the presser's id."""

    def __init__(self, front: "DiscordFront", rows: list[list[Button]], timeout: float | None = 900) -> None:
        super().__init__(timeout=timeout)
        for i, row in enumerate(rows[:5]):
            for b in row[:5]:
                style = discord.ButtonStyle.danger if b.data.startswith(("cy", "ca", "rc")) else \
                    discord.ButtonStyle.success if b.data.startswith("x:") else discord.ButtonStyle.secondary
                btn: discord.ui.Button[Any] = discord.ui.Button(label=b.text[:80], custom_id=b.data, style=style, row=i)
                btn.callback = self._make_cb(front, b.data)  # type: ignore[method-assign]
                self.add_item(btn)

    @staticmethod
    def _make_cb(front: "DiscordFront", data: str) -> Any:
        async def cb(interaction: discord.Interaction) -> None:
            await front.on_button(interaction, data)
        return cb


class DiscordFront:
    def __init__(self, bot: "Bot", core: CommandCore | None = None, token: str | None = None) -> None:
        self.bot = bot
        self.core = core or CommandCore(bot)
        self.token = token or bot.settings.discord_bot_token
        self.secrets = list(bot.settings.secrets())
        self.client: dcommands.Bot | None = None
        self._task: asyncio.Task[Any] | None = None

    # ---- wiring ---------------------------------------------------------------------------

    def build(self) -> dcommands.Bot:
        intents = discord.Intents.default()
        client = dcommands.Bot(command_prefix="!", intents=intents, help_command=None)
        for name, desc in SLASH.items():
            client.tree.add_command(self._slash(name, desc))

        @client.event
        async def on_ready() -> None:
            try:
                await client.tree.sync()
            except discord.HTTPException as exc:
                log.warning("Discord slash command sync failed: HTTP %s", exc.status)
            log.info("Discord bot ready as %s", client.user)

        self.client = client
        return client

    def _slash(self, name: str, desc: str) -> app_commands.Command[Any, Any, Any]:
        async def callback(interaction: discord.Interaction, args: str = "") -> None:
            await self.on_slash(interaction, name, args)
        callback.__name__ = f"slash_{name}"
        return app_commands.Command(name=name, description=desc[:100], callback=callback)

    async def start(self) -> None:
        from kimpbot.control.discord_http import set_discord_api_base

        quiet_discord_logger()
        set_discord_api_base(self.bot.settings.discord_api_url)
        client = self.build()
        try:
            await client.login(self.token)
        except discord.LoginFailure:
            raise RuntimeError("Discord refused DISCORD_BOT_TOKEN (check it in the developer portal)") from None
        self._task = asyncio.create_task(client.connect(reconnect=True))

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    # ---- handlers (thin: everything is decided by the core) --------------------------------

    async def on_slash(self, interaction: Any, name: str, args: str = "") -> None:
        text = f"/{name} {args}".strip()
        r = await self.core.handle("discord", interaction.user.id, text, chat=interaction.channel_id)
        await self.respond(interaction, r)

    async def respond(self, interaction: Any, r: Reply) -> None:
        kw: dict[str, Any] = {}
        if r.buttons:
            kw["view"] = CoreView(self, r.buttons)
        if r.photo is not None:
            kw["file"] = discord.File(io.BytesIO(r.photo), filename="chart.png")
        content = redact(_content(r), self.secrets) or "(empty)"
        if interaction.response.is_done():
            await interaction.followup.send(content, **kw)
        else:
            await interaction.response.send_message(content, ephemeral=r.refused, **kw)

    async def on_button(self, interaction: Any, data: str) -> None:
        task = asyncio.create_task(self.core.press("discord", interaction.user.id, data,
                                                   chat=interaction.channel_id))
        done, _ = await asyncio.wait({task}, timeout=2.0)
        deferred = False
        if task not in done:  # Discord wants an answer within 3 s: defer, then edit
            await interaction.response.defer()
            deferred = True
        r = await task
        if r.refused:
            await self._send(interaction, deferred, r.text, ephemeral=True)
            return
        if r.edit is not None:
            view = CoreView(self, r.buttons) if r.buttons else None
            text = redact(r.edit, self.secrets)[:2000]
            if deferred:
                await interaction.edit_original_response(content=text, view=view)
            else:
                await interaction.response.edit_message(content=text, view=view)
        elif r.text:
            kw = {"view": CoreView(self, r.buttons)} if r.buttons else {}
            await self._send(interaction, deferred, redact(r.text, self.secrets)[:2000], **kw)
        else:
            await self._send(interaction, deferred, r.toast or "ok", ephemeral=True)

    @staticmethod
    async def _send(interaction: Any, deferred: bool, content: str, **kw: Any) -> None:
        if deferred or interaction.response.is_done():
            await interaction.followup.send(content, **kw)
        else:
            await interaction.response.send_message(content, **kw)
