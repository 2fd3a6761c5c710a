"""Plumbing shared by the fake servers: replies, fault effects, param parsing, control API.

The wire conventions themselves (Upbit Open API v1, Binance USDⓈ-M Futures, dunamu forex) live in
``upbit.py``, ``binance.py`` and ``fx.py``; this module only applies them: every REST handler runs
inside ``FakeBase.route`` (fault injection, venue-style error bodies, never an escaping exception).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterable, Self
from urllib.parse import parse_qsl

from aiohttp import web

from kimpbot.sim.faults import Fault

if TYPE_CHECKING:  # pragma: no cover
    from kimpbot.sim.market import SimMarket

log = logging.getLogger("kimpbot.sim")

try:
    RAW_BODY: Any = web.RequestKey("raw_body", bytes)
    LATE_BOOKING: Any = web.RequestKey("late_booking", bool)
except AttributeError:  # older aiohttp
    RAW_BODY = "raw_body"
    LATE_BOOKING = "late_booking"


@dataclass
class Reply:
    status: int = 200
    data: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    text: str | None = None           # a non-JSON body (Upbit's 429, FX's HTML errors)
    content_type: str = "application/json"


class ApiError(Exception):
    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def dumps(data: Any) -> bytes:
    # allow_nan: the "nan" fault needs a literal NaN in Upbit/FX numbers
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=True).encode()


def truncate(body: bytes) -> bytes:
    """A body cut short (a dropped proxy stream): never valid JSON."""
    if len(body) < 4:
        return b'{"'
    cut = body[: max(2, len(body) // 2)]
    try:
        json.loads(cut)
    except Exception:
        return cut
    return cut + b'{"'


def drop(request: web.Request) -> web.StreamResponse:
    """Close the TCP connection without answering (the "lost" fault)."""
    tr = request.transport
    if tr is not None:
        tr.close()
    return web.Response(status=200, text="")


# price fields a "nan"/"negative" fault corrupts, most important first
PRICE_KEYS = ("trade_price", "ask_price", "bid_price", "basePrice", "bidPrice", "askPrice", "markPrice",
              "price", "avgPrice", "b", "a", "opening_price")


def corrupt(data: Any, kind: str, *, binance: bool = False) -> Any:
    """Return ``data`` with its first price field made NaN or negative (structure kept)."""
    done = [False]

    def bad(v: Any) -> Any:
        if kind == "nan":
            return "NaN" if isinstance(v, str) else float("nan")
        try:
            x = -abs(float(v)) or -1.0
        except (TypeError, ValueError):
            x = -1.0
        return str(x) if isinstance(v, str) else x

    def walk(obj: Any) -> Any:
        if done[0]:
            return obj
        if isinstance(obj, dict):
            for k in PRICE_KEYS:
                if k in obj and not isinstance(obj[k], (dict, list)):
                    obj = dict(obj)
                    obj[k] = bad(obj[k])
                    done[0] = True
                    return obj
            out = {}
            for k, v in obj.items():
                out[k] = walk(v)
            return out
        if isinstance(obj, list):
            if obj and isinstance(obj[0], list) and obj[0] and not isinstance(obj[0][0], (dict, list)):
                # Binance arrays: depth levels [[p, q], ...] or klines [[t, o, h, l, c, ...], ...]
                rows = [list(r) for r in obj]
                if len(rows[-1]) >= 6:  # klines: the newest close
                    rows[-1][4] = bad(rows[-1][4])
                else:
                    rows[0][0] = bad(rows[0][0])
                done[0] = True
                return rows
            return [walk(v) for v in obj]
        return obj

    return walk(data)


async def read_params(request: web.Request) -> tuple[dict[str, Any], bytes]:
    """Merge query-string and body parameters (form or JSON), as the real APIs accept them.

    Keys ending in ``[]`` collect lists. Returns (params, raw body).
    """
    params: dict[str, Any] = {}

    def add(k: str, v: Any) -> None:
        if k.endswith("[]"):
            params.setdefault(k, []).append(v)
        else:
            params[k] = v

    for k, v in parse_qsl(request.query_string, keep_blank_values=True):
        add(k, v)
    body = b""
    if request.can_read_body:
        body = await request.read()
    if body:
        text = body.decode("utf-8", "replace").strip()
        if text.startswith("{"):
            try:
                obj = json.loads(text)
            except Exception:
                raise
            if isinstance(obj, dict):
                for k, v in obj.items():
                    if isinstance(v, list) and not k.endswith("[]"):
                        params[k] = v
                    else:
                        add(k, v)
        else:
            for k, v in parse_qsl(text, keep_blank_values=True):
                add(k, v)
    return params, body


def fmt_num(x: float, places: int = 8) -> str:
    """Upbit's string numbers: plain decimal, trailing zeros trimmed, at least one decimal."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return str(x)
    s = f"{x:.{places}f}".rstrip("0")
    if s.endswith("."):
        s += "0"
    if s in ("-0.0",):
        s = "0.0"
    return s


