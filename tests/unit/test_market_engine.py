"""Market engine: messages in, premiums out; stale or bad data stops signals and says why."""

import logging

import pytest

from kimpbot.clock import ManualClock
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.events import EventBus
from kimpbot.market.engine import MarketEngine
from kimpbot.market.premium import premium_pct
from kimpbot.models import FxRate

OWNER = load_owner_config(None, '[market]\norder_krw = 1_410_000\n')


def upbit_book(clock, ask=141_100_000.0, bid=140_900_000.0, code="KRW-BTC"):
    return {"type": "orderbook", "code": code, "timestamp": clock.now_ms(), "stream_type": "REALTIME",
            "orderbook_units": [{"ask_price": ask, "bid_price": bid, "ask_size": 1.0, "bid_size": 1.0}]}


def binance_depth(clock, bid="99990.0", ask="100010.0", sym="BTCUSDT"):
    return {"e": "depthUpdate", "E": clock.now_ms(), "T": clock.now_ms(), "s": sym, "U": 1, "u": 2, "pu": 0,
            "b": [[bid, "5"]], "a": [[ask, "5"]]}


def confirm_fx(eng, clock, n=3):
    """Both FX sources, steady for the guard's first ``fx.confirm_readings`` bank readings."""
    for _ in range(n):
        eng.on_fx(FxRate("usdt", 1410.0, clock.now_ms(), clock.now_ms()))
        eng.on_fx(FxRate("usdkrw", 1400.0, clock.now_ms(), clock.now_ms()))


def make(clock):
    eng = MarketEngine(OWNER, clock, EventBus())
    confirm_fx(eng, clock)
    return eng


def test_snapshot_from_messages():
    c = ManualClock()
    eng = make(c)
    assert eng.on_upbit_message(upbit_book(c))
    assert eng.views["BTC"].snapshot is None  # no Binance book yet
    assert eng.on_binance_message(binance_depth(c))
    snap = eng.views["BTC"].snapshot
    assert snap is not None
    assert snap.mid == pytest.approx(premium_pct(141_000_000, 100_000, 1400.0))
    assert snap.fx_source == "usdkrw" and snap.fx_rate == 1400.0
    assert snap.exec_long == pytest.approx((141_100_000 * 1.0005 / (99_990 * 0.9995 * 1400) - 1) * 100)
    assert eng.symbol_problems("BTC") == []
    assert eng.symbol_problems("ETH")[0].startswith("Upbit KRW-ETH book missing")


def test_book_ticker_overlays_depth():
    c = ManualClock()
    eng = make(c)
    eng.on_upbit_message(upbit_book(c))
    eng.on_binance_message(binance_depth(c))
    c.advance(0.05)
    eng.on_binance_message({"e": "bookTicker", "u": 3, "E": c.now_ms(), "T": c.now_ms(), "s": "BTCUSDT",
                            "b": "99995.0", "B": "0.5", "a": "100005.0", "A": "0.5"})
    from kimpbot.models import Venue
    book = eng.books[(Venue.BINANCE, "BTC")]
    assert book.best_bid == 99995.0 and book.best_ask == 100005.0
    assert [lv.price for lv in book.bids] == [99995.0, 99990.0]


def test_stale_feed_and_fx_stop_signals_and_say_why():
    c = ManualClock()
    eng = make(c)
    eng.on_upbit_message(upbit_book(c))
    eng.on_binance_message(binance_depth(c))
    assert eng.signals_allowed("BTC")
    c.advance(11)
    probs = eng.symbol_problems("BTC")
    assert any("Upbit KRW-BTC book stale: 11.0 s old (market.max_quote_age_s 10)" == p for p in probs)
    assert not eng.signals_allowed("BTC")
    eng.on_upbit_message(upbit_book(c))
    eng.on_binance_message(binance_depth(c))
    assert eng.signals_allowed("BTC")
    c.advance(301)
    eng.on_upbit_message(upbit_book(c))
    eng.on_binance_message(binance_depth(c))
    assert any("FX bank USD/KRW rate stale" in p for p in eng.global_problems())
    assert not eng.signals_allowed("BTC")


def test_health_transitions_published_once():
    c = ManualClock()
    bus = EventBus()
    eng = MarketEngine(OWNER, c, bus)
    eng.on_fx(FxRate("usdkrw", 1400.0, c.now_ms(), c.now_ms()))
    eng.check_health()
    eng.check_health()
    stopped = [e for e in bus.history if e.kind == "health" and "signals stopped" in e.message]
    assert len(stopped) == 3  # one per symbol, not one per check
    for sym in ("BTC", "ETH", "XRP"):
        for m in (upbit_book(c, code=f"KRW-{sym}"),):
            eng.on_upbit_message(m)
        eng.on_binance_message(binance_depth(c, sym=f"{sym}USDT", bid="99990", ask="100010"))
    confirm_fx(eng, c)
    eng.check_health()
    healthy = [e for e in bus.history if "healthy again" in e.message]
    assert len(healthy) == 3


@pytest.mark.parametrize("msg_kind", ["nan", "negative", "malformed", "crossed"])
def test_bad_message_rejected_with_one_log_line(msg_kind, caplog):
    c = ManualClock()
    eng = make(c)
    eng.on_upbit_message(upbit_book(c))
    eng.on_binance_message(binance_depth(c))
    before = eng.views["BTC"].snapshot
    if msg_kind == "nan":
        msg = binance_depth(c, bid="NaN")
    elif msg_kind == "negative":
        msg = binance_depth(c, ask="-100010.0")
    elif msg_kind == "crossed":
        msg = binance_depth(c, bid="100020", ask="100010")
    else:
        msg = {"e": "depthUpdate", "s": "BTCUSDT", "b": "garbage"}
    with caplog.at_level(logging.WARNING):
        assert eng.on_binance_message(msg) is False
    lines = [r for r in caplog.records if "rejected market data" in r.getMessage()]
    assert len(lines) == 1
    assert eng.views["BTC"].snapshot is before  # nothing updated from the bad message
    assert eng.rejected == 1
