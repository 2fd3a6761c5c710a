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

import math
from collections import deque

import numpy as np

MIN_STD = 1e-9  # percent points: below this the window is flat and z is undefined
# variance below this fraction of the values' mean square is computed exactly (two-pass), not by
# the O(1) update: real premium windows are far above it (std ~0.1-1 pp at levels of a few %)
NEAR_FLAT = 1e-8


class RollingStats:
    """Mean/std of the last ``window`` values, O(1) per push, no float drift."""

    __slots__ = ("window", "_buf", "_mean", "_m2", "_since_exact")

    def __init__(self, window: int) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.window = int(window)
        self._buf: deque[float] = deque(maxlen=self.window)
        self._mean = 0.0
        self._m2 = 0.0
        self._since_exact = 0

    def push(self, x: float) -> None:
        x = float(x)
        if not math.isfinite(x):
            raise ValueError(f"RollingStats.push: not a finite number: {x!r}")
        buf = self._buf
        n = len(buf)
        if n < self.window:
            buf.append(x)
            n += 1
            delta = x - self._mean
            self._mean += delta / n
            self._m2 += delta * (x - self._mean)
        else:
            old = buf[0]
            buf.append(x)  # drops ``old`` (maxlen)
            delta = x - old
            old_mean = self._mean
            self._mean = old_mean + delta / n
            self._m2 += delta * (x - self._mean + old - old_mean)
        self._since_exact += 1
        if self._since_exact >= self.window or self._m2 < n * NEAR_FLAT * (self._mean * self._mean):
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
    def ready(self) -> bool:
        return len(self._buf) >= self.window

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
        """``(x - mean) / std`` once the window is full and not flat, else None."""
        if len(self._buf) < self.window:
            return None
        sd = self.std
        if not sd > MIN_STD:
            return None
        return (x - self._mean) / sd


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
    for i in np.flatnonzero(var < NEAR_FLAT * msq):  # cancellation-prone: exact two-pass (rare)
        w = x[i: i + window]
        var[i] = float(np.mean((w - w.mean()) ** 2))
    mean[window - 1:] = m + c
    std[window - 1:] = np.sqrt(var)
    return mean, std


def zscores(premium: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Vectorised :meth:`RollingStats.zscore`: NaN where the window is not ready or flat."""
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (premium - mean) / std
    z[~(std > MIN_STD)] = np.nan
    return z
