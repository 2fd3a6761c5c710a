"""A fake Discord REST API (aiohttp, 127.0.0.1, ephemeral port): webhooks, and what a bot that
posts into one channel over REST needs. Answered the way discord.py 2.x needs it.

Webhooks, following https://discord.com/developers/docs/resources/webhook :

* ``POST /api/v10/webhooks/{id}/{token}`` (Execute Webhook) with a JSON body or a multipart body
  (``payload_json`` + ``files[n]``); ``?wait=true|1`` returns the Message object, otherwise 204.
  ``GET`` the webhook; ``GET|PATCH|DELETE .../messages/{message_id}``; ``DELETE`` the webhook.
  ``/api/webhooks/...`` (no version) is served too, as on Discord.
* Unknown webhook -> 404 ``{"message": "Unknown Webhook", "code": 10015}``; wrong token -> 401
  ``{"message": "Invalid Webhook Token", "code": 50027}``; empty message -> 400 code 50006;
  over-long content/embeds -> 400 code 50035 "Invalid Form Body" with an ``errors`` tree.

The bot (``Authorization: Bot <token>`` on every request; anything else -> 401
``{"message": "401: Unauthorized", "code": 0}``, as discord.py's ``login`` expects):

* ``GET /users/@me`` (Get Current User, https://discord.com/developers/docs/resources/user) and
  ``GET /oauth2/applications/@me`` (Get Current Bot Application Information,
  https://discord.com/developers/docs/topics/oauth2): what ``Client.login`` calls.
* ``GET /channels/{channel_id}`` (Get Channel, https://discord.com/developers/docs/resources/channel).
* ``POST /channels/{channel_id}/messages`` (Create Message), ``GET|PATCH|DELETE
  /channels/{channel_id}/messages/{message_id}`` (Get / Edit / Delete Message), following
  https://discord.com/developers/docs/resources/message : the Message object (id, channel_id,
  author, content, embeds, components, nonce, ...), message components validated as in
  https://discord.com/developers/docs/components/reference (action rows of up to 5 buttons,
  ``custom_id`` up to 100 characters and unique in the message, ``label`` up to 80), and
  ``nonce`` + ``enforce_nonce``: the same nonce from the same author within a few minutes returns
  the message already created instead of posting it twice. A channel the bot cannot see -> 403
  ``{"message": "Missing Access", "code": 50001}``; an unknown one -> 404 ``Unknown Channel``
  (10003); an unknown message -> 404 ``Unknown Message`` (10008); editing another author's
  message -> 403 code 50005.
* ``GET|PUT /applications/{application_id}/commands`` (Get Global Application Commands / Bulk
  Overwrite Global Application Commands,
  https://discord.com/developers/docs/interactions/application-commands): what ``tree.sync()`` calls.
* No gateway: ``GET /gateway/bot`` answers 404, so ``Client.connect`` is not served. Button presses
  arrive over the gateway on Discord; tests call the front end's handler directly.

Both:

* Every JSON reply has ``Content-Type: application/json`` exactly: discord.py's ``json_or_text``
  compares the header with ``==`` and treats ``application/json; charset=utf-8`` as text.
* 429s carry ``retry_after`` in the body plus ``Retry-After``, ``X-RateLimit-*`` and ``Via``
  headers (https://discord.com/developers/docs/topics/rate-limits): discord.py retries a 429 only
  when ``Via`` is present (a 429 without it is a Cloudflare ban and raises ``HTTPException``; the
  ``http429_cloudflare`` fault does that).

discord.py builds the request URL from ``discord.http.Route.BASE``; point it here with
``kimpbot.control.discord_http.set_discord_api_base(fake.api_url)`` and keep the bot configured
with the real-form ``fake.webhook_url`` (``Webhook.from_url`` accepts nothing else).
Neither the webhook token nor the bot token reaches a log: request paths are recorded with the
webhook token masked, headers are never recorded, and aiohttp's access log is off.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import itertools
import json
import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

from aiohttp import web

from kimpbot.sim._common import serve_app

log = logging.getLogger("kimpbot.sim.discord")

__all__ = ["FakeDiscord", "DiscordFault", "DEFAULT_WEBHOOK_TOKEN", "DEFAULT_BOT_TOKEN"]

DISCORD_EPOCH_MS = 1_420_070_400_000
# Webhook.from_url's pattern: id of 17-20 digits, token of 60+ [A-Za-z0-9.-_] characters
DEFAULT_WEBHOOK_TOKEN = "fake-webhook-token-" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
# shaped like a real bot token (base64 user id . timestamp . HMAC); discord.py does not check it
DEFAULT_BOT_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GfAkEb.fake-bot-token-0123456789abcdefghijklmn"
_ID_RE = re.compile(r"^[0-9]{17,20}$")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9.\-_]{60,}$")
FAULT_KINDS = ("http429", "http429_global", "http429_cloudflare", "http500", "http502", "drop", "lost",
               "delay")
# webhook operations (HTTP verbs given to inject() mean these)
OPERATIONS = {"execute": "POST", "get": "GET", "edit": "PATCH", "delete": "DELETE"}
# bot operations
BOT_OPERATIONS = {"login": "GET /users/@me", "application": "GET /oauth2/applications/@me",
                  "channel": "GET /channels/{id}", "message": "POST /channels/{id}/messages",
                  "message_get": "GET .../messages/{id}", "message_edit": "PATCH .../messages/{id}",
                  "message_delete": "DELETE .../messages/{id}", "commands": "GET|PUT /applications/{id}/commands"}
NONCE_WINDOW_S = 300.0
_COMMAND_NAME_RE = re.compile(r"^[-_a-z0-9]{1,32}$")


@dataclass
class DiscordFault:
    operation: str    # a key of OPERATIONS or BOT_OPERATIONS, or "*"
    kind: str
    count: int
    retry_after: float
    delay_s: float


class DiscordError(Exception):
    def __init__(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        super().__init__(body.get("message"))
        self.status = status
        self.body = body
        self.headers = headers or {}


def _form_error(errors: dict) -> DiscordError:
    return DiscordError(400, {"message": "Invalid Form Body", "code": 50035, "errors": errors})


def _max_len(n: int) -> dict:
    return {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": f"Must be {n} or fewer in length."}]}


def _required() -> dict:
    return {"_errors": [{"code": "BASE_TYPE_REQUIRED", "message": "This field is required"}]}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat()


_Handler = Callable[["FakeDiscord", web.Request, "DiscordFault | None"], Awaitable[web.StreamResponse]]
_Route = Callable[["FakeDiscord", web.Request], Awaitable[web.StreamResponse]]


def _route(operation: str, *, bot: bool = False) -> Callable[[_Handler], _Route]:
    """A route whose handler is ``handler(self, request, fault)``. First the request is recorded
    (webhook token masked, headers never), then the webhook is checked (or, ``bot``, the
    ``Authorization: Bot <token>`` header), then an injected fault or the rate limit may answer
    instead; a ``DiscordError`` raised on the way or by the handler is answered as Discord does
    and recorded in ``errors`` under ``operation``."""
    def wrap(handler: _Handler) -> _Route:
        @functools.wraps(handler)
        async def route(self: FakeDiscord, request: web.Request) -> web.StreamResponse:
            self.requests.append((request.method, self._mask(request.path_qs)))
            try:
                if bot:
                    self._check_bot(request)
                else:
                    self._check_webhook(request)
                fault, early = await self._fault_or_limit(request, operation)
                if early is not None:
                    return early
                return await handler(self, request, fault)
            except DiscordError as exc:
                return self._error(operation, exc)
        return route
    return wrap


class _Signal:
    def __init__(self) -> None:
        self._ev = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    def notify(self) -> None:
        ev, self._ev = self._ev, asyncio.Event()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if self.loop is None or running is self.loop or self.loop.is_closed():
            ev.set()
        else:
            self.loop.call_soon_threadsafe(ev.set)

    async def wait(self, timeout: float) -> None:
        ev = self._ev
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(ev.wait(), timeout=max(timeout, 0.0))


class FakeDiscord:
    """A local Discord API: a webhook, and a bot in one guild (see the module docstring).

    ``channel_id`` is the webhook's channel and the bot's text channel; ``channels`` adds more
    channels the bot can post in (id -> name); ``hidden_channels`` exist but the bot lacks access
    (403 Missing Access).
    """

    def __init__(self, *, host: str = "127.0.0.1", webhook_id: str = "123456789012345678",
                 webhook_token: str = DEFAULT_WEBHOOK_TOKEN, channel_id: str = "223456789012345678",
                 guild_id: str = "323456789012345678", name: str = "kimpbot alerts",
                 rate_limit: tuple[int, float] | None = None, bot_token: str = DEFAULT_BOT_TOKEN,
                 application_id: str = "423456789012345678", bot_username: str = "kimpbot",
                 channels: dict[str, str] | None = None, hidden_channels: tuple[str, ...] = ()) -> None:
        if not _ID_RE.match(str(webhook_id)):
            raise ValueError("webhook_id must be 17-20 digits (discord.Webhook.from_url refuses others)")
        if not _TOKEN_RE.match(webhook_token):
            raise ValueError("webhook_token must be 60+ characters of [A-Za-z0-9.-_] "
                             "(discord.Webhook.from_url refuses others)")
        self.host = host
        self.port: int | None = None
        self.webhook_id = str(webhook_id)
        self.webhook_token = webhook_token
        self.channel_id = channel_id
        self.guild_id = guild_id
        self.name = name
        self.rate_limit = rate_limit       # (requests, seconds) per webhook / channel, announced in headers
        self.bot_token = bot_token
        self.application_id = str(application_id)
        self.bot_user = {"id": self.application_id, "username": bot_username, "discriminator": "0",
                         "global_name": None, "avatar": None, "bot": True, "system": False, "flags": 0,
                         "public_flags": 0, "verified": True, "mfa_enabled": False, "locale": "en-US",
                         "premium_type": 0, "email": None, "banner": None, "accent_color": None}
        self.channels: dict[str, str] = {str(channel_id): "kimpbot-alerts"} | {str(k): v for k, v in
                                                                               (channels or {}).items()}
        self.hidden_channels = {str(c) for c in hidden_channels}

        self.webhook_posts: list[dict] = []    # every accepted Execute Webhook, in order
        self.webhook_edits: list[dict] = []    # every accepted message edit
        self.deleted_messages: list[str] = []
        self.errors: list[dict] = []           # every error reply: operation, status, body
        self.requests: list[tuple[str, str]] = []   # (HTTP method, token-masked path)
        self.messages: dict[str, dict] = {}    # message id -> Message object as it is now
        self.deleted = False                   # the webhook was deleted (then: 404 Unknown Webhook)
        self.channel_messages: list[dict] = []  # every accepted Create Message (bot), in order
        self.channel_edits: list[dict] = []     # every accepted Edit Message (bot)
        self.commands: list[dict] = []          # the global application commands as last overwritten
        self.logins = 0                         # successful GET /users/@me
        self.deduplicated = 0                   # Create Message answered from an earlier nonce
        self._nonces: dict[tuple[str, str], tuple[str, float]] = {}

        self._lock = threading.RLock()
        self._faults: list[DiscordFault] = []
        self._seq = itertools.count(1)
        self._buckets: dict[str, list[float]] = {}
        self._sig = _Signal()
        self._runner: web.AppRunner | None = None

    # ---------------------------------------------------------------- lifecycle
    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("FakeDiscord is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def channel_url(self) -> str:
        """The bot channel's messages endpoint (what discord.py's ``channel.send`` posts to)."""
        return f"{self.api_url}/channels/{self.channel_id}/messages"

    @property
    def webhook_url(self) -> str:
        """The real-form URL the bot is configured with (its host is never contacted)."""
        return f"https://discord.com/api/webhooks/{self.webhook_id}/{self.webhook_token}"

    async def start(self) -> None:
        self._sig = _Signal()
        self._sig.loop = asyncio.get_running_loop()
        app = web.Application(client_max_size=30 * 1024 * 1024)
        for prefix in ("/api/v{version:[0-9]+}", "/api"):
            base = prefix + "/webhooks/{webhook_id}/{webhook_token}"
            app.router.add_route("POST", base, self._execute)
            app.router.add_route("GET", base, self._get_webhook)
            app.router.add_route("DELETE", base, self._delete_webhook)
            app.router.add_route("GET", base + "/messages/{message_id}", self._get_message)
            app.router.add_route("PATCH", base + "/messages/{message_id}", self._edit_message)
            app.router.add_route("DELETE", base + "/messages/{message_id}", self._delete_message)
            app.router.add_route("GET", prefix + "/users/@me", self._get_me)
            app.router.add_route("GET", prefix + "/oauth2/applications/@me", self._get_application)
            app.router.add_route("GET", prefix + "/channels/{channel_id}", self._get_channel)
            msgs = prefix + "/channels/{channel_id}/messages"
            app.router.add_route("POST", msgs, self._create_message)
            app.router.add_route("GET", msgs + "/{message_id}", self._get_channel_message)
            app.router.add_route("PATCH", msgs + "/{message_id}", self._edit_channel_message)
            app.router.add_route("DELETE", msgs + "/{message_id}", self._delete_channel_message)
            cmds = prefix + "/applications/{application_id}/commands"
            app.router.add_route("GET", cmds, self._get_commands)
            app.router.add_route("PUT", cmds, self._put_commands)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._runner, self.port = await serve_app(app, self.host)
        log.info("fake Discord API on %s", self.api_url)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "FakeDiscord":
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    # ---------------------------------------------------------------- test driving
    async def wait_for(self, predicate: Callable[[dict], bool], timeout: float = 5.0, *,
                       since: int = 0) -> dict:
        """The first post in ``webhook_posts[since:]`` that matches, waiting up to ``timeout`` s."""
        return await self._wait_in(self.webhook_posts, "webhook post", predicate, timeout, since)

    async def wait_for_message(self, predicate: Callable[[dict], bool], timeout: float = 5.0, *,
                               since: int = 0) -> dict:
        """The first bot message in ``channel_messages[since:]`` that matches, waiting up to ``timeout`` s."""
        return await self._wait_in(self.channel_messages, "bot message", predicate, timeout, since)

    async def wait_for_edit(self, predicate: Callable[[dict], bool], timeout: float = 5.0, *,
                            since: int = 0) -> dict:
        """The first bot message edit in ``channel_edits[since:]`` that matches."""
        return await self._wait_in(self.channel_edits, "bot message edit", predicate, timeout, since)

    async def _wait_in(self, records: list[dict], what: str, predicate: Callable[[dict], bool], timeout: float,
                       since: int) -> dict:
        deadline = time.monotonic() + timeout
        checked = since
        while True:
            while checked < len(records):
                rec = records[checked]
                checked += 1
                if predicate(rec):
                    return rec
            left = deadline - time.monotonic()
            if left <= 0:
                tail = [{"content": p.get("content"), "embeds": [e.get("title") for e in p.get("embeds") or []]}
                        for p in records[-5:]]
                raise TimeoutError(f"no matching Discord {what} within {timeout}s; last ones: {tail}")
            await self._sig.wait(left)

    def buttons(self, message_id: str | int) -> list[tuple[str, str]]:
        """(label, custom_id) of every button the message carries now (after edits)."""
        msg = self.messages.get(str(message_id))
        if msg is None:
            raise KeyError(f"no message {message_id}")
        return [(c.get("label") or "", c.get("custom_id") or c.get("url") or "")
                for row in msg.get("components") or [] for c in row.get("components") or [] if c.get("type") == 2]

    def inject(self, operation: str, kind: str, count: int = 1, retry_after: float = 1.0, *,
               delay_s: float = 1.0) -> None:
        """Make the next ``count`` requests of ``operation`` misbehave.

        operation: webhook "execute" (POST), "get", "edit" (PATCH), "delete" (HTTP verbs mean these);
        bot "login", "application", "channel", "message" (Create Message), "message_get",
        "message_edit", "message_delete", "commands"; or "*" for every request.
        http429             429 with Via: discord.py sleeps ``retry_after`` and retries
        http429_global      the same, flagged global (X-RateLimit-Global)
        http429_cloudflare  429 without Via and an HTML body: discord.py raises HTTPException
        http500 / http502   discord.py retries after 1 s, 3 s, ... (5 attempts), then raises
        drop                the connection is closed before processing (nothing posted)
        lost                processed (posted), then the connection is closed
        delay               the reply comes ``delay_s`` seconds late
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        if count < 1:
            raise ValueError("count must be >= 1")
        op = operation.lower()
        verbs = {v.lower(): k for k, v in OPERATIONS.items()}
        op = verbs.get(op, op)
        if op != "*" and op not in OPERATIONS and op not in BOT_OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; expected one of "
                             f"{list(OPERATIONS) + list(BOT_OPERATIONS)} or '*'")
        with self._lock:
            self._faults.append(DiscordFault(op, kind, count, float(retry_after), float(delay_s)))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, operation: str) -> DiscordFault | None:
        with self._lock:
            for f in self._faults:
                if f.operation in ("*", operation):
                    f.count -= 1
                    if f.count <= 0:
                        self._faults.remove(f)
                    return f
        return None

    # ---------------------------------------------------------------- HTTP plumbing
    def _mask(self, path: str) -> str:
        return path.replace(self.webhook_token, "***")

    @staticmethod
    def _bucket_name(operation: str) -> str:
        return "fakechannelbucket0" if operation == "message" else "fakewebhookbucket0"

    def _headers(self, operation: str = "execute") -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if self.rate_limit and operation in ("execute", "message"):
            limit, per = self.rate_limit
            now = time.monotonic()
            with self._lock:
                bucket = self._buckets.get(operation, [])
                used = len([t for t in bucket if now - t < per])
                reset_after = per - (now - bucket[0]) if bucket and used else per
            h.update({"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(max(limit - used, 0)),
                      "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
                      "X-RateLimit-Reset-After": f"{reset_after:.3f}",
                      "X-RateLimit-Bucket": self._bucket_name(operation)})
        return h

    def _json(self, data: Any, status: int = 200, headers: dict[str, str] | None = None,
              operation: str = "execute") -> web.Response:
        h = self._headers(operation)
        h.update(headers or {})
        # body + explicit header: aiohttp then sends exactly "application/json" (no charset)
        return web.Response(status=status, body=json.dumps(data, ensure_ascii=False).encode(), headers=h)

    def _error(self, operation: str, exc: DiscordError) -> web.Response:
        self.errors.append({"operation": operation, "status": exc.status, "body": exc.body, "ts": time.time()})
        return self._json(exc.body, exc.status, exc.headers)

    @staticmethod
    def _drop(request: web.Request) -> web.StreamResponse:
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=200)

    def _reply(self, request: web.Request, fault: DiscordFault | None, data: Any,
               operation: str = "execute") -> web.StreamResponse:
        """The JSON answer of a route that has done its work, or, under a ``lost`` fault, none (the
        connection is closed)."""
        if fault is not None and fault.kind == "lost":
            return self._drop(request)
        return self._json(data, operation=operation)

    def _rate_limited(self, retry_after: float, *, is_global: bool = False,
                      bucket: str = "fakewebhookbucket0") -> DiscordError:
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
        headers = {"Retry-After": str(max(1, math.ceil(retry_after))), "X-RateLimit-Limit": "5",
                   "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
                   "X-RateLimit-Reset-After": f"{retry_after:.3f}", "X-RateLimit-Bucket": bucket,
                   "X-RateLimit-Scope": "shared" if not is_global else "global", "Via": "1.1 google"}
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        return DiscordError(429, body, headers)

    def _check_webhook(self, request: web.Request) -> None:
        wid = request.match_info["webhook_id"]
        token = request.match_info["webhook_token"]
        if wid != self.webhook_id or self.deleted:
            raise DiscordError(404, {"message": "Unknown Webhook", "code": 10015})
        if token != self.webhook_token:
            raise DiscordError(401, {"message": "Invalid Webhook Token", "code": 50027})

    def _check_bot(self, request: web.Request) -> None:
        if request.headers.get("Authorization") != f"Bot {self.bot_token}":
            raise DiscordError(401, {"message": "401: Unauthorized", "code": 0})

    async def _fault_or_limit(self, request: web.Request, operation: str) -> tuple[DiscordFault | None,
                                                                                   web.StreamResponse | None]:
        fault = self._take_fault(operation)
        if fault is None:
            if self.rate_limit and operation in ("execute", "message"):
                limit, per = self.rate_limit
                now = time.monotonic()
                with self._lock:
                    bucket = [t for t in self._buckets.get(operation, []) if now - t < per]
                    self._buckets[operation] = bucket
                    if len(bucket) >= limit:
                        wait = round(per - (now - bucket[0]), 3)
                        return None, self._error(operation, self._rate_limited(
                            max(wait, 0.001), bucket=self._bucket_name(operation)))
                    bucket.append(now)
            return None, None
        log.info("fault %s on %s", fault.kind, operation)
        if fault.kind in ("http429", "http429_global"):
            return fault, self._error(operation, self._rate_limited(fault.retry_after,
                                                                     is_global=fault.kind == "http429_global",
                                                                     bucket=self._bucket_name(operation)))
        if fault.kind == "http429_cloudflare":
            self.errors.append({"operation": operation, "status": 429, "body": "cloudflare", "ts": time.time()})
            return fault, web.Response(status=429, text="<html><body>error code: 1015</body></html>",
                                       content_type="text/html")
        if fault.kind in ("http500", "http502"):
            status = 500 if fault.kind == "http500" else 502
            return fault, self._error(operation, DiscordError(status, {"message": f"{status}: Internal Server Error"
                                                                       if status == 500 else f"{status}: Bad Gateway",
                                                                       "code": 0}))
        if fault.kind == "drop":
            return fault, self._drop(request)
        if fault.kind == "delay":
            await asyncio.sleep(fault.delay_s)
        return fault, None

    async def _not_found(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, self._mask(request.path_qs)))
        return self._json({"message": "404: Not Found", "code": 0}, 404)

    # ---------------------------------------------------------------- payloads
    async def _read_payload(self, request: web.Request) -> tuple[dict, list[dict]]:
        files: list[dict] = []
        ctype = request.content_type
        if ctype == "multipart/form-data":
            payload: dict = {}
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                data = await part.read()  # type: ignore[union-attr]
                if part.name == "payload_json":  # type: ignore[union-attr]
                    try:
                        payload = json.loads(data.decode())
                    except ValueError:
                        raise DiscordError(400, {"message": "Invalid JSON", "code": 50109}) from None
                else:
                    files.append({"field": part.name, "filename": part.filename,  # type: ignore[union-attr]
                                  "bytes": bytes(data),
                                  "content_type": part.headers.get("Content-Type")})  # type: ignore[union-attr]
            return payload, files
        raw = await request.read()
        if not raw:
            return {}, files
        try:
            payload = json.loads(raw.decode())
        except ValueError:
            raise DiscordError(400, {"message": "Invalid JSON", "code": 50109}) from None
        if not isinstance(payload, dict):
            raise DiscordError(400, {"message": "Invalid Form Body", "code": 50035})
        return payload, files

    @staticmethod
    def _validate(payload: dict, files: list[dict], *, editing: bool = False) -> None:
        content = payload.get("content")
        embeds = payload.get("embeds") or []
        if not editing and not content and not embeds and not files and not payload.get("components") \
                and not payload.get("poll"):
            raise DiscordError(400, {"message": "Cannot send an empty message", "code": 50006})
        errors: dict[str, Any] = {}
        if content is not None and len(str(content)) > 2000:
            errors["content"] = _max_len(2000)
        username = payload.get("username")
        if username is not None:
            low = str(username).lower()
            if not 1 <= len(str(username)) <= 80:
                errors["username"] = {"_errors": [{"code": "BASE_TYPE_BAD_LENGTH",
                                                   "message": "Must be between 1 and 80 in length."}]}
            for banned in ("discord", "clyde"):
                if banned in low:
                    errors["username"] = {"_errors": [{"code": "USERNAME_INVALID_CONTAINS",
                                                       "message": f'Username cannot contain "{banned}"'}]}
        if not isinstance(embeds, list):
            errors["embeds"] = {"_errors": [{"code": "LIST_TYPE_CONVERT", "message": "Only iterables may be used in a ListType"}]}
            embeds = []
        if len(embeds) > 10:
            errors["embeds"] = _max_len(10)
        embed_errors: dict[str, Any] = {}
        for n, e in enumerate(embeds[:10]):
            ee: dict[str, Any] = {}
            total = 0
            for key, limit in (("title", 256), ("description", 4096)):
                if e.get(key) is not None:
                    total += len(str(e[key]))
                    if len(str(e[key])) > limit:
                        ee[key] = _max_len(limit)
            for key, sub, limit in (("footer", "text", 2048), ("author", "name", 256)):
                if isinstance(e.get(key), dict) and e[key].get(sub) is not None:
                    total += len(str(e[key][sub]))
                    if len(str(e[key][sub])) > limit:
                        ee[key] = {sub: _max_len(limit)}
            fields = e.get("fields") or []
            if len(fields) > 25:
                ee["fields"] = _max_len(25)
            fe: dict[str, Any] = {}
            for k, f in enumerate(fields[:25]):
                one: dict[str, Any] = {}
                for key, limit in (("name", 256), ("value", 1024)):
                    v = f.get(key)
                    if v is None or str(v) == "":
                        one[key] = _required()
                    else:
                        total += len(str(v))
                        if len(str(v)) > limit:
                            one[key] = _max_len(limit)
                if one:
                    fe[str(k)] = one
            if fe:
                ee["fields"] = fe
            if total > 6000 and not ee:
                ee["_errors"] = [{"code": "MAX_EMBED_SIZE_EXCEEDED",
                                  "message": "Embed size exceeds maximum size of 6000"}]
            if "color" in e and e["color"] is not None and not 0 <= int(e["color"]) <= 0xFFFFFF:
                ee["color"] = {"_errors": [{"code": "NUMBER_TYPE_MAX",
                                            "message": "int value should be less than or equal to 16777215."}]}
            if ee:
                embed_errors[str(n)] = ee
        if embed_errors and "embeds" not in errors:
            errors["embeds"] = embed_errors
        comp_errors = FakeDiscord._component_errors(payload.get("components"))
        if comp_errors:
            errors["components"] = comp_errors
        if errors:
            raise _form_error(errors)

    @staticmethod
    def _component_errors(rows: Any) -> dict[str, Any]:
        """Message components: up to 5 action rows (type 1) of up to 5 buttons (type 2); a button
        with style 1-4 needs a custom_id (1-100 characters, unique in the message), style 5 a url;
        a label is at most 80 characters."""
        if rows is None:
            return {}
        if not isinstance(rows, list):
            return {"_errors": [{"code": "LIST_TYPE_CONVERT", "message": "Only iterables may be used in a ListType"}]}
        if len(rows) > 5:
            return _max_len(5)
        errors: dict[str, Any] = {}
        seen: set[str] = set()
        for i, row in enumerate(rows):
            if not isinstance(row, dict) or row.get("type") != 1:
                errors[str(i)] = {"type": {"_errors": [{"code": "UNION_TYPE_CHOICES",
                                                        "message": "Value of field \"type\" must be one of (1,)."}]}}
                continue
            comps = row.get("components") or []
            if not 1 <= len(comps) <= 5:
                errors[str(i)] = {"components": {"_errors": [{"code": "BASE_TYPE_BAD_LENGTH",
                                                              "message": "Must be between 1 and 5 in length."}]}}
                continue
            ce: dict[str, Any] = {}
            for k, c in enumerate(comps):
                one: dict[str, Any] = {}
                if c.get("type") != 2:
                    one["type"] = {"_errors": [{"code": "COMPONENT_TYPE_INVALID", "message": "Invalid component type"}]}
                else:
                    style = c.get("style")
                    cid = c.get("custom_id")
                    if style not in (1, 2, 3, 4, 5, 6):
                        one["style"] = {"_errors": [{"code": "BUTTON_STYLE_INVALID", "message": "Invalid button style"}]}
                    elif style == 5:
                        if not c.get("url"):
                            one["url"] = _required()
                    elif style != 6:
                        if not cid:
                            one["custom_id"] = _required()
                        elif len(str(cid)) > 100:
                            one["custom_id"] = _max_len(100)
                        elif cid in seen:
                            one["custom_id"] = {"_errors": [{"code": "COMPONENT_CUSTOM_ID_DUPLICATED",
                                                             "message": "Component custom id cannot be duplicated"}]}
                        else:
                            seen.add(str(cid))
                    if c.get("label") is not None and len(str(c["label"])) > 80:
                        one["label"] = _max_len(80)
                if one:
                    ce[str(k)] = one
            if ce:
                errors[str(i)] = {"components": ce}
        return errors

    def _snowflake(self) -> str:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return str((ms << 22) | (1 << 17) | (next(self._seq) & 0xFFF))

    @staticmethod
    def _norm_embed(e: dict) -> dict:
        out = copy.deepcopy(e)
        out.setdefault("type", "rich")
        if "fields" in out:
            out["fields"] = [{"name": f.get("name"), "value": f.get("value"), "inline": bool(f.get("inline", False))}
                             for f in out["fields"]]
        return out

    def _message(self, payload: dict, files: list[dict], message_id: str, *, channel_id: str | None = None,
                 author: dict | None = None) -> dict:
        """A Message object (https://discord.com/developers/docs/resources/message#message-object);
        by default one the webhook posted, with ``author`` a bot user posting in ``channel_id``."""
        now = time.time()
        channel_id = channel_id or self.channel_id
        attachments = [{"id": self._snowflake(), "filename": f["filename"], "size": len(f["bytes"]),
                        "url": f"https://cdn.discordapp.com/attachments/{channel_id}/0/{f['filename']}",
                        "proxy_url": f"https://media.discordapp.net/attachments/{channel_id}/0/{f['filename']}",
                        "content_type": f.get("content_type")} for f in files]
        msg = {
            "id": message_id, "type": 0, "content": payload.get("content") or "", "channel_id": channel_id,
            "author": author or {"bot": True, "id": self.webhook_id, "username": payload.get("username") or self.name,
                                 "avatar": None, "discriminator": "0000", "global_name": None},
            "attachments": attachments, "embeds": [self._norm_embed(e) for e in payload.get("embeds") or []],
            "mentions": [], "mention_roles": [], "pinned": False, "mention_everyone": False,
            "tts": bool(payload.get("tts", False)), "timestamp": _iso(now), "edited_timestamp": None,
            "flags": int(payload.get("flags") or 0), "components": copy.deepcopy(payload.get("components") or []),
        }
        if author is None:
            msg["webhook_id"] = self.webhook_id
        else:
            msg["guild_id"] = self.guild_id
        if payload.get("nonce") is not None:
            msg["nonce"] = payload["nonce"]
        return msg

    # ---------------------------------------------------------------- messages (webhook and bot alike)
    def _find_message(self, request: web.Request, channel_id: str | None = None) -> dict:
        """The Message named by the path's ``message_id`` (in ``channel_id`` when given), or 404
        Unknown Message (10008)."""
        msg = self.messages.get(request.match_info["message_id"])
        if msg is None or (channel_id is not None and msg["channel_id"] != channel_id):
            raise DiscordError(404, {"message": "Unknown Message", "code": 10008})
        return msg

    async def _edit(self, request: web.Request, fault: DiscordFault | None, msg: dict, *,
                    bot: bool = False) -> web.StreamResponse:
        """Edit Webhook Message / Edit Message once ``msg`` is found and may be edited: validate the
        payload, apply its content, embeds and components (``components: []`` removes the buttons),
        record the edit in ``webhook_edits`` (``channel_edits`` for the bot, with the channel and
        the components) and answer the Message as it is now."""
        payload, files = await self._read_payload(request)
        self._validate(payload, files, editing=True)
        with self._lock:
            if "content" in payload:
                msg["content"] = payload["content"] or ""
            if "embeds" in payload:
                msg["embeds"] = [self._norm_embed(e) for e in payload["embeds"] or []]
            if "components" in payload:
                msg["components"] = copy.deepcopy(payload["components"] or [])
            msg["edited_timestamp"] = _iso(time.time())
            rec = {"message_id": msg["id"], "content": payload.get("content"),
                   "embeds": copy.deepcopy(payload.get("embeds"))}
            if bot:
                rec = {"channel_id": msg["channel_id"]} | rec | {"components": copy.deepcopy(payload.get("components"))}
            (self.channel_edits if bot else self.webhook_edits).append(rec | {"ts": time.time()})
        self._sig.notify()
        return self._reply(request, fault, msg, "message_edit" if bot else "execute")

    def _delete(self, msg: dict) -> web.StreamResponse:
        """Delete Webhook Message / Delete Message once ``msg`` is found: 204, recorded in ``deleted_messages``."""
        with self._lock:
            self.messages.pop(msg["id"], None)
            self.deleted_messages.append(msg["id"])
        return web.Response(status=204)

    # ---------------------------------------------------------------- webhook routes
    @_route("execute")
    async def _execute(self, request: web.Request, fault: DiscordFault | None) -> web.StreamResponse:
        """Execute Webhook: 204, or with ``?wait=true|1`` the Message object."""
        payload, files = await self._read_payload(request)
        self._validate(payload, files)
        wait = request.query.get("wait", "false").lower() in ("true", "1")
        mid = self._snowflake()
        msg = self._message(payload, files, mid)
        rec = {"webhook_id": self.webhook_id, "message_id": mid, "content": payload.get("content"),
               "embeds": [copy.deepcopy(e) for e in payload.get("embeds") or []],
               "username": payload.get("username"), "avatar_url": payload.get("avatar_url"),
               "tts": bool(payload.get("tts", False)), "allowed_mentions": payload.get("allowed_mentions"),
               "components": payload.get("components"), "flags": payload.get("flags"),
               "attachments": [{"filename": f["filename"], "bytes": f["bytes"]} for f in files],
               "thread_id": request.query.get("thread_id"), "wait": wait, "ts": time.time()}
        with self._lock:
            self.messages[mid] = msg
            self.webhook_posts.append(rec)
        self._sig.notify()
        if not wait and not (fault is not None and fault.kind == "lost"):
            h = self._headers()
            h.pop("Content-Type", None)
            return web.Response(status=204, headers=h)
        return self._reply(request, fault, msg)

    @_route("get")
    async def _get_webhook(self, request: web.Request, fault: DiscordFault | None) -> web.StreamResponse:
        """Get Webhook with Token: the Webhook object."""
        data = {"id": self.webhook_id, "type": 1, "guild_id": self.guild_id, "channel_id": self.channel_id,
                "name": self.name, "avatar": None, "token": self.webhook_token, "application_id": None}
        return self._reply(request, fault, data)

    @_route("delete")
    async def _delete_webhook(self, request: web.Request, fault: DiscordFault | None) -> web.StreamResponse:
        """Delete Webhook with Token: 204, then every request to it is 404 Unknown Webhook."""
        self.deleted = True
        return web.Response(status=204)

    @_route("get")
    async def _get_message(self, request: web.Request, fault: DiscordFault | None) -> web.StreamResponse:
        """Get Webhook Message."""
        return self._json(self._find_message(request))

    @_route("edit")
    async def _edit_message(self, request: web.Request, fault: DiscordFault | None) -> web.StreamResponse:
        """Edit Webhook Message: content, embeds and components."""
        return await self._edit(request, fault, self._find_message(request))

    @_route("delete")
    async def _delete_message(self, request: web.Request, fault: DiscordFault | None) -> web.StreamResponse:
        """Delete Webhook Message."""
        return self._delete(self._find_message(request))

    # ---------------------------------------------------------------- bot routes
    @_route("login", bot=True)
    async def _get_me(self, request: web.Request, fault: DiscordFault | None) -> web.StreamResponse:
        """Get Current User: the bot's User object (``Client.login`` calls it; 401 = bad token)."""
        self.logins += 1
        return self._reply(request, fault, self.bot_user, "login")

    @_route("application", bot=True)
    async def _get_application(self, request: web.Request, fault: DiscordFault | None) -> web.StreamResponse:
        """Get Current Bot Application Information (``Client.login`` calls it after /users/@me)."""
        owner = {"id": "523456789012345678", "username": "owner", "discriminator": "0", "global_name": "Owner",
                 "avatar": None, "public_flags": 0, "flags": 0}
        data = {"id": self.application_id, "name": self.bot_user["username"], "icon": None,
                "description": "kimpbot (fake)", "summary": "", "type": None, "hook": True, "bot_public": False,
                "bot_require_code_grant": False, "verify_key": "0" * 64, "flags": 0, "owner": owner, "team": None,
                "bot": self.bot_user, "rpc_origins": [], "redirect_uris": [], "interactions_endpoint_url": None,
                "role_connections_verification_url": None, "tags": [], "approximate_guild_count": 1,
                "integration_types_config": {"0": {}}}
        return self._json(data, operation="application")

    def _check_channel(self, channel_id: str) -> None:
        if channel_id in self.hidden_channels:
            raise DiscordError(403, {"message": "Missing Access", "code": 50001})
        if channel_id not in self.channels:
            raise DiscordError(404, {"message": "Unknown Channel", "code": 10003})

    @_route("channel", bot=True)
    async def _get_channel(self, request: web.Request, fault: DiscordFault | None) -> web.StreamResponse:
        """Get Channel: a guild text channel (type 0)."""
        cid = request.match_info["channel_id"]
        self._check_channel(cid)
        last = [m["id"] for m in self.messages.values() if m["channel_id"] == cid]
        data = {"id": cid, "type": 0, "guild_id": self.guild_id, "name": self.channels[cid], "position": 0,
                "permission_overwrites": [], "nsfw": False, "parent_id": None, "topic": None,
                "last_message_id": last[-1] if last else None, "rate_limit_per_user": 0, "flags": 0}
        return self._json(data, operation="channel")

    @_route("message", bot=True)
    async def _create_message(self, request: web.Request, fault: DiscordFault | None) -> web.StreamResponse:
        """Create Message in a channel, as the bot (JSON or multipart ``payload_json``)."""
        cid = request.match_info["channel_id"]
        self._check_channel(cid)
        payload, files = await self._read_payload(request)
        self._validate(payload, files)
        nonce = payload.get("nonce")
        if nonce is not None and len(str(nonce)) > 25:
            raise _form_error({"nonce": _max_len(25)})
        now = time.time()
        with self._lock:
            for k in [k for k, (_m, ts) in self._nonces.items() if now - ts > NONCE_WINDOW_S]:
                del self._nonces[k]
            known = self._nonces.get((cid, str(nonce))) if nonce is not None and payload.get("enforce_nonce") \
                else None
            if known is not None and known[0] in self.messages:
                self.deduplicated += 1
                msg = self.messages[known[0]]
            else:
                mid = self._snowflake()
                msg = self._message(payload, files, mid, channel_id=cid, author=dict(self.bot_user))
                self.messages[mid] = msg
                if nonce is not None:
                    self._nonces[(cid, str(nonce))] = (mid, now)
                self.channel_messages.append({
                    "channel_id": cid, "message_id": mid, "content": payload.get("content"),
                    "embeds": copy.deepcopy(payload.get("embeds") or []),
                    "components": copy.deepcopy(payload.get("components") or []),
                    "nonce": nonce, "allowed_mentions": payload.get("allowed_mentions"),
                    "message_reference": payload.get("message_reference"), "flags": payload.get("flags"),
                    "attachments": [{"filename": f["filename"], "bytes": f["bytes"]} for f in files], "ts": now})
        self._sig.notify()
        return self._reply(request, fault, msg, "message")

    def _find_channel_message(self, request: web.Request) -> dict:
        cid = request.match_info["channel_id"]
        self._check_channel(cid)
        return self._find_message(request, cid)

    @_route("message_get", bot=True)
    async def _get_channel_message(self, request: web.Request, fault: DiscordFault | None) -> web.StreamResponse:
        """Get Channel Message."""
        return self._json(self._find_channel_message(request), operation="message_get")

    @_route("message_edit", bot=True)
    async def _edit_channel_message(self, request: web.Request, fault: DiscordFault | None) -> web.StreamResponse:
        """Edit Message: content, embeds and components of the bot's own message (``components: []``
        removes the buttons)."""
        msg = self._find_channel_message(request)
        if msg.get("webhook_id") or msg["author"].get("id") != self.bot_user["id"]:
            raise DiscordError(403, {"message": "Cannot edit a message authored by another user", "code": 50005})
        return await self._edit(request, fault, msg, bot=True)

    @_route("message_delete", bot=True)
    async def _delete_channel_message(self, request: web.Request, fault: DiscordFault | None) -> web.StreamResponse:
        """Delete Message."""
        return self._delete(self._find_channel_message(request))

    def _check_application(self, request: web.Request) -> None:
        if request.match_info["application_id"] != self.application_id:
            raise DiscordError(403, {"message": "Missing Access", "code": 50001})

    @_route("commands", bot=True)
    async def _get_commands(self, request: web.Request, fault: DiscordFault | None) -> web.StreamResponse:
        """Get Global Application Commands."""
        self._check_application(request)
        return self._json(self.commands, operation="commands")

    @_route("commands", bot=True)
    async def _put_commands(self, request: web.Request, fault: DiscordFault | None) -> web.StreamResponse:
        """Bulk Overwrite Global Application Commands: names 1-32 lowercase characters, unique,
        descriptions 1-100; the answer is the list with ids, ``application_id`` and ``version``."""
        self._check_application(request)
        raw = await request.read()
        try:
            body = json.loads(raw.decode() or "null")
        except ValueError:
            raise DiscordError(400, {"message": "Invalid JSON", "code": 50109}) from None
        if not isinstance(body, list):
            raise _form_error({"_errors": [{"code": "LIST_TYPE_CONVERT",
                                            "message": "Only iterables may be used in a ListType"}]})
        errors: dict[str, Any] = {}
        names: set[str] = set()
        for i, c in enumerate(body):
            one: dict[str, Any] = {}
            name = str(c.get("name") or "")
            if not _COMMAND_NAME_RE.match(name):
                one["name"] = {"_errors": [{"code": "APPLICATION_COMMAND_INVALID_NAME",
                                            "message": "Command name is invalid"}]}
            elif name in names:
                one["name"] = {"_errors": [{"code": "APPLICATION_COMMANDS_DUPLICATE_NAME",
                                            "message": "Application command names must be unique"}]}
            names.add(name)
            desc = str(c.get("description") or "")
            if c.get("type", 1) == 1 and not 1 <= len(desc) <= 100:
                one["description"] = {"_errors": [{"code": "BASE_TYPE_BAD_LENGTH",
                                                   "message": "Must be between 1 and 100 in length."}]}
            if one:
                errors[str(i)] = one
        if errors:
            raise _form_error(errors)
        old = {c["name"]: c["id"] for c in self.commands}
        out = []
        for c in body:
            out.append({"id": old.get(c["name"]) or self._snowflake(), "application_id": self.application_id,
                        "version": self._snowflake(), "type": c.get("type", 1), "name": c["name"],
                        "description": c.get("description", ""), "options": c.get("options") or [],
                        "default_member_permissions": c.get("default_member_permissions"),
                        "dm_permission": c.get("dm_permission", True), "nsfw": bool(c.get("nsfw", False)),
                        "contexts": c.get("contexts"), "integration_types": c.get("integration_types") or [0]})
        self.commands = out
        return self._json(out, operation="commands")
