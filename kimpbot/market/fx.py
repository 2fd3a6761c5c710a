"""FX: the live KRW rate the premium is converted at, and the guard that distrusts it.

Two sources (SPEC §1):
- ``usdkrw``: the bank USD/KRW rate as Korean premium sites quote it, from the
  dunamu quotation API ``GET /v1/forex/recent?codes=FRX.KRWUSD`` → ``[0].basePrice``.
- ``usdt``: Upbit's KRW-USDT price, the rate a trader actually converts at. It
  already holds part of the Korean premium, so it measures a different premium.

A wrong rate fakes a premium (a constant 1350 once made 0.56 % read as 3.4 %), so
signals stop when the rate in use is missing, stale by its source's own time, or
not confirmed by the other source: their ratio (the USDT "tether premium") must
stay within its own recent range (``FxGuard``). A bank market closed for the
weekend keeps trading while the USDT rate confirms its last quote.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp

from kimpbot.clock import Clock
from kimpbot.models import BadMarketData, FxRate, valid_price

log = logging.getLogger(__name__)

KST = timezone(timedelta(hours=9))

FX_LABELS = {
    "usdkrw": "bank USD/KRW",
    "usdt": "Upbit KRW-USDT",
}

# Some clients of this unofficial endpoint send a browser User-Agent; harmless to send.
_HEADERS = {"User-Agent": "Mozilla/5.0 (kimpbot)", "Accept": "application/json"}


class BankFxClient:
    """Fetches the bank USD/KRW rate from the quotation API at ``base_url``."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession, clock: Clock, timeout_s: float = 5.0):
        self.url = f"{base_url}/v1/forex/recent"
        self.session = session
        self.clock = clock
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def fetch(self) -> FxRate:
        async with self.session.get(self.url, params={"codes": "FRX.KRWUSD"}, headers=_HEADERS,
                                    timeout=self.timeout) as resp:
            if resp.status != 200:
                raise BadMarketData(f"FX API answered HTTP {resp.status}")
            try:
                body = await resp.json(content_type=None)
            except ValueError:
                raise BadMarketData("FX API sent a body that is not JSON") from None
        return parse_bank_fx(body, self.clock.now_ms())


def _kst_ms(date: object, time_: object) -> int | None:
    """dunamu's ``date`` ("2024-01-05") + ``time`` ("15:30:12"), Korean time, as epoch ms."""
    if not isinstance(date, str) or not isinstance(time_, str):
        return None
    try:
        dt = datetime.strptime(f"{date} {time_}", "%Y-%m-%d %H:%M:%S").replace(tzinfo=KST)
    except ValueError:
        return None
    return int(dt.timestamp() * 1000)


def parse_bank_fx(body: object, received_ts: int) -> FxRate:
    if not isinstance(body, list) or not body or not isinstance(body[0], dict):
        raise BadMarketData(f"FX API: expected a non-empty JSON array, got {str(body)[:80]!r}")
    row = body[0]
    rate = valid_price(row.get("basePrice"), "FX basePrice")
    # Sanity band: KRW per USD has lived between ~700 and ~2000 for decades.
    if not 500.0 <= rate <= 5000.0:
        raise BadMarketData(f"FX basePrice {rate} is outside any plausible KRW/USD range")
    # The quote's own time, so a quote frozen at its source looks stale even while it keeps
    # arriving. ``date``/``time`` is the bank's notice time (KST); ``timestamp`` (ms) has been
    # seen later than it (when the row was stored), so the older of the two is the quote's age.
    ts = row.get("timestamp")
    stamps = [int(ts)] if isinstance(ts, (int, float)) and not isinstance(ts, bool) and ts > 0 else []
    kst = _kst_ms(row.get("date"), row.get("time"))
    if kst is not None:
        stamps.append(kst)
    if not stamps:
        raise BadMarketData("FX API row has neither timestamp nor date/time: its age cannot be told")
    return FxRate("usdkrw", rate, min(stamps), received_ts)


def when_kst(ms: int) -> str:
    """A source time as the owner reads it: ``Fri 15:30 KST``."""
    return datetime.fromtimestamp(ms / 1000, KST).strftime("%a %H:%M KST")


