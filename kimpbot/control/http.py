"""kimpbot's HTTP server (aiohttp, 127.0.0.1 by default): uptime monitors and the owner's dashboard.

=================  ==============================================================================
``GET /health``    public. 200 ``{"status": "ok", ...}`` while every symbol's books are fresh, the
                   FX rate in use is fresh (not jumping, agreeing with the other source) and the
                   scheduler runs; otherwise 503 ``{"status": "unhealthy", "reasons": [...]}``. The
                   z window warming up is not a fault: it is listed under ``notes``.
``GET /status``    mode, trade mode, running/halted, why not trading (``not_trading``), orders
                   without a final answer (``unresolved``), FX source and rate, premium and z per
                   symbol, feed states
``GET /positions`` open pair positions (``[]`` and ``"trading": false`` in a bot without trading)
``GET /trades``    trades, newest first; ``?limit=N`` (1-1000, default 50)
``/`` and others   the dashboard (``kimpbot.web``): a login link from ``/dashboard`` in the chat
=================  ==============================================================================

The three JSON endpoints answer 401 unless the request carries ``Authorization: Bearer
<KIMPBOT_HTTP_TOKEN>`` (monitors) or a dashboard session. No secret ever reaches an answer:
every string is passed through the same redaction as the logs (``Settings.secrets()``). The
handlers only read the bot's in-memory state on the bot's own event loop; the access log is off.

Hardening (issue 10 §5): every connection goes through :class:`~kimpbot.control.httpguard.
ConnectionGuard` (header and request timeouts, a connection cap that evicts idle sockets first,
no keep-alive), accept() failures are logged at most once a minute, and the Host header must name
this server (the bind address, localhost, ``KIMPBOT_PUBLIC_URL``'s host or
``KIMPBOT_HTTP_ALLOWED_HOSTS``) so a DNS-rebinding page cannot read it through the owner's
browser. A non-loopback bind without ``KIMPBOT_HTTP_TOKEN`` is refused by the config.
``KIMPBOT_HTTP_PORT=0`` switches the server off.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import logging
import math
from decimal import Decimal
from enum import Enum
from typing import Any, Awaitable, Callable

from aiohttp import web

from kimpbot.config import is_loopback
from kimpbot.control.format import unresolved_orders
from kimpbot.control.httpguard import AcceptErrorLog, ConnectionGuard, GuardedSite
from kimpbot.logs import RedactingFilter

log = logging.getLogger(__name__)

# Problems that do not make the bot unhealthy (it is starting up, not failing).
NOT_A_FAULT = ("z window warming up",)
DEFAULT_TRADES = 50
MAX_TRADES = 1000


class HttpApiError(RuntimeError):
    """The endpoint could not start (the message says why and what to do)."""


def jsonable(value: Any) -> Any:
    """Plain JSON data: Decimal -> str (exact), Enum -> value, dataclass -> dict, NaN/inf -> None."""
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else None
    if isinstance(value, Enum):
        return jsonable(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "_asdict"):  # NamedTuple
        return jsonable(value._asdict())
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return str(value)


def _redact(value: Any, flt: RedactingFilter) -> Any:
    if isinstance(value, str):
        return flt.redact(value)
    if isinstance(value, dict):
        return {flt.redact(k): _redact(v, flt) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, flt) for v in value]
    return value


def _age_s(now_ms: int, ts_ms: int | None) -> float | None:
    if not ts_ms:
        return None
    return round((now_ms - ts_ms) / 1000.0, 3)


def _is_fault(problem: str) -> bool:
    return not any(marker in problem for marker in NOT_A_FAULT)


def health_report(bot: Any) -> tuple[bool, dict[str, Any]]:
    """(healthy, body) for ``/health``; usable without the server (tests, console)."""
    now = bot.clock.now_ms()
    reasons: list[str] = []
    notes: list[str] = []
    if not getattr(bot.state, "started_ms", 0):
        reasons.append("bot not started")
    sch = getattr(bot, "scheduler", None)
    if sch is None or not getattr(sch, "running", False):
        reasons.append("scheduler not running")
    market = bot.market
    reasons.extend(market.global_problems())
    for sym in market.symbols:
        for p in market.symbol_problems(sym):
            (reasons if _is_fault(p) else notes).append(p)
    body: dict[str, Any] = {"status": "ok" if not reasons else "unhealthy"}
    if reasons:
        body["reasons"] = reasons
    if notes:
        body["notes"] = notes
    body.update({"mode": bot.settings.mode, "symbols": list(market.symbols), "ts": now,
                 "uptime_s": _age_s(now, getattr(bot.state, "started_ms", 0))})
    return not reasons, body


def _trader(bot: Any) -> Any:
    return getattr(bot, "trader", None)


def _not_trading(bot: Any) -> str | None:
    fn = getattr(bot, "trading_status", None)
    why = fn() if callable(fn) else getattr(getattr(bot, "state", None), "not_trading", "")
    return why or None


def status_report(bot: Any) -> dict[str, Any]:
    now = bot.clock.now_ms()
    market = bot.market
    trader = _trader(bot)
    fx = market.fx
    cur = fx.rate()
    other_name = "usdt" if fx.source == "usdkrw" else "usdkrw"
    other = fx.states[other_name].latest
    glob = market.global_problems()
    symbols: dict[str, Any] = {}
    for sym in market.symbols:
        view = market.views[sym]
        snap = view.snapshot
        probs = market.symbol_problems(sym)
        symbols[sym] = {
            "premium_pct": None if snap is None else {
                "quoted": snap.quoted, "mid": snap.mid, "exec_long": snap.exec_long, "exec_short": snap.exec_short},
            "z": {"mid": view.z_mid, "long": view.z_long, "short": view.z_short},
            "order_krw": market.order_krw.get(sym),
            "age_s": None if snap is None else _age_s(now, snap.ts),
            "signals_allowed": not glob and not probs,
            "problems": probs,
        }
    feeds = [{
        "name": getattr(f, "name", "?"),
        "connected": bool(getattr(f, "connected", False)),
        "last_message_ms": getattr(f, "last_message_ms", 0) or None,
        "last_message_age_s": _age_s(now, getattr(f, "last_message_ms", 0)),
        "connects": getattr(f, "connects", None),
        "disconnects": getattr(f, "disconnects", None),
        "last_error": getattr(f, "last_error", "") or None,
    } for f in getattr(bot, "feeds", [])]
    sch = getattr(bot, "scheduler", None)
    out: dict[str, Any] = {
        "mode": bot.settings.mode,
        "trade_mode": trader.state.trade_mode if trader is not None else bot.settings.trade_mode,
        "strategy": bot.owner.strategy.strategy,
        "symbols": list(market.symbols),
        "running": bool(trader.running if trader is not None else bot.state.running),
        "halted": False,
        "halt": None,
        "trading": trader is not None,
        # why there is no trader (NOT TRADING and its cause, starting, watching only); None while trading
        "not_trading": _not_trading(bot),
        # orders with no final answer yet: no order of that coin goes out until each has one
        "unresolved": unresolved_orders(trader, now),
        "ts": now,
        "started_ms": getattr(bot.state, "started_ms", 0) or None,
        "uptime_s": _age_s(now, getattr(bot.state, "started_ms", 0)),
        "scheduler_running": bool(sch is not None and getattr(sch, "running", False)),
        "fx": {
            "source": fx.source,
            "label": fx.label,
            "rate": cur.rate if cur else None,
            "age_s": _age_s(now, cur.received_ts) if cur else None,
            other_name: None if other is None else {"rate": other.rate, "age_s": _age_s(now, other.received_ts)},
            "usdt_vs_bank_pct": fx.divergence_pct(),
            "source_age_s": _age_s(now, cur.exchange_ts) if cur else None,
            "suspect": fx.suspect,
            "note": fx.note() or None,
            "problems": glob,
        },
        "premiums": symbols,
        "feeds": feeds,
    }
    if trader is not None:
        hs = trader.store.halt_state()
        out["halted"] = bool(hs.halted)
        out["halt"] = {"reason": hs.reason, "by": hs.by, "ts": hs.ts} if hs.halted else None
        journal = getattr(trader, "journal", None)  # halt kind "store": the journal cannot be written
        out["store_halt"] = journal.reason() if journal is not None and journal.halted else None
        pending = getattr(trader.state, "pending", {}) or {}
        out["pending_signals"] = sum(1 for p in pending.values() if getattr(p, "state", "") == "pending")
        out["open_positions"] = len(trader.positions())
        out["funding_next_ms"] = dict(getattr(trader, "funding_next", {}) or {})
    return out


def positions_report(bot: Any) -> dict[str, Any]:
    trader = _trader(bot)
    if trader is None:
        return {"trading": False, "positions": []}
    return {"trading": True, "mode": bot.settings.mode, "positions": list(trader.positions())}


def trades_report(bot: Any, limit: int) -> dict[str, Any]:
    trader = _trader(bot)
    if trader is None:
        return {"trading": False, "limit": limit, "trades": []}
    return {"trading": True, "mode": bot.settings.mode, "limit": limit, "trades": trader.store.trades(limit=limit)}


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class HttpApi:
    """``await HttpApi(bot, core=core).start()`` serves on ``settings.http_host:http_port``; pass
    ``port=0`` for an ephemeral port (tests) and read the bound one from ``.port``. With a command
    core the dashboard is mounted too (its Halt / Execute go through that core)."""

    def __init__(self, bot: Any, host: str | None = None, port: int | None = None, *, core: Any = None,
                 max_connections: int = 256, header_timeout_s: float = 10.0, request_timeout_s: float = 30.0,
                 dashboard: bool = True) -> None:
        self.bot = bot
        self.core = core
        self.host = host if host is not None else bot.settings.http_host
        self._requested_port = int(port if port is not None else bot.settings.http_port)
        self.port: int = 0
        self._runner: web.AppRunner | None = None
        self._redactor = RedactingFilter(bot.settings.secrets())
        self.guard = ConnectionGuard(max_connections=max_connections, header_timeout_s=header_timeout_s,
                                     request_timeout_s=request_timeout_s)
        self.accept_log = AcceptErrorLog()
        self.token: str = getattr(bot.settings, "http_token", "") or ""
        self.dashboard: Any = None
        if dashboard:
            from kimpbot.web import Dashboard

            self.dashboard = Dashboard(bot, core, self)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def allowed_hosts(self) -> set[str]:
        """Host header names this server answers (DNS rebinding: a page on evil.example whose name
        resolves to 127.0.0.1 sends ``Host: evil.example`` and is refused)."""
        from urllib.parse import urlsplit

        s = self.bot.settings
        names = {"localhost", "127.0.0.1", "::1"}
        if self.host not in ("", "0.0.0.0", "::"):
            names.add(self.host.strip("[]").lower())
        public = getattr(s, "public_url", "")
        if public:
            names.add((urlsplit(public).hostname or "").lower())
        names.update(getattr(s, "http_allowed_hosts", ()) or ())
        return {n for n in names if n}

    # ---- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self._hosts = self.allowed_hosts()
        app = web.Application(middlewares=[self._check_host, self._guard], client_max_size=64 * 1024)
        app.on_response_prepare.append(self._no_keepalive)
        app.router.add_get("/health", self._health)
        app.router.add_get("/status", self._status)
        app.router.add_get("/positions", self._positions)
        app.router.add_get("/trades", self._trades)
        if self.dashboard is not None:
            self.dashboard.setup(app)
        else:
            app.router.add_get("/", self._index)
        # keepalive_timeout: aiohttp's own idle close (belt and braces: responses close anyway)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0,
                               keepalive_timeout=self.guard.header_timeout_s)
        await runner.setup()
        try:
            # asyncio accepts up to `backlog` sockets per wake-up before any of them is looked at:
            # a small backlog bounds the descriptors a connection storm can take at once
            site = GuardedSite(runner, self.host, self._requested_port, self.guard, reuse_address=True,
                               backlog=max(8, min(64, self.guard.max_connections // 2)))
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise HttpApiError(
                f"cannot serve the status endpoint on {self.host}:{self._requested_port} ({exc.strerror or exc}); "
                "set KIMPBOT_HTTP_PORT to a free port, or 0 to switch the endpoint off") from None
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        self.accept_log.install(asyncio.get_running_loop())
        if self.dashboard is not None:
            await self.dashboard.start()
        log.info("HTTP server on %s (/health public; /status /positions /trades with the bearer token; "
                 "dashboard at /)", self.url)
        if not is_loopback(self.host):
            log.warning("HTTP server bound to %s: reachable from other machines; put it behind TLS "
                        "(deploy/Caddyfile)", self.host)

    async def stop(self) -> None:
        if self.dashboard is not None:
            await self.dashboard.stop()
        self.accept_log.uninstall()
        if self._runner is not None:
            self.guard.close_all()
            await self._runner.cleanup()
            self._runner = None

    # ---- plumbing -------------------------------------------------------------------------

    def _redact_doc(self, data: Any) -> Any:
        return _redact(jsonable(data), self._redactor)

    def _json(self, data: Any, status: int = 200) -> web.Response:
        body = self._redact_doc(data)
        return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})

    @staticmethod
    async def _no_keepalive(request: web.Request, response: web.StreamResponse) -> None:
        # one request per connection: "idle" then only exists before the headers, where the
        # connection guard's header timeout and cap eviction apply
        if not isinstance(response, web.WebSocketResponse):
            response.force_close()
            # aiohttp >= 3.10 runs this hook after it wrote its own Connection header: say it here,
            # or a client reuses the connection and a POST fails with "server disconnected"
            response.headers["Connection"] = "close"

    def host_ok(self, request: web.Request) -> bool:
        raw = (request.headers.get("Host") or "").strip().lower()
        if raw.startswith("["):
            name = raw[1:raw.find("]")] if "]" in raw else raw
        else:
            name = raw.rsplit(":", 1)[0] if raw.count(":") == 1 else raw
        return bool(name) and name in self._hosts

    @web.middleware
    async def _check_host(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self.host_ok(request):
            self.guard.note("host", f"HTTP request refused: Host header {request.headers.get('Host', '')[:80]!r} is "
                                    "not this server (add it to KIMPBOT_HTTP_ALLOWED_HOSTS or KIMPBOT_PUBLIC_URL)")
            return web.Response(status=421, text="421 Misdirected Request: unknown Host header. Use this server's "
                                                 "address, or add the name to KIMPBOT_HTTP_ALLOWED_HOSTS.\n",
                                headers={"Cache-Control": "no-store"})
        return await handler(request)

    def bearer_ok(self, request: web.Request) -> bool:
        if not self.token:
            return False
        auth = request.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self.token.encode())

    def _authorized(self, request: web.Request) -> bool:
        if self.bearer_ok(request):
            return True
        return self.dashboard is not None and self.dashboard.session_of(request) is not None

    def _unauthorized(self) -> web.Response:
        return self._json({"error": "unauthorized: send Authorization: Bearer <KIMPBOT_HTTP_TOKEN>, or log in "
                                    "to the dashboard with /dashboard in the chat"}, status=401)

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status in (404, 405):
                return self._json({"error": exc.reason, "endpoints": _ENDPOINTS}, status=exc.status)
            raise
        except Exception as exc:  # a read failed (e.g. the store is closing): say so, keep serving
            msg = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("HTTP %s failed: %s", request.path, self._redactor.redact(msg))
            return self._json({"error": msg}, status=500)

    # ---- handlers -------------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.Response:
        return self._json({"service": "kimpbot", "endpoints": _ENDPOINTS})

    async def _health(self, request: web.Request) -> web.Response:
        ok, body = health_report(self.bot)
        return self._json(body, status=200 if ok else 503)

    async def _status(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        return self._json(status_report(self.bot))

    async def _positions(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        return self._json(positions_report(self.bot))

    async def _trades(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        raw = request.query.get("limit", str(DEFAULT_TRADES))
        try:
            limit = int(raw)
            if not 1 <= limit <= MAX_TRADES:
                raise ValueError
        except ValueError:
            return self._json({"error": f"limit must be an integer 1-{MAX_TRADES}, got {raw[:20]!r}"}, status=400)
        return self._json(trades_report(self.bot, limit))


_ENDPOINTS = ["/health", "/status", "/positions", "/trades?limit=N"]
