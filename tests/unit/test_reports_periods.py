"""/daily /weekly /monthly /performance /stats over a real Store filled with round trips at KST
period boundaries; expected sums computed here, independently (zoneinfo, the executor's P&L formula)."""

from __future__ import annotations

import types
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from kimpbot import i18n
from kimpbot.clock import ManualClock
from kimpbot.control.commands import CommandCore
from kimpbot.control.reports import (FileRecords, StoreRecords, period_rows, read_ledger, render_performance,
                                     render_periods, render_stats, stats_data)
from kimpbot.i18n import too_wide
from kimpbot.store import Store

SEOUL = ZoneInfo("Asia/Seoul")
CAPITAL = 40_000_000.0


def kst_ms(y, mo, d, h, mi) -> int:
    return int(datetime(y, mo, d, h, mi, tzinfo=SEOUL).timestamp() * 1000)


class Book:
    """Writes round trips the way the executor books them: trade records, journaled orders with
    their fills and fees, the position, its close with the realized P&L."""

    def __init__(self, store: Store, clock: ManualClock) -> None:
        self.store, self.clock, self.n = store, clock, 0
        self.expected: list[dict] = []

    def _orders(self, tid, action, side_u, side_b, q, hint_u, fill_u, hint_b, fill_b, fee_u, fee_b, sym):
        for leg, venue, side, hint, fill, fee, asset in (("U", "upbit", side_u, hint_u, fill_u, fee_u, "KRW"),
                                                         ("B", "binance", side_b, hint_b, fill_b, fee_b, "USDT")):
            cid = self.store.client_order_id(tid, leg, 0)
            self.store.journal_intent(tid, leg, cid, venue, sym, side, Decimal(str(q)), Decimal(str(hint)), action)
            self.store.journal_update(cid, "filled", Decimal(str(q)), Decimal(str(fill)), Decimal(str(fee)),
                                      f"x{cid}", fee_asset=asset)

    def round_trip(self, sym, entry_ms, exit_ms, *, q=0.01, long=True, u0=100_000_000.0, b0=70_000.0, fx0=1400.0,
                   u1=100_500_000.0, b1=70_100.0, fx1=1402.0, slip_u=20_000.0, slip_b=3.0, funding=150.0):
        self.n += 1
        pid, xid = f"E{self.n:03d}", f"X{self.n:03d}"
        sign = 1.0 if long else -1.0
        # fills worse than the signal's book prices by slip_u / slip_b
        fu0, fb0 = u0 + sign * slip_u, b0 - sign * slip_b
        fu1, fb1 = u1 - sign * slip_u, b1 + sign * slip_b
        fee_u0, fee_b0 = fu0 * q * 0.0005, fb0 * q * 0.0004
        fee_u1, fee_b1 = fu1 * q * 0.0005, fb1 * q * 0.0004
        direction = "long_premium" if long else "short_premium"
        self.clock.set_ms(entry_ms)
        self.store.upsert_trade({"id": pid, "symbol": sym, "direction": direction, "action": "enter",
                                 "status": "sending", "fx": fx0, "created_ms": entry_ms})
        self._orders(pid, "enter", "buy" if long else "sell", "sell" if long else "buy", q, u0, fu0, b0, fb0,
                     fee_u0, fee_b0, sym)
        self.store.upsert_trade({"id": pid, "status": "filled", "position_id": pid, "closed_ms": entry_ms})
        entry_fees = fee_u0 + fee_b0 * fx0
        self.store.upsert_position({
            "id": pid, "symbol": sym, "direction": direction, "tier": "normal", "opened_ts": entry_ms,
            "upbit_qty": q, "upbit_avg_price_krw": fu0, "binance_qty": q, "binance_avg_price_usdt": fb0,
            "fx_at_entry": fx0, "entry_premium_pct": (fu0 / (fb0 * fx0) - 1) * 100, "entry_notional_krw": q * fu0,
            "fees_krw": entry_fees, "funding_krw": funding, "adds": 0, "status": "open", "trade_ids": [pid]})
        self.clock.set_ms(exit_ms)
        self.store.upsert_trade({"id": xid, "symbol": sym, "direction": direction, "action": "exit",
                                 "status": "sending", "fx": fx1, "created_ms": exit_ms, "position_id": pid})
        self._orders(xid, "exit", "sell" if long else "buy", "buy" if long else "sell", q, u1, fu1, b1, fb1,
                     fee_u1, fee_b1, sym)
        self.store.upsert_trade({"id": xid, "status": "filled", "closed_ms": exit_ms})
        # the executor's formula (Executor._realized), written out again here
        pnl = (sign * (fu1 - fu0) * q - sign * (fb1 - fb0) * q * fx1
               - entry_fees - fee_u1 - fee_b1 * fx1 - funding)
        self.store.upsert_position({"id": pid, "trade_ids": [pid, xid]})
        self.store.close_position(pid, realized_krw=pnl, exit_trade_id=xid, exit_upbit_price=fu1,
                                  exit_binance_price=fb1, exit_fx=fx1)
        gross_hint = sign * (u1 - u0) * q - sign * (b1 - b0) * q * fx1
        p0, p1 = u0 / (b0 * fx0) - 1, u1 / (b1 * fx1) - 1
        self.expected.append({
            "id": pid, "symbol": sym, "pnl": pnl, "entry_ms": entry_ms, "exit_ms": exit_ms,
            "day": datetime.fromtimestamp(exit_ms / 1000, SEOUL).date(),
            "fees": entry_fees + fee_u1 + fee_b1 * fx1, "funding": funding,
            "premium": sign * q * b0 * fx0 * (p1 - p0), "usdkrw": sign * q * b0 * (fx1 - fx0),
            "slippage": gross_hint - (pnl + entry_fees + fee_u1 + fee_b1 * fx1 + funding)})
        return pid


