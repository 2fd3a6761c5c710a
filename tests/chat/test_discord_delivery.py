"""Every event reaches Discord: the webhook posts embeds of every kind, and the Discord bot posts
signals (Execute / Skip) and reconciliation findings (Adopt / Close / Ignore) into its channel with
buttons. REAL discord.py against the fake Discord API on 127.0.0.1; button presses go through
``DiscordFront.on_button`` with a stand-in Interaction (the gateway is not faked)."""

from __future__ import annotations

import json
import logging
import time
from types import SimpleNamespace

import pytest

from kimpbot.config import load_settings
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.control.commands import CommandCore
from kimpbot.control.discord_bot import DiscordFront
from kimpbot.control.notify import INTERACTIVE_KINDS, DiscordWebhookNotifier, answer_hints
from kimpbot.events import Event
from fakes.discord import FakeDiscord

from .conftest import STRATEGY, scan_for_secrets, wait_until
from .test_discord_bot import D_INTRUDER, D_OWNER, FakeInteraction


BOT_CHANNEL = int(FakeDiscord.__init__.__kwdefaults__["channel_id"])   # the fake's text channel


class PressOn(FakeInteraction):
    """A press on a given message of the bot's channel (as a component interaction carries
    ``message`` and ``channel_id``)."""

    def __init__(self, user_id: int, message_id: int | str | None = None, channel_id: int = BOT_CHANNEL) -> None:
        super().__init__(user_id)
        self.message = SimpleNamespace(id=int(message_id)) if message_id is not None else None
        self.channel_id = channel_id


def ids_of(rec: dict) -> list[str]:
    return [c["custom_id"] for row in rec.get("components") or [] for c in row["components"]]


def scan_bot(dc: FakeDiscord, secrets: list[str], records: list[logging.LogRecord]) -> None:
    scan_for_secrets(secrets, None, dc, records)
    for rec in dc.channel_messages + dc.channel_edits:
        blob = json.dumps({k: v for k, v in rec.items() if k != "attachments"}, default=str, ensure_ascii=False)
        for s in secrets:
            assert s not in blob, f"secret leaked into a bot message: {blob[:300]}"


async def start_front(rig, **kw) -> DiscordFront:
    rig.core.allowed["discord"] = frozenset({D_OWNER})
    kw = {"token": rig.dc.bot_token, "channel_id": rig.dc.channel_id, "backoff_s": 0.05, "retries": 3} | kw
    front = DiscordFront(rig.bot, rig.core, **kw)
    assert front.attach()
    await front.start(gateway=False)
    return front


@pytest.fixture
async def front(rig, log_records):
    f = await start_front(rig)
    try:
        yield f
    finally:
        await rig.bot.bus.drain()
        await f.stop()
        scan_bot(rig.dc, rig.secrets() + [rig.dc.bot_token], log_records)


def signal_event(pid: str, *, action: str = "enter") -> Event:
    return Event("signal", f"BTC long premium {action} signal: z -2.4. Size 100,000 KRW, executable premium "
                           f"+1.20%, z -2.40, target 0.5%. Execute or Skip within 60 s.", "info",
                 {"pending_id": pid, "symbol": "BTC", "direction": "long_premium", "action": action,
                  "size_krw": 100000.0, "premium_pct": 1.2, "z": -2.4, "expires_ms": time.time() * 1000 + 60_000})


async def posted(front: DiscordFront, rec: dict) -> None:
    """Wait until the bot has the answer to its post (the fake records it a moment before): from
    then on its buttons are bound to the message."""
    assert await wait_until(lambda: int(rec["message_id"]) in front._views)


async def real_signal(rig, since: int = 0) -> dict:
    """Move the simulated premium until the trader offers a signal; the bot's message with buttons."""
    m = rig.bot.market
    assert await wait_until(lambda: m.signals_allowed("BTC"))
    rig.sim.market.set_premium("BTC", rig.sim.market.premium("BTC") - 3.0)
    return await rig.dc.wait_for_message(lambda r: (r["content"] or "").startswith("🔔") and r["components"],
                                         timeout=8, since=since)


