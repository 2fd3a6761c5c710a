"""``/chart COIN [1d|7d|20d]``: the mid premium over the period, the owner's z tiers drawn as premium
levels (mean ± k·σ of the z window), the trades' entries and exits, the open position's entry.

* History: the market engine's closed bars as the strategy's z window holds them (the window is
  20 days, so every period up to it is there once warmed up); the live mid premium is the last
  point. Fewer bars than the period asked for is said in the caption.
* Bands: mean and population σ of the bars in the z window now (the statistic the strategy's z
  reads), at ±k for the owner's tiers: optimized ``normal_z`` / ``extreme_z`` / ``ultra_z``, zscore
  and multi_timeframe ``entry_threshold``. The owner's numbers, whatever they are.
* Marks: the store's trade records of that coin in the period that filled (entries and adds, exits),
  at their fill time and at the premium they filled at (from the journal's fill prices; the signal's
  premium when the journal has none), labelled with the ledger's mode (paper/live).
* Drawing happens in a child process (:class:`ChartWorker`, :mod:`kimpbot.control.chart_draw`) so
  matplotlib never enters the bot's memory; the blocking pipe I/O runs in a thread, never on the loop.
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import os
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from kimpbot import i18n
from kimpbot.i18n import charts as m
from kimpbot.i18n.common import mode as mode_word
from kimpbot.i18n.units import duration, pct

if TYPE_CHECKING:
    from kimpbot.engine import Bot

log = logging.getLogger("kimpbot.control.charts")

DAY_MS = 86_400_000
PERIODS = {"1d": 1, "7d": 7, "20d": 20}   # the same periods as command_list.CHART_PERIODS
DEFAULT_PERIOD = "1d"
MARKED_STATUSES = ("filled", "partial", "closed")   # trades that put (or took) coin on both venues
IDLE_S = 30.0       # the drawing process exits this long after its last chart
TIMEOUT_S = 60.0    # a chart not drawn by then: the process is killed and the owner told
CHILD_ENV = ("PATH", "HOME", "LANG", "TZ", "TMPDIR", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "MPLCONFIGDIR",
             "MPLBACKEND", "FONTCONFIG_PATH", "FONTCONFIG_FILE")


@dataclass(frozen=True)
class Tier:
    k: float        # |z| of the tier (the owner's number)
    name: str       # normal | extreme | ultra | entry


@dataclass
class ChartData:
    coin: str
    period: str
    mode: str                           # the ledger the marks come from: paper | live
    ts: list[int]                       # bar close times (ms UTC), the live point last
    premium: list[float]                # mid premium %, same length
    mean: float | None                  # of the z window now
    std: float | None                   # population σ of the z window now
    window_days: float
    ready: bool                         # the strategy's z is defined (window full enough, not flat)
    z: float | None                     # of the last point
    tiers: list[Tier] = field(default_factory=list)
    marks: list[dict[str, Any]] = field(default_factory=list)      # {"ts", "premium", "kind", "trade_id"}
    open_entries: list[float] = field(default_factory=list)        # entry premium of each open position
    covered_ms: int = 0                 # the span of history shown

    def bands(self) -> list[dict[str, Any]]:
        """Premium levels of the tiers: ``mean ± k·σ`` (upper and lower)."""
        if self.mean is None or not self.std:
            return []
        out = []
        for i, t in enumerate(self.tiers):
            for side in (1, -1):
                out.append({"k": t.k, "side": side, "tier": t.name, "tier_index": i,
                            "level": self.mean + side * t.k * self.std})
        return out

    @property
    def short(self) -> bool:
        """Fewer bars than the period asked for (two bars' tolerance: the window's edges)."""
        bar = (self.ts[1] - self.ts[0]) if len(self.ts) > 1 else 0
        return self.covered_ms + 2 * bar < PERIODS[self.period] * DAY_MS


def owner_tiers(bot: "Bot") -> list[Tier]:
    """The |z| levels the owner's strategy acts at, read from the strategy file's numbers."""
    sp = bot.owner.strategy
    if sp.strategy == "optimized":
        return [Tier(float(sp.normal_z), "normal"), Tier(float(sp.extreme_z), "extreme"),
                Tier(float(sp.ultra_z), "ultra")]
    return [Tier(float(sp.entry_threshold), "entry")]


def parse_args(args: list[str], symbols: list[str]) -> tuple[str, str] | i18n.Text:
    """``[COIN] [PERIOD]`` in either order (Discord sends both as options): the coin and the
    period, or the refusal to show."""
    coin, period = None, None
    if len(args) > 2:
        return m.BAD_ARGS()
    for a in args:
        low = a.lower()
        if low in PERIODS and period is None:
            period = low
        elif coin is None and not low[:1].isdigit():
            coin = a.upper()
            if coin not in symbols:
                return m.BAD_SYMBOL(coin=coin, coins=", ".join(symbols))
        elif period is None:
            return m.BAD_PERIOD(period=a, periods=", ".join(PERIODS))
        else:
            return m.BAD_ARGS()
    return coin or symbols[0], period or DEFAULT_PERIOD


def _window_bars(bot: "Bot", coin: str, now: int) -> tuple[list[int], list[float], int]:
    """(bar close times, closes, bar length ms) of the coin's z window, oldest first: the bars the
    market engine fed the strategy, still inside the window's span at ``now``."""
    strat = bot.strategy
    if strat is None:
        return [], [], 0
    bar_ms = int(strat.bar_minutes) * 60_000
    st = strat.stats(coin)
    # RollingStats keeps the window's bars and their grid slots (open time // bar length); read,
    # not advanced: drawing must not change what the strategy sees
    slots, closes = list(st._ts), list(st._buf)
    lo = now // bar_ms - st.window
    keep = [(s, c) for s, c in zip(slots, closes) if s >= lo]
    return [(s + 1) * bar_ms for s, _ in keep], [c for _, c in keep], bar_ms


