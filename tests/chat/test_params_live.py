"""Parameter changes and the switch to live from chat, over the real python-telegram-bot: each needs a
second, one-time confirmation from an allowed user, is audited, and a change is written to the
owner's strategy file (never before the confirmation)."""

from __future__ import annotations

import dataclasses

from kimpbot.exchanges.binance_trading import BinanceTrading
from kimpbot.exchanges.upbit_trading import UpbitTrading
from kimpbot.execution.paper import PaperVenue

from .conftest import INTRUDER, OWNER, wait_until


def _buttons(rig, msg) -> dict[str, str]:
    return {t: d for t, d in rig.tg.buttons(msg["message_id"], chat_id=OWNER)}


async def _press(rig, msg, data, user=OWNER):
    n = len(rig.tg.sent)
    rig.tg.press_button(OWNER, user, msg["message_id"], data)
    ans = await rig.tg.wait_for(lambda r: r["method"] == "answerCallbackQuery", since=n, timeout=10)
    edit = None
    quiet = ("Already", "Unknown", "A mode switch", "Not done")  # answers that edit nothing
    if "Not authorized" not in (ans.get("text") or "") and not (ans.get("text") or "").startswith(quiet):
        edit = await rig.tg.wait_for(lambda r: r["method"] == "editMessageText"
                                     and r["message_id"] == msg["message_id"], since=n, timeout=10)
    return ans, edit


async def test_set_needs_confirmation_writes_file_applies_and_audits(rig):
    bot, sf = rig.bot, rig.bot.settings.strategy_file
    before = sf.read_text()
    r = await rig.command("/set zscore.exit_z 0.7")
    assert "zscore.exit_z: 0.5 (default, unset by owner) → 0.7" in r["text"] and "takes effect at once" in r["text"]
    b = _buttons(rig, r)
    assert list(b) == ["Apply", "Cancel"]
    assert sf.read_text() == before and bot.strategy.params.exit_z == 0.5  # nothing before the confirmation
    # an intruder cannot apply it
    ans, _ = await _press(rig, r, b["Apply"], user=INTRUDER)
    assert "Not authorized" in ans["text"] and sf.read_text() == before
    ans, edit = await _press(rig, r, b["Apply"])
    assert ans["text"] == "Applied" and "written by telegram:42; in force now" in edit["text"]
    assert "exit_z = 0.7" in sf.read_text() and "set from chat by telegram:42" in sf.read_text()
    assert bot.strategy.params.exit_z == 0.7 and bot.owner["zscore.exit_z"] == 0.7
    ans, _ = await _press(rig, r, b["Apply"])  # a second press does nothing
    assert ans["text"] == "Already answered"
    p = await rig.command("/params zscore")
    assert "\nexit_z = 0.7\n" in p["text"] + "\n"  # set by owner now: no "*"
    assert "\nentry_threshold = 2 *\n" in p["text"]  # still the default
    acts = [(a["action"], a["by"], a.get("details", {})) for a in bot.store.audit_log(limit=50)]
    changed = [d for act, by, d in acts if act == "param_changed" and by == "telegram:42"]
    assert changed and changed[0]["key"] == "zscore.exit_z" and (changed[0]["old"], changed[0]["new"]) == (0.5, 0.7)
    assert any(act == "param_change_requested" for act, _, _ in acts)


async def test_risk_limit_applies_at_once_and_restart_keys_wait(rig):
    bot = rig.bot
    r = await rig.command("/set risk.max_concurrent_positions 1")
    _ans, edit = await _press(rig, r, _buttons(rig, r)["Apply"])
    assert "in force now" in edit["text"] and bot.trader.risk.max_positions == 1
    r = await rig.command("/set zscore.window_days 2")
    assert "takes effect at the next start" in r["text"]
    _ans, edit = await _press(rig, r, _buttons(rig, r)["Apply"])
    assert "from the next start" in edit["text"]
    assert bot.owner.strategy.window_days == 1.0  # the running window is not half-changed
    p = await rig.command("/params zscore")
    assert "\nwindow_days = 1\n  (file: zscore.window_days = 2.0\n   from the next start)" in p["text"], p["text"]


