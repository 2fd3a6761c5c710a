"""Browser tests: Debian's chromium driven by Playwright for Python, against the whole bot (the
simulated exchanges, the fake Telegram with the real python-telegram-bot front, the real HTTP
server). Chromium comes from apt, never from ``playwright install``: when it is missing and we
run as root (CI on a fresh machine) the session installs it; where it truly cannot be installed the
tests skip with a loud reason."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pytest

from kimpbot.config import load_settings
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.control.commands import CommandCore
from kimpbot.control.http import HttpApi
from kimpbot.control.telegram import TelegramFront
from kimpbot.engine import Bot
from fakes.telegram import FakeTelegram
from testkit import SHORT_WINDOW

OWNER = 42
TG_TOKEN = "7654321:AAH-secret-bot-token_xyz"
HTTP_TOKEN = "monitor-token-0123456789abcdef"
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
_skip_reason: str | None = None


def _find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        p = shutil.which(name)
        if p:
            return p
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


def _install_chromium() -> str:
    """apt-get install chromium (Debian's package); returns what went wrong, or ""."""
    if os.environ.get("KIMPBOT_NO_APT"):
        return "KIMPBOT_NO_APT is set"
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "not root: run `sudo apt-get install -y chromium` once"
    if not shutil.which("apt-get"):
        return "no apt-get on this machine (install Chromium and put it on PATH)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    sys.stderr.write("\n[tests/web] chromium missing: apt-get install -y chromium (once; a few minutes)\n")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]):
        try:
            r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{' '.join(cmd)} failed: {exc}"
        if r.returncode != 0:
            return f"{' '.join(cmd)} exited {r.returncode}: {(r.stderr or r.stdout)[-300:]}"
    return ""


@pytest.fixture(scope="session")
def chromium_path() -> str:
    global _skip_reason
    if _skip_reason:
        pytest.skip(_skip_reason)
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        _skip_reason = "BROWSER TESTS SKIPPED: playwright is not installed (pip install -e '.[dev]')"
    else:
        import fcntl

        # one install at a time: parallel test workers (pytest-xdist) each reach this fixture
        with open(os.path.join(tempfile.gettempdir(), "kimpbot-chromium-install.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            path = _find_chromium()
            why = ""
            if path is None:
                why = _install_chromium()
                path = _find_chromium()
            if path is None:
                _skip_reason = f"BROWSER TESTS SKIPPED: Chromium cannot be installed here ({why or 'not found'})"
    if _skip_reason:
        warnings.warn(_skip_reason)
        sys.stderr.write(f"\n{'!' * 70}\n{_skip_reason}\n{'!' * 70}\n")
        pytest.skip(_skip_reason)
    return path  # type: ignore[return-value]


@pytest.fixture
async def browser(chromium_path):
    from playwright.async_api import async_playwright

    pw = await async_playwright().start()
    b = await pw.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
    try:
        yield b
    finally:
        await b.close()
        await pw.stop()


async def phone(browser):
    """A 390x844 phone-sized page (iPhone 12-14 class), its own cookie jar."""
    ctx = await browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                    is_mobile=True, has_touch=True, locale="ko-KR")
    return ctx, await ctx.new_page()


class WebRig:
    def __init__(self, sim, tg, bot, core, front, api):
        self.sim, self.tg, self.bot, self.core, self.front, self.api = sim, tg, bot, core, front, api

    async def login_link(self, user: int = OWNER) -> str:
        since = len(self.tg.sent)
        self.tg.send_command(user, user, "/dashboard")
        rec = await self.tg.wait_for(lambda r: r["method"] == "sendMessage" and "/login?token=" in (r.get("text") or ""),
                                     since=since, timeout=10)
        m = re.search(r"(http://\S+/login\?token=\S+)", rec["text"])
        assert m, rec["text"]
        return m.group(1)

    async def command(self, text: str, user: int = OWNER) -> dict:
        since = len(self.tg.sent)
        self.tg.send_command(user, user, text)
        return await self.tg.wait_for(lambda r: r.get("chat_id") == user and r["method"] == "sendMessage"
                                      and bool(r.get("reply_to_message_id")), since=since, timeout=10)


async def make_web_rig(sim, tmp_path: Path, lang: str = "ko", warmup: bool = True) -> WebRig:
    sf = tmp_path / "strategy.toml"
    sf.write_text(SHORT_WINDOW)
    tg = FakeTelegram(TG_TOKEN)
    await tg.start()
    env = sim.env() | {"KIMPBOT_STRATEGY_FILE": str(sf), "KIMPBOT_DATA_DIR": str(tmp_path / "data"),
                       "KIMPBOT_TRADE_MODE": "confirm", "TELEGRAM_BOT_TOKEN": tg.token,
                       "TELEGRAM_API_URL": tg.base_url, "TELEGRAM_CHAT_ID": str(OWNER),
                       "TELEGRAM_ALLOWED_USERS": str(OWNER), "KIMPBOT_LANG": lang, "KIMPBOT_HTTP_TOKEN": HTTP_TOKEN}
    settings = load_settings(env)
    bot = Bot(settings, load_owner_config(sf), warmup=warmup)
    core = CommandCore(bot)
    front = TelegramFront(bot, core, poll_timeout=2, backoff_s=0.05)
    front.attach()
    await front.start()
    await bot.start()
    api = HttpApi(bot, "127.0.0.1", 0, core=core)
    await api.start()
    return WebRig(sim, tg, bot, core, front, api)


async def close_web_rig(r: WebRig) -> None:
    for f in getattr(r.bot, "feeds", []):
        f.idle_timeout_s = 0.05  # see tests/ops/conftest.stop_bot
    await r.api.stop()
    await r.front.stop()
    await r.bot.stop()
    await r.tg.stop()


@pytest.fixture
async def web(sim, tmp_path):
    r = await make_web_rig(sim, tmp_path)
    try:
        yield r
    finally:
        await close_web_rig(r)