@dataclass(frozen=True)
class FxPolicy:
    """The [fx] numbers the guard applies (strategy-file keys, see kimpbot/strategy_file/keys.py)."""

    source: str = "usdkrw"
    max_age_s: float = 300.0  # arrival: no reading received for this long
    usdkrw_max_age_s: float = 900.0  # by the bank quote's own time
    usdt_max_age_s: float = 300.0  # by KRW-USDT's last trade time
    max_jump_pct: float = 1.0  # a move between two readings this big is announced
    max_divergence_pct: float = 5.0  # outer limit of the USDT/bank ratio, history or not
    window_h: float = 6.0
    band_mads: float = 5.0
    min_band_pct: float = 0.3
    max_band_pct: float = 1.0
    confirm_readings: int = 3
    weekend: str = "usdt_confirms"

    @classmethod
    def from_owner(cls, owner: Any) -> "FxPolicy":
        return cls(source=owner["fx.source"], max_age_s=owner["fx.max_age_s"],
                   usdkrw_max_age_s=owner["fx.usdkrw_max_age_s"], usdt_max_age_s=owner["fx.usdt_max_age_s"],
                   max_jump_pct=owner["fx.max_jump_pct"], max_divergence_pct=owner["fx.max_divergence_pct"],
                   window_h=owner["fx.ratio_window_h"], band_mads=owner["fx.ratio_band_mads"],
                   min_band_pct=owner["fx.ratio_min_band_pct"], max_band_pct=owner["fx.ratio_max_band_pct"],
                   confirm_readings=owner["fx.confirm_readings"], weekend=owner["fx.weekend"])


def retired_notes(owner: Any) -> list[str]:
    """Start-up notes for [fx] keys the owner set that no longer act."""
    pv = owner.params.values.get("fx.jump_hold_s")
    if pv is not None and pv.owner_set:
        return ["fx.jump_hold_s is no longer used and can be deleted: a rate that jumps now stays suspect "
                "until the other source confirms it (fx.ratio_* keys), however long that takes"]
    return []


@dataclass
class FxState:
    latest: FxRate | None = None
    previous: FxRate | None = None
    anchor: FxRate | None = None  # the reading last confirmed by the other source


@dataclass
class _Check:
    """One look at the USDT/bank ratio against its recent range."""

    ratio: float | None = None  # KRW-USDT / bank USD/KRW; None when the pair cannot be formed
    why_none: str = ""
    learning: bool = False
    center: float = 0.0
    half_pct: float = 0.0
    dev_pct: float = 0.0  # the ratio against the range's centre, percent
    in_band: bool = False
    moves: dict[str, float] = field(default_factory=dict)  # each source since its anchor, percent