def _mean_std(xs: list[float]) -> tuple[float | None, float | None]:
    """Mean and population σ (ddof 0, the strategy's statistic), two-pass."""
    if len(xs) < 2:
        return None, None
    mean = math.fsum(xs) / len(xs)
    return mean, math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / len(xs))


def _fill_premium(store: Any, trade: dict[str, Any]) -> float | None:
    """The premium a trade filled at: its legs' average prices and the FX it used."""
    fx = trade.get("fx")
    try:
        legs = {e.leg: e for e in store.journal_for_trade(trade["id"]) if e.avg_price and e.filled_qty > 0}
    except Exception:  # an old record or a store being recovered: the signal's premium will do
        return None
    u, b = legs.get("U"), legs.get("B")
    if u is None or b is None or not fx:
        return None
    return (float(u.avg_price) / (float(b.avg_price) * float(fx)) - 1.0) * 100.0


def trade_marks(store: Any, coin: str, t0: int, t1: int) -> list[dict[str, Any]]:
    """Entries (enter/add) and exits of ``coin`` that filled between ``t0`` and ``t1``, oldest first."""
    if store is None:
        return []
    out = []
    for t in store.trades():
        if t.get("symbol") != coin or t.get("status") not in MARKED_STATUSES:
            continue
        if t.get("action") not in ("enter", "add", "exit"):
            continue
        ts = int(t.get("closed_ms") or t.get("created_ms") or 0)
        if not (t0 <= ts <= t1):
            continue
        prem = _fill_premium(store, t)
        if prem is None:
            prem = t.get("expected_premium_pct")
        if prem is None:
            continue
        out.append({"ts": ts, "premium": float(prem), "kind": "exit" if t["action"] == "exit" else "entry",
                    "trade_id": str(t["id"])})
    return sorted(out, key=lambda x: x["ts"])


def chart_data(bot: "Bot", coin: str, period: str = DEFAULT_PERIOD) -> ChartData:
    now = bot.clock.now_ms()
    t0 = now - PERIODS[period] * DAY_MS
    wts, wcl, _bar_ms = _window_bars(bot, coin, now)
    mean, std = _mean_std(wcl)
    ts = [t for t in wts if t >= t0]
    prem = wcl[len(wcl) - len(ts):]
    snap = bot.market.views[coin].snapshot
    if snap is not None and snap.mid is not None and (not ts or now > ts[-1]):
        ts.append(now)
        prem.append(float(snap.mid))
    strat = bot.strategy
    ready = bool(strat is not None and strat.stats(coin).ready and std and std > 1e-9)
    z = (prem[-1] - mean) / std if ready and prem and mean is not None and std else None
    store = bot.store
    opens = [float(p["entry_premium_pct"]) for p in (store.open_positions() if store is not None else [])
             if p.get("symbol") == coin and p.get("entry_premium_pct") is not None]
    return ChartData(coin=coin, period=period, mode=bot.settings.mode, ts=ts, premium=prem, mean=mean, std=std,
                     window_days=float(bot.owner.strategy.window_days), ready=ready, z=z,
                     tiers=owner_tiers(bot), marks=trade_marks(store, coin, ts[0] if ts else t0, now),
                     open_entries=opens, covered_ms=(ts[-1] - ts[0]) if len(ts) > 1 else 0)