def num_out(x: float) -> float | int:
    """A JSON number the way Upbit's quotation API prints it (integers without .0)."""
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return int(x)
    return round(x, 10)


Handler = Callable[[web.Request, dict[str, Any], Fault | None], Awaitable[Reply]]


def control_routes(servers: Any) -> list[web.RouteDef]:
    """``/_sim/*``: script the fakes from another process (state, premium, fx, faults)."""
    market: "SimMarket" = servers.market

    def ok(data: Any = None) -> web.Response:
        return web.json_response(data if data is not None else {"ok": True})

    def bad(msg: str) -> web.Response:
        return web.json_response({"ok": False, "error": msg}, status=400)

    async def body(request: web.Request) -> dict:
        try:
            data = await request.json()
        except Exception:
            data = dict(await request.post()) if request.can_read_body else {}
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        return data

    async def state(request: web.Request) -> web.Response:
        st = market.state()
        st["faults"] = [f.as_dict() for f in market.faults.pending()]
        st["env"] = servers.env() if getattr(servers, "started", False) else {}
        st["ws_connects"] = {v: len(ts) for v, ts in getattr(servers, "ws_connects", {}).items()}
        return ok(st)

    async def premium(request: web.Request) -> web.Response:
        try:
            d = await body(request)
            market.set_premium(str(d["symbol"]), float(d["pct"]))
            return ok({"ok": True, "symbol": str(d["symbol"]).upper(), "premium_pct": market.premium(str(d["symbol"]))})
        except Exception as e:
            return bad(f"{type(e).__name__}: {e}")

    async def price(request: web.Request) -> web.Response:
        try:
            d = await body(request)
            market.set_binance_price(str(d["symbol"]), float(d["usdt"]))
            return ok()
        except Exception as e:
            return bad(f"{type(e).__name__}: {e}")

    async def fx(request: web.Request) -> web.Response:
        try:
            d = await body(request)
            if "usdkrw" in d:
                market.set_usdkrw(float(d["usdkrw"]))
            if "usdt_krw" in d:
                market.set_usdt_krw(float(d["usdt_krw"]))
            # {"freeze_usdkrw": true, "at_ms": ...} holds the bank quote at its source (a weekend);
            # {"freeze_usdt": true} stops KRW-USDT trades; false releases either.
            if "freeze_usdkrw" in d:
                if d["freeze_usdkrw"]:
                    market.freeze_usdkrw(None if d.get("at_ms") is None else int(d["at_ms"]))
                else:
                    market.unfreeze_usdkrw()
            if "freeze_usdt" in d:
                market.freeze_usdt_trades() if d["freeze_usdt"] else market.unfreeze_usdt_trades()
            return ok({"ok": True, "usdkrw": market.usdkrw, "usdt_krw": market.usdt_krw,
                       "usdkrw_served": market.served_usdkrw()[0],
                       "usdkrw_frozen": market.usdkrw_frozen is not None,
                       "usdt_frozen": market.usdt_trade_frozen is not None})
        except Exception as e:
            return bad(f"{type(e).__name__}: {e}")

    async def fault(request: web.Request) -> web.Response:
        try:
            d = await body(request)
            if d.get("clear"):
                market.faults.clear()
                return ok()
            market.faults.inject(str(d["venue"]), str(d["endpoint"]), str(d["kind"]),
                                 count=int(d.get("count", 1)), delay_s=float(d.get("delay_s", 0.0)),
                                 fraction=float(d.get("fraction", 0.5)),
                                 error=None if d.get("error") is None else str(d["error"]))
            return ok({"ok": True, "pending": [f.as_dict() for f in market.faults.pending()]})
        except Exception as e:
            return bad(f"{type(e).__name__}: {e}")

    async def clear(request: web.Request) -> web.Response:
        market.faults.clear()
        return ok()

    async def step(request: web.Request) -> web.Response:
        try:
            d = await body(request)
            market.step(float(d.get("dt_s", 1.0)))
            return ok()
        except Exception as e:
            return bad(f"{type(e).__name__}: {e}")

    async def orders(request: web.Request) -> web.Response:
        return ok(servers.orders_json())

    return [
        web.get("/_sim/state", state),
        web.post("/_sim/premium", premium),
        web.post("/_sim/price", price),
        web.post("/_sim/fx", fx),
        web.post("/_sim/fault", fault),
        web.post("/_sim/clear", clear),
        web.delete("/_sim/fault", clear),
        web.post("/_sim/step", step),
        web.get("/_sim/orders", orders),
    ]


