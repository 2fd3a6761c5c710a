"""Start-up across a bar boundary, end to end: the chat/e2e flake "z window warming up (289/288
bars)" made deterministic.

The FX poll runs every second from the start and recomputes the premium, so when a 5-minute bar
boundary passes while warm-up fetches candles, the first live bar closes BEFORE the history lands.
Here the clock (the sims' and the bot's, shifted from the wall clock) puts the boundary 2 s after
start, and the sim holds the first history request for 3 s (its ``timeout`` fault).
"""

from __future__ import annotations

import time

import pytest

from kimpbot.clock import SystemClock
from kimpbot.config import load_settings
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.engine import Bot
from kimpbot.sim.market import SimMarket
from kimpbot.sim.servers import SimServers
from testkit import wait_until

BAR_MS = 5 * 60_000


class ShiftedClock(SystemClock):
    """The wall clock moved by a fixed offset (both sides of the wire read the same one)."""

    def __init__(self, offset_ms: int) -> None:
        self.offset_ms = offset_ms

    def now_ms(self) -> int:
        return super().now_ms() + self.offset_ms


@pytest.fixture
async def boundary_sim():
    wall = time.time_ns() // 1_000_000
    start = wall - wall % BAR_MS + BAR_MS - 2_000  # 2 s before the next bar boundary
    clock = ShiftedClock(start - wall)
    servers = SimServers(SimMarket(seed=3, clock=clock), push_interval_s=0.1)
    await servers.start()
    try:
        yield servers, clock
    finally:
        await servers.stop()


async def test_first_live_bar_closing_during_warm_up_leaves_the_window_ready(boundary_sim, strategy_file, tmp_path):
    sim, clock = boundary_sim
    sim.market.faults.inject("upbit", "/v1/candles/minutes/5", "timeout", delay_s=3.0)
    settings = load_settings(sim.env() | {"KIMPBOT_STRATEGY_FILE": str(strategy_file),
                                          "KIMPBOT_DATA_DIR": str(tmp_path / "data")})
    bot = Bot(settings, load_owner_config(strategy_file), clock=clock, trading=False)
    start_slot = clock.now_ms() // BAR_MS
    await bot.start()
    try:
        m = bot.market
        assert "warm-up: BTC 288 bars" in bot.state.warmup_note
        # the scenario happened: a live bar of the start slot closed before the history arrived
        assert clock.now_ms() // BAR_MS > start_slot
        assert m.warm_bars["BTC"] >= 289
        assert await wait_until(lambda: m.signals_allowed("BTC"), timeout=15), m.symbol_problems("BTC")
        st = bot.strategy.stats("BTC")
        assert st.ready and st.count == st.window  # the whole span: 287 history bars and the live one
    finally:
        await bot.stop()
