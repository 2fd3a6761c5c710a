"""Fixtures: the local fakes on ephemeral ports, and REAL clients (ccxt, pyupbit) pointed at them."""

from __future__ import annotations

import pytest

from kimpbot.sim.market import SimMarket
from kimpbot.sim.servers import SimServers



def pytest_collection_modifyitems(config, items):
    # the default sim keys are shorter than PyJWT's recommended 32 bytes; pyupbit/ccxt sign with them
    here = __file__.rsplit("/", 1)[0]
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"))


@pytest.fixture
async def sim():
    async with SimServers(SimMarket(seed=7), push_interval_s=0.05) as servers:
        yield servers


def binance_client(servers: SimServers, *, secret: str | None = None, key: str | None = None):
    import ccxt.async_support as ccxt

    base = servers.binance_url
    ex = ccxt.binanceusdm({
        "apiKey": key or servers.binance_keys[0],
        "secret": secret or servers.binance_keys[1],
        "options": {"fetchCurrencies": False},
        "enableRateLimit": False,
    })
    ex.urls["api"]["fapiPublic"] = f"{base}/fapi/v1"
    ex.urls["api"]["fapiPublicV2"] = f"{base}/fapi/v2"
    ex.urls["api"]["fapiPublicV3"] = f"{base}/fapi/v3"
    ex.urls["api"]["fapiPrivate"] = f"{base}/fapi/v1"
    ex.urls["api"]["fapiPrivateV2"] = f"{base}/fapi/v2"
    ex.urls["api"]["fapiPrivateV3"] = f"{base}/fapi/v3"
    ex.urls["api"]["fapiData"] = f"{base}/futures/data"
    # ccxt maps Binance codes by host name; against 127.0.0.1 use the linear table (WIRE-NOTES)
    ex.exceptions["exact"].update(ex.exceptions["linear"]["exact"])
    return ex


def upbit_client(servers: SimServers, *, secret: str | None = None):
    import ccxt.async_support as ccxt

    ex = ccxt.upbit({"apiKey": servers.upbit_keys[0], "secret": secret or servers.upbit_keys[1],
                     "enableRateLimit": False})
    ex.urls["api"] = {"public": servers.upbit_url, "private": servers.upbit_url}
    return ex


class _Clients:
    """A factory of ccxt clients on a sim that remembers them, to close them after the test."""

    def __init__(self, build) -> None:
        self.build, self.made = build, []

    def __call__(self, servers: SimServers, **kw):
        self.made.append(self.build(servers, **kw))
        return self.made[-1]

    async def close(self) -> None:
        for ex in self.made:
            await ex.close()


@pytest.fixture
async def make_binance():
    clients = _Clients(binance_client)
    yield clients
    await clients.close()


@pytest.fixture
async def make_upbit():
    clients = _Clients(upbit_client)
    yield clients
    await clients.close()