# ---- texts ---------------------------------------------------------------------------------

def _days(d: float) -> i18n.Text:
    return m.PERIOD(n=f"{d:g}")


def _z(z: float | None) -> str:
    return f"{z:+.2f}" if z is not None else "—"


def caption(d: ChartData, english_chart: bool = False) -> i18n.Text | str:
    """The message under the PNG, in the reader's language (a Text list joined at render)."""
    lines: list[Any] = [m.CAPTION_HEAD(coin=d.coin, period=_days(PERIODS[d.period])),
                        m.CAPTION_NOW(prem=pct(d.premium[-1] if d.premium else None), z=_z(d.z))]
    if d.tiers and d.mean is not None:
        lines.append(m.CAPTION_BANDS(window=_days(d.window_days), tiers=" ".join(f"±{t.k:g}" for t in d.tiers)))
    n_in = sum(1 for x in d.marks if x["kind"] == "entry")
    n_out = len(d.marks) - n_in
    if d.marks:
        lines.append(m.CAPTION_MARKS(entries=n_in, exits=n_out, mode=mode_word(d.mode)))
    for p in d.open_entries:
        lines.append(m.CAPTION_OPEN(prem=pct(p), mode=mode_word(d.mode)))
    if d.short:
        lines.append(m.CAPTION_SHORT(have=duration(d.covered_ms / 1000)))
    if not d.ready:
        lines.append(m.CAPTION_NOT_READY())
    if english_chart:
        lines.append(m.CAPTION_ENGLISH())
    return _Lines(lines)


@dataclass(frozen=True)
class _Lines:
    """Caption lines rendered late, like a Text."""
    parts: list[Any]

    def render(self, lang: str | None = None) -> str:
        return "\n".join(i18n.render(p, lang) for p in self.parts)

    def __str__(self) -> str:
        return self.render()


def labels(d: ChartData, lang: str) -> dict[str, Any]:
    """Everything drawn on the PNG as text, in ``lang``."""
    tier_word = {"normal": m.TIER_NORMAL, "extreme": m.TIER_EXTREME, "ultra": m.TIER_ULTRA, "entry": m.TIER_ENTRY}
    mode = mode_word(d.mode)
    with i18n.using(lang):
        return {
            "title": str(m.TITLE(coin=d.coin, period=_days(PERIODS[d.period]),
                                 prem=pct(d.premium[-1] if d.premium else None), z=_z(d.z))),
            "ylabel": str(m.Y_LABEL), "xlabel": str(m.X_LABEL), "premium": str(m.PREMIUM_LINE),
            "mean": str(m.MEAN_LINE(prem=pct(d.mean), window=_days(d.window_days))),
            "bands": [str(m.BAND(sign="+" if b["side"] > 0 else "−", k=f"{b['k']:g}", tier=tier_word[b["tier"]](),
                                 prem=pct(b["level"]))) for b in d.bands()],
            "open": [str(m.OPEN_LINE(prem=pct(p), mode=mode)) for p in d.open_entries],
            "entry": str(m.ENTRY_MARK(mode=mode)), "exit": str(m.EXIT_MARK(mode=mode)),
        }


def request(d: ChartData, lang: str) -> dict[str, Any]:
    """What the drawing process gets: numbers and ready-made labels, no kimpbot objects."""
    return {"ts": d.ts, "premium": [round(x, 5) for x in d.premium], "mean": d.mean, "bands": d.bands(),
            "marks": d.marks, "open": d.open_entries, "lang": lang, "labels": labels(d, lang),
            "labels_en": labels(d, "en")}


# ---- the drawing process -------------------------------------------------------------------

class ChartError(RuntimeError):
    pass