# ---------------------------------------------------------------- the webhook

async def test_webhook_posts_every_kind_as_an_embed(rig):
    dc, bus = rig.dc, rig.bot.bus
    events = [
        Event("error", "trading task failed: RuntimeError: boom", "critical"),
        Event("partial", "BTC upbit buy 0.005/0.01 @ 145000000 (partially_filled, fee 36.25)", "info",
              {"venue": "upbit", "symbol": "BTC", "side": "buy", "client_id": "T1-U", "qty": "0.01",
               "filled_qty": "0.005", "avg_price": "145000000"}),
        Event("fill", "BTC binance sell 0.005/0.005 @ 101500 (filled, fee 0.25)", "info",
              {"venue": "binance", "symbol": "BTC", "side": "sell", "client_id": "T1-B", "qty": "0.005",
               "filled_qty": "0.005", "avg_price": "101500"}),
        signal_event("S77-1"),
        Event("refused", "BTC entry refused: daily loss limit", "warning", {"symbol": "BTC", "reasons": ["daily loss"]}),
        Event("health", "ETH: signals stopped: upbit stale 5s", "warning", {"symbol": "ETH", "problems": ["upbit stale"]}),
        Event("fx", "FX source switched to usdt", "warning", {"source": "usdt", "rate": 1391.5}),
        Event("funding", "BTC funding booked: -120 KRW", "info", {"symbol": "BTC"}),
        Event("reconcile", "restart reconciliation:\n- binance BTC -0.01 not in the journal", "warning",
              {"findings": ["binance BTC -0.01 not in the journal"]}),
    ]
    since = len(dc.webhook_posts)
    t0 = time.monotonic()
    for ev in events:
        bus.publish(ev)
    assert time.monotonic() - t0 < 0.05
    titles = {"Critical error", "BTC upbit buy partly filled", "BTC binance sell filled",
              "BTC long premium enter signal", "BTC signal refused", "ETH data problem: signals stopped",
              "FX rate source", "BTC funding", "Restart reconciliation"}
    assert await wait_until(lambda: titles <= {p["embeds"][0]["title"] for p in dc.webhook_posts[since:]}, timeout=5)
    by_title = {p["embeds"][0]["title"]: p for p in dc.webhook_posts[since:]}

    err = by_title["Critical error"]["embeds"][0]
    assert err["color"] == 0x992D22 and "boom" in err["description"]
    part = {f["name"]: f["value"] for f in by_title["BTC upbit buy partly filled"]["embeds"][0]["fields"]}
    assert part["Venue"] == "Upbit" and part["Filled"] == "0.005/0.01 @ 145000000"
    assert by_title["BTC upbit buy partly filled"]["embeds"][0]["color"] == 0xE67E22
    sig_post = by_title["BTC long premium enter signal"]
    sig = {f["name"]: f["value"] for f in sig_post["embeds"][0]["fields"]}
    card = sig_post["embeds"][0]["description"]   # the trade card: a monospace block
    assert "S77-1" in card and "size 100,000 KRW" in card and "premium +1.20%" in card
    assert "/confirm S77-1" in sig["How to answer"] and "/pending" in sig["How to answer"]
    assert sig_post["components"] is None                                 # a webhook carries no buttons
    assert {f["name"] for f in by_title["FX rate source"]["embeds"][0]["fields"]} >= {"Source", "Rate"}
    assert "Adopt / Close / Ignore" in by_title["Restart reconciliation"]["embeds"][0]["fields"][-1]["value"]

    # the signal's own message is edited when it expires
    bus.publish(Event("signal_expired", "BTC signal S77-1 expired unconfirmed", "info", {"pending_id": "S77-1"}))
    assert await wait_until(lambda: any(e["message_id"] == sig_post["message_id"] for e in dc.webhook_edits),
                            timeout=5)
    emb = dc.messages[sig_post["message_id"]]["embeds"][0]
    assert emb["title"] == "BTC long premium enter signal" and emb["color"] == 0x95A5A6
    assert "How to answer" not in {f["name"] for f in emb.get("fields") or []}
    assert "⌛ Expired: nothing sent." in emb["description"]


