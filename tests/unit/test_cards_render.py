"""Trade cards rendered at every state, in Korean and English, each line at most 36 cells; the
phone transcript docs/phone/cards.md is this rendering (``KIMPBOT_WRITE_DOCS=1`` rewrites it)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from kimpbot.control.cards import CardDesk, card_title, render_card
from kimpbot.events import Event
from kimpbot.execution.venues import MarketRules
from kimpbot.i18n import too_wide
from testkit import check_doc

DOC = Path(__file__).resolve().parents[2] / "docs" / "phone" / "cards.md"
TID = "K20261203140501-001"
EXPIRES = 1_764_738_360_000   # 2025-12-03 14:06:00 KST
RULES = {("upbit", "BTC"): MarketRules(Decimal("0.00000001"), Decimal("0.00000001"), Decimal(5000),
                                       price_ticks=((Decimal(2_000_000), Decimal(1000)),)),
         ("binance", "BTC"): MarketRules(Decimal("0.001"), Decimal("0.001"), Decimal(100), Decimal("0.1"))}


def _desk(pending_state: str | None = None) -> CardDesk:
    pend = SimpleNamespace(state=pending_state or "pending", result="", signal=SimpleNamespace(target_pct=1.5))
    return CardDesk(pending=lambda pid: pend if pending_state else None,
                    trade_doc=lambda tid: {"fx": 1380.5, "direction": "long_premium", "action": "enter",
                                           "symbol": "BTC"},
                    rules=lambda v, s: RULES.get((v, s)))


def _signal() -> Event:
    return Event("signal", "BTC long premium enter signal", "info",
                 {"pending_id": "S1-301000", "symbol": "BTC", "direction": "long_premium", "action": "enter",
                  "size_krw": 3_200_000.0, "premium_pct": -1.88, "z": -3.58, "expires_ms": EXPIRES})


def _fill(leg: str, venue: str, side: str, q: str, px: str, fee: str | None = None, kind: str = "fill") -> Event:
    d = {"venue": venue, "symbol": "BTC", "side": side, "client_id": f"{TID}-{leg}-0", "qty": q, "filled_qty": q,
         "avg_price": px}
    if fee is not None:
        d["fee"] = fee
    return Event(kind, f"BTC {venue} {side} {q} @ {px}", "info", d)


def _res(q: str, px: str, fee: str, leg: str) -> dict:
    return {"status": "filled", "filled_qty": q, "avg_price": px, "fee": fee, "client_id": f"{TID}-{leg}-0",
            "error": None}


UPBIT_FILL = _fill("U", "upbit", "buy", "0.03900000", "81153000", "1582.48350000")
BINANCE_FILL = _fill("B", "binance", "sell", "0.039", "59994.1", "1.16988495")
ENTRY_DONE = Event("trade", "BTC long premium enter filled", "info",
                   {"trade_id": TID, "symbol": "BTC", "direction": "long_premium", "action": "enter", "qty": "0.039",
                    "position_id": TID, "upbit": _res("0.03900000", "81153000", "1582.4835", "U"),
                    "binance": _res("0.039", "59994.1", "1.16988495", "B"), "expected_profit_pct": 1.5,
                    "size_krw": 3_164_967.0})
UNWIND_FILL = _fill("UU", "upbit", "sell", "0.03900000", "81100000", "1581.45")
UNWIND = Event("unwind", "BTC unwind on upbit", "warning",
               {"trade_id": TID, "symbol": "BTC", "venue": "upbit", "qty": "0.039",
                "result": {"status": "filled", "filled_qty": "0.03900000", "avg_price": "81100000", "fee": "1581.45",
                           "client_id": f"{TID}-UU-0", "error": None}})
ROLLBACK = Event("rollback", "BTC long premium enter failed (binance: rejected); unwound, cost 5,231 KRW", "warning",
                 {"trade_id": TID, "symbol": "BTC", "cost_krw": 5230.93})
EXPOSURE = Event("exposure", "UNHEDGED BTC: BTC upbit buy 0.039 unhedged (unwind failed) (trade ...); new entries halted",
                 "critical", {"trade_id": TID, "symbol": "BTC",
                              "exposure": ["BTC upbit buy 0.039 unhedged (unwind failed)"]})


def stories() -> dict[str, list[tuple[str, Event, str | None]]]:
    """(what happened, the event, the trader's pending state then) for each story a card tells."""
    return {
        "confirm mode: offered, executed": [
            ("signal offered", _signal(), "pending"), ("Upbit leg filled", UPBIT_FILL, "executing"),
            ("Binance leg filled", BINANCE_FILL, "executing"), ("done", ENTRY_DONE, "done"),
            ("answered", Event("signal_answered", "…", "info", {"key": "S1-301000", "by": "telegram:42"}), "done")],
        "skipped": [("signal offered", _signal(), "pending"),
                    ("skipped", Event("signal_answered", "…", "info", {"key": "S1-301000", "by": "telegram:42"}),
                     "skipped")],
        "expired": [("signal offered", _signal(), "pending"),
                    ("expired", Event("signal_expired", "…", "info", {"pending_id": "S1-301000"}), "expired")],
        "auto mode: rolled back": [("Upbit leg filled", UPBIT_FILL, None), ("unwind filled", UNWIND_FILL, None),
                                   ("unwind", UNWIND, None), ("rolled back", ROLLBACK, None)],
        "auto mode: UNHEDGED": [("Upbit leg filled", UPBIT_FILL, None), ("unhedged", EXPOSURE, None)],
        "auto mode: exit": [
            ("Upbit leg filled", _fill("U", "upbit", "sell", "0.03900000", "83619000", "1630.57"), None),
            ("exit closed", Event("trade", "BTC exit closed", "info",
                                  {"trade_id": TID, "symbol": "BTC", "action": "exit", "realized_krw": 81234.5,
                                   "direction": "long_premium", "position_id": "P1",
                                   "upbit": _res("0.03900000", "83619000", "1630.57", "U"),
                                   "binance": _res("0.039", "59010.3", "1.1505", "B")}), None)],
    }


def play(story: list[tuple[str, Event, str | None]], lang: str) -> list[tuple[str, str]]:
    pend = SimpleNamespace(state="pending", result="", signal=SimpleNamespace(target_pct=1.5))
    desk = CardDesk(pending=lambda pid: pend,
                    trade_doc=lambda tid: {"fx": 1380.5, "direction": "long_premium",
                                           "action": "exit" if "exit" in str(story) else "enter", "symbol": "BTC"},
                    rules=lambda v, s: RULES.get((v, s)))
    out = []
    for what, ev, pstate in story:
        pend.state = pstate or "pending"
        card = desk.feed(ev)
        assert card is not None, what
        out.append((what, render_card(desk.sync(card), lang)))
    return out


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_every_state_renders_within_36_cells(lang):
    for name, story in stories().items():
        for what, text in play(story, lang):
            assert text and not too_wide(text), (name, what, too_wide(text))
            if lang == "ko":
                assert any("\uac00" <= ch <= "\ud7a3" for ch in text), (name, what, text)


def test_states_say_what_happened():
    s = {name: play(story, "en") for name, story in stories().items()}
    done = s["confirm mode: offered, executed"][3][1]
    assert done.startswith("✅ BTC long premium enter filled\nnet -")   # the important number first
    assert "Upbit buy ✔\n  0.039 BTC @ 81,153,000 KRW\n  fee 1,582 KRW" in done
    assert "Binance sell ✔\n  0.039 BTC @ 59,994.1 USDT\n  fee 1.17 USDT" in done
    assert s["confirm mode: offered, executed"][4][1].endswith("answered by telegram:42")
    assert s["confirm mode: offered, executed"][1][1].startswith("⏳ BTC enter executing…")
    assert "✖️ skipped (telegram:42)" in s["skipped"][1][1]
    assert "⌛ Expired: nothing sent." in s["expired"][1][1]
    rb = s["auto mode: rolled back"][-1][1]
    assert rb.startswith("↩️ BTC enter rolled back\ncost 5,231 KRW")
    assert "Binance sell ✖ not filled" in rb and "↩ unwind Upbit sell" in rb
    ex = s["auto mode: UNHEDGED"][-1][1]
    assert ex.startswith("🚨 BTC UNHEDGED!") and "unhedged: BTC upbit buy 0.039" in ex
    assert s["auto mode: exit"][-1][1].startswith("✅ BTC exit closed\nrealized +81,235 KRW")
    card = _desk().feed(_signal())
    assert card_title(card, "ko") == "BTC 김프 롱 진입 신호"


def test_the_core_key_finds_the_webhook_signal():
    """Issue #11 §7: the core publishes ``key`` on signal_answered, not ``pending_id``."""
    desk = _desk("skipped")
    desk.feed(_signal())
    card = desk.feed(Event("signal_answered", "…", "info", {"key": "S1-301000", "by": "discord:7"}))
    assert card is not None and card.state == "skipped" and card.by == "discord:7"


def transcript() -> str:
    out = ["# Trade cards on a phone (Korean)", "",
           "Generated by `tests/unit/test_cards_render.py` from the real rendering (`KIMPBOT_WRITE_DOCS=1`",
           "rewrites it). One trade is one message: the card below is edited in place at each step.", ""]
    for name, story in stories().items():
        out.append(f"## {name}")
        out.append("")
        for what, text in play(story, "ko"):
            out += [f"{what}:", "", "```", text, "```", ""]
    return "\n".join(out)


def test_phone_transcript_is_the_rendering():
    text = transcript()
    check_doc(DOC, text, "tests/unit/test_cards_render.py")


class _Store:
    def __init__(self) -> None:
        self.state: dict = {}

    def get_state(self, key, default=None):
        return self.state.get(key, default)

    def set_state(self, key, value):
        self.state[key] = value


class _Core:
    """The /notify mixin over a store, as the command core carries it."""

    def __init__(self) -> None:
        from kimpbot.control.notify_prefs import NotifyCommands

        self.bot = SimpleNamespace(store=_Store())
        self.audit: list = []
        for name in ("cmd_notify", "notify_press", "_notify_view"):
            setattr(self, name, getattr(NotifyCommands, name).__get__(self))
        self.notify_prefs = NotifyCommands.notify_prefs.fget(self)

    def _audit(self, action, by, details=None):
        self.audit.append((action, by, details))


@pytest.mark.parametrize("lang", ["ko", "en"])
async def test_notify_list_and_answers_in_both_languages(lang):
    from kimpbot.control.notify_prefs import NotifyPrefs, is_alert
    from kimpbot.i18n import using

    core = _Core()
    with using(lang):
        view = await core.cmd_notify("telegram:42", [])
        assert len(view.text.split("\n")) == 10 and {d for row in view.buttons for b in row for d in [b.data]} >= {
            "n:signals:off", "n:funding:silent", "n:trades:on"}
        assert "n:trades:off" not in {b.data for row in view.buttons for b in row}
        r = await core.cmd_notify("telegram:42", ["funding", "off"])
        assert r.data["levels"]["funding"] == "off" and core.audit[-1][0] == "notify"
        bad = [await core.cmd_notify("telegram:42", a) for a in (["alerts", "off"], ["trades", "off"],
                                                                   ["nonsense", "on"], ["funding", "loudest"], ["x"])]
        assert all(b.text.startswith("❌") or "/notify" in b.text for b in bad)
        press = core.notify_press("market:silent", "telegram:42")
        assert press.edit and press.buttons and core.bot.store.state["notify_prefs"]["market"] == "silent"
        if lang == "ko":
            assert "펀딩비" in r.text and "끌 수 없음" in bad[0].text + bad[1].text
    prefs = NotifyPrefs(lambda: core.bot.store)
    assert prefs.level(Event("funding", "x")) == "off" and prefs.level(Event("fx", "x")) == "silent"
    assert prefs.level(Event("exposure", "x", "critical")) == "alert" and is_alert(Event("halt", "x", "critical"))
    assert prefs.level(Event("halt", "resumed", "info")) == "silent"


def test_discord_embed_titles_in_korean():
    from kimpbot.control.notify import embed_fields
    from kimpbot.i18n import using

    with using("ko"):
        f = embed_fields(Event("funding", "BTC funding booked", "info", {"symbol": "BTC", "realized_krw": -120}))
        assert f["title"] == "BTC 펀딩비" and ("실현 손익", "-120원", True) in f["fields"]
        sig = embed_fields(_signal())
        assert sig["title"] == "BTC 김프 롱 진입 신호"


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_a_confirmed_signal_that_sent_nothing_says_so(lang):
    pend = SimpleNamespace(state="pending", result="", signal=SimpleNamespace(target_pct=1.5))
    desk = CardDesk(pending=lambda pid: pend, trade_doc=lambda tid: {"symbol": "BTC"})
    desk.feed(_signal())
    pend.state, pend.result = "done", "refused"
    card = desk.feed(Event("signal_answered", "🔔 BTC …\n⚠️ BTC enter: refused (by telegram:42)", "info",
                           {"key": "S1-301000", "by": "telegram:42"}))
    text = render_card(card, lang)
    assert card.state == "not_sent" and "refused (by telegram:42)" in " ".join(text.split()) and not too_wide(text)
    # a plan the executor refused ("not sent"), for the signal being executed: the card fails with the reason
    desk2 = CardDesk(pending=lambda pid: pend, trade_doc=lambda tid: {"symbol": "BTC"})
    desk2.feed(_signal())
    pend.state, pend.result = "executing", ""
    card2 = desk2.feed(Event("error", "BTC enter not sent: quantity 0 BTC is below Binance's minimum", "warning",
                             {"trade_id": TID}))
    assert card2 is not None and card2.state == "failed"
    assert "below Binance's minimum" in " ".join(render_card(card2, lang).split())


def test_a_trade_joins_the_signal_it_names_not_the_latest_of_its_coin():
    """Two BTC signals whose pendings are both past 'pending' (one executing, one done without a
    trade): the trade record names the one it carries out, and its card is that signal's, not the
    most recent BTC card (a guess by coin would take the latest)."""
    pend = SimpleNamespace(state="executing", result="", signal=SimpleNamespace(target_pct=1.5))
    docs = {TID: {"symbol": "BTC", "direction": "long_premium", "action": "enter", "fx": 1380.5,
                  "pending_id": "S1-301000"}}
    desk = CardDesk(pending=lambda pid: pend, trade_doc=docs.get, rules=lambda v, s: RULES.get((v, s)))
    first = desk.feed(_signal())
    s1 = _signal()
    second = desk.feed(Event(s1.kind, s1.message, s1.level, {**s1.data, "pending_id": "S2-302000", "action": "exit"}))
    assert first is not None and second is not None and first.key != second.key
    card = desk.feed(UPBIT_FILL)
    assert card is first and first.trade_id == TID and not second.trade_id
    # a record written before the link was kept still finds the signal being executed by its coin
    docs[TID] = {k: v for k, v in docs[TID].items() if k != "pending_id"}
    old = CardDesk(pending=lambda pid: pend, trade_doc=docs.get)
    only = old.feed(_signal())
    assert old.feed(UPBIT_FILL) is only
