"""Strict parsing of exchange payloads: bad prices are rejected with a named field."""

import pytest

from kimpbot.market import parse
from kimpbot.models import BadMarketData, Venue


def upbit_ob(ask="141100000", bid="140900000", ts=1_700_000_000_000):
    return {"type": "orderbook", "code": "KRW-BTC", "timestamp": ts, "total_ask_size": 1.0, "total_bid_size": 1.0,
            "orderbook_units": [{"ask_price": float(ask) if ask not in ("NaN", "x") else ask,
                                 "bid_price": float(bid) if bid not in ("NaN", "x") else bid,
                                 "ask_size": 0.5, "bid_size": 0.4},
                                {"ask_price": 141_200_000.0, "bid_price": 140_800_000.0,
                                 "ask_size": 1.0, "bid_size": 1.0}],
            "stream_type": "REALTIME"}


def test_upbit_orderbook_ok():
    b = parse.upbit_orderbook(upbit_ob(), 5)
    assert b.venue is Venue.UPBIT and b.symbol == "BTC"
    assert b.best_ask == 141_100_000 and b.best_bid == 140_900_000
    assert [lv.price for lv in b.bids] == [140_900_000, 140_800_000]
    assert b.exchange_ts == 1_700_000_000_000 and b.received_ts == 5


@pytest.mark.parametrize("ask,needle", [("NaN", "ask_price[0]"), ("-5", "ask_price[0]"), ("0", "ask_price[0]"),
                                        ("x", "ask_price[0]")])
def test_upbit_orderbook_bad_price(ask, needle):
    with pytest.raises(BadMarketData, match=r"ask_price\[0\]"):
        parse.upbit_orderbook(upbit_ob(ask=ask), 5)


def test_upbit_crossed_and_missing():
    with pytest.raises(BadMarketData, match="crossed"):
        parse.upbit_orderbook(upbit_ob(ask="140000000", bid="140900000"), 5)
    msg = upbit_ob()
    del msg["orderbook_units"]
    with pytest.raises(BadMarketData, match="missing or malformed"):
        parse.upbit_orderbook(msg, 5)


def test_upbit_ticker_usdt():
    t = parse.upbit_ticker({"type": "ticker", "code": "KRW-USDT", "trade_price": 1395.0,
                            "trade_timestamp": 1_700_000_000_000, "timestamp": 1_700_000_000_001}, 9)
    assert t.symbol == "USDT" and t.last == 1395.0
    with pytest.raises(BadMarketData):
        parse.upbit_ticker({"type": "ticker", "code": "KRW-BTC", "trade_price": "NaN", "timestamp": 1}, 9)


def test_binance_depth_and_book_ticker():
    msg = {"e": "depthUpdate", "E": 1_700_000_000_100, "T": 1_700_000_000_090, "s": "BTCUSDT", "U": 1, "u": 2,
           "pu": 0, "b": [["99990.0", "1.5"], ["99980.0", "0"], ["99970.0", "2"]],
           "a": [["100010.0", "1.0"], ["100020.0", "3"]]}
    b = parse.binance_depth(msg, 7)
    assert b.symbol == "BTC" and b.best_bid == 99990.0 and b.best_ask == 100010.0
    assert [lv.price for lv in b.bids] == [99990.0, 99970.0]  # the emptied level is dropped
    assert b.exchange_ts == 1_700_000_000_090
    msg["b"][0][0] = "-1"
    with pytest.raises(BadMarketData, match="bids"):
        parse.binance_depth(msg, 7)
    sym, bid, ask, ts = parse.binance_book_ticker(
        {"e": "bookTicker", "u": 1, "E": 5, "T": 4, "s": "ETHUSDT", "b": "3000.1", "B": "2", "a": "3000.2",
         "A": "1"}, 9)
    assert sym == "ETH" and bid.price == 3000.1 and ask.price == 3000.2 and ts == 4
    with pytest.raises(BadMarketData, match="crossed"):
        parse.binance_book_ticker({"e": "bookTicker", "s": "ETHUSDT", "b": "3001", "B": "1", "a": "3000",
                                   "A": "1", "T": 4}, 9)