class ChartWorker:
    """One child process drawing charts (``python -m kimpbot.control.chart_draw``), started on
    demand, one request at a time, ended after ``idle_s`` without a chart. :meth:`draw` blocks
    (pipe I/O): call it through ``asyncio.to_thread``. Thread-safe; independent of event loops."""

    def __init__(self, idle_s: float = IDLE_S, timeout_s: float = TIMEOUT_S) -> None:
        self.idle_s = idle_s
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._idle: threading.Timer | None = None
        self.started = 0          # processes started (tests, the benchmark)
        self.last: dict[str, Any] = {}   # the last chart's meta (language, font, seconds drawing)

    @property
    def pid(self) -> int | None:
        p = self._proc
        return p.pid if p is not None and p.poll() is None else None

    def _ensure(self) -> subprocess.Popen[bytes]:
        p = self._proc
        if p is not None and p.poll() is None:
            return p
        # stderr inherited: the child writes there only when something is wrong (a traceback). Its
        # environment holds what Python, matplotlib and fontconfig read, never the bot's keys/tokens
        env = {k: v for k, v in os.environ.items() if k in CHILD_ENV or k.startswith(("LC_", "XDG_"))}
        self._proc = subprocess.Popen([sys.executable, "-m", "kimpbot.control.chart_draw"], env=env,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        self.started += 1
        log.info("chart process %d started", self._proc.pid)
        return self._proc

    def draw(self, req: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
        body = json.dumps(req, separators=(",", ":"), allow_nan=False).encode()
        with self._lock:
            if self._idle is not None:
                self._idle.cancel()
                self._idle = None
            try:
                reused = self.pid is not None
                try:
                    return self._ask(body)
                except ChartError as exc:
                    if not reused or exc.args[0].startswith("no answer"):
                        raise
                    # a process that died between charts (killed, out of memory): once more, fresh
                    log.warning("chart process lost (%s): starting a new one", exc)
                    return self._ask(body)
            finally:
                if self._proc is not None and self.idle_s >= 0:
                    self._idle = threading.Timer(self.idle_s, self.close)
                    self._idle.daemon = True
                    self._idle.start()

    def _ask(self, body: bytes) -> tuple[bytes, dict[str, Any]]:
        proc = self._ensure()
        # a hung child is killed: the reads below then end at EOF instead of waiting forever
        watchdog = threading.Timer(self.timeout_s, proc.kill)
        watchdog.daemon = True
        watchdog.start()
        try:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(len(body).to_bytes(4, "big") + body)
            proc.stdin.flush()
            status = proc.stdout.read(1)
            first = self._part(proc)
            if status == b"E":
                raise ChartError(first.decode(errors="replace"))
            if status != b"K":
                raise EOFError
            png = self._part(proc)
            self.last = json.loads(first)
            return png, self.last
        except (EOFError, OSError, ValueError) as exc:
            timed_out = watchdog.finished.is_set() and not watchdog.is_alive()
            self._stop_locked(kill=True)
            why = (f"no answer within {self.timeout_s:g} s" if timed_out
                   else f"drawing process ended ({type(exc).__name__}, exit {proc.returncode})")
            raise ChartError(why) from None
        finally:
            watchdog.cancel()

    @staticmethod
    def _part(proc: subprocess.Popen[bytes]) -> bytes:
        assert proc.stdout is not None
        hdr = proc.stdout.read(4)
        if len(hdr) < 4:
            raise EOFError
        n = int.from_bytes(hdr, "big")
        data = proc.stdout.read(n)
        if len(data) < n:
            raise EOFError
        return data

    def close(self) -> None:
        """End the drawing process (idle, or the bot stopping); the next chart starts a new one."""
        with self._lock:
            self._stop_locked(kill=False)

    def _stop_locked(self, kill: bool) -> None:
        p, self._proc = self._proc, None
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if p is None:
            return
        try:
            if kill:
                p.kill()
            elif p.stdin is not None:
                p.stdin.close()   # EOF: the child returns from main()
            p.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            p.kill()
            p.wait(timeout=5)
        for f in (p.stdin, p.stdout):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass
        log.info("chart process %d ended", p.pid)


WORKER = ChartWorker()
atexit.register(WORKER.close)


async def make_chart(bot: "Bot", coin: str, period: str, worker: ChartWorker | None = None
                     ) -> tuple[ChartData, bytes | None, Any]:
    """(data, PNG or None, caption or refusal Text) for ``/chart``; the drawing runs off the loop."""
    import asyncio

    d = chart_data(bot, coin, period)
    if len(d.premium) < 2:
        return d, None, m.NO_HISTORY(coin=coin, n=len(d.premium))
    lang = i18n.lang()
    try:
        png, meta = await asyncio.to_thread((worker or WORKER).draw, request(d, lang))
    except ChartError as exc:
        log.error("chart %s %s not drawn: %s", coin, period, exc)
        return d, None, m.FAILED(why=str(exc))
    return d, png, caption(d, english_chart=meta.get("lang") != lang)


def as_dict(d: ChartData) -> dict[str, Any]:
    out = asdict(d)
    out["bands"] = d.bands()
    out["short"] = d.short
    return out
