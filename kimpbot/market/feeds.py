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
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import uuid
from typing import Any, Callable

import aiohttp

from kimpbot.clock import Clock

log = logging.getLogger(__name__)

MessageHandler = Callable[[dict[str, Any]], None]


class WsFeed:
    """Connect, subscribe, read; on any failure reconnect with capped exponential back-off."""

    name = "ws"

    def __init__(self, url: str, session: aiohttp.ClientSession, on_message: MessageHandler, clock: Clock, *,
                 idle_timeout_s: float = 15.0, max_backoff_s: float = 30.0, heartbeat_s: float = 20.0) -> None:
        self.url = url
        self.session = session
        self.on_message = on_message
        self.clock = clock
        self.idle_timeout_s = idle_timeout_s
        self.max_backoff_s = max_backoff_s
        self.heartbeat_s = heartbeat_s
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
        attempt = 0
        while not self._stopping:
            received = False
            try:
                received = await self._session_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any network or protocol failure: log one line, back off, retry
                self.last_error = f"{type(exc).__name__}: {exc}"[:200]
            self.connected = False
            # A session that delivered data resets the back-off; a failing one doubles it.
            attempt = 0 if received else attempt + 1
            if self._stopping:
                break
            self.disconnects += 1
            delay = min(self.max_backoff_s, 0.25 * 2 ** min(attempt, 10)) * (0.8 + 0.4 * random.random())
            log.warning("%s websocket disconnected (%s); reconnecting in %.1f s", self.name,
                        self.last_error or "closed by server", delay)
            await asyncio.sleep(delay)

    async def _session_once(self) -> bool:
        """One connection's life; returns whether it delivered any message."""
        self.last_error = ""
        received = False
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
                        received = True
                        self.last_message_ms = self.clock.now_ms()
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
