"""SPEC §3 protections, one rule at a time, over a real store: each trips, halts (persisted) or blocks
its coin, alerts once naming rule, value and limit, and /resume lifts it."""

from __future__ import annotations

import pytest

from kimpbot.clock import ManualClock
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.events import EventBus
from kimpbot.models import Direction
from kimpbot.protections import History, RoundTrip, consecutive_losses, daily_loss_krw, kst_day_start
from kimpbot.risk import RiskManager
from kimpbot.store import Store
from kimpbot.strategy.base import Signal

# 2023-11-14 22:13:20 UTC = 2023-11-15 07:13:20 KST
T0 = 1_700_000_000_000


@pytest.fixture
def env(tmp_path):
    clock = ManualClock(T0)
    store = Store(tmp_path, "paper", clock=clock)
    bus = EventBus()
    risk = RiskManager(load_owner_config(None), store, bus, clock)
    yield risk, store, bus, clock
    store.close()


_n = iter(range(1, 10_000))


def book_exit(store: Store, clock: ManualClock, symbol: str, realized: float, risk: RiskManager | None = None) -> str:
    """A round trip as the executor books it: an open position, closed with its realized P&L; with
    ``risk``, followed by the check the trader makes after every exit."""
    pid = f"P{next(_n)}"
    store.upsert_position({"id": pid, "symbol": symbol, "direction": "long_premium", "opened_ts": clock.now_ms()})
    store.close_position(pid, realized_krw=realized)
    if risk is not None:
        risk.protections_check()
    return pid


def halts(bus: EventBus) -> list[str]:
    return [e.message for e in bus.history if e.kind == "halt" and e.level == "critical"]


def entry_refusals(risk: RiskManager, symbol: str = "BTC") -> str | None:
    return risk.protection_refusal(symbol)


def test_spec_defaults_of_the_protections():
    o = load_owner_config(None)
    assert (o["protections.daily_loss_limit_pct"], o["protections.max_round_trips_per_hour"],
            o["protections.loss_cooldown_minutes"], o["protections.max_consecutive_losses"]) == (2.0, 4, 30.0, 3)
    rows = {k: s for k, _, s in o.params.describe()}
    assert all(rows[k] == "default, unset by owner" for k in rows if k.startswith("protections."))


def test_daily_loss_limit_halts_once_and_resume_lifts_it(env):
    risk, store, bus, clock = env
    # 2 % of 40,000,000 = 800,000 KRW; a win offsets a loss (net), a rollback's cost counts
    book_exit(store, clock, "BTC", +100_000)
    clock.advance(3600)
    book_exit(store, clock, "ETH", -500_000)
    store.upsert_trade({"id": "T9", "symbol": "XRP", "status": "rolled_back", "cost_krw": 200_000.0,
                        "created_ms": clock.now_ms(), "closed_ms": clock.now_ms()})
    clock.advance(3600)
    risk.protections_check()
    assert not risk.halted  # net loss 600,000 < 800,000
    book_exit(store, clock, "XRP", -250_000)  # net 850,000
    clock.advance(3600)  # past the cooldowns: only the daily limit is left
    risk.protections_check()
    risk.protections_check()
    assert risk.halted and store.halt_state().by == "protections"
    (msg,) = halts(bus)
    assert "daily loss limit" in msg and "850,000 KRW" in msg
    assert "protections.daily_loss_limit_pct = 2 % of 40,000,000 KRW = 800,000 KRW" in msg
    assert "daily loss limit" in (entry_refusals(risk) or "")
    assert risk.resume("owner")
    assert not risk.halted and entry_refusals(risk) is None
    risk.protections_check()
    assert not risk.halted and len(halts(bus)) == 1  # counts restart at the resume


def test_daily_loss_counts_the_kst_day_only():
    day0 = kst_day_start(T0)
    assert (day0 + 9 * 3_600_000) % 86_400_000 == 0 and day0 <= T0 < day0 + 86_400_000
    h = History((RoundTrip("a", "BTC", day0 - 1, -1_000_000.0), RoundTrip("b", "BTC", day0 + 1, -10.0)))
    assert daily_loss_krw(h, T0) == 10.0


def test_round_trips_per_coin_per_hour_halt(env):
    risk, store, bus, clock = env
    for _ in range(3):
        book_exit(store, clock, "BTC", +1_000)
        clock.advance(600)
    book_exit(store, clock, "ETH", +1_000)  # another coin does not count for BTC
    risk.protections_check()
    assert not risk.halted
    book_exit(store, clock, "BTC", +1_000)  # the 4th BTC round trip within 60 min
    risk.protections_check()
    assert risk.halted
    (msg,) = halts(bus)
    assert "round trips per coin" in msg and "BTC made 4 round trips within 60 min" in msg
    assert "protections.max_round_trips_per_hour = 4 per hour" in msg
    assert risk.resume("owner") and not risk.halted


