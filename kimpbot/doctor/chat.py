"""Chat tokens: Telegram getMe (python-telegram-bot), the Discord webhook and bot token (discord.py)."""

from __future__ import annotations

import asyncio

import aiohttp

from kimpbot.config import (
    Settings,
)
from kimpbot.doctor.common import (
    FAIL,
    PASS,
    SKIP,
    CheckResult,
    _get,
    _neterr,
)


async def check_telegram(settings: Settings, timeout_s: float) -> CheckResult:
    name = "Telegram bot token"
    if not settings.telegram_bot_token:
        return CheckResult(name, SKIP, "TELEGRAM_BOT_TOKEN not set")
    from telegram import Bot
    from telegram.error import InvalidToken, TelegramError
    from telegram.request import HTTPXRequest

    api = settings.telegram_api_url
    req = HTTPXRequest(connect_timeout=timeout_s, read_timeout=timeout_s, write_timeout=timeout_s)
    bot = Bot(settings.telegram_bot_token, base_url=f"{api}/bot", base_file_url=f"{api}/file/bot", request=req)
    try:
        await bot.initialize()  # getMe
        me = bot.bot
    except InvalidToken as exc:
        return CheckResult(name, FAIL, f"token rejected by {api} ({exc}): copy it again from @BotFather")
    except TelegramError as exc:
        return CheckResult(name, FAIL, f"getMe at {api} failed: {type(exc).__name__}: {exc}")
    finally:
        try:
            await bot.shutdown()
        except Exception:
            pass
    chat = f", chat id {settings.telegram_chat_id}" if settings.telegram_chat_id else ", TELEGRAM_CHAT_ID not set"
    return CheckResult(name, PASS, f"@{me.username} ({me.first_name}){chat}; "
                                   f"{len(settings.telegram_allowed_users)} allowed user(s)")


async def check_discord_webhook(session: aiohttp.ClientSession, settings: Settings) -> CheckResult:
    name = "Discord webhook"
    if not settings.discord_webhook_url:
        return CheckResult(name, SKIP, "DISCORD_WEBHOOK_URL not set")
    import discord

    from kimpbot.control.discord_http import get_discord_api_base, set_discord_api_base

    before = get_discord_api_base()
    try:
        set_discord_api_base(settings.discord_api_url)
        try:
            wh = discord.Webhook.from_url(settings.discord_webhook_url, session=session)
        except ValueError:
            return CheckResult(name, FAIL, "DISCORD_WEBHOOK_URL is not a Discord webhook URL "
                                           "(https://discord.com/api/webhooks/<id>/<token>)")
        try:
            got = await wh.fetch()
        except discord.NotFound:
            return CheckResult(name, FAIL, "Unknown Webhook: it was deleted or the URL is wrong; create a new one "
                                           "(channel settings > Integrations > Webhooks)")
        except discord.HTTPException as exc:
            return CheckResult(name, FAIL, f"HTTP {exc.status}: {exc.text or exc}")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            return CheckResult(name, FAIL, f"{settings.discord_api_url}: {_neterr(exc)}")
    finally:
        set_discord_api_base(before)
    return CheckResult(name, PASS, f"webhook {got.name!r} posts to channel {got.channel_id}")


async def check_discord_bot(session: aiohttp.ClientSession, settings: Settings) -> CheckResult:
    name = "Discord bot token"
    if not settings.discord_bot_token:
        return CheckResult(name, SKIP, "DISCORD_BOT_TOKEN not set (the webhook alone sends alerts)")
    url = f"{settings.discord_api_url}/users/@me"
    try:
        r = await _get(session, url, {"Authorization": f"Bot {settings.discord_bot_token}"})
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return CheckResult(name, FAIL, f"{settings.discord_api_url}: {_neterr(exc)}")
    if r.status == 200 and isinstance(r.data, dict):
        who = f"bot {r.data.get('username')} (id {r.data.get('id')}); {len(settings.discord_allowed_users)} allowed user(s)"
        if not settings.discord_channel_id:
            return CheckResult(name, PASS, who + "; no DISCORD_CHANNEL_ID (signals get buttons via /pending only)")
        ch = f"{settings.discord_api_url}/channels/{settings.discord_channel_id}"
        try:
            c = await _get(session, ch, {"Authorization": f"Bot {settings.discord_bot_token}"})
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            return CheckResult(name, FAIL, f"{who}; channel check failed: {_neterr(exc)}")
        if c.status == 200 and isinstance(c.data, dict):
            return CheckResult(name, PASS, f"{who}; posts to #{c.data.get('name', '?')}")
        if c.status in (403, 404):
            why = "unknown channel" if c.status == 404 else "the bot cannot see it (Missing Access)"
            return CheckResult(name, FAIL, f"DISCORD_CHANNEL_ID {settings.discord_channel_id}: {why}; invite the "
                                           "bot to the server and give it View Channel and Send Messages there")
        return CheckResult(name, SKIP, f"{who}; channel not verified: HTTP {c.status}")
    if r.status == 401:
        return CheckResult(name, FAIL, "token rejected (401 Unauthorized): reset it in the Developer Portal > Bot")
    return CheckResult(name, SKIP, f"could not verify: {url} answered HTTP {r.status}")
