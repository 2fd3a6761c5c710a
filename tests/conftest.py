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

    async with SimServers(SimMarket(seed=3), push_interval_s=0.1) as servers:
        yield servers


@pytest.fixture(autouse=True)
def _quiet_libraries():
    for name in ("ccxt", "aiohttp.access"):
        logging.getLogger(name).setLevel(logging.WARNING)


@pytest.fixture(autouse=True)
def _english_unless_asked(request, monkeypatch):
    """Tests written before the Korean catalogue read English; the default stays Korean for users.
    A test marked ``korean_default`` sees the product's real default; the i18n tests render both."""
    from kimpbot import i18n

    if request.node.get_closest_marker("korean_default") is None:
        monkeypatch.setattr(i18n, "DEFAULT_LANG", "en")
        monkeypatch.setattr(i18n, "_lang", "en")
        monkeypatch.setenv("KIMPBOT_LANG", "en")   # kimpbot processes the test starts
    else:
        monkeypatch.delenv("KIMPBOT_LANG", raising=False)
    yield