async def test_webhook_leaves_signals_and_findings_to_the_bot_channel():
    async with FakeDiscord() as dc:
        from kimpbot.control.discord_http import set_discord_api_base

        settings = SimpleNamespace(discord_bot_token="x" * 20, discord_channel_id=dc.channel_id,
                                   telegram_bot_token="")
        signal_hint, finding_hint = answer_hints(settings)
        assert f"<#{dc.channel_id}>" in signal_hint and "/confirm {id}" in signal_hint
        assert f"<#{dc.channel_id}>" in finding_hint
        blocked = [""]
        hook = DiscordWebhookNotifier(dc.webhook_url, dc.api_url, skip_kinds=INTERACTIVE_KINDS,
                                      signal_hint=signal_hint, finding_hint=finding_hint, backoff_s=0.01,
                                      entries_blocked=lambda: blocked[0])
        await hook.start()
        try:
            for kind in INTERACTIVE_KINDS:
                assert not hook.wants(kind)
                await hook.on_event(Event(kind, "x", "info", {"pending_id": "S1", "findings": ["f"]}))
            assert dc.webhook_posts == []
            await hook.on_event(Event("halt", "HALTED by telegram:42", "critical", {"reason": "/halt", "by": "t"}))
            assert dc.webhook_posts[-1]["embeds"][0]["title"] == "Halted"
            # without skip_kinds: a signal that cannot go says why instead of how to answer
            hook.skip_kinds = frozenset()
            blocked[0] = "HALTED: not offered (/resume first)"
            await hook.on_event(signal_event("S2-1"))
            fields = {f["name"]: f["value"] for f in dc.webhook_posts[-1]["embeds"][0]["fields"]}
            assert fields["Not offered"].startswith("HALTED") and "How to answer" not in fields
        finally:
            await hook.stop()
            set_discord_api_base(None)


async def test_webhook_critical_alerts_outlast_ordinary_retries(log_records):
    async with FakeDiscord() as dc:
        from kimpbot.control.discord_http import set_discord_api_base

        hook = DiscordWebhookNotifier(dc.webhook_url, dc.api_url, retries=1, critical_retries=4, backoff_s=0.01)
        await hook.start()
        try:
            dc.inject("execute", "drop", count=3)      # three dropped connections in a row
            await hook.on_event(Event("error", "ordinary failure", "warning"))
            assert dc.webhook_posts == [] and hook.failed == 1   # gave up after 2 attempts
            dc.clear_faults()
            dc.inject("execute", "drop", count=3)
            await hook.on_event(Event("exposure", "UNHEDGED BTC: upbit buy 0.01", "critical", {"symbol": "BTC"}))
            assert [p["embeds"][0]["title"] for p in dc.webhook_posts] == ["BTC UNHEDGED EXPOSURE"]
            assert any("not delivered after 2 attempts" in r.getMessage() for r in log_records)
        finally:
            await hook.stop()
            set_discord_api_base(None)
        scan_for_secrets([dc.webhook_token], None, dc, log_records)


# ---------------------------------------------------------------- the bot's channel

