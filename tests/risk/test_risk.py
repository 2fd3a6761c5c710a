"""Risk refusals name the rule, the value and the limit; emergency conditions halt and persist."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kimpbot.clock import ManualClock
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.events import EventBus
from kimpbot.execution.venues import Balances, MarketRules
from kimpbot.models import Direction, PremiumSnapshot
from kimpbot.risk import EntryContext, RiskManager
from kimpbot.store import Store
from kimpbot.strategy.base import Position, Signal

OWNER = load_owner_config(None, "[risk]\nmax_concurrent_positions = 2\n")
UR = MarketRules(Decimal("0.00000001"), Decimal("0.00000001"), Decimal("5000"))
BR = MarketRules(Decimal("0.001"), Decimal("0.001"), Decimal("100"))


def snap(ts=1_700_000_000_000, upbit=140_000_000.0, binance=100_000.0) -> PremiumSnapshot:
    return PremiumSnapshot("BTC", ts, "usdkrw", 1380.0, 1.4, 1.4, 1.5, 1.3, 800_000, upbit, upbit * 0.9999,
                           binance, binance * 0.9999, 0.0005, 0.0005)


def sig(size=2_400_000.0, direction=Direction.LONG_PREMIUM, action="enter") -> Signal:
    return Signal("BTC", direction, action, size, -2.5, 1.5, "normal", 0.8, "test", 0)


def ctx(**kw) -> EntryContext:
    base = dict(snapshot=snap(), positions=[], upbit=Balances(Decimal(50_000_000), {"BTC": Decimal("0.1")}),
                binance=Balances(Decimal(50_000)), rules_upbit=UR, rules_binance=BR, data_problems=[], live=False,
                running=True)
    base.update(kw)
    return EntryContext(**base)


def pos(symbol="BTC", notional=5_000_000.0) -> Position:
    return Position("P1", symbol, Direction.LONG_PREMIUM, "normal", 0, 0.04, 140e6, 0.04, 1e5, 1380.0, 1.4,
                    notional)


@pytest.fixture
def risk(tmp_path):
    clock = ManualClock()
    store = Store(tmp_path, "paper", clock=clock)
    r = RiskManager(OWNER, store, EventBus(), clock)
    yield r
    store.close()


def test_clean_entry_passes(risk):
    assert risk.check_entry(sig(), ctx()) == []


@pytest.mark.parametrize("case,kw,signal_kw,expected", [
    ("paused", {"running": False}, {}, "entries paused (/stop)"),
    ("stale", {"data_problems": ["Upbit KRW-BTC book stale: 12.0 s old (market.max_quote_age_s 10)"]}, {},
     "data freshness: Upbit KRW-BTC book stale: 12.0 s old (market.max_quote_age_s 10)"),
    ("concurrent", {"positions": [pos("ETH"), pos("XRP")]}, {},
     "max concurrent positions: 2 open, limit risk.max_concurrent_positions 2"),
    ("single", {"positions": [pos(notional=5_000_000.0)]}, {},
     "max single position: 7,400,000 KRW after this entry, limit 0.4 x 16,000,000 = 6,400,000 KRW"),
    ("allocation", {}, {"size": 17_000_000.0}, "capital allocation: 17,000,000 KRW in BTC, limit 16,000,000 KRW"),
    ("min size", {}, {"size": 100_000.0},
     "minimum size: 0.00071429 BTC rounds to 0.000 on Binance, minimum 0.001 (step 0.001)"),
    ("upbit krw", {"upbit": Balances(Decimal(1_000_000))}, {},
     "Upbit KRW balance: 1,000,000 KRW free, need 2,401,200 KRW"),
    ("inventory", {"upbit": Balances(Decimal(10**8), {})}, {"direction": Direction.SHORT_PREMIUM},
     "Upbit BTC inventory for a short-premium entry: 0.00000000 BTC held, need 0.01714457 BTC"),
    ("margin", {"binance": Balances(Decimal(100))}, {},
     "Binance USDT margin: 100.00 USDT free, need 1,784.82 USDT at 1x"),
    ("canary", {"live": True}, {}, "live canary: order 2,400,000 KRW, limit risk.live_canary_max_krw 10,000 KRW"),
])
def test_refusals_name_rule_value_and_limit(risk, case, kw, signal_kw, expected):
    s = sig(**signal_kw)
    reasons = risk.check_entry(s, ctx(**kw))
    assert any(r.startswith(expected) for r in reasons), reasons


def test_canary_below_binance_minimum_says_so(risk):
    reasons = risk.check_entry(sig(size=10_000.0), ctx(live=True))
    assert any(r.startswith("minimum size") for r in reasons)


def test_emergency_move_halts_and_persists(risk, tmp_path):
    t0 = 1_700_000_000_000
    risk.watch_prices(snap(t0))
    assert not risk.halted
    risk.watch_prices(snap(t0 + 60_000, upbit=147_500_000.0))  # +5.36 % within the window
    assert risk.halted
    hs = risk.store.halt_state()
    assert "Upbit BTC moved 5.36% within 300 s (risk.emergency_move_pct 5)" in hs.reason
    assert [e for e in risk.bus.history if e.kind == "halt" and e.level == "critical"]
    refusal = risk.check_entry(sig(), ctx())
    assert refusal[0].startswith("halted: emergency: Upbit BTC moved 5.36%")
    # persists across a restart of the store
    risk.store.close()
    again = Store(tmp_path, "paper")
    try:
        assert again.halt_state().halted
    finally:
        again.close()
        risk.store = Store(tmp_path, "paper")


def test_move_outside_window_does_not_halt(risk):
    t0 = 1_700_000_000_000
    risk.watch_prices(snap(t0))
    risk.watch_prices(snap(t0 + 301_000, upbit=150_000_000.0))  # older sample left the 300 s window
    assert not risk.halted


def test_repeated_order_failures_halt_then_resume(risk):
    risk.order_failed("BTC enter rolled_back")
    risk.order_failed("BTC enter rolled_back")
    assert not risk.halted
    risk.order_failed("BTC enter failed")
    assert risk.halted
    assert "3 consecutive order failures" in risk.store.halt_state().reason
    assert risk.resume("owner")
    assert not risk.halted and risk.failures == 0
    assert any(e.message.startswith("resumed by owner") for e in risk.bus.history)


@pytest.mark.parametrize("case,kw,signal_kw,korean", [
    ("paused", {"running": False}, {}, "진입 일시정지 (/stop)"),
    ("positions", {"positions": [pos("ETH", 1.0), pos("XRP", 1.0)]}, {}, "최대 동시 포지션: 2개 보유"),
    ("balance", {"upbit": Balances(Decimal(1_000_000), {})}, {}, "업비트 원화 잔고: 가용 1,000,000원, 필요 2,401,200원"),
    ("inventory", {"upbit": Balances(Decimal(10**8), {})}, {"direction": Direction.SHORT_PREMIUM},
     "김프 숏 진입용 업비트 BTC 보유량: 0.00000000 BTC 보유"),
    ("margin", {"binance": Balances(Decimal(100))}, {}, "바이낸스 USDT 증거금: 가용 100.00 USDT, 필요 1,784.82 USDT (1배)"),
])
def test_refusals_reach_a_korean_chat_in_korean_and_stay_english_as_strings(risk, case, kw, signal_kw, korean):
    """A refusal is the English string for code, the log and the journal, and Korean where the owner
    reads it: in the trader's 'refused' message rendered for a Korean chat."""
    from kimpbot.i18n import Joined, render
    from kimpbot.i18n import events as E

    s = sig(**signal_kw)
    reasons = risk.check_entry(s, ctx(**kw))
    shown = [render(r, "ko") for r in reasons]
    assert any(k.startswith(korean) for k in shown), shown
    assert all(isinstance(r, str) and r.isascii() for r in reasons), reasons   # English as a string
    msg = E.REFUSED(coin="BTC", direction=E.direction(s.direction), action=E.action("enter"), why=Joined(tuple(reasons)))
    assert korean in msg.render("ko") and korean not in msg.render("en")
