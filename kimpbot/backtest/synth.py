"""Synthetic but realistic market history in the backtester's CSV format.

Used for the shipped sample (``kimpbot/data/sample``), the tests and the
benchmark. Everything is drawn from a seeded ``numpy.random.Generator``, so the
same arguments always give the same files.

Model, per symbol:
* Binance perp price: geometric Brownian motion (annual volatility ``vol``).
* FX (KRW per USD): a slow random walk around 1,380, one rate per business day,
  stamped at 00:00 UTC of the next day (when it is known), like the FRED H.10
  series the real data uses.
* Premium (percent): an Ornstein-Uhlenbeck process around a slowly wandering
  mean, plus occasional shocks of a few percent in either direction that decay
  at the same speed — the kind of event the optimized strategy waits for —,
  occasional lasting shifts of the level itself (which the z window only learns
  slowly: trades entered against them lose), and fat-tailed quote noise.
* Upbit price: Binance x FX x (1 + premium), rounded to Upbit's KRW tick size.
* Opens are the previous close with a little noise, highs/lows bracket
  open/close, volumes are random.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from kimpbot.backtest.data import Dataset

DAY_MS = 86_400_000


@dataclass(frozen=True)
class SynthSymbol:
    symbol: str
    price_usdt: float
    vol: float  # annualised
    premium_mean: float = 1.2
    premium_std: float = 0.5  # stationary std of the OU part, percent points
    half_life_h: float = 12.0
    shocks_per_day: float = 0.12
    shock_pp: float = 3.0
    shifts_per_day: float = 0.05  # lasting moves of the premium's own level (regime changes)
    shift_pp: float = 1.2


DEFAULT_SYMBOLS = (
    SynthSymbol("BTC", 62_000.0, 0.55),
    SynthSymbol("ETH", 2_600.0, 0.70, premium_mean=1.0, premium_std=0.55),
    SynthSymbol("XRP", 0.58, 0.90, premium_mean=1.5, premium_std=0.7, shocks_per_day=0.15, shock_pp=3.5),
)


def upbit_tick(price: np.ndarray) -> np.ndarray:
    """Upbit KRW market tick sizes (2024 table, simplified)."""
    edges = np.array([1, 10, 100, 1_000, 10_000, 100_000, 500_000, 1_000_000, 2_000_000], dtype=float)
    ticks = np.array([0.0001, 0.001, 0.01, 0.1, 1, 5, 10, 50, 100, 1000], dtype=float)
    return ticks[np.searchsorted(edges, price, side="right")]


def _round_tick(p: np.ndarray) -> np.ndarray:
    t = upbit_tick(p)
    return np.round(p / t) * t


def fx_series(rng: np.random.Generator, start_ms: int, end_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """Business-day USD/KRW rates, each stamped 00:00 UTC the day after it was fixed."""
    first_day = start_ms // DAY_MS - 3
    days = np.arange(first_day, end_ms // DAY_MS + 1)
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday: 0 = Monday
    days = days[weekday < 5]
    steps = rng.normal(0.0, 0.0035, days.shape[0])
    rate = 1380.0 * np.exp(np.cumsum(steps) - 0.5 * np.cumsum(steps).mean())
    return (days + 1) * DAY_MS, np.round(rate, 2)


def ou_path(rng: np.random.Generator, n: int, dt_h: float, spec: SynthSymbol) -> np.ndarray:
    a = 0.5 ** (dt_h / spec.half_life_h)
    eps = rng.normal(0.0, spec.premium_std * np.sqrt(1 - a * a), n)
    shocks = rng.random(n) < spec.shocks_per_day * dt_h / 24.0
    sizes = rng.choice([-1.0, 1.0], n) * rng.gamma(4.0, spec.shock_pp / 4.0, n)
    eps = eps + np.where(shocks, sizes, 0.0)
    # AR(1) filter in blocks: x[t] = a x[t-1] + eps[t], exact via powers within a block
    x = np.empty(n)
    prev = 0.0
    blk = 256
    powers = a ** np.arange(1, blk + 1)
    lower = np.tril(a ** np.subtract.outer(np.arange(blk), np.arange(blk)).clip(0))
    for s in range(0, n, blk):
        e = eps[s:s + blk]
        m = e.shape[0]
        x[s:s + m] = lower[:m, :m] @ e + powers[:m] * prev
        prev = x[s + m - 1]
    drift = np.cumsum(rng.normal(0.0, 0.02 * np.sqrt(dt_h / 24.0), n))
    shifts = rng.random(n) < spec.shifts_per_day * dt_h / 24.0
    drift += np.cumsum(np.where(shifts, rng.normal(0.0, spec.shift_pp, n), 0.0))
    # fat-tailed noise that does not revert within the bar: quote noise between the venues
    noise = rng.standard_t(3.0, n) * spec.premium_std * 0.12
    return spec.premium_mean + x + drift - drift.mean() + noise


def synth_frames(start_ms: int, bars: int, interval_minutes: float = 60.0, seed: int = 7,
                 symbols: tuple[SynthSymbol, ...] = DEFAULT_SYMBOLS, drop: dict[str, list[int]] | None = None
                 ) -> dict[str, dict[str, np.ndarray]]:
    """Arrays per file name (``upbit_BTC`` ...; ``fx``) with keys timestamp/open/high/low/close/volume.

    ``drop``: bar indices to delete per file name (to make gaps).
    """
    rng = np.random.default_rng(seed)
    iv = int(round(interval_minutes * 60_000))
    ts = start_ms + np.arange(bars, dtype=np.int64) * iv
    fx_ts, fx_val = fx_series(rng, start_ms, int(ts[-1]) + iv)
    k = np.searchsorted(fx_ts, ts + iv, side="left") - 1
    fx_at = fx_val[np.maximum(k, 0)]
    dt_years = interval_minutes / (365.0 * 1440.0)
    out: dict[str, dict[str, np.ndarray]] = {"fx": {"timestamp": fx_ts, "close": fx_val}}
    for spec in symbols:
        r = rng.normal(-0.5 * spec.vol ** 2 * dt_years, spec.vol * np.sqrt(dt_years), bars)
        b_close = spec.price_usdt * np.exp(np.cumsum(r))
        prem = ou_path(rng, bars, interval_minutes / 60.0, spec)
        u_close = _round_tick(b_close * fx_at * (1.0 + prem / 100.0))
        dec = 2 if spec.price_usdt > 100 else 4
        b_close = np.round(b_close, dec)
        for venue, close, noise in (("binance", b_close, 0.0002), ("upbit", u_close, 0.0003)):
            open_ = np.empty(bars)
            open_[0] = close[0]
            open_[1:] = close[:-1] * (1.0 + rng.normal(0.0, noise, bars - 1))
            open_ = _round_tick(open_) if venue == "upbit" else np.round(open_, dec)
            spread = np.abs(rng.normal(0.0, 0.002, bars))
            high = np.maximum(open_, close) * (1.0 + spread)
            low = np.minimum(open_, close) * (1.0 - spread)
            if venue == "upbit":
                high, low = _round_tick(high), _round_tick(low)
            else:
                high, low = np.round(high, dec), np.round(low, dec)
            vol = np.round(rng.gamma(2.0, 50.0 / max(spec.price_usdt, 1e-9) ** 0.5, bars), 3)
            out[f"{venue}_{spec.symbol}"] = {"timestamp": ts, "open": open_, "high": high, "low": low,
                                            "close": close, "volume": vol}
    for name, idx in (drop or {}).items():
        keep = np.ones(out[name]["timestamp"].shape[0], dtype=bool)
        keep[np.asarray(idx, dtype=np.int64)] = False
        out[name] = {c: v[keep] for c, v in out[name].items()}
    return out


def _fmt(v: np.ndarray) -> np.ndarray:
    return np.char.mod("%.10g", v)


def write_frames(frames: dict[str, dict[str, np.ndarray]], directory: Path | str) -> Path:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    for name, cols in frames.items():
        keys = list(cols)
        parts = [cols["timestamp"].astype(np.int64).astype(str)] + [_fmt(cols[c]) for c in keys[1:]]
        body = parts[0]
        for p in parts[1:]:
            body = np.char.add(np.char.add(body, ","), p)
        (d / f"{name}.csv").write_text(",".join(keys) + "\n" + "\n".join(body.tolist()) + "\n", encoding="utf-8")
    return d


def write_synthetic(directory: Path | str, start_ms: int, bars: int, interval_minutes: float = 60.0, seed: int = 7,
                    symbols: tuple[SynthSymbol, ...] = DEFAULT_SYMBOLS, drop: dict[str, list[int]] | None = None
                    ) -> Path:
    return write_frames(synth_frames(start_ms, bars, interval_minutes, seed, symbols, drop), directory)


# The shipped sample: regenerate with ``python -m kimpbot.backtest.synth``.
SAMPLE_START_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
SAMPLE_BARS = 24 * 60  # 60 days of hourly bars
SAMPLE_SEED = 20250101
SAMPLE_NUMPY = "2.4"  # numpy's random streams are only promised stable within a version
SAMPLE_DROP = {"upbit_ETH": list(range(700, 706)), "binance_XRP": [1000, 1001]}  # a 6-hour and a 2-hour gap


def write_sample(directory: Path | str) -> Path:
    return write_synthetic(directory, SAMPLE_START_MS, SAMPLE_BARS, 60.0, SAMPLE_SEED, DEFAULT_SYMBOLS, SAMPLE_DROP)


if __name__ == "__main__":  # pragma: no cover
    import sys

    from kimpbot.backtest.data import SAMPLE_DIR

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE_DIR
    print(write_sample(target))


def frames_to_dataset(frames: dict[str, dict[str, np.ndarray]], source: str = "memory",
                      to_ms: int | None = None) -> "Dataset":
    """The Dataset :func:`kimpbot.backtest.data.load_dataset` would build from these frames, without files."""
    from kimpbot.backtest.data import Dataset, Table, build_symbol

    def table(name: str, cols: tuple[str, ...]) -> Table:
        f = frames[name]
        return Table(np.asarray(f["timestamp"], dtype=np.int64),
                     {c: np.asarray(f[c], dtype=np.float64) for c in cols})

    fx = table("fx", ("close",))
    syms = sorted(k[len("upbit_"):] for k in frames if k.startswith("upbit_"))
    out = {s: build_symbol(s, table(f"upbit_{s}", ("open", "close")), table(f"binance_{s}", ("open", "close")), fx,
                           to_ms) for s in syms}
    return Dataset(source, out, int(fx.ts.shape[0]))


def premium_frames(premium_pct: list[float] | np.ndarray, start_ms: int, interval_minutes: float = 60.0,
                   symbol: str = "BTC", binance: float | np.ndarray = 100.0, fx: float = 1000.0,
                   opens_equal_closes: bool = True) -> dict[str, dict[str, np.ndarray]]:
    """Hand-checkable frames: Binance at ``binance`` USDT, one FX rate ``fx`` (known a day before the
    first bar), Upbit = binance x fx x (1 + premium/100) exactly; opens equal closes unless told."""
    p = np.asarray(premium_pct, dtype=np.float64)
    n = p.shape[0]
    iv = int(round(interval_minutes * 60_000))
    ts = start_ms + np.arange(n, dtype=np.int64) * iv
    b = np.broadcast_to(np.asarray(binance, dtype=np.float64), (n,)).copy()
    u = b * fx * (1.0 + p / 100.0)
    uo = u.copy() if opens_equal_closes else np.concatenate(([u[0]], u[:-1]))
    bo = b.copy() if opens_equal_closes else np.concatenate(([b[0]], b[:-1]))
    ones = np.ones(n)
    return {
        "fx": {"timestamp": np.array([start_ms - DAY_MS], dtype=np.int64), "close": np.array([fx])},
        f"upbit_{symbol}": {"timestamp": ts, "open": uo, "high": np.maximum(uo, u), "low": np.minimum(uo, u),
                            "close": u, "volume": ones},
        f"binance_{symbol}": {"timestamp": ts, "open": bo, "high": np.maximum(bo, b), "low": np.minimum(bo, b),
                              "close": b, "volume": ones},
    }
