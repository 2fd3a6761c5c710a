"""The catalogue itself: every entry in both languages, same fields, and the display units."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from kimpbot import i18n
from kimpbot.config import load_settings
from kimpbot.events import Event
from kimpbot.i18n import Msg, cell_width, too_wide
from kimpbot.i18n.units import duration, kst, krw, krw_short, money, pct, price, qty, usdt

i18n.all_areas()
ENTRIES = sorted(i18n.REGISTRY.items())
HANGUL = re.compile(r"[\uac00-\ud7a3]")
LATIN_WORD = re.compile(r"(?<![/{\w])[A-Za-z]{3,}")


def _bare(template: str) -> str:
    """The template without its fields and /commands: what a reader sees as words."""
    return re.sub(r"{[^}]*}|/\w+", "", template)


def test_catalogue_is_not_empty():
    assert len(ENTRIES) >= 10, "the area modules did not register their entries"


@pytest.mark.parametrize("key,msg", ENTRIES, ids=[k for k, _ in ENTRIES])
def test_every_entry_has_both_languages(key, msg):
    assert msg.ko.strip() and msg.en.strip(), f"{key}: a language is empty"
    # Korean text must be Korean unless the entry holds no words (symbols, names, commands)
    if msg.ko == msg.en:
        assert not LATIN_WORD.search(_bare(msg.ko).replace("USDT", "").replace("KRW", "")), \
            f"{key}: the Korean entry is the English text"
    else:
        assert HANGUL.search(msg.ko) or not LATIN_WORD.search(_bare(msg.en)), f"{key}: no Korean in the ko text"


def test_fields_must_match_between_languages():
    with pytest.raises(ValueError, match="fields differ"):
        Msg("{coin} 체결", "{symbol} filled")


def test_text_renders_late_in_the_readers_language():
    m = Msg("{coin} {amount} 체결", "{coin} filled for {amount}")
    t = m(coin="BTC", amount=krw(81153000))
    assert t.render("ko") == "BTC 81,153,000원 체결"
    assert t.render("en") == "BTC filled for 81,153,000 KRW"
    with i18n.using("ko"):
        assert str(t) == "BTC 81,153,000원 체결"


def test_event_keeps_english_for_logs_and_the_text_for_the_chat():
    m = Msg("{coin} 매수 체결", "{coin} bought")
    ev = Event("fill", m(coin="XRP"))
    assert ev.message == "XRP bought"
    assert ev.shown("ko") == "XRP 매수 체결"
    assert Event("fill", "plain").shown("ko") == "plain"


def test_units_in_both_languages():
    with i18n.using("ko"):
        assert str(krw(81153000.4)) == "81,153,000원"
        assert str(krw(-1582.6, sign=True)) == "-1,583원"
        assert str(krw(1234, sign=True)) == "+1,234원"
        assert str(krw_short(123_456_789)) == "1.23억원"
        assert str(krw_short(45_200_000)) == "4,520만원"
        assert str(duration(3900)) == "1시간 5분"
        assert str(krw(None)) == "—"
    with i18n.using("en"):
        assert str(krw(81153000)) == "81,153,000 KRW"
        assert str(krw_short(123_456_789)) == "123,456,789 KRW"
        assert str(duration(3900)) == "1h05m"
        assert str(duration(3 * 86400 + 4 * 3600)) == "3d4h"
        assert str(krw(None)) == "n/a"
    assert str(qty(Decimal("0.001230000"), Decimal("0.00001"), "BTC")) == "0.00123 BTC"
    assert str(qty(Decimal("12.9"), 1, "XRP")) == "12 XRP"   # down to the step, as booked
    assert str(qty(Decimal("0.0012300"))) == "0.00123"
    assert str(price(Decimal("81153000.0"), 1000)) == "81,153,000"
    assert str(price("67250.10", "0.1", "USDT")) == "67,250.1 USDT"
    assert str(pct(0.5234)) == "+0.52%"
    assert str(pct(-2)) == "-2.00%"
    assert str(usdt(Decimal("1582.48350000"))) == "1,582.48 USDT"
    assert str(money(Decimal("0.00000123"), "BTC")) == "0.00000123 BTC"
    assert str(kst(0)) == "01-01 09:00 KST"


def test_cell_width_counts_hangul_twice():
    assert cell_width("BTC 진입") == 8
    assert too_wide("a" * 36) == []
    assert too_wide("가" * 19) == ["가" * 19]


@pytest.mark.korean_default
def test_korean_is_the_default_language():
    assert load_settings({}).lang == "ko"
    assert load_settings({"KIMPBOT_LANG": "en"}).lang == "en"
