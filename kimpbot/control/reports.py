"""Reports a freqtrade user reaches for (/daily, /weekly, /monthly, /performance, /stats): a part
of the command core (:class:`~kimpbot.control.commands.CommandCore` inherits these commands).

What is counted: one **round trip** is one pair position from its first fill to the exit that made
it flat (the store's ``positions`` table, ``status == "closed"``, ``realized_krw`` with every fee
and the funding paid already taken off by the executor). A round trip counts in the KST day, week
(Monday first) and month of its exit (``closed_ms``), so a pair held over midnight is counted on the
day it closed. A position still open after a partial exit carries realized P&L too: that P&L counts
at its latest exit trade, but not as a trade. Rolled-back entries are not round trips; /stats shows
their cost apart.

Paper and live are two ledgers (``data_dir/paper``, ``data_dir/live``) and are never added up:
each report shows the running mode's ledger, then the other one's when it holds results (read from
its files without taking its lock: nothing is written there).

The P&L anatomy of /stats reuses :mod:`kimpbot.backtest.anatomy` on these records. The executor
keeps, per trade, the FX rate it used (trade ``fx``) and, per order, the price the signal read from
the book (``price_hint``, the VWAP for the order's size) and the fill; so the anatomy's reference
prices are the signal's book VWAPs (the backtester's are candle mids) and *slippage* is what the
fills cost against them. A position whose orders are not in the journal (older records) is split
from its average entry prices and entry FX instead, and the reply says how many were.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kimpbot.backtest.anatomy import Leg, summarize, trade_anatomy
from kimpbot.i18n import Text, cell_width, pad, render
from kimpbot.i18n import reports as R
from kimpbot.i18n.units import duration, krw, pct

if TYPE_CHECKING:
    from kimpbot.control.commands import Reply
    from kimpbot.store import Store

log = logging.getLogger("kimpbot.control.reports")

KST = timezone(timedelta(hours=9))
WIDTH = 36
UNITS = ("day", "week", "month")
# /daily [n] etc.: the default n (freqtrade's) and the most a phone message shows
LIMITS = {"day": (7, 60), "week": (8, 52), "month": (6, 36)}
_COMMAND = {"day": "daily", "week": "weekly", "month": "monthly"}
_TITLE = {"day": R.TITLE_DAILY, "week": R.TITLE_WEEKLY, "month": R.TITLE_MONTHLY}
_COL = {"day": R.COL_DAY, "week": R.COL_WEEK, "month": R.COL_MONTH}
_ENTRY_KINDS = ("enter", "add")
_UNWIND_KINDS = ("unwind",)   # rollback/re-open orders: their cost is the trade's cost_krw, not its P&L


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class RoundTrip:
    """A realization: a closed pair (``closed``) or the realized part of one still open."""

    id: str
    symbol: str
    direction: str
    opened_ms: int
    exit_ms: int
    pnl_krw: Decimal
    fees_krw: Decimal
    funding_krw: Decimal          # paid (negative = received)
    closed: bool
    anatomy: dict[str, float] | None = None
    estimated: bool = False       # anatomy from average prices (orders not in the journal)

    @property
    def holding_s(self) -> float:
        return max(0, self.exit_ms - self.opened_ms) / 1000.0


@dataclass
class Ledger:
    mode: str
    trips: list[RoundTrip] = field(default_factory=list)
    rollbacks: int = 0
    rollback_cost_krw: Decimal = Decimal(0)

    @property
    def closed(self) -> list[RoundTrip]:
        return [t for t in self.trips if t.closed]


class _Records:
    """What a ledger is read from: the open Store, or a mode's files (read-only)."""

    def positions(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def trades(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def journal(self, trade_id: str) -> list[Any]:
        raise NotImplementedError


class StoreRecords(_Records):
    def __init__(self, store: "Store") -> None:
        self.store = store

    def positions(self) -> list[dict[str, Any]]:
        return self.store.positions()

    def trades(self) -> list[dict[str, Any]]:
        return self.store.trades()

    def journal(self, trade_id: str) -> list[Any]:
        return self.store.journal_for_trade(trade_id)


class FileRecords(_Records):
    """A mode's ledger read from its snapshot and journal segments, without its lock and without
    writing anything (a Store would compact and start a new segment on open)."""

    def __init__(self, directory: Path, mode: str) -> None:
        from kimpbot.store.codec import from_json
        from kimpbot.store.store import JournalEntry, SNAPSHOT_NAME, T_JOURNAL, T_POSITIONS, T_TRADES
        from kimpbot.store.storage import AtomicJSONStorage
        from kimpbot.store.wal import list_segments, read_segment

        tables: dict[str, dict[int, dict[str, Any]]] = {}
        for _ in range(5):   # a compaction between reading the snapshot and the segments: read again
            snap = AtomicJSONStorage(directory / SNAPSHOT_NAME).read() or {}
            seq = int((snap.get("_meta", {}).get("1") or {}).get("seq") or 0)
            tables = {t: {int(k): v for k, v in snap.get(t, {}).items()} for t in (T_POSITIONS, T_TRADES, T_JOURNAL)}
            try:
                segs = list_segments(directory)
                ok = True
                for i, (first, path) in enumerate(segs):
                    if first > seq + 1:
                        ok = False
                        break
                    for rec in read_segment(path, first, mode, last=i == len(segs) - 1).records:
                        if rec["seq"] <= seq:
                            continue
                        for op in rec["ops"]:
                            if op[1] in tables:
                                tables[op[1]][op[2]] = op[3]
                        seq = rec["seq"]
            except FileNotFoundError:
                ok = False
            if ok:
                break
        self._pos = [from_json(d) for d in tables.get(T_POSITIONS, {}).values()]
        self._trades = [from_json(d) for d in tables.get(T_TRADES, {}).values()]
        self._journal: dict[str, list[Any]] = {}
        for _, d in sorted(tables.get(T_JOURNAL, {}).items()):
            self._journal.setdefault(d["trade_id"], []).append(JournalEntry._from_doc(d))

    def positions(self) -> list[dict[str, Any]]:
        return list(self._pos)

    def trades(self) -> list[dict[str, Any]]:
        return list(self._trades)

    def journal(self, trade_id: str) -> list[Any]:
        return list(self._journal.get(trade_id, []))


def _dec(x: Any) -> Decimal:
    if x is None:
        return Decimal(0)
    return x if isinstance(x, Decimal) else Decimal(str(x))


def _legs_of(entries: Iterable[Any], kinds: tuple[str, ...]) -> dict[str, tuple[float, float | None, float]]:
    """Per venue: filled quantity, the signal's price (first order's hint) and the average fill."""
    out: dict[str, list[float]] = {}
    hint: dict[str, float | None] = {}
    for e in entries:
        if e.kind in _UNWIND_KINDS or (kinds and e.kind not in kinds and e.kind not in ("exit_retry", "retry")):
            continue
        q = float(e.filled_qty or 0)
        if e.venue not in hint:
            hint[e.venue] = float(e.price_hint) if e.price_hint else None
        if q > 0 and e.avg_price:
            acc = out.setdefault(e.venue, [0.0, 0.0])
            acc[0] += q
            acc[1] += q * float(e.avg_price)
    return {v: (a[0], hint.get(v), a[1] / a[0]) for v, a in out.items() if a[0] > 0}


def _fees_krw(entries: Iterable[Any], fx: float) -> Decimal | None:
    """Fees of a trade's pair orders (not its unwinds) in KRW; None when no order has a fee."""
    total, seen = Decimal(0), False
    for e in entries:
        if e.kind in _UNWIND_KINDS or e.fee is None:
            continue
        seen = True
        if (e.fee_asset or ("KRW" if e.venue == "upbit" else "USDT")).upper() == "KRW":
            total += e.fee
        else:
            total += e.fee * Decimal(str(fx))
    return total if seen else None


def _round_trip(p: dict[str, Any], trades: dict[str, dict[str, Any]], journal: Callable[[str], list[Any]]) -> RoundTrip:
    tids = [t for t in p.get("trade_ids") or [] if t in trades]
    exits = [trades[t] for t in tids if trades[t].get("action") == "exit"]
    closed = p.get("status") == "closed"
    exit_ms = int(p.get("closed_ms") or 0) if closed else 0
    if not exit_ms:
        exit_ms = max((int(t.get("closed_ms") or t.get("updated_ms") or 0) for t in exits),
                      default=int(p.get("updated_ms") or 0))
    opened = int(p.get("opened_ts") or p.get("created_ms") or exit_ms)
    pnl = _dec(p.get("realized_krw"))
    funding = _dec(p.get("funding_krw"))
    fees = Decimal(0)
    have_fees = bool(tids)
    for t in tids:
        f = _fees_krw(journal(t), float(trades[t].get("fx") or 0.0))
        if f is None:
            have_fees = False
            break
        fees += f
    if not have_fees:   # orders not in the journal: the entry fees the position kept
        fees = _dec(p.get("fees_krw"))
    anatomy, estimated = (None, False)
    if closed:
        anatomy, estimated = _anatomy(p, tids, exits, trades, journal, float(pnl), float(fees), float(funding))
    return RoundTrip(str(p["id"]), str(p.get("symbol") or "?"), str(p.get("direction") or ""), opened, exit_ms,
                     pnl, fees, funding, closed, anatomy, estimated)


def _anatomy(p: dict[str, Any], tids: list[str], exits: list[dict[str, Any]], trades: dict[str, dict[str, Any]],
             journal: Callable[[str], list[Any]], pnl: float, fees: float,
             funding: float) -> tuple[dict[str, float] | None, bool]:
    direction = str(p.get("direction") or "long_premium")
    legs: list[Leg] = []
    for t in tids:
        tr = trades[t]
        if tr.get("action") not in _ENTRY_KINDS:
            continue
        lg = _legs_of(journal(t), (str(tr.get("action")),))
        if "upbit" in lg and "binance" in lg and tr.get("fx"):
            (qu, hu, au), (qb, hb, ab) = lg["upbit"], lg["binance"]
            legs.append(Leg(min(qu, qb), hu or au, hb or ab, float(tr["fx"])))
    xq = xu = xb = xfx = 0.0
    for tr in exits:
        lg = _legs_of(journal(str(tr["id"])), ("exit",))
        if "upbit" in lg and "binance" in lg and tr.get("fx"):
            (qu, hu, au), (qb, hb, ab) = lg["upbit"], lg["binance"]
            q = min(qu, qb)
            xq += q
            xu += q * (hu or au)
            xb += q * (hb or ab)
            xfx += q * float(tr["fx"])
    if legs and xq > 0:
        return trade_anatomy(direction, legs, xu / xq, xb / xq, xfx / xq, pnl, fees, funding), False
    # older records without their orders: the position's average fills and entry FX
    try:
        q = float(p.get("binance_qty") or p.get("upbit_qty"))
        leg = Leg(q, float(p["upbit_avg_price_krw"]), float(p["binance_avg_price_usdt"]), float(p["fx_at_entry"]))
        return trade_anatomy(direction, [leg], float(p["exit_upbit_price"]), float(p["exit_binance_price"]),
                             float(p["exit_fx"]), pnl, fees, funding), True
    except (KeyError, TypeError, ValueError):
        return None, True


def read_ledger(records: _Records, mode: str) -> Ledger:
    trades = {str(t["id"]): t for t in records.trades() if t.get("id")}
    led = Ledger(mode)
    for p in records.positions():
        closed = p.get("status") == "closed"
        if not closed and not p.get("realized_krw"):
            continue
        led.trips.append(_round_trip(p, trades, records.journal))
    for t in trades.values():
        if t.get("status") == "rolled_back":
            led.rollbacks += 1
            led.rollback_cost_krw += _dec(t.get("cost_krw"))
    led.trips.sort(key=lambda r: (r.exit_ms, r.id))
    return led


# ---------------------------------------------------------------- periods (KST)


def kst_date(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, tz=KST).date()


def period_start(d: date, unit: str) -> date:
    if unit == "day":
        return d
    if unit == "week":
        return d - timedelta(days=d.weekday())   # Monday
    return d.replace(day=1)


def _previous(start: date, unit: str) -> date:
    if unit == "day":
        return start - timedelta(days=1)
    if unit == "week":
        return start - timedelta(days=7)
    return (start - timedelta(days=1)).replace(day=1)


def periods(now_ms: int, unit: str, n: int) -> list[date]:
    """The last ``n`` KST periods, newest first (the current one included)."""
    out = [period_start(kst_date(now_ms), unit)]
    while len(out) < n:
        out.append(_previous(out[-1], unit))
    return out


@dataclass(frozen=True)
class PeriodRow:
    start: date
    trades: int
    pnl_krw: Decimal


def period_rows(ledger: Ledger, unit: str, n: int, now_ms: int) -> list[PeriodRow]:
    starts = periods(now_ms, unit, n)
    sums = {s: [0, Decimal(0)] for s in starts}
    for t in ledger.trips:
        s = period_start(kst_date(t.exit_ms), unit)
        if s in sums:
            sums[s][0] += 1 if t.closed else 0
            sums[s][1] += t.pnl_krw
    return [PeriodRow(s, int(sums[s][0]), Decimal(sums[s][1])) for s in starts]


def period_label(start: date, unit: str) -> str:
    if unit == "day":
        wd = render(R.WEEKDAYS).split()[start.weekday()]
        return f"{start:%m-%d} {wd}"
    if unit == "week":
        return render(R.WEEK_LABEL(start=f"{start:%m-%d}"))
    return f"{start:%Y-%m}"


# ---------------------------------------------------------------- layout


def table(rows: list[list[str]], right: list[bool], optional: int | None = None, width: int = WIDTH) -> list[str]:
    """Columns padded in cells (Hangul 2); the ``optional`` column is dropped when a line would be
    wider than the phone shows."""
    def lay(cols: list[int]) -> list[str]:
        w = [max(cell_width(r[c]) for r in rows) for c in cols]
        return [" ".join(pad(r[c], w[i], right[c]) for i, c in enumerate(cols)).rstrip() for r in rows]

    cols = list(range(len(rows[0])))
    lines = lay(cols)
    if optional is not None and max(cell_width(x) for x in lines) > width:
        lines = lay([c for c in cols if c != optional])
    return lines


def _mode_mark(mode: str) -> Text:
    return (R.MODE_LIVE if mode == "live" else R.MODE_PAPER)()


def _pct_of(x: Decimal, capital: float | None) -> Any:
    return pct(float(x) / capital * 100.0) if capital else pct(None)


def render_periods(ledger: Ledger, unit: str, n: int, now_ms: int, capital: float | None) -> list[str]:
    rows = period_rows(ledger, unit, n, now_ms)
    head = [render(_COL[unit]), render(R.COL_TRADES), render(R.COL_PNL), render(R.COL_PCT)]
    body = [[period_label(r.start, unit), str(r.trades), str(krw(r.pnl_krw, sign=True)),
             str(_pct_of(r.pnl_krw, capital))] for r in rows]
    tot_n = sum(r.trades for r in rows)
    tot = sum((r.pnl_krw for r in rows), Decimal(0))
    body.append([render(R.TOTAL), str(tot_n), str(krw(tot, sign=True)), str(_pct_of(tot, capital))])
    lines = [render(_TITLE[unit](mode=_mode_mark(ledger.mode)))]
    lines += table([head] + body, [False, True, True, True], optional=3)
    partial = sum(1 for t in ledger.trips if not t.closed
                  and period_start(kst_date(t.exit_ms), unit) >= rows[-1].start)
    if partial:
        lines.append(render(R.PARTIAL_NOTE(n=partial)))
    lines.append(render(R.KST_NOTE))
    if capital:
        lines.append(render(R.CAPITAL_NOTE(capital=krw(capital))))
    return lines


def render_performance(ledger: Ledger) -> list[str]:
    lines = [render(R.TITLE_PERFORMANCE(mode=_mode_mark(ledger.mode)))]
    closed = ledger.closed
    if not closed:
        return lines + [render(R.NO_TRADES)]
    by: dict[str, list[RoundTrip]] = {}
    for t in closed:
        by.setdefault(t.symbol, []).append(t)
    order = sorted(by, key=lambda s: (-sum((t.pnl_krw for t in by[s]), Decimal(0)), s))
    head = [render(R.COL_COIN), render(R.COL_TRADES), render(R.COL_WINRATE), render(R.COL_PNL)]
    body = []
    for s in order + [None]:
        ts = closed if s is None else by[s]
        wins = sum(1 for t in ts if t.pnl_krw > 0)
        body.append([render(R.TOTAL) if s is None else s, str(len(ts)), str(pct(wins / len(ts) * 100, sign=False)),
                     str(krw(sum((t.pnl_krw for t in ts), Decimal(0)), sign=True))])
    return lines + table([head] + body, [False, True, True, True])


def stats_data(ledger: Ledger, capital: float | None) -> dict[str, Any]:
    closed = ledger.closed
    d: dict[str, Any] = {"mode": ledger.mode, "closed": len(closed),
                         "wins": sum(1 for t in closed if t.pnl_krw > 0),
                         "fees_krw": sum((t.fees_krw for t in ledger.trips), Decimal(0)),
                         "funding_krw": sum((t.funding_krw for t in ledger.trips), Decimal(0)),
                         "pnl_krw": sum((t.pnl_krw for t in ledger.trips), Decimal(0)),
                         "rollbacks": ledger.rollbacks, "rollback_cost_krw": ledger.rollback_cost_krw}
    d["losses"] = d["closed"] - d["wins"]
    d["win_rate_pct"] = d["wins"] / len(closed) * 100.0 if closed else None
    d["avg_holding_s"] = sum(t.holding_s for t in closed) / len(closed) if closed else None
    d["best"] = max(closed, key=lambda t: t.pnl_krw) if closed else None
    d["worst"] = min(closed, key=lambda t: t.pnl_krw) if closed else None
    parts = [t for t in closed if t.anatomy is not None]
    d["estimated"] = sum(1 for t in parts if t.estimated)
    d["anatomy"] = None
    if parts:
        d["anatomy"] = summarize([{"pnl_krw": float(t.pnl_krw), "exit_ms": t.exit_ms, **t.anatomy} for t in parts],
                                 capital or 0.0, None)
    return d


def render_stats(ledger: Ledger, capital: float | None) -> list[str]:
    d = stats_data(ledger, capital)
    lines = [render(R.TITLE_STATS(mode=_mode_mark(ledger.mode)))]
    if not d["closed"]:
        lines.append(render(R.NO_TRADES))
    else:
        head = render(R.CLOSED_WINRATE(n=d["closed"], rate=pct(d["win_rate_pct"], sign=False)))
        tail = render(R.WINS_LOSSES(wins=d["wins"], losses=d["losses"]))
        one = head + " " + tail.strip()
        lines += [one] if cell_width(one) <= WIDTH else [head, tail]
    kv: list[list[str]] = []
    if d["closed"]:
        kv.append([render(R.AVG_HOLD), str(duration(d["avg_holding_s"]))])
        for label, t in ((R.BEST, d["best"]), (R.WORST, d["worst"])):
            kv.append([render(label), render(R.TRADE_LINE(coin=t.symbol, pnl=krw(t.pnl_krw, sign=True),
                                                          day=f"{kst_date(t.exit_ms):%m-%d}"))])
    kv.append([render(R.FEES), str(krw(-d["fees_krw"], sign=True))])
    kv.append([render(R.FUNDING), str(krw(-d["funding_krw"], sign=True))])
    if d["rollbacks"]:
        kv.append([render(R.ROLLBACKS(n=d["rollbacks"])), str(krw(-d["rollback_cost_krw"], sign=True))])
    lines += table(kv, [False, False])
    a = d["anatomy"]
    if a is None:
        if d["closed"]:
            lines.append(render(R.NO_ANATOMY))
        return lines
    lines.append(render(R.ANATOMY))
    rows = [[" " + render(R.A_PREMIUM), str(krw(a["premium_krw"], sign=True))],
            [" " + render(R.A_USDKRW), str(krw(a["usdkrw_krw"], sign=True))],
            [" " + render(R.A_UNHEDGED), str(krw(a["unhedged_krw"], sign=True))],
            [" " + render(R.A_FUNDING), str(krw(-a["funding_krw"], sign=True))],
            [" " + render(R.A_FEES), str(krw(-a["fees_krw"], sign=True))],
            [" " + render(R.A_SLIPPAGE), str(krw(-a["slippage_krw"], sign=True))],
            [" " + render(R.A_NET), str(krw(a["net_krw"], sign=True))]]
    lines += table(rows, [False, True])
    lines.append(render(R.CONCENTRATION))
    lines += table([[" " + render(R.BEST1_SHARE), str(pct(a["best_trade_share_pct"], sign=False))],
                    [" " + render(R.BEST5_SHARE), str(pct(a["best5_share_pct"], sign=False))]], [False, True])
    lines.append(render(R.SLIPPAGE_NOTE))
    if d["estimated"]:
        lines.append(render(R.APPROX_NOTE(n=d["estimated"])))
    return lines


def parse_n(cmd: str, args: list[str], default: int, most: int) -> int | Text:
    """``/daily [n]``: n in 1..most, else the message saying what is wrong."""
    if not args:
        return default
    raw = args[0]
    # ASCII digits only: str.isdigit() also takes "²" or "৩"
    if len(args) == 1 and re.fullmatch(r"[0-9]{1,6}", raw) and 1 <= int(raw) <= most:
        return int(raw)
    got = " ".join(args)[:20]
    return R.BAD_N(cmd=cmd, max=most, default=default, got=repr(got))


# ---------------------------------------------------------------- the commands


class ReportCommands:
    """Mixed into the command core: ``self.bot``, ``self.trader`` and the core's helpers are there."""

    bot: Any

    def ledgers(self) -> list[Ledger]:
        """The running mode's ledger first, then the other mode's when it holds any result."""
        s = self.bot.settings
        store = getattr(self.bot, "store", None)
        out: list[Ledger] = []
        modes = [s.mode] + [m for m in ("paper", "live") if m != s.mode]
        for i, mode in enumerate(modes):
            try:
                if store is not None and getattr(store, "mode", None) == mode:
                    led = read_ledger(StoreRecords(store), mode)
                else:
                    d = Path(s.data_dir).expanduser() / mode
                    if not (d / "kimpbot.json").exists():
                        if i == 0:
                            out.append(Ledger(mode))
                        continue
                    led = read_ledger(FileRecords(d, mode), mode)
            except Exception as exc:   # a damaged other ledger must not hide this one's report
                log.warning("reports: the %s ledger could not be read: %s: %s", mode, type(exc).__name__, exc)
                if i == 0:
                    raise
                continue
            if i == 0 or led.trips or led.rollbacks:
                out.append(led)
        return out

    def _capital(self) -> float | None:
        try:
            v = self.bot.owner["capital.initial_capital_krw"]
        except (KeyError, TypeError, AttributeError):
            return None
        return float(v) if v else None

    async def _report(self, lines_of: Callable[[Ledger], list[str]], data_of: Callable[[Ledger], Any]) -> "Reply":
        from kimpbot.control.commands import Reply

        # off the event loop: the other mode's ledger is read from its files (the Store locks per call)
        leds = await asyncio.to_thread(self.ledgers)
        blocks = ["\n".join(lines_of(led)) for led in leds]
        return Reply(text="\n\n".join(blocks), mono=True, private=True,
                     data={led.mode: data_of(led) for led in leds})

    async def _periods(self, unit: str, args: list[str]) -> "Reply":
        from kimpbot.control.commands import Reply

        default, most = LIMITS[unit]
        n = parse_n(_COMMAND[unit], args, default, most)
        if not isinstance(n, int):
            return Reply(text=str(n), data={"error": "bad_n"})
        now = self.bot.clock.now_ms()
        cap = self._capital()
        return await self._report(lambda led: render_periods(led, unit, n, now, cap),
                            lambda led: period_rows(led, unit, n, now))

    async def cmd_daily(self, by: str, args: list[str]) -> "Reply":
        return await self._periods("day", args)

    async def cmd_weekly(self, by: str, args: list[str]) -> "Reply":
        return await self._periods("week", args)

    async def cmd_monthly(self, by: str, args: list[str]) -> "Reply":
        return await self._periods("month", args)

    def _no_args(self, cmd: str, args: list[str]) -> "Reply | None":
        from kimpbot.control.commands import Reply

        return Reply(text=str(R.NO_ARGS(cmd=cmd)), data={"error": "args"}) if args else None

    async def cmd_performance(self, by: str, args: list[str]) -> "Reply":
        bad = self._no_args("performance", args)
        if bad is not None:
            return bad

        def data(led: Ledger) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for t in led.closed:
                e = out.setdefault(t.symbol, {"trades": 0, "wins": 0, "pnl_krw": Decimal(0)})
                e["trades"] += 1
                e["wins"] += 1 if t.pnl_krw > 0 else 0
                e["pnl_krw"] += t.pnl_krw
            return out

        return await self._report(render_performance, data)

    async def cmd_stats(self, by: str, args: list[str]) -> "Reply":
        bad = self._no_args("stats", args)
        if bad is not None:
            return bad
        cap = self._capital()
        return await self._report(lambda led: render_stats(led, cap), lambda led: stats_data(led, cap))


__all__ = ["Ledger", "ReportCommands", "RoundTrip", "FileRecords", "StoreRecords", "parse_n", "period_rows",
           "periods", "read_ledger", "render_periods", "render_performance", "render_stats", "stats_data", "table"]
