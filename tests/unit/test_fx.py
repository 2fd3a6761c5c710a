"""FX guard: the rate in use is trusted only while the other source confirms it (their ratio stays
in its own recent range), judged by each source's own timestamp; it says which source is suspect."""

from dataclasses import replace

import pytest

from kimpbot.clock import ManualClock
from kimpbot.market.fx import FxGuard, FxPolicy, parse_bank_fx, when_kst
from kimpbot.models import BadMarketData, FxRate

BANK, USDT = 1380.0, 1395.0
POLICY = FxPolicy(max_age_s=300, usdkrw_max_age_s=900, usdt_max_age_s=300, max_jump_pct=1.0,
                  max_divergence_pct=5.0, window_h=6, band_mads=5, min_band_pct=0.3, max_band_pct=1.0,
                  confirm_readings=3)


def guard(clock, **kw):
    return FxGuard(replace(POLICY, **kw), clock)


def feed(g, c, bank=None, usdt=None, bank_ts=None, usdt_ts=None):
    now = c.now_ms()
    notes = []
    if usdt is not None:
        notes.append(g.update(FxRate("usdt", usdt, usdt_ts or now, now)))
    if bank is not None:
        notes.append(g.update(FxRate("usdkrw", bank, bank_ts or now, now)))
    return [n for n in notes if n]


def learned(c, **kw):
    """A guard past its first readings, with 20 minutes of a steady ratio behind it."""
    g = guard(c, **kw)
    for _ in range(40):
        feed(g, c, BANK, USDT)
        c.advance(30)
    feed(g, c, BANK, USDT)
    assert g.problems() == []
    return g


def test_missing_learning_then_fresh_then_stale():
    c = ManualClock()
    g = guard(c)
    assert g.problems() == ["FX bank USD/KRW rate missing: no reading yet"]
    feed(g, c, bank=BANK)
    (p,) = g.problems()
    assert p.startswith("FX bank USD/KRW unconfirmed") and "Upbit KRW-USDT no reading yet" in p
    feed(g, c, BANK, USDT)
    assert g.problems()[0].startswith("FX check learning: 1/3")
    for _ in range(2):
        c.advance(30)
        feed(g, c, BANK, USDT)
    assert g.problems() == []
    c.advance(301)
    (p,) = g.problems()
    assert "stale" in p and "301 s" in p and "fx.max_age_s 300" in p


def test_unsteady_first_readings_are_not_learned():
    c = ManualClock()
    g = guard(c)
    for bank in (BANK, BANK * 1.01, BANK, BANK * 0.99):  # the ratio jumps 1 % each time
        feed(g, c, bank, USDT)
        c.advance(30)
    assert g.problems()[0].startswith("FX check learning: 1/3")


def test_persistent_wrong_bank_rate_stays_suspect_until_usdt_confirms():
    c = ManualClock()
    g = learned(c)
    notes = feed(g, c, bank=BANK * 1.029)  # +2.9 %, and it stays there
    assert any("FX bank USD/KRW suspect" in n for n in notes)
    for _ in range(6 * 120):  # six hours of the same wrong answer: no trust by waiting
        c.advance(30)
        feed(g, c, BANK * 1.029, USDT)
    (p,) = g.problems()
    assert p.startswith("FX bank USD/KRW suspect:") and "+2.90% since confirmed" in p
    assert "Upbit KRW-USDT did not follow" in p
    assert g.suspect == "usdkrw"
    # the USDT market moves the same way: the move is confirmed
    notes = feed(g, c, BANK * 1.029, USDT * 1.029)
    assert g.problems() == [] and g.suspect is None
    assert any("confirmed again by Upbit KRW-USDT" in n for n in notes)


def test_wrong_rate_in_small_steps_trips():
    c = ManualClock()
    g = learned(c)
    bank = BANK
    tripped_at = None
    for i in range(1, 9):  # +0.25 % a step: each well inside the old 1 % jump band
        bank *= 1.0025
        notes = feed(g, c, bank, USDT)
        assert not any("jumped" in n for n in notes)
        if g.problems() and tripped_at is None:
            tripped_at = i
        c.advance(60)
    assert tripped_at == 2  # 0.5 % from the ratio's range: beyond the 0.3 % minimum band
    (p,) = g.problems()
    assert p.startswith("FX bank USD/KRW suspect")


def test_genuine_move_confirmed_by_both_sources():
    c = ManualClock()
    g = learned(c)
    notes = feed(g, c, usdt=USDT * 1.015)  # USDT first (websocket), the bank rate on its next poll
    assert any("Upbit KRW-USDT suspect" in n for n in notes)
    assert g.problems() == []  # the bank rate in use has not moved: still confirmed
    assert "Upbit KRW-USDT suspect" in g.note()
    notes = feed(g, c, bank=BANK * 1.015)
    assert g.problems() == [] and g.suspect is None and g.note() == ""
    assert notes == ["FX Upbit KRW-USDT confirmed again by bank USD/KRW (USDT/bank +1.09%)"]