# Monday 2026-11-30 .. the boundaries the reports must get right
NOW = kst_ms(2026, 12, 3, 12, 0)   # a Thursday


@pytest.fixture
def booked(tmp_path):
    clock = ManualClock(kst_ms(2026, 10, 1, 0, 0))
    st = Store(tmp_path / "data", "paper", clock=clock)
    b = Book(st, clock)
    b.round_trip("BTC", kst_ms(2026, 10, 31, 20, 0), kst_ms(2026, 10, 31, 23, 59))            # Oct, last minute
    b.round_trip("ETH", kst_ms(2026, 10, 31, 23, 0), kst_ms(2026, 11, 1, 0, 0), long=False,   # Nov, first minute
                 u0=5_000_000, b0=3_500, u1=4_990_000, b1=3_520, slip_u=1_000, slip_b=0.2, q=0.5)
    b.round_trip("BTC", kst_ms(2026, 11, 29, 22, 0), kst_ms(2026, 11, 29, 23, 59))            # Sunday: week of 11-23
    b.round_trip("XRP", kst_ms(2026, 11, 29, 23, 30), kst_ms(2026, 11, 30, 0, 0), q=1000,     # Monday 00:00: new week
                 u0=3000, b0=2.1, u1=3010, b1=2.1, slip_u=1, slip_b=0.001, funding=-40.0)
    b.round_trip("BTC", kst_ms(2026, 12, 2, 23, 50), kst_ms(2026, 12, 3, 0, 10),              # over midnight: on 12-03
                 u1=99_900_000, b1=70_000)                                                     # a loss
    b.round_trip("BTC", kst_ms(2026, 12, 3, 9, 0), kst_ms(2026, 12, 3, 11, 0))
    # a rolled-back entry: not a round trip, its cost shown apart
    st.upsert_trade({"id": "R001", "symbol": "ETH", "action": "enter", "status": "rolled_back", "cost_krw": 1234.5})
    # an open position (nothing realized): not in any report
    st.upsert_position({"id": "OPEN1", "symbol": "ETH", "direction": "long_premium", "opened_ts": NOW,
                        "status": "open", "trade_ids": []})
    yield st, b
    st.close()


def expected_rows(b: Book, starts: list[date], start_of) -> list[tuple[date, int, float]]:
    return [(s, sum(1 for e in b.expected if start_of(e["day"]) == s),
             sum(e["pnl"] for e in b.expected if start_of(e["day"]) == s)) for s in starts]


