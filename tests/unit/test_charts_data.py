"""``/chart`` data: the owner's tiers as mean ± k·σ of the z window, marks at the trades' fill times,
argument errors, and the caption in both languages within 36 cells a line.

A real Bot (not started: no network), its real strategy and store; bars fed as the market engine
feeds them (``strategy.on_bar``)."""

from __future__ import annotations

import math
import random
import re
import statistics
from decimal import Decimal
from pathlib import Path

import pytest

from kimpbot import i18n
from kimpbot.clock import ManualClock
from kimpbot.config import load_settings
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.control import charts
from kimpbot.control.charts import ChartData, Tier, caption, chart_data, labels, parse_args, request
from kimpbot.engine import Bot
from kimpbot.i18n import charts as m
from kimpbot.i18n import too_wide
from kimpbot.models import PremiumBar, PremiumSnapshot

BAR_MS = 300_000
T_END = 1_764_806_400_000 - 7 * BAR_MS  # a grid-aligned moment; the clock stands a little after it
HANGUL = re.compile(r"[\uac00-\ud7a3]")

ONE_DAY = """
[zscore]
window_days = 1
"""


def make_bot(tmp_path: Path, strategy: str = ONE_DAY, mode: str = "paper") -> Bot:
    sf = tmp_path / "strategy.toml"
    sf.write_text(strategy)
    keys = {k: "test-key-0123456789" for k in ("UPBIT_ACCESS_KEY", "UPBIT_SECRET_KEY", "BINANCE_API_KEY",
                                                "BINANCE_API_SECRET")} if mode == "live" else {}
    settings = load_settings({"KIMPBOT_DATA_DIR": str(tmp_path / "data"), "KIMPBOT_MODE": mode, **keys})
    bot = Bot(settings, load_owner_config(sf), clock=ManualClock(T_END + 90_000))
    bot.open_store()
    return bot


def feed(bot: Bot, coin: str, closes: list[float]) -> list[int]:
    """Closed 5-minute bars ending at T_END; returns their open times."""
    n = len(closes)
    opens = [T_END - (n - i) * BAR_MS for i in range(n)]
    for t, c in zip(opens, closes):
        bot.strategy.on_bar(PremiumBar(coin, t, 5, c, c, c, c, 10))
    return opens


def live(bot: Bot, coin: str, mid: float) -> None:
    bot.market.views[coin].snapshot = PremiumSnapshot(coin, bot.clock.now_ms(), "usdkrw", 1400.0, mid, mid, mid, mid,
                                                      1e6, None, None, None, None, 0.0005, 0.0005)


def series(n: int, seed: int = 7) -> list[float]:
    rnd = random.Random(seed)
    return [2.0 + 0.5 * math.sin(i / 25) + rnd.gauss(0, 0.08) for i in range(n)]


@pytest.fixture
def bot(tmp_path):
    b = make_bot(tmp_path)
    yield b
    b.store.close()


def test_bands_are_mean_plus_k_std_of_the_z_window(bot):
    closes = series(340)               # more than the 288-bar window: the oldest 52 have left it
    feed(bot, "BTC", closes)
    live(bot, "BTC", 2.9)
    d = chart_data(bot, "BTC", "1d")
    window = closes[-288:]
    mu, sd = statistics.fmean(window), statistics.pstdev(window)   # population σ, as the strategy's z
    assert [t.k for t in d.tiers] == [2.0, 3.0, 4.0]               # optimized: normal / extreme / ultra
    got = {(b["k"], b["side"]): b["level"] for b in d.bands()}
    for k in (2.0, 3.0, 4.0):
        assert got[(k, 1)] == pytest.approx(mu + k * sd, abs=1e-9)
        assert got[(k, -1)] == pytest.approx(mu - k * sd, abs=1e-9)
    # the z in the title is the strategy's own z of the live premium
    assert d.z == pytest.approx(bot.strategy.zscore("BTC", 2.9), abs=1e-9)
    assert d.premium[-1] == 2.9 and d.ts[-1] == bot.clock.now_ms()
    # 1 day of bars shown (plus the live point), at their close times, not short
    assert len(d.premium) == 289 and not d.short
    assert d.ts[-2] == T_END


