"""``kimpbot doctor`` against the simulated exchanges and the chat fakes (real HTTP, real PTB and discord.py)."""

from __future__ import annotations

import argparse
import hashlib
import hmac
import io
import json
import time

import pytest
from aiohttp import web

from kimpbot import doctor
from kimpbot.config import load_settings
from kimpbot.doctor import FAIL, PASS, SKIP


def args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    doctor.add_arguments(p)
    return p.parse_args(list(argv))


@pytest.fixture
def env(sim, telegram, discord_fake, strategy_file, tmp_path):
    return sim.env() | {
        "KIMPBOT_STRATEGY_FILE": str(strategy_file),
        "KIMPBOT_DATA_DIR": str(tmp_path / "data"),
        "TELEGRAM_API_URL": telegram.base_url,
        "TELEGRAM_BOT_TOKEN": telegram.token,
        "TELEGRAM_ALLOWED_USERS": "42",
        "DISCORD_API_URL": discord_fake.api_url,
        "DISCORD_WEBHOOK_URL": discord_fake.webhook_url,
    }


async def run_doctor(env, *argv, now_ms=None):
    out = io.StringIO()
    rc = await doctor.main(args(*argv), env=env, now_ms=now_ms, out=out)
    return rc, out.getvalue()


def line(text: str, name: str) -> str:
    found = [ln for ln in text.splitlines() if ln[6:].startswith(name + " ")]
    assert len(found) == 1, (name, text)
    return found[0]


def no_secret(text: str, env) -> None:
    for key in ("UPBIT_ACCESS_KEY", "UPBIT_SECRET_KEY", "BINANCE_API_KEY", "BINANCE_API_SECRET",
                "TELEGRAM_BOT_TOKEN", "DISCORD_WEBHOOK_URL"):
        if env.get(key):
            assert env[key] not in text, key
    if env.get("DISCORD_WEBHOOK_URL"):
        assert env["DISCORD_WEBHOOK_URL"].rsplit("/", 1)[-1] not in text


async def test_doctor_passes_against_the_fakes(env, telegram, discord_fake):
    rc, text = await run_doctor(env)
    assert rc == 0, text
    assert "FAIL" not in text
    for name in ("strategy file", "data dir", "Upbit reachable", "Binance reachable", "clock skew", "FX API",
                 "Upbit API key", "Upbit key permissions", "Binance API key", "Telegram bot token",
                 "Discord webhook"):
        assert line(text, name).startswith(PASS), line(text, name)
    # what the fakes cannot answer is skipped with its reason, never passed
    assert line(text, "Binance key permissions").startswith(SKIP)
    assert "BINANCE_SPOT_API_URL is not set" in line(text, "Binance key permissions")
    assert line(text, "Discord bot token").startswith(SKIP)
    assert "Upbit does not report a key's permissions" in line(text, "Upbit key permissions")
    assert "@kimpbot_test_bot" in line(text, "Telegram bot token")
    assert "kimpbot alerts" in line(text, "Discord webhook")
    assert text.rstrip().endswith("ready")
    no_secret(text, env)
    # it really asked them (and sent nothing)
    assert any(c["method"] == "getMe" for c in telegram.calls) and not telegram.sent
    assert not discord_fake.webhook_posts


@pytest.mark.parametrize("var, value, row, words, still_ok", [
    ("BINANCE_API_SECRET", "not-the-binance-secret", "Binance API key",
     ("-1022", "BINANCE_API_SECRET does not match"), "Upbit API key"),
    ("BINANCE_API_KEY", "some-other-binance-key", "Binance API key", ("-2015", "allow-list"), "Upbit API key"),
    ("UPBIT_SECRET_KEY", "not-the-upbit-secret-key", "Upbit API key",
     ("jwt_verification", "UPBIT_SECRET_KEY does not match"), "Binance API key"),
    ("UPBIT_ACCESS_KEY", "another-access-key", "Upbit API key", ("invalid_access_key",), "Binance API key"),
])
async def test_a_wrong_key_fails_naming_it(env, var, value, row, words, still_ok):
    bad = env | {var: value}
    rc, text = await run_doctor(bad)
    assert rc == 1
    ln = line(text, row)
    assert ln.startswith(FAIL) and all(w in ln for w in words), ln
    assert line(text, still_ok).startswith(PASS)   # the other venue's key is not blamed
    assert line(text, "clock skew").startswith(PASS)
    if row == "Upbit API key":
        assert line(text, "Upbit key permissions").startswith(SKIP)
    no_secret(text, bad)


