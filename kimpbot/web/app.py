"""The owner's dashboard: routes on kimpbot's own aiohttp server, sessions, the live stream.

=========================  ==================================================================
``GET /``                  the dashboard with a session; without one a page saying how to log
                           in (no market, position or balance data)
``GET /login?token=``      checks a one-time link and shows a "Log in" button (a link preview
                           fetched by the chat app cannot use the token up)
``POST /login``            uses the token: session cookie, then ``/``
``GET|POST /logout``       ends the session
``GET /api/state``         everything the page shows (401 without a session)
``POST /api/halt``         halt / resume / Execute / Skip through the command core, as the
``POST /api/resume``       session's chat user (same authorization, same audit); need the
``POST /api/signal/ID/execute|skip``  session's CSRF token in ``X-CSRF-Token``
``GET /ws``                the live stream (WebSocket): the state whenever it changes (checked
                           every ``tick_s``), a heartbeat every ``heartbeat_s``
``/static/*``, ``/sw.js``, ``/manifest.webmanifest``  the page's files (package data)
=========================  ==================================================================
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import time
from importlib import resources
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from kimpbot.web import state as st
from kimpbot.web.auth import Auth, Session
from kimpbot.web.i18n import t, texts

log = logging.getLogger("kimpbot.web")

COOKIE = "kimpbot_session"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "manifest-src 'self'; worker-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png", ".svg": "image/svg+xml",
                ".webmanifest": "application/manifest+json", ".txt": "text/plain"}
MAX_STREAMS = 20

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _static(name: str) -> bytes:
    return resources.files("kimpbot.web").joinpath("static", name).read_bytes()


class Dashboard:
    def __init__(self, bot: Any, core: Any, api: Any, *, tick_s: float = 0.1, heartbeat_s: float = 5.0) -> None:
        self.bot = bot
        self.core = core
        self.api = api
        self.auth = Auth()
        self.tick_s = tick_s
        self.heartbeat_s = heartbeat_s
        self.lang = getattr(bot.settings, "lang", "ko") or "ko"
        self.clients: dict[web.WebSocketResponse, str] = {}  # stream -> its session cookie
        self.pnl = st.PnlBook()
        self._dirty = True
        self._task: asyncio.Task[None] | None = None
        self._last_sent = ""
        self._chart_marks: dict[str, Any] = {}
        self._subscribed = False
        self._files: dict[str, bytes] = {}
        if core is not None:
            core.web_auth = self  # /dashboard in the chat asks this for a login link

    # ---- wiring ------------------------------------------------------------------------------

    def setup(self, app: web.Application) -> None:
        app.middlewares.append(self._headers)
        r = app.router
        r.add_get("/", self._index)
        r.add_get("/login", self._login_page)
        r.add_post("/login", self._login)
        r.add_route("*", "/logout", self._logout)
        r.add_get("/api/state", self._state)
        r.add_post("/api/halt", self._halt)
        r.add_post("/api/resume", self._resume)
        r.add_post("/api/signal/{pid}/{what}", self._signal)
        r.add_get("/ws", self._ws)
        r.add_get("/sw.js", self._file("sw.js", scope=True))
        r.add_get("/manifest.webmanifest", self._manifest)
        r.add_get("/favicon.ico", self._file("icon-192.png"))
        r.add_get("/static/{name}", self._static)

    async def start(self) -> None:
        if not self._subscribed:
            self.bot.bus.subscribe(self._on_event)
            self._subscribed = True

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        for ws in list(self.clients):
            await ws.close(code=1001, message=b"server stopping")
        self.clients.clear()

    def _on_event(self, ev: Any) -> None:
        self._dirty = True  # a fill, halt, signal…: re-read positions, P&L and trades now

    # ---- login links (asked by the command core) ----------------------------------------------

    def base_url(self) -> str:
        s = self.bot.settings
        if getattr(s, "public_url", ""):
            return s.public_url.rstrip("/")
        host = self.api.host
        if host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.api.port}"

    def login_link(self, front: str, user_id: int) -> tuple[str, float]:
        token = self.auth.issue_link(front, user_id)
        return f"{self.base_url()}/login?token={token}", self.auth.link_ttl_s

    @property
    def secure(self) -> bool:
        return self.base_url().startswith("https://")

    # ---- plumbing ----------------------------------------------------------------------------

    @web.middleware
    async def _headers(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        resp = await handler(request)
        if not isinstance(resp, web.WebSocketResponse) and not resp.prepared:
            h = resp.headers
            h.setdefault("Content-Security-Policy", CSP)
            h.setdefault("X-Content-Type-Options", "nosniff")
            h.setdefault("Referrer-Policy", "no-referrer")  # the login token never leaves in a Referer
            h.setdefault("X-Frame-Options", "DENY")
            h.setdefault("Cache-Control", "no-store")
        return resp

    def session_of(self, request: web.Request) -> Session | None:
        s = self.auth.session(request.cookies.get(COOKIE))
        if s is None:
            return None
        if self.core is not None and not self.core.authorized(s.front, s.user_id):
            # the owner removed this id from the allowed users: its sessions end
            self.auth.end_all(s.front, s.user_id)
            return None
        return s

    def _page(self, body: str, status: int = 200, title: str = "") -> web.Response:
        lang = self.lang
        doc = (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
               '<meta name="viewport" content="width=device-width,initial-scale=1,viewport-fit=cover">'
               f'<title>{html.escape(title or t(lang, "title"))}</title>'
               '<link rel="stylesheet" href="/static/app.css"><link rel="manifest" href="/manifest.webmanifest">'
               '<link rel="icon" href="/static/icon-192.png"><meta name="theme-color" content="#0f172a">'
               f'</head><body class="plain"><main class="card narrow">{body}</main></body></html>')
        return web.Response(text=doc, status=status, content_type="text/html")

    def _unauth(self) -> web.Response:
        return web.json_response({"error": "unauthorized: log in with the link from /dashboard in the chat"},
                                 status=401)

    def _origin_ok(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if not origin:
            return True  # same-origin GETs and some clients send none; the CSRF token still applies
        host = (urlsplit(origin).hostname or "").lower()
        return host in self.api.allowed_hosts()

    def _action_session(self, request: web.Request) -> tuple[Session | None, web.Response | None]:
        s = self.session_of(request)
        if s is None:
            return None, self._unauth()
        if self.core is None:  # a server started without the command core (tests, tools): read-only
            return None, web.json_response({"error": "this server takes no commands"}, status=503)
        if not self._origin_ok(request) or not self.auth.csrf_ok(s, request.headers.get("X-CSRF-Token")):
            log.warning("dashboard %s refused: missing or wrong CSRF token / Origin (%s)", request.path, s.who)
            self.core._audit("web_csrf_refused", s.who, {"path": request.path})
            return None, web.json_response({"error": "CSRF token missing or wrong: reload the page"}, status=403)
        return s, None

    # ---- pages -------------------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.Response:
        s = self.session_of(request)
        lang = self.lang
        if s is None:
            return self._page(f'<h1>{t(lang, "login_needed_h")}</h1><p>{html.escape(t(lang, "login_needed"))}</p>')
        cat = json.dumps(texts(lang), ensure_ascii=False).replace("<", "\\u003c")
        doc = f"""<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1,viewport-fit=cover">