def test_the_owners_tiers_not_fixed_numbers(tmp_path):
    owner = ONE_DAY + "[optimized]\nnormal_z = 1.5\nextreme_z = 2.5\nultra_z = 3.75\n"
    b = make_bot(tmp_path, owner)
    try:
        feed(b, "ETH", series(300))
        d = chart_data(b, "ETH", "1d")
        assert [t.k for t in d.tiers] == [1.5, 2.5, 3.75]
        lab = labels(d, "en")
        assert "+3.75σ ultra" in " ".join(lab["bands"]) and "−1.5σ normal" in " ".join(lab["bands"])
        assert "±1.5 ±2.5 ±3.75" in caption(d).render("en")
    finally:
        b.store.close()
    z = tmp_path / "z"
    z.mkdir()
    b = make_bot(z, 'strategy = "zscore"\n' + ONE_DAY + "entry_threshold = 2.2\n")
    try:
        feed(b, "BTC", series(300))
        d = chart_data(b, "BTC", "1d")
        assert d.tiers == [Tier(2.2, "entry")] and len(d.bands()) == 2
        assert "±2.2" in caption(d).render("ko")
    finally:
        b.store.close()


def _trade(store, coin: str, action: str, status: str, ms: int, expected: float,
           fill: tuple[float, float, float] | None = None) -> str:
    tid = store.new_trade_id()
    store.upsert_trade({"id": tid, "symbol": coin, "action": action, "status": "sending", "direction": "long_premium",
                        "expected_premium_pct": expected, "created_ms": ms - 400,
                        "fx": fill[2] if fill else 1400.0})
    if fill:
        for leg, venue, price in (("U", "upbit", fill[0]), ("B", "binance", fill[1])):
            cid = store.client_order_id(tid, leg, 1)
            store.journal_intent(tid, leg, cid, venue, coin, "buy" if leg == "U" else "sell", Decimal("0.01"),
                                 Decimal(str(price)), action)
            store.journal_update(cid, "filled", Decimal("0.01"), Decimal(str(price)), Decimal("0"), "x" + leg)
    store.upsert_trade({"id": tid, "status": status, "closed_ms": ms})
    return tid


def test_marks_sit_at_the_trades_fill_times_and_premiums(bot):
    feed(bot, "BTC", series(300))
    live(bot, "BTC", 2.1)
    st = bot.store
    t_enter = T_END - 600 * 60_000            # 10 h ago
    t_add = T_END - 300 * 60_000
    t_exit = T_END - 60 * 60_000
    # entry with both legs in the journal: the premium it FILLED at (Upbit / (Binance x FX) - 1)
    e = _trade(st, "BTC", "enter", "filled", t_enter, 2.60, fill=(143_000_000.0, 100_000.0, 1400.0))
    a = _trade(st, "BTC", "add", "partial", t_add, 2.75)
    x = _trade(st, "BTC", "exit", "filled", t_exit, 1.95)
    _trade(st, "BTC", "enter", "rolled_back", T_END - 120 * 60_000, 3.1)   # nothing held: not marked
    _trade(st, "BTC", "enter", "failed", T_END - 110 * 60_000, 3.2)
    _trade(st, "ETH", "enter", "filled", T_END - 100 * 60_000, 2.2)        # another coin
    _trade(st, "BTC", "enter", "filled", T_END - 30 * 3_600_000, 2.4)      # before the 1-day period
    d = chart_data(bot, "BTC", "1d")
    assert [(mk["trade_id"], mk["ts"], mk["kind"]) for mk in d.marks] == [
        (e, t_enter, "entry"), (a, t_add, "entry"), (x, t_exit, "exit")]
    assert d.marks[0]["premium"] == pytest.approx((143_000_000 / (100_000 * 1400) - 1) * 100)
    assert [mk["premium"] for mk in d.marks[1:]] == [2.75, 1.95]
    # every mark is inside the drawn time axis, and the drawing gets exactly these
    req = request(d, "en")
    assert all(req["ts"][0] <= mk["ts"] <= req["ts"][-1] for mk in req["marks"])
    assert [mk["ts"] for mk in req["marks"]] == [t_enter, t_add, t_exit]
    assert req["labels"]["entry"] == "entry (PAPER)" and req["labels"]["exit"] == "exit (PAPER)"
    assert "entries 2 · exits 1 (PAPER)" in caption(d).render("en")
    assert "진입 2 · 청산 1 (모의)" in caption(d).render("ko")


def test_open_position_entry_line_and_live_label(tmp_path):
    b = make_bot(tmp_path, mode="live")
    try:
        feed(b, "BTC", series(300))
        b.store.upsert_position({"id": "P1", "symbol": "BTC", "entry_premium_pct": 2.42, "direction": "long_premium"})
        b.store.upsert_position({"id": "P2", "symbol": "ETH", "entry_premium_pct": 1.0, "direction": "long_premium"})
        d = chart_data(b, "BTC", "1d")
        assert d.open_entries == [2.42] and d.mode == "live"
        assert labels(d, "en")["open"] == ["open entry +2.42% (LIVE)"]
        assert labels(d, "ko")["open"] == ["보유 진입 +2.42% (실전)"]
    finally:
        b.store.close()


