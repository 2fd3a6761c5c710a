"""Rolling mean and standard deviation of the premium over the z window.

Two implementations of the same statistic, kept side by side so tests can pin
them to each other and to numpy:

* :class:`RollingStats` — the live one: O(1) per push (sliding Welford update),
  with an exact two-pass recompute (``math.fsum``) every ``window`` pushes so
  rounding error cannot accumulate over months of bars (amortised O(1)).
* :func:`rolling_mean_std` — the backtester's vectorised one: window sums from
  per-block prefix and suffix sums (van Herk / Gil-Werman), so every window sum
  adds at most ``window`` terms and there is no drift however long the series.
  Causal: the value at bar ``i`` reads only bars ``<= i``.

The standard deviation is the **population** one (ddof = 0), as numpy's
``np.std`` default. A window is ``ready`` only when it holds ``window`` bars
(the full 20-day span); z is undefined (None/NaN) before that, and when the
window's std is below :data:`MIN_STD` (a flat series has no z).
"""

from __future__ import annotations

import bisect
import math
from collections import deque

import numpy as np

MIN_STD = 1e-9  # percent points: below this the window is flat and z is undefined
# variance below this fraction of the values' mean square is computed exactly (two-pass), not by
# the O(1) update: real premium windows are far above it (std ~0.1-1 pp at levels of a few %)
NEAR_FLAT = 1e-8
# ... and so is any window whose variance is below this (std < 1e-6 pp): around a mean of 0 the
# relative test above cannot see the update's residue (a window of 0.0s kept std 1e-8)
ABS_FLAT = 1e-12