def test_round_trips_older_than_an_hour_do_not_count(env):
    risk, store, bus, clock = env
    for _ in range(4):
        book_exit(store, clock, "BTC", +1_000)
        clock.advance(1200)  # 4 trips over 80 minutes: at most 3 within any hour
    risk.protections_check()
    assert not risk.halted and halts(bus) == []


def test_consecutive_losses_halt_and_a_win_breaks_the_streak(env):
    risk, store, bus, clock = env
    book_exit(store, clock, "BTC", -1_000)
    book_exit(store, clock, "ETH", -1_000)
    book_exit(store, clock, "XRP", +5)
    book_exit(store, clock, "BTC", -1_000)
    book_exit(store, clock, "ETH", -1_000)
    risk.protections_check()
    assert not risk.halted
    book_exit(store, clock, "XRP", -1_000)
    risk.protections_check()
    assert risk.halted
    (msg,) = halts(bus)
    assert "consecutive losses: 3 exits in a row at a loss, limit protections.max_consecutive_losses = 3" in msg
    assert consecutive_losses(History((RoundTrip("x", "BTC", 1, -1.0), RoundTrip("y", "BTC", 2, 0.0)))) == 0
    assert risk.resume("owner")
    risk.protections_check()
    assert not risk.halted


def test_cooldown_after_a_loss_blocks_that_coin_alerts_once_and_ends(env):
    risk, store, bus, clock = env
    book_exit(store, clock, "BTC", -12_345)
    risk.protections_check()
    risk.protections_check()
    alerts = [e for e in bus.history if e.kind == "protection"]
    assert len(alerts) == 1 and alerts[0].level == "critical"
    assert "cooldown after a loss" in alerts[0].message and "-12,345 KRW" in alerts[0].message
    assert "protections.loss_cooldown_minutes = 30 min" in alerts[0].message
    assert not risk.halted  # one coin waits; the others trade
    assert "no new BTC entry" in (entry_refusals(risk, "BTC") or "")
    assert entry_refusals(risk, "ETH") is None
    clock.advance(29 * 60)
    assert entry_refusals(risk, "BTC") is not None
    clock.advance(61)
    assert entry_refusals(risk, "BTC") is None  # ends by itself


def test_resume_lifts_a_cooldown_early(env):
    risk, store, bus, clock = env
    book_exit(store, clock, "ETH", -1, risk)
    assert entry_refusals(risk, "ETH") is not None
    assert risk.resume("owner")
    assert entry_refusals(risk, "ETH") is None


def test_check_entry_names_the_protection(env):
    risk, store, bus, clock = env
    from test_risk import ctx  # the risk tests' entry context (tests/risk on the path via rootdir)

    book_exit(store, clock, "BTC", -1_000, risk)
    sig = Signal("BTC", Direction.LONG_PREMIUM, "enter", 2_400_000.0, -2.5, 1.5, "normal", 0.8, "test", 0)
    reasons = risk.check_entry(sig, ctx())
    assert any("cooldown after a loss" in r for r in reasons)


def test_a_halt_survives_a_restart_and_a_loss_is_not_alerted_twice(tmp_path):
    clock = ManualClock(T0)
    store = Store(tmp_path, "paper", clock=clock)
    bus = EventBus()
    risk = RiskManager(load_owner_config(None), store, bus, clock)
    for _ in range(3):
        book_exit(store, clock, "BTC", -1)
    risk.protections_check()
    assert risk.halted
    store.close()
    store = Store(tmp_path, "paper", clock=clock)
    bus2 = EventBus()
    risk2 = RiskManager(load_owner_config(None), store, bus2, clock)
    try:
        assert risk2.halted  # persisted
        risk2.protections_check()
        assert [e for e in bus2.history if e.kind in ("halt", "protection")] == []
    finally:
        store.close()


def test_sizes_below_a_venues_minimum_are_named_at_start():
    from decimal import Decimal

    from kimpbot.execution.venues import MarketRules
    from kimpbot.protections import unfillable_sizes

    rules = {("upbit", s): MarketRules(Decimal("0.0001"), Decimal("0.0001"), Decimal("5000")) for s in
             ("BTC", "ETH", "XRP")}
    rules |= {("binance", "BTC"): MarketRules(Decimal("0.001"), Decimal("0.001"), Decimal("100")),
              ("binance", "ETH"): MarketRules(Decimal("0.001"), Decimal("0.001"), Decimal("20")),
              ("binance", "XRP"): MarketRules(Decimal("0.1"), Decimal("0.1"), Decimal("5"))}
    assert unfillable_sizes(load_owner_config(None), rules, 1380.0) == []  # SPEC's sizes fill everywhere
    small = load_owner_config(None, "[capital]\ninitial_capital_krw = 3_000_000\n")
    # BTC: 3,000,000 x 0.4 x 0.1 x 1.5 / 3 = 60,000 KRW < 100 USDT (138,000 KRW)
    (problem,) = unfillable_sizes(small, rules, 1380.0)
    assert problem.startswith("BTC: the smallest entry 60,000 KRW is below Binance's minimum notional 100 USDT")
    assert unfillable_sizes(small, rules, None) == []  # no rate yet: not judged