def test_fewer_bars_than_the_period_is_said(bot):
    feed(bot, "BTC", series(120))   # 10 hours of a 1-day window
    d = chart_data(bot, "BTC", "7d")
    assert d.short and not d.ready and d.z is None
    en, ko = caption(d).render("en"), caption(d).render("ko")
    assert "only 9h55m of bars" in en and "z window not full yet" in en
    assert "9시간 55분치 데이터만 있음" in ko


def test_arguments():
    syms = ["BTC", "ETH", "XRP"]
    assert parse_args([], syms) == ("BTC", "1d")
    assert parse_args(["eth"], syms) == ("ETH", "1d")
    assert parse_args(["xrp", "20D"], syms) == ("XRP", "20d")
    assert parse_args(["7d", "ETH"], syms) == ("ETH", "7d")
    assert parse_args(["7d"], syms) == ("BTC", "7d")
    for args, entry, words in ((["BTC", "3d"], m.BAD_PERIOD, "period 3d: one of 1d, 7d, 20d"),
                               (["30d"], m.BAD_PERIOD, "period 30d"),
                               (["DOGE"], m.BAD_SYMBOL, "DOGE: not traded here"),
                               (["BTC", "ETH"], m.BAD_PERIOD, "period ETH"),
                               (["BTC", "7d", "x"], m.BAD_ARGS, "use /chart COIN [PERIOD]")):
        r = parse_args(args, syms)
        assert isinstance(r, i18n.Text) and r.msg is entry, args
        assert words in r.render("en")
        assert HANGUL.search(r.render("ko")) and "/chart BTC 7d" in r.render("ko")
    assert "1d, 7d, 20d" in parse_args(["BTC", "3d"], syms).render("ko")
    assert tuple(charts.PERIODS) == __import__("kimpbot.control.command_list", fromlist=["x"]).CHART_PERIODS


def _data(**kw) -> ChartData:
    base = dict(coin="BTC", period="20d", mode="paper", ts=[0, BAR_MS, 2 * BAR_MS], premium=[2.0, 2.1, -12.3456],
                mean=2.0, std=0.25, window_days=20.0, ready=True, z=-57.38,
                tiers=[Tier(2.0, "normal"), Tier(3.0, "extreme"), Tier(4.0, "ultra")],
                marks=[{"ts": 0, "premium": 2.0, "kind": "entry", "trade_id": "a"}] * 12
                + [{"ts": 1, "premium": 2.0, "kind": "exit", "trade_id": "b"}] * 11,
                open_entries=[2.5, -1.25], covered_ms=2 * BAR_MS)
    base.update(kw)
    return ChartData(**base)


@pytest.mark.parametrize("variant", [
    {}, {"ready": False, "z": None}, {"mode": "live", "tiers": [Tier(2.25, "entry")]},
    {"marks": [], "open_entries": []}, {"coin": "XRP", "period": "7d"},
])
@pytest.mark.parametrize("english_chart", [False, True])
def test_caption_both_languages_fit_a_phone(variant, english_chart):
    cap = caption(_data(**variant), english_chart=english_chart)
    for lang in ("ko", "en"):
        text = cap.render(lang)
        assert not too_wide(text), (lang, too_wide(text))
        assert text.startswith("📈 " + _data(**variant).coin)
    assert HANGUL.search(cap.render("ko")) and not HANGUL.search(cap.render("en"))
    # refusals and failures too (plain messages, kept as short)
    for t in (m.BAD_SYMBOL(coin="DOGEWIFHAT", coins="BTC, ETH, XRP"), m.BAD_PERIOD(period="365d", periods="1d, 7d, 20d"),
              m.BAD_ARGS(), m.FAILED(why="no answer within 60 s")):
        for lang in ("ko", "en"):
            assert not too_wide(t.render(lang)), t.render(lang)


@pytest.mark.korean_default
def test_labels_follow_the_bots_language(bot):
    feed(bot, "BTC", series(300))
    d = chart_data(bot, "BTC", "1d")
    req = request(d, i18n.lang())
    assert req["lang"] == "ko" and req["labels"]["xlabel"] == "시간 (KST)"
    assert req["labels_en"]["xlabel"] == "time (KST)"     # what is drawn when no Korean font exists
    assert req["labels"]["title"].startswith("BTC 김프 · 1일 · 현재 ")
