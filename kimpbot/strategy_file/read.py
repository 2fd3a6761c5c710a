"""The owner's strategy file read and validated as a whole, into an ``OwnerConfig``.

``load_owner_config`` is the one way the file is read (at start, by ``config check``, ``doctor``,
the backtester, and by ``/set`` to check an edit): the text (``read_strategy_text``: a missing,
unreadable, non-regular or non-UTF-8 file is a ConfigError naming the path and what to do, never
silent defaults), TOML, every declared key resolved (``kimpbot.strategy_file.keys``; a key left out
is reported "unset by owner"), then the cross-key rules: tiers in order, a stop loss beyond the
round-trip fees, sizes that can reach the venue's minimum order.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kimpbot.strategy_file.declare import ConfigError, ParamSet, resolve
from kimpbot.strategy_file.keys import ALL_SPECS, UPBIT_MIN_ORDER_KRW, StrategyParams


@dataclass(frozen=True)
class OwnerConfig:
    """Everything read from the owner's strategy file."""

    params: ParamSet
    strategy: StrategyParams
    source: str  # the file it came from, or "built-in defaults"

    def __getitem__(self, key: str) -> Any:
        return self.params[key]

    def order_krw(self, symbol: str) -> float:
        explicit = self.params["market.order_krw"]
        return float(explicit) if explicit is not None else self.strategy.base_order_krw(symbol)


# kimpbot's copy of the repository's strategy.toml (SPEC's defaults), shipped in the package: the demo
# uses it when there is no strategy file; `run` never does (the owner's money numbers are the owner's)
DEFAULT_STRATEGY_FILE = Path(__file__).resolve().parents[1] / "strategy.default.toml"


HOW_TO_CREATE = ("create it from the repository's strategy.toml (SPEC's defaults; kimpbot ships a copy: "
                 "cp {default} {path}) and edit it, or point KIMPBOT_STRATEGY_FILE at your strategy file")


def read_strategy_text(path: Path) -> str:
    """The text of the owner's strategy file, or a ConfigError naming the path, what is wrong and what
    to do: a missing file (the money numbers would be defaults nobody chose), a directory, a FIFO or
    device (reading one could block forever), an unreadable or non-UTF-8 file."""
    how = HOW_TO_CREATE.format(default=DEFAULT_STRATEGY_FILE, path=Path(os.path.abspath(path)) if str(path) else path)
    try:
        st = os.stat(path)  # follows a symlink: its target must be a regular file
    except FileNotFoundError:
        raise ConfigError("KIMPBOT_STRATEGY_FILE", str(path),
                          f"an existing strategy file: {path} does not exist; {how}") from None
    except (OSError, ValueError) as exc:  # permission on a parent, a NUL byte, a name too long
        raise ConfigError("KIMPBOT_STRATEGY_FILE", str(path),
                          f"a strategy file kimpbot can read ({getattr(exc, 'strerror', None) or exc}); {how}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ConfigError("KIMPBOT_STRATEGY_FILE", str(path),
                          f"a file, not a directory: {path} is a directory; {how}")
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError("KIMPBOT_STRATEGY_FILE", str(path),
                          f"a regular file: {path} is a FIFO, socket or device (reading it could wait forever); {how}")
    if st.st_size > 1_000_000:
        raise ConfigError("KIMPBOT_STRATEGY_FILE", str(path),
                          f"a strategy file (a few KB): {path} is {st.st_size:,} bytes; {how}")
    try:
        # O_NONBLOCK: should the file be swapped for a FIFO after the check, open() does not wait for a writer
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise ConfigError("KIMPBOT_STRATEGY_FILE", str(path), f"a regular file; {how}")
            data = f.read(1_000_001)
    except OSError as exc:
        raise ConfigError("KIMPBOT_STRATEGY_FILE", str(path),
                          f"a strategy file kimpbot can read ({exc.strerror or exc}: check its owner and "
                          "permissions, e.g. chmod 0640 and the kimpbot group)") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError("KIMPBOT_STRATEGY_FILE", str(path),
                          f"a UTF-8 text file (byte {exc.start} is not UTF-8: save it as UTF-8)") from None


def load_owner_config(path: Path | None, text: str | None = None) -> OwnerConfig:
    """Parse and validate the owner's strategy file (or ``text`` as if read from ``path``).

    A file that is missing, unreadable, not a regular file or not UTF-8 is a ConfigError naming the
    path and what to do: the bot never runs on money numbers the owner did not choose. Only an explicit
    ``path=None`` without text (library use, tests, the backtester's what-ifs) gives SPEC's defaults."""
    source = "built-in defaults"
    doc: dict[str, Any] = {}
    if text is None and path is not None:
        text = read_strategy_text(path)
        source = str(path)
    elif text is not None:
        source = str(path) if path else "<text>"
    if text is not None:
        if "\x00" in text:
            raise ConfigError(source, "(file)", "a text file (it holds NUL bytes)")
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(source, "(file)", f"valid TOML ({exc})") from None
        except RecursionError:  # thousands of nested arrays
            raise ConfigError(source, "(file)", "valid TOML (nested too deeply)") from None
    params = resolve(ALL_SPECS, doc, source)
    sp = StrategyParams.from_params(params)
    cross_check(sp)
    check_money(params, sp)
    check_fx(params)
    return OwnerConfig(params=params, strategy=sp, source=source)


