"""Shared fixtures: the simulated exchanges on 127.0.0.1 and a strategy file with a short window."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from testkit import SHORT_WINDOW


@pytest.fixture
def strategy_file(tmp_path: Path) -> Path:
    p = tmp_path / "strategy.toml"
    p.write_text(SHORT_WINDOW)
    return p


@pytest.fixture
async def sim():
    from kimpbot.sim.market import SimMarket
    from kimpbot.sim.servers import SimServers

    servers = SimServers(SimMarket(seed=3), push_interval_s=0.1)
    await servers.start()
    try:
        yield servers
    finally:
        await servers.stop()


@pytest.fixture(autouse=True)
def _quiet_libraries():
    for name in ("ccxt", "aiohttp.access"):
        logging.getLogger(name).setLevel(logging.WARNING)