@pytest.mark.parametrize("offset_ms, side", [(5000, "ahead of"), (-5000, "behind")])
async def test_clock_skew_of_5_s_fails(env, offset_ms, side):
    def skewed() -> int:
        return time.time_ns() // 1_000_000 + offset_ms

    rc, text = await run_doctor(env, now_ms=skewed)
    assert rc == 1
    ln = line(text, "clock skew")
    assert ln.startswith(FAIL) and side in ln and "recvWindow" in ln
    skew = int(ln.split("local clock ")[1].split(" ms")[0].replace(",", ""))
    assert 4900 <= skew <= 5100
    # a looser limit accepts it
    rc, text = await run_doctor(env, "--max-skew-ms", "6000", now_ms=skewed)
    assert line(text, "clock skew").startswith(PASS)


async def test_upbit_key_expiry(sim, env):
    sim.upbit.api_key_valid_days = 5
    rc, text = await run_doctor(env)
    assert rc == 0 and "renew it soon" in line(text, "Upbit key permissions")
    sim.upbit.api_key_valid_days = -1
    rc, text = await run_doctor(env)
    assert rc == 1 and line(text, "Upbit key permissions").startswith(FAIL)
    assert "expired" in line(text, "Upbit key permissions")


async def test_chat_tokens_wrong(env):
    bad_hook = env["DISCORD_WEBHOOK_URL"].rsplit("/", 1)[0] + "/" + "x" * 68
    rc, text = await run_doctor(env | {"TELEGRAM_BOT_TOKEN": "123456:not-the-right-token",
                                       "DISCORD_WEBHOOK_URL": bad_hook})
    assert rc == 1
    assert line(text, "Telegram bot token").startswith(FAIL) and "BotFather" in line(text, "Telegram bot token")
    assert line(text, "Discord webhook").startswith(FAIL) and "401" in line(text, "Discord webhook")
    assert "not-the-right-token" not in text and "x" * 68 not in text


async def test_local_checks_fail_with_reasons(env, tmp_path):
    (tmp_path / "bad.toml").write_text("[zscore]\nentry_threshold = -3\n")
    (tmp_path / "a-file").write_text("")
    rc, text = await run_doctor(env | {"KIMPBOT_STRATEGY_FILE": str(tmp_path / "bad.toml"),
                                       "KIMPBOT_DATA_DIR": str(tmp_path / "a-file" / "data")})
    assert rc == 1
    assert line(text, "strategy file").startswith(FAIL) and "zscore.entry_threshold" in line(text, "strategy file")
    assert line(text, "data dir").startswith(FAIL)
    assert line(text, "Upbit reachable").startswith(PASS)  # the rest still runs, on defaults
    rc, text = await run_doctor(env | {"KIMPBOT_STRATEGY_FILE": str(tmp_path / "missing.toml")})
    assert rc == 1 and "not found" in line(text, "strategy file")


async def test_unreachable_exchange_and_settings_error(env):
    rc, text = await run_doctor(env | {"BINANCE_FUTURES_API_URL": "http://127.0.0.1:9"}, "--timeout", "3")
    assert rc == 1
    assert line(text, "Binance reachable").startswith(FAIL)
    assert line(text, "clock skew").startswith(SKIP)
    rc, text = await run_doctor(env | {"KIMPBOT_MODE": "nonsense"})
    assert rc == 1 and text.startswith("FAIL  settings") and "KIMPBOT_MODE" in text


async def test_json_output(env):
    rc, text = await run_doctor(env, "--json")
    doc = json.loads(text)
    assert rc == 0 and doc["ok"] is True and doc["mode"] == "paper"
    assert {r["status"] for r in doc["results"]} <= {PASS, SKIP}
    no_secret(text, env)