class FxGuard:
    """Holds both rates and says whether the one in use can be trusted now.

    The two sources differ by the USDT "tether premium" (ratio KRW-USDT / bank USD/KRW), which
    moves slowly. Its recent history (``window_h`` hours of confirmed readings) gives a range:
    median ± max(min_band, band_mads × scaled MAD), capped at max_band. A reading that keeps
    the ratio inside the range is confirmed; one that moves it outside makes the source that
    moved (against its last confirmed value) suspect, and it stays suspect until the ratio is
    back inside — never on a timer. Readings outside the range never enter the history, so a
    wrong rate cannot become the reference by persisting.
    """

    def __init__(self, policy: FxPolicy, clock: Clock) -> None:
        if policy.source not in FX_LABELS:
            raise ValueError(f"fx source must be one of {', '.join(FX_LABELS)}, got {policy.source!r}")
        self.policy = policy
        self.source = policy.source
        self.other = "usdt" if policy.source == "usdkrw" else "usdkrw"
        self.clock = clock
        self.max_age_ms = int(policy.max_age_s * 1000)
        self.src_age_ms = {"usdkrw": int(policy.usdkrw_max_age_s * 1000),
                           "usdt": int(policy.usdt_max_age_s * 1000)}
        self.window_ms = int(policy.window_h * 3_600_000)
        self.states: dict[str, FxState] = {k: FxState() for k in FX_LABELS}
        # (ms, ratio, bank quoting): confirmed readings only
        self.history: deque[tuple[int, float, bool]] = deque(maxlen=20_000)
        self._band: tuple[float, float] | None = None  # (centre, half-width %), cached per history change
        self.suspect: str | None = None  # the source named suspect, until confirmed again
        self.suspect_text = ""
        self.restored = 0  # readings taken back from the previous run

    @property
    def label(self) -> str:
        return FX_LABELS[self.source]

    # ---- readings -------------------------------------------------------------------------

    def update(self, reading: FxRate) -> str | None:
        """Record a reading; returns a short message for the owner when something changed."""
        st = self.states[reading.source]
        if reading.source == "usdt" and st.latest is not None and reading.exchange_ts < st.latest.exchange_ts:
            return None  # older than what we hold (a slow REST answer after the websocket)
        notes: list[str] = []
        if st.latest is not None and st.latest.rate > 0:
            move = (reading.rate / st.latest.rate - 1.0) * 100.0
            if abs(move) > self.policy.max_jump_pct:
                notes.append(f"FX {FX_LABELS[reading.source]} jumped {move:+.2f}% ({st.latest.rate:,.2f} -> "
                             f"{reading.rate:,.2f}); trusted only once {FX_LABELS[_other(reading.source)]} "
                             "confirms it")
        st.previous, st.latest = st.latest, reading
        change = self._judge(reading)
        if change:  # suspect / confirmed again says it all: one short message
            return change
        return "; ".join(notes) or None

    def _judge(self, reading: FxRate) -> str | None:
        """Confirm or suspect after a reading; history grows by one sample per bank reading."""
        now = self.clock.now_ms()
        chk = self._check(now)
        if chk.ratio is None:
            return None
        before = self.suspect
        sample = reading.source == "usdkrw"
        # A closed bank market's frozen quote is judged against the history, never added to it:
        # USDT drifting against a quote that cannot move would drag the reference along, and the
        # bank's first real quote after the weekend would then look wrong.
        quoting = not self._src_stale("usdkrw", now)
        if sample and quoting and self.history and not any(q for _, _, q in self.history):
            self.history.clear()  # learned from a closed market (started on a weekend): learn again
            self._band = None
            chk = self._check(now)
        if chk.learning:
            if sample and abs(chk.ratio - 1.0) * 100.0 <= self.policy.max_divergence_pct:
                # First readings: keep the ratio only while it holds still (within the min band).
                if self.history and abs(chk.ratio / self.history[-1][1] - 1.0) * 100.0 > self.policy.min_band_pct:
                    self.history.clear()
                self._add(now, chk.ratio, quoting)
                if len(self.history) >= self.policy.confirm_readings:
                    self._confirm()
            return None
        # Once suspect, confirmation needs the ratio well inside (80 % of the range): a ratio
        # wobbling on the edge must not flap suspect/confirmed in the chat.
        if chk.in_band and (before is None or abs(chk.dev_pct) <= 0.8 * chk.half_pct):
            self._confirm()
            if sample and quoting:
                self._add(now, chk.ratio, quoting)
            self.suspect, self.suspect_text = None, ""
            if before is not None:
                return (f"FX {FX_LABELS[before]} confirmed again by {FX_LABELS[_other(before)]} "
                        f"(USDT/bank {self._pp(chk.ratio)})")
            return None
        if chk.in_band:
            return None  # back near the edge of the range: still suspect, not yet confirmed
        name = max(chk.moves, key=lambda k: abs(chk.moves[k])) if chk.moves else reading.source
        self.suspect = name
        mv = chk.moves.get(name, 0.0)
        self.suspect_text = (f"{mv:+.2f}% since confirmed, {FX_LABELS[_other(name)]} did not follow "
                             f"(USDT/bank {self._pp(chk.ratio)}, recent {self._pp(chk.center)} "
                             f"±{chk.half_pct:.2f})")
        if before != name:
            return f"FX {FX_LABELS[name]} suspect: {self.suspect_text}"
        return None

    def _pp(self, ratio: float) -> str:
        return f"{(ratio - 1.0) * 100.0:+.2f}%"

    def _add(self, now: int, ratio: float, quoting: bool) -> None:
        self.history.append((now, ratio, quoting))
        # Forget what left the window, but never the last few confirmed readings: without a
        # new confirmation the old reference stands (no trust by waiting).
        keep = max(1, self.policy.confirm_readings)
        while len(self.history) > keep and now - self.history[0][0] > self.window_ms:
            self.history.popleft()
        self._band = None

    def _confirm(self) -> None:
        for st in self.states.values():
            st.anchor = st.latest

    # ---- judgement ------------------------------------------------------------------------

    def _src_stale(self, name: str, now: int) -> bool:
        r = self.states[name].latest
        return r is None or now - r.exchange_ts > self.src_age_ms[name]

    def _usable(self, name: str, now: int) -> str:
        """Why ``name`` cannot take part in the ratio now ("" when it can)."""
        r = self.states[name].latest
        if r is None:
            return "no reading yet"
        if now - r.received_ts > self.max_age_ms:
            return f"no reading for {(now - r.received_ts) / 1000:.0f} s"
        # A closed bank market (weekend, holiday) keeps its last quote: still a fair reference
        # when the owner's policy allows it. A stale USDT trade is never one (it trades 24/7).
        if self._src_stale(name, now) and not (name == "usdkrw" and self.policy.weekend == "usdt_confirms"):
            return f"quoted {when_kst(r.exchange_ts)}"
        return ""

    def band(self) -> tuple[float, float] | None:
        """(centre ratio, half-width %) of the recent range; None while learning."""
        if len(self.history) < self.policy.confirm_readings:
            return None
        if self._band is None:
            vals = [r for _, r, _ in self.history]
            c = statistics.median(vals)
            mad = statistics.median(abs(v - c) for v in vals) * 1.4826
            half = self.policy.band_mads * mad / c * 100.0
            self._band = (c, min(max(half, self.policy.min_band_pct), self.policy.max_band_pct))
        return self._band

    def _check(self, now: int) -> _Check:
        bank, usdt = self.states["usdkrw"].latest, self.states["usdt"].latest
        for name in ("usdkrw", "usdt"):
            why = self._usable(name, now)
            if why:
                return _Check(why_none=f"{FX_LABELS[name]} {why}")
        assert bank is not None and usdt is not None
        ratio = usdt.rate / bank.rate
        band = self.band()
        if band is None:
            return _Check(ratio=ratio, learning=True)
        center, half = band
        dev = (ratio / center - 1.0) * 100.0
        inside = abs(dev) <= half and abs(ratio - 1.0) * 100.0 <= self.policy.max_divergence_pct
        moves = {}
        for name, st in self.states.items():
            if st.anchor is not None and st.latest is not None:
                moves[name] = (st.latest.rate / st.anchor.rate - 1.0) * 100.0
        return _Check(ratio=ratio, center=center, half_pct=half, dev_pct=dev, in_band=inside, moves=moves)

    def rate(self) -> FxRate | None:
        return self.states[self.source].latest

    def divergence_pct(self) -> float | None:
        """KRW-USDT against the bank rate, in percent; None unless both readings have arrived lately."""
        bank = self.states["usdkrw"].latest
        usdt = self.states["usdt"].latest
        if bank is None or usdt is None:
            return None
        now = self.clock.now_ms()
        if now - bank.received_ts > self.max_age_ms or now - usdt.received_ts > self.max_age_ms:
            return None
        return (usdt.rate / bank.rate - 1.0) * 100.0

    def assess(self) -> tuple[list[str], str]:
        """(problems, note): why the rate in use cannot be trusted now (empty when it can), and
        what the owner should know although trading goes on (a closed bank market, say)."""
        now = self.clock.now_ms()
        pol = self.policy
        u, o = self.source, self.other
        L, OL = FX_LABELS[u], FX_LABELS[o]
        cur = self.states[u].latest
        if cur is None:
            return [f"FX {L} rate missing: no reading yet"], ""
        age = now - cur.received_ts
        if age > self.max_age_ms:
            return [f"FX {L} rate stale: last reading {age / 1000:.0f} s ago (fx.max_age_s {pol.max_age_s:g})"], ""
        closed = self._src_stale(u, now)
        key = f"fx.{u}_max_age_s"
        if closed and not (u == "usdkrw" and pol.weekend == "usdt_confirms"):
            return [f"FX {L} stale at source: quoted {when_kst(cur.exchange_ts)}, "
                    f"{(now - cur.exchange_ts) / 1000:.0f} s ago ({key} {self.src_age_ms[u] / 1000:g})"], ""
        chk = self._check(now)
        div = self.divergence_pct()
        if div is not None and math.isfinite(div) and abs(div) > pol.max_divergence_pct:
            return [f"FX sources diverge: Upbit KRW-USDT is {div:+.2f}% from bank USD/KRW "
                    f"(fx.max_divergence_pct {pol.max_divergence_pct:g})"], ""
        if self.suspect == u:  # sticky: only a confirming reading clears it, never time
            return [f"FX {L} suspect: {self.suspect_text}"], ""
        if chk.ratio is None:
            if closed:
                return [f"FX {L} stale at source: quoted {when_kst(cur.exchange_ts)} and {OL} cannot confirm it "
                        f"({chk.why_none})"], ""
            anchor = self.states[u].anchor
            if anchor is None:
                return [f"FX {L} unconfirmed: {chk.why_none}"], ""
            mv = (cur.rate / anchor.rate - 1.0) * 100.0
            if abs(mv) > pol.min_band_pct:
                return [f"FX {L} unconfirmed: moved {mv:+.2f}% since confirmed; {chk.why_none}"], ""
            return [], f"{OL} unavailable ({chk.why_none}); {L} unchanged since confirmed"
        if chk.learning or len(self.history) < pol.confirm_readings:
            return [f"FX check learning: {len(self.history)}/{pol.confirm_readings} steady readings of "
                    f"USDT/bank (fx.confirm_readings)"], ""
        if not chk.in_band:
            if closed:
                return [f"FX {L} unconfirmed: quoted {when_kst(cur.exchange_ts)}, USDT/bank {self._pp(chk.ratio)} "
                        f"outside recent {self._pp(chk.center)} ±{chk.half_pct:.2f}"], ""
            mv = chk.moves.get(u, 0.0)
            if abs(mv) > pol.min_band_pct:
                return [f"FX {L} suspect: {mv:+.2f}% since confirmed, not confirmed by {OL}"], ""
            return [], f"{OL} suspect ({self.suspect_text or 'unconfirmed move'}); {L} unchanged, still in use"
        if closed:
            return [], f"bank rate from {when_kst(cur.exchange_ts)}, confirmed by USDT"
        return [], ""

    # ---- across restarts ------------------------------------------------------------------

    def to_doc(self) -> dict[str, Any]:
        """The confirmed ratio history and the last confirmed rates, for the next start."""
        return {"version": 1, "saved_ms": self.clock.now_ms(),
                "anchors": {k: st.anchor.rate for k, st in self.states.items() if st.anchor is not None},
                "history": [[ms, r, q] for ms, r, q in self.history]}

    def restore(self, doc: Any) -> int:
        """Take back what a previous run confirmed and what is still inside the window, so a
        restart judges its first readings at once instead of learning them. Returns how many
        readings were restored (0: too few or too old, learning as on a first start); raises
        ValueError/TypeError/KeyError for a document that is not one ``to_doc`` wrote."""
        if not isinstance(doc, dict) or doc.get("version") != 1:
            raise ValueError("not a kimpbot FX ratio history (version 1)")
        now = self.clock.now_ms()
        saved = int(doc["saved_ms"])
        rows: list[tuple[int, float, bool]] = []
        for ms, r, q in doc["history"]:
            ms, r = int(ms), float(r)
            if not (math.isfinite(r) and 0.5 < r < 2.0):
                raise ValueError(f"implausible USDT/bank ratio {r!r}")
            if 0 <= now - ms <= self.window_ms:
                rows.append((ms, r, bool(q)))
        if len(rows) < self.policy.confirm_readings:
            return 0
        self.history.clear()
        self.history.extend(rows)
        self._band = None
        for name, rate in dict(doc.get("anchors") or {}).items():
            if name in self.states and isinstance(rate, (int, float)) and rate > 0:
                self.states[name].anchor = FxRate(name, float(rate), saved, saved)
        self.restored = len(rows)
        return len(rows)

    def start_note(self) -> str:
        """What the FX check does in the first minutes, for the start banner."""
        if self.restored:
            age = (self.clock.now_ms() - self.history[0][0]) / 60_000
            return (f"FX check: {self.restored} confirmed USDT/bank readings of the last {age:.0f} min restored; "
                    "the first readings are judged against them")
        return (f"FX check: no recent USDT/bank history; signals wait for {self.policy.confirm_readings} steady "
                "bank readings (fx.confirm_readings)")

    def problems(self) -> list[str]:
        """Why the rate in use cannot be trusted right now (empty when it can)."""
        return self.assess()[0]

    def note(self) -> str:
        """What the owner should know about FX although trading goes on ("" when nothing)."""
        return self.assess()[1]


def _other(source: str) -> str:
    return "usdt" if source == "usdkrw" else "usdkrw"
