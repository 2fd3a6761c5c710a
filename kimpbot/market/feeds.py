"""Websocket market-data feeds with reconnect and back-off.

- Upbit: ``UPBIT_WS_URL`` (``wss://api.upbit.com/websocket/v1``). Subscribe with
  ``[{"ticket": ...}, {"type": "orderbook", "codes": [...]}, {"type": "ticker", ...},
  {"format": "DEFAULT"}]``; replies are binary frames of JSON. Upbit drops a
  connection idle for ~120 s, so we ping.
- Binance USDT-M: ``BINANCE_FUTURES_WS_URL`` (``wss://fstream.binance.com/public/ws``,
  where book streams live since 2026). Subscribe with
  ``{"method": "SUBSCRIBE", "params": ["btcusdt@depth20@100ms", "btcusdt@bookTicker"], "id": 1}``.
  Partial-depth streams are whole top-20 snapshots, so no sequencing is needed.

A feed only moves bytes; parsing and validation happen in the market engine, which
tells the feed whether a message was accepted.

Reconnects (a venue that drops every connection must not get hammered: Binance bans an IP that
keeps reconnecting, Upbit answers 429 then 418):

- the back-off grows on every connection that did not carry real market data for
  ``healthy_after_s`` (default 10 s). A subscription acknowledgement, a status frame or a few
  quotes before the drop do not count: a venue that accepts, acks and drops is a storm;
- delays double per failed connection, capped at ``max_backoff_s``, with jitter over the upper
  half (``next_delay``): a single drop after a healthy session reconnects within 0.125-0.25 s,
  a storm reaches the cap (30 s) within a minute and then reconnects under 3 times a minute;
- a hard budget of connection attempts per window, a fraction (``connect_budget``, default 0.2)
  of each venue's documented limit, holds whatever the back-off does:
  Binance USDT-M: 300 connections per 5 minutes per IP (developers.binance.com, "Websocket Market
  Streams"); Upbit: 5 connection requests per second and 100 per minute (docs.upbit.com,
  "Rate Limits", WebSocket connection group).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import deque
from typing import Any, Callable

import aiohttp

from kimpbot.backoff import Backoff
from kimpbot.clock import Clock

log = logging.getLogger(__name__)

MessageHandler = Callable[[dict[str, Any]], None]


class WsFeed:
    """Connect, subscribe, read; on any failure reconnect with capped exponential back-off."""

    name = "ws"
    # the venue's documented limits on new connections: (connections, per seconds)
    connect_limits: tuple[tuple[int, float], ...] = ()

    def __init__(self, url: str, session: aiohttp.ClientSession, on_message: MessageHandler, clock: Clock, *,
                 idle_timeout_s: float = 15.0, max_backoff_s: float = 30.0, heartbeat_s: float = 20.0,
                 base_backoff_s: float = 0.25, healthy_after_s: float = 10.0, connect_budget: float = 0.2) -> None:
        self.url = url
        self.session = session
        self.on_message = on_message
        self.clock = clock
        self.idle_timeout_s = idle_timeout_s
        self.max_backoff_s = max_backoff_s
        self.heartbeat_s = heartbeat_s
        self.base_backoff_s = base_backoff_s
        self.healthy_after_s = healthy_after_s
        self.connect_budget = connect_budget
        self.backoff_s = 0.0  # the last delay drawn
        self.failed_sessions = 0  # connections in a row that never became healthy
        self.attempts: deque[float] = deque()  # monotonic times of connection attempts, recent ones
        self.connected = False
        self.connects = 0
        self.disconnects = 0
        self.rejected = 0
        self.last_message_ms = 0
        self.last_error = ""
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def subscription(self) -> str | bytes:
        raise NotImplementedError

    def decode(self, msg: aiohttp.WSMessage) -> Any:
        return json.loads(msg.data)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name=f"feed-{self.name}")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def run(self) -> None:
        while not self._stopping:
            await self._respect_budget()
            self.attempts.append(time.monotonic())
            try:
                await self._session_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any network or protocol failure: log one line, back off, retry
                self.last_error = f"{type(exc).__name__}: {exc}"[:200]
            self.connected = False
            if self._stopping:
                break
            self.disconnects += 1
            self.failed_sessions += 1
            delay = self.next_delay()
            log.warning("%s websocket disconnected (%s); reconnecting in %.1f s (%d failed connection(s) in a row)",
                        self.name, self.last_error or "closed by server", delay, self.failed_sessions)
            await asyncio.sleep(delay)

    def next_delay(self) -> float:
        """Exponential back-off with jitter over its upper half ("equal jitter"): the n-th failed
        session in a row waits ``d/2 + uniform(0, d/2)``, ``d = min(cap, base x 2^(n-1))``. Jitter
        spreads reconnects; the half that is not random keeps the growth steady (a full jitter
        ``uniform(0, d)`` can draw near zero several times running, a burst the venue counts)."""
        policy = Backoff(self.base_backoff_s, self.max_backoff_s)
        self.backoff_s = policy.wait_for(self.failed_sessions - 1)
        return self.backoff_s

    def _healthy(self) -> None:
        """Real market data has flowed for ``healthy_after_s``: the next drop reconnects quickly."""
        log.info("%s websocket healthy again after %d failed connection(s)", self.name, self.failed_sessions)
        self.failed_sessions = 0

    def budget(self) -> list[tuple[int, float]]:
        """Connection attempts allowed per window: ``connect_budget`` of each documented limit (>= 1)."""
        return [(max(1, int(n * self.connect_budget)), w) for n, w in self.connect_limits]

    async def _respect_budget(self) -> None:
        """Wait until one more connection attempt stays within every window's budget."""
        budget = self.budget()
        keep = max((w for _, w in budget), default=0.0)
        while not self._stopping:
            now = time.monotonic()
            while self.attempts and now - self.attempts[0] > keep:
                self.attempts.popleft()
            wait = 0.0
            for n, w in budget:
                recent = [t for t in self.attempts if now - t < w]
                if len(recent) >= n:
                    wait = max(wait, recent[-n] + w - now)
            if wait <= 0:
                return
            log.warning("%s websocket: %d connection attempts recently, at the budget of %s; waiting %.1f s",
                        self.name, len(self.attempts), ", ".join(f"{n} per {w:g} s" for n, w in budget), wait)
            await asyncio.sleep(wait)

    def is_market_data(self, payload: dict[str, Any]) -> bool:
        """A quote or book (not an acknowledgement or a status frame)."""
        return True

    async def _session_once(self) -> bool:
        """One connection's life; returns whether it delivered any market data."""
        self.last_error = ""
        received = False
        first_data: float | None = None  # monotonic time of the first market data on this connection
        async with self.session.ws_connect(self.url, heartbeat=self.heartbeat_s,
                                           timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
                                           autoping=True, max_msg_size=4 * 1024 * 1024) as ws:
            sub = self.subscription()
            if isinstance(sub, bytes):
                await ws.send_bytes(sub)
            else:
                await ws.send_str(sub)
            self.connected = True
            self.connects += 1
            log.info("%s websocket connected (%s)", self.name, _redact_url(self.url))
            while not self._stopping:
                try:
                    # aiohttp's own timeout: asyncio.wait_for on 3.11 can swallow the cancel of stop()
                    msg = await ws.receive(timeout=self.idle_timeout_s)
                except asyncio.TimeoutError:
                    self.last_error = f"no data for {self.idle_timeout_s:g} s"
                    return received
                if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    try:
                        payload = self.decode(msg)
                    except (ValueError, UnicodeDecodeError) as exc:
                        self.rejected += 1
                        log.warning("%s websocket: rejected a frame that is not JSON (%s)", self.name,
                                    str(exc)[:80])
                        continue
                    if isinstance(payload, dict):
                        self.last_message_ms = self.clock.now_ms()
                        if self.is_market_data(payload):
                            received = True
                            now = time.monotonic()
                            if first_data is None:
                                first_data = now
                            elif self.failed_sessions and now - first_data >= self.healthy_after_s:
                                self._healthy()
                        self.on_message(payload)
                    else:
                        self.rejected += 1
                        log.warning("%s websocket: rejected a frame that is not a JSON object", self.name)
                elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                    self.last_error = f"closed by server (code {ws.close_code})"
                    return received
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    self.last_error = f"error: {ws.exception()}"
                    return received
            return received


