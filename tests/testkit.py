"""Helpers shared by test packages (on pytest's ``pythonpath``; fixtures stay in conftest files)."""

from __future__ import annotations

import asyncio
import inspect
import os
from pathlib import Path
from typing import Any, Callable


def short_window(max_quote_age_s: float = 3) -> str:
    """A strategy text whose short z window keeps warm-up fast in tests (FX polled each second,
    quotes stale after ``max_quote_age_s``); everything else is SPEC's defaults."""
    return f"""
[zscore]
window_days = 1
[fx]
poll_seconds = 1
[market]
max_quote_age_s = {max_quote_age_s}
"""


SHORT_WINDOW = short_window()


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


# Hand-checkable backtests (tests/backtest): one symbol, the whole capital on it, the costs given.
HAND_OWNER = """
symbols = ["BTC"]
[zscore]
window_days = {days}
[zscore.allocation]         # zscore/multi_timeframe: the whole capital on BTC (hand-checkable sizes)
BTC = 1.0
[optimized.allocation]
BTC = 0.4
[fees]
upbit_taker = {fee}
binance_taker = {fee}
[backtest]
slippage_pct = {slip}
funding_rate_8h = {funding}
"""


def hand_owner(days: float = 10 / 24, fee: float = 0.0, slip: float = 0.0, funding: float = 0.0, extra: str = ""):
    """The owner config of HAND_OWNER (a z window of ``days``, 10 hourly bars by default)."""
    from kimpbot.strategy_file.read import load_owner_config

    return load_owner_config(None, text=HAND_OWNER.format(days=days, fee=fee, slip=slip, funding=funding) + extra)


def backtest_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """``kimpbot backtest ARGV`` in this process: its exit code, stdout and stderr."""
    import argparse

    from kimpbot.backtest import cli

    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    code = cli.run(p.parse_args(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def check_doc(doc: Path, text: str, test_file: str) -> None:
    """The generated page ``doc`` must be ``text``; ``KIMPBOT_WRITE_DOCS=1`` rewrites it first."""
    if os.environ.get("KIMPBOT_WRITE_DOCS") == "1":
        doc.parent.mkdir(parents=True, exist_ok=True)
        doc.write_text(text, encoding="utf-8")
    assert doc.read_text(encoding="utf-8") == text, f"{doc} is stale: KIMPBOT_WRITE_DOCS=1 pytest {test_file}"