# ---- Binance key permissions: a stand-in for the spot API host (the sims serve USDT-M only) -------------

@pytest.fixture
async def spot_api(sim):
    """``GET /sapi/v1/account/apiRestrictions`` with Binance's HMAC signing, answering ``spot_api.restrictions``."""
    key, secret = sim.binance_keys

    async def restrictions(request: web.Request) -> web.Response:
        if request.headers.get("X-MBX-APIKEY") != key:
            return web.json_response({"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."},
                                     status=401)
        qs = request.query_string
        payload = "&".join(p for p in qs.split("&") if not p.startswith("signature="))
        want = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if request.query.get("signature") != want:
            return web.json_response({"code": -1022, "msg": "Signature for this request is not valid."}, status=400)
        return web.json_response(state["restrictions"])

    app = web.Application()
    state: dict = {}
    state["restrictions"] = {"ipRestrict": True, "createTime": 1_700_000_000_000, "enableReading": True,
                           "enableWithdrawals": False, "enableInternalTransfer": False, "enableMargin": False,
                           "enableFutures": True, "permitsUniversalTransfer": False, "enableVanillaOptions": False,
                           "enableFixApiTrade": False, "enableFixReadOnly": False,
                           "enableSpotAndMarginTrading": False, "enablePortfolioMarginTrading": False}
    app.router.add_get("/sapi/v1/account/apiRestrictions", restrictions)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield state
    finally:
        await runner.cleanup()


async def test_binance_permissions_from_the_spot_host(env, spot_api):
    e = env | {"BINANCE_SPOT_API_URL": spot_api["url"]}
    rc, text = await run_doctor(e)
    assert rc == 0
    assert line(text, "Binance key permissions").startswith(PASS)
    assert "futures on, withdrawals off, IP allow-list on" in line(text, "Binance key permissions")

    spot_api["restrictions"] = spot_api["restrictions"] | {"enableWithdrawals": True}
    rc, text = await run_doctor(e)
    assert rc == 1 and "withdrawals are ENABLED" in line(text, "Binance key permissions")

    spot_api["restrictions"] = spot_api["restrictions"] | {"enableWithdrawals": False, "enableFutures": False,
                                                           "ipRestrict": False}
    rc, text = await run_doctor(e)
    assert rc == 1 and "futures trading is not enabled" in line(text, "Binance key permissions")

    rc, text = await run_doctor(e | {"BINANCE_API_SECRET": "wrong-secret-value"})
    assert "-1022" in line(text, "Binance key permissions")

    rc, text = await run_doctor(e | {"BINANCE_SPOT_API_URL": env["BINANCE_FUTURES_API_URL"]})
    assert line(text, "Binance key permissions").startswith(SKIP)  # the USDT-M fake has no /sapi: 404


def test_settings_object_is_what_the_cli_would_build(env):
    s = load_settings(env)
    assert s.telegram_bot_token and s.discord_webhook_url  # the doctor sees what `kimpbot run` sees


async def test_discord_bot_token_and_channel_checked(discord_fake):
    import aiohttp

    base = {"DISCORD_API_URL": discord_fake.api_url, "DISCORD_BOT_TOKEN": discord_fake.bot_token,
            "DISCORD_ALLOWED_USERS": "7"}
    async with aiohttp.ClientSession() as session:
        ok = await doctor.check_discord_bot(session, load_settings(base | {"DISCORD_CHANNEL_ID": discord_fake.channel_id}))
        assert ok.status == PASS and "posts to #kimpbot-alerts" in ok.detail
        bad = await doctor.check_discord_bot(session, load_settings(base | {"DISCORD_CHANNEL_ID": "999"}))
        assert bad.status == FAIL and "DISCORD_CHANNEL_ID 999: unknown channel" in bad.detail
        none = await doctor.check_discord_bot(session, load_settings(base))
        assert none.status == PASS and "no DISCORD_CHANNEL_ID" in none.detail
        wrong = await doctor.check_discord_bot(session, load_settings(base | {"DISCORD_BOT_TOKEN": "nope-nope-nope"}))
        assert wrong.status == FAIL and "401" in wrong.detail and "nope-nope-nope" not in wrong.detail