async def test_set_refusals_and_cancel(rig):
    sf = rig.bot.settings.strategy_file
    before = sf.read_text()
    r = await rig.command("/set zscore.entry_threshold lots")
    assert "zscore.entry_threshold = 'lots' is invalid: allowed float >= 0.0" in r["text"]
    assert rig.tg.buttons(r["message_id"], chat_id=OWNER) == []
    r = await rig.command("/set optimized.extreme_z 5")
    assert "normal_z < extreme_z < ultra_z" in r["text"]
    r = await rig.command("/set")
    assert r["text"].startswith("usage: /set KEY VALUE")
    r = await rig.command("/set optimized.ultra_target 2.5")
    ans, edit = await _press(rig, r, _buttons(rig, r)["Cancel"])
    assert ans["text"] == "Cancelled" and "nothing done" in edit["text"]
    assert sf.read_text() == before
    r = await rig.command("/set zscore.exit_z 0.6", user=INTRUDER, chat=INTRUDER)
    assert "Not authorized" in r["text"] and sf.read_text() == before
    assert any(a["action"] == "param_change_refused" for a in rig.bot.store.audit_log(limit=50))


async def test_live_switch_checks_confirms_and_trades_on_the_exchanges(rig):
    bot, tg, sim = rig.bot, rig.tg, rig.sim
    # without keys: refused, naming what is missing
    keyed = bot.settings
    bot.settings = dataclasses.replace(keyed, binance_api_secret="")
    r = await rig.command("/live")
    assert "Not switching to LIVE" in r["text"] and "BINANCE_API_SECRET" in r["text"]
    bot.settings = keyed
    # the canary cap would refuse the test's order size: the owner lifts it (a confirmed /set)
    r = await rig.command("/set risk.live_canary_max_krw off")
    await _press(rig, r, _buttons(rig, r)["Apply"])
    assert bot.trader.risk.canary is None
    r = await rig.command("/live", timeout=15)
    assert "Switch to LIVE trading?" in r["text"] and "NO order cap" in r["text"]
    assert "✅ Upbit API key" in r["text"] and "✅ Binance API key" in r["text"] and "✅ clock skew" in r["text"]
    b = _buttons(rig, r)
    assert list(b) == ["Yes, trade LIVE", "Cancel"]
    assert isinstance(bot.trader.upbit, PaperVenue) and bot.settings.mode == "paper"
    n = len(tg.sent)
    ans, edit = await _press(rig, r, b["Yes, trade LIVE"])
    assert "LIVE trading now (switched by telegram:42)" in edit["text"]
    assert bot.settings.mode == "live" and bot.store.mode == "live"
    assert isinstance(bot.trader.upbit, UpbitTrading) and isinstance(bot.trader.binance, BinanceTrading)
    await tg.wait_for(lambda x: x["method"] == "sendMessage" and "LIVE trading now" in (x.get("text") or "")
                      and not x.get("reply_to_message_id"), since=n)  # the alert to the channel
    st = await rig.command("/status")
    assert st["text"].startswith("🔴 LIVE · confirm\n▶️ running"), st["text"]
    # a signal now sends real orders to the (simulated) exchanges
    assert await wait_until(lambda: bot.market.signals_allowed("BTC"))
    orders_before = len(sim.orders)
    base = sim.market.premium("BTC")
    n = len(tg.sent)
    sim.market.set_premium("BTC", base - 3.0)
    sig = await tg.wait_for(lambda x: x["method"] == "sendMessage" and (x.get("text") or "").startswith("🔔"),
                            since=n, timeout=10)
    ex = {t.split()[-1]: d for t, d in tg.buttons(sig["message_id"], chat_id=OWNER)}["Execute"]
    n = len(tg.sent)
    tg.press_button(OWNER, OWNER, sig["message_id"], ex)
    await tg.wait_for(lambda x: "enter filled" in (x.get("text") or ""), since=n, timeout=10)
    venues = {o["venue"] for o in sim.orders[orders_before:]}
    assert venues == {"upbit", "binance"}
    assert len(bot.trader.positions()) == 1
    # back to paper is refused while a live position is open (it would no longer be managed)
    r = await rig.command("/paper")
    assert "would no longer be managed" in r["text"]
    # the live ledger starts with the switch; the paper ledger holds the request and the confirmation
    assert [a["action"] for a in bot.store.audit_log(limit=50)].count("mode_switched") == 1