def test_daily_rows_count_each_trade_on_its_exit_day(booked):
    st, b = booked
    led = read_ledger(StoreRecords(st), "paper")
    rows = period_rows(led, "day", 40, NOW)
    starts = [date(2026, 12, 3) - timedelta(days=i) for i in range(40)]
    assert [r.start for r in rows] == starts
    exp = expected_rows(b, starts, lambda d: d)
    for r, (s, n, pnl) in zip(rows, exp):
        assert r.trades == n, s
        assert abs(float(r.pnl_krw) - pnl) < 1e-6, s
        assert isinstance(r.pnl_krw, Decimal)
    by_day = {r.start: r for r in rows}
    assert by_day[date(2026, 10, 31)].trades == 1 and by_day[date(2026, 11, 1)].trades == 1
    assert by_day[date(2026, 11, 29)].trades == 1 and by_day[date(2026, 11, 30)].trades == 1
    assert by_day[date(2026, 12, 2)].trades == 0 and by_day[date(2026, 12, 3)].trades == 2   # held over midnight


def test_weekly_starts_monday_and_monthly_splits_at_month_end(booked):
    st, b = booked
    led = read_ledger(StoreRecords(st), "paper")
    weeks = period_rows(led, "week", 6, NOW)
    assert [r.start for r in weeks][:3] == [date(2026, 11, 30), date(2026, 11, 23), date(2026, 11, 16)]
    assert all(r.start.weekday() == 0 for r in weeks)
    exp = expected_rows(b, [r.start for r in weeks],
                        lambda d: d - timedelta(days=d.isoweekday() - 1))
    assert [(r.trades, round(float(r.pnl_krw), 6)) for r in weeks] == [(n, round(p, 6)) for _, n, p in exp]
    assert weeks[0].trades == 3 and weeks[1].trades == 1   # Sunday 23:59 vs Monday 00:00
    months = period_rows(led, "month", 3, NOW)
    assert [r.start for r in months] == [date(2026, 12, 1), date(2026, 11, 1), date(2026, 10, 1)]
    exp = expected_rows(b, [r.start for r in months], lambda d: d.replace(day=1))
    assert [(r.trades, round(float(r.pnl_krw), 6)) for r in months] == [(n, round(p, 6)) for _, n, p in exp]
    assert [r.trades for r in months] == [2, 3, 1]


def test_stats_and_anatomy_match_the_fills(booked):
    st, b = booked
    d = stats_data(read_ledger(StoreRecords(st), "paper"), CAPITAL)
    pnls = [e["pnl"] for e in b.expected]
    assert d["closed"] == 6 and d["wins"] == sum(1 for p in pnls if p > 0)
    assert d["losses"] == sum(1 for p in pnls if p <= 0) >= 1
    assert abs(d["win_rate_pct"] - sum(1 for p in pnls if p > 0) / 6 * 100) < 1e-9
    assert abs(d["avg_holding_s"] - sum((e["exit_ms"] - e["entry_ms"]) / 1000 for e in b.expected) / 6) < 1e-9
    assert d["best"].id == max(b.expected, key=lambda e: e["pnl"])["id"]
    assert d["worst"].id == min(b.expected, key=lambda e: e["pnl"])["id"]
    assert abs(float(d["fees_krw"]) - sum(e["fees"] for e in b.expected)) < 1e-6
    assert abs(float(d["funding_krw"]) - sum(e["funding"] for e in b.expected)) < 1e-9
    assert d["rollbacks"] == 1 and d["rollback_cost_krw"] == Decimal("1234.5")
    a = d["anatomy"]
    assert d["estimated"] == 0
    assert a["premium_krw"] == round(sum(e["premium"] for e in b.expected))
    assert a["usdkrw_krw"] == round(sum(e["usdkrw"] for e in b.expected))
    assert a["slippage_krw"] == round(sum(e["slippage"] for e in b.expected))
    assert a["slippage_krw"] > 0   # the fills were worse than the book prices the signals read
    total = sum(pnls)
    assert a["best_trade_share_pct"] == round(max(pnls) / total * 100, 2)
    assert a["best5_share_pct"] == round(sum(sorted(pnls, reverse=True)[:5]) / total * 100, 2)


