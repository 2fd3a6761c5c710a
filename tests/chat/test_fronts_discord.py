"""Discord's slash commands from command_list, with the REAL discord.py over the fake Discord
gateway: typed options (coin and period choices, integer ranges, autocomplete), catalogue
descriptions localized per client language, private commands answered ephemerally, and the
two-step confirmations (only the asker, once, within the time limit)."""

from __future__ import annotations

import copy

import pytest

from kimpbot.control.command_list import COMMANDS
from kimpbot.control.notify import ALERT_KINDS
from kimpbot.i18n import help as h
from fakes.discord import FakeDiscord

from .conftest import wait_until
from .test_discord_gateway import D_OWNER, D_STRANGER, _front

D_OWNER2 = 222222222222222222


def _cmd(dc, name: str) -> dict:
    return next(c for c in dc.commands if c["name"] == name)


def _opt(cmd: dict, name: str) -> dict:
    return next(o for o in cmd["options"] if o["name"] == name)


@pytest.fixture
async def front(rig):
    """The Discord front, once its slash commands are synced."""
    f = await _front(rig)
    try:
        assert await wait_until(lambda: len(rig.dc.commands) == len(COMMANDS), timeout=15)
        yield f
    finally:
        await f.stop()


async def test_slash_commands_registered_with_typed_options_and_both_languages(rig, front):
    dc = rig.dc
    assert [c["name"] for c in dc.commands] == [c.name for c in COMMANDS]
    chart = _cmd(dc, "chart")
    sym, period = _opt(chart, "symbol"), _opt(chart, "period")
    assert sym["type"] == 3 and [c["value"] for c in sym["choices"]] == rig.bot.market.symbols
    assert [c["value"] for c in period["choices"]] == ["1d", "7d", "20d"]
    assert period["choices"][1]["name_localizations"]["ko"] == "7일"
    n = _opt(_cmd(dc, "trades"), "n")
    assert (n["type"], n["min_value"], n["max_value"], n.get("required", False)) == (4, 1, 100, False)
    assert _opt(_cmd(dc, "forceexit"), "position")["autocomplete"] is True
    assert [o["name"] for o in _cmd(dc, "set")["options"]] == ["key", "value"]
    assert [c["value"] for c in _opt(_cmd(dc, "notify"), "level")["choices"]] == ["on", "silent", "off"]
    assert _cmd(dc, "status")["options"] == []
    for c in dc.commands:   # the bot's language as the default, each client its own
        loc = c["description_localizations"]
        assert 1 <= len(c["description"]) <= 100
        assert loc["en-US"] == loc["en-GB"] and any("\uac00" <= ch <= "\ud7a3" for ch in loc["ko"])
    assert _cmd(dc, "status")["description_localizations"]["ko"] == h.STATUS.render("ko")


async def test_slash_command_with_a_symbol_choice_answered(rig, front):
    dc = rig.dc
    assert await wait_until(lambda: rig.bot.market.views["ETH"].snapshot is not None)
    it = await dc.interact_slash(D_OWNER, "chart", {"symbol": "ETH", "period": "7d"})
    assert it.payload["data"]["options"] == [{"name": "symbol", "type": 3, "value": "ETH"},
                                             {"name": "period", "type": 3, "value": "7d"}]
    assert it.callback["type"] == 4 and not it.ephemeral
    assert "ETH" in it.content   # the caption (its wording is the charts area's)
    assert [a["filename"] for a in dc.messages[it.original_id]["attachments"]] == ["chart.png"]
    # a coin outside the owner's list cannot be sent: the client offers only the choices
    with pytest.raises(ValueError, match="not one of the choices"):
        await dc.interact_slash(D_OWNER, "chart", {"symbol": "DOGE"})
    with pytest.raises(ValueError, match="outside 1..100"):
        await dc.interact_slash(D_OWNER, "trades", {"n": 500})


async def test_private_commands_are_answered_ephemerally(rig, front):
    dc = rig.dc
    assert await wait_until(lambda: rig.bot.market.views["BTC"].snapshot is not None)
    for spec in COMMANDS:
        if spec.name in ("positions", "trades", "balance"):
            it = await dc.interact_slash(D_OWNER, spec.name)
            assert spec.private and it.callback["flags"] & 64, (spec.name, it.callback)
    it = await dc.interact_slash(D_OWNER, "status")
    assert it.callback["flags"] & 64 == 0 and not it.ephemeral


async def test_autocomplete_answers_owners_only(rig, front):
    dc = rig.dc
    got = await dc.autocomplete(D_OWNER, "notify", "kind", "fill")
    assert got and all("fill" in c["value"] for c in got) and {c["value"] for c in got} <= ALERT_KINDS
    assert await dc.autocomplete(D_STRANGER, "notify", "kind", "") == []   # a stranger learns nothing
    assert await dc.autocomplete(D_OWNER, "forceexit", "position", "") == []   # no open position


