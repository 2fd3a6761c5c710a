"""Runs the local fakes: Upbit (REST + websocket), Binance USDⓈ-M (REST + websocket) and the FX quote.

Each fake is an aiohttp app on its own ephemeral port of ``host`` (127.0.0.1), all sharing one
``SimMarket``. ``env()`` gives the endpoint and key variables a bot process needs to talk to them
(the names ``kimpbot.config`` reads). Every server also answers the control API ``/_sim/*``
(``GET /_sim/state``, ``POST /_sim/premium {"symbol","pct"}``, ``POST /_sim/price {"symbol","usdt"}``,
``POST /_sim/fx {"usdkrw"|"usdt_krw"}``, ``POST /_sim/fault {"venue","endpoint","kind","count",
"delay_s","fraction"}``, ``POST /_sim/clear``, ``POST /_sim/step {"dt_s"}``, ``GET /_sim/orders``).

Follows: Upbit Open API v1 (``kimpbot.sim.upbit``), Binance USDⓈ-M Futures (``kimpbot.sim.binance``),
dunamu forex quotation (``kimpbot.sim.fx``).
"""

from __future__ import annotations

import asyncio
import copy
import os
import sys
import time

from aiohttp import web

from kimpbot.sim._common import Served, Waker, serve_app
from kimpbot.sim.binance import BinanceFake
from kimpbot.sim.fx import FxFake
from kimpbot.sim.market import SimMarket
from kimpbot.sim.upbit import UpbitFake


class SimServers(Served):
    def __init__(self, market: SimMarket | None = None, *, host: str = "127.0.0.1",
                 upbit_keys: tuple[str, str] = ("sim-upbit-access", "sim-upbit-secret"),
                 binance_keys: tuple[str, str] = ("sim-binance-key", "sim-binance-secret"),
                 push_interval_s: float = 0.25, check_signatures: bool = True) -> None:
        self.market: SimMarket = market if market is not None else SimMarket()
        self.host = host
        self.upbit_keys = tuple(upbit_keys)
        self.binance_keys = tuple(binance_keys)
        self.push_interval_s = float(push_interval_s)
        self.check_signatures = check_signatures
        self.orders: list[dict] = []
        # websocket connections accepted per venue (monotonic times): how hard a client reconnects
        self.ws_connects: dict[str, list[float]] = {"upbit": [], "binance": []}
        self.started = False
        self.upbit: UpbitFake | None = None
        self.binance: BinanceFake | None = None
        self.fx: FxFake | None = None
        self._runners: list[web.AppRunner] = []
        self._ports: dict[str, int] = {}
        self._waker: Waker | None = None  # type: ignore[assignment]

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self.started:
            return
        loop = asyncio.get_running_loop()
        self._waker = Waker(loop)
        self.market.on_change(self._waker)
        self.upbit = UpbitFake(self, access_key=self.upbit_keys[0], secret_key=self.upbit_keys[1],
                               check_signatures=self.check_signatures)
        self.binance = BinanceFake(self, api_key=self.binance_keys[0], api_secret=self.binance_keys[1],
                                   check_signatures=self.check_signatures)
        self.fx = FxFake(self)
        try:
            for name, fake in (("upbit", self.upbit), ("binance", self.binance), ("fx", self.fx)):
                runner, self._ports[name] = await serve_app(fake.app, self.host)
                self._runners.append(runner)
        except BaseException:
            await self.stop()
            raise
        self.started = True

    async def stop(self) -> None:
        for fake in (self.upbit, self.binance, self.fx):
            if fake is not None:
                await fake.close_all_ws()
        for runner in reversed(self._runners):
            try:
                await runner.cleanup()
            except Exception:
                pass
        self._runners.clear()
        if self._waker is not None:
            self.market.remove_on_change(self._waker)
            self._waker = None
        self.started = False

    # ------------------------------------------------------------------ addresses
    @property
    def upbit_url(self) -> str:
        return f"http://{self.host}:{self._ports['upbit']}"

    @property
    def binance_url(self) -> str:
        return f"http://{self.host}:{self._ports['binance']}"

    @property
    def fx_url(self) -> str:
        return f"http://{self.host}:{self._ports['fx']}"

    def env(self) -> dict[str, str]:
        if not self._ports:
            raise RuntimeError("SimServers.start() first")
        return {
            "UPBIT_API_URL": self.upbit_url,
            "UPBIT_WS_URL": f"ws://{self.host}:{self._ports['upbit']}/websocket/v1",
            "BINANCE_FUTURES_API_URL": self.binance_url,
            "BINANCE_FUTURES_WS_URL": f"ws://{self.host}:{self._ports['binance']}/public/ws",
            "FX_API_URL": self.fx_url,
            "UPBIT_ACCESS_KEY": self.upbit_keys[0],
            "UPBIT_SECRET_KEY": self.upbit_keys[1],
            "BINANCE_API_KEY": self.binance_keys[0],
            "BINANCE_API_SECRET": self.binance_keys[1],
        }

    # ------------------------------------------------------------------ order log
    def _note_order(self, venue: str, method: str, path: str, params: dict) -> None:
        client_id = params.get("identifier") if venue == "upbit" else params.get("newClientOrderId")
        self.orders.append({"venue": venue, "received_at": time.monotonic(), "client_id": client_id,
                            "method": method, "path": path,
                            "params": {k: v for k, v in params.items() if k != "signature"}})

    def note_ws_connect(self, venue: str) -> None:
        self.ws_connects.setdefault(venue, []).append(time.monotonic())

    def orders_json(self) -> list[dict]:
        return copy.deepcopy(self.orders)


async def serve_forever(market: SimMarket | None = None, host: str = "127.0.0.1", step_s: float = 1.0,
                        env_file: str | None = None) -> None:
    """Start the fakes, print ``KEY=VALUE`` env lines to stdout (and, with ``env_file``, write them
    there in one rename once every server listens, so a reader never sees half a file), then step
    the market until cancelled."""
    servers = SimServers(market, host=host)
    await servers.start()
    try:
        lines = "".join(f"{k}={v}\n" for k, v in servers.env().items())
        if env_file:
            tmp = f"{env_file}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(lines)
            os.replace(tmp, env_file)
        sys.stdout.write(lines)
        sys.stdout.flush()
        while True:
            await asyncio.sleep(step_s)
            servers.market.step(step_s)
    finally:
        await servers.stop()