def test_records_without_orders_are_estimated_from_averages(tmp_path):
    clock = ManualClock(kst_ms(2026, 12, 1, 0, 0))
    with Store(tmp_path / "d", "live", clock=clock) as st:
        # an older record: a closed position without trade records or journal
        st.upsert_position({"id": "P1", "symbol": "BTC", "direction": "long_premium",
                            "opened_ts": kst_ms(2026, 12, 1, 1, 0),
                            "upbit_qty": 0.01, "upbit_avg_price_krw": 1e8, "binance_qty": 0.01,
                            "binance_avg_price_usdt": 7e4, "fx_at_entry": 1400.0, "fees_krw": 700.0,
                            "funding_krw": 0.0, "trade_ids": []})
        st.close_position("P1", realized_krw=3000.0, exit_upbit_price=1.005e8, exit_binance_price=70100.0,
                          exit_fx=1400.0)
        d = stats_data(read_ledger(StoreRecords(st), "live"), CAPITAL)
        assert d["estimated"] == 1 and d["anatomy"]["net_krw"] == 3000
        assert float(d["fees_krw"]) == 700.0
        lines = render_stats(read_ledger(StoreRecords(st), "live"), CAPITAL)
        assert any("estimated" in ln for ln in lines)


def test_file_ledger_reads_the_same_as_the_store_without_writing(booked, tmp_path):
    st, b = booked
    d = st.dir
    before = sorted((p.name, p.stat().st_size) for p in d.iterdir())
    led_file = read_ledger(FileRecords(d, "paper"), "paper")   # while the store is open and locked
    assert sorted((p.name, p.stat().st_size) for p in d.iterdir()) == before
    led_store = read_ledger(StoreRecords(st), "paper")
    assert led_file.trips == led_store.trips and led_file.rollbacks == 1


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_every_report_renders_in_both_languages_within_36_cells(booked, lang):
    st, b = booked
    led = read_ledger(StoreRecords(st), "paper")
    with i18n.using(lang):
        blocks = {"daily": render_periods(led, "day", 60, NOW, CAPITAL),
                  "weekly": render_periods(led, "week", 52, NOW, CAPITAL),
                  "monthly": render_periods(led, "month", 36, NOW, CAPITAL),
                  "performance": render_performance(led), "stats": render_stats(led, CAPITAL)}
        empty = read_ledger(StoreRecords(st), "live")
        empty.trips = []
        empty.rollbacks = 0
        blocks["empty"] = render_stats(empty, CAPITAL) + render_performance(empty) + render_periods(
            empty, "day", 7, NOW, CAPITAL)
    for name, lines in blocks.items():
        text = "\n".join(lines)
        assert not too_wide(text), (name, too_wide(text))
    mark = "모의" if lang == "ko" else "PAPER"
    assert all(mark in "\n".join(v).splitlines()[0] for k, v in blocks.items() if k != "empty")
    day = "\n".join(blocks["daily"])
    assert ("12-03 목" if lang == "ko" else "12-03 Thu") in day
    won = "원" if lang == "ko" else "KRW"
    assert won in day and won in "\n".join(blocks["stats"])
    hangul = any("\uac00" <= ch <= "\ud7a3" for ch in "\n".join(sum(blocks.values(), [])))
    assert hangul == (lang == "ko")


def test_huge_numbers_drop_the_optional_column_not_the_width(tmp_path):
    clock = ManualClock(NOW)
    with Store(tmp_path / "d", "paper", clock=clock) as st:
        b = Book(st, clock)
        b.round_trip("BTC", NOW - 3_600_000, NOW - 60_000, q=50, u1=120_000_000)   # a 1-billion-won day
        led = read_ledger(StoreRecords(st), "paper")
        for lang in ("ko", "en"):
            with i18n.using(lang):
                lines = render_periods(led, "day", 7, NOW, CAPITAL)
            assert not too_wide("\n".join(lines)), lines