def test_usdt_source_needs_the_bank_to_confirm_a_move():
    c = ManualClock()
    g = learned(c, source="usdt")
    assert g.label == "Upbit KRW-USDT"
    feed(g, c, usdt=USDT * 1.015)
    (p,) = g.problems()
    assert p.startswith("FX Upbit KRW-USDT suspect")
    feed(g, c, bank=BANK * 1.015)
    assert g.problems() == []


def test_frozen_source_timestamp_is_stale_even_while_it_keeps_arriving():
    c = ManualClock()
    g = learned(c, weekend="stop")
    frozen = c.now_ms()
    for _ in range(31):
        c.advance(30)
        feed(g, c, BANK, USDT, bank_ts=frozen)  # the same quote, answered every poll
    (p,) = g.problems()
    assert p.startswith("FX bank USD/KRW stale at source: quoted " + when_kst(frozen))
    assert "fx.usdkrw_max_age_s 900" in p
    # KRW-USDT whose last trade is old is stale too (it trades around the clock)
    c2 = ManualClock()
    g2 = learned(c2, source="usdt")
    t = c2.now_ms()
    for _ in range(11):
        c2.advance(30)
        feed(g2, c2, BANK, USDT, usdt_ts=t)
    (p,) = g2.problems()
    assert p.startswith("FX Upbit KRW-USDT stale at source") and "fx.usdt_max_age_s 300" in p


def test_weekend_bank_quote_confirmed_by_usdt_keeps_trading():
    c = ManualClock(1_764_916_200_000)  # Fri 2025-12-05 15:30 KST
    g = learned(c)
    closed = c.now_ms()  # the last learned bank quote is the last one the bank sends
    for _ in range(2 * 60):  # an hour, the bank quote frozen at Friday's close, USDT wobbling
        c.advance(30)
        feed(g, c, BANK, USDT * 1.001, bank_ts=closed)
    assert g.problems() == []
    assert g.note() == f"bank rate from {when_kst(closed)}, confirmed by USDT"
    assert "Fri" in g.note()
    # USDT walks away from the old bank quote: no longer confirmed
    feed(g, c, BANK, USDT * 1.01, bank_ts=closed)
    (p,) = g.problems()
    assert p.startswith("FX bank USD/KRW unconfirmed: quoted " + when_kst(closed))


def test_confirmer_unavailable_tolerates_no_move_of_the_rate_in_use():
    c = ManualClock()
    g = learned(c)
    c.advance(301)  # USDT not received for 301 s
    feed(g, c, bank=BANK)
    assert g.problems() == [] and "Upbit KRW-USDT unavailable" in g.note()
    feed(g, c, bank=BANK * 1.005)
    (p,) = g.problems()
    assert p.startswith("FX bank USD/KRW unconfirmed: moved +0.50%")


def test_divergence_between_sources():
    c = ManualClock()
    g = guard(c)
    now = c.now_ms()
    g.update(FxRate("usdkrw", 1380.0, now, now))
    g.update(FxRate("usdt", 1460.0, now, now))  # +5.8 %
    (p,) = g.problems()
    assert "diverge" in p and "+5.80%" in p
    assert g.divergence_pct() == pytest.approx((1460 / 1380 - 1) * 100)
    c.advance(400)
    g.update(FxRate("usdkrw", 1381.0, c.now_ms(), c.now_ms()))
    assert g.divergence_pct() is None  # a reading not received lately is not compared


def test_unknown_source_refused():
    with pytest.raises(ValueError):
        FxGuard(replace(POLICY, source="eur"), ManualClock())


def test_parse_bank_fx_reads_the_source_time():
    body = [{"code": "FRX.KRWUSD", "currencyCode": "USD", "basePrice": 1383.5, "timestamp": 1_700_000_000_000}]
    r = parse_bank_fx(body, 5)
    assert r.rate == 1383.5 and r.source == "usdkrw" and r.exchange_ts == 1_700_000_000_000
    # date/time (KST) older than timestamp: the quote's age is the older one
    body = [{"basePrice": 1327.5, "date": "2023-05-19", "time": "23:58:00", "timestamp": 1684512177277}]
    r = parse_bank_fx(body, 5)
    assert r.exchange_ts == 1684508280000  # 2023-05-19 14:58:00 UTC
    r = parse_bank_fx([{"basePrice": 1327.5, "date": "2023-05-19", "time": "23:58:00"}], 5)
    assert r.exchange_ts == 1684508280000
    with pytest.raises(BadMarketData, match="age"):
        parse_bank_fx([{"basePrice": 1383.5}], 5)
    for bad in ([], {}, [{"basePrice": "NaN"}], [{"basePrice": -1}], [{"basePrice": 13.8}], "<html>"):
        with pytest.raises(BadMarketData):
            parse_bank_fx(bad, 5)


