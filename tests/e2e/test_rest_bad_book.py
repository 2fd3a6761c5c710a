"""Issue 10 §6: a truncated REST order book (here Upbit's, which ccxt fails to parse with a
TypeError) skips that one book with one log line; the refresh job goes on with the others."""

from __future__ import annotations

import logging

from kimpbot.config import load_settings
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.engine import Bot
from kimpbot.models import Venue


async def test_truncated_rest_book_skips_only_that_symbol(sim, strategy_file, tmp_path, caplog):
    env = sim.env() | {"KIMPBOT_DATA_DIR": str(tmp_path / "data")}
    bot = Bot(load_settings(env), load_owner_config(strategy_file), warmup=False, trading=False)
    await bot.start()
    try:
        m = bot.market
        before = {k: b.received_ts for k, b in m.books.items()}
        sim.market.faults.inject("upbit", "/v1/orderbook", "malformed")  # 200 with truncated JSON
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="kimpbot.engine"):
            await bot._rest_refresh(force=True)  # raised TypeError out of the job before the fix
        skipped = [r for r in caplog.records if "skipped" in r.getMessage()]
        assert len(skipped) == 1 and "order book skipped" in skipped[0].getMessage()
        assert sum(sym in skipped[0].getMessage() for sym in m.symbols) == 1  # one symbol named
        # the job went on: every other book is fresh (the websockets keep them so as well)
        refreshed = [k for k, b in m.books.items() if b.received_ts > before.get(k, 0)]
        assert sum(1 for v, _ in refreshed if v is Venue.BINANCE) == len(m.symbols)
    finally:
        await bot.stop()
