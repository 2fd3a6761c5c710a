"""Dashboard access rules over plain HTTP (aiohttp client; no browser needed): links, sessions,
expiry, the login rate limit, English texts, the command core's /dashboard in each front."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest

from kimpbot.config import load_settings
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.control.commands import CommandCore
from kimpbot.control.http import HttpApi
from kimpbot.engine import Bot
from kimpbot.web.auth import Auth
from kimpbot.web.i18n import texts

from testkit import SHORT_WINDOW, wait_until

OWNER = 42


@pytest.fixture
async def served(sim, tmp_path):
    sf = tmp_path / "strategy.toml"
    sf.write_text(SHORT_WINDOW)
    settings = load_settings(sim.env() | {"KIMPBOT_STRATEGY_FILE": str(sf), "KIMPBOT_DATA_DIR": str(tmp_path / "d"),
                                          "TELEGRAM_ALLOWED_USERS": str(OWNER), "DISCORD_ALLOWED_USERS": "7",
                                          "KIMPBOT_LANG": "en"})
    bot = Bot(settings, load_owner_config(sf), warmup=False)
    await bot.start()
    core = CommandCore(bot)
    api = HttpApi(bot, "127.0.0.1", 0, core=core)
    await api.start()
    try:
        yield bot, core, api
    finally:
        await api.stop()
        for f in bot.feeds:
            f.idle_timeout_s = 0.05
        await bot.stop()


def client() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


def test_links_are_single_use_and_expire_and_sessions_end():
    a = Auth(link_ttl_s=600, session_ttl_s=600)
    tok = a.issue_link("telegram", OWNER)
    assert a.check_link(tok)[0] == "ok" and a.check_link("nope")[0] == "bad"
    st, s, key = a.use_link(tok)
    assert st == "ok" and s is not None and s.who == "telegram:42" and a.session(key) is s
    assert a.use_link(tok)[0] == "used" and a.check_link(tok)[0] == "used"
    assert a.csrf_ok(s, s.csrf) and not a.csrf_ok(s, "x") and not a.csrf_ok(s, None)
    assert tok not in repr(a.__dict__) and key not in repr(a.__dict__)  # only digests are kept
    a.session_ttl_s = 0.0
    st, s2, key2 = a.use_link(a.issue_link("telegram", OWNER))
    assert st == "ok" and a.session(key2) is None  # expired at once
    assert a.end(key) and a.session(key) is None
    a.link_ttl_s = 0.0
    assert a.check_link(a.issue_link("telegram", OWNER))[0] == "expired"


async def test_dashboard_command_in_each_front(served):
    bot, core, api = served
    r = await core.handle("telegram", OWNER, "/dashboard", chat=OWNER)
    assert re.search(r"http://127\.0\.0\.1:\d+/login\?token=[\w-]{40,}", r.text) and r.private
    r = await core.handle("telegram", OWNER, "/dashboard", chat=-100555)
    assert "private chat" in r.text and "token" not in r.text
    r = await core.handle("discord", 7, "/dashboard", chat=123)
    assert "/login?token=" in r.text and r.private  # Discord answers ephemeral: only the owner sees it
    r = await core.handle("telegram", 666, "/dashboard", chat=666)
    assert r.refused and "token" not in r.text
    r = await core.handle("console", None, "/dashboard")  # `kimpbot demo`: the local operator
    assert "/login?token=" in r.text
    acts = [a["action"] for a in bot.store.audit_log(limit=20)]
    assert acts.count("web_link_issued") == 3 and "web_link_refused" in acts and "unauthorized" in acts
    core.web_auth = None
    r = await core.handle("telegram", OWNER, "/dashboard", chat=OWNER)
    assert "off" in r.text


async def test_english_pages_login_and_session_rules(served):
    bot, core, api = served
    en = texts("en")
    async with client() as c:
        async with c.get(api.url + "/") as r:
            html = await r.text()
            assert r.status == 200 and en["login_needed_h"] in html and "BTC" not in html
            assert r.headers["Cache-Control"] == "no-store" and "frame-ancestors 'none'" in r.headers[
                "Content-Security-Policy"] and r.headers["Referrer-Policy"] == "no-referrer"
        url = (await core.handle("telegram", OWNER, "/dashboard", chat=OWNER)).data["url"]
        async with c.get(url) as r:
            assert r.status == 200 and en["login_btn"] in await r.text()
        assert not c.cookie_jar.filter_cookies(api.url)  # a GET (a chat app's link preview) logs nobody in
        token = url.split("token=")[1]
        async with c.post(api.url + "/login", data={"token": token}, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/"
            sc = r.headers["Set-Cookie"]
            assert "HttpOnly" in sc and "SameSite=Strict" in sc and "Secure" not in sc
        async with c.get(api.url + "/api/state") as r:
            doc = await r.json()
            assert r.status == 200 and doc["lang"] == "en" and doc["tiers"] == [2.0, 3.0, 4.0]
            assert [x["sym"] for x in doc["coins"]] == ["BTC", "ETH", "XRP"] and doc["bot"]["mode"] == "paper"
        async with c.get(api.url + "/") as r:
            m = re.search(r'<meta name="csrf" content="([^"]+)"', await r.text())
            assert m
        csrf = m.group(1)
        # a cross-site page cannot post, even with the token (Origin checked)
        async with c.post(api.url + "/api/halt", headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"}) as r:
            assert r.status == 403 and not bot.trader.risk.halted
        async with c.post(api.url + "/api/halt", headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 200 and bot.trader.risk.halted and "HALTED" in (await r.json())["text"]
        # the owner removes the id from the allowed users: the session is over
        core.allowed["telegram"] = frozenset()
        async with c.get(api.url + "/api/state") as r:
            assert r.status == 401


async def test_login_attempts_are_rate_limited(served):
    bot, core, api = served
    async with client() as c:
        codes = []
        for i in range(14):
            async with c.get(api.url + f"/login?token=guess{i}") as r:
                codes.append(r.status)
        assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}
        # a good link is refused as well until the minute passes (the limit is per process)
        url = (await core.handle("telegram", OWNER, "/dashboard", chat=OWNER)).data["url"]
        async with c.post(api.url + "/login", data={"token": url.split("token=")[1]}) as r:
            assert r.status == 429
        api.dashboard.auth.login_limit.window_s = 0.0
        async with c.post(api.url + "/login", data={"token": url.split("token=")[1]}) as r:
            assert r.status == 200 and r.url.path == "/" and 'name="csrf"' in await r.text()  # the dashboard
        assert await wait_until(lambda: api.dashboard.auth.sessions == 1)


def test_tls_examples_in_deploy():
    deploy = Path(__file__).resolve().parents[2] / "deploy"
    caddy = (deploy / "Caddyfile").read_text()
    assert "reverse_proxy 127.0.0.1:8787" in caddy and "KIMPBOT_PUBLIC_URL=https://" in caddy
    nginx = (deploy / "nginx-kimpbot.conf").read_text()
    assert "proxy_set_header Host $host" in nginx and "Upgrade" in nginx


def test_catalogue_has_every_key_in_both_languages_and_the_page_uses_only_known_keys():
    ko, en = texts("ko"), texts("en")
    assert set(ko) == set(en)
    assert all(ko[k] != en[k] for k in ko if k not in ("title", "z"))  # translated, not copied
    static = Path(__file__).resolve().parents[2] / "kimpbot" / "web" / "static" / "app.js"
    used = set(re.findall(r"\bT\.(\w+)", static.read_text())) | set(re.findall(r'tr\("(\w+)"', static.read_text()))
    assert used and used <= set(en), used - set(en)


async def test_discord_slash_dashboard_answers_only_the_caller(served):
    """The Discord front registers /dashboard and answers it ephemeral (only the caller sees the
    link); the handler is called the way discord.py calls it (as tests/chat/test_discord_bot.py)."""
    from types import SimpleNamespace

    from kimpbot.control.discord_bot import DiscordFront

    bot, core, api = served
    front = DiscordFront(bot, core, token="unused")
    assert "dashboard" in {c.name for c in front.build().tree.get_commands()}
    sent: list = []

    async def send_message(content=None, **kw):
        sent.append((content, kw))

    inter = SimpleNamespace(user=SimpleNamespace(id=7), channel_id=1,
                            response=SimpleNamespace(is_done=lambda: False, send_message=send_message))
    await front.on_slash(inter, "dashboard")
    content, kw = sent[-1]
    assert "/login?token=" in content and kw.get("ephemeral") is True
    token = content.rsplit("token=", 1)[1].split()[0]
    assert api.dashboard.auth.check_link(token)[0] == "ok"
    assert api.dashboard.auth.check_link(token)[1].front == "discord"
