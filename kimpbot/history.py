"""``kimpbot history``: download candles, funding and FX in the backtester's CSV format.

Writes into ``--out``:

* ``upbit_<SYM>.csv``   Upbit KRW-<SYM> candles  (GET /v1/candles/minutes/{unit}: ``market``,
  ``to`` = the exclusive end, ``count`` <= 200; newest first) — paged forward in windows of 200
* ``binance_<SYM>.csv`` Binance <SYM>USDT perpetual klines (GET /fapi/v1/klines: ``symbol``,
  ``interval``, ``startTime``, ``endTime`` (inclusive), ``limit`` <= 1500; oldest first)
* ``funding_<SYM>.csv`` ``timestamp,rate``: the perp's funding history (GET /fapi/v1/fundingRate:
  ``startTime``, ``endTime``, ``limit`` <= 1000; oldest first), which the backtester books
  instead of its constant rate
* ``fx.csv``            ``timestamp,close``: Upbit KRW-USDT candle closes, stamped at the candle's
  END (when the rate became known, as the backtester requires). The bank USD/KRW rate has no
  history endpoint among kimpbot's sources, so it is not downloaded (the note says so).

Candle files are ``timestamp,open,high,low,close,volume`` with ``timestamp`` the open time in ms
UTC. Every request is paced under the venue's published limits (Upbit candles: 10 requests a
second per IP; Binance: 2,400 request weight a minute, klines with limit 1000 weigh 5, and
fundingRate shares 500 requests per 5 minutes), 429/418 answers are waited out (Retry-After),
and network errors and 5xx answers are retried with back-off.

Resumable: each page is appended and flushed as it arrives. Run the same command again and
every file continues after its last complete row (a half-written last line is cut off), so an
interrupted download ends with no gap and no duplicate.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable

import aiohttp

log = logging.getLogger(__name__)

INTERVALS = {"1m": 1, "5m": 5, "1h": 60}
CANDLE_HEADER = "timestamp,open,high,low,close,volume\n"
FX_HEADER = "timestamp,close\n"
FUNDING_HEADER = "timestamp,rate\n"
UPBIT_PAGE = 200
BINANCE_PAGE = 1000  # weight 5 (limit 500..1000), 2,400 weight a minute
FUNDING_PAGE = 1000


class HistoryError(RuntimeError):
    """The download cannot go on; the message names the venue, the request and what to do."""


@dataclass
class Pace:
    """At most ``per_s`` requests a second (a venue's published limit, with a margin)."""

    per_s: float
    _next: float = 0.0

    async def wait(self) -> None:
        now = time.monotonic()
        if self._next > now:
            await asyncio.sleep(self._next - now)
        self._next = max(now, self._next) + 1.0 / self.per_s


@dataclass
class Stream:
    """One output file and how to fill it."""

    path: Path
    header: str
    step_ms: int  # spacing of rows (funding: 1 ms, i.e. 'after the last one')
    fetch: Callable[[int, int], Awaitable[list[list[Any]]]]  # (from_ms, to_ms) -> rows, oldest first
    page_ms: int  # time one request covers at most
    stamp_offset_ms: int = 0  # written timestamp = row time + this (fx: stamped at the candle's end)
    rows_done: int = 0
    expected: int = 0
    label: str = ""
    fmt: Callable[[list[Any]], str] = field(default=lambda r: ",".join(str(x) for x in r))


def _iso_z(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def resume_point(path: Path, header: str) -> int | None:
    """Row time (ms) of the last complete row, or None for a new file. A half-written last line
    is cut off; a file with another header is refused (not ours to extend)."""
    if not path.exists():
        return None
    with open(path, "rb+") as fh:
        data = fh.read()
        if not data:
            return None
        if not data.startswith(header.encode()):
            raise HistoryError(f"{path}: not a file kimpbot history wrote (header {data[:60]!r}); move it away or "
                               f"choose another --out")
        end = data.rfind(b"\n")
        if end + 1 != len(data):  # interrupted mid-line: drop the partial row
            fh.truncate(end + 1)
            data = data[: end + 1]
        last = data[:-1].rsplit(b"\n", 1)[-1] if data.count(b"\n") > 1 else b""
    if not last:
        return None
    return int(last.split(b",", 1)[0])


class Client:
    """The venues' public REST endpoints, paced, with retries."""

    def __init__(self, session: aiohttp.ClientSession, upbit_url: str, binance_url: str, *,
                 upbit_per_s: float = 8.0, binance_per_s: float = 5.0, funding_per_s: float = 1.5,
                 retries: int = 6, backoff_s: float = 1.0, max_wait_s: float = 300.0) -> None:
        self.s = session
        self.max_wait_s = max_wait_s
        self.upbit_url = upbit_url.rstrip("/")
        self.binance_url = binance_url.rstrip("/")
        self.paces = {"upbit": Pace(upbit_per_s), "binance": Pace(binance_per_s), "funding": Pace(funding_per_s)}
        self.retries = retries
        self.backoff_s = backoff_s
        self.requests = 0

    async def get(self, pace: str, url: str, params: dict[str, Any]) -> Any:
        delay = self.backoff_s
        for attempt in range(self.retries + 1):
            await self.paces[pace].wait()
            self.requests += 1
            try:
                async with self.s.get(url, params=params, timeout=aiohttp.ClientTimeout(total=30)) as r:
                    body = await r.text()
                    if r.status == 200:
                        return json.loads(body)
                    if r.status in (418, 429) or r.status >= 500:
                        wait = min(float(r.headers.get("Retry-After") or delay), self.max_wait_s)
                        log.warning("%s %s: HTTP %d, retrying in %.1f s", url, params, r.status, wait)
                        if attempt < self.retries:
                            await asyncio.sleep(wait)
                            delay = min(delay * 2, 60.0)
                            continue
                    raise HistoryError(f"GET {url} {params}: HTTP {r.status}: {body[:300]}")
            except (aiohttp.ClientError, asyncio.TimeoutError, json.JSONDecodeError) as exc:
                if attempt >= self.retries:
                    raise HistoryError(f"GET {url} {params}: {type(exc).__name__}: {exc} (after "
                                       f"{self.retries} retries; run the same command again to resume)") from None
                log.warning("%s: %s, retrying in %.1f s", url, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)
        raise HistoryError(f"GET {url}: no answer")  # pragma: no cover

    async def upbit_candles(self, market: str, minutes: int, from_ms: int, to_ms: int) -> list[list[Any]]:
        step = minutes * 60_000
        count = max(1, min(UPBIT_PAGE, -(-(to_ms - from_ms) // step)))
        end = min(to_ms, from_ms + count * step)
        rows = await self.get("upbit", f"{self.upbit_url}/v1/candles/minutes/{minutes}",
                              {"market": market, "to": _iso_z(end), "count": count})
        out = []
        for c in rows:
            t = int(datetime.fromisoformat(c["candle_date_time_utc"]).replace(tzinfo=timezone.utc).timestamp() * 1000)
            if from_ms <= t < end:
                out.append([t, c["opening_price"], c["high_price"], c["low_price"], c["trade_price"],
                            c["candle_acc_trade_volume"]])
        out.sort(key=lambda r: r[0])
        return out

    async def binance_klines(self, symbol: str, minutes: int, from_ms: int, to_ms: int) -> list[list[Any]]:
        iv = {1: "1m", 5: "5m", 60: "1h"}[minutes]
        rows = await self.get("binance", f"{self.binance_url}/fapi/v1/klines",
                              {"symbol": symbol, "interval": iv, "startTime": from_ms, "endTime": to_ms - 1,
                               "limit": BINANCE_PAGE})
        return [[int(k[0]), k[1], k[2], k[3], k[4], k[5]] for k in rows if from_ms <= int(k[0]) < to_ms]

    async def funding(self, symbol: str, from_ms: int, to_ms: int) -> list[list[Any]]:
        rows = await self.get("funding", f"{self.binance_url}/fapi/v1/fundingRate",
                              {"symbol": symbol, "startTime": from_ms, "endTime": to_ms - 1, "limit": FUNDING_PAGE})
        return [[int(f["fundingTime"]), f["fundingRate"]] for f in rows if from_ms <= int(f["fundingTime"]) < to_ms]


async def fill_stream(st: Stream, start_ms: int, end_ms: int, on_rows: Callable[[], None]) -> None:
    """Append ``st``'s rows in [start, end) after what the file already holds."""
    last = resume_point(st.path, st.header)
    if last is None:
        with open(st.path, "w", encoding="utf-8") as fh:
            fh.write(st.header)
        cursor = start_ms
    else:
        cursor = max(start_ms, last - st.stamp_offset_ms + st.step_ms)
        st.rows_done = max(0, sum(1 for _ in open(st.path, "rb")) - 1)
    with open(st.path, "a", encoding="utf-8") as fh:
        while cursor < end_ms:
            page_end = min(end_ms, cursor + st.page_ms)
            rows = await st.fetch(cursor, page_end)
            rows = [r for r in rows if r[0] >= cursor]
            if rows:
                fh.write("".join(st.fmt([r[0] + st.stamp_offset_ms] + list(r[1:])) + "\n" for r in rows))
                fh.flush()
                st.rows_done += len(rows)
                cursor = int(rows[-1][0]) + st.step_ms
            else:
                cursor = page_end  # no data in this window (a quiet market or before listing): skip it
            on_rows()


class Bar:
    def __init__(self, streams: list[Stream], enabled: bool) -> None:
        self.streams = streams
        self.enabled = enabled
        self.t = 0.0

    def __call__(self, final: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.t < 0.2 and not final:
            return
        self.t = now
        total = sum(max(s.expected, s.rows_done) for s in self.streams) or 1
        done = sum(s.rows_done for s in self.streams)
        frac = min(1.0, done / total)
        fill = int(frac * 30)
        sys.stderr.write(f"\r[{'#' * fill}{'.' * (30 - fill)}] {frac * 100:5.1f}% {done:,}/{total:,} rows   ")
        if final:
            sys.stderr.write("\n")
        sys.stderr.flush()


async def download(out: Path, symbols: list[str], start_ms: int, end_ms: int, interval: str, upbit_url: str,
                   binance_url: str, *, progress: bool = False, paces: dict[str, float] | None = None,
                   retries: int = 6, backoff_s: float = 1.0, max_wait_s: float = 300.0) -> dict[str, Any]:
    """Fill ``out`` with every stream; returns a summary (rows per file, requests)."""
    if interval not in INTERVALS:
        raise HistoryError(f"--interval {interval!r}: one of {', '.join(INTERVALS)}")
    if end_ms <= start_ms:
        raise HistoryError("--to must be after --from")
    minutes = INTERVALS[interval]
    step = minutes * 60_000
    start_ms = start_ms // step * step
    end_ms = -(-end_ms // step) * step
    out.mkdir(parents=True, exist_ok=True)
    p = paces or {}
    async with aiohttp.ClientSession() as session:
        cl = Client(session, upbit_url, binance_url, upbit_per_s=p.get("upbit", 8.0),
                    binance_per_s=p.get("binance", 5.0), funding_per_s=p.get("funding", 1.5), retries=retries,
                    backoff_s=backoff_s, max_wait_s=max_wait_s)
        n_rows = (end_ms - start_ms) // step
        streams: list[Stream] = [
            Stream(out / "fx.csv", FX_HEADER, step, lambda a, b: cl.upbit_candles("KRW-USDT", minutes, a, b),
                   UPBIT_PAGE * step, stamp_offset_ms=step, expected=n_rows, label="fx",
                   fmt=lambda r: f"{r[0]},{r[4]}")]
        for sym in symbols:
            streams.append(Stream(out / f"upbit_{sym}.csv", CANDLE_HEADER, step,
                                  lambda a, b, s=sym: cl.upbit_candles(f"KRW-{s}", minutes, a, b), UPBIT_PAGE * step,
                                  expected=n_rows, label=f"upbit {sym}"))
            streams.append(Stream(out / f"binance_{sym}.csv", CANDLE_HEADER, step,
                                  lambda a, b, s=sym: cl.binance_klines(f"{s}USDT", minutes, a, b),
                                  BINANCE_PAGE * step, expected=n_rows, label=f"binance {sym}"))
            streams.append(Stream(out / f"funding_{sym}.csv", FUNDING_HEADER, 1,
                                  lambda a, b, s=sym: cl.funding(f"{s}USDT", a, b), 10**13,
                                  expected=(end_ms - start_ms) // (8 * 3_600_000), label=f"funding {sym}"))
        bar = Bar(streams, progress)
        # one task per stream: each venue's pace is shared, so they interleave within the limits
        tasks = [asyncio.ensure_future(fill_stream(s, start_ms, end_ms, bar)) for s in streams]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:  # one stream failed: stop the others cleanly (what they wrote stays, resumable)
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        bar(final=True)
        summary = {"out": str(out), "from": _iso_z(start_ms), "to": _iso_z(end_ms), "interval": interval,
                   "requests": cl.requests, "files": {s.path.name: s.rows_done for s in streams},
                   "notes": ["fx.csv is Upbit's KRW-USDT rate (the bank USD/KRW rate has no history source); "
                             "backtest with it as the usdt source"]}
        with open(out / "history.json", "w", encoding="utf-8") as fh:
            json.dump(summary, fh, indent=2)
        return summary


def add_arguments(p: Any) -> None:
    p.add_argument("--from", dest="date_from", required=True, metavar="DATE", help="start (ISO-8601 date/time, UTC)")
    p.add_argument("--to", dest="date_to", required=True, metavar="DATE",
                   help="end, exclusive (a date alone includes that whole day)")
    p.add_argument("--interval", default="1h", choices=tuple(INTERVALS), help="bar length (default 1h)")
    p.add_argument("--symbols", nargs="+", default=None, metavar="SYM",
                   help="coins (default: the strategy file's symbols)")
    p.add_argument("--out", required=True, metavar="DIR", help="directory to write (resumes what is there)")
    p.add_argument("--strategy-file", default=None, help="strategy.toml for the default symbols")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--upbit-per-s", type=float, default=8.0, help="Upbit requests per second (limit 10)")
    p.add_argument("--binance-per-s", type=float, default=5.0,
                   help="Binance kline requests per second (limit: 2,400 weight a minute, 5 per request)")
    p.add_argument("--funding-per-s", type=float, default=1.5, help="Binance fundingRate requests per second")


def run(args: Any) -> int:
    from kimpbot.backtest.cli import _to_ms
    from kimpbot.backtest.data import DataError, parse_time
    from kimpbot.config import DEFAULT_URLS
    from kimpbot.strategy_file.read import load_owner_config
    from kimpbot.strategy_file.declare import ConfigError

    try:
        start = parse_time(args.date_from)
        end = _to_ms(args.date_to)
        symbols = [s.upper() for s in args.symbols] if args.symbols else None
        if symbols is None:
            sf = Path(args.strategy_file or os.environ.get("KIMPBOT_STRATEGY_FILE", "strategy.toml")).expanduser()
            symbols = list(load_owner_config(sf).strategy.symbols)
        for pace in (args.upbit_per_s, args.binance_per_s, args.funding_per_s):
            if not pace > 0:
                raise HistoryError("request rates must be > 0 per second")
        upbit = os.environ.get("UPBIT_API_URL") or DEFAULT_URLS["UPBIT_API_URL"]
        binance = os.environ.get("BINANCE_FUTURES_API_URL") or DEFAULT_URLS["BINANCE_FUTURES_API_URL"]
        summary = asyncio.run(download(
            Path(args.out).expanduser(), symbols, start, end, args.interval, upbit, binance,
            progress=not args.no_progress and sys.stderr.isatty(),
            paces={"upbit": args.upbit_per_s, "binance": args.binance_per_s, "funding": args.funding_per_s}))
    except (HistoryError, DataError, ConfigError) as exc:
        print(f"history: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("history: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    for name, rows in summary["files"].items():
        print(f"{name}: {rows:,} rows")
    print(f"{summary['requests']} requests; written to {summary['out']} "
          f"({summary['from']} .. {summary['to']}, {summary['interval']})")
    for n in summary["notes"]:
        print(f"note: {n}")
    return 0