async def test_signal_gets_execute_skip_buttons_and_a_press_executes(rig, front, log_records):
    dc = rig.dc
    rec = await real_signal(rig)
    await posted(front, rec)
    ids = ids_of(rec)
    pid = ids[0][2:]
    assert ids == [f"x:{pid}", f"s:{pid}"]
    assert [c["label"] for row in rec["components"] for c in row["components"]] == ["✅ Execute", "✖️ Skip"]
    assert rec["nonce"] and dc.messages[rec["message_id"]]["author"]["id"] == dc.application_id
    assert rig.bot.trader.state.pending[pid].state == "pending"

    # an intruder's press: refused (ephemeral), logged, nothing executed
    bad = PressOn(D_INTRUDER, rec["message_id"])
    await front.on_button(bad, ids[0])
    assert bad.log[0][0] == "send" and "Not authorized" in bad.log[0][1] and bad.log[0][2]["ephemeral"]
    assert rig.bot.trader.state.pending[pid].state == "pending" and rig.bot.store.trades() == []
    assert any(f"unauthorized discord user id {D_INTRUDER}" in r.getMessage() for r in log_records)

    # the owner's press executes through the core and replaces the message without buttons
    ok = PressOn(D_OWNER, rec["message_id"])
    await front.on_button(ok, ids[0])
    kind, content, kw = ok.log[-1]
    assert kind in ("edit", "edit_original") and "filled" in content and kw["view"] is None
    assert len(rig.bot.trader.positions()) == 1
    assert pid not in front._signal_msgs and int(rec["message_id"]) not in front._views
    assert ("confirm", f"discord:{D_OWNER}") in {(a["action"], a["by"]) for a in rig.bot.store.audit_log(limit=50)}
    # the trade's card went by webhook (edited to its end state); the bot channel's signal card
    # followed the trade in place: no other post there
    assert await wait_until(lambda: any("enter filled" in (e.get("title") or "") for p in dc.webhook_posts
                                        for e in dc.messages[p["message_id"]]["embeds"]))
    assert all((m["content"] or "").startswith("🔔") for m in dc.channel_messages)


async def test_skip_button_skips_through_the_core(rig, front):
    rec = await real_signal(rig)
    await posted(front, rec)
    skip = ids_of(rec)[1]
    assert skip.startswith("s:")
    it = PressOn(D_OWNER, rec["message_id"])
    await front.on_button(it, skip)
    kind, content, kw = it.log[-1]
    assert kind == "edit" and "skipped" in content and kw["view"] is None
    assert rig.bot.trader.state.pending[skip[2:]].state == "skipped"
    assert rig.bot.store.trades() == []


async def test_expiry_edits_the_message_and_blocked_entries_get_no_buttons(rig, front):
    dc, bus = rig.dc, rig.bot.bus
    since = len(dc.channel_messages)
    bus.publish(signal_event("S90-1"))
    rec = await dc.wait_for_message(lambda r: ids_of(r) == ["x:S90-1", "s:S90-1"], since=since)
    n = len(dc.channel_edits)
    bus.publish(Event("signal_expired", "BTC signal S90-1 expired unconfirmed", "info", {"pending_id": "S90-1"}))
    edit = await dc.wait_for_edit(lambda e: e["message_id"] == rec["message_id"], since=n)
    assert edit["content"].startswith("⌛ BTC long premium enter signal") and "⌛ Expired: nothing sent." in \
        edit["content"]
    assert edit["components"] == [] and dc.buttons(rec["message_id"]) == []
    assert "S90-1" not in front._signal_msgs

    # entries paused: the signal is posted with the reason and without buttons (an exit keeps them)
    await rig.core.handle("console", None, "/stop")
    since = len(dc.channel_messages)
    bus.publish(signal_event("S91-1"))
    bus.publish(signal_event("S92-1", action="exit"))
    await dc.wait_for_message(lambda r: ids_of(r) == ["x:S92-1", "s:S92-1"], since=since)
    [blocked] = [r for r in dc.channel_messages[since:] if not r["components"]]
    assert blocked["content"].startswith("🔔") and "stopped: not offered (/start first)" in " ".join(
        blocked["content"].split())
    # expiry of a signal that had no buttons: its card says so, in place
    n = len(dc.channel_edits)
    bus.publish(Event("signal_expired", "BTC signal S91-1 expired unconfirmed", "info", {"pending_id": "S91-1"}))
    edit = await dc.wait_for_edit(lambda e: e["message_id"] == blocked["message_id"], since=n)
    assert "Expired" in edit["content"] and len(dc.channel_messages) == since + 2