class UpbitFeed(WsFeed):
    name = "upbit"
    connect_limits = ((5, 1.0), (100, 60.0))  # connection requests: 5 per second, 100 per minute

    def is_market_data(self, payload: dict[str, Any]) -> bool:
        return (payload.get("type") or payload.get("ty")) in ("orderbook", "ticker")

    def __init__(self, url: str, session: aiohttp.ClientSession, on_message: MessageHandler, clock: Clock,
                 symbols: list[str], **kw: Any) -> None:
        super().__init__(url, session, on_message, clock, **kw)
        self.codes = [f"KRW-{s}" for s in symbols]

    def subscription(self) -> str:
        return json.dumps([
            {"ticket": f"kimpbot-{uuid.uuid4()}"},
            {"type": "orderbook", "codes": self.codes},
            {"type": "ticker", "codes": self.codes + ["KRW-USDT"]},
            {"format": "DEFAULT"},
        ])


class BinanceFeed(WsFeed):
    name = "binance"
    connect_limits = ((300, 300.0),)  # 300 connections per 5 minutes per IP

    def is_market_data(self, payload: dict[str, Any]) -> bool:
        return "e" in payload or "stream" in payload  # not the {"result": null, "id": 1} acknowledgement

    def __init__(self, url: str, session: aiohttp.ClientSession, on_message: MessageHandler, clock: Clock,
                 symbols: list[str], **kw: Any) -> None:
        super().__init__(url, session, on_message, clock, **kw)
        self.streams: list[str] = []
        for s in symbols:
            low = s.lower()
            self.streams += [f"{low}usdt@depth20@100ms", f"{low}usdt@bookTicker"]

    def subscription(self) -> str:
        return json.dumps({"method": "SUBSCRIBE", "params": self.streams, "id": 1})


def _redact_url(url: str) -> str:
    # A websocket URL carries no secret here, but never print a query string.
    return url.split("?", 1)[0]
