"""Alerts: bus events as chat text, and Discord embeds (discord.py's Webhook over aiohttp).

The webhook posts every bus event, as Telegram does (see :data:`ALERT_KINDS`). Webhook messages
cannot carry buttons: a signal's embed says how to answer it instead, and when the Discord bot posts
signals and reconciliation findings with buttons into ``DISCORD_CHANNEL_ID`` itself, the webhook is
built with ``skip_kinds`` so those kinds are not posted twice.

Delivery runs in the event bus's per-subscriber task, so a slow or failing chat API never blocks
trading; failed posts are retried with backoff, then logged (without the URL or token).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Callable, Iterable

from kimpbot.control.cards import Card, CardDesk, card_alert, card_title, render_card
from kimpbot.events import Event
from kimpbot.i18n import cards as ct
from kimpbot.i18n import render
from kimpbot.logs import RedactingFilter

if TYPE_CHECKING:
    from kimpbot.config import Settings
    from kimpbot.engine import Bot

log = logging.getLogger("kimpbot.control.notify")

EMOJI = {"trade": "✅", "fill": "▫️", "partial": "◽", "rollback": "⚠️", "unwind": "↩️", "exposure": "🚨",
         "halt": "🛑", "error": "❌", "refused": "⛔", "reconcile": "🔎", "health": "📡", "fx": "💱",
         "funding": "💸", "signal": "🔔", "signal_expired": "⌛", "start": "🤖", "mode": "🔀",
         "trading": "⏸"}

# Every kind the bus carries today. The webhook posts all of them, as Telegram does: health says
# why signals stopped (or started again), fx that the premium is now measured against another rate,
# funding that money was booked against a position. None of them is frequent (health and fx are
# published on changes only, funding once per 8 h per position), so nothing is filtered out; a kind
# added later is posted too (``kinds=None``). "mode" is a paper/live switch from chat.
ALERT_KINDS = frozenset(EMOJI)
# kinds the Discord bot posts itself, with buttons, when it has a channel (DISCORD_CHANNEL_ID)
INTERACTIVE_KINDS = frozenset({"signal", "signal_expired", "reconcile", "signal_answered", "finding_answered"})
# kept for callers of the old name: what the webhook posts by default (everything)
WEBHOOK_KINDS = ALERT_KINDS
GREEN, ORANGE, RED, DARK_RED, GREY, BLUE = 0x2ECC71, 0xE67E22, 0xE74C3C, 0x992D22, 0x95A5A6, 0x3498DB
DEFAULT_SIGNAL_HINT = ct.HINT_SIGNAL.render("en")     # English for callers of the old names; the notifier
DEFAULT_FINDING_HINT = ct.HINT_FINDING.render("en")   # renders its defaults in the owner's language
# a card's embed colour by its state
CARD_COLOUR = {"offered": BLUE, "executing": GREY, "filled": GREEN, "partial": ORANGE, "rolled_back": ORANGE,
               "failed": RED, "not_sent": GREY, "exposed": DARK_RED, "skipped": GREY, "expired": GREY}


def card_embed(card: Card, secrets: Iterable[str] = (), *, signal_hint: str | None = None) -> Any:
    """A trade card as a Discord embed: its title, the card's lines as a monospace block (36 cells a
    line: a phone shows it unwrapped), the colour of its state; an offered signal says how to answer
    it (webhook messages carry no buttons)."""
    import discord

    from kimpbot.i18n import cards as ct

    secrets = list(secrets)
    body = "\n".join(render_card(card).split("\n")[1:])
    e = discord.Embed(title=redact(card_title(card), secrets)[:256],
                      description=redact(f"```\n{body}\n```", secrets)[:4000] if body else None,
                      colour=CARD_COLOUR.get(card.state, GREY))
    if card.state == "offered" and card.pending_id:
        if card.blocked:
            e.add_field(name=str(ct.NOT_OFFERED()), value=redact(card.blocked, secrets)[:1000], inline=False)
        elif signal_hint:
            e.add_field(name=str(ct.HOW_TO_ANSWER()), value=signal_hint.replace("{id}", card.pending_id)[:1000],
                        inline=False)
    return e


class ChatConfigError(RuntimeError):
    """A chat front refused its configuration (a token or webhook URL the service rejects, a wrong
    channel): the owner must fix it, so the run ends with exit 78. A chat service that is merely
    unreachable is never this: the front keeps trying in the background."""

    def __init__(self, message: str, fronts: list[Any] | None = None) -> None:
        super().__init__(message)
        self.fronts = fronts or []  # the fronts that did start (they carry the line to the chat)


def redact(text: str, secrets: Iterable[str]) -> str:
    """The log's redaction (kimpbot.logs.RedactingFilter) on a chat text: every configured secret,
    and the parts of one that can appear alone (a webhook's token, a bot token's secret half)."""
    return RedactingFilter(secrets).redact(text)


def event_text(ev: Event) -> str:
    """One chat message for a bus event (its ``message`` is safe to post by the bus's contract)."""
    head = EMOJI.get(ev.kind, "•")
    if ev.kind in ("halt", "trading") and ev.level == "info":
        head = "▶️"
    return f"{head} {ev.shown()}"


def _leg(d: dict[str, Any] | None) -> str:
    if not d:
        return "n/a"
    s = f"{d.get('status', '?')} {d.get('filled_qty', '?')} @ {d.get('avg_price', '?')}"
    if d.get("fee") not in (None, "", "0"):
        s += f", fee {d['fee']}"
    if d.get("error"):
        s += f" ({str(d['error'])[:200]})"
    return s


def _colour(ev: Event) -> int:
    if ev.kind == "halt":
        return DARK_RED if ev.level != "info" else GREY
    if ev.kind in ("health", "trading"):
        return GREEN if ev.level == "info" else ORANGE
    if ev.kind == "mode":
        return RED if ev.data.get("mode") == "live" else GREY
    if ev.kind == "error":
        return DARK_RED if ev.level == "critical" else RED
    fixed = {"trade": GREEN, "fill": GREEN,
             "partial": ORANGE, "rollback": ORANGE, "unwind": ORANGE, "exposure": RED, "refused": ORANGE,
             "reconcile": ORANGE, "signal": BLUE, "signal_expired": GREY, "start": BLUE, "fx": ORANGE,
             "funding": GREY}
    if ev.kind in fixed:
        return fixed[ev.kind]
    return {"critical": DARK_RED, "warning": ORANGE}.get(ev.level, GREY)


def _title(ev: Event) -> str:
    from kimpbot.control.cards import _action, _direction
    from kimpbot.i18n import cards as w

    d = ev.data
    sym = str(d.get("symbol") or "")
    if ev.kind == "trade" and d.get("action") == "exit":
        return str(w.T_EXIT(coin=sym))
    if ev.kind == "trade":
        return str(w.T_TRADE_FILLED(coin=sym, action=_action(str(d.get("action", "trade")))))
    if ev.kind in ("fill", "partial"):
        what = " ".join(x for x in (sym, str(d.get("venue") or ""), str(d.get("side") or "")) if x)
        return str((w.T_LEG if ev.kind == "fill" else w.T_LEG_PART)(what=what))
    if ev.kind == "signal":
        what = " ".join(str(x) for x in (sym, _direction(str(d.get("direction") or "")),
                                         _action(str(d.get("action") or ""))) if str(x))
        return str(w.T_SIGNAL(what=what))
    if ev.kind == "signal_expired":
        return str(w.T_SIGNAL_EXPIRED(id=d.get("pending_id", ""))).replace("  ", " ")
    if ev.kind == "reconcile":
        return str(w.T_ORDER_RECHECK() if ev.message.startswith("order re-check") else w.T_RECONCILE())
    if ev.kind == "start":
        return str(w.T_STARTED())
    if ev.kind == "trading":
        return str(w.T_TRADING_AGAIN() if ev.data.get("trading") else w.T_NOT_TRADING())
    if ev.kind == "health":
        return str((w.T_HEALTHY if ev.level == "info" else w.T_DATA_PROBLEM)(coin=sym)).strip()
    if ev.kind == "fx":
        return str(w.T_FX_SUSPECT(what=d["suspect"]) if d.get("suspect") else w.T_FX_SOURCE())
    if ev.kind == "mode":
        return str(w.T_MODE(mode=str(ev.data.get("mode") or "?").upper()))
    if ev.kind == "error" and ev.level == "critical":
        title = str(w.T_CRITICAL())
    else:
        m = {"rollback": w.T_ROLLBACK, "unwind": w.T_UNWIND, "exposure": w.T_EXPOSURE,
             "halt": w.T_HALTED if ev.level != "info" else w.T_RESUMED, "error": w.T_ERROR,
             "refused": w.T_REFUSED, "funding": w.T_FUNDING}.get(ev.kind)
        title = str(m()) if m is not None else ev.kind.replace("_", " ").capitalize()
    if sym:
        title = f"{sym} {title.lower() if ev.kind != 'exposure' else title}"
    return title


def embed_fields(ev: Event, *, signal_hint: str | None = None, finding_hint: str | None = None,
                 blocked: str = "") -> dict[str, Any]:
    """Title, colour and fields of the Discord embed for ``ev`` (plain data, testable).

    ``signal_hint`` / ``finding_hint`` ("{id}" is replaced by the signal id) say how to answer a signal
    or a reconciliation finding posted without buttons; ``blocked`` says why an entry is not offered.
    """
    from kimpbot.control.cards import _direction
    from kimpbot.i18n import cards as w
    from kimpbot.i18n.common import venue as venue_word
    from kimpbot.i18n.units import krw, pct

    d = ev.data
    fields: list[tuple[str, str, bool]] = []
    if d.get("symbol"):
        fields.append((str(w.F_SYMBOL()), str(d["symbol"]), True))
    if d.get("direction"):
        fields.append((str(w.F_DIRECTION()), str(_direction(str(d["direction"]))), True))
    if d.get("size_krw") is not None:
        fields.append((str(w.F_SIZE()), str(krw(d["size_krw"])), True))
    elif d.get("qty") is not None:
        fields.append((str(w.F_SIZE()), f"{d['qty']} {d.get('symbol', '')}".strip(), True))
    if ev.kind in ("fill", "partial"):
        if d.get("venue"):
            fields.append((str(w.F_VENUE()), str(venue_word(str(d["venue"]))), True))
        if d.get("side"):
            fields.append((str(w.F_SIDE()), str(d["side"]), True))
        if d.get("filled_qty") is not None:
            fields.append((str(w.F_FILLED()), f"{d['filled_qty']}/{d.get('qty', '?')} @ {d.get('avg_price', '?')}",
                           False))
    if "upbit" in d:
        fields.append((str(w.F_UPBIT_LEG()), _leg(d.get("upbit")), False))
    if "binance" in d:
        fields.append((str(w.F_BINANCE_LEG()), _leg(d.get("binance")), False))
    if d.get("result"):
        fields.append((str(w.F_UNWIND(venue=venue_word(str(d.get("venue", ""))))).strip(), _leg(d.get("result")),
                       False))
    if d.get("premium_pct") is not None:
        fields.append((str(w.F_PREMIUM()), str(pct(d["premium_pct"])), True))
    if d.get("z") is not None:
        fields.append(("z", f"{float(d['z']):+.2f}", True))
    if d.get("expected_profit_pct") is not None:
        fields.append((str(w.F_TARGET()), str(w.F_TARGET_VALUE(target=f"{float(d['expected_profit_pct']):g}%")),
                       True))
    if d.get("realized_krw") is not None:
        fields.append((str(w.F_REALIZED()), str(krw(d["realized_krw"], sign=True)), True))
    if d.get("cost_krw"):
        fields.append((str(w.F_COST()), str(krw(d["cost_krw"])), True))
    if d.get("exposure"):
        fields.append((str(w.F_EXPOSURE()), "; ".join(map(str, d["exposure"]))[:1000], False))
    if d.get("reasons"):
        fields.append((str(w.F_REASONS()), "; ".join(render(r) for r in d["reasons"])[:1000], False))
    if d.get("problems"):
        fields.append((str(w.F_PROBLEMS()), "; ".join(map(str, d["problems"]))[:1000], False))
    if ev.kind == "fx" and d.get("source"):
        rate = d.get("rate")
        fields.append((str(w.F_SOURCE()), str(d["source"]), True))
        if rate is not None:
            fields.append((str(w.F_RATE()), f"{float(rate):,.2f} KRW/USD", True))
    if d.get("reason"):
        fields.append((str(w.F_REASON()), str(d["reason"])[:1000], False))
    if d.get("trade_id"):
        fields.append((str(w.F_TRADE()), str(d["trade_id"]), True))
    if ev.kind == "signal" and d.get("pending_id"):
        pid = str(d["pending_id"])
        fields.append((str(w.F_SIGNAL_ID()), pid, True))
        if blocked:
            fields.append((str(w.NOT_OFFERED()), blocked, False))
        elif signal_hint:
            fields.append((str(w.HOW_TO_ANSWER()), signal_hint.replace("{id}", pid)[:1000], False))
    if ev.kind == "reconcile" and d.get("findings") and finding_hint:
        fields.append((str(w.HOW_TO_ANSWER()), finding_hint[:1000], False))
    return {"title": _title(ev)[:250], "description": ev.shown()[:4000], "colour": _colour(ev), "fields": fields}


def discord_embed(ev: Event, secrets: Iterable[str] = (), **kw: Any) -> Any:
    """The discord.py ``Embed`` of ``ev`` (see :func:`embed_fields`), every text redacted."""
    import discord

    secrets = list(secrets)
    f = embed_fields(ev, **kw)
    e = discord.Embed(title=redact(f["title"], secrets), description=redact(f["description"], secrets),
                      colour=f["colour"])
    for name, value, inline in f["fields"][:25]:
        e.add_field(name=name, value=redact(value, secrets)[:1024] or "-", inline=inline)
    return e


def answer_hints(settings: "Settings") -> tuple[str, str]:
    """What a webhook embed says about answering a signal / a reconciliation finding, given what is
    configured (the webhook itself cannot carry buttons)."""
    s = settings
    channel = s.discord_bot_token and s.discord_channel_id
    ways = []
    if channel:
        ways.append(str(ct.WAY_CHANNEL(channel=s.discord_channel_id)))
    if s.telegram_bot_token:
        ways.append(str(ct.WAY_TELEGRAM()))
    if s.discord_bot_token:
        ways.append(str(ct.WAY_BOT()))
    if not ways:
        ways.append(str(ct.WAY_CONSOLE()))
    signal = str(ct.ANSWER_WITH(ways=str(ct.OR()).join(ways)))
    where = [w for w, on in ((f"<#{s.discord_channel_id}>", channel), (str(ct.TELEGRAM()), bool(s.telegram_bot_token)))
             if on]
    finding = str(ct.FINDING_WHERE(where=str(ct.AND()).join(where)) if where else ct.FINDING_NOWHERE())
    return signal, finding


def quiet_discord_logger() -> None:
    """discord.py logs every webhook URL (its token included) at DEBUG: keep it at INFO or above."""
    lg = logging.getLogger("discord")
    if lg.getEffectiveLevel() < logging.INFO:
        lg.setLevel(logging.INFO)


class DiscordWebhookNotifier:
    """Posts bus events to a Discord webhook as embeds (all kinds but ``skip_kinds``).

    ``kinds``: the kinds to post (``None``: every kind, :data:`ALERT_KINDS` and any added later).
    ``skip_kinds``: kinds something else posts to Discord; the Discord bot front end posts
    :data:`INTERACTIVE_KINDS` itself (with buttons) when it has a channel, and then the webhook must
    not post them again.
    ``signal_hint`` / ``finding_hint``: how to answer a signal / finding (see :func:`answer_hints`).
    ``entries_blocked``: the command core's ``entries_blocked`` (an entry that cannot go is posted
    with the reason instead of the hint).
    Retries: ``retries`` for ordinary alerts; critical ones (unhedged leg, halt, failures) keep
    trying through a long outage, as on Telegram (``critical_retries`` at up to ``max_delay_s``
    apart: ~20 min by default).

    A signal's message is edited to "expired" on ``signal_expired`` (Execute Webhook with
    ``wait=true`` returns the message; Edit Webhook Message changes it).
    """

    def __init__(self, webhook_url: str, api_url: str | None = None, *, secrets: Iterable[str] = (),
                 kinds: Iterable[str] | None = None, skip_kinds: Iterable[str] = (), retries: int = 5,
                 backoff_s: float = 0.5, username: str = "kimpbot", signal_hint: str | None = "",
                 finding_hint: str | None = "",
                 entries_blocked: Callable[[], str] | None = None, critical_retries: int = 40,
                 max_delay_s: float = 30.0) -> None:
        self.url = webhook_url
        self.api_url = api_url
        self.secrets = [s for s in secrets if s]
        self.kinds = frozenset(kinds) if kinds is not None else None
        self.skip_kinds = frozenset(skip_kinds)
        self.retries = retries
        self.critical_retries = critical_retries
        self.backoff_s = backoff_s
        self.max_delay_s = max_delay_s
        self.username = username
        # "" (the default): the catalogue's hint in the owner's language; None: no hint
        self.signal_hint = str(ct.HINT_SIGNAL()) if signal_hint == "" else signal_hint
        self.finding_hint = str(ct.HINT_FINDING()) if finding_hint == "" else finding_hint
        self.entries_blocked = entries_blocked
        self.session: Any = None
        self.webhook: Any = None
        self.sent = 0
        self.failed = 0
        self.cards = CardDesk()
        self.prefs: Any = None                     # NotifyPrefs of the bot (attach)
        self._card_msgs: dict[str, int] = {}       # card key -> webhook message id
        self._card_locks: dict[str, asyncio.Lock] = {}

    async def start(self) -> None:
        import aiohttp
        import discord

        from kimpbot.control.discord_http import set_discord_api_base

        quiet_discord_logger()
        set_discord_api_base(self.api_url)
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        try:
            self.webhook = discord.Webhook.from_url(self.url, session=self.session)
        except ValueError:
            await self.session.close()
            self.session = None
            raise ChatConfigError("DISCORD_WEBHOOK_URL is not a Discord webhook URL "
                                  "(https://discord.com/api/webhooks/<id>/<token>)") from None

    def attach(self, bot: "Bot") -> None:
        from kimpbot.control.notify_prefs import NotifyPrefs

        self.cards = CardDesk.for_bot(bot)
        self.prefs = NotifyPrefs(lambda: getattr(bot, "store", None))
        bot.bus.subscribe(self.on_event)

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    def wants(self, kind: str) -> bool:
        return kind not in self.skip_kinds and (self.kinds is None or kind in self.kinds)

    async def on_event(self, ev: Event) -> None:
        if self.webhook is None or not self.wants(ev.kind):
            return
        try:
            level = self.prefs.level(ev) if self.prefs is not None else "on"
            card = self.cards.feed(ev)
            if card is not None:
                if ev.kind == "signal":
                    card.blocked = (self.entries_blocked() if card.action != "exit" and self.entries_blocked
                                    else "")
                await self._show_card(card)
                if card_alert(ev):   # a critical alert also goes out on its own, loud
                    await self.post(ev)
                return
            if ev.kind in ("signal_expired", "signal_answered", "finding_answered"):
                return  # an edit of a message this webhook does not hold: nothing new to post
            if level == "off":
                return
            await self.post(ev, silent=level == "silent")
        except Exception as exc:  # never into the bus; the text may quote a reply, so redact it
            self.failed += 1
            log.error("Discord webhook: %s alert failed: %s", ev.kind,
                      redact(f"{type(exc).__name__}: {exc}", self.secrets + [self.url])[:300])

    def embed(self, ev: Event) -> Any:
        blocked = ""
        if ev.kind == "signal" and ev.data.get("action") != "exit" and self.entries_blocked is not None:
            blocked = self.entries_blocked()
        return discord_embed(ev, self.secrets, signal_hint=self.signal_hint, finding_hint=self.finding_hint,
                             blocked=blocked)

    async def post(self, ev: Event, *, silent: bool = False) -> bool:
        """``ev`` as its own embed; ``silent``: without a notification sound (routine), alerts ring."""
        embed = self.embed(ev)
        msg = await self._retry(ev.kind, "post", lambda: self.webhook.send(embed=embed, username=self.username,
                                                                          wait=True, silent=silent),
                                retries=self.critical_retries if ev.level == "critical" else None)
        return msg is not None

    async def _show_card(self, card: Card) -> bool | None:
        """Post the card, or edit its message (Edit Webhook Message) to the card's current state. A
        failed edit posts the new state as a new message: never lost."""
        lock = self._card_locks.setdefault(card.key, asyncio.Lock())
        async with lock:
            e = card_embed(card, self.secrets, signal_hint=self.signal_hint)
            mid = self._card_msgs.get(card.key)
            if mid is not None:
                res = await self._retry(card.key, "edit", lambda: self.webhook.edit_message(mid, embed=e))
                if res is not None:
                    return True
                log.warning("Discord webhook: card %s not edited; its new state is posted as a new message", card.key)
            level = self.prefs.group_level(card.group) if self.prefs is not None else "on"
            if level == "off" and mid is None:
                return None
            msg = await self._retry(card.key, "post", lambda: self.webhook.send(
                embed=e, username=self.username, wait=True, silent=level == "silent" or mid is not None),
                retries=self.critical_retries if card.alert else None)
            if msg is None or msg is True:
                return False
            self._card_msgs[card.key] = msg.id
            while len(self._card_msgs) > self.cards.max_cards:
                old = next(iter(self._card_msgs))
                del self._card_msgs[old]
                self._card_locks.pop(old, None)
            return True

    async def _retry(self, kind: str, what: str, call: Callable[[], Any], retries: int | None = None) -> Any:
        """``call()`` with retries on 5xx / 429 without Via / network errors; None when not delivered."""
        import aiohttp
        import discord

        tries = self.retries if retries is None else retries
        for attempt in range(tries + 1):
            try:
                res = await call()
                self.sent += 1
                return res if res is not None else True
            except discord.HTTPException as exc:
                status = getattr(exc, "status", 0)
                if 400 <= status < 500 and status != 429:
                    self.failed += 1
                    log.error("Discord webhook refused the %s alert (%s): HTTP %s %s", kind, what, status,
                              redact(str(getattr(exc, "text", "")), self.secrets + [self.url])[:200])
                    return None
                why = f"HTTP {status}"
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                why = type(exc).__name__
            if attempt < tries:
                log.warning("Discord webhook %s of %s alert failed (%s); retry %d/%d", what, kind, why, attempt + 1,
                            tries)
                await asyncio.sleep(min(self.backoff_s * (2 ** min(attempt, 16)), self.max_delay_s))
        self.failed += 1
        log.error("Discord webhook: %s alert not delivered after %d attempts", kind, tries + 1)
        return None


async def post_alert(settings: "Settings", text: str, retries: int = 2) -> None:
    """``text`` as one critical alert to every configured chat, without starting the chat fronts (no
    polling, nothing read or answered): a configuration error found before the bot could start.
    Telegram (``TELEGRAM_CHAT_ID``) and the Discord webhook; best effort, a few quick retries."""
    secrets = settings.secrets()
    text = redact(text, secrets)
    jobs = []
    if settings.telegram_bot_token and settings.telegram_chat_id:
        jobs.append(_telegram_once(settings, text, retries))
    if settings.discord_webhook_url:
        jobs.append(_webhook_once(settings, text, retries))
    for res in await asyncio.gather(*jobs, return_exceptions=True):
        if isinstance(res, BaseException):
            log.error("alert not posted: %s", redact(f"{type(res).__name__}: {res}", secrets)[:200])


async def _telegram_once(settings: "Settings", text: str, retries: int) -> None:
    from telegram import Bot as TgBot
    from telegram.error import InvalidToken, NetworkError

    from kimpbot.control.telegram import quiet_token_loggers

    quiet_token_loggers()
    api = settings.telegram_api_url.rstrip("/")
    for attempt in range(retries + 1):
        try:
            async with TgBot(settings.telegram_bot_token, base_url=f"{api}/bot",
                             base_file_url=f"{api}/file/bot") as tg:
                await tg.send_message(chat_id=int(settings.telegram_chat_id), text=f"{EMOJI['error']} {text}"[:4000])
            return
        except InvalidToken:
            raise RuntimeError("Telegram refused TELEGRAM_BOT_TOKEN") from None  # its text holds the token
        except NetworkError:
            if attempt == retries:
                raise
            await asyncio.sleep(0.5 * 2 ** attempt)


async def _webhook_once(settings: "Settings", text: str, retries: int) -> None:
    hook = DiscordWebhookNotifier(settings.discord_webhook_url, settings.discord_api_url, secrets=settings.secrets(),
                                  retries=retries, critical_retries=retries)
    await hook.start()
    try:
        await hook.post(Event("error", text, "critical"))
    finally:
        await hook.stop()
