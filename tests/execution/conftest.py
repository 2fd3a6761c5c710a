"""Fixtures for the trading adapters: the simulated exchanges, signature checks on."""

from __future__ import annotations

import pytest

from kimpbot.sim.market import SimMarket
from kimpbot.sim.servers import SimServers


@pytest.fixture
async def sim():
    servers = SimServers(SimMarket(seed=3), push_interval_s=0.25, check_signatures=True)
    await servers.start()
    try:
        yield servers
    finally:
        await servers.stop()
