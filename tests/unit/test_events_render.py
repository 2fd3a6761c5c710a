"""Every event message of the trading side (kimpbot/i18n/events.py) rendered in Korean and English with
realistic data: no field missing, numbers in the owner's units, the start banner within 36 cells.

``docs/phone/events.md`` is generated from these renderings (``KIMPBOT_WRITE_DOCS=1`` rewrites it;
otherwise the test checks the file is current).
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from kimpbot import i18n
from kimpbot.events import Event
from kimpbot.i18n import common as C
from kimpbot.i18n import events as E
from kimpbot.i18n import too_wide
from kimpbot.i18n.units import duration, krw, kst, money, num, pct, price, qty
from testkit import check_doc

KRW_TICK = Decimal(1000)  # Upbit's KRW price unit at 81 million
ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "phone" / "events.md"
MS = 1_764_741_600_000  # 2025-12-03 06:00 UTC = 15:00 KST


def _pair(state=None) -> dict:
    return dict(coin="BTC", direction=E.direction("long_premium"), action=E.action("enter"),
                state=state or E.FILLED(), uside=C.side("buy"), uqty=qty(Decimal("0.00123000"), "0.00000001", "BTC"),
                uprice=price(Decimal("81153000"), KRW_TICK, "KRW"), bside=C.side("sell"),
                bqty=qty(Decimal("0.001"), "0.001", "BTC"), bprice=price(Decimal("58420.1"), "0.1", "USDT"),
                premium=pct(1.234), expected=pct(1.2), target=pct(0.8, sign=False),
                ufee=money(Decimal("1582.48350000"), "KRW"), bfee=money(Decimal("0.02921005"), "USDT"))


def _unwound():
    return E.TAIL_UNWOUND(cost=krw(3312.7), fees=krw(2101.2), move=krw(1211.5))


# Realistic arguments for every entry (a new entry without a sample fails test_every_entry_has_a_sample).
SAMPLES: dict[str, dict] = {
    "LEG_FILL": dict(coin="BTC", venue=C.venue("upbit"), side=C.side("buy"),
                     filled=qty(Decimal("0.00123"), "0.00000001"), qty=qty(Decimal("0.00123"), "0.00000001", "BTC"),
                     price=price(Decimal("81153000.0"), KRW_TICK, "KRW"), status=E.status("filled"),
                     fee=money(Decimal("1582.48350000"), "KRW")),
    "TRADE_FILLED": _pair(),
    "EXIT_DONE": dict(coin="BTC", direction=E.direction("long_premium"), verb=E.CLOSED(), uside=C.side("sell"),
                      uqty=qty(Decimal("0.00123"), "0.00000001", "BTC"), uprice=price(82_050_000, KRW_TICK, "KRW"),
                      bside=C.side("buy"), bqty=qty(Decimal("0.001"), "0.001", "BTC"),
                      bprice=price(Decimal("58380.4"), "0.1", "USDT"), pnl=krw(15234.6, sign=True)),
    "PARTLY_CLOSED": dict(done=qty(Decimal("0.0005"), "0.001"), total=qty(Decimal("0.001"), "0.001", "BTC")),
    "TRADE_FAILED_HEAD": dict(coin="BTC", direction=E.direction("long_premium"), action=E.action("enter")),
    "EXIT_FAILED_HEAD": dict(coin="BTC"),
    "TRADE_FAILED": dict(head=E.TRADE_FAILED_HEAD(coin="BTC", direction=E.direction("long_premium"),
                                                  action=E.action("enter")),
                         why="binance: -2019 Margin is insufficient.", tail=_unwound()),
    "TAIL_UNWOUND": dict(cost=krw(3312.7), fees=krw(2101.2), move=krw(1211.5)),
    "TAIL_EXIT_REVERSED": dict(cost=krw(2210)),
    "UNWIND": dict(coin="BTC", venue=C.venue("upbit"), side=C.side("sell"), qty=qty(Decimal("0.00123"), "0.00000001"),
                   status=E.status("filled"), filled=qty(Decimal("0.00123"), "0.00000001", "BTC"),
                   at=E.AT_PRICE(price=price(81_150_000, KRW_TICK, "KRW")), err=""),
    "AT_PRICE": dict(price=price(81_150_000, KRW_TICK, "KRW")),
    "EXPOSURE": dict(coin="BTC", what="BTC upbit buy 0.00123 unhedged (unwind failed)", trade_id="T20251203-0007",
                     tail=E.EXPOSURE_NO_JOURNAL()),
    "LATE_FILL": dict(coin="BTC", venue=C.venue("binance"), side=C.side("sell"), qty=qty(Decimal("0.001"), "0.001", "BTC"),
                      price=price(Decimal("58420.1"), "0.1", "USDT"), cid="kb-T7-B-0", kind="enter",
                      trade_id="T20251203-0007", tail=E.LATE_TAIL_REVERSING()),
    "LATE_TAIL_UNTRADED": dict(coin="DOGE"),
    "LATE_NOT_REVERSED": dict(coin="BTC", venue=C.venue("binance"), side=C.side("sell"),
                              qty=qty(Decimal("0.001"), "0.001", "BTC"), cid="kb-T7-B-0"),
    "WATCH_FAILED": dict(cid="kb-T7-B-0", err="TimeoutError: "),
    "LATE_NOTHING": dict(coin="BTC", venue=C.venue("binance"), cid="kb-T7-B-0", status=E.status("rejected")),
    "NEVER_PLACED": dict(coin="BTC", venue=C.venue("binance"), cid="kb-T7-B-0", age="121"),
    "NO_ANSWER": dict(coin="BTC", venue=C.venue("upbit"), cid="kb-T7-U-0", side=C.side("buy"),
                      qty=qty(Decimal("0.00123"), "0.00000001", "BTC"), age="125", err="HTTP 502"),
    "NOT_SENT": dict(coin="BTC", action=E.action("enter"), why="quantity 0 BTC is below Binance's minimum 0.001"),
    "UNBOOKED": dict(coin="BTC", action=E.action("enter"), trade_id="T20251203-0007", note=E.NO_UNHEDGED_NAMED()),
    "SIGNAL": dict(coin="BTC", direction=E.direction("short_premium"), action=E.action("enter"),
                   reason="optimized normal entry short premium: |z| 2.41 >= 2", size=krw(2_400_000),
                   premium=pct(3.412), z=num(2.41, sign=True), target=pct(0.8, sign=False), secs="120"),
    "SIGNAL_EXPIRED": dict(coin="BTC", pid="S3-512345", note=E.SKIP_NOTE(threshold="2")),
    "SKIPPED": dict(coin="BTC", action=E.action("enter")),
    "SKIP_ANSWER": dict(note=E.SKIP_NOTE(threshold="2")),
    "SKIP_NOTE": dict(threshold="2"),
    "REFUSED": dict(coin="BTC", direction=E.direction("long_premium"), action=E.action("entry"),
                    why="daily loss limit reached"),
    "UNFILLABLE": dict(problem="XRP normal split 16,000 KRW is below Upbit's minimum 5,000 KRW x 4"),
    "HALTED_SINCE": dict(since=kst(MS), by="telegram:42", reason="/halt from chat"),
    "HALTED_BY": dict(by="telegram:42", reason="/halt from chat"),
    "TASK_FAILED": dict(err="RuntimeError: boom"),
    "EXIT_INCOMPLETE": dict(coin="BTC", pid="T20251203-0007", status="partial", attempt=2, wait=duration(60)),
    "HALT_CANCEL_FAILED": dict(venue=C.venue("upbit"), err="HTTP 503"),
    "CLOSEALL_NO_PRICES": dict(coin="ETH"),
    "CLOSEALL_THIN": dict(coin="ETH"),
    "RECONCILE_RESTART": dict(findings="order kb-T7-B-0 (binance sell 0.001 BTC) was filled, filled 0.001"),
    "RECONCILE_RECOVERED": dict(findings="trade T20251203-0007 BTC enter was in flight: settled as filled"),
    "RECONCILE_RECHECK": dict(findings="order kb-T7-B-0 on binance: state still unknown; will check again"),
    "POSITION_MISMATCH": dict(coin="BTC"),
    "RECONCILE_CLOSE_TEXT": dict(coin="BTC", side=C.side("sell"), filled=qty(Decimal("0.002"), "0.001", "BTC"),
                                 of=E.RC_OF(qty=qty(Decimal("0.002"), "0.001", "BTC")), status=E.status("filled"),
                                 avg=E.RC_AVG(price=price(Decimal("58420.1"), "0.1", "USDT"))),
    "RC_OF": dict(qty=qty(Decimal("0.002"), "0.001", "BTC")),
    "RC_AVG": dict(price=price(Decimal("58420.1"), "0.1", "USDT")),
    "RECONCILE_CLOSE": dict(by="telegram:42", text="Binance BTC: sell 0.002 BTC reduce-only at market (filled)"),
    "RECONCILE_CLOSE_PENDING": dict(by="telegram:42", text="Binance BTC: sell 0 BTC reduce-only at market (unknown)"),
    "FUNDING": dict(coin="BTC", amount=krw(-812.4, sign=True), n=1),
    "HALTED": dict(reason="unhedged exposure: see the alert above"),
    "HALTED_PRESTART": dict(reason="/halt from chat"),
    "RESUMED": dict(by="telegram:42"),
    "COOLDOWN_LIFTED": dict(by="telegram:42"),
    "COOLDOWN": dict(text="cooldown: BTC exit at a loss of -12,000 KRW at 12-03 15:00, no new BTC entry until "
                          "15:30 KST"),
    "JOURNAL_FAILED": dict(err="OSError: [Errno 28] No space left on device", probe="2", reminder="5"),
    "JOURNAL_STILL": dict(mins="5", err=E.JOURNAL_RECOVERING(), skipped=1500),
    "JOURNAL_OK": dict(mins="7", skipped=2100),
    "FX_NOTE": dict(note="FX source switched to usdt"),
    "FX_CAVEAT": dict(note="bank market closed, confirmed by USDT"),
    "HEALTH_STOPPED": dict(coin="BTC", problems="BTC: Upbit book stale (4.1 s old)"),
    "HEALTH_OK": dict(coin="BTC"),
    "BANNER": dict(mode=C.mode("paper"), trade=E.CONFIRM(), symbols="BTC, ETH, XRP", strategy="optimized",
                   unset=E.BANNER_UNSET(n=31), notes=""),
    "BANNER_UNSET": dict(n=31),
    "NOT_TRADING": dict(why="Upbit unavailable (HTTP 503)", cap="300"),
    "TRADING_AGAIN": dict(banner="kimpbot started"),
    "OTHER_LEDGER": dict(other=C.mode("live"), other_low="live", what=E.LEDGER_WHAT(n=1), mode=C.mode("paper")),
    "LEDGER_WHAT": dict(n=2),
    "LEDGER_WHAT_ORDERS": dict(n=2, m=1),
    "SWITCH_BOTH_FAILED": dict(mode="live", old="paper", err="CredentialsRefused: keys", err2="OSError: disk"),
    "SWITCH_FAILED": dict(mode="live", old="paper", err="CredentialsRefused: keys"),
    "MODE_LIVE": dict(by="telegram:42"),
    "MODE_PAPER": dict(by="telegram:42"),
    "FATAL_STOPPED": dict(text="Upbit refused the API keys"),
}
ENTRIES = sorted((k.split(".", 1)[1], m) for k, m in i18n.REGISTRY.items() if k.startswith("events."))


def test_every_entry_has_a_sample():
    no_fields = {name for name, m in ENTRIES if not i18n.fields(m.en)}
    assert {name for name, _ in ENTRIES} - no_fields - set(SAMPLES) == set()
    assert set(SAMPLES) <= {name for name, _ in ENTRIES}


@pytest.mark.parametrize("name,msg", ENTRIES, ids=[n for n, _ in ENTRIES])
@pytest.mark.parametrize("lang", ["ko", "en"])
def test_every_entry_renders_with_no_field_missing(name, msg, lang):
    text = msg(**SAMPLES.get(name, {})).render(lang)
    assert text.strip()
    assert not re.search(r"{\w+}", text), text  # a field left unfilled
    assert "None" not in text and "Shown(" not in text and "Text(" not in text, text
    # no float noise and no unit-less fee anywhere (issue #11: "81153000.0", "fee 1582.48350000")
    assert not re.search(r"\d{5,}\.\d", text.replace("T20251203", "")), text


def test_fill_numbers_are_in_the_owners_units():
    ko = E.LEG_FILL(**SAMPLES["LEG_FILL"]).render("ko")
    en = E.LEG_FILL(**SAMPLES["LEG_FILL"]).render("en")
    assert ko == "BTC 업비트 매수 0.00123/0.00123 BTC @ 81,153,000원 (체결, 수수료 1,582원)"
    assert en == "BTC Upbit buy 0.00123/0.00123 BTC @ 81,153,000 KRW (filled, fee 1,582 KRW)"
    en = E.TRADE_FILLED(**_pair()).render("en")
    assert ("Binance sell 0.001 BTC @ 58,420.1 USDT" in en and "fees 1,582 KRW + 0.0292 USDT" in en
            and "premium +1.23% (signal +1.20%), target 0.80%" in en), en


def test_events_keep_english_for_the_log_and_show_korean_on_the_phone():
    ev = Event("trade", E.TRADE_FILLED(**_pair()), "info", {"symbol": "BTC"})
    assert ev.message.startswith("BTC long premium enter filled: Upbit buy")
    assert ev.shown("ko").startswith("BTC 김프 롱 진입 체결\n업비트 매수")


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_the_start_banner_is_a_few_short_lines(lang):
    text = E.BANNER(**SAMPLES["BANNER"]).render(lang)
    assert 4 <= len(text.splitlines()) <= 6
    assert too_wide(text) == [], text
    assert ("미설정 키 31개 — /params" if lang == "ko" else "31 keys unset by owner — /params") in text


def test_phone_blocks_fit_36_cells():
    """The messages built as short lines (fill, exit, rollback head) fit a phone in Korean; English keeps
    the one-line log form the logs and programs read."""
    for name in ("TRADE_FILLED", "EXIT_DONE"):
        text = getattr(E, name)(**SAMPLES[name]).render("ko")
        assert too_wide(text) == [], (name, text)
    rollback = E.TRADE_FAILED(**SAMPLES["TRADE_FAILED"]).render("ko").rsplit("\n원인:", 1)[0]
    assert too_wide(rollback) == [], rollback


def phone_doc() -> str:
    fill = E.TRADE_FILLED(**_pair()).render("ko")
    leg = E.LEG_FILL(**SAMPLES["LEG_FILL"]).render("ko")
    rollback = E.TRADE_FAILED(**SAMPLES["TRADE_FAILED"]).render("ko")
    unwind = E.UNWIND(**SAMPLES["UNWIND"]).render("ko")
    banner = E.BANNER(**SAMPLES["BANNER"]).render("ko")
    skip = E.SKIP_ANSWER(**SAMPLES["SKIP_ANSWER"]).render("ko")
    exit_ = E.EXIT_DONE(**SAMPLES["EXIT_DONE"]).render("ko")
    parts = ["# Trading events on a phone (Korean)", "",
             "Generated by `tests/unit/test_events_render.py` (`KIMPBOT_WRITE_DOCS=1` rewrites it) from the",
             "catalogue entries in `kimpbot/i18n/events.py`, as the Telegram chat shows them (the chat puts",
             "the event kind's emoji in front: ✅ a trade, ⚠️ a rollback, ↩️ an unwind).", ""]
    for title, body in (("Start banner", banner), ("A pair entry filled", fill), ("One leg filled", leg),
                        ("An exit", exit_), ("A rollback (the Binance leg refused, the Upbit leg unwound)", rollback),
                        ("The unwind order of that rollback", unwind), ("The answer to a Skip press", skip)):
        parts += [f"## {title}", "", "```", body, "```", ""]
    return "\n".join(parts)


def test_phone_transcript_is_current():
    doc = phone_doc()
    check_doc(DOC, doc, "tests/unit/test_events_render.py")
