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
  The overwrite is validated as Discord does (Invalid Form Body, code 50035, with an ``errors``
  tree): names, descriptions 1-100, ``*_localizations`` keyed by Discord locales, options (types
  1-11, required before optional, at most 25), choices only on STRING/INTEGER/NUMBER, at most
  25, names 1-100, values of the option's type, never together with ``autocomplete``.
* ``GET /gateway`` and ``GET /gateway/bot`` (https://discord.com/developers/docs/events/gateway#get-gateway-bot):
  ``{"url": "ws://127.0.0.1:PORT/gateway", "shards": 1, "session_start_limit": {...}}``.

The gateway (https://discord.com/developers/docs/events/gateway and .../gateway-events), a
WebSocket at ``/gateway?v=10&encoding=json[&compress=zlib-stream]``, as discord.py 2.x drives it
(``discord/gateway.py``): the server sends op 10 HELLO ``{"heartbeat_interval": ms}``; op 1
Heartbeat is answered with op 11 Heartbeat ACK; op 2 Identify with the bot token gets dispatch
(op 0) ``READY`` (``v``, ``user``, ``session_id``, ``resume_gateway_url``, ``application``
``{id, flags}``, ``guilds`` as unavailable guilds) and then that guild's ``GUILD_CREATE``; a wrong
token is closed with 4004 "Authentication failed.", a payload before Identify with 4003 "Not
authenticated.", an unknown opcode with 4001, a second Identify with 4005; op 6 Resume of a known
session replays nothing and sends ``RESUMED``, of an unknown one op 9 Invalid Session ``false``.
``compress=zlib-stream`` (what discord.py asks for without the zstandard package): every payload
goes through one zlib compressobj per connection, each ended with ``Z_SYNC_FLUSH`` (the
``00 00 ff ff`` suffix discord.py waits for) and sent as a binary frame; ``zstd-stream`` is served
when the ``zstandard`` package is importable, otherwise the connection is closed with 4000.

Interactions (https://discord.com/developers/docs/interactions/receiving-and-responding): the test
API :meth:`FakeDiscord.interact_slash` / :meth:`FakeDiscord.press_button` /
:meth:`FakeDiscord.autocomplete` dispatches an ``INTERACTION_CREATE`` (type 2 APPLICATION_COMMAND
with ``data.name`` and ``options`` typed after the registered command (3 STRING, 4 INTEGER, ...;
a value outside the choices or range cannot be sent, as in Discord's client), type 4 AUTOCOMPLETE
with the ``focused`` option, answered by callback type 8 with up to 25 ``choices``, type 3
MESSAGE_COMPONENT with ``data.custom_id`` and the ``message``) with a fresh ``id`` and ``token``,
and waits for the bot's answer over REST: ``POST /interactions/{id}/{token}/callback`` (types 4
message, 5 deferred message, 6 deferred update, 7 update message, 9 modal; ``flags: 64``
ephemeral; ``?with_response=1`` returns the Interaction Callback Response; an unknown interaction
-> 404 code 10062, a second answer -> 400 code 40060 "Interaction has already been
acknowledged."), then follow-ups ``POST /webhooks/{application_id}/{token}`` and ``GET|PATCH|DELETE
/webhooks/{application_id}/{token}/messages/@original|{message_id}``.

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
import secrets
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

from aiohttp import web

from kimpbot.sim._common import drop

from fakes._common import WAIT_S, ChatServer, Signal, first_match

log = logging.getLogger(__name__)

__all__ = ["FakeDiscord", "DiscordFault", "FakeInteraction", "DEFAULT_WEBHOOK_TOKEN", "DEFAULT_BOT_TOKEN"]

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
                  "message_delete": "DELETE .../messages/{id}", "commands": "GET|PUT /applications/{id}/commands",
                  "gateway": "GET /gateway/bot", "interaction": "interaction callback and follow-ups"}
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


# ---- application command options (https://discord.com/developers/docs/interactions/application-commands
# #application-command-object-application-command-option-structure)
OPTION_TYPES = {1: "SUB_COMMAND", 2: "SUB_COMMAND_GROUP", 3: "STRING", 4: "INTEGER", 5: "BOOLEAN", 6: "USER",
                7: "CHANNEL", 8: "ROLE", 9: "MENTIONABLE", 10: "NUMBER", 11: "ATTACHMENT"}
CHOICE_TYPES = (3, 4, 10)   # only STRING, INTEGER and NUMBER options take choices or autocomplete
# https://discord.com/developers/docs/reference#locales
LOCALES = frozenset({"id", "da", "de", "en-GB", "en-US", "es-ES", "es-419", "fr", "hr", "it", "lt", "hu", "nl",
                     "no", "pl", "pt-BR", "ro", "fi", "sv-SE", "vi", "tr", "cs", "el", "bg", "ru", "uk", "hi",
                     "th", "zh-CN", "ja", "zh-TW", "ko"})


def _bad_length(lo: int, hi: int) -> dict:
    return {"_errors": [{"code": "BASE_TYPE_BAD_LENGTH", "message": f"Must be between {lo} and {hi} in length."}]}


def _localization_errors(obj: dict, name_max: int) -> dict:
    """``name_localizations`` / ``description_localizations``: keys are Discord locales, values
    1..name_max / 1..100 characters."""
    out: dict[str, Any] = {}
    for field_, hi in (("name_localizations", name_max), ("description_localizations", 100)):
        locs = obj.get(field_)
        if not locs:
            continue
        errs: dict[str, Any] = {}
        for loc, text in locs.items():
            if loc not in LOCALES:   # the enum error's wording follows Discord's style (unverified)
                errs[loc] = {"_errors": [{"code": "ENUM_TYPE_COERCE",
                                          "message": f'Value "{loc}" is not a valid enum value.'}]}
            elif not isinstance(text, str) or not 1 <= len(text) <= hi:
                errs[loc] = _bad_length(1, hi)
        if errs:
            out[field_] = errs
    return out


def _option_errors(opts: list[dict]) -> dict:
    """Errors of a command's options as Discord's Invalid Form Body tree (index -> field -> _errors):
    a valid type, name and description, required options first, choices only on STRING / INTEGER /
    NUMBER, at most 25 of them, each named 1-100 characters with a value of the option's type
    (strings up to 100), not together with autocomplete; min/max values and lengths consistent."""
    errors: dict[str, Any] = {}
    seen_optional = False
    names: set[str] = set()
    for i, o in enumerate(opts):
        one: dict[str, Any] = {}
        t = o.get("type")
        if t not in OPTION_TYPES:
            one["type"] = {"_errors": [{"code": "BASE_TYPE_CHOICES",
                                        "message": f"Value must be one of {tuple(OPTION_TYPES)}."}]}
        name = str(o.get("name") or "")
        if not _COMMAND_NAME_RE.match(name):
            one["name"] = {"_errors": [{"code": "APPLICATION_COMMAND_INVALID_NAME", "message": "Command name is invalid"}]}
        elif name in names:
            one["name"] = {"_errors": [{"code": "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                                        "message": "Option names must be unique"}]}   # unverified wording
        names.add(name)
        if not 1 <= len(str(o.get("description") or "")) <= 100:
            one["description"] = _bad_length(1, 100)
        one.update(_localization_errors(o, 32))
        if o.get("required"):
            if seen_optional:
                one["required"] = {"_errors": [{"code": "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                                                "message": "Required options must be placed before non-required options"}]}
        else:
            seen_optional = True
        choices = o.get("choices")
        if choices is not None:
            if t not in CHOICE_TYPES:
                one["choices"] = {"_errors": [{"code": "APPLICATION_COMMAND_OPTION_CHOICES_INVALID_TYPE",
                                               "message": "Choices are only allowed on string, integer and number "
                                                          "options"}]}   # unverified wording
            elif o.get("autocomplete"):
                one["autocomplete"] = {"_errors": [{"code": "APPLICATION_COMMAND_AUTOCOMPLETE_INVALID",
                                                    "message": "Autocomplete cannot be set with choices"}]}   # unverified wording
            elif len(choices) > 25:
                one["choices"] = _max_len(25)
            else:
                cerr: dict[str, Any] = {}
                for j, ch in enumerate(choices):
                    e: dict[str, Any] = {}
                    if not 1 <= len(str(ch.get("name") or "")) <= 100:
                        e["name"] = _bad_length(1, 100)
                    e.update(_localization_errors(ch, 100))
                    v = ch.get("value")
                    if t == 3 and (not isinstance(v, str) or not 1 <= len(v) <= 100):
                        e["value"] = _bad_length(1, 100)
                    elif t == 4 and (isinstance(v, bool) or not isinstance(v, int)):
                        e["value"] = {"_errors": [{"code": "NUMBER_TYPE_COERCE",
                                                   "message": f'Value "{v}" is not int.'}]}
                    elif t == 10 and (isinstance(v, bool) or not isinstance(v, (int, float))):
                        e["value"] = {"_errors": [{"code": "NUMBER_TYPE_COERCE",
                                                   "message": f'Value "{v}" is not a number.'}]}
                    if e:
                        cerr[str(j)] = e
                if cerr:
                    one["choices"] = cerr
        lo, hi = o.get("min_value"), o.get("max_value")
        if lo is not None and hi is not None and lo > hi:
            one["max_value"] = {"_errors": [{"code": "NUMBER_TYPE_MIN",
                                             "message": f"int value should be greater than or equal to {lo}."}]}
        lo, hi = o.get("min_length"), o.get("max_length")
        for f, v in (("min_length", lo), ("max_length", hi)):
            if v is not None and not 0 <= v <= 6000:
                one[f] = {"_errors": [{"code": "NUMBER_TYPE_MAX", "message": "int value should be less than or "
                                                                            "equal to 6000."}]}
        if one:
            errors[str(i)] = one
    return errors


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


@dataclass
class FakeInteraction:
    """One interaction the fake dispatched, and what the bot answered to it over REST."""
    id: str
    token: str
    type: int                      # 2 application command, 3 message component
    user_id: str
    payload: dict                  # the INTERACTION_CREATE data as dispatched
    message_id: str | None = None  # the message a component was pressed on
    callback: dict | None = None   # {"type", "data", "ephemeral", "flags"} of the initial response
    original_id: str | None = None  # the message the initial response made or updates
    followups: list[dict] = field(default_factory=list)   # follow-up Message objects
    edits: list[dict] = field(default_factory=list)       # PATCH .../@original|{id} payloads
    answered: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ephemeral(self) -> bool:
        return bool(self.callback and self.callback["ephemeral"])

    @property
    def content(self) -> str | None:
        """The text of the initial response (a deferred one: of its first follow-up or edit)."""
        if self.callback and self.callback["data"].get("content") is not None:
            return str(self.callback["data"]["content"])
        for m in self.edits + self.followups:
            if m.get("content") is not None:
                return str(m["content"])
        return None


class _GatewayConn:
    """One gateway WebSocket: its sequence, compression and session."""

    def __init__(self, ws: web.WebSocketResponse, compress: str | None) -> None:
        self.ws = ws
        self.compress = compress
        self.seq = 0
        self.session_id: str | None = None
        self._z = zlib.compressobj() if compress == "zlib-stream" else None
        self._zstd: Any = None
        if compress == "zstd-stream":
            import zstandard  # type: ignore[import-not-found]
            self._zstd = zstandard.ZstdCompressor().compressobj()
        self.lock = asyncio.Lock()

    async def send(self, payload: dict) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        async with self.lock:
            if self._z is not None:
                # zlib-stream: one shared context, every payload ends on a sync flush (00 00 ff ff)
                await self.ws.send_bytes(self._z.compress(data) + self._z.flush(zlib.Z_SYNC_FLUSH))
            elif self._zstd is not None:
                import zstandard  # type: ignore[import-not-found]
                await self.ws.send_bytes(self._zstd.compress(data) + self._zstd.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK))
            else:
                await self.ws.send_str(data.decode())

    async def dispatch(self, event: str, data: dict) -> None:
        self.seq += 1
        await self.send({"op": 0, "t": event, "s": self.seq, "d": data})


class FakeDiscord(ChatServer):
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
                 channels: dict[str, str] | None = None, hidden_channels: tuple[str, ...] = (),
                 heartbeat_interval_ms: int = 41250) -> None:
        if not _ID_RE.match(str(webhook_id)):
            raise ValueError("webhook_id must be 17-20 digits (discord.Webhook.from_url refuses others)")
        if not _TOKEN_RE.match(webhook_token):
            raise ValueError("webhook_token must be 60+ characters of [A-Za-z0-9.-_] "
                             "(discord.Webhook.from_url refuses others)")
        super().__init__(host)
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

        # gateway
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.identifies: list[dict] = []        # every accepted Identify (token removed)
        self.heartbeats = 0                     # op 1 received
        self.gateway_connects: list[dict] = []  # the query of every gateway connection
        self.gateway_closes: list[tuple[int, str]] = []   # (close code, reason) the fake closed with
        self.interactions: dict[str, FakeInteraction] = {}   # token -> interaction
        self._sessions: dict[str, dict] = {}    # session id -> {"seq": n}
        self._gw: list[_GatewayConn] = []       # identified connections

        self._lock = threading.RLock()
        self._faults: list[DiscordFault] = []
        self._seq = itertools.count(1)
        self._buckets: dict[str, list[float]] = {}
        self._sig = Signal()

    # ---------------------------------------------------------------- lifecycle
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
        self._sig = Signal()
        self._sig.loop = asyncio.get_running_loop()
        app = web.Application(client_max_size=30 * 1024 * 1024)
        for prefix in ("/api/v{version:[0-9]+}", "/api"):
            base = prefix + "/webhooks/{webhook_id}/{webhook_token}"
            app.router.add_route("POST", base, self._execute_any)
            app.router.add_route("GET", base, self._get_webhook)
            app.router.add_route("DELETE", base, self._delete_webhook)
            app.router.add_route("GET", base + "/messages/{message_id}", self._get_message_any)
            app.router.add_route("PATCH", base + "/messages/{message_id}", self._edit_message_any)
            app.router.add_route("DELETE", base + "/messages/{message_id}", self._delete_message_any)
            app.router.add_route("GET", prefix + "/users/@me", self._get_me)
            app.router.add_route("GET", prefix + "/oauth2/applications/@me", self._get_application)
            app.router.add_route("GET", prefix + "/channels/{channel_id}", self._get_channel)
            msgs = prefix + "/channels/{channel_id}/messages"
            app.router.add_route("POST", msgs, self._create_message)
            app.router.add_route("GET", msgs + "/{message_id}", self._get_channel_message)
            app.router.add_route("PATCH", msgs + "/{message_id}", self._edit_channel_message)
            app.router.add_route("DELETE", msgs + "/{message_id}", self._delete_channel_message)
            app.router.add_route("GET", prefix + "/gateway", self._get_gateway)
            app.router.add_route("GET", prefix + "/gateway/bot", self._get_gateway_bot)
            app.router.add_route("POST", prefix + "/interactions/{interaction_id}/{interaction_token}/callback",
                                 self._interaction_callback)
            cmds = prefix + "/applications/{application_id}/commands"
            app.router.add_route("GET", cmds, self._get_commands)
            app.router.add_route("PUT", cmds, self._put_commands)
        app.router.add_route("GET", "/gateway", self._gateway)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        await self._serve(app)
        log.info("fake Discord API on %s", self.api_url)

    async def stop(self) -> None:
        for conn in list(self._gw):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"server stopping")
        self._gw.clear()
        await self._close()

    # ---------------------------------------------------------------- test driving
    async def wait_for(self, predicate: Callable[[dict], bool], timeout: float = WAIT_S, *,
                       since: int = 0) -> dict:
        """The first post in ``webhook_posts[since:]`` that matches, waiting up to ``timeout`` s."""
        return await self._wait_in(self.webhook_posts, "webhook post", predicate, timeout, since)

    async def wait_for_message(self, predicate: Callable[[dict], bool], timeout: float = WAIT_S, *,
                               since: int = 0) -> dict:
        """The first bot message in ``channel_messages[since:]`` that matches, waiting up to ``timeout`` s."""
        return await self._wait_in(self.channel_messages, "bot message", predicate, timeout, since)

    async def wait_for_edit(self, predicate: Callable[[dict], bool], timeout: float = WAIT_S, *,
                            since: int = 0) -> dict:
        """The first bot message edit in ``channel_edits[since:]`` that matches."""
        return await self._wait_in(self.channel_edits, "bot message edit", predicate, timeout, since)

    async def _wait_in(self, records: list[dict], what: str, predicate: Callable[[dict], bool], timeout: float,
                       since: int) -> dict:
        def timed_out(last: list[dict]) -> str:
            tail = [{"content": p.get("content"), "embeds": [e.get("title") for e in p.get("embeds") or []]}
                    for p in last]
            return f"no matching Discord {what} within {timeout}s; last ones: {tail}"
        return await first_match(records, predicate, timeout, since, self._sig, timed_out)

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

    def _reply(self, request: web.Request, fault: DiscordFault | None, data: Any,
               operation: str = "execute") -> web.StreamResponse:
        """The JSON answer of a route that has done its work, or, under a ``lost`` fault, none (the
        connection is closed)."""
        if fault is not None and fault.kind == "lost":
            return drop(request)
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
            return fault, drop(request)
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
            self._apply_edit(msg, payload)
            rec = {"message_id": msg["id"], "content": payload.get("content"),
                   "embeds": copy.deepcopy(payload.get("embeds"))}
            if bot:
                rec = {"channel_id": msg["channel_id"]} | rec | {"components": copy.deepcopy(payload.get("components"))}
            (self.channel_edits if bot else self.webhook_edits).append(rec | {"ts": time.time()})
        self._sig.notify()
        return self._reply(request, fault, msg, "message_edit" if bot else "execute")

    def _apply_edit(self, msg: dict, payload: dict) -> None:
        """An edit's content, embeds and components onto ``msg`` (``components: []`` or null
        removes the buttons), stamped ``edited_timestamp``. Called under ``_lock``."""
        if "content" in payload:
            msg["content"] = payload["content"] or ""
        if "embeds" in payload:
            msg["embeds"] = [self._norm_embed(e) for e in payload["embeds"] or []]
        if "components" in payload:
            msg["components"] = copy.deepcopy(payload["components"] or [])
        msg["edited_timestamp"] = _iso(time.time())

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
            one.update(_localization_errors(c, 32))
            opts = c.get("options") or []
            if len(opts) > 25:
                one["options"] = _max_len(25)
            else:
                oerr = _option_errors(opts)
                if oerr:
                    one["options"] = oerr
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
                        "name_localizations": c.get("name_localizations") or None,
                        "description_localizations": c.get("description_localizations") or None,
                        "default_member_permissions": c.get("default_member_permissions"),
                        "dm_permission": c.get("dm_permission", True), "nsfw": bool(c.get("nsfw", False)),
                        "contexts": c.get("contexts"), "integration_types": c.get("integration_types") or [0]})
        self.commands = out
        return self._json(out, operation="commands")

    # ---------------------------------------------------------------- gateway
    @property
    def gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/gateway"

    @_route("gateway", bot=True)
    async def _get_gateway_bot(self, request: web.Request, fault: DiscordFault | None) -> web.StreamResponse:
        """Get Gateway Bot: the WebSocket URL, one shard, the session start limit."""
        return self._json({"url": self.gateway_url, "shards": 1,
                           "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14_400_000,
                                                   "max_concurrency": 1}}, operation="gateway")

    async def _get_gateway(self, request: web.Request) -> web.StreamResponse:
        """Get Gateway (no authentication)."""
        self.requests.append((request.method, request.path_qs))
        return self._json({"url": self.gateway_url}, operation="gateway")

    def _guild(self) -> dict:
        """A Guild object as GUILD_CREATE carries it (https://discord.com/developers/docs/resources/guild)."""
        everyone = {"id": self.guild_id, "name": "@everyone", "permissions": "2248473465835073", "position": 0,
                    "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0, "icon": None,
                    "unicode_emoji": None}
        channels = [{"id": cid, "type": 0, "guild_id": self.guild_id, "name": name, "position": i,
                     "permission_overwrites": [], "nsfw": False, "parent_id": None, "topic": None,
                     "last_message_id": None, "rate_limit_per_user": 0, "flags": 0}
                    for i, (cid, name) in enumerate(self.channels.items())]
        me = {"user": dict(self.bot_user), "roles": [], "joined_at": _iso(time.time()), "deaf": False, "mute": False,
              "flags": 0, "pending": False, "nick": None, "avatar": None, "communication_disabled_until": None}
        return {"id": self.guild_id, "name": "kimpbot test server", "icon": None, "splash": None,
                "discovery_splash": None, "owner_id": "523456789012345678", "afk_channel_id": None, "afk_timeout": 300,
                "verification_level": 0, "default_message_notifications": 0, "explicit_content_filter": 0,
                "roles": [everyone], "emojis": [], "stickers": [], "features": [], "mfa_level": 0,
                "system_channel_id": None, "system_channel_flags": 0, "rules_channel_id": None,
                "max_members": 500000, "vanity_url_code": None, "description": None, "banner": None,
                "premium_tier": 0, "premium_subscription_count": 0, "preferred_locale": "en-US",
                "public_updates_channel_id": None, "nsfw_level": 0, "premium_progress_bar_enabled": False,
                "joined_at": me["joined_at"], "large": False, "unavailable": False, "member_count": 2,
                "voice_states": [], "members": [me], "channels": channels, "threads": [], "presences": [],
                "stage_instances": [], "guild_scheduled_events": [], "soundboard_sounds": []}

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        """The gateway WebSocket (see the module docstring)."""
        q = dict(request.query)
        self.requests.append((request.method, request.path_qs))
        self.gateway_connects.append(q)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        compress = q.get("compress")

        async def close(code: int, reason: str) -> web.WebSocketResponse:
            self.gateway_closes.append((code, reason))
            await ws.close(code=code, message=reason.encode())
            return ws

        if q.get("encoding", "json") != "json":
            return await close(4002, "Error while decoding payload.")   # only JSON is spoken here
        if compress not in (None, "zlib-stream", "zstd-stream"):
            return await close(4000, "Unknown compression.")
        try:
            conn = _GatewayConn(ws, compress)
        except ImportError:
            return await close(4000, "zstd-stream needs the zstandard package in the fake")
        await conn.send({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None, "t": None})
        try:
            async for msg in ws:
                if msg.type != web.WSMsgType.TEXT:
                    if msg.type == web.WSMsgType.BINARY:
                        return await close(4002, "Error while decoding payload.")
                    continue
                try:
                    p = json.loads(msg.data)
                    op = p["op"]
                except (ValueError, KeyError, TypeError):
                    return await close(4002, "Error while decoding payload.")
                if op == 1:
                    self.heartbeats += 1
                    await conn.send({"op": 11, "d": None, "s": None, "t": None})
                elif op == 2:
                    if conn.session_id is not None:
                        return await close(4005, "Already authenticated.")
                    d = dict(p.get("d") or {})
                    if d.get("token") != self.bot_token:
                        return await close(4004, "Authentication failed.")
                    d.pop("token", None)
                    self.identifies.append(d)
                    conn.session_id = secrets.token_hex(16)
                    self._sessions[conn.session_id] = {}
                    self._gw.append(conn)
                    await conn.dispatch("READY", {
                        "v": 10, "user": dict(self.bot_user), "session_id": conn.session_id,
                        "resume_gateway_url": self.gateway_url, "session_type": "normal",
                        "guilds": [{"id": self.guild_id, "unavailable": True}], "private_channels": [],
                        "relationships": [], "presences": [], "guild_join_requests": [], "user_settings": {},
                        "geo_ordered_rtc_regions": [], "shard": [0, 1],
                        "application": {"id": self.application_id, "flags": 0},
                        "_trace": ["[\"fake-discord-gateway\"]"]})
                    await conn.dispatch("GUILD_CREATE", self._guild())
                    self._sig.notify()
                elif op == 6:
                    d = p.get("d") or {}
                    if d.get("token") != self.bot_token:
                        return await close(4004, "Authentication failed.")
                    sid = str(d.get("session_id"))
                    if sid not in self._sessions:
                        await conn.send({"op": 9, "d": False, "s": None, "t": None})
                        continue
                    conn.session_id = sid
                    conn.seq = int(d.get("seq") or 0)
                    self._gw.append(conn)
                    await conn.dispatch("RESUMED", {"_trace": ["fake-discord-gateway"]})
                elif conn.session_id is None:
                    return await close(4003, "Not authenticated.")
                elif op in (3, 4, 8, 31):   # presence, voice state, request members, soundboard: accepted
                    continue
                else:
                    return await close(4001, "Unknown opcode.")
        finally:
            if conn in self._gw:
                self._gw.remove(conn)
        return ws

    @property
    def gateway_ready(self) -> bool:
        """A bot has identified and is connected."""
        return bool(self._gw)

    async def _dispatch(self, event: str, data: dict) -> None:
        if not self._gw:
            raise RuntimeError("no bot is connected to the fake gateway")
        for conn in list(self._gw):
            await conn.dispatch(event, data)

    # ---------------------------------------------------------------- interactions (test API)
    def _user(self, user_id: str | int) -> dict:
        return {"id": str(user_id), "username": f"user{user_id}", "discriminator": "0", "global_name": None,
                "avatar": None, "public_flags": 0, "flags": 0}

    async def _interact(self, user_id: str | int, itype: int, data: dict, *, message: dict | None = None,
                        timeout: float, locale: str = "en-US") -> FakeInteraction:
        iid, token = self._snowflake(), "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
        member = {"user": self._user(user_id), "roles": [], "joined_at": _iso(time.time()), "deaf": False,
                  "mute": False, "flags": 0, "pending": False, "nick": None, "avatar": None,
                  "permissions": "2248473465835073", "communication_disabled_until": None}
        cid = message["channel_id"] if message else self.channel_id
        payload = {"id": iid, "application_id": self.application_id, "type": itype, "data": data,
                   "guild_id": self.guild_id, "guild": {"id": self.guild_id, "locale": "en-US", "features": []},
                   "channel_id": cid, "channel": {"id": cid, "type": 0, "guild_id": self.guild_id,
                                                  "name": self.channels.get(cid, "channel"), "flags": 0,
                                                  "permissions": "2248473465835073"},
                   "member": member, "token": token, "version": 1, "app_permissions": "2248473465835073",
                   "locale": locale, "guild_locale": "en-US", "entitlements": [],
                   "authorizing_integration_owners": {"0": self.guild_id}, "context": 0,
                   "attachment_size_limit": 10 * 1024 * 1024}
        if message is not None:
            payload["message"] = copy.deepcopy(message)
        it = FakeInteraction(id=iid, token=token, type=itype, user_id=str(user_id), payload=payload,
                             message_id=message["id"] if message else None)
        self.interactions[token] = it
        await self._dispatch("INTERACTION_CREATE", payload)
        try:
            await asyncio.wait_for(it.answered.wait(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"the bot did not answer interaction {itype} {data.get('name') or data.get('custom_id')}"
                               f" within {timeout}s (Discord shows 'The application did not respond')") from None
        return it

    def _typed_options(self, cmd: dict | None, name: str, options: dict[str, Any]) -> list[dict]:
        """``{name: value}`` as a Discord client sends them in ``data.options``: each option's
        ``type`` from the registered command (3 STRING, 4 INTEGER, 5 BOOLEAN, 10 NUMBER, ...), the
        value in that type. The client lets a user send only what the command declares: an
        unknown option, a missing required one, a value outside the choices or the min/max, raises
        here (ValueError) instead of reaching the bot. Without a registered command, strings."""
        if cmd is None:
            return [{"name": k, "type": 3, "value": str(v)} for k, v in options.items()]
        decl = {o["name"]: o for o in cmd.get("options") or []}
        for k in options:
            if k not in decl:
                raise ValueError(f"/{name} has no option {k!r}; it has {sorted(decl)}")
        missing = [k for k, o in decl.items() if o.get("required") and k not in options]
        if missing:
            raise ValueError(f"/{name}: required option(s) {missing} missing")
        out = []
        for k, v in options.items():
            o = decl[k]
            t = o["type"]
            if t == 4:
                value: Any = int(v)
            elif t == 10:
                value = float(v)
            elif t == 5:
                value = bool(v)
            else:
                value = str(v)
            if o.get("choices") is not None and value not in [c["value"] for c in o["choices"]]:
                raise ValueError(f"/{name} {k}: {value!r} is not one of the choices "
                                 f"{[c['value'] for c in o['choices']]}")
            if t in (4, 10) and ((o.get("min_value") is not None and value < o["min_value"])
                                 or (o.get("max_value") is not None and value > o["max_value"])):
                raise ValueError(f"/{name} {k}: {value} outside {o.get('min_value')}..{o.get('max_value')}")
            if t == 3 and ((o.get("min_length") is not None and len(value) < o["min_length"])
                           or (o.get("max_length") is not None and len(value) > o["max_length"])):
                raise ValueError(f"/{name} {k}: length {len(value)} outside {o.get('min_length')}..{o.get('max_length')}")
            out.append({"name": k, "type": t, "value": value})
        return out

    async def interact_slash(self, user_id: str | int, name: str, options: dict[str, Any] | None = None, *,
                             timeout: float = 10.0, locale: str = "en-US") -> FakeInteraction:
        """A member runs ``/name`` with ``options`` (typed after the registered command, see
        :meth:`_typed_options`): dispatches INTERACTION_CREATE (type 2) and returns once the bot sent
        its initial response (follow-ups may come later). ``locale``: the member's client language."""
        cmd = next((c for c in self.commands if c["name"] == name), None)
        data = {"id": cmd["id"] if cmd else self._snowflake(), "name": name, "type": 1,
                "options": self._typed_options(cmd, name, options or {})}
        return await self._interact(user_id, 2, data, timeout=timeout, locale=locale)

    async def autocomplete(self, user_id: str | int, name: str, option: str, current: str = "",
                           options: dict[str, Any] | None = None, *, timeout: float = 10.0,
                           locale: str = "en-US") -> list[dict]:
        """A member types ``current`` into the autocomplete option ``option`` of ``/name``: an
        INTERACTION_CREATE of type 4 (APPLICATION_COMMAND_AUTOCOMPLETE) with that option
        ``focused``; returns the choices of the bot's answer (callback type 8)."""
        cmd = next((c for c in self.commands if c["name"] == name), None)
        decl = {o["name"]: o for o in (cmd or {}).get("options") or []}
        if option not in decl or not decl[option].get("autocomplete"):
            raise ValueError(f"/{name} has no autocomplete option {option!r}")
        opts = [{"name": k, "type": decl[k]["type"], "value": v} for k, v in (options or {}).items() if k != option]
        opts.append({"name": option, "type": decl[option]["type"], "value": current, "focused": True})
        data = {"id": cmd["id"], "name": name, "type": 1, "options": opts}
        it = await self._interact(user_id, 4, data, timeout=timeout, locale=locale)
        return list((it.callback or {}).get("data", {}).get("choices") or [])

    async def press_button(self, user_id: str | int, message_id: str | int, custom_id: str, *,
                           timeout: float = 10.0, seen: dict | None = None) -> FakeInteraction:
        """A member presses the button ``custom_id`` on message ``message_id`` (type 3); returns once
        the bot sent its initial response. ``seen``: the message as the member's client still shows
        it (an earlier copy from :attr:`messages`): a press made before the bot's edit reached that
        client, e.g. two members pressing at the same moment, or a double tap."""
        msg = copy.deepcopy(seen) if seen is not None else self.messages.get(str(message_id))
        if msg is None:
            raise KeyError(f"no message {message_id}")
        shown = [c for row in msg.get("components") or [] for c in row.get("components", [])]
        if custom_id not in [c.get("custom_id") for c in shown]:
            raise ValueError(f"message {message_id} has no button {custom_id!r}; it has {self.buttons(message_id)}")
        return await self._interact(user_id, 3, {"custom_id": custom_id, "component_type": 2}, message=msg,
                                    timeout=timeout)

    # ---------------------------------------------------------------- interaction REST routes
    def _interaction_of(self, request: web.Request) -> FakeInteraction | None:
        """The interaction whose webhook (application id + interaction token) the path names."""
        if request.match_info.get("webhook_id") != self.application_id:
            return None
        return self.interactions.get(request.match_info.get("webhook_token", ""))

    async def _interaction_callback(self, request: web.Request) -> web.StreamResponse:
        """Create Interaction Response."""
        self.requests.append((request.method, "/interactions/{id}/***/callback"))
        try:
            it = self.interactions.get(request.match_info["interaction_token"])
            if it is None or it.id != request.match_info["interaction_id"]:
                raise DiscordError(404, {"message": "Unknown interaction", "code": 10062})
            if it.callback is not None:
                raise DiscordError(400, {"message": "Interaction has already been acknowledged.", "code": 40060})
            payload, files = await self._read_payload(request)
            rtype = payload.get("type")
            data = payload.get("data") or {}
            if rtype not in (4, 5, 6, 7, 8, 9) or (rtype in (6, 7) and it.type != 3) \
                    or ((rtype == 8) != (it.type == 4)):
                # 8 APPLICATION_COMMAND_AUTOCOMPLETE_RESULT answers (only) an autocomplete interaction
                raise _form_error({"type": {"_errors": [{"code": "BASE_TYPE_CHOICES",
                                                         "message": "Value must be one of (4, 5, 6, 7, 8, 9)."}]}})
            flags = int(data.get("flags") or 0)
            ephemeral = bool(flags & 64)
            msg: dict | None = None
            if rtype == 8:
                choices = data.get("choices") or []
                if len(choices) > 25:
                    raise _form_error({"data": {"choices": _max_len(25)}})
                bad = {str(j): {"name": _bad_length(1, 100)} for j, c in enumerate(choices)
                       if not 1 <= len(str(c.get("name") or "")) <= 100}
                if bad:
                    raise _form_error({"data": {"choices": bad}})
            elif rtype == 4:
                self._validate(data, files)
                msg = self._message(data, files, self._snowflake(), channel_id=it.payload["channel_id"],
                                    author=dict(self.bot_user))
                msg.update(interaction_metadata={"id": it.id, "type": it.type, "user": self._user(it.user_id)})
            elif rtype == 5:   # "thinking": a loading message (flag 128) the bot edits later
                msg = self._message({"content": ""}, [], self._snowflake(), channel_id=it.payload["channel_id"],
                                    author=dict(self.bot_user))
                msg["flags"] = 128 | (64 if ephemeral else 0)
            elif rtype in (6, 7):
                msg = self.messages.get(str(it.message_id))
                if msg is None:
                    raise DiscordError(404, {"message": "Unknown Message", "code": 10008})
                if rtype == 7:
                    self._validate(data, files, editing=True)
                    with self._lock:
                        self._apply_edit(msg, data)
            with self._lock:
                if msg is not None:
                    self.messages[msg["id"]] = msg
                    it.original_id = msg["id"]
                it.callback = {"type": rtype, "data": copy.deepcopy(data), "ephemeral": ephemeral, "flags": flags}
            it.answered.set()
            self._sig.notify()
            if request.query.get("with_response", "").lower() not in ("1", "true"):
                return web.Response(status=204)
            out: dict[str, Any] = {"interaction": {
                "id": it.id, "type": it.type, "activity_instance_id": None,
                "response_message_id": msg["id"] if msg is not None and rtype in (4, 5) else None,
                "response_message_loading": rtype == 5, "response_message_ephemeral": ephemeral}}
            resource: dict[str, Any] = {"type": rtype}
            if msg is not None:
                resource["message"] = msg
            out["resource"] = resource
            return self._json(out, operation="interaction")
        except DiscordError as exc:
            return self._error("interaction", exc)

    def _interaction_message(self, it: FakeInteraction, request: web.Request) -> dict:
        ref = request.match_info["message_id"]
        mid = it.original_id if ref == "@original" else ref
        msg = self.messages.get(str(mid)) if mid is not None else None
        if msg is None:
            raise DiscordError(404, {"message": "Unknown Message", "code": 10008})
        return msg

    async def _followup(self, it: FakeInteraction, request: web.Request) -> web.StreamResponse:
        """Create Followup Message (an answer must have been sent first)."""
        self.requests.append((request.method, "/webhooks/{application_id}/***"))
        if it.callback is None:
            raise DiscordError(404, {"message": "Unknown Webhook", "code": 10015})
        payload, files = await self._read_payload(request)
        self._validate(payload, files)
        msg = self._message(payload, files, self._snowflake(), channel_id=it.payload["channel_id"],
                            author=dict(self.bot_user))
        msg["webhook_id"] = self.application_id
        with self._lock:
            if it.callback["type"] == 5 and it.original_id in self.messages and \
                    self.messages[it.original_id]["flags"] & 128:
                # the first follow-up after a "thinking" answer replaces the loading message
                msg["id"] = it.original_id
            self.messages[msg["id"]] = msg
            it.followups.append(msg)
        self._sig.notify()
        return self._json(msg, operation="interaction")

    async def _get_followup(self, it: FakeInteraction, request: web.Request) -> web.StreamResponse:
        """Get Original Interaction Response / Get Followup Message."""
        return self._json(self._interaction_message(it, request), operation="interaction")

    async def _edit_followup(self, it: FakeInteraction, request: web.Request) -> web.StreamResponse:
        """Edit Original Interaction Response / Edit Followup Message."""
        msg = self._interaction_message(it, request)
        payload, files = await self._read_payload(request)
        self._validate(payload, files, editing=True)
        with self._lock:
            self._apply_edit(msg, payload)
            msg["flags"] = int(msg.get("flags") or 0) & ~128   # no longer "thinking"
            it.edits.append(copy.deepcopy(payload) | {"message_id": msg["id"]})
        self._sig.notify()
        return self._json(msg, operation="interaction")

    async def _delete_followup(self, it: FakeInteraction, request: web.Request) -> web.StreamResponse:
        """Delete Original Interaction Response / Delete Followup Message."""
        return self._delete(self._interaction_message(it, request))

    async def _webhook_or_interaction(
            self, request: web.Request, webhook: Callable[[web.Request], Awaitable[web.StreamResponse]],
            followup: Callable[[FakeInteraction, web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        """``/webhooks/{id}/{token}...``: the webhook's route, or, when the path names the application
        and an interaction's token, that interaction's ``followup`` route."""
        it = self._interaction_of(request)
        if it is None:
            return await webhook(request)
        try:
            return await followup(it, request)
        except DiscordError as exc:
            return self._error("interaction", exc)

    async def _execute_any(self, request: web.Request) -> web.StreamResponse:
        return await self._webhook_or_interaction(request, self._execute, self._followup)

    async def _get_message_any(self, request: web.Request) -> web.StreamResponse:
        return await self._webhook_or_interaction(request, self._get_message, self._get_followup)

    async def _edit_message_any(self, request: web.Request) -> web.StreamResponse:
        return await self._webhook_or_interaction(request, self._edit_message, self._edit_followup)

    async def _delete_message_any(self, request: web.Request) -> web.StreamResponse:
        return await self._webhook_or_interaction(request, self._delete_message, self._delete_followup)