class FakeBase:
    """A fake venue: one aiohttp app, fault handling around every REST handler."""

    venue = ""

    def __init__(self, servers: Any) -> None:
        self.servers = servers
        self.market: "SimMarket" = servers.market
        self.app = web.Application(middlewares=[self._guard], client_max_size=1024 * 1024)
        self.app.router.add_routes(control_routes(servers))
        self._ws: set[web.WebSocketResponse] = set()
        self._late: set[asyncio.Task] = set()  # orders a "late" fault books after its delay
        self.late_booked: list[dict] = []  # what the "late" faults booked: params, status, loop time

    # --- to override -----------------------------------------------------------------
    def error_reply(self, status: int, code: Any, message: str) -> Reply:  # pragma: no cover
        raise NotImplementedError

    def reject_reply(self, path: str, params: dict, fault: Fault) -> Reply:  # pragma: no cover
        raise NotImplementedError

    def too_many_reply(self, path: str) -> Reply:  # pragma: no cover
        raise NotImplementedError

    def not_found_reply(self, request: web.Request) -> Reply:  # pragma: no cover
        raise NotImplementedError

    def common_headers(self, path: str, method: str) -> dict[str, str]:
        return {}

    def is_order_endpoint(self, method: str, path: str) -> bool:
        return False

    def claim_client_id(self, params: dict) -> Reply | None:
        """An order request arrived (before any fault): a venue whose client ids are single-use
        answers its duplicate refusal here; None lets the request go on."""
        return None

    def unknown_reply(self, path: str) -> Reply:  # pragma: no cover
        """What the venue answers when it cannot tell whether an order was executed."""
        raise NotImplementedError

    # --- machinery -------------------------------------------------------------------
    def render(self, reply: Reply, path: str, method: str, *, body: bytes | None = None) -> web.Response:
        headers = dict(self.common_headers(path, method))
        headers.update(reply.headers)
        if reply.text is not None:
            return web.Response(status=reply.status, text=reply.text, headers=headers,
                                content_type=reply.content_type.split(";")[0], charset="utf-8")
        payload = body if body is not None else dumps(reply.data)
        headers["Content-Type"] = reply.content_type + ("" if "charset" in reply.content_type else ";charset=UTF-8")
        return web.Response(status=reply.status, body=payload, headers=headers)

    @web.middleware
    async def _guard(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        """No exception ever escapes: a bug in a fake answers 500 in the venue's error format."""
        try:
            return await handler(request)
        except web.HTTPException as e:
            if e.status == 404 or e.status == 405:
                return self.render(self.not_found_reply(request), request.path, request.method)
            raise
        except asyncio.CancelledError:
            raise
        except Exception as e:  # pragma: no cover - defensive
            log.exception("sim %s: %s %s failed", self.venue, request.method, request.path)
            return self.render(self.error_reply(500, -1000 if self.venue == "binance" else "server_error",
                                                f"internal error: {type(e).__name__}"), request.path, request.method)

    def route(self, fn: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            path, method = request.path, request.method
            try:
                params, raw_body = await read_params(request)
            except Exception:
                return self.render(self.error_reply(400, -1102 if self.venue == "binance" else "validation_error",
                                                    "malformed request body"), path, method)
            request[RAW_BODY] = raw_body
            order = self.is_order_endpoint(method, path)
            if order:
                self.servers._note_order(self.venue, method, path, params)
                dup = self.claim_client_id(params)
                if dup is not None:
                    return self.render(dup, path, method)
            fault = self.market.faults.take(self.venue, path)
            if fault is not None:
                log.info("sim %s: fault %s on %s %s", self.venue, fault.kind, method, path)
                if fault.kind == "http429":
                    return self.render(self.too_many_reply(path), path, method)
                if fault.kind == "reject":
                    return self.render(self.reject_reply(path, params, fault), path, method)
                if fault.kind == "late" and order:
                    # "status unknown": nothing booked yet, invisible to queries; booked (and filled
                    # at the prices of that moment) after the delay
                    task = asyncio.ensure_future(self._book_late(fn, request, params, fault))
                    self._late.add(task)
                    task.add_done_callback(self._late.discard)
                    return self.render(self.unknown_reply(path), path, method)
            try:
                reply = await fn(request, params, fault)
            except ApiError as e:
                reply = e.reply
            if fault is None:
                return self.render(reply, path, method)
            if fault.kind == "timeout":
                await asyncio.sleep(fault.wait_s)
            elif fault.kind == "lost":
                return drop(request)
            if 200 <= reply.status < 300 and reply.text is None:
                if fault.kind in ("nan", "negative"):
                    reply.data = corrupt(reply.data, fault.kind, binance=self.venue == "binance")
                elif fault.kind == "malformed":
                    return self.render(reply, path, method, body=truncate(dumps(reply.data)))
            return self.render(reply, path, method)

        return wrapped

    async def _book_late(self, fn: Handler, request: web.Request, params: dict, fault: Fault) -> None:
        await asyncio.sleep(fault.wait_s)
        request[LATE_BOOKING] = True  # signature/timestamp were checked on arrival, not now
        try:
            reply = await fn(request, params, None)
        except ApiError as e:
            reply = e.reply
        except Exception:  # pragma: no cover - defensive
            log.exception("sim %s: late booking failed", self.venue)
            return
        self.late_booked.append({"params": dict(params), "status": reply.status,
                                 "at": asyncio.get_running_loop().time()})
        log.info("sim %s: late booking of %s answered %s", self.venue, params, reply.status)

    # --- websocket helpers ---------------------------------------------------------------
    async def ws_ended(self, ws: web.WebSocketResponse, pusher: "asyncio.Future | None", waker: "Waker",
                       ev: asyncio.Event) -> None:
        """A websocket connection's end, however it ended: its pusher stopped, no more market
        wake-ups, forgotten by close_all_ws, closed if the client has not closed it."""
        if pusher is not None:
            pusher.cancel()
        waker.events.discard(ev)  # the connection's own waker: stop() may have dropped the servers' already
        self._ws.discard(ws)
        if not ws.closed:
            await ws.close()

    async def close_all_ws(self) -> None:
        for task in list(self._late):
            task.cancel()
        for ws in list(self._ws):
            try:
                await ws.close()
            except Exception:
                pass
        self._ws.clear()


class Served:
    """``async with`` a server: ``start()`` on entry, ``stop()`` on exit."""

    async def start(self) -> None:  # pragma: no cover
        raise NotImplementedError

    async def stop(self) -> None:  # pragma: no cover
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()


async def serve_app(app: web.Application, host: str) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on an ephemeral port of ``host``: (runner, port). Every fake starts this way:
    no access log (it would print token-bearing paths), no signal handlers, a short shutdown."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, 0).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, int(runner.addresses[0][1])


class Waker:
    """Wakes websocket pushers on market changes (thread-safe, loop-aware)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.events: set[asyncio.Event] = set()

    def __call__(self) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self._set()
        elif not self.loop.is_closed():
            try:
                self.loop.call_soon_threadsafe(self._set)
            except RuntimeError:
                pass

    def _set(self) -> None:
        for ev in list(self.events):
            ev.set()


def first(params: dict, *names: str, default: Any = None) -> Any:
    for n in names:
        if n in params and params[n] not in (None, ""):
            return params[n]
    return default


def split_csv(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, list):
        out: list[str] = []
        for x in v:
            out.extend(split_csv(x))
        return out
    return [x.strip() for x in str(v).split(",") if x.strip()]


def iter_chunks(seq: Iterable, n: int) -> Iterable[list]:
    buf: list = []
    for x in seq:
        buf.append(x)
        if len(buf) == n:
            yield buf
            buf = []
    if buf:
        yield buf