async def test_live_switch_refused_when_checks_fail_or_positions_open(rig, sim):
    bot = rig.bot
    bot.settings = dataclasses.replace(bot.settings, upbit_secret_key="wrong-secret-0123456789")
    r = await rig.command("/live", timeout=15)
    assert "Not switching to live: the checks failed" in r["text"] and "❌ Upbit API key" in r["text"]
    assert rig.tg.buttons(r["message_id"], chat_id=OWNER) == [] and bot.settings.mode == "paper"
    assert any(a["action"] == "mode_switch_refused" for a in bot.store.audit_log(limit=20))


async def test_live_start_findings_close_and_adopt_act_on_the_exchange(rig):
    """Positions on the exchange that the (new, empty) live journal cannot explain are posted with
    Adopt / Close / Ignore; Close sends a reduce-only order that flattens it, Adopt stops the report."""
    bot, tg, sim = rig.bot, rig.tg, rig.sim
    sim.binance._pos("BTC").update(amt=-0.01, entry=100_000.0)
    sim.binance._pos("ETH").update(amt=0.2, entry=3_000.0)
    r = await rig.command("/live", timeout=15)
    n = len(tg.sent)
    await _press(rig, r, _buttons(rig, r)["Yes, trade LIVE"])
    found = {}
    for sym in ("BTC", "ETH"):
        msg = await tg.wait_for(lambda x, s=sym: x["method"] == "sendMessage"
                                and (x.get("text") or "").startswith(f"🔎 unexpected Binance {s} position"),
                                since=n, timeout=10)
        found[sym] = msg
        assert [t for t, _ in tg.buttons(msg["message_id"], chat_id=OWNER)] == ["Adopt", "Close", "Ignore"]
    btc = {t: d for t, d in tg.buttons(found["BTC"]["message_id"], chat_id=OWNER)}
    orders_before = len(sim.orders)
    ans, edit = await _press(rig, found["BTC"], btc["Close"])
    assert "closed by telegram:42" in edit["text"] and "buy 0.01 BTC" in edit["text"], edit["text"]
    sent = sim.orders[orders_before:]
    assert len(sent) == 1 and sent[0]["venue"] == "binance" and sent[0]["params"]["reduceOnly"] in ("true", True)
    assert sim.binance.positions["BTC"]["amt"] == 0
    ans, _ = await _press(rig, found["BTC"], btc["Close"])  # pressed again: nothing more is sent
    assert ans["text"] == "Already closed" and len(sim.orders) == orders_before + 1
    eth = {t: d for t, d in tg.buttons(found["ETH"]["message_id"], chat_id=OWNER)}
    ans, edit = await _press(rig, found["ETH"], eth["Adopt"])
    assert "ETH +0.2 adopted" in edit["text"] and len(sim.orders) == orders_before + 1
    # the next reconciliation explains both: nothing unexpected is left
    again = await bot.trader._compare_positions()
    assert not [f for f in again if "unexpected Binance" in f], again
    acts = [a["action"] for a in bot.store.audit_log(limit=50)]
    assert "reconcile_close" in acts and "reconcile_adopt" in acts


async def test_console_set_asks_yes_first(rig):
    from kimpbot.control.console import Console

    sf = rig.bot.settings.strategy_file
    con = Console(rig.bot, write=lambda s: None, core=rig.core)
    out = await con.handle("/set exit_z 0.8")
    assert "→ 0.8" in out and "type /yes to confirm" in out and "exit_z = 0.8" not in sf.read_text()
    out = await con.handle("/yes")
    assert "written by console; in force now" in out and "exit_z = 0.8" in sf.read_text()
    assert rig.bot.strategy.params.exit_z == 0.8
    assert (await con.handle("/yes")).startswith("Unknown command")  # nothing left to confirm
