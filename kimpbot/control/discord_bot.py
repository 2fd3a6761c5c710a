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
from typing import TYPE_CHECKING, Any, Optional

import discord
from discord import app_commands
from discord.ext import commands as dcommands

from kimpbot import i18n
from kimpbot.backoff import Backoff
from kimpbot.control.cards import Card, card_alert, render_card
from kimpbot.control.command_list import CHART_PERIODS, COMMANDS, CommandSpec
from kimpbot.control.commands import Button, CommandCore, Reply
from kimpbot.control.front import ChatFront
from kimpbot.control.notify import (
    INTERACTIVE_KINDS,
    ChatConfigError,
    discord_embed,
    event_text,
    quiet_discord_logger,
    redact,
)
from kimpbot.events import Event
from kimpbot.i18n import fronts as tx
from kimpbot.i18n.cards import FINDINGS_BELOW

if TYPE_CHECKING:
    from kimpbot.engine import Bot

log = logging.getLogger("kimpbot.control.discord_bot")

# every command of command_list is a slash command, with typed options for its arguments
SLASH: dict[str, CommandSpec] = {c.name: c for c in COMMANDS}
N_MAX = 100            # /trades /daily /logs ... n: 1..N_MAX (Discord's client refuses others)
MAX_CHOICES = 25       # Discord: at most 25 choices (and autocomplete answers) per option
LEVELS = (("on", tx.LEVEL_ON), ("silent", tx.LEVEL_SILENT), ("off", tx.LEVEL_OFF))
PERIOD_NAMES = {"1d": tx.PERIOD_1D, "7d": tx.PERIOD_7D, "20d": tx.PERIOD_20D}


def _ls(msg: Any, limit: int = 100) -> app_commands.locale_str:
    """A catalogue entry as a discord.py localizable string: the bot's language as Discord's default,
    the entry's key for :class:`CatalogueTranslator` (Korean and English clients see their own)."""
    return app_commands.locale_str(msg.render()[:limit], key=msg.key)


class CatalogueTranslator(app_commands.Translator):
    """discord.py's hook for per-user localization: when the commands are synced, each description
    and choice name made with :func:`_ls` gets ``ko``, ``en-US`` and ``en-GB`` texts from the
    catalogue (``description_localizations`` / ``name_localizations``); a client shows the one of
    its language, else the default."""

    LOCALES = {discord.Locale.korean: "ko", discord.Locale.american_english: "en",
               discord.Locale.british_english: "en"}

    async def translate(self, string: app_commands.locale_str, locale: discord.Locale,
                        context: app_commands.TranslationContextTypes) -> str | None:
        lang = self.LOCALES.get(locale)
        msg = i18n.REGISTRY.get(string.extras.get("key") or "")
        if lang is None or msg is None:
            return None
        return msg.render(lang)[:100]


def _content(r: Reply, text: str | None = None) -> str:
    t = r.text if text is None else text
    if r.mono and text is None:
        t = f"```\n{t[:1980]}\n```"
    return t[:2000]


def card_content(card: str) -> str:
    """A card as a Discord message: its title line, then the rest as a monospace block."""
    title, _, body = card.partition("\n")
    return f"{title}\n```\n{body}\n```" if body else title


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