<meta name="csrf" content="{html.escape(s.csrf)}"><meta name="theme-color" content="#0f172a">
<title>kimpbot</title><link rel="stylesheet" href="/static/app.css">
<link rel="manifest" href="/manifest.webmanifest"><link rel="icon" href="/static/icon-192.png">
<link rel="apple-touch-icon" href="/static/icon-192.png">
<script id="i18n" type="application/json">{cat}</script>
<script src="/static/app.js" defer></script></head>
<body><header class="top"><span class="brand">kimpbot</span><span id="mode" class="pill"></span>
<span id="run" class="pill"></span><span id="conn" class="conn"></span>
<button id="theme" class="icon" type="button" aria-label="{t(lang, 'theme')}">◐</button>
<a class="icon" href="/logout" id="logout">{t(lang, 'logout')}</a></header>
<main>
<section class="card" id="botcard"><div class="row"><div id="state" class="state"></div>
<div class="actions"><button id="halt" class="danger" type="button">{t(lang, 'halt_btn')}</button>
<button id="resume" class="ok" type="button" hidden>{t(lang, 'resume_btn')}</button></div></div>
<div id="fx" class="muted small"></div><div id="notice" class="notice" hidden></div></section>
<section id="coins" class="coins"></section>
<section class="card"><h2 id="charttitle"></h2><div class="tabs" id="charttabs"></div>
<canvas id="chart" width="600" height="220" aria-label="premium chart"></canvas></section>
<section class="card"><h2>{t(lang, 'pending')}</h2><div id="pending"></div></section>
<section class="card"><h2>{t(lang, 'positions')}</h2><div id="positions"></div></section>
<section class="card"><h2>{t(lang, 'pnl')}</h2><div id="pnl"></div></section>
<section class="card"><h2>{t(lang, 'trades')}</h2><div id="trades"></div></section>
</main></body></html>"""
        return web.Response(text=doc, content_type="text/html")

    async def _login_page(self, request: web.Request) -> web.Response:
        lang = self.lang
        if not self.auth.login_limit.allow():
            return self._page(f"<p>{t(lang, 'login_slow')}</p>", status=429)
        token = request.query.get("token", "")[:200]
        status, link = self.auth.check_link(token)
        if status != "ok" or link is None:
            return self._page(f"<p class='bad'>{t(lang, 'login_' + status)}</p>", status=401)
        who = f"{link.front} {link.user_id}"
        return self._page(
            f"<h1>{t(lang, 'login_h')}</h1><p>{html.escape(t(lang, 'login_as', who=who))}</p>"
            f"<form method='post' action='/login'><input type='hidden' name='token' value='{html.escape(token)}'>"
            f"<button class='ok big' type='submit' id='login'>{t(lang, 'login_btn')}</button></form>")

    async def _login(self, request: web.Request) -> web.Response:
        lang = self.lang
        if not self.auth.login_limit.allow():
            return self._page(f"<p>{t(lang, 'login_slow')}</p>", status=429)
        form = await request.post()
        token = str(form.get("token", ""))[:200]
        status, s, key = self.auth.use_link(token)
        if status != "ok" or s is None:
            log.warning("dashboard login refused: %s link", status)
            return self._page(f"<p class='bad'>{t(lang, 'login_' + status)}</p>", status=401)
        if self.core is not None:
            self.core._audit("web_login", s.who, {})
        log.info("dashboard login: %s", s.who)
        resp = web.HTTPSeeOther("/")
        resp.set_cookie(COOKIE, key, max_age=int(self.auth.session_ttl_s), path="/", httponly=True,
                        samesite="Strict", secure=self.secure)
        raise resp

    async def _logout(self, request: web.Request) -> web.Response:
        s = self.session_of(request)
        self.auth.end(request.cookies.get(COOKIE))
        if s is not None and self.core is not None:
            self.core._audit("web_logout", s.who, {})
        resp = self._page(f"<p>{t(self.lang, 'logged_out')}</p>")
        resp.del_cookie(COOKIE, path="/")
        return resp

    # ---- data --------------------------------------------------------------------------------

    async def snapshot(self, force: bool = False) -> dict[str, Any]:
        bot = self.bot
        return {
            "t": "state",
            "lang": self.lang,
            "tiers": st.tiers(bot),
            "bot": st.bot_state(bot, self.core),
            "coins": st.coins(bot),
            "pending": st.pending(bot),
            "positions": await st.positions(self.core),
            "pnl": self.pnl.update(bot, self.core, force=force),
            "trades": st.trades(bot),
        }

    def charts(self) -> dict[str, Any]:
        return {"t": "charts", "charts": [st.chart(self.bot, s) for s in self.bot.market.symbols]}

    def _json(self, data: Any, status: int = 200) -> web.Response:
        return self.api._json(data, status=status)

    async def _state(self, request: web.Request) -> web.Response:
        if self.session_of(request) is None:
            return self._unauth()
        doc = await self.snapshot(force=True)
        doc["charts"] = self.charts()["charts"]
        doc["ts"] = self.bot.clock.now_ms()
        return self._json(doc)

    async def _reply(self, r: Any) -> web.Response:
        self._dirty = True
        text = r.text or r.edit or r.toast
        return self._json({"ok": not r.refused, "text": text, "data": r.data}, status=403 if r.refused else 200)

    async def _halt(self, request: web.Request) -> web.Response:
        s, bad = self._action_session(request)
        if s is None:
            return bad  # type: ignore[return-value]
        return await self._reply(await self.core.handle(s.front, s.user_id, "/halt from the dashboard"))

    async def _resume(self, request: web.Request) -> web.Response:
        s, bad = self._action_session(request)
        if s is None:
            return bad  # type: ignore[return-value]
        return await self._reply(await self.core.handle(s.front, s.user_id, "/resume"))

    async def _signal(self, request: web.Request) -> web.Response:
        s, bad = self._action_session(request)
        if s is None:
            return bad  # type: ignore[return-value]
        what = request.match_info["what"]
        pid = request.match_info["pid"][:40]
        if what not in ("execute", "skip"):
            return self._json({"error": "execute or skip"}, status=404)
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", pid):
            return self._json({"error": "no such signal"}, status=404)
        # as /confirm ID and /skip ID: the page holds no chat message whose buttons a press is bound to
        cmd = "/confirm" if what == "execute" else "/skip"
        return await self._reply(await self.core.handle(s.front, s.user_id, f"{cmd} {pid}"))

    # ---- live stream -------------------------------------------------------------------------

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        s = self.session_of(request)
        if s is None:
            return self._unauth()
        if not self._origin_ok(request):
            return web.json_response({"error": "cross-origin stream refused"}, status=403)
        if len(self.clients) >= MAX_STREAMS:
            return web.json_response({"error": "too many dashboard streams"}, status=503)
        ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=4096)
        await ws.prepare(request)
        self.api.guard.long_lived(request.transport)
        key = request.cookies.get(COOKIE, "")
        self.clients[ws] = key
        try:
            doc = await self.snapshot(force=True)
            doc["ts"] = self.bot.clock.now_ms()
            charts = self.charts()
            self._chart_marks = _marks(charts)
            await ws.send_str(json.dumps(charts, separators=(",", ":")))
            await ws.send_str(json.dumps(self.api._redact_doc(doc), separators=(",", ":")))
            self._ensure_pump()
            async for msg in ws:  # the page sends nothing that matters; a close ends the loop
                if msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
                if self.auth.session(key) is None:
                    break
        finally:
            self.clients.pop(ws, None)
        return ws

    def _ensure_pump(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        """While someone watches: every tick build the state, send it when it changed; a heartbeat
        otherwise, so the page can tell a quiet market from a dead link."""
        last_beat = time.monotonic()
        last_slow = 0.0
        while self.clients:
            await asyncio.sleep(self.tick_s)
            try:
                now = time.monotonic()
                force = self._dirty or now - last_slow > 2.0
                if force:
                    self._dirty = False
                    last_slow = now
                doc = await self.snapshot(force=force)
                body = json.dumps(self.api._redact_doc(doc), separators=(",", ":"))
                msgs: list[str] = []
                if body != self._last_sent:
                    self._last_sent = body
                    msgs.append(body[:-1] + f',"ts":{self.bot.clock.now_ms()}}}')
                    last_beat = now
                elif now - last_beat >= self.heartbeat_s:
                    msgs.append(json.dumps({"t": "hb", "ts": self.bot.clock.now_ms()}))
                    last_beat = now
                marks = _marks(self.charts()) if force else self._chart_marks
                if marks != self._chart_marks:  # a bar closed: new chart history
                    self._chart_marks = marks
                    msgs.insert(0, json.dumps(self.charts(), separators=(",", ":")))
                for m in msgs:
                    await self._broadcast(m)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a read failed mid-switch, say: keep the stream alive
                log.warning("dashboard update failed: %s: %s", type(exc).__name__, exc)

    async def _broadcast(self, text: str) -> None:
        # in parallel: one stuck phone must not delay the others
        await asyncio.gather(*(self._send(ws, key, text) for ws, key in list(self.clients.items())))

    async def _send(self, ws: web.WebSocketResponse, key: str, text: str) -> None:
        if ws.closed:
            self.clients.pop(ws, None)
            return
        if self.auth.session(key) is None:  # logged out or expired: the stream ends too
            self.clients.pop(ws, None)
            await ws.close(code=4401, message=b"session ended")
            return
        try:
            await asyncio.wait_for(ws.send_str(text), timeout=5)
        except Exception:  # a dead or stuck client: drop it, the page reconnects
            self.clients.pop(ws, None)
            asyncio.ensure_future(ws.close())

    # ---- files -------------------------------------------------------------------------------

    def _bytes(self, name: str) -> bytes:
        b = self._files.get(name)
        if b is None:
            b = self._files[name] = _static(name)
        return b

    def _file(self, name: str, scope: bool = False) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            return self._send_file(name, scope)
        return handler

    def _send_file(self, name: str, scope: bool = False) -> web.Response:
        ext = name[name.rfind("."):]
        resp = web.Response(body=self._bytes(name), content_type=STATIC_TYPES.get(ext, "application/octet-stream"))
        resp.headers["Cache-Control"] = "no-cache"  # revalidate: a new version shows up at once
        if scope:
            resp.headers["Service-Worker-Allowed"] = "/"
        return resp

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if "/" in name or name.startswith(".") or name[name.rfind("."):] not in STATIC_TYPES:
            raise web.HTTPNotFound()
        try:
            return self._send_file(name)
        except (FileNotFoundError, IsADirectoryError):
            raise web.HTTPNotFound() from None

    async def _manifest(self, request: web.Request) -> web.Response:
        lang = self.lang
        doc = {"name": "kimpbot", "short_name": "kimpbot", "lang": lang, "start_url": "/", "scope": "/",
               "display": "standalone", "background_color": "#0f172a", "theme_color": "#0f172a",
               "description": t(lang, "premium"),
               "icons": [{"src": "/static/icon-192.png", "sizes": "192x192", "type": "image/png"},
                         {"src": "/static/icon-512.png", "sizes": "512x512", "type": "image/png"},
                         {"src": "/static/icon.svg", "sizes": "any", "type": "image/svg+xml"}]}
        resp = web.json_response(doc, content_type="application/manifest+json")
        resp.headers["Cache-Control"] = "no-cache"
        return resp


def _marks(charts: dict[str, Any]) -> dict[str, Any]:
    """What identifies a chart's history: a closed bar changes its length or (once the 24 h window
    is full) its last close and first timestamp."""
    return {c["sym"]: (len(c["p"]), c["p"][-1] if c["p"] else None, c["ts"][0] if c["ts"] else None)
            for c in charts["charts"]}
