"""Readiness of the time-span z window at start-up (the "289/288 bars, still warming up" flake).

The end-to-end rigs start the bot; FX is polled every second from the start, and every FX
reading recomputes the premium, so the first LIVE bar can close (the clock crossed a bar
boundary) while warm-up is still fetching candle history. The history then lands behind that
live bar. These tests replay that order of events (and the other edges of the span) by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from kimpbot.clock import ManualClock
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.events import EventBus
from kimpbot.market.engine import MarketEngine
from kimpbot.models import FxRate, PremiumBar
from kimpbot.strategy.base import make_strategy
from kimpbot.strategy.rolling import RollingStats

BAR = 5 * 60_000
W = 288  # window_days = 1 of 5-minute bars, as in the test rigs
S0 = 1_700_000_000_000 // BAR  # the slot the bot starts in


def value(slot: int) -> float:
    return 1.0 + 0.3 * math.sin(slot / 7.0)


def test_history_landing_behind_a_live_bar_is_ready() -> None:
    st = RollingStats(W, BAR, 0.5)
    st.push(9.0, S0 * BAR)  # the first live bar closed during warm-up
    for k in range(S0 - W, S0):  # warm-up history, asked for [S0 - 288, S0)
        st.push(value(k), k * BAR)
    # the span is [S0 - 287, S0]: 287 history bars and the live one; S0 - 288 only proves history
    assert st.ready and st.count == W and st.covered == W
    want = [value(k) for k in range(S0 - W + 1, S0)] + [9.0]
    assert st.mean == pytest.approx(np.mean(want), rel=1e-12)
    assert st.std == pytest.approx(np.std(want), rel=1e-9)


def test_a_history_bar_for_the_live_bars_slot_replaces_it() -> None:
    st = RollingStats(W, BAR, 0.5)
    st.push(9.0, S0 * BAR)
    for k in range(S0 - W + 1, S0 + 1):  # history that includes S0 itself: the last pushed counts
        st.push(value(k), k * BAR)
    want = [value(k) for k in range(S0 - W + 1, S0 + 1)]
    assert st.ready and st.count == W
    assert st.mean == pytest.approx(np.mean(want), rel=1e-12)
    assert st.std == pytest.approx(np.std(want), rel=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_bars_in_any_order_give_the_in_order_statistics(seed: int) -> None:
    rng = np.random.default_rng(seed)
    slots = np.flatnonzero(rng.random(60) > 0.3)
    x = rng.normal(1.0, 0.5, slots.shape[0])
    ordered = RollingStats(24, BAR, 0.5)
    for s_, v in zip(slots, x):
        ordered.push(float(v), int(s_) * BAR)
    shuffled = RollingStats(24, BAR, 0.5)
    shuffled.advance((int(slots[-1]) + 1) * BAR)  # the clock is past all of them
    for i in rng.permutation(len(slots)):
        shuffled.push(float(x[i]), int(slots[i]) * BAR)
    assert shuffled.count == ordered.count and shuffled.ready == ordered.ready
    assert shuffled.mean == pytest.approx(ordered.mean, rel=1e-12)
    assert shuffled.std == pytest.approx(ordered.std, rel=1e-9)


def test_a_bar_older_than_the_span_never_enters_it() -> None:
    st = RollingStats(10, BAR, 0.5)
    st.advance(100 * BAR)  # the span is slots 90..99
    st.push(5.0, 80 * BAR)  # a stale bar: history reaches back, but it is not in the window
    assert st.count == 0 and not st.ready
    for k in range(95, 100):
        st.push(float(k % 2), k * BAR)
    assert st.ready and st.count == 5 and st.mean == pytest.approx(0.6)  # 1, 0, 1, 0, 1: not the 5.0


def test_warm_up_asked_from_the_span_start_covers_it_despite_missing_first_bars() -> None:
    """Upbit has no candle for a slot without a trade: a window whose first slots are empty is
    a window with gaps (min_window_fill decides), not history that starts late."""
    st = RollingStats(W, BAR, 0.5)
    st.history_from((S0 - W) * BAR)
    for k in range(S0 - W + 3, S0):  # the first three slots of the span have no bar
        st.push(value(k), k * BAR)
    assert st.ready and st.count == W - 3 and st.covered == W
    thin = RollingStats(W, BAR, 0.5)
    thin.history_from((S0 - W) * BAR)
    for k in range(S0 - 100, S0):  # a coin with less history than half the span
        thin.push(value(k), k * BAR)
    assert not thin.ready and thin.covered == W and thin.count == 100


# ---- the market engine, in the order the rigs produce -------------------------------------

OWNER = load_owner_config(None, "[zscore]\nwindow_days = 1\n[market]\norder_krw = 1_410_000\n")


def books(eng: MarketEngine, clock: ManualClock) -> None:
    now = clock.now_ms()
    eng.on_upbit_message({"type": "orderbook", "code": "KRW-BTC", "timestamp": now, "stream_type": "REALTIME",
                          "orderbook_units": [{"ask_price": 141_100_000.0, "bid_price": 140_900_000.0,
                                               "ask_size": 1.0, "bid_size": 1.0}]})
    eng.on_binance_message({"e": "depthUpdate", "E": now, "T": now, "s": "BTCUSDT", "U": 1, "u": 2, "pu": 0,
                            "b": [["99990.0", "5"]], "a": [["100010.0", "5"]]})


def fx(eng: MarketEngine, clock: ManualClock, n: int = 3) -> None:
    for _ in range(n):
        now = clock.now_ms()
        eng.on_fx(FxRate("usdt", 1410.0, now, now))
        eng.on_fx(FxRate("usdkrw", 1400.0, now, now))


def history(since: int, until: int, skip: tuple[int, ...] = ()) -> list[PremiumBar]:
    out = []
    for ts in range(since, until, BAR):
        if ts // BAR not in skip:
            v = value(ts // BAR)
            out.append(PremiumBar("BTC", ts, 5, v, v, v, v, 1))
    return out


def started_engine(clock: ManualClock) -> MarketEngine:
    eng = MarketEngine(OWNER, clock, EventBus(), make_strategy(OWNER.strategy))
    fx(eng, clock)
    books(eng, clock)  # the first live bar opens in slot S0
    return eng


def test_engine_live_bar_closed_during_warm_up_then_history_is_ready() -> None:
    clock = ManualClock(S0 * BAR + 290_000)  # 10 s before the next bar boundary
    eng = started_engine(clock)
    until = clock.now_ms() - clock.now_ms() % BAR  # warm-up reads the clock ...
    since = until - W * BAR
    clock.advance(15)  # ... the boundary passes while it fetches candles ...
    fx(eng, clock, 1)  # ... an FX poll closes the live bar S0 ...
    books(eng, clock)
    assert eng.warm_bars["BTC"] == 1
    eng.warm_start({"BTC": history(since, until)}, since)  # ... and history lands behind it
    assert eng.symbol_problems("BTC") == []
    assert eng.signals_allowed("BTC") and eng.views["BTC"].z_mid is not None
    # no invented gap: history behind the live bar is not a step back in time
    clock.advance(300)
    books(eng, clock)
    fx(eng, clock, 1)
    assert eng.bar_gaps == 0


def test_engine_first_slot_missing_from_history_is_ready() -> None:
    clock = ManualClock(S0 * BAR + 100_000)
    eng = started_engine(clock)
    until = S0 * BAR
    since = until - W * BAR
    eng.warm_start({"BTC": history(since, until, skip=(S0 - W,))}, since)
    assert eng.symbol_problems("BTC") == []


def test_engine_warming_up_message_is_honest() -> None:
    clock = ManualClock(S0 * BAR + 100_000)
    eng = started_engine(clock)
    until = S0 * BAR
    eng.warm_start({"BTC": history(until - 100 * BAR, until)})  # no warm-up span: live-only history
    probs = eng.symbol_problems("BTC")
    assert probs == ["BTC: z window warming up (history covers 100/288 bars of its span)"]
    eng2 = started_engine(clock)
    eng2.warm_start({"BTC": history(until - 100 * BAR, until)}, until - W * BAR)  # asked the whole span
    assert eng2.symbol_problems("BTC") == [
        "BTC: z window warming up (100/144 bars in its span; zscore.min_window_fill)"]
    eng3 = started_engine(clock)
    flat = [PremiumBar("BTC", ts, 5, 1.0, 1.0, 1.0, 1.0, 1) for ts in range(until - W * BAR, until, BAR)]
    eng3.warm_start({"BTC": flat}, until - W * BAR)
    probs = eng3.symbol_problems("BTC")
    assert len(probs) == 1 and "warming up" not in probs[0] and probs[0].startswith("BTC: z window flat")