class DiscordFront(ChatFront):
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
        # critical alerts (critical_retries) are posted here only with post_alerts
        super().__init__(bot, core, token or s.discord_bot_token, retries=retries, backoff_s=backoff_s,
                         critical_retries=critical_retries, max_delay_s=max_delay_s)
        self.channel_id = self.target(channel_id, s.discord_channel_id)
        self.post_alerts = post_alerts
        self.send_timeout_s = send_timeout_s
        self.ready_timeout_s = ready_timeout_s
        self.client: dcommands.Bot | None = None
        self.channel: Any = None
        self._task: asyncio.Task[Any] | None = None
        self._ready = asyncio.Event()
        self._attached = False
        self._signal_msgs: dict[str, tuple[int, str]] = {}   # pending id -> (message id, its text)
        self._finding_msgs: dict[str, int] = {}               # finding id -> message id
        self._views: dict[int, CoreView] = {}                 # message id -> the view with its buttons
        self._card_msgs: dict[str, int] = {}                  # card key -> message id
        self._card_at: dict[int, str] = {}                    # message id -> card key

    # ---- wiring ---------------------------------------------------------------------------

    def build(self) -> dcommands.Bot:
        intents = discord.Intents.default()
        client = dcommands.Bot(command_prefix="!", intents=intents, help_command=None,
                               allowed_mentions=discord.AllowedMentions.none())
        for spec in SLASH.values():
            client.tree.add_command(self._slash(spec))

        @client.event
        async def on_ready() -> None:
            try:
                if client.tree.translator is None:
                    await client.tree.set_translator(CatalogueTranslator())
                await client.tree.sync()
            except discord.HTTPException as exc:
                log.warning("Discord slash command sync failed: HTTP %s", exc.status)
            log.info("Discord bot ready as %s", client.user)

        self.client = client
        return client

    def _slash(self, spec: CommandSpec) -> app_commands.Command[Any, Any, Any]:
        """One slash command of command_list: typed options for its arguments (``args``), which
        travel to the core as the same text a Telegram user would type."""
        name = spec.name
        front = self
        cb: Any
        if spec.args == "symbol period":
            async def cb(interaction: discord.Interaction, symbol: Optional[str] = None,
                         period: Optional[str] = None) -> None:
                if period and not symbol:   # a period alone: the first coin, as /chart does
                    symbol = (front.bot.market.symbols or [""])[0]
                await front.on_slash(interaction, name, " ".join(x for x in (symbol, period) if x))
            cb = app_commands.describe(symbol=_ls(tx.OPT_SYMBOL), period=_ls(tx.OPT_PERIOD))(cb)
            cb = app_commands.choices(period=[app_commands.Choice(name=_ls(PERIOD_NAMES[p]), value=p)
                                              for p in CHART_PERIODS])(cb)
            cb = self._symbol_options(cb)
        elif spec.args == "symbol":
            async def cb(interaction: discord.Interaction, symbol: str) -> None:
                await front.on_slash(interaction, name, symbol)
            cb = self._symbol_options(app_commands.describe(symbol=_ls(tx.OPT_SYMBOL))(cb))
        elif spec.args == "position":
            async def cb(interaction: discord.Interaction, position: str) -> None:
                await front.on_slash(interaction, name, position)
            cb = app_commands.describe(position=_ls(tx.OPT_POSITION))(cb)
            cb = app_commands.autocomplete(position=self._complete_position)(cb)
        elif spec.args == "n":
            async def cb(interaction: discord.Interaction,
                         n: Optional[app_commands.Range[int, 1, 100]] = None) -> None:
                await front.on_slash(interaction, name, "" if n is None else str(n))
            cb = app_commands.describe(n=_ls(tx.OPT_N))(cb)
        elif spec.args == "id":
            async def cb(interaction: discord.Interaction, id: app_commands.Range[str, 1, 64]) -> None:
                await front.on_slash(interaction, name, id)
            cb = app_commands.describe(id=_ls(tx.OPT_ID))(cb)
        elif spec.args == "key value":
            async def cb(interaction: discord.Interaction, key: app_commands.Range[str, 1, 100],
                         value: app_commands.Range[str, 1, 100]) -> None:
                await front.on_slash(interaction, name, f"{key} {value}")
            cb = app_commands.describe(key=_ls(tx.OPT_KEY), value=_ls(tx.OPT_VALUE))(cb)
        elif spec.args == "kind level":
            async def cb(interaction: discord.Interaction, kind: Optional[str] = None,
                         level: Optional[str] = None) -> None:
                await front.on_slash(interaction, name, " ".join(x for x in (kind, level) if x))
            cb = app_commands.describe(kind=_ls(tx.OPT_KIND), level=_ls(tx.OPT_LEVEL))(cb)
            cb = app_commands.choices(level=[app_commands.Choice(name=_ls(m), value=v) for v, m in LEVELS])(cb)
            cb = app_commands.autocomplete(kind=self._complete_kind)(cb)
        else:
            if spec.args:
                log.warning("command /%s: argument kind %r has no Discord options; it takes none", name, spec.args)

            async def cb(interaction: discord.Interaction) -> None:
                await front.on_slash(interaction, name)
        cb.__name__ = f"slash_{name}"
        return app_commands.Command(name=name, description=_ls(spec.help), callback=cb)

    def _symbol_options(self, cb: Any) -> Any:
        """The owner's coins as the choices of ``symbol`` (autocomplete past Discord's 25)."""
        syms = list(self.bot.market.symbols) if self.bot.market is not None else []
        if syms and len(syms) <= MAX_CHOICES:
            return app_commands.choices(symbol=[app_commands.Choice(name=s, value=s) for s in syms])(cb)
        return app_commands.autocomplete(symbol=self._complete_symbol)(cb)

    @staticmethod
    def _matching(choices: list[tuple[str, str]], current: str) -> list[app_commands.Choice[str]]:
        cur = (current or "").casefold()
        return [app_commands.Choice(name=n[:100], value=v[:100]) for n, v in choices
                if cur in n.casefold()][:MAX_CHOICES]

    async def _complete_symbol(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        syms = list(self.bot.market.symbols) if self.bot.market is not None else []
        return self._matching([(s, s) for s in syms], current)

    async def _complete_position(self, interaction: discord.Interaction,
                                 current: str) -> list[app_commands.Choice[str]]:
        """The open positions (only to an allowed user: a stranger learns nothing)."""
        if not self.core.authorized("discord", interaction.user.id) or self.bot.trader is None:
            return []
        from kimpbot.models import Direction

        out = []
        for p in self.bot.trader.positions():
            d = "▲" if p.direction is Direction.LONG_PREMIUM else "▼"
            out.append((f"{p.symbol} {d} {p.entry_premium_pct:+.2f}% · {p.id}", p.id))
        return self._matching(out, current)

    async def _complete_kind(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        if not self.core.authorized("discord", interaction.user.id):
            return []
        from kimpbot.control.notify import ALERT_KINDS

        return self._matching([(k, k) for k in sorted(ALERT_KINDS)], current)

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
        policy = Backoff(delay, cap)
        while True:
            await asyncio.sleep(policy.next_wait())
            try:
                await self._login(gateway)
                return
            except _LoginUnreachable as exc:
                log.warning("Discord still unreachable (%s); retrying", exc)
            except ChatConfigError as exc:
                log.critical("%s", exc)
                return

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

        from kimpbot.control.discord_http import (
            DEFAULT_DISCORD_API_BASE,
            set_discord_gateway,
        )

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
                await asyncio.sleep(self.retry_delay(attempt))
        log.error("Discord %s not delivered after %d attempts (%s)", what, tries + 1, why)
        return None

    async def send(self, content: str = "", *, buttons: list[list[Button]] | None = None, embed: Any = None,
                   view_timeout: float | None = None, retries: int | None = None, silent: bool = False) -> Any:
        """Post into the channel; returns the Message or None. One nonce for every attempt, so a
        retry after a lost answer does not post twice. ``silent``: no notification sound
        (SUPPRESS_NOTIFICATIONS), for routine posts; alerts ring."""
        if self.channel is None:
            return None
        view = CoreView(self, buttons, timeout=view_timeout) if buttons else None
        kw: dict[str, Any] = {"nonce": _secrets.token_hex(8)}
        if silent:
            kw["silent"] = True
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

    async def edit(self, message_id: int, content: str, buttons: list[list[Button]] | None = None, *,
                   view_timeout: float | None = None) -> Any:
        """Replace a message's text; its buttons are removed (or replaced by ``buttons``)."""
        if self.channel is None:
            return None
        view = self._views.pop(message_id, None)
        if view is not None:
            view.stop()
        new = CoreView(self, buttons, timeout=view_timeout) if buttons else None
        if buttons:
            self.core.offered("discord", self.channel_id, message_id, buttons)
        text = redact(content, self.secrets)[:2000]
        msg = await self._call("message edit",
                               lambda: self.channel.get_partial_message(message_id).edit(content=text, view=new))
        if new is not None:
            if msg is None:
                new.stop()
            else:
                self._views[message_id] = new
        return msg

    def card_text(self, message_id: int | None, fallback: str) -> str:
        """What a press's answer shows on ``message_id``: the trade card's current state when the
        message is a card (never the plain answer over it), else ``fallback``."""
        card = self.cards.get(self._card_at.get(int(message_id or 0), ""))
        if card is None:
            return fallback
        return card_content(render_card(self.cards.sync(card)))

    async def _show_card(self, card: Card) -> bool | None:
        """Post the card, or edit its message to the card's current state; a failed edit posts the new
        state as a new message (never lost). None: nothing to show (its kind is turned off)."""
        lock = self._card_locks.setdefault(card.key, asyncio.Lock())
        async with lock:
            text = card_content(render_card(card))
            buttons = self.core.signal_buttons(card.pending_id) if card.buttons_wanted() else None
            mid = self._card_msgs.get(card.key)
            timeout = self._card_view_timeout(card)
            if mid is not None:
                if mid in self._answering:   # the press being answered here edits it (card_text): after it
                    self._later(self._reshow(card, mid))
                    return None
                if await self.edit(mid, text, buttons, view_timeout=timeout) is not None:
                    return True
                log.warning("Discord: card %s not edited; its new state is posted as a new message", card.key)
                self._card_at.pop(mid, None)
            level = self.core.notify_prefs.group_level(card.group)
            if level == "off" and mid is None:
                return None
            msg = await self.send(text, buttons=buttons, view_timeout=timeout,
                                  silent=level == "silent" or mid is not None,
                                  retries=self.critical_retries if card.alert else None)
            if msg is None:
                return False
            self._card_msgs[card.key] = msg.id
            self._card_at[msg.id] = card.key
            while len(self._card_msgs) > self.cards.max_cards:
                old = next(iter(self._card_msgs))
                self._card_at.pop(self._card_msgs.pop(old), None)
                self._card_locks.pop(old, None)
            return True

    def _later(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._bg = getattr(self, "_bg", set())
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    async def _reshow(self, card: Card, mid: int) -> None:
        """Show the card again once the press on its message has been answered (its edit done)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + 60
        while mid in self._answering and loop.time() < end:
            await asyncio.sleep(0.1)
        try:
            await self._show_card(card)
        except Exception as exc:  # never into the bus
            log.error("Discord card %s not shown: %s", card.key, self._safe(exc))

    def _card_view_timeout(self, card: Card) -> float:
        return self._signal_view_timeout(Event("signal", "", data={"expires_ms": card.expires_ms}))

    # ---- events ------------------------------------------------------------------------------

    async def on_event(self, ev: Event) -> None:
        if self.channel_id is None:
            return
        card = self.cards.feed(ev)
        # a card this channel shows follows its trade even when the webhook posts the trade's kinds
        if card is None and not self.wants(ev.kind):
            return
        if card is not None and card.key not in self._card_msgs and not self.wants(ev.kind) \
                and not (card.pending_id and self.wants("signal")):
            return
        if not self._ready.is_set():
            try:
                await asyncio.wait_for(self._ready.wait(), timeout=self.ready_timeout_s)
            except asyncio.TimeoutError:
                self.undelivered += 1
                log.warning("Discord bot not ready: %s event not posted", ev.kind)
                return
        try:
            ok = await (self._post_card(card, ev) if card is not None else self._post_event(ev))
        except Exception as exc:  # never into the bus
            ok = False
            log.error("Discord %s event not posted: %s", ev.kind, self._safe(exc))
        if ok is None:
            return
        if ok:
            self.delivered += 1
        else:
            self.undelivered += 1

    async def _post_card(self, card: Card, ev: Event) -> bool | None:
        if ev.kind == "signal":
            self._prune()
            card.blocked = self.core.entries_blocked() if card.action != "exit" else ""
        ok = await self._show_card(card)
        if card_alert(ev) and self.post_alerts:   # a critical alert also goes out on its own, loud
            ok = await self.send(embed=discord_embed(ev, self.secrets), retries=self.critical_retries) is not None \
                and ok is not False
        return ok

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
        """Post ``ev`` (not a card's); True delivered, False not, None nothing to post."""
        text = event_text(ev)
        if ev.kind in ("signal_answered", "finding_answered", "signal_expired"):
            if ev.kind != "finding_answered":
                return None   # a signal this channel never showed
            # answered elsewhere (Telegram, the console): this copy loses its buttons too
            mid = self._finding_msgs.pop(str(ev.data.get("key")), None)
            if mid is None or mid in self._answering:  # a press here edits its own message
                return None
            return await self.edit(mid, ev.shown()) is not None
        level = self.core.notify_prefs.level(ev)
        if level == "off":
            return None
        silent = level == "silent"
        if ev.kind == "reconcile" and ev.data.get("findings"):
            findings = [str(f) for f in ev.data["findings"]]
            ok = await self.send(text.split("\n", 1)[0] + " " + str(FINDINGS_BELOW(n=len(findings)))) is not None
            for f in findings:
                fid = self.core.add_finding(f)
                msg = await self.send(f"🔎 {f}", buttons=self.core.finding_buttons(fid))
                if msg is not None:
                    self._finding_msgs[fid] = msg.id
                ok = msg is not None and ok
            return ok
        if ev.kind in INTERACTIVE_KINDS:
            return await self.send(text, silent=silent) is not None
        retries = self.critical_retries if ev.level == "critical" else None
        return await self.send(embed=discord_embed(ev, self.secrets), retries=retries, silent=silent) is not None

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
        try:
            r = await self.core.handle("discord", interaction.user.id, text, chat=interaction.channel_id)
        except Exception:   # the core answers its own errors; this is a bug: say so, never stay silent
            log.exception("Discord /%s failed", name)
            r = Reply(text=tx.COMMAND_FAILED.render(name=name))
        spec = SLASH.get(name)
        await self.respond(interaction, r, private=spec is not None and spec.private)

    async def respond(self, interaction: Any, r: Reply, *, private: bool = False) -> None:
        """Answer a slash command; ``private`` (command_list) or a private reply: ephemeral, only the
        caller sees it (flags 64)."""
        ephemeral = r.refused or r.private or private
        kw: dict[str, Any] = {}
        if r.buttons:
            kw["view"] = CoreView(self, r.buttons)
        if r.photo is not None:
            kw["file"] = discord.File(io.BytesIO(r.photo), filename="chart.png")
        content = redact(_content(r), self.secrets) or tx.EMPTY.render()
        with self.core.offering("discord") if r.buttons else contextlib.nullcontext():
            if interaction.response.is_done():
                msg = await interaction.followup.send(content, wait=True, ephemeral=ephemeral, **kw)
                mid = getattr(msg, "id", None)
            else:
                resp = await interaction.response.send_message(content, ephemeral=ephemeral, **kw)
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
            shown = self.card_text(mid, r.edit)
            text = redact(shown, self.secrets)[:1990]
            if r.mono and shown == r.edit:  # a refreshed table stays a table (a card is already a block)
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
            await self._send(interaction, deferred, r.toast or tx.DONE.render(), ephemeral=True)

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