async def test_each_finding_gets_adopt_close_ignore(rig, front):
    dc = rig.dc
    since = len(dc.channel_messages)
    findings = ["binance BTC -0.01 not in the journal", "upbit ETH 0.5 not in the journal"]
    rig.bot.bus.publish(Event("reconcile", "restart reconciliation:\n- " + "\n- ".join(findings), "warning",
                              {"findings": findings}))
    assert await wait_until(lambda: len(dc.channel_messages) >= since + 3)
    head, *each = dc.channel_messages[since:since + 3]
    assert head["content"] == "🔎 restart reconciliation: 2 finding(s) below." and not head["components"]
    fids = []
    for rec, text in zip(each, findings):
        assert rec["content"] == f"🔎 {text}"
        ids = ids_of(rec)
        fid = ids[0][3:]
        assert ids == [f"ra:{fid}", f"rc:{fid}", f"ri:{fid}"]
        assert [c["label"] for row in rec["components"] for c in row["components"]] == ["Adopt", "Close", "Ignore"]
        assert rig.core.findings[fid] == {"text": text, "state": "open"}
        fids.append((fid, rec["message_id"]))
        await posted(front, rec)

    bad = PressOn(D_INTRUDER, fids[0][1])
    await front.on_button(bad, f"ra:{fids[0][0]}")
    assert "Not authorized" in bad.log[0][1] and rig.core.findings[fids[0][0]]["state"] == "open"
    # the owner presses Ignore on the second: through the view's own button, as the gateway would
    view = front._views[int(fids[1][1])]
    button = next(b for b in view.children if b.custom_id == f"ri:{fids[1][0]}")
    it = PressOn(D_OWNER, fids[1][1])
    await button.callback(it)
    kind, content, kw = it.log[-1]
    assert kind == "edit" and f"ignored by discord:{D_OWNER}" in content and kw["view"] is None
    assert rig.core.findings[fids[1][0]]["state"] == "ignored"
    assert int(fids[1][1]) not in front._views and int(fids[0][1]) in front._views


async def test_server_errors_and_lost_answers_are_retried_once_delivered(rig, front):
    dc, bus = rig.dc, rig.bot.bus
    dc.inject("message", "http500")            # discord.py itself retries a 500 after 1 s
    since = len(dc.channel_messages)
    bus.publish(signal_event("S50-1"))
    await dc.wait_for_message(lambda r: ids_of(r) == ["x:S50-1", "s:S50-1"], since=since, timeout=4)
    assert any(e["status"] == 500 and e["operation"] == "message" for e in dc.errors)

    dc.inject("message", "lost")               # posted, then the connection drops: our retry, same nonce
    dc.inject("message", "drop")               # then dropped before it is processed: retried again
    since = len(dc.channel_messages)
    bus.publish(signal_event("S51-1"))
    await dc.wait_for_message(lambda r: ids_of(r) == ["x:S51-1", "s:S51-1"], since=since, timeout=4)
    await bus.drain()
    assert len([r for r in dc.channel_messages if "x:S51-1" in ids_of(r)]) == 1
    assert dc.deduplicated >= 1 and front.undelivered == 0
    assert "S:S51-1" in front._card_msgs


async def test_a_discord_outage_never_blocks_or_raises_into_the_bus(rig, log_records):
    front = await start_front(rig, retries=2)
    rig.hook.retries = rig.hook.critical_retries = 0
    try:
        await rig.dc.stop()                    # Discord is down from here on
        since = len(rig.tg.sent)
        t0 = time.monotonic()
        rig.bot.bus.publish(signal_event("S60-1"))
        assert time.monotonic() - t0 < 0.05
        # Telegram still gets it, and the Discord front gives up after its retries without raising
        await rig.tg.wait_for(lambda r: "S60-1" in json.dumps(r.get("reply_markup") or ""), since=since, timeout=5)
        assert await wait_until(lambda: front.undelivered == 1, timeout=4)
        assert not any(r.getMessage().startswith("event handler failed") for r in log_records)
        lines = [r.getMessage() for r in log_records if r.name == "kimpbot.control.discord_bot"]
        assert any("not delivered after 3 attempts" in ln for ln in lines), lines
        assert rig.bot.trader is not None and rig.bot.trader.running
    finally:
        await front.stop()
        scan_bot(rig.dc, rig.secrets() + [rig.dc.bot_token], log_records)