async def test_two_step_confirmation_only_the_asker_once_and_it_expires(rig, front):
    dc, sf = rig.dc, rig.bot.settings.strategy_file
    rig.core.allowed["discord"] = frozenset({D_OWNER, D_OWNER2})
    it = await dc.interact_slash(D_OWNER, "set", {"key": "zscore.exit_z", "value": "0.7"})
    mid = it.original_id
    labels = dict(dc.buttons(mid))
    apply = next(cid for label, cid in labels.items() if label == "Apply")
    shown = copy.deepcopy(dc.messages[mid])
    before = sf.read_text()

    # a stranger, then another allowed user: refused ephemerally, nothing written, buttons stay
    p = await dc.press_button(D_STRANGER, mid, apply)
    assert p.ephemeral and "Not authorized" in p.content
    p = await dc.press_button(D_OWNER2, mid, apply)
    assert p.ephemeral and f"only discord:{D_OWNER}" in p.content
    assert sf.read_text() == before and dc.buttons(mid) == list(labels.items())

    # the asker: applied, the message edited in place without its buttons
    p = await dc.press_button(D_OWNER, mid, apply)
    assert p.callback["type"] in (5, 7)
    assert await wait_until(lambda: "written by discord:" in (dc.messages[mid]["content"] or ""))
    assert dc.buttons(mid) == [] and rig.bot.strategy.params.exit_z == 0.7
    after = sf.read_text()
    # a second press (a client still showing the buttons): refused, nothing written again
    p = await dc.press_button(D_OWNER, mid, apply, seen=shown)
    assert p.ephemeral and "Already answered" in p.content and sf.read_text() == after

    # past the time limit: expired, nothing done
    rig.core.confirm_ttl_s = 0.0
    it = await dc.interact_slash(D_OWNER, "set", {"key": "zscore.exit_z", "value": "0.8"})
    late = next(cid for label, cid in dc.buttons(it.original_id) if label == "Apply")
    p = await dc.press_button(D_OWNER, it.original_id, late)
    assert await wait_until(lambda: "expired" in (dc.messages[it.original_id]["content"] or ""))
    assert rig.bot.strategy.params.exit_z == 0.7 and sf.read_text() == after


async def _put_commands(dc, body) -> tuple[int, dict | list]:
    import aiohttp

    url = f"{dc.api_url}/applications/{dc.application_id}/commands"
    async with aiohttp.ClientSession() as s:
        async with s.put(url, json=body, headers={"Authorization": f"Bot {dc.bot_token}"}) as r:
            assert r.headers["Content-Type"] == "application/json"
            return r.status, await r.json()


def _string_option(**kw) -> dict:
    return {"type": 3, "name": "symbol", "description": "coin", **kw}


@pytest.mark.parametrize("option, where, code", [
    (_string_option(choices=[{"name": f"c{i}", "value": f"c{i}"} for i in range(26)]),
     ("choices",), "BASE_TYPE_MAX_LENGTH"),
    (_string_option(choices=[{"name": "", "value": "x"}]), ("choices", "0", "name"), "BASE_TYPE_BAD_LENGTH"),
    (_string_option(choices=[{"name": "x", "value": "v" * 101}]), ("choices", "0", "value"), "BASE_TYPE_BAD_LENGTH"),
    ({"type": 4, "name": "n", "description": "n", "choices": [{"name": "one", "value": "1"}]},
     ("choices", "0", "value"), "NUMBER_TYPE_COERCE"),
    (_string_option(description="d" * 101), ("description",), "BASE_TYPE_BAD_LENGTH"),
    (_string_option(name="Symbol"), ("name",), "APPLICATION_COMMAND_INVALID_NAME"),
    (_string_option(description_localizations={"xx": "coin"}), ("description_localizations", "xx"),
     "ENUM_TYPE_COERCE"),
])
async def test_fake_refuses_invalid_command_options_as_discord_does(option, where, code):
    async with FakeDiscord() as dc:
        await _check_refused(dc, option, where, code)


async def _check_refused(dc, option, where, code) -> None:
    status, body = await _put_commands(dc, [{"name": "chart", "description": "a chart", "options": [option]}])
    assert status == 400 and body["code"] == 50035 and body["message"] == "Invalid Form Body"
    node = body["errors"]["0"]["options"]["0"]
    for k in where:
        node = node[k]
    assert node["_errors"][0]["code"] == code, body
    assert dc.commands == []   # nothing registered
    # a required option after an optional one is refused too; a valid list is accepted
    status, body = await _put_commands(dc, [{"name": "set", "description": "x", "options": [
        {"type": 3, "name": "key", "description": "k"}, {"type": 3, "name": "value", "description": "v",
                                                         "required": True}]}])
    assert status == 400 and "required" in body["errors"]["0"]["options"]["1"]
    status, body = await _put_commands(dc, [{"name": "chart", "description": "a chart", "options": [
        _string_option(choices=[{"name": "BTC", "value": "BTC"}])]}])
    assert status == 200 and body[0]["options"][0]["choices"] == [{"name": "BTC", "value": "BTC"}]