def test_ratio_on_the_edge_does_not_flap():
    c = ManualClock()
    g = learned(c)
    events = feed(g, c, bank=BANK / (1 - 0.0035))  # ratio 0.35 % below its range's centre
    assert g.suspect == "usdkrw" and len(events) == 1
    events = feed(g, c, bank=BANK / (1 - 0.0028))  # back inside, but on the edge
    assert g.suspect == "usdkrw" and events == [] and g.problems()
    events = feed(g, c, bank=BANK / (1 - 0.001))
    assert g.suspect is None and g.problems() == [] and len(events) == 1


def test_fx_keys_from_the_strategy_file():
    from kimpbot.strategy_file.read import load_owner_config
    from kimpbot.strategy_file.declare import ConfigError

    owner = load_owner_config(None, "[fx]\nratio_window_h = 12\nweekend = \"stop\"\nusdkrw_max_age_s = 600\n")
    pol = FxPolicy.from_owner(owner)
    assert (pol.window_h, pol.weekend, pol.usdkrw_max_age_s, pol.min_band_pct) == (12.0, "stop", 600.0, 0.3)
    rows = {k: st for k, _, st in owner.params.describe()}
    assert rows["fx.ratio_min_band_pct"] == "default, unset by owner"
    assert rows["fx.weekend"] == "set by owner"
    with pytest.raises(ConfigError, match="fx.ratio_min_band_pct.*at most fx.ratio_max_band_pct"):
        load_owner_config(None, "[fx]\nratio_min_band_pct = 2\nratio_max_band_pct = 1\n")
    with pytest.raises(ConfigError, match="fx.weekend"):
        load_owner_config(None, "[fx]\nweekend = \"maybe\"\n")
    # the retired key still loads, and the start banner says it no longer acts
    from kimpbot.market.fx import retired_notes
    assert retired_notes(load_owner_config(None, "[fx]\njump_hold_s = 60\n"))[0].startswith("fx.jump_hold_s is no")
    assert retired_notes(owner) == []


def test_monday_gap_after_a_weekend_drift_is_confirmed_not_stuck():
    c = ManualClock()
    g = learned(c)
    closed = c.now_ms()
    usdt = USDT
    for _ in range(48 * 6):  # a weekend: KRW-USDT drifts up 0.6 % slowly, the bank quote is frozen
        c.advance(600)
        usdt *= 1.006 ** (1 / 288)
        feed(g, c, BANK, usdt, bank_ts=closed)
    (p,) = g.problems()  # the drift left Friday's range: no longer confirmed
    assert p.startswith("FX bank USD/KRW unconfirmed: quoted")
    feed(g, c, BANK * 1.006, usdt)  # Monday: the bank quotes again, the gap matches the drift
    assert g.problems() == [] and g.note() == ""


def test_started_on_a_weekend_learns_again_when_the_bank_quotes():
    c = ManualClock()
    g = guard(c)
    closed = c.now_ms() - 40 * 3_600_000  # Friday's close, 40 hours ago
    for _ in range(3):
        feed(g, c, BANK, USDT, bank_ts=closed)
        c.advance(30)
    assert g.problems() == [] and "confirmed by USDT" in g.note()
    feed(g, c, BANK * 1.004, USDT)  # Monday's first quote: the weekend reference is dropped
    assert g.problems()[0].startswith("FX check learning: 1/3")
    for _ in range(2):
        c.advance(30)
        feed(g, c, BANK * 1.004, USDT)
    assert g.problems() == []


def test_history_survives_a_restart_and_judges_the_first_readings():
    c = ManualClock()
    g = learned(c)
    doc = g.to_doc()
    c.advance(120)  # a restart two minutes later, the bank rate wrong from its first answer
    g2 = guard(c)
    assert g2.restore(doc) == len(g.history) and "restored" in g2.start_note()
    feed(g2, c, BANK * 1.02, USDT)
    (p,) = g2.problems()
    assert p.startswith("FX bank USD/KRW suspect: +2.00% since confirmed")
    # too old to speak for today's ratio: learn again
    c.advance(7 * 3600)
    g3 = guard(c)
    assert g3.restore(doc) == 0 and "steady bank readings" in g3.start_note()
    assert g3.problems()[0].startswith("FX bank USD/KRW rate missing")
    for bad in ({}, {"version": 1}, {"version": 1, "saved_ms": 1, "history": [[1, "x", True]]},
                {"version": 1, "saved_ms": 1, "history": [[1, 7.0, True]]}, [1, 2]):
        with pytest.raises((ValueError, TypeError, KeyError)):
            guard(c).restore(bad)
