"""Skip means skip, end to end over the fake Telegram with the real python-telegram-bot front: a skipped
signal is not offered again while the premium stays extreme (the trader keeps evaluating it), and is
offered again once the premium came back inside the threshold and left it again."""

from __future__ import annotations

from kimpbot.models import Direction

from .conftest import OWNER, wait_until


def _offers(tg, since: int) -> list[dict]:
    return [r for r in tg.sent[since:] if r["method"] == "sendMessage" and (r.get("text") or "").startswith("🔔")]


async def test_skip_is_not_reoffered_while_extreme_and_is_after_a_reset(rig):
    tg, trader, market = rig.tg, rig.bot.trader, rig.bot.market
    assert await wait_until(lambda: market.signals_allowed("BTC"))
    base = rig.sim.market.premium("BTC")
    n0 = len(tg.sent)
    rig.sim.market.set_premium("BTC", base - 3.0)  # far below the mean: a long-premium entry
    rec = await tg.wait_for(lambda r: r["method"] == "sendMessage" and (r.get("text") or "").startswith("🔔"),
                            since=n0, timeout=10)
    buttons = dict((t.split()[-1], d) for t, d in tg.buttons(rec["message_id"], chat_id=OWNER))
    n = len(tg.sent)
    tg.press_button(OWNER, OWNER, rec["message_id"], buttons["Skip"])
    ans = await tg.wait_for(lambda r: r["method"] == "answerCallbackQuery", since=n)
    assert ans["text"].startswith("Skipped. Not offered again until |z| is back inside the threshold"), ans["text"]
    assert trader.holds, "the skip must hold the signal back"

    # the premium stays extreme while the trader evaluates BTC many more times: no new offer
    seen: set[int | None] = set()

    def evaluated() -> bool:
        seen.add(trader._last_eval.get("BTC"))
        return len(seen) >= 10

    assert await wait_until(evaluated, timeout=30), "the trader stopped evaluating BTC"
    thr = trader._entry_threshold()
    az = trader._abs_z("BTC", Direction.LONG_PREMIUM, market.views["BTC"].snapshot)
    assert az is not None and thr is not None and az >= thr, (az, thr)  # the condition still holds
    assert _offers(tg, n) == []
    assert [p.state for p in trader.state.pending.values()] == ["skipped"]

    # back to the mean: the hold is lifted; extreme again: offered again
    rig.sim.market.set_premium("BTC", base)
    assert await wait_until(lambda: not trader.holds, timeout=20)
    assert _offers(tg, n) == []
    n = len(tg.sent)
    rig.sim.market.set_premium("BTC", base - 3.0)
    again = await tg.wait_for(lambda r: r["method"] == "sendMessage" and (r.get("text") or "").startswith("🔔"),
                              since=n, timeout=10)
    assert again["message_id"] != rec["message_id"]
    assert len(trader.state.pending) == 2


CONTROL_KINDS = {"signal_answered", "finding_answered"}  # published by the command core (its own texts)


async def test_every_trading_event_of_a_run_comes_from_the_catalogue(rig):
    """Start, signal, Execute: fills, the pair trade, FX and health notes go through the real publishing
    code; each carries its catalogue text and renders in both languages with every field filled."""
    tg, market = rig.tg, rig.bot.market
    assert await wait_until(lambda: market.signals_allowed("BTC"))
    base = rig.sim.market.premium("BTC")
    n = len(tg.sent)
    rig.sim.market.set_premium("BTC", base - 3.0)
    rec = await tg.wait_for(lambda r: r["method"] == "sendMessage" and (r.get("text") or "").startswith("🔔"),
                            since=n, timeout=10)
    buttons = dict((t.split()[-1], d) for t, d in tg.buttons(rec["message_id"], chat_id=OWNER))
    tg.press_button(OWNER, OWNER, rec["message_id"], buttons["Execute"])
    bus = rig.bot.bus
    assert await wait_until(lambda: any(e.kind == "trade" for e in bus.history), timeout=15)
    kinds = {e.kind for e in bus.history}
    assert {"start", "signal", "fill", "trade"} <= kinds, kinds
    for ev in bus.history:
        if ev.kind in CONTROL_KINDS:
            continue
        assert ev.text is not None, f"{ev.kind} event not from the catalogue: {ev.message}"
        assert ev.text.msg.key.startswith("events."), ev.text.msg.key
        for lang in ("ko", "en"):
            shown = ev.shown(lang)
            assert shown.strip() and "{" not in shown.replace("{'", ""), (ev.kind, lang, shown)
    trade = next(e for e in bus.history if e.kind == "trade")
    ko = trade.shown("ko")
    assert ko.startswith("BTC 김프 롱 진입 체결\n업비트 매수 ") and "원\n" in ko and " USDT\n" in ko, ko
    assert trade.data["upbit_step"] and trade.data["binance_step"] == "0.001"
    fill = next(e for e in bus.history if e.kind == "fill")
    assert fill.data["fee_currency"] in ("KRW", "USDT") and "fee " in fill.message
    from kimpbot.i18n import too_wide

    assert too_wide(trade.shown("ko")) == [] and too_wide(next(e for e in bus.history if e.kind == "start").shown("ko")) == []
