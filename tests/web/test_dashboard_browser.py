"""The dashboard in a real browser (Debian's headless chromium via Playwright) against the whole bot:
simulated exchanges, the fake Telegram with the real python-telegram-bot front, kimpbot's own
aiohttp server. Nothing of kimpbot or of the libraries is mocked."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp

from testkit import wait_until

from .conftest import ARTIFACTS, HTTP_TOKEN, OWNER, phone


async def dom_premium(page, sym: str) -> float | None:
    text = await page.text_content(f'.coin[data-coin="{sym}"] .quoted')
    try:
        return float((text or "").replace("%", "").replace("+", ""))
    except ValueError:
        return None


async def login(web, page) -> None:
    url = await web.login_link()
    resp = await page.goto(url)
    assert resp.status == 200
    await page.click("#login")
    await page.wait_for_selector('.coin[data-coin="BTC"]', timeout=15000)


@contextlib.asynccontextmanager
async def logged_in(web, browser):
    """A phone-sized browser context, logged in through a /dashboard link; closed afterwards."""
    ctx, page = await phone(browser)
    try:
        await login(web, page)
        yield ctx, page
    finally:
        await ctx.close()


async def test_login_from_telegram_live_premium_and_halt(web, browser):
    sim, bot = web.sim, web.bot
    async with logged_in(web, browser) as (ctx, page):
        assert page.url.rstrip("/") == web.api.url
        cookies = {c["name"]: c for c in await ctx.cookies()}
        c = cookies["kimpbot_session"]
        assert c["httpOnly"] and c["sameSite"] == "Strict" and not c["secure"]  # http base: Secure only on https

        # the premium the sim sets is what the page shows (the bot's own quoted premium, 2 decimals)
        sim.market.set_premium("BTC", 2.5)

        async def shows(target: float) -> bool:
            v = await dom_premium(page, "BTC")
            snap = bot.market.views["BTC"].snapshot
            return v is not None and abs(v - target) < 0.06 and snap is not None and abs(v - snap.quoted) < 0.011

        assert await wait_until(lambda: shows(2.5), timeout=10)
        await page.evaluate("window.__noReload = 1")
        # it changes live when the sim moves it: no reload
        sim.market.set_premium("BTC", -0.8)
        assert await wait_until(lambda: shows(-0.8), timeout=10)
        assert await page.evaluate("window.__noReload") == 1
        assert await page.text_content('.coin[data-coin="BTC"] .badge') in ("정상", "z 준비 중", "지연", "환율 의심")
        # Korean by default, the owner's tiers drive the colours; data state and chart are there
        assert await page.evaluate("document.documentElement.lang") == "ko"
        assert await page.is_visible("canvas#chart")
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "dashboard-phone.png"
        await page.screenshot(path=str(shot), full_page=False)
        assert shot.stat().st_size > 10_000

        # Halt from the page: through the command core, so the chat and /status say halted
        since = len(web.tg.sent)
        page.once("dialog", lambda d: asyncio.ensure_future(d.accept()))
        await page.click("#halt")
        await page.wait_for_selector('#state[data-run="halted"]', timeout=10000)
        assert bot.trader.risk.halted
        # the halt notice itself (the rig runs in Korean: "🛑 중단: from the dashboard. …")
        rec = await web.tg.wait_for(lambda r: r["method"] == "sendMessage" and r.get("chat_id") == OWNER
                                    and (r.get("text") or "").startswith("🛑"), since=since, timeout=10)
        assert "dashboard" in rec["text"] and "중단" in rec["text"], rec["text"]
        status = await web.command("/status")
        assert "🛑 긴급정지" in status["text"] and f"telegram:{OWNER}" in status["text"]  # the rig runs in Korean
        audit = [a for a in bot.store.audit_log(limit=50) if a["action"] == "halt_command"]
        assert audit and audit[-1]["by"] == f"telegram:{OWNER}"
        # Resume from the page too
        await page.click("#resume")
        await page.wait_for_selector('#state[data-run="running"]', timeout=10000)
        assert not bot.trader.risk.halted


async def test_execute_a_pending_signal_from_the_page(web, browser):
    sim, bot = web.sim, web.bot
    async with logged_in(web, browser) as (ctx, page):
        assert await wait_until(lambda: bot.market.signals_allowed("BTC"), timeout=15)
        base = sim.market.premium("BTC")
        since = len(web.tg.sent)
        sim.market.set_premium("BTC", base - 3.0)
        await web.tg.wait_for(lambda r: r["method"] == "sendMessage" and (r.get("text") or "").startswith("🔔"),
                              since=since, timeout=10)
        await page.wait_for_selector("#pending .sig button[data-act=execute]", timeout=10000)
        await page.click("#pending .sig button[data-act=execute]")
        assert await wait_until(lambda: [t for t in bot.store.trades() if t["action"] == "enter"], timeout=10)
        await page.wait_for_selector("#positions table", timeout=10000)
        confirms = [a for a in bot.store.audit_log(limit=50) if a["action"] == "confirm"]
        assert confirms and confirms[-1]["by"] == f"telegram:{OWNER}"
        # the chat copy of the signal loses its buttons ("answered elsewhere")
        await web.tg.wait_for(lambda r: r["method"] == "editMessageText" and "telegram:42" in (r.get("text") or ""),
                              since=since, timeout=10)


async def test_refused_without_session_with_used_or_expired_link(web, browser):
    api = web.api
    ctx, page = await phone(browser)
    ctx2, page2 = await phone(browser)
    try:
        # no session: "/" says how to log in and shows no data
        resp = await page.goto(api.url + "/")
        assert resp.status == 200
        body = await page.text_content("body")
        assert "/dashboard" in body and not await page.query_selector(".coin")
        assert "%" not in body and "KRW" not in body
        for path in ("/api/state", "/status", "/positions", "/trades"):
            r = await page.request.get(api.url + path)
            assert r.status == 401, path
        r = await page.request.post(api.url + "/api/halt", headers={"X-CSRF-Token": "x"})
        assert r.status == 401 and not web.bot.trader.risk.halted
        async with aiohttp.ClientSession() as s:
            async with s.get(api.url.replace("http", "ws") + "/ws", headers={"Upgrade": "websocket",
                             "Connection": "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                             "Sec-WebSocket-Version": "13"}) as rr:
                assert rr.status == 401
            async with s.get(api.url + "/status", headers={"Authorization": f"Bearer {HTTP_TOKEN}"}) as rr:
                assert rr.status == 200  # monitors with the bearer token
        # public /health
        assert (await page.request.get(api.url + "/health")).status in (200, 503)

        # a link works once: the second browser gets "already used" and no session
        url = await web.login_link()
        await page.goto(url)
        await page.click("#login")
        await page.wait_for_selector('.coin[data-coin="BTC"]', timeout=15000)
        resp = await page2.goto(url)
        assert resp.status == 401 and "이미 사용된" in await page2.text_content("body")
        await page2.goto(api.url + "/")
        assert not await page2.query_selector(".coin")
        assert (await page2.request.get(api.url + "/api/state")).status == 401

        # an expired link is refused
        api.dashboard.auth.link_ttl_s = 0.3
        url = await web.login_link()
        token = url.split("token=", 1)[1]
        assert await wait_until(lambda: api.dashboard.auth.check_link(token)[0] == "expired", timeout=5)
        resp = await page2.goto(url)
        assert resp.status == 401 and "만료" in await page2.text_content("body")
        r = await page2.request.post(api.url + "/login", form={"token": token})
        assert r.status == 401 and not [c for c in await ctx2.cookies() if c["name"] == "kimpbot_session"]

        # a state change without the CSRF token is refused even with the session
        r = await page.request.post(api.url + "/api/halt")
        assert r.status == 403 and not web.bot.trader.risk.halted

        # a group chat never gets a link
        since = len(web.tg.sent)
        web.tg.send_command(-100123, OWNER, "/dashboard", chat_type="supergroup")
        rec = await web.tg.wait_for(lambda r: r["method"] == "sendMessage" and r.get("chat_id") == -100123,
                                    since=since, timeout=10)
        assert "1:1 채팅" in rec["text"] and "token=" not in rec["text"]

        # logout ends the session and its stream
        await page.click("#logout")
        assert (await page.request.get(api.url + "/api/state")).status == 401
        assert await wait_until(lambda: not api.dashboard.clients, timeout=10)
    finally:
        await ctx.close()
        await ctx2.close()


async def test_page_weight_manifest_and_service_worker(web, browser):
    ctx, page = await phone(browser)
    try:
        sizes: dict[str, int] = {}

        async def on_response(resp):
            try:
                sizes[resp.url] = len(await resp.body())
            except Exception:
                pass

        page.on("response", on_response)
        await login(web, page)
        await page.wait_for_load_state("networkidle")
        assert not [u for u in sizes if not u.startswith(web.api.url)]  # no CDN, nothing from elsewhere
        total = sum(sizes.values())
        assert total < 150_000, sizes
        man = await (await page.request.get(web.api.url + "/manifest.webmanifest")).json()
        assert man["display"] == "standalone" and {i["sizes"] for i in man["icons"]} >= {"192x192", "512x512"}
        assert await wait_until(lambda: page.evaluate("navigator.serviceWorker.controller !== null || "
                                                      "!!navigator.serviceWorker.ready"), timeout=10)
        sw = await (await page.request.get(web.api.url + "/sw.js")).text()
        assert "/static/" in sw and "/api" in sw  # caches only static files, never data
        # dark theme toggle
        await page.click("#theme")
        theme = await page.evaluate("document.documentElement.dataset.theme")
        assert theme in ("dark", "light")
        # desktop size
        await page.set_viewport_size({"width": 1280, "height": 900})
        assert await page.is_visible('.coin[data-coin="ETH"]')
    finally:
        await ctx.close()


async def test_page_says_when_data_is_old_and_reconnects_by_itself(web, browser):
    api, sim = web.api, web.sim
    async with logged_in(web, browser) as (ctx, page):
        await page.wait_for_selector("#conn.ok", timeout=10000)
        await page.evaluate("window.__noReload = 1")
        port = api.port
        await api.stop()  # the server goes away (a restart, a proxy hiccup)
        await page.wait_for_selector("#conn.old", timeout=10000)
        notice = await page.wait_for_selector("#notice:not([hidden])", timeout=10000)
        assert "연결" in (await notice.text_content() or "")  # "connection lost: reconnecting…"
        assert await page.evaluate("document.body.classList.contains('old')")  # values greyed out
        api._requested_port = port
        await api.start()  # back on the same address: the page reconnects with back-off, no reload
        await page.wait_for_selector("#conn.ok", timeout=20000)
        sim.market.set_premium("ETH", 1.77)
        await page.wait_for_function(
            "() => Math.abs(parseFloat(document.querySelector('.coin[data-coin=\"ETH\"] .quoted').textContent)"
            " - 1.77) < 0.06", timeout=10000)
        assert await page.evaluate("window.__noReload") == 1
        assert await page.is_hidden("#notice")
