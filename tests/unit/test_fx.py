"""FX guard: missing, stale, jumping and diverging rates stop signals and say why."""

import pytest

from kimpbot.clock import ManualClock
from kimpbot.market.fx import FxGuard, parse_bank_fx
from kimpbot.models import BadMarketData, FxRate


def guard(clock, source="usdkrw"):
    return FxGuard(source, clock, max_age_s=300, max_jump_pct=1.0, jump_hold_s=60, max_divergence_pct=5.0)


def test_missing_then_fresh_then_stale():
    c = ManualClock()
    g = guard(c)
    assert g.problems() == ["FX bank USD/KRW rate missing: no reading yet"]
    g.update(FxRate("usdkrw", 1380.0, c.now_ms(), c.now_ms()))
    assert g.problems() == []
    c.advance(301)
    (p,) = g.problems()
    assert "stale" in p and "301 s" in p and "fx.max_age_s 300" in p


def test_jump_holds_signals_then_releases():
    c = ManualClock()
    g = guard(c)
    g.update(FxRate("usdkrw", 1380.0, c.now_ms(), c.now_ms()))
    c.advance(30)
    note = g.update(FxRate("usdkrw", 1400.0, c.now_ms(), c.now_ms()))  # +1.45 %
    assert note and "jumped 1.45%" in note and "1,380.00 -> 1,400.00" in note
    assert any("jumped" in p for p in g.problems())
    c.advance(61)
    g.update(FxRate("usdkrw", 1400.5, c.now_ms(), c.now_ms()))
    assert g.problems() == []


def test_divergence_between_sources():
    c = ManualClock()
    g = guard(c)
    now = c.now_ms()
    g.update(FxRate("usdkrw", 1380.0, now, now))
    g.update(FxRate("usdt", 1400.0, now, now))  # +1.45 %: inside the band
    assert g.problems() == []
    assert g.divergence_pct() == pytest.approx((1400 / 1380 - 1) * 100)
    c.advance(1)
    g2 = guard(c)
    g2.update(FxRate("usdkrw", 1380.0, now, now))
    g2.update(FxRate("usdt", 1460.0, now, now))  # +5.8 %
    (p,) = g2.problems()
    assert "diverge" in p and "+5.80%" in p
    # a stale cross-check reading is not compared (it would fake a divergence)
    c.advance(400)
    g2.update(FxRate("usdkrw", 1381.0, c.now_ms(), c.now_ms()))
    assert g2.divergence_pct() is None


def test_usdt_source_labelled():
    c = ManualClock()
    g = guard(c, "usdt")
    assert g.label == "Upbit KRW-USDT"
    assert "Upbit KRW-USDT rate missing" in g.problems()[0]
    with pytest.raises(ValueError):
        FxGuard("eur", c, max_age_s=1, max_jump_pct=1, jump_hold_s=1, max_divergence_pct=1)


def test_parse_bank_fx():
    body = [{"code": "FRX.KRWUSD", "currencyCode": "USD", "basePrice": 1383.5, "timestamp": 1_700_000_000_000}]
    r = parse_bank_fx(body, 5)
    assert r.rate == 1383.5 and r.source == "usdkrw" and r.exchange_ts == 1_700_000_000_000
    for bad in ([], {}, [{"basePrice": "NaN"}], [{"basePrice": -1}], [{"basePrice": 13.8}], "<html>"):
        with pytest.raises(BadMarketData):
            parse_bank_fx(bad, 5)