class RollingStats:
    """Mean/std of the bars in the z window, O(1) amortised per bar, no float drift.

    With ``bar_ms`` the window is a span of TIME: ``window`` bar slots of
    ``bar_ms`` on the UTC grid, ending at the last bar boundary reached (by a
    pushed bar's close or by :meth:`advance`). Bars older than the span leave it
    whether or not newer bars arrived, so a gap (an outage, missing history)
    shrinks the window instead of stretching it back in time. A bar may come
    late (history pushed after the first live bar): it takes its place in time.
    It is ``ready`` once history reaches back over the whole span (the oldest
    bar seen, or where warm-up history was asked from: :meth:`history_from`) and
    at least ``min_fill`` of its bars exist. Without ``bar_ms`` it counts the
    last ``window`` values.
    """

    __slots__ = ("window", "bar_ms", "need", "_buf", "_ts", "_mean", "_m2", "_since_exact", "_slot_end",
                 "_first_slot")

    def __init__(self, window: int, bar_ms: int | None = None, min_fill: float = 1.0) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.window = int(window)
        self.bar_ms = int(bar_ms) if bar_ms else None
        self.need = self.window if self.bar_ms is None else window_need(self.window, min_fill)
        self._buf: deque[float] = deque(maxlen=None if self.bar_ms else self.window)
        self._ts: deque[int] = deque()
        self._mean = 0.0
        self._m2 = 0.0
        self._since_exact = 0
        self._slot_end: int | None = None  # slots < this are closed; the window is [end - window, end)
        self._first_slot: int | None = None

    def push(self, x: float, ts: int | None = None) -> None:
        """Add a closed bar (``ts``: its open time, needed in time mode)."""
        x = float(x)
        if not math.isfinite(x):
            raise ValueError(f"RollingStats.push: not a finite number: {x!r}")
        if self.bar_ms is not None:
            if ts is None:
                raise ValueError("RollingStats.push: a time window needs the bar's open time")
            self._push_slot(x, int(ts) // self.bar_ms)
            return
        buf = self._buf
        n = len(buf)
        if n < self.window:
            self._add(x)
            return
        old = buf[0]
        buf.append(x)  # drops ``old`` (maxlen)
        delta = x - old
        old_mean = self._mean
        self._mean = old_mean + delta / n
        self._m2 += delta * (x - self._mean + old - old_mean)
        self._after_update()

    def _push_slot(self, x: float, slot: int) -> None:
        # History reaches back to the oldest bar ever seen, whatever order bars came in: the
        # bot's first live bar can close while warm-up candles are still being fetched, and the
        # older history lands after it.
        if self._first_slot is None or slot < self._first_slot:
            self._first_slot = slot
        if self._slot_end is not None and slot < self._slot_end - self.window:
            return  # older than the span the clock already reached: it only proves history
        ts, buf = self._ts, self._buf
        if not ts or slot > ts[-1]:
            ts.append(slot)
            self._add(x)
            self._advance_slot(slot + 1)
            return
        # A bar at or before the newest slot goes in its place (a second bar in one slot, e.g.
        # a history candle for a slot a live bar already closed: the last one pushed counts).
        i = bisect.bisect_left(ts, slot)
        if ts[i] == slot:
            old = buf[i]
            del ts[i]
            del buf[i]
            self._remove(old)
        ts.insert(i, slot)
        self._add(x, i)

    def history_from(self, since_ms: int) -> None:
        """Time mode: history was asked for from ``since_ms`` (warm-up). The span counts as covered
        from there even when its first slots hold no bar (Upbit has no candle for a slot without a
        trade): missing bars are gaps, judged by ``min_fill``, not a later start of history."""
        if self.bar_ms is not None:
            slot = int(since_ms) // self.bar_ms
            if self._first_slot is None or slot < self._first_slot:
                self._first_slot = slot

    def advance(self, now_ms: int) -> None:
        """Time mode: the clock reached ``now_ms``; bars older than the span leave the window."""
        if self.bar_ms is not None:
            self._advance_slot(int(now_ms) // self.bar_ms)

    def _advance_slot(self, end: int) -> None:
        if self._slot_end is not None and end <= self._slot_end:
            return
        self._slot_end = end
        lo = end - self.window
        ts, buf = self._ts, self._buf
        removed = False
        while ts and ts[0] < lo:
            ts.popleft()
            self._remove(buf.popleft())
            removed = True
        if removed:
            self._after_update()

    def _remove(self, old: float) -> None:
        """Welford downdate for a value already taken out of the buffer."""
        n = len(self._buf)
        if n == 0:
            self._mean = self._m2 = 0.0
            return
        delta = old - self._mean
        self._mean -= delta / n
        self._m2 -= delta * (old - self._mean)

    def _add(self, x: float, at: int | None = None) -> None:
        """Welford update for ``x`` joining the window (appended, or inserted at ``at``: the
        statistics do not depend on the order)."""
        if at is None:
            self._buf.append(x)
        else:
            self._buf.insert(at, x)
        n = len(self._buf)
        delta = x - self._mean
        self._mean += delta / n
        self._m2 += delta * (x - self._mean)
        self._after_update()

    def _after_update(self) -> None:
        n = len(self._buf)
        self._since_exact += 1
        if (self._since_exact >= self.window or self._m2 < n * NEAR_FLAT * (self._mean * self._mean)
                or self._m2 < n * ABS_FLAT):
            # near-flat windows are where the update's cancellation error dominates the true
            # variance (a spike leaving a window of equal values left std 3e-7, not 0, and z huge)
            self._recompute()

    def _recompute(self) -> None:
        """Exact two-pass statistics of the buffer; resets accumulated rounding."""
        n = len(self._buf)
        self._since_exact = 0
        if n == 0:
            self._mean = self._m2 = 0.0
            return
        mean = math.fsum(self._buf) / n
        self._mean = mean
        self._m2 = math.fsum((v - mean) * (v - mean) for v in self._buf)

    @property
    def count(self) -> int:
        return len(self._buf)

    @property
    def covered(self) -> int:
        """Slots of the span that history reaches over (``window`` once it covers all of it)."""
        if self.bar_ms is None:
            return min(len(self._buf), self.window)
        if self._first_slot is None or self._slot_end is None:
            return 0
        return max(0, min(self.window, self._slot_end - self._first_slot))

    @property
    def ready(self) -> bool:
        return self.covered >= self.window and len(self._buf) >= self.need

    @property
    def mean(self) -> float:
        return self._mean if self._buf else math.nan

    @property
    def std(self) -> float:
        """Population standard deviation (ddof = 0)."""
        n = len(self._buf)
        if n == 0:
            return math.nan
        return math.sqrt(self._m2 / n) if self._m2 > 0.0 else 0.0

    def zscore(self, x: float) -> float | None:
        """``(x - mean) / std`` once the window is ready and not flat, else None."""
        if not self.ready:
            return None
        sd = self.std
        if not sd > MIN_STD:
            return None
        return (x - self._mean) / sd


def window_need(window: int, min_fill: float) -> int:
    """Bars a time window must hold to give a z: ``min_fill`` of its slots, at least 2."""
    return max(2, int(math.ceil(window * min_fill - 1e-9)))


def _window_sums(y: np.ndarray, w: int) -> np.ndarray:
    """Sums of ``y[i-w+1 : i+1]`` for ``i >= w-1`` (length ``n-w+1``), each of at most w terms."""
    n = y.shape[0]
    nb = -(-n // w)
    pad = np.zeros(nb * w, dtype=np.float64)
    pad[:n] = y
    blocks = pad.reshape(nb, w)
    prefix = np.cumsum(blocks, axis=1).ravel()
    suffix = np.cumsum(blocks[:, ::-1], axis=1)[:, ::-1].ravel()
    ends = np.arange(w - 1, n)
    starts = ends - (w - 1)
    out = prefix[ends].copy()
    split = (starts % w) != 0
    out[split] += suffix[starts[split]]
    # when the window is exactly one block prefix[end] already is its whole sum
    return out


def rolling_mean_std(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Causal rolling mean and population std; NaN until ``window`` values are in.

    Values are shifted by the first value (a causal constant) before summing to
    keep the sum of squares well conditioned.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    mean = np.full(n, np.nan)
    std = np.full(n, np.nan)
    if n < window or window < 1:
        return mean, std
    c = x[0]
    y = x - c
    s1 = _window_sums(y, window)
    s2 = _window_sums(y * y, window)
    m = s1 / window
    msq = s2 / window
    var = msq - m * m
    np.maximum(var, 0.0, out=var)
    for i in np.flatnonzero((var < NEAR_FLAT * msq) | (var < ABS_FLAT)):  # cancellation-prone: exact (rare)
        w = x[i: i + window]
        var[i] = float(np.mean((w - w.mean()) ** 2))
    mean[window - 1:] = m + c
    std[window - 1:] = np.sqrt(var)
    return mean, std


def rolling_mean_std_time(slots: np.ndarray, x: np.ndarray, window: int, min_fill: float
                          ) -> tuple[np.ndarray, np.ndarray, int]:
    """Time-window version of :func:`rolling_mean_std`: bars at grid ``slots`` (strictly
    increasing ints, bar open time // bar length), the window = the last ``window`` SLOTS.

    Returns (mean, std, first slot) indexed by slot - first slot: the statistics of the
    window ending at (and including) each slot; NaN until history covers the whole span
    (``window`` slots from the first bar) or while fewer than ``min_fill`` of the window's
    slots hold a bar. Missing bars are empty slots: they never stretch the window.
    """
    slots = np.asarray(slots, dtype=np.int64)
    x = np.asarray(x, dtype=np.float64)
    if slots.shape[0] == 0:
        return np.zeros(0), np.zeros(0), 0
    g0 = int(slots[0])
    G = int(slots[-1]) - g0 + 1
    mean = np.full(G, np.nan)
    std = np.full(G, np.nan)
    if G < window:
        return mean, std, g0
    idx = slots - g0
    if G == x.shape[0]:  # no gaps: the bar-count window is the time window
        m, s = rolling_mean_std(x, window)
        return m, s, g0
    c = x[0]
    y = np.zeros(G)
    y[idx] = x - c
    pres = np.zeros(G)
    pres[idx] = 1.0
    s1 = _window_sums(y, window)
    s2 = _window_sums(y * y, window)
    cnt = np.rint(_window_sums(pres, window))
    with np.errstate(invalid="ignore", divide="ignore"):
        m = s1 / cnt
        msq = s2 / cnt
        var = msq - m * m
    np.maximum(var, 0.0, out=var)
    ok = cnt >= window_need(window, min_fill)
    for i in np.flatnonzero(ok & ((var < NEAR_FLAT * msq) | (var < ABS_FLAT))):  # cancellation-prone: exact
        sel = pres[i: i + window] > 0
        w = (y[i: i + window])[sel] + c
        var[i] = float(np.mean((w - w.mean()) ** 2))
    m = np.where(ok, m + c, np.nan)
    mean[window - 1:] = m
    std[window - 1:] = np.where(ok, np.sqrt(var), np.nan)
    return mean, std, g0


def zscores(premium: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Vectorised :meth:`RollingStats.zscore`: NaN where the window is not ready or flat."""
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (premium - mean) / std
    z[~(std > MIN_STD)] = np.nan
    return z
