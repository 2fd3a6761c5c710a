"""Helpers shared by test packages (on pytest's ``pythonpath``; fixtures stay in conftest files)."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, Callable

# A short z window keeps warm-up fast in tests; everything else is SPEC's defaults.
SHORT_WINDOW = """
[zscore]
window_days = 1
[fx]
poll_seconds = 1
[market]
max_quote_age_s = 3
"""


async def wait_until(cond: Callable[[], Any], timeout: float = 30.0, step: float = 0.05) -> bool:
    """Poll ``cond`` (plain or async) until it is true; False when ``timeout`` passes first."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        res = cond()
        if inspect.isawaitable(res):
            res = await res
        if res:
            return True
        await asyncio.sleep(step)
    return False
