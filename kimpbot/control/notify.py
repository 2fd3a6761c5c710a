"""Alerts: bus events as chat text, and Discord webhook embeds (discord.py's Webhook over aiohttp).

Delivery runs in the event bus's per-subscriber task, so a slow or failing chat API never blocks
trading; failed posts are retried with backoff, then logged (without the URL or token).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Iterable

from kimpbot.events import Event

if TYPE_CHECKING:
    from kimpbot.engine import Bot

log = logging.getLogger("kimpbot.control.notify")

EMOJI = {"trade": "✅", "fill": "▫️", "partial": "◽", "rollback": "⚠️", "unwind": "↩️", "exposure": "🚨",
         "halt": "🛑", "error": "❌", "refused": "⛔", "reconcile": "🔎", "health": "📡", "fx": "💱",
         "funding": "💸", "signal": "🔔", "signal_expired": "⌛", "start": "🤖"}

# kinds the Discord webhook posts (fills of pairs and everything that went wrong with them)
WEBHOOK_KINDS = frozenset({"trade", "rollback", "unwind", "exposure", "halt"})
GREEN, ORANGE, RED, DARK_RED, GREY = 0x2ECC71, 0xE67E22, 0xE74C3C, 0x992D22, 0x95A5A6


def redact(text: str, secrets: Iterable[str]) -> str:
    for s in secrets:
        if s and len(s) >= 6:
            text = text.replace(s, "***")
    return text


def event_text(ev: Event) -> str:
    """One chat message for a bus event (its ``message`` is safe to post by the bus's contract)."""
    head = EMOJI.get(ev.kind, "•")
    if ev.kind == "halt" and ev.level == "info":
        head = "▶️"
    return f"{head} {ev.message}"


def _leg(d: dict[str, Any] | None) -> str:
    if not d:
        return "n/a"
    s = f"{d.get('status', '?')} {d.get('filled_qty', '?')} @ {d.get('avg_price', '?')}"
    if d.get("fee") not in (None, "", "0"):
        s += f", fee {d['fee']}"
    if d.get("error"):
        s += f" ({str(d['error'])[:200]})"
    return s


def embed_fields(ev: Event) -> dict[str, Any]:
    """Title, colour and fields of the webhook embed for ``ev`` (plain data, testable)."""
    d = ev.data
    colour = {"trade": GREEN, "rollback": ORANGE, "unwind": ORANGE, "exposure": RED,
              "halt": DARK_RED if ev.level != "info" else GREY}.get(ev.kind, GREY)
    if ev.kind == "trade" and d.get("action") == "exit":
        title = f"{d.get('symbol', '')} exit"
    elif ev.kind == "trade":
        title = f"{d.get('symbol', '')} {d.get('action', 'trade')} filled"
    else:
        title = {"rollback": "Rollback", "unwind": "Unwind", "exposure": "UNHEDGED EXPOSURE",
                 "halt": "Halted" if ev.level != "info" else "Resumed"}.get(ev.kind, ev.kind)
        if d.get("symbol"):
            title = f"{d['symbol']} {title.lower() if ev.kind != 'exposure' else title}"
    fields: list[tuple[str, str, bool]] = []
    if d.get("symbol"):
        fields.append(("Symbol", str(d["symbol"]), True))
    if d.get("direction"):
        fields.append(("Direction", str(d["direction"]).replace("_", " "), True))
    if d.get("size_krw") is not None:
        fields.append(("Size", f"{float(d['size_krw']):,.0f} KRW", True))
    elif d.get("qty") is not None:
        fields.append(("Size", f"{d['qty']} {d.get('symbol', '')}".strip(), True))
    if "upbit" in d:
        fields.append(("Upbit leg", _leg(d.get("upbit")), False))
    if "binance" in d:
        fields.append(("Binance leg", _leg(d.get("binance")), False))
    if d.get("result"):
        fields.append((f"{str(d.get('venue', '')).capitalize()} unwind".strip(), _leg(d.get("result")), False))
    if d.get("expected_profit_pct") is not None:
        fields.append(("Expected profit", f"{float(d['expected_profit_pct']):g}% target", True))
    if d.get("realized_krw") is not None:
        fields.append(("Realized", f"{float(d['realized_krw']):+,.0f} KRW", True))
    if d.get("cost_krw"):
        fields.append(("Cost", f"{float(d['cost_krw']):,.0f} KRW", True))
    if d.get("exposure"):
        fields.append(("Exposure", "; ".join(map(str, d["exposure"]))[:1000], False))
    if d.get("reason"):
        fields.append(("Reason", str(d["reason"])[:1000], False))
    return {"title": title[:250], "description": ev.message[:4000], "colour": colour, "fields": fields}


def quiet_discord_logger() -> None:
    """discord.py logs every webhook URL (its token included) at DEBUG: keep it at INFO or above."""
    lg = logging.getLogger("discord")
    if lg.getEffectiveLevel() < logging.INFO:
        lg.setLevel(logging.INFO)


class DiscordWebhookNotifier:
    """Posts trade / rollback / unwind / exposure / halt events to a Discord webhook as embeds."""

    def __init__(self, webhook_url: str, api_url: str | None = None, *, secrets: Iterable[str] = (),
                 kinds: frozenset[str] = WEBHOOK_KINDS, retries: int = 5, backoff_s: float = 0.5,
                 username: str = "kimpbot") -> None:
        self.url = webhook_url
        self.api_url = api_url
        self.secrets = [s for s in secrets if s]
        self.kinds = kinds
        self.retries = retries
        self.backoff_s = backoff_s
        self.username = username
        self.session: Any = None
        self.webhook: Any = None
        self.sent = 0
        self.failed = 0

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
            raise ValueError("DISCORD_WEBHOOK_URL is not a Discord webhook URL "
                             "(https://discord.com/api/webhooks/<id>/<token>)") from None

    def attach(self, bot: "Bot") -> None:
        bot.bus.subscribe(self.on_event)

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def on_event(self, ev: Event) -> None:
        if ev.kind not in self.kinds or self.webhook is None:
            return
        await self.post(ev)

    def embed(self, ev: Event) -> Any:
        import discord

        f = embed_fields(ev)
        e = discord.Embed(title=redact(f["title"], self.secrets), description=redact(f["description"], self.secrets),
                          colour=f["colour"])
        for name, value, inline in f["fields"][:25]:
            e.add_field(name=name, value=redact(value, self.secrets)[:1024] or "-", inline=inline)
        return e

    async def post(self, ev: Event) -> bool:
        import aiohttp
        import discord

        embed = self.embed(ev)
        for attempt in range(self.retries + 1):
            try:
                await self.webhook.send(embed=embed, username=self.username, wait=True)
                self.sent += 1
                return True
            except discord.HTTPException as exc:
                status = getattr(exc, "status", 0)
                if 400 <= status < 500 and status != 429:
                    self.failed += 1
                    log.error("Discord webhook refused the %s alert: HTTP %s %s", ev.kind, status,
                              redact(str(getattr(exc, "text", "")), self.secrets + [self.url])[:200])
                    return False
                why = f"HTTP {status}"
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                why = type(exc).__name__
            if attempt < self.retries:
                log.warning("Discord webhook post of %s alert failed (%s); retry %d/%d", ev.kind, why, attempt + 1,
                            self.retries)
                await asyncio.sleep(self.backoff_s * (2 ** attempt))
        self.failed += 1
        log.error("Discord webhook: %s alert not delivered after %d attempts", ev.kind, self.retries + 1)
        return False
