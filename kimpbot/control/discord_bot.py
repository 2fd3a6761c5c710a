"""Discord bot front end: slash commands (``app_commands``) and buttons (``discord.ui.View``) that
are thin calls into the command core. Per-user authorization happens in the core
(``DISCORD_ALLOWED_USERS``), on every command and every button.

With ``DISCORD_CHANNEL_ID`` set, the bot also posts into that channel what needs an answer, since
webhook messages cannot carry buttons: each signal with Execute / Skip (no buttons when entries
cannot go, like Telegram; the message is edited to "expired" when it times out), and each restart
reconciliation finding with Adopt / Close / Ignore. Those posts go over discord.py's REST client
(``channel.send`` on a ``PartialMessageable`` after ``login``), so they work before and without the
gateway; presses come back over the gateway to :meth:`DiscordFront.on_button` and from there to
``core.press``. Everything else is posted by the webhook (:mod:`kimpbot.control.notify`), which then
skips these kinds; without a webhook the bot posts every event into the channel as an embed
(``post_alerts``). Posts are retried with backoff on 5xx and network errors inside the bus
subscriber's own task (a nonce with ``enforce_nonce`` keeps a retried post from appearing twice),
never raise into the bus, and are logged without the token.

Strangers are turned away before any work, as on Telegram: counted and audited in aggregate by the
core's :class:`~kimpbot.control.gate.StrangerGate`, answered ephemerally at most once a window (an
interaction left unanswered costs nothing). Every message posted with buttons (channel posts,
command replies, follow-ups) is reported to the core with its id, and a press acts only with a
button the bot put on the very message it was pressed on.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import secrets as _secrets
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands as dcommands

from kimpbot.control.commands import Button, CommandCore, Reply
from kimpbot.control.notify import (INTERACTIVE_KINDS, ChatConfigError, discord_embed, event_text,
                                    quiet_discord_logger, redact)
from kimpbot.events import Event

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
    "set": "change a strategy-file number, asks to confirm (args: KEY VALUE)",
    "live": "switch to live trading (checks, then asks to confirm)",
    "paper": "switch back to paper trading (asks to confirm)",
    "dashboard": "one-time login link for the web dashboard (only you see it)",
    "help": "the command list",
}


def _content(r: Reply, text: str | None = None) -> str:
    t = r.text if text is None else text
    if r.mono and text is None:
        t = f"```\n{t[:1980]}\n```"
    return t[:2000]


class _LoginUnreachable(RuntimeError):
    """Discord could not be reached for the login (network, 5xx): retried, never fatal."""


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
    """The Discord bot: slash commands, buttons, and (with a channel) the posts that need an answer.

    ``channel_id``: where signals and findings are posted with buttons (default
    ``DISCORD_CHANNEL_ID``; ``""``/None: nowhere, commands only). ``post_alerts``: also post every
    other event there as an embed (for when no webhook does).
    """

    def __init__(self, bot: "Bot", core: CommandCore | None = None, token: str | None = None, *,
                 channel_id: str | int | None = None, post_alerts: bool = False, retries: int = 5,
                 backoff_s: float = 0.5, send_timeout_s: float = 30.0, ready_timeout_s: float = 60.0,
                 critical_retries: int = 40, max_delay_s: float = 30.0) -> None:
        s = bot.settings
        self.bot = bot
        self.core = core or CommandCore(bot)
        self.token = token or s.discord_bot_token
        self.secrets = list(s.secrets()) + ([self.token] if self.token else [])
        cid = channel_id if channel_id is not None else s.discord_channel_id
        self.channel_id: int | None = int(cid) if str(cid or "").strip() else None
        self.post_alerts = post_alerts
        self.retries = retries
        # critical alerts (posted here only with post_alerts) keep trying through a long outage, as
        # on Telegram (40 tries at up to 30 s apart: ~20 min); the others give up sooner
        self.critical_retries = critical_retries
        self.max_delay_s = max_delay_s
        self.backoff_s = backoff_s
        self.send_timeout_s = send_timeout_s
        self.ready_timeout_s = ready_timeout_s
        self.client: dcommands.Bot | None = None
        self.channel: Any = None
        self._task: asyncio.Task[Any] | None = None
        self._ready = asyncio.Event()
        self._attached = False
        self._signal_msgs: dict[str, tuple[int, str]] = {}   # pending id -> (message id, its text)
        self._finding_msgs: dict[str, int] = {}               # finding id -> message id
        self._answering: set[int] = set()                     # messages whose press is being handled here
        self._views: dict[int, CoreView] = {}                 # message id -> the view with its buttons
        self.delivered = 0
        self.undelivered = 0

    # ---- wiring ---------------------------------------------------------------------------

    def build(self) -> dcommands.Bot:
        intents = discord.Intents.default()
        client = dcommands.Bot(command_prefix="!", intents=intents, help_command=None,
                               allowed_mentions=discord.AllowedMentions.none())
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

    def attach(self) -> bool:
        """Subscribe to the bot's events when there is a channel to post in (call before
        ``bot.start()`` so the start-up reconciliation is not missed). True when subscribed."""
        if self.channel_id is None or self._attached:
            return self._attached
        self.bot.bus.subscribe(self.on_event)
        self._attached = True
        return True

    def wants(self, kind: str) -> bool:
        return self.channel_id is not None and (kind in INTERACTIVE_KINDS or self.post_alerts)

    async def start(self, *, gateway: bool = True, retry_s: float = 5.0, retry_max_s: float = 300.0) -> None:
        """Log in over REST (``GET /users/@me``), check the channel, then connect to the gateway
        (``gateway=False``: REST only, for posting; presses then never arrive).

        A refused token or a wrong channel raises :class:`ChatConfigError` (the owner must fix it).
        Discord unreachable (network, 5xx) never fails the start: the login is retried in the
        background with a doubling, capped back-off, and the bot trades meanwhile."""
        try:
            await self._login(gateway)
        except _LoginUnreachable as exc:
            log.warning("Discord unreachable at start (%s); retrying in the background", exc)
            self._task = asyncio.create_task(self._login_later(gateway, retry_s, retry_max_s))

    async def _login_later(self, gateway: bool, delay: float, cap: float) -> None:
        import random

        while True:
            await asyncio.sleep(delay / 2 + random.uniform(0, delay / 2))
            try:
                await self._login(gateway)
                return
            except _LoginUnreachable as exc:
                log.warning("Discord still unreachable (%s); retrying", exc)
            except ChatConfigError as exc:
                log.critical("%s", exc)
                return
            delay = min(delay * 2, cap)

    async def _login(self, gateway: bool) -> None:
        import aiohttp

        from kimpbot.control.discord_http import set_discord_api_base

        quiet_discord_logger()
        set_discord_api_base(self.bot.settings.discord_api_url)
        client = self.build()
        try:
            await client.login(self.token)
        except discord.LoginFailure:
            await client.close()
            raise ChatConfigError("Discord refused DISCORD_BOT_TOKEN (check it in the developer portal)") from None
        except (discord.HTTPException, aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            await client.close()
            raise _LoginUnreachable(f"Discord login failed: {self._safe(exc)}") from None
        if self.channel_id is not None:
            await self._check_channel(client)
            self.channel = client.get_partial_messageable(self.channel_id)
        self._ready.set()
        if gateway:
            await self._find_gateway(client)
            self._task = asyncio.create_task(client.connect(reconnect=True))
        log.info("Discord bot logged in as %s%s", client.user,
                 f"; signals and findings to channel {self.channel_id}" if self.channel_id else "")

    async def _find_gateway(self, client: dcommands.Bot) -> None:
        """With a DISCORD_API_URL other than Discord's, ask it where its gateway is (``GET
        /gateway/bot``, as Discord's docs advise): discord.py itself always connects to
        wss://gateway.discord.gg. A failure keeps discord.py's default and only warns."""
        import aiohttp

        from kimpbot.control.discord_http import DEFAULT_DISCORD_API_BASE, set_discord_gateway

        api = (self.bot.settings.discord_api_url or "").rstrip("/")
        if not api or api == DEFAULT_DISCORD_API_BASE:
            set_discord_gateway(None)
            return
        try:
            _shards, url, _limit = await asyncio.wait_for(client.http.get_bot_gateway(), self.send_timeout_s)
            set_discord_gateway(url)
        except (discord.DiscordException, aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            log.warning("Discord gateway URL not found at %s (%s); using Discord's", api, self._safe(exc))

    async def _check_channel(self, client: dcommands.Bot) -> None:
        """A wrong DISCORD_CHANNEL_ID fails the start; a network problem only warns."""
        import aiohttp

        try:
            await asyncio.wait_for(client.http.get_channel(self.channel_id), self.send_timeout_s)
        except (discord.NotFound, discord.Forbidden) as exc:
            await client.close()
            why = ("Unknown Channel: the id is wrong or the bot is not in that server"
                   if isinstance(exc, discord.NotFound) else
                   "Missing Access: let the bot see the channel (View Channel, Send Messages)")
            raise ChatConfigError(f"DISCORD_CHANNEL_ID {self.channel_id}: {why}") from None
        except (discord.HTTPException, aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            log.warning("Discord channel %s not checked: %s", self.channel_id, self._safe(exc))

    async def stop(self) -> None:
        self._ready.clear()
        self.core.gate.close()
        for view in self._views.values():
            view.stop()
        self._views.clear()
        if self.client is not None:
            await self.client.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    # ---- posting into the channel (REST, with retries) ---------------------------------------

    def _safe(self, exc: BaseException) -> str:
        text = f"{type(exc).__name__}"
        if isinstance(exc, discord.HTTPException):
            text += f" HTTP {exc.status}" + (f" {exc.text}" if exc.text else "")
        elif str(exc):
            text += f": {exc}"
        return redact(text, self.secrets)[:300]

    async def _call(self, what: str, make: Any, retries: int | None = None) -> Any:
        """``await make()`` with retries on 5xx, a 429 discord.py did not handle, timeouts and network
        errors (backoff doubling from ``backoff_s``); None when refused (4xx) or out of attempts."""
        import aiohttp

        why = ""
        tries = self.retries if retries is None else retries
        for attempt in range(tries + 1):
            try:
                return await asyncio.wait_for(make(), self.send_timeout_s)
            except discord.HTTPException as exc:
                if 400 <= exc.status < 500 and exc.status != 429:
                    log.error("Discord %s refused: %s", what, self._safe(exc))
                    return None
                why = self._safe(exc)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                why = self._safe(exc)
            if attempt < tries:
                log.warning("Discord %s failed (%s); retry %d/%d", what, why, attempt + 1, tries)
                await asyncio.sleep(min(self.backoff_s * (2 ** min(attempt, 16)), self.max_delay_s))
        log.error("Discord %s not delivered after %d attempts (%s)", what, tries + 1, why)
        return None

    async def send(self, content: str = "", *, buttons: list[list[Button]] | None = None, embed: Any = None,
                   view_timeout: float | None = None, retries: int | None = None) -> Any:
        """Post into the channel; returns the Message or None. One nonce for every attempt, so a
        retry after a lost answer does not post twice."""
        if self.channel is None:
            return None
        view = CoreView(self, buttons, timeout=view_timeout) if buttons else None
        kw: dict[str, Any] = {"nonce": _secrets.token_hex(8)}
        if content:
            kw["content"] = redact(content, self.secrets)[:2000]
        if embed is not None:
            kw["embed"] = embed
        if view is not None:
            kw["view"] = view
        with self.core.offering("discord") if view is not None else contextlib.nullcontext():
            msg = await self._call("message", lambda: self.channel.send(**kw), retries)
            if view is not None and msg is not None:
                self.core.offered("discord", self.channel_id, msg.id, buttons or [])
        if view is not None:
            if msg is None:
                view.stop()
            else:
                self._views[msg.id] = view
        return msg

    async def edit(self, message_id: int, content: str) -> Any:
        """Replace a message's text and remove its buttons."""
        if self.channel is None:
            return None
        view = self._views.pop(message_id, None)
        if view is not None:
            view.stop()
        text = redact(content, self.secrets)[:2000]
        return await self._call("message edit",
                                lambda: self.channel.get_partial_message(message_id).edit(content=text, view=None))

    # ---- events ------------------------------------------------------------------------------

    async def on_event(self, ev: Event) -> None:
        if not self.wants(ev.kind):
            return
        if not self._ready.is_set():
            try:
                await asyncio.wait_for(self._ready.wait(), timeout=self.ready_timeout_s)
            except asyncio.TimeoutError:
                self.undelivered += 1
                log.warning("Discord bot not ready: %s event not posted", ev.kind)
                return
        try:
            ok = await self._post_event(ev)
        except Exception as exc:  # never into the bus
            ok = False
            log.error("Discord %s event not posted: %s", ev.kind, self._safe(exc))
        if ok is None:
            return
        if ok:
            self.delivered += 1
        else:
            self.undelivered += 1

    def _signal_view_timeout(self, ev: Event) -> float:
        exp = ev.data.get("expires_ms")
        try:
            left = (float(exp) - self.bot.clock.now_ms()) / 1000 if exp is not None else 0.0
        except (TypeError, ValueError):
            left = 0.0
        return max(left, 0.0) + 600.0  # the core answers a late press ("expired"); then let it go

    def _prune(self) -> None:
        """Forget signals answered elsewhere (Telegram, /confirm) and views that timed out."""
        trader = self.bot.trader
        if trader is not None:
            for pid in list(self._signal_msgs):
                p = trader.state.pending.get(pid)
                if p is not None and p.state != "pending":
                    del self._signal_msgs[pid]
        for mid in [m for m, v in self._views.items() if v.is_finished()]:
            del self._views[mid]

    async def _post_event(self, ev: Event) -> bool | None:
        """Post ``ev``; True delivered, False not, None nothing to post."""
        text = event_text(ev)
        if ev.kind == "signal":
            self._prune()
        if ev.kind == "signal" and ev.data.get("pending_id"):
            pid = str(ev.data["pending_id"])
            blocked = self.core.entries_blocked() if ev.data.get("action") != "exit" else ""
            if blocked:  # no buttons for an entry that cannot go
                return await self.send(f"{text}\n({blocked})") is not None
            msg = await self.send(text, buttons=self.core.signal_buttons(pid),
                                  view_timeout=self._signal_view_timeout(ev))
            if msg is not None:
                self._signal_msgs[pid] = (msg.id, text)
            return msg is not None
        if ev.kind in ("signal_answered", "finding_answered"):
            # answered elsewhere (Telegram, the console, /confirm): this copy loses its buttons too
            key = str(ev.data.get("key"))
            mid = (self._signal_msgs.pop(key, (None, ""))[0] if ev.kind == "signal_answered"
                   else self._finding_msgs.pop(key, None))
            if mid is None or mid in self._answering:  # a press here edits its own message
                return None
            return await self.edit(mid, ev.message) is not None
        if ev.kind == "signal_expired":
            ref = self._signal_msgs.pop(str(ev.data.get("pending_id")), None)
            if ref is None:
                return None  # never offered with buttons here (or already answered)
            return await self.edit(ref[0], ref[1] + "\n⌛ Expired: nothing sent.") is not None
        if ev.kind == "reconcile" and ev.data.get("findings"):
            findings = [str(f) for f in ev.data["findings"]]
            ok = await self.send(text.split("\n", 1)[0] + f" {len(findings)} finding(s) below.") is not None
            for f in findings:
                fid = self.core.add_finding(f)
                msg = await self.send(f"🔎 {f}", buttons=self.core.finding_buttons(fid))
                if msg is not None:
                    self._finding_msgs[fid] = msg.id
                ok = msg is not None and ok
            return ok
        if ev.kind in INTERACTIVE_KINDS:
            return await self.send(text) is not None
        retries = self.critical_retries if ev.level == "critical" else None
        return await self.send(embed=discord_embed(ev, self.secrets), retries=retries) is not None

    # ---- handlers (thin: everything is decided by the core) --------------------------------

    async def _turned_away(self, interaction: Any, what: str) -> bool:
        """A stranger's interaction: counted by the core's gate, answered (ephemerally) only within
        the rate limit, before any other work. True when it was a stranger's."""
        uid = interaction.user.id
        if self.core.authorized("discord", uid):
            return False
        r = self.core.refuse("discord", uid, what, interaction.channel_id)
        if r.text and not interaction.response.is_done():
            await interaction.response.send_message(r.text, ephemeral=True)
        return True

    async def on_slash(self, interaction: Any, name: str, args: str = "") -> None:
        if await self._turned_away(interaction, f"/{name}"):
            return
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
        with self.core.offering("discord") if r.buttons else contextlib.nullcontext():
            if interaction.response.is_done():
                msg = await interaction.followup.send(content, wait=True, ephemeral=r.private, **kw)
                mid = getattr(msg, "id", None)
            else:
                resp = await interaction.response.send_message(content, ephemeral=r.refused or r.private, **kw)
                mid = getattr(resp, "message_id", None)
                if mid is None and r.buttons:  # an older answer without the message: ask for it
                    mid = getattr(await interaction.original_response(), "id", None)
            if r.buttons:
                self._offered(interaction, mid, r.buttons)

    def _offered(self, interaction: Any, message_id: int | None, buttons: list[list[Button]]) -> None:
        if message_id is None:  # never known: its buttons act nowhere (presses are refused)
            log.warning("Discord message with buttons has no id: its buttons will be refused")
            return
        self.core.offered("discord", interaction.channel_id, message_id, buttons)

    async def on_button(self, interaction: Any, data: str) -> None:
        if await self._turned_away(interaction, f"button {data[:64]}"):
            return
        mid = getattr(getattr(interaction, "message", None), "id", None)
        if mid is not None:
            self._answering.add(int(mid))
        try:
            await self._on_button(interaction, data)
        finally:
            if mid is not None:
                self._answering.discard(int(mid))

    async def _on_button(self, interaction: Any, data: str) -> None:
        mid = getattr(getattr(interaction, "message", None), "id", None)
        task = asyncio.create_task(self.core.press("discord", interaction.user.id, data,
                                                   chat=interaction.channel_id, message=mid))
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
            self._answered(mid)
            view = CoreView(self, r.buttons) if r.buttons else None
            if r.buttons:
                self._offered(interaction, mid, r.buttons)
            text = redact(r.edit, self.secrets)[:1990]
            if r.mono:  # a refreshed table stays a table
                text = f"```\n{text}\n```"
            if deferred:
                await interaction.edit_original_response(content=text, view=view)
            else:
                await interaction.response.edit_message(content=text, view=view)
        elif r.text:
            kw = {"view": CoreView(self, r.buttons)} if r.buttons else {}
            with self.core.offering("discord") if r.buttons else contextlib.nullcontext():
                msg = await self._send(interaction, deferred, redact(r.text, self.secrets)[:2000], **kw)
                if r.buttons:
                    self._offered(interaction, msg, r.buttons)
        else:
            await self._send(interaction, deferred, r.toast or "ok", ephemeral=True)

    def _answered(self, message_id: int | None) -> None:
        """The message's buttons were answered (its text is being replaced): forget it."""
        if message_id is None:
            return
        view = self._views.pop(message_id, None)
        if view is not None:
            view.stop()
        for pid, (mid, _t) in list(self._signal_msgs.items()):
            if mid == message_id:
                del self._signal_msgs[pid]
        for fid, mid in list(self._finding_msgs.items()):
            if mid == message_id:
                del self._finding_msgs[fid]

    @staticmethod
    async def _send(interaction: Any, deferred: bool, content: str, **kw: Any) -> int | None:
        """Answer the interaction; the id of the message it made (None when not known)."""
        if deferred or interaction.response.is_done():
            msg = await interaction.followup.send(content, wait=True, **kw)
            return getattr(msg, "id", None)
        resp = await interaction.response.send_message(content, **kw)
        mid = getattr(resp, "message_id", None)
        if mid is None and "view" in kw:
            mid = getattr(await interaction.original_response(), "id", None)
        return mid
