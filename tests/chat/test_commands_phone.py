"""Issue 11 (command core): every reply in Korean and English through the real core over a running
bot on the exchange sims, monospace blocks within 36 cells, paper/live always said, /help from the
command list, Refresh edits in place, the two-step /forceexit and /reload (a press twice, a
stranger's press, another user's press), /logs redacted, /version.

``KIMPBOT_PHONE_DOCS=1 pytest tests/chat/test_commands_phone.py`` also writes docs/phone/commands.md
from what the Korean replies look like here."""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
from pathlib import Path

import pytest

from kimpbot import i18n
from kimpbot.config import load_settings
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.control.command_list import COMMANDS
from kimpbot.control.commands import CommandCore, Reply
from kimpbot.engine import Bot
from kimpbot.i18n import too_wide
from kimpbot.store import Store
from testkit import SHORT_WINDOW, wait_until

OWNER, FRIEND, STRANGER = 42, 43, 666
HANGUL = re.compile(r"[\uac00-\ud7a3]")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "phone" / "commands.md"


class Core:
    """The command core as a front uses it: posts are reported with their buttons, presses name the
    message they came from."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.core = CommandCore(bot, allowed={"telegram": frozenset({OWNER, FRIEND}), "console": None})
        self._mid = 0

    async def cmd(self, text: str, lang: str = "en", user: int = OWNER) -> tuple[Reply, int]:
        with i18n.using(lang):
            r = await self.core.handle("telegram", user, text, chat=OWNER)
        self._mid += 1
        self.core.offered("telegram", OWNER, self._mid, r.buttons)
        return r, self._mid

    async def press(self, mid: int, data: str, lang: str = "en", user: int = OWNER) -> Reply:
        with i18n.using(lang):
            r = await self.core.press("telegram", user, data, chat=OWNER, message=mid)
        if r.edit is not None and r.buttons:  # the front edits the message and reports its new buttons
            self.core.offered("telegram", OWNER, mid, r.buttons)
        return r


def _button(r: Reply, prefix: str) -> str:
    (data,) = [b.data for row in r.buttons for b in row if b.data.startswith(prefix)]
    return data


async def _bot(sim, tmp_path: Path, strategy: str = SHORT_WINDOW, mode: str = "auto") -> Bot:
    sf = tmp_path / "strategy.toml"
    sf.write_text(strategy)
    env = sim.env() | {"KIMPBOT_DATA_DIR": str(tmp_path / "data"), "KIMPBOT_TRADE_MODE": mode,
                       "KIMPBOT_STRATEGY_FILE": str(sf)}
    bot = Bot(load_settings(env), load_owner_config(sf))
    await bot.start()
    return bot


async def _open_position(sim, bot: Bot) -> None:
    assert await wait_until(lambda: bot.trader is not None and bot.market.signals_allowed("BTC"), timeout=20)
    sim.market.set_premium("BTC", sim.market.premium("BTC") - 3.0)  # z << -2: a long-premium entry (auto)
    assert await wait_until(lambda: len(bot.trader.positions()) == 1, timeout=15)


@pytest.fixture
async def with_position(sim, tmp_path):
    bot = await _bot(sim, tmp_path)
    try:
        await _open_position(sim, bot)
        await CommandCore(bot).cmd_stop("test", [])  # no second entry while the premium stays extreme
        yield bot
    finally:
        await bot.stop()


VIEWS = ("/status", "/positions", "/pnl", "/balance", "/trades", "/pending", "/params", "/params zscore",
         "/help", "/version", "/forceexit", "/logs 5", "/reload")


async def test_every_view_in_both_languages_fits_a_phone(with_position, tmp_path):
    bot = with_position
    core = Core(bot)
    shown: dict[tuple[str, str], str] = {}
    for cmd in VIEWS:
        for lang in ("ko", "en"):
            r, _ = await core.cmd(cmd, lang)
            text = r.text
            assert text, (cmd, lang)
            shown[(cmd, lang)] = text
            if cmd != "/logs 5":  # log lines are the log's, not a phone layout
                assert too_wide(text) == [], (cmd, lang, too_wide(text))
            if lang == "ko" and cmd not in ("/logs 5",):
                assert HANGUL.search(text), (cmd, text)
            if lang == "en" and cmd not in ("/logs 5",):
                assert not HANGUL.search(text), (cmd, text)
            for b in (b for row in r.buttons for b in row):
                assert len(b.data.encode()) <= 64 and b.text
    ko, en = (lambda c: shown[(c, "ko")]), (lambda c: shown[(c, "en")])
    # /status: the mode first, then running; P&L; the coins in a narrow table; Refresh
    assert ko("/status").startswith("📝 모의 · 자동 모드\n⏸ 정지") and en("/status").startswith("📝 PAPER · auto\n⏸ stopped")
    assert "💰 오늘" in ko("/status") and "보유 포지션 1개" in ko("/status")
    assert re.search(r"^BTC +[-+]\d+\.\d\d", en("/status"), re.M)
    # /positions: the P&L first, units in each language
    assert "BTC 김프 롱 (" in ko("/positions") and re.search(r"손익 [-+][\d,]+원 \([-+]\d+\.\d\d%\)", ko("/positions"))
    assert re.search(r"P&L [-+][\d,]+ KRW \([-+]\d+\.\d\d%\)", en("/positions"))
    assert re.search(r"규모 [\d,]+원 · 0\.\d+ BTC", ko("/positions"))
    # /pnl and /balance say paper or live
    assert "💰 실현 손익 · 모의" in ko("/pnl") and "Realized P&L · PAPER" in en("/pnl")
    assert "잔고 · 모의" in ko("/balance") and "업비트: " in ko("/balance") and "원 가능" in ko("/balance")
    # /trades: the entry, in KST, with its size in won
    assert "📜 최근 거래 1건 · 모의" in ko("/trades") and re.search(r"\d\d-\d\d \d\d:\d\d KST BTC L enter", en("/trades"))
    # /params: sections, then one section a page with owner-set vs default
    assert "zscore: 10 keys, 9 unset" in en("/params") and "⚙️ [zscore]" in ko("/params zscore")
    assert "\nwindow_days = 1\n" in en("/params zscore") and "\nexit_z = 0.5 *\n" in en("/params zscore")
    assert "기본값 (소유자 미설정)" in ko("/params zscore")
    # /help: every command of the command list, grouped
    for spec in COMMANDS:
        assert f"/{spec.name}" in en("/help") and f"/{spec.name}" in ko("/help")
    assert "📊 보기" in ko("/help") and "🕹 Control" in en("/help")
    assert "kimpbot" in en("/version") and "Python" in en("/version")
    assert "청산할 포지션을 고르세요" in ko("/forceexit")
    assert "실행 중인 값과 같음" in ko("/reload") and "matches the\nrunning values" in en("/reload")
    if os.environ.get("KIMPBOT_PHONE_DOCS"):
        _write_docs(shown)


def _write_docs(shown: dict[tuple[str, str], str]) -> None:
    parts = ["# Commands on the phone (Korean)", "",
             "Generated by `KIMPBOT_PHONE_DOCS=1 pytest tests/chat/test_commands_phone.py`: the real command core",
             "over a paper bot on the exchange sims, one BTC position open, new entries paused (/stop).", ""]
    for cmd in ("/status", "/positions", "/pnl", "/help"):
        parts += [f"## {cmd}", "", "```", shown[(cmd, "ko")], "```", ""]
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text("\n".join(parts), encoding="utf-8")


async def test_refresh_edits_status_and_positions_in_place(with_position):
    core = Core(with_position)
    for view in ("status", "positions"):
        r, mid = await core.cmd(f"/{view}")
        assert [[b.text for b in row] for row in r.buttons] == [["🔄 Refresh"]]
        data = _button(r, "rf:")
        again = await core.press(mid, data, "ko")
        assert again.edit is not None and again.text == "" and again.toast == "새로고침됨"
        assert again.mono == r.mono and [[b.data for b in row] for row in again.buttons] == [[data]]
        assert too_wide(again.edit) == [] and HANGUL.search(again.edit)
        # pressed on a message that never carried it: refused, nothing shown
        bad = await core.press(mid + 100, data)
        assert bad.refused and bad.edit is None


async def test_forceexit_two_steps_only_the_asker_once(with_position):
    bot = with_position
    core = Core(bot)
    (pos,) = bot.trader.positions()
    # typed with a wrong id: refused, naming the open ones
    r, _ = await core.cmd("/forceexit P-nope")
    assert "No open position P-nope" in r.text and pos.id in r.text and not r.buttons
    # step 0: a button per open position
    r, mid = await core.cmd("/forceexit", "ko")
    assert "BTC 김프 롱" in r.buttons[0][0].text
    # step 1: the press turns that message into the question (edited in place)
    ask = await core.press(mid, _button(r, "fx:"), "ko")
    assert "시장가로 청산할까요?" in ask.edit and pos.id in ask.edit
    assert [b.text for b in ask.buttons[0]] == ["예, 청산", "취소"]
    yes = _button(ask, "cy:")
    # a stranger's press: refused, counted; another allowed user's: refused; nothing closes
    r_stranger = await core.press(mid, yes, user=STRANGER)
    assert r_stranger.refused and "Not authorized" in r_stranger.toast
    r_friend = await core.press(mid, yes, user=FRIEND)
    assert r_friend.refused and "only telegram:42" in r_friend.text
    assert [p.id for p in bot.trader.positions()] == [pos.id]
    # the owner confirms: closed at market, both legs, booked
    done = await core.press(mid, yes)
    assert done.data["closed"] and done.data["status"] == "filled", done.edit
    assert f"BTC long premium ({pos.id}) closed by telegram:42: filled. realized" in done.edit
    assert bot.trader.positions() == [] and bot.store.get_position(pos.id)["status"] == "closed"
    # a second press does nothing
    twice = await core.press(mid, yes)
    assert twice.toast == "Already answered" and twice.edit is None
    acts = [a["action"] for a in bot.store.audit_log(limit=100)]
    for act in ("forceexit_refused", "forceexit_requested", "forceexit_confirmed", "forceexit_done"):
        assert act in acts, acts
    exits = [t for t in bot.store.trades() if t["action"] == "exit"]
    assert len(exits) == 1 and exits[0]["by"] == "telegram:42"
    # typed with the coin, nothing open any more
    r, _ = await core.cmd("/forceexit BTC")
    assert r.text == "No open positions to close."


async def test_forceexit_cancel_and_by_symbol(with_position):
    bot = with_position
    core = Core(bot)
    r, mid = await core.cmd("/forceexit btc")
    assert r.text.startswith("⚠️ Close BTC long premium") and "This cannot be undone." in r.text
    no = await core.press(mid, _button(r, "cn:"))
    assert no.toast == "Cancelled" and "Force exit cancelled by telegram:42; nothing done." == no.edit
    assert len(bot.trader.positions()) == 1
    assert "forceexit_cancelled" in [a["action"] for a in bot.store.audit_log(limit=50)]


async def test_reload_shows_the_differences_and_applies_on_the_second_step(sim, tmp_path):
    bot = await _bot(sim, tmp_path, mode="confirm")
    try:
        core = Core(bot)
        sf = bot.settings.strategy_file
        # an invalid file is refused with its error; nothing changes
        sf.write_text(SHORT_WINDOW + "[exits]\nstop_loss_pct = 'lots'\n")
        for lang in ("ko", "en"):
            r, _ = await core.cmd("/reload", lang)
            assert not r.buttons and "stop_loss_pct" in r.text
        assert "유효하지 않아" in (await core.cmd("/reload", "ko"))[0].text
        assert bot.owner["exits.stop_loss_pct"] is None
        # a valid edit: the differences, when each applies, and a one-time Apply
        sf.write_text(SHORT_WINDOW.replace("window_days = 1", "window_days = 2\nexit_z = 0.7"))
        r, mid = await core.cmd("/reload")
        assert r.text.startswith("🔁 Strategy file: 2 change(s):")
        assert "\nzscore.exit_z\n  0.5 (default) → 0.7 · now\n" in r.text
        assert "\nzscore.window_days\n  1 → 2 · at restart\n" in r.text
        ko, _ = await core.cmd("/reload", "ko")
        assert "변경 2건" in ko.text and "0.5 (기본값) → 0.7 · 즉시" in ko.text and "적용할까요?" in ko.text
        apply = _button(r, "cy:")
        assert (await core.press(mid, apply, user=STRANGER)).refused
        friend = await core.press(mid, apply, user=FRIEND)
        assert friend.refused and bot.owner["zscore.exit_z"] == 0.5
        ok = await core.press(mid, apply)
        assert ok.toast == "Applied" and "1 now, 1 at the next start" in ok.edit
        assert bot.owner["zscore.exit_z"] == 0.7 and bot.strategy.params.exit_z == 0.7
        assert bot.owner.strategy.window_days == 1.0 and core.core.pending_restart["zscore.window_days"] == 2
        assert (await core.press(mid, apply)).toast == "Already answered"
        p, _ = await core.cmd("/params zscore")
        assert "\nexit_z = 0.7\n" in p.text and "(file: zscore.window_days = 2" in p.text
        # the Korean question, left unanswered: the file edited again before Apply is refused
        sf.write_text(SHORT_WINDOW.replace("window_days = 1", "window_days = 2\nexit_z = 0.8"))
        r2, mid2 = await core.cmd("/reload")
        sf.write_text(SHORT_WINDOW.replace("window_days = 1", "window_days = 2\nexit_z = 0.9"))
        late = await core.press(mid2, _button(r2, "cy:"))
        assert "changed again" in late.edit and bot.owner["zscore.exit_z"] == 0.7
        acts = [a["action"] for a in bot.store.audit_log(limit=100)]
        for act in ("reload_refused", "reload_requested", "reload_applied", "reload_failed"):
            assert act in acts, acts
    finally:
        await bot.stop()


async def test_logs_are_redacted_from_memory_and_from_the_file(sim, tmp_path):
    bot = await _bot(sim, tmp_path, mode="confirm")
    root = logging.getLogger()
    fh = None
    try:
        core = Core(bot)
        secret = bot.settings.binance_api_secret
        assert secret
        lg = logging.getLogger("kimpbot.test")
        lg.warning("planted: key %s and https://hooks.example/x?token=abcd1234efgh&x=1 and https://u:pw1234@h.example/",
                   secret)
        r, _ = await core.cmd("/logs 3")
        assert "planted:" in r.text and r.private
        assert secret not in r.text and "abcd1234efgh" not in r.text and "pw1234" not in r.text
        assert "key *** and https://hooks.example/x?token=***&x=1 and https://***@h.example/" in r.text
        # a log file (KIMPBOT_LOG_FILE) is read from its end, and redacted again on the way out
        fh = logging.handlers.RotatingFileHandler(tmp_path / "kimpbot.log", encoding="utf-8")
        fh._kimpbot = True  # type: ignore[attr-defined]
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(fh)
        for i in range(30):
            lg.warning("line %d secret %s", i, secret)
        fh.flush()
        assert secret in (tmp_path / "kimpbot.log").read_text()   # planted raw in the file
        for lang in ("ko", "en"):
            r, _ = await core.cmd("/logs 5", lang)
            lines = r.text.splitlines()
            assert len(lines) == 6 and secret not in r.text
            assert any(ln.endswith("line 29 secret ***") for ln in lines), lines
        assert "파일" in (await core.cmd("/logs", "ko"))[0].text
        r, _ = await core.cmd("/logs many")
        assert "/logs takes a number of lines, 1 to 200" in r.text
        r, _ = await core.cmd("/logs 99999")
        assert 30 <= len(r.data["lines"]) <= 200  # capped at LOGS_MAX
    finally:
        if fh is not None:
            root.removeHandler(fh)
            fh.close()
        await bot.stop()


async def test_pnl_shows_the_other_ledger_after_a_switch(sim, tmp_path):
    # the live ledger already has a closed trade (a /live run before); this run is paper
    live = Store(tmp_path / "data", "live")
    live.upsert_position({"id": "P-live-1", "symbol": "BTC", "status": "closed", "direction": "long_premium",
                          "realized_krw": 12345.0, "closed_ms": 1})
    live.close()
    bot = await _bot(sim, tmp_path, mode="confirm")
    try:
        core = Core(bot)
        r, _ = await core.cmd("/pnl")
        assert "Realized P&L · PAPER" in r.text and "🔴 LIVE ledger (kept apart)\n  total +12,345 KRW (1 closed)" in r.text
        r, _ = await core.cmd("/pnl", "ko")
        assert "실현 손익 · 모의" in r.text and "🔴 실전 기록 (따로 보관)\n  누적 +12,345원 (1건 청산)" in r.text
        assert too_wide(r.text) == []
    finally:
        await bot.stop()
