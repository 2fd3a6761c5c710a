"""Premium math against hand-computed cases."""

import math

import pytest

from kimpbot.market.premium import (exec_long_premium, exec_short_premium, make_snapshot, premium_pct,
                                    walk_book)
from kimpbot.models import BookLevel, OrderBook, Venue


def test_premium_hand_computed():
    # 140,000,000 / (100,000 * 1,380) = 1.014492753... -> +1.4493 %
    assert premium_pct(140_000_000, 100_000, 1380.0) == pytest.approx(1.4492753623, abs=1e-9)
    # Parity: zero premium
    assert premium_pct(138_000_000, 100_000, 1380.0) == pytest.approx(0.0, abs=1e-12)
    # Discount (reverse premium)
    assert premium_pct(136_620_000, 100_000, 1380.0) == pytest.approx(-1.0, abs=1e-9)


def test_fx_pitfall_constant_1350_fakes_a_premium():
    """SPEC §1: a hard-coded 1350 KRW/USD made a 0.56 % premium read as 3.4 %."""
    binance = 100_000.0
    live_fx = 1388.10
    upbit = binance * live_fx * 1.0056  # a true 0.56 % premium
    assert premium_pct(upbit, binance, live_fx) == pytest.approx(0.56, abs=1e-9)
    wrong = premium_pct(upbit, binance, 1350.0)
    assert wrong == pytest.approx(3.398, abs=1e-3)
    assert wrong - 0.56 > 2.8  # the constant invents ~2.8 pp of premium


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_premium_rejects_non_positive(bad):
    with pytest.raises(ValueError):
        premium_pct(bad, 100.0, 1380.0)
    with pytest.raises(ValueError):
        premium_pct(100.0, 100.0, bad)


def test_walk_book_multi_level():
    asks = [BookLevel(100.0, 1.0), BookLevel(101.0, 2.0), BookLevel(103.0, 5.0)]
    r = walk_book(asks, 2.5)  # 1 @ 100 + 1.5 @ 101 = 251.5
    assert r.complete and r.filled_base == 2.5
    assert r.filled_quote == pytest.approx(251.5)
    assert r.vwap == pytest.approx(100.6)
    r = walk_book(asks, 8.0)  # exactly the whole book: 100 + 202 + 515 = 817
    assert r.complete and r.vwap == pytest.approx(817 / 8)
    r = walk_book(asks, 10.0)  # thinner than the size
    assert not r.complete and r.filled_base == pytest.approx(8.0)
    r = walk_book([], 1.0)
    assert not r.complete and math.isnan(r.vwap)


def test_fees_on_the_right_side():
    fx, fu, fb = 1400.0, 0.0005, 0.0005
    # long premium: pay Upbit ask plus fee, receive Binance bid minus fee -> premium rises
    lp = exec_long_premium(141_000_000, 100_000, fx, fu, fb)
    assert lp == pytest.approx((141e6 * 1.0005 / (1e5 * 0.9995 * fx) - 1) * 100)
    assert lp > premium_pct(141e6, 1e5, fx)
    # short premium: receive Upbit bid minus fee, pay Binance ask plus fee -> premium falls
    sp = exec_short_premium(141_000_000, 100_000, fx, fu, fb)
    assert sp == pytest.approx((141e6 * 0.9995 / (1e5 * 1.0005 * fx) - 1) * 100)
    assert sp < premium_pct(141e6, 1e5, fx)
    # round trip costs about the four fees: 0.2 %
    assert lp - sp == pytest.approx(0.2, abs=0.01)


def _book(venue, bids, asks, ts=1):
    return OrderBook(venue, "BTC", [BookLevel(p, s) for p, s in bids], [BookLevel(p, s) for p, s in asks], ts, ts)


def test_snapshot_walks_both_books_for_the_order_size():
    # Upbit: 0.01 BTC at each level; an order of 2,820,000 KRW at mid 141,000,000 = 0.02 BTC
    upbit = _book(Venue.UPBIT, [(140_900_000, 0.01), (140_800_000, 0.05)],
                  [(141_100_000, 0.01), (141_200_000, 0.05)])
    binance = _book(Venue.BINANCE, [(99_990.0, 0.015), (99_980.0, 1.0)], [(100_010.0, 0.015), (100_020.0, 1.0)])
    s = make_snapshot("BTC", upbit, binance, 1400.0, "usdkrw", 2_820_000, 0.0005, 0.0005, ts=5,
                      upbit_last=141_000_000)
    qty = 2_820_000 / 141_000_000  # 0.02
    assert qty == pytest.approx(0.02)
    u_buy = (141_100_000 * 0.01 + 141_200_000 * 0.01) / 0.02
    b_sell = (99_990 * 0.015 + 99_980 * 0.005) / 0.02
    u_sell = (140_900_000 * 0.01 + 140_800_000 * 0.01) / 0.02
    b_buy = (100_010 * 0.015 + 100_020 * 0.005) / 0.02
    assert s.upbit_buy_vwap == pytest.approx(u_buy)
    assert s.binance_sell_vwap == pytest.approx(b_sell)
    assert s.exec_long == pytest.approx(exec_long_premium(u_buy, b_sell, 1400.0, 0.0005, 0.0005))
    assert s.exec_short == pytest.approx(exec_short_premium(u_sell, b_buy, 1400.0, 0.0005, 0.0005))
    assert s.mid == pytest.approx(premium_pct(141_000_000, 100_000, 1400.0))
    assert s.quoted == pytest.approx(premium_pct(141_000_000, 100_000, 1400.0))
    assert s.exec_short < s.mid < s.exec_long


def test_snapshot_too_thin_gives_no_executable_premium():
    upbit = _book(Venue.UPBIT, [(140_900_000, 0.001)], [(141_100_000, 0.001)])
    binance = _book(Venue.BINANCE, [(99_990.0, 5)], [(100_010.0, 5)])
    s = make_snapshot("BTC", upbit, binance, 1400.0, "usdkrw", 2_820_000, 0.0005, 0.0005, ts=5)
    assert s.exec_long is None and s.exec_short is None
    assert s.quoted is None  # no Upbit last trade yet
    assert s.mid == pytest.approx(premium_pct(141_000_000, 100_000, 1400.0))