def round_trip_fee_pct(params: ParamSet) -> float:
    """Taker fees of a round trip in percent of the notional: both legs in, both legs out."""
    return 2.0 * (float(params["fees.upbit_taker"]) + float(params["fees.binance_taker"])) * 100.0


def smallest_orders_krw(params: ParamSet, sp: StrategyParams) -> dict[str, float]:
    """Per traded symbol, the smallest order the strategy sends (the first split of the normal tier,
    or one zscore entry); a symbol given no capital (allocation 0: watched, never traded) is left out."""
    out: dict[str, float] = {}
    explicit = params["market.order_krw"]
    for sym in sp.symbols:
        cap = sp.symbol_capital(sym)
        if cap <= 0:
            continue
        if sp.strategy == "optimized":
            sizes = [cap * sp.base_size * sp.normal_size_mult / sp.normal_splits,
                     cap * sp.base_size * sp.extreme_size_mult, cap * sp.ultra_size]
            out[sym] = min(min(sizes), cap * sp.max_single_position)
        else:
            out[sym] = cap * sp.position_size
        if explicit is not None:
            out[sym] = min(out[sym], float(explicit))
    return out


def check_money(params: ParamSet, sp: StrategyParams) -> None:
    """Every money number against its meaning, across keys (SPEC §3): a stop loss inside the round-trip
    fees, a holding time shorter than a z bar, sizes that can never reach the venue's minimum order.
    Each error names the key, the value and the rule."""
    fees = round_trip_fee_pct(params)
    if sp.stop_loss_pct is not None and sp.stop_loss_pct <= fees:
        raise ConfigError("exits.stop_loss_pct", sp.stop_loss_pct,
                          f"a stop loss beyond the round-trip fees ({fees:g} % = 2 x (fees.upbit_taker + "
                          "fees.binance_taker)): a position's net profit starts at minus its fees, so a tighter "
                          "stop closes every position as it opens and churns round trips at a loss")
    if sp.max_holding_hours is not None and sp.max_holding_hours * 60.0 < sp.bar_minutes:
        raise ConfigError("exits.max_holding_hours", sp.max_holding_hours,
                          f"at least one z bar (zscore.bar_minutes {sp.bar_minutes} min = "
                          f"{sp.bar_minutes / 60:g} h): a shorter hold closes positions before the premium can "
                          "revert and churns round trips at a loss")
    for sym, krw in smallest_orders_krw(params, sp).items():
        if not krw >= UPBIT_MIN_ORDER_KRW:
            raise ConfigError("capital / sizes", f"{sym} {krw:,.0f} KRW",
                              f"orders of at least Upbit's minimum {UPBIT_MIN_ORDER_KRW:,.0f} KRW: the smallest "
                              f"{sym} order, {krw:,.0f} KRW (capital.initial_capital_krw x allocation x the smallest size"
                              + (", or market.order_krw" if params["market.order_krw"] is not None else "")
                              + ") can never fill; raise the capital or the sizes, or give the coin no allocation")


def check_fx(params: ParamSet) -> None:
    lo, hi = params["fx.ratio_min_band_pct"], params["fx.ratio_max_band_pct"]
    if lo > hi:
        raise ConfigError("fx.ratio_min_band_pct", lo, f"at most fx.ratio_max_band_pct ({hi:g})")


def cross_check(sp: StrategyParams) -> None:
    if not sp.normal_z < sp.extreme_z < sp.ultra_z:
        raise ConfigError("optimized.normal_z/extreme_z/ultra_z", (sp.normal_z, sp.extreme_z, sp.ultra_z),
                          "normal_z < extreme_z < ultra_z")
    if sp.strategy == "optimized":
        missing = [s for s in sp.symbols if s not in sp.allocation]
        if missing:
            raise ConfigError("optimized.allocation", sp.allocation,
                              "an allocation for every traded symbol (missing " + ", ".join(missing) + ")")
    if sp.ultra_size > sp.max_single_position + 1e-12:
        raise ConfigError("optimized.ultra_size", sp.ultra_size,
                          f"at most optimized.max_single_position ({sp.max_single_position:g})")
    if sp.window_bars < 2:
        raise ConfigError("zscore.window_days", sp.window_days, "a window of at least 2 bars")
