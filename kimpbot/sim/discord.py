"""A fake Discord REST API for webhooks (aiohttp, 127.0.0.1, ephemeral port).

Follows https://discord.com/developers/docs/resources/webhook for what a bot that posts alerts
uses, answered the way discord.py 2.x needs it:

* ``POST /api/v10/webhooks/{id}/{token}`` (Execute Webhook) with a JSON body or a multipart body
  (``payload_json`` + ``files[n]``); ``?wait=true|1`` returns the Message object, otherwise 204.
  ``GET`` the webhook; ``GET|PATCH|DELETE .../messages/{message_id}``; ``DELETE`` the webhook.
  ``/api/webhooks/...`` (no version) is served too, as on Discord.
* Every JSON reply has ``Content-Type: application/json`` exactly: discord.py's ``json_or_text``
  compares the header with ``==`` and treats ``application/json; charset=utf-8`` as text.
* Unknown webhook -> 404 ``{"message": "Unknown Webhook", "code": 10015}``; wrong token -> 401
  ``{"message": "Invalid Webhook Token", "code": 50027}``; empty message -> 400 code 50006;
  over-long content/embeds -> 400 code 50035 "Invalid Form Body" with an ``errors`` tree.
* 429s carry ``retry_after`` in the body plus ``Retry-After``, ``X-RateLimit-*`` and ``Via``
  headers: discord.py's webhook adapter retries a 429 only when ``Via`` is present (a 429 without
  it is a Cloudflare ban and raises ``HTTPException``; the ``http429_cloudflare`` fault does that).

discord.py builds the request URL from ``discord.http.Route.BASE``; point it here with
``kimpbot.control.discord_http.set_discord_api_base(fake.api_url)`` and keep the bot configured
with the real-form ``fake.webhook_url`` (``Webhook.from_url`` accepts nothing else).
The webhook token never reaches a log: ``requests`` masks it and aiohttp's access log is off.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from aiohttp import web

log = logging.getLogger("kimpbot.sim.discord")

__all__ = ["FakeDiscord", "DiscordFault", "DEFAULT_WEBHOOK_TOKEN"]

DISCORD_EPOCH_MS = 1_420_070_400_000
# Webhook.from_url's pattern: id of 17-20 digits, token of 60+ [A-Za-z0-9.-_] characters
DEFAULT_WEBHOOK_TOKEN = "fake-webhook-token-" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
_ID_RE = re.compile(r"^[0-9]{17,20}$")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9.\-_]{60,}$")
FAULT_KINDS = ("http429", "http429_global", "http429_cloudflare", "http500", "http502", "drop", "lost",
               "delay")
OPERATIONS = {"execute": "POST", "get": "GET", "edit": "PATCH", "delete": "DELETE"}


@dataclass
class DiscordFault:
    operation: str    # "execute" | "get" | "edit" | "delete" | "*"
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
    """A local Discord webhook endpoint (see the module docstring)."""

    def __init__(self, *, host: str = "127.0.0.1", webhook_id: str = "123456789012345678",
                 webhook_token: str = DEFAULT_WEBHOOK_TOKEN, channel_id: str = "223456789012345678",
                 guild_id: str = "323456789012345678", name: str = "kimpbot alerts",
                 rate_limit: tuple[int, float] | None = None) -> None:
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
        self.rate_limit = rate_limit       # (requests, seconds) per webhook, announced in headers

        self.webhook_posts: list[dict] = []    # every accepted Execute Webhook, in order
        self.webhook_edits: list[dict] = []    # every accepted message edit
        self.deleted_messages: list[str] = []
        self.errors: list[dict] = []           # every error reply: operation, status, body
        self.requests: list[tuple[str, str]] = []   # (HTTP method, token-masked path)
        self.messages: dict[str, dict] = {}    # message id -> Message object as it is now
        self.deleted = False                   # the webhook was deleted (then: 404 Unknown Webhook)

        self._lock = threading.RLock()
        self._faults: list[DiscordFault] = []
        self._seq = itertools.count(1)
        self._bucket: list[float] = []
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
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]
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
        deadline = time.monotonic() + timeout
        checked = since
        while True:
            while checked < len(self.webhook_posts):
                rec = self.webhook_posts[checked]
                checked += 1
                if predicate(rec):
                    return rec
            left = deadline - time.monotonic()
            if left <= 0:
                tail = [{"content": p.get("content"), "embeds": [e.get("title") for e in p.get("embeds", [])]}
                        for p in self.webhook_posts[-5:]]
                raise TimeoutError(f"no matching Discord webhook post within {timeout}s; last posts: {tail}")
            await self._sig.wait(left)

    def inject(self, operation: str, kind: str, count: int = 1, retry_after: float = 1.0, *,
               delay_s: float = 1.0) -> None:
        """Make the next ``count`` requests of ``operation`` misbehave.

        operation: "execute" (POST), "get", "edit" (PATCH), "delete", or "*"; HTTP verbs work too.
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
        if op != "*" and op not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; expected one of {list(OPERATIONS)} or '*'")
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

    def _headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if self.rate_limit:
            limit, per = self.rate_limit
            now = time.monotonic()
            with self._lock:
                used = len([t for t in self._bucket if now - t < per])
                reset_after = per - (now - self._bucket[0]) if self._bucket and used else per
            h.update({"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(max(limit - used, 0)),
                      "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
                      "X-RateLimit-Reset-After": f"{reset_after:.3f}",
                      "X-RateLimit-Bucket": "fakewebhookbucket0"})
        return h

    def _json(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        h = self._headers()
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

    def _rate_limited(self, retry_after: float, *, is_global: bool = False) -> DiscordError:
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
        headers = {"Retry-After": str(max(1, math.ceil(retry_after))), "X-RateLimit-Limit": "5",
                   "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
                   "X-RateLimit-Reset-After": f"{retry_after:.3f}", "X-RateLimit-Bucket": "fakewebhookbucket0",
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

    async def _pre(self, request: web.Request, operation: str) -> tuple[DiscordFault | None, web.StreamResponse | None]:
        """Log, check the webhook, apply a fault. Returns (fault, early reply)."""
        self.requests.append((request.method, self._mask(request.path_qs)))
        try:
            self._check_webhook(request)
        except DiscordError as exc:
            return None, self._error(operation, exc)
        fault = self._take_fault(operation)
        if fault is None:
            if self.rate_limit and operation == "execute":
                limit, per = self.rate_limit
                now = time.monotonic()
                with self._lock:
                    self._bucket = [t for t in self._bucket if now - t < per]
                    if len(self._bucket) >= limit:
                        wait = round(per - (now - self._bucket[0]), 3)
                        return None, self._error(operation, self._rate_limited(max(wait, 0.001)))
                    self._bucket.append(now)
            return None, None
        log.info("fault %s on webhook %s", fault.kind, operation)
        if fault.kind in ("http429", "http429_global"):
            return fault, self._error(operation, self._rate_limited(fault.retry_after,
                                                                     is_global=fault.kind == "http429_global"))
        if fault.kind == "http429_cloudflare":
            self.errors.append({"operation": operation, "status": 429, "body": "cloudflare", "ts": time.time()})
            return fault, web.Response(status=429, text="<html><body>error code: 1015</body></html>",
                                       content_type="text/html")
        if fault.kind in ("http500", "http502"):
            status = 500 if fault.kind == "http500" else 502
            return fault, self._error(operation, DiscordError(status, {"message": "500: Internal Server Error",
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
        if errors:
            raise _form_error(errors)

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

    def _message(self, payload: dict, files: list[dict], message_id: str) -> dict:
        now = time.time()
        attachments = [{"id": self._snowflake(), "filename": f["filename"], "size": len(f["bytes"]),
                        "url": f"https://cdn.discordapp.com/attachments/{self.channel_id}/0/{f['filename']}",
                        "proxy_url": f"https://media.discordapp.net/attachments/{self.channel_id}/0/{f['filename']}",
                        "content_type": f.get("content_type")} for f in files]
        return {
            "id": message_id, "type": 0, "content": payload.get("content") or "", "channel_id": self.channel_id,
            "author": {"bot": True, "id": self.webhook_id, "username": payload.get("username") or self.name,
                       "avatar": None, "discriminator": "0000", "global_name": None},
            "attachments": attachments, "embeds": [self._norm_embed(e) for e in payload.get("embeds") or []],
            "mentions": [], "mention_roles": [], "pinned": False, "mention_everyone": False,
            "tts": bool(payload.get("tts", False)), "timestamp": _iso(now), "edited_timestamp": None,
            "flags": int(payload.get("flags") or 0), "components": payload.get("components") or [],
            "webhook_id": self.webhook_id,
        }

    # ---------------------------------------------------------------- routes
    async def _execute(self, request: web.Request) -> web.StreamResponse:
        fault, early = await self._pre(request, "execute")
        if early is not None:
            return early
        try:
            payload, files = await self._read_payload(request)
            self._validate(payload, files)
        except DiscordError as exc:
            return self._error("execute", exc)
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
        if fault is not None and fault.kind == "lost":
            return self._drop(request)
        if not wait:
            h = self._headers()
            h.pop("Content-Type", None)
            return web.Response(status=204, headers=h)
        return self._json(msg)

    async def _get_webhook(self, request: web.Request) -> web.StreamResponse:
        fault, early = await self._pre(request, "get")
        if early is not None:
            return early
        data = {"id": self.webhook_id, "type": 1, "guild_id": self.guild_id, "channel_id": self.channel_id,
                "name": self.name, "avatar": None, "token": self.webhook_token, "application_id": None}
        if fault is not None and fault.kind == "lost":
            return self._drop(request)
        return self._json(data)

    async def _delete_webhook(self, request: web.Request) -> web.StreamResponse:
        fault, early = await self._pre(request, "delete")
        if early is not None:
            return early
        self.deleted = True
        return web.Response(status=204)

    def _find_message(self, request: web.Request) -> dict:
        msg = self.messages.get(request.match_info["message_id"])
        if msg is None:
            raise DiscordError(404, {"message": "Unknown Message", "code": 10008})
        return msg

    async def _get_message(self, request: web.Request) -> web.StreamResponse:
        fault, early = await self._pre(request, "get")
        if early is not None:
            return early
        try:
            return self._json(self._find_message(request))
        except DiscordError as exc:
            return self._error("get", exc)

    async def _edit_message(self, request: web.Request) -> web.StreamResponse:
        fault, early = await self._pre(request, "edit")
        if early is not None:
            return early
        try:
            msg = self._find_message(request)
            payload, files = await self._read_payload(request)
            self._validate(payload, files, editing=True)
        except DiscordError as exc:
            return self._error("edit", exc)
        with self._lock:
            if "content" in payload:
                msg["content"] = payload["content"] or ""
            if "embeds" in payload:
                msg["embeds"] = [self._norm_embed(e) for e in payload["embeds"] or []]
            if "components" in payload:
                msg["components"] = payload["components"] or []
            msg["edited_timestamp"] = _iso(time.time())
            self.webhook_edits.append({"message_id": msg["id"], "content": payload.get("content"),
                                       "embeds": copy.deepcopy(payload.get("embeds")), "ts": time.time()})
        self._sig.notify()
        if fault is not None and fault.kind == "lost":
            return self._drop(request)
        return self._json(msg)

    async def _delete_message(self, request: web.Request) -> web.StreamResponse:
        fault, early = await self._pre(request, "delete")
        if early is not None:
            return early
        try:
            msg = self._find_message(request)
        except DiscordError as exc:
            return self._error("delete", exc)
        with self._lock:
            self.messages.pop(msg["id"], None)
            self.deleted_messages.append(msg["id"])
        return web.Response(status=204)
