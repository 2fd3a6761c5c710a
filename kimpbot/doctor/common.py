"""What every doctor check shares: the result row, a timed GET, transport errors in one line."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import aiohttp
from yarl import URL

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
DEFAULT_MAX_SKEW_MS = 1000
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_BINANCE_SPOT_API_URL = "https://api.binance.com"
MIN_FREE_BYTES = 100 * 1024 * 1024
RECV_WINDOW_MS = 5000
_UA = {"User-Agent": "kimpbot-doctor", "Accept": "application/json"}

NowMs = Callable[[], int]


def system_now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str  # PASS | FAIL | SKIP
    detail: str


class _Reply:
    def __init__(self, status: int, text: str, ms: int) -> None:
        self.status = status
        self.text = text
        self.ms = ms
        try:
            self.data: Any = json.loads(text) if text else None
        except ValueError:
            self.data = None

    def brief(self) -> str:
        return " ".join(self.text.split())[:160]


async def _get(session: aiohttp.ClientSession, url: str | URL, headers: Mapping[str, str] | None = None) -> _Reply:
    t0 = time.monotonic()
    async with session.get(url, headers={**_UA, **(headers or {})}) as resp:
        text = await resp.text(errors="replace")
        return _Reply(resp.status, text, int((time.monotonic() - t0) * 1000))


def _neterr(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "no answer within the timeout"
    return f"{type(exc).__name__}: {exc}"[:200]
