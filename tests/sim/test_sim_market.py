"""SimMarket: tick grids, premium scripting, determinism, history statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kimpbot.clock import ManualClock
from kimpbot.sim.market import SimMarket, upbit_round, upbit_tick


@pytest.mark.parametrize("price,market,tick", [
    (150_000_000, "KRW-BTC", 1000), (1_500_000, "KRW-X", 1000), (700_000, "KRW-X", 500),
    (250_000, "KRW-X", 100), (70_000, "KRW-X", 50), (20_000, "KRW-X", 10), (7_000, "KRW-X", 5),
    (3_000, "KRW-XRP", 1), (836, "KRW-XRP", 1), (1395, "KRW-USDT", 0.5),
])
def test_upbit_tick_table(price, market, tick):
    assert upbit_tick(price, market) == tick


def _on_grid(x: float, step: float) -> bool:
    q = x / step
    return abs(q - round(q)) < 1e-6


def test_books_respect_ticks_and_order():
    m = SimMarket()
    for s in m.symbols:
        bids, asks = m.upbit_book(s)
        assert len(bids) == len(asks) == 15
        assert bids[0][0] < asks[0][0]
        assert all(a > b for (a, _), (b, _) in zip(bids, bids[1:]))
        assert all(a < b for (a, _), (b, _) in zip(asks, asks[1:]))
        for p, q in bids + asks:
            assert _on_grid(p, upbit_tick(p, f"KRW-{s}")) and q > 0
        bb, ba = m.binance_book(s)
        step = {"BTC": 0.1, "ETH": 0.01, "XRP": 0.0001}[s]
        for p, q in bb + ba:
            assert _on_grid(p, step) and q > 0
    ub, ua = m.upbit_book("USDT")
    assert all(_on_grid(p, 0.5) for p, _ in ub + ua)


def test_set_premium_and_price_moves():
    m = SimMarket()
    for s in m.symbols:
        for pct in (-1.5, 0.0, 3.5):
            m.set_premium(s, pct)
            tol = upbit_tick(m.upbit_mid(s), f"KRW-{s}") / m.upbit_mid(s) * 100 + 1e-6
            tol += {"BTC": 0.1, "ETH": 0.01, "XRP": 0.0001}[s] / m.binance_mid(s) * 100
            assert abs(m.premium(s) - pct) <= tol
    m.set_premium("BTC", 2.0)
    m.set_binance_price("BTC", 65000)
    assert abs(m.binance_mid("BTC") - 65000) < 10
    assert abs(m.premium("BTC") - 2.0) < 0.01  # the Upbit side follows
    m.set_usdkrw(1400)
    assert m.premium("BTC") < 1.0  # a different bank rate changes the measured premium


def test_on_change_callbacks_fire_and_errors_are_contained():
    m = SimMarket()
    seen = []
    m.on_change(lambda: seen.append(1))
    m.on_change(lambda: 1 / 0)
    m.set_premium("ETH", 2.0)
    m.step(1.0)
    assert len(seen) == 2


def test_step_is_deterministic_from_seed():
    a, b, c = SimMarket(seed=3), SimMarket(seed=3), SimMarket(seed=4)
    for m in (a, b, c):
        for _ in range(50):
            m.step(60.0)
    assert a.state()["symbols"] == b.state()["symbols"]
    assert a.state()["symbols"] != c.state()["symbols"]


def test_step_premium_mean_reverts_with_excursions():
    m = SimMarket(seed=11, symbols=("BTC",))
    prem = []
    for _ in range(6000):
        m.step(60.0)
        prem.append(m.raw_premium("BTC"))
    prem = np.array(prem)
    assert 0.5 < prem.mean() < 1.5
    assert 0.2 < prem.std() < 1.5
    z = (prem - prem.mean()) / prem.std()
    assert z.max() > 2.5 or z.min() < -2.5  # excursions happen


def test_history_window_is_realistic_and_consistent():
    clock = ManualClock(1_750_000_000_000)
    m = SimMarket(clock=clock)
    for s in m.symbols:
        up = m.history_5m("upbit", s)
        bn = m.history_5m("binance", s)
        assert len(up) == len(bn) == 5760
        assert [c[0] for c in up] == [c[0] for c in bn]
        assert all(b[0] - a[0] == 300_000 for a, b in zip(up, up[1:]))
        prem = np.array([(u[4] / (b[4] * m.usdkrw) - 1) * 100 for u, b in zip(up, bn)])
        assert 0.5 < prem.mean() < 1.5, prem.mean()
        assert 0.3 <= prem.std() <= 1.0, prem.std()
        assert abs(prem[-1] - m.premium(s)) < 0.2  # history ends in the current state
        for c in up[-50:]:
            assert c[3] <= min(c[1], c[4]) <= max(c[1], c[4]) <= c[2] and c[5] > 0


def test_history_follows_live_changes_and_is_stable():
    clock = ManualClock(1_750_000_000_000)
    m = SimMarket(clock=clock)
    before = m.candles("binance", "ETH", 5, clock.now_ms() - 3600_000, 20)
    clock.advance(600)
    m.set_premium("ETH", 4.0)
    clock.advance(60)
    assert m.candles("binance", "ETH", 5, clock.now_ms() - 4200_000, 20) == before
    up = m.candles("upbit", "ETH", 1, None, 1)[0]
    bn = m.candles("binance", "ETH", 1, None, 1)[0]
    assert abs((up[4] / (bn[4] * m.usdkrw) - 1) * 100 - 4.0) < 0.05


def test_upbit_round_modes():
    assert upbit_round(83_619_400, "KRW-BTC", "down") == 83_619_000
    assert upbit_round(83_619_400, "KRW-BTC", "up") == 83_620_000
    assert math.isclose(upbit_round(1395.3, "KRW-USDT"), 1395.5)