async def test_without_a_webhook_the_bot_channel_gets_every_event(rig, log_records):
    front = await start_front(rig, post_alerts=True)
    try:
        since = len(rig.dc.channel_messages)
        rig.bot.bus.publish(Event("partial", "BTC upbit buy 0.005/0.01 @ 1 (partially_filled, fee 0)", "info",
                                  {"venue": "upbit", "symbol": "BTC", "side": "buy", "qty": "0.01",
                                   "filled_qty": "0.005", "avg_price": "1"}))
        rig.bot.bus.publish(Event("error", "close all: no prices for BTC; left open", "critical"))
        rec = await rig.dc.wait_for_message(lambda r: r["embeds"] and r["embeds"][0]["title"] == "Critical error",
                                            since=since)
        assert rec["embeds"][0]["color"] == 0x992D22 and not rec["components"]
        assert any(r["embeds"] and r["embeds"][0]["title"] == "BTC upbit buy partly filled"
                   for r in rig.dc.channel_messages[since:])
    finally:
        await rig.bot.bus.drain()
        await front.stop()
        scan_bot(rig.dc, rig.secrets() + [rig.dc.bot_token], log_records)


async def test_a_wrong_token_or_channel_fails_the_start_without_leaking(rig, log_records):
    with pytest.raises(RuntimeError, match="refused DISCORD_BOT_TOKEN"):
        await DiscordFront(rig.bot, rig.core, token="wrong-bot-token-abcdef", channel_id=rig.dc.channel_id
                           ).start(gateway=False)
    with pytest.raises(RuntimeError, match="DISCORD_CHANNEL_ID 999999999999999999: Unknown Channel"):
        await DiscordFront(rig.bot, rig.core, token=rig.dc.bot_token, channel_id="999999999999999999"
                           ).start(gateway=False)
    scan_bot(rig.dc, rig.secrets() + [rig.dc.bot_token, "wrong-bot-token-abcdef"], log_records)


# ---------------------------------------------------------------- wiring in the CLI

async def test_start_chat_wires_the_bot_channel_and_the_webhook(sim, tmp_path, monkeypatch, log_records):
    from kimpbot.cli import _start_chat, _stop_chat
    from kimpbot.control.discord_http import set_discord_api_base
    from kimpbot.engine import Bot

    monkeypatch.setattr(DiscordFront, "start", _rest_only_start)
    sf = tmp_path / "strategy.toml"
    sf.write_text(STRATEGY)
    async with FakeDiscord() as dc:
        env = sim.env() | {"KIMPBOT_STRATEGY_FILE": str(sf), "KIMPBOT_DATA_DIR": str(tmp_path / "data"),
                           "DISCORD_WEBHOOK_URL": dc.webhook_url, "DISCORD_API_URL": dc.api_url,
                           "DISCORD_BOT_TOKEN": dc.bot_token, "DISCORD_ALLOWED_USERS": str(D_OWNER),
                           "DISCORD_CHANNEL_ID": dc.channel_id}
        settings = load_settings(env)
        bot = Bot(settings, load_owner_config(sf))
        core = CommandCore(bot)
        fronts = await _start_chat(bot, core)
        try:
            hook, front = fronts
            assert isinstance(hook, DiscordWebhookNotifier) and isinstance(front, DiscordFront)
            assert hook.skip_kinds == INTERACTIVE_KINDS and front.channel_id == int(dc.channel_id)
            assert not front.post_alerts and front._attached
            bot.bus.publish(signal_event("S70-1"))
            bot.bus.publish(Event("error", "test error", "warning"))
            await dc.wait_for_message(lambda r: "S70-1" in (r["content"] or "") or "trading is not running"
                                      in (r["content"] or ""))
            await dc.wait_for(lambda p: p["embeds"][0]["title"] == "Error")
            await bot.bus.drain()
            assert not any(p["embeds"][0]["title"].endswith("signal") for p in dc.webhook_posts)
            assert not any(r["embeds"] for r in dc.channel_messages)
        finally:
            await _stop_chat(fronts)
            await bot.bus.stop()
            set_discord_api_base(None)
        # a wrong channel fails the start, and the webhook already started is stopped again
        bad = load_settings(env | {"DISCORD_CHANNEL_ID": "999999999999999999"})
        bot2 = Bot(bad, load_owner_config(sf))
        with pytest.raises(RuntimeError, match="Unknown Channel"):
            await _start_chat(bot2, CommandCore(bot2))
        await bot2.bus.stop()
        set_discord_api_base(None)
        scan_bot(dc, settings.secrets() + [dc.webhook_token], log_records)