def _core(st: Store, tmp_path, mode="paper"):
    bot = types.SimpleNamespace(settings=types.SimpleNamespace(mode=mode, data_dir=tmp_path / "data"),
                                store=st, clock=ManualClock(NOW), owner={"capital.initial_capital_krw": CAPITAL})
    core = CommandCore.__new__(CommandCore)   # the report commands need only the bot
    core.bot = bot
    return core


@pytest.mark.parametrize("args,ok", [([], True), (["1"], True), (["60"], True), (["0"], False), (["abc"], False),
                                     (["1000"], False), (["-3"], False), (["7", "8"], False), (["²"], False)])
async def test_daily_argument_is_checked(booked, tmp_path, args, ok):
    st, _ = booked
    r = await _core(st, tmp_path).cmd_daily("t", args)
    if ok:
        assert r.mono and r.private and "paper" in r.data
        assert len(r.data["paper"]) == (int(args[0]) if args else 7)
    else:
        assert r.data == {"error": "bad_n"} and "1 to 60" in r.text and not r.mono
        with i18n.using("ko"):
            rk = await _core(st, tmp_path).cmd_daily("t", args)
        assert "1~60" in rk.text and "/daily 7" in rk.text


async def test_paper_and_live_are_never_mixed(booked, tmp_path):
    st, b = booked
    st.close()   # after a switch to live: the paper store is closed, a live one is open
    clock = ManualClock(NOW)
    with Store(tmp_path / "data", "live", clock=clock) as live:
        lb = Book(live, clock)
        lb.round_trip("ETH", NOW - 7_200_000, NOW - 3_600_000, long=False, u0=5_000_000, b0=3_500, u1=4_990_000,
                      b1=3_520, slip_u=1_000, slip_b=0.2, q=0.5)
        core = _core(live, tmp_path, mode="live")
        r = await core.cmd_daily("t", ["2"])
        assert list(r.data) == ["live", "paper"]   # the running mode first
        assert r.data["live"][0].trades == 1 and abs(float(r.data["live"][0].pnl_krw) - lb.expected[0]["pnl"]) < 1e-6
        exp_paper = sum(e["pnl"] for e in b.expected if e["day"] == date(2026, 12, 3))
        assert r.data["paper"][0].trades == 2 and abs(float(r.data["paper"][0].pnl_krw) - exp_paper) < 1e-6
        live_block, paper_block = r.text.split("\n\n")
        assert "LIVE" in live_block.splitlines()[0] and "PAPER" in paper_block.splitlines()[0]
        r = await core.cmd_performance("t", [])
        assert set(r.data["live"]) == {"ETH"} and r.data["paper"]["BTC"]["trades"] == 4
        r = await core.cmd_stats("t", [])
        assert r.data["live"]["closed"] == 1 and r.data["paper"]["closed"] == 6
        assert (await core.cmd_stats("t", ["x"])).data == {"error": "args"}


def test_a_partly_closed_open_pair_counts_its_realized_part_at_its_exit_not_as_a_trade(tmp_path):
    clock = ManualClock(NOW)
    with Store(tmp_path / "d", "paper", clock=clock) as st:
        exit_ms = kst_ms(2026, 12, 2, 0, 5)
        st.upsert_trade({"id": "X1", "symbol": "BTC", "action": "exit", "status": "partial", "fx": 1400.0,
                         "closed_ms": exit_ms})
        st.upsert_position({"id": "P1", "symbol": "BTC", "direction": "long_premium", "status": "open",
                            "opened_ts": kst_ms(2026, 12, 1, 10, 0), "realized_krw": 2500.0,
                            "trade_ids": ["X1"]})
        led = read_ledger(StoreRecords(st), "paper")
        rows = {r.start: r for r in period_rows(led, "day", 3, NOW)}
        assert rows[date(2026, 12, 2)].trades == 0 and rows[date(2026, 12, 2)].pnl_krw == Decimal("2500.0")
        assert rows[date(2026, 12, 1)].pnl_krw == 0 and rows[date(2026, 12, 3)].pnl_krw == 0
        assert stats_data(led, CAPITAL)["closed"] == 0
        assert "partial" in "\n".join(render_periods(led, "day", 3, NOW, CAPITAL))