_real_start = DiscordFront.start


async def _rest_only_start(self: DiscordFront, *, gateway: bool = True) -> None:
    await _real_start(self, gateway=False)     # the gateway is not faked


async def test_an_answer_in_one_chat_clears_the_buttons_in_the_other(rig, front):
    """A signal / finding is offered in Telegram and in the Discord channel; pressing in one edits
    the other copy too (no live buttons left behind), and the same finding has one id in both."""
    tg, dc, bus = rig.tg, rig.dc, rig.bot.bus
    from .conftest import OWNER

    n_tg, n_dc, n_ed = len(tg.sent), len(dc.channel_messages), len(dc.channel_edits)
    rec = await real_signal(rig, since=n_dc)
    pid = ids_of(rec)[0][2:]
    tmsg = await tg.wait_for(lambda r: r["method"] == "sendMessage" and (r.get("text") or "").startswith("🔔"),
                             since=n_tg)
    ex = next(d for t, d in tg.buttons(tmsg["message_id"], chat_id=OWNER) if "Execute" in t)
    assert ex == f"x:{pid}"
    tg.press_button(OWNER, OWNER, tmsg["message_id"], ex)
    edit = await dc.wait_for_edit(lambda e: e["message_id"] == rec["message_id"] and "by telegram:42" in e["content"],
                                  since=n_ed, timeout=10)
    assert "enter filled" in edit["content"] and edit["components"] == []
    assert pid not in front._signal_msgs

    # a finding: one id in both chats; Ignore pressed in Discord edits the Telegram copy
    text = "unexpected Binance XRP position: exchange +5, journal +0 (adopt, close or ignore)"
    n_tg, n_dc = len(tg.sent), len(dc.channel_messages)
    bus.publish(Event("reconcile", f"restart reconciliation:\n- {text}", "warning", {"findings": [text]}))
    drec = await dc.wait_for_message(lambda r: r["content"] == f"🔎 {text}", since=n_dc)
    trec = await tg.wait_for(lambda r: r["method"] == "sendMessage" and r.get("text") == f"🔎 {text}", since=n_tg)
    fid = ids_of(drec)[0][3:]
    await posted(front, drec)
    assert {d for _t, d in tg.buttons(trec["message_id"], chat_id=OWNER)} == {f"ra:{fid}", f"rc:{fid}", f"ri:{fid}"}
    n = len(tg.sent)
    await front.on_button(PressOn(D_OWNER, drec["message_id"]), f"ri:{fid}")
    tedit = await tg.wait_for(lambda r: r["method"] == "editMessageText" and r["message_id"] == trec["message_id"],
                              since=n)
    assert f"ignored by discord:{D_OWNER}" in tedit["text"] and tg.buttons(trec["message_id"], chat_id=OWNER) == []
