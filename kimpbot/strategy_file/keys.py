"""Every key of the owner's strategy file, declared with SPEC's defaults, and a typed view.

``STRATEGY_SPECS`` (SPEC §2: the strategies' numbers), ``PROTECTION_SPECS`` (SPEC §3) and
``OPERATIONS_SPECS`` (market data, FX guard, risk, execution, the paper ledger) make ``ALL_SPECS``,
the keys the file may hold; ``StrategyParams`` is the typed, read-only view of the strategy keys.

Every number here is the owner's. The code reads them, validates them, shows them
and never changes them; a key SPEC leaves open is declared ``origin="open"`` and is
shown as "unset by owner" until the owner writes it into strategy.toml.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from kimpbot.strategy_file.declare import ConfigError, ParamSet, ParamSpec

STRATEGIES = ("zscore", "multi_timeframe", "optimized")


def _symbols_ok(v: list) -> str | None:
    if not v:
        return "a non-empty list of coin symbols such as [\"BTC\", \"ETH\", \"XRP\"]"
    for s in v:
        if not isinstance(s, str) or not re.fullmatch(r"[A-Z0-9]{2,10}", s):
            return f"upper-case coin symbols such as \"BTC\" (bad entry {s!r})"
    if len(set(v)) != len(v):
        return "each symbol once"
    return None


def _inventory_ok(v: str) -> bool:
    if v in ("none", "full"):
        return True
    try:
        return float(v.replace("_", "")) >= 0.0
    except ValueError:
        return False


def _positive(what: str) -> "Callable[[Any], str | None]":
    """A check for a number that must be above zero: ``what`` says why zero is no choice."""
    return lambda v: None if v > 0 else f"a number > 0 ({what})"


_TARGET = _positive("a target of 0 or less closes every position at a loss or break-even after fees: churn")
_SIZE = _positive("a size of 0 never trades; to stop trading use /stop or /halt")
MAX_PCT = 100.0  # no target or stop of a hedged pair is beyond 100 % of its notional


def _allocation_ok(v: dict) -> str | None:
    total = 0.0
    for k, x in v.items():
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not (0.0 <= x <= 1.0):
            return f"fractions in [0, 1] per symbol (bad {k} = {x!r})"
        total += x
    if total > 1.0 + 1e-9:
        return f"fractions summing to at most 1.0 (they sum to {total:g})"
    return None


STRATEGY_SPECS: tuple[ParamSpec, ...] = (
    ParamSpec("strategy", str, "optimized", "which strategy trades", choices=STRATEGIES),
    ParamSpec("symbols", list, ["BTC", "ETH", "XRP"], "coins traded (Upbit KRW-<SYM> vs Binance <SYM>USDT perp)",
              check=_symbols_ok),
    ParamSpec("capital.initial_capital_krw", float, 40_000_000.0, "capital the sizes are fractions of (KRW)",
              min=1.0, max=1e13),
    # -- zscore (base strategy) --
    ParamSpec("zscore.window_days", float, 20.0, "rolling window of the z-score, as a span of time (days)",
              min=0.01, max=365),
    ParamSpec("zscore.bar_minutes", int, 5, "bar length the z window counts (minutes)", min=1, max=1440),
    ParamSpec("zscore.entry_threshold", float, 2.0, "enter when |z| >= this", min=0.0),
    ParamSpec("zscore.min_kimp_entry", float, 0.5, "enter only when |premium| >= this (percent)", min=0.0),
    ParamSpec("zscore.min_profit_exit", float, 0.4, "exit needs net profit >= this (percent of entry notional)",
              max=MAX_PCT, check=_TARGET),
    ParamSpec("zscore.exit_z", float, 0.5, "exit needs |z| <= this (SPEC names a reversion threshold, no number)",
              origin="open", min=0.0),
    ParamSpec("zscore.position_size", float, 0.10,
              "zscore/multi_timeframe: size of one entry, fraction of the symbol's capital (SPEC gives no size)",
              origin="open", min=0.0, max=1.0, check=_SIZE),
    ParamSpec("zscore.allocation", dict, None,
              "zscore/multi_timeframe: capital split per symbol (fractions); none = the owner's "
              "optimized.allocation", origin="open", nullable=True, check=_allocation_ok,
              none_text="none (uses optimized.allocation)"),
    ParamSpec("zscore.min_kimp_on", str, "mid",
              "which premium the |premium| entry floors (zscore.min_kimp_entry, optimized.min_kimp_entry) read: "
              "mid (the premium the owner sees, from mid/last prices) or executable (after fees and the book)",
              origin="open", choices=("mid", "executable")),
    ParamSpec("zscore.min_window_fill", float, 0.5,
              "the z window (a span of time) gives a z only when at least this fraction of its bars exist "
              "(gaps in data, outages)", origin="open", min=0.01, max=1.0),
    # -- multi_timeframe --
    ParamSpec("multi_timeframe.confirm_bars", int, 3,
              "consecutive 1-minute bars moving back toward the mean that confirm an entry", min=1, max=100),
    ParamSpec("multi_timeframe.confirm_bar_minutes", int, 1, "bar length of the confirmation (minutes)", min=1,
              max=1440),
    ParamSpec("multi_timeframe.exit_check_seconds", int, 30, "how often exits are checked (seconds)", min=1,
              max=86_400),
    # -- optimized (extreme-value multi-symbol), the owner's confirmed choice --
    ParamSpec("optimized.base_size", float, 0.10, "base size, fraction of the symbol's capital", min=0.0, max=1.0,
              check=_SIZE),
    ParamSpec("optimized.normal_z", float, 2.0, "normal tier: |z| >= this", min=0.0),
    ParamSpec("optimized.normal_size_mult", float, 1.5, "normal tier size, multiple of base size", min=0.0,
              max=100.0, check=_SIZE),
    ParamSpec("optimized.normal_target", float, 0.8, "normal tier target net profit (percent)", max=MAX_PCT,
              check=_TARGET),
    ParamSpec("optimized.extreme_z", float, 3.0, "extreme tier: |z| >= this", min=0.0),
    ParamSpec("optimized.extreme_size_mult", float, 2.0, "extreme tier size, multiple of base size", min=0.0,
              max=100.0, check=_SIZE),
    ParamSpec("optimized.extreme_target", float, 1.5, "extreme tier target net profit (percent)", max=MAX_PCT,
              check=_TARGET),
    ParamSpec("optimized.ultra_z", float, 4.0, "ultra-extreme tier: |z| >= this", min=0.0),
    ParamSpec("optimized.ultra_size", float, 0.40, "ultra-extreme size, fraction of the symbol's capital",
              min=0.0, max=1.0, check=_SIZE),
    ParamSpec("optimized.ultra_target", float, 2.0, "ultra-extreme target net profit (percent)", max=MAX_PCT,
              check=_TARGET),
    ParamSpec("optimized.max_single_position", float, 0.4,
              "largest position, fraction of the symbol's capital", min=0.0, max=1.0, check=_SIZE),
    ParamSpec("optimized.min_kimp_entry", float, 0.5, "enter only when |premium| >= this (percent)", min=0.0),
    ParamSpec("optimized.allocation", dict, {"BTC": 0.40, "ETH": 0.35, "XRP": 0.25},
              "capital split per symbol (fractions)", check=_allocation_ok),
    ParamSpec("optimized.normal_splits", int, 3,
              "normal tier is added in this many equal splits as |z| deepens", origin="open", min=1, max=20),
    ParamSpec("optimized.split_step_z", float, None,
              "split k (k = 0, 1, ...) of the normal tier is in once |z| >= normal_z + k x this; must put the "
              "last split below extreme_z", origin="open", nullable=True, min=0.0001,
              none_text="none (derived: (extreme_z - normal_z) / normal_splits)"),
    ParamSpec("optimized.topup_on_deeper_tier", bool, True,
              "when |z| reaches a deeper tier while a position is open, top it up to that tier's size and "
              "adopt that tier's target (never above max_single_position)", origin="open"),
    # -- keys SPEC leaves open: off unless the owner sets them --
    # (cross-checked in kimpbot.strategy_file.read: a stop loss must lie beyond the round-trip fees, a
    # holding time must let a position live at least one z bar)
    ParamSpec("exits.stop_loss_pct", float, None, "close a position whose net loss reaches this (percent)",
              origin="open", nullable=True, max=MAX_PCT,
              check=_positive("a stop loss of 0 closes every position the moment it opens (its fees are a "
                              "loss): churn")),
    ParamSpec("exits.max_holding_hours", float, None, "close a position older than this (hours)",
              origin="open", nullable=True, max=24 * 365 * 10,
              check=_positive("a holding time of 0 closes every position the moment it opens: churn")),
    # -- the backtester's market model (not trading rules; SPEC §6 leaves the numbers open) --
    ParamSpec("backtest.slippage_pct", float, 0.02,
              "backtest: adverse price move per leg per fill, percent of price (no order books in candles)",
              origin="open", min=0.0, max=5.0),
    ParamSpec("backtest.funding_rate_8h", float, 0.0001,
              "backtest: perp funding rate per 8 h where no funding history is given (fraction; long pays "
              "when positive). 0.0001 = Binance's baseline 0.01 %", origin="open", min=-0.01, max=0.01),
    ParamSpec("backtest.fill", str, "next_open",
              "backtest: a decision at bar t's close fills at bar t+1's open (next_open) or close (next_close)",
              origin="open", choices=("next_open", "next_close")),
    ParamSpec("backtest.inventory", str, "none",
              "backtest: Upbit coin inventory for short-premium entries: none, full (the symbol's capital "
              "in coin) or a KRW amount per symbol", origin="open",
              check=lambda v: None if _inventory_ok(v) else "none, full or a KRW amount such as \"5000000\""),
)


# Protections (SPEC §3; freqtrade's MaxDrawdown / StoplossGuard / CooldownPeriod, hummingbot's kill
# switch). SPEC names the rules but no numbers, so each is "open" (shown as unset by owner) with the
# default a careful trader would start from. None of them can be switched off: 0, negative and absurd
# values are refused, so a typo or an empty value can never disable one silently. They may be loosened
# up to the maximum below, which is still a limit.
PROTECTION_SPECS: tuple[ParamSpec, ...] = (
    # 2 % of capital (800,000 KRW at 40,000,000): several ordinary stop losses on full positions, but
    # a fraction of a single day of the paper-mode churn this guards against (~1,000,000 KRW a minute)
    ParamSpec("protections.daily_loss_limit_pct", float, 2.0,
              "halt entries when the net realized loss of the KST day (fees, funding and rollback costs "
              "included) reaches this percent of capital.initial_capital_krw", origin="open", max=50.0,
              check=_positive("a protection cannot be switched off; loosen it up to 50")),
    # a mean-reversion pair on 5-minute bars needs tens of minutes to revert: more than 4 round trips
    # of one coin within an hour is churn, not strategy
    ParamSpec("protections.max_round_trips_per_hour", int, 4,
              "halt entries when one coin completes this many round trips (entry and exit) within 60 minutes",
              origin="open", min=1, max=60),
    # half an hour lets the premium settle after a loss instead of re-entering the same dislocation
    ParamSpec("protections.loss_cooldown_minutes", float, 30.0,
              "after an exit at a loss, no new entry in that coin for this long (minutes)", origin="open",
              min=1.0, max=1440.0),
    # three losses in a row means the market no longer behaves as the strategy assumes: ask the owner
    ParamSpec("protections.max_consecutive_losses", int, 3,
              "halt entries after this many exits in a row at a loss (any coin)", origin="open", min=1, max=20),
)


# Upbit's minimum order on every KRW market (Upbit's order docs: "최소 주문 금액 5,000 KRW"); a
# size that can never reach it can never fill.
UPBIT_MIN_ORDER_KRW = 5_000.0


def _coins_ok(v: dict) -> str | None:
    for k, x in v.items():
        if not re.fullmatch(r"[A-Z0-9]{2,10}", str(k)):
            return f"upper-case coin symbols as names, e.g. {{BTC = 0.05}} (bad name {k!r})"
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not (0.0 <= x < 1e12):
            return f"a coin amount >= 0 per symbol, e.g. {{BTC = 0.05}} (bad {k} = {x!r})"
    return None


# Operational numbers (market data, FX guard, risk, execution, the paper ledger) also live in
# strategy.toml: they are the owner's policy. SPEC fixes few of them; the rest are "open".
OPERATIONS_SPECS: tuple[ParamSpec, ...] = (
    ParamSpec("fx.source", str, "usdkrw", "FX for the premium: usdkrw (bank rate) or usdt (Upbit KRW-USDT)",
              origin="open", choices=("usdkrw", "usdt")),
    ParamSpec("fx.poll_seconds", float, 30.0, "how often the bank USD/KRW rate is fetched", origin="open",
              min=1.0),
    ParamSpec("fx.max_age_s", float, 300.0, "no reading of the rate received for this long: stale, trading stops",
              origin="open", min=1.0),
    ParamSpec("fx.max_jump_pct", float, 1.0, "a move of a rate beyond this between two readings is announced "
              "(it is traded on only once the other source confirms it)", origin="open", min=0.0),
    ParamSpec("fx.jump_hold_s", float, 300.0, "retired, ignored: a jump now stays suspect until the other source "
              "confirms it (fx.ratio_*)", origin="open", min=0.0),
    ParamSpec("fx.max_divergence_pct", float, 5.0,
              "bank USD/KRW and Upbit KRW-USDT further apart than this stop signals", origin="open", min=0.0),
    # The cross-check (SPEC §3): the rate in use is trusted when the USDT/bank ratio stays within
    # its own recent range; see kimpbot/market/fx.py.
    ParamSpec("fx.ratio_window_h", float, 6.0, "hours of confirmed USDT/bank ratio readings the range is taken "
              "from", origin="open", min=0.1, max=168.0),
    ParamSpec("fx.ratio_band_mads", float, 5.0, "range half-width in scaled MADs of the ratio (robust sigmas)",
              origin="open", min=1.0, max=50.0),
    ParamSpec("fx.ratio_min_band_pct", float, 0.3, "the range is at least this wide each side (percent)",
              origin="open", min=0.01, max=5.0),
    ParamSpec("fx.ratio_max_band_pct", float, 1.0, "the range is at most this wide each side (percent)",
              origin="open", min=0.01, max=5.0),
    ParamSpec("fx.confirm_readings", int, 3, "first start: steady bank readings with USDT before the ratio is "
              "trusted (the range's minimum sample)", origin="open", min=1, max=1000),
    ParamSpec("fx.usdkrw_max_age_s", float, 900.0, "the bank quote's own time older than this: the bank market "
              "is closed (see fx.weekend)", origin="open", min=1.0),
    ParamSpec("fx.usdt_max_age_s", float, 300.0, "Upbit KRW-USDT's last trade older than this: stale",
              origin="open", min=1.0),
    ParamSpec("fx.weekend", str, "usdt_confirms", "a closed bank quote: usdt_confirms (trade while the USDT "
              "ratio stays in range) or stop", origin="open", choices=("usdt_confirms", "stop")),
    ParamSpec("market.max_quote_age_s", float, 10.0, "a quote older than this is stale", origin="open", min=0.1),
    ParamSpec("market.order_krw", float, None,
              "order size (KRW) the executable premium is quoted for; default: the strategy's first entry",
              origin="open", nullable=True, min=UPBIT_MIN_ORDER_KRW, max=1e12),
    ParamSpec("market.ws_reconnect_max_s", float, 30.0, "longest back-off between websocket reconnects",
              origin="open", min=0.1),
    ParamSpec("startup.retry_min_s", float, 5.0,
              "not trading (exchange unreachable at start, maintenance): first wait before trying again",
              origin="open", min=0.1),
    ParamSpec("startup.retry_max_s", float, 120.0,
              "not trading: longest wait between tries (the wait doubles up to this, with jitter)",
              origin="open", min=0.1),
    ParamSpec("store.alert_reminder_s", float, 300.0, "while the journal cannot be written (disk full): one alert, "
              "then a reminder at most this often", origin="open", min=1.0),
    ParamSpec("fees.upbit_taker", float, 0.0005, "Upbit KRW market taker fee (fraction)", origin="exchange",
              min=0.0, max=0.01),
    ParamSpec("fees.binance_taker", float, 0.0005, "Binance USDT-M taker fee (fraction)", origin="exchange",
              min=0.0, max=0.01),
    ParamSpec("risk.emergency_move_pct", float, 5.0, "a price move beyond this within the check window halts",
              min=0.0),
    ParamSpec("risk.emergency_window_s", float, 300.0, "the emergency check window (seconds)", origin="open",
              min=1.0),
    ParamSpec("risk.max_concurrent_positions", int, 3, "open pair positions at most", origin="open", min=1),
    ParamSpec("risk.max_order_failures", int, 3, "consecutive order failures that halt", origin="open", min=1),
    # a cap below Upbit's minimum order lets no live order through: an empty canary is refused, and
    # only an explicit "none" lifts it
    ParamSpec("risk.live_canary_max_krw", float, 10_000.0,
              "live mode: largest order in KRW until the owner lifts it (the owner's 10,000 KRW test trade)",
              nullable=True, min=UPBIT_MIN_ORDER_KRW, max=1e12),
    ParamSpec("risk.funding_guard_minutes", float, None, "block entries this close to a funding time",
              origin="open", nullable=True, min=0.0),
    ParamSpec("execution.order_timeout_s", float, 5.0, "timeout of one order call; no answer = query by client id",
              origin="open", min=0.1),
    ParamSpec("execution.unknown_grace_s", float, 10.0, "how long a leg with no answer is queried before it is "
              "reported as unknown exposure", origin="open", min=0.1),
    ParamSpec("execution.late_window_s", float, 120.0, "an order answered 'status unknown' and then not found may "
              "still be booked: it is watched this long (a late fill is alerted and reversed), and no order of its "
              "coin goes out meanwhile", origin="open", min=1.0),
    ParamSpec("execution.position_check_s", float, 2.0, "how often the journal is compared with the exchanges' "
              "positions while running (a difference is a critical finding that halts entries)", origin="open",
              min=0.5, max=60.0),
    ParamSpec("execution.confirm_timeout_s", float, 120.0, "confirmation mode: a signal expires after this",
              origin="open", min=1.0),
    ParamSpec("execution.confirm_tolerance_pct", float, 0.2,
              "Execute re-checks the premium: refused if it moved against the signal by more than this (pp)",
              origin="open", min=0.0),
    ParamSpec("execution.leverage", int, 1, "Binance leverage of the perp leg (1x: margin = notional)",
              origin="open", min=1, max=5),
    ParamSpec("paper.upbit_krw", float, 40_000_000.0, "paper ledger: starting Upbit KRW", origin="open", min=0.0,
              max=1e13),
    ParamSpec("paper.binance_usdt", float, 30_000.0, "paper ledger: starting Binance USDT margin", origin="open",
              min=0.0, max=1e10),
    ParamSpec("paper.upbit_coins", dict, {}, "paper ledger: starting Upbit coin holdings, e.g. {BTC = 0.05} "
              "(short-premium entries sell held coin)", origin="open", check=_coins_ok),
)

ALL_SPECS: tuple[ParamSpec, ...] = STRATEGY_SPECS + OPERATIONS_SPECS + PROTECTION_SPECS


@dataclass(frozen=True)
class StrategyParams:
    """Typed, read-only view of the resolved strategy keys."""

    strategy: str
    symbols: tuple[str, ...]
    initial_capital_krw: float
    window_days: float
    bar_minutes: int
    entry_threshold: float
    min_kimp_entry: float
    min_profit_exit: float
    exit_z: float
    position_size: float
    confirm_bars: int
    confirm_bar_minutes: int
    exit_check_seconds: int
    base_size: float
    normal_z: float
    normal_size_mult: float
    normal_target: float
    extreme_z: float
    extreme_size_mult: float
    extreme_target: float
    ultra_z: float
    ultra_size: float
    ultra_target: float
    max_single_position: float
    opt_min_kimp_entry: float
    allocation: dict[str, float]
    normal_splits: int
    split_step_z: float | None  # None: derived from the tiers (see ``split_step``)
    stop_loss_pct: float | None
    max_holding_hours: float | None
    topup_on_deeper_tier: bool = True
    zscore_allocation: dict[str, float] | None = None  # None: the optimized allocation
    min_kimp_on: str = "mid"  # the premium the |premium| floors read: mid | executable
    min_window_fill: float = 0.5  # fraction of the window's bars that must exist for a z

    @property
    def split_step(self) -> float:
        """|z| step between normal-tier splits: the owner's, else spread so that every split is in
        before the extreme tier (split k at normal_z + k x step, the last below extreme_z)."""
        if self.split_step_z is not None:
            return self.split_step_z
        return (self.extreme_z - self.normal_z) / self.normal_splits

    def split_thresholds(self) -> list[float]:
        """|z| at which normal-tier split k (0-based) is due."""
        return [self.normal_z + k * self.split_step for k in range(self.normal_splits)]

    def validate(self) -> None:
        """Cross-key rules of the strategy numbers (ConfigError names the keys and what to do)."""
        if self.normal_splits > 1 and self.normal_z < self.extreme_z:
            last = self.split_thresholds()[-1]
            if not last < self.extreme_z:
                raise ConfigError(
                    "optimized.split_step_z", self.split_step_z,
                    f"a step that puts the last of {self.normal_splits} normal splits below extreme_z "
                    f"({self.normal_z:g} + {self.normal_splits - 1} x step < {self.extreme_z:g}, i.e. step < "
                    f"{(self.extreme_z - self.normal_z) / (self.normal_splits - 1):.6g}), or leave it out to derive it "
                    f"from the tiers; otherwise the extreme top-up fires before the normal tier reaches "
                    f"{self.normal_size_mult:g} x base")
        if self.strategy in ("zscore", "multi_timeframe"):
            alloc = self.zscore_allocation if self.zscore_allocation is not None else self.allocation
            key = "zscore.allocation" if self.zscore_allocation is not None else "optimized.allocation"
            missing = [s for s in self.symbols if s not in alloc]
            if missing:
                raise ConfigError(key, alloc, f"an allocation for every traded symbol (missing {', '.join(missing)}); "
                                              f"zscore uses optimized.allocation unless zscore.allocation is set")

    @property
    def window_bars(self) -> int:
        """Bars in the z window: a span of time divided by the bar length."""
        return max(2, int(round(self.window_days * 1440 / self.bar_minutes)))

    def window_bars_for(self, bar_minutes: float) -> int:
        """The same time span counted in bars of another length (e.g. hourly history)."""
        return max(2, int(round(self.window_days * 1440 / bar_minutes)))

    def allocation_for(self, strategy: str) -> dict[str, float]:
        """The capital split a strategy trades with: optimized's, or zscore.allocation when the owner
        set one for zscore/multi_timeframe (else the owner's optimized split: BTC 40 / ETH 35 / XRP 25)."""
        if strategy != "optimized" and self.zscore_allocation is not None:
            return self.zscore_allocation
        return self.allocation

    def symbol_capital(self, symbol: str) -> float:
        """Capital allotted to one symbol by the chosen strategy's allocation."""
        return self.initial_capital_krw * self.allocation_for(self.strategy).get(symbol, 0.0)

    def base_order_krw(self, symbol: str) -> float:
        """Notional of a typical first entry: the size the executable premium is quoted for."""
        cap = self.symbol_capital(symbol)
        if self.strategy == "optimized":
            return cap * min(self.base_size * self.normal_size_mult, self.max_single_position) / self.normal_splits
        return cap * self.position_size

    @classmethod
    def from_params(cls, p: ParamSet) -> "StrategyParams":
        sp = cls._from_params(p)
        sp.validate()
        return sp

    @classmethod
    def _from_params(cls, p: ParamSet) -> "StrategyParams":
        za = p["zscore.allocation"]
        return cls(
            strategy=p["strategy"],
            symbols=tuple(p["symbols"]),
            initial_capital_krw=p["capital.initial_capital_krw"],
            window_days=p["zscore.window_days"],
            bar_minutes=p["zscore.bar_minutes"],
            entry_threshold=p["zscore.entry_threshold"],
            min_kimp_entry=p["zscore.min_kimp_entry"],
            min_profit_exit=p["zscore.min_profit_exit"],
            exit_z=p["zscore.exit_z"],
            position_size=p["zscore.position_size"],
            confirm_bars=p["multi_timeframe.confirm_bars"],
            confirm_bar_minutes=p["multi_timeframe.confirm_bar_minutes"],
            exit_check_seconds=p["multi_timeframe.exit_check_seconds"],
            base_size=p["optimized.base_size"],
            normal_z=p["optimized.normal_z"],
            normal_size_mult=p["optimized.normal_size_mult"],
            normal_target=p["optimized.normal_target"],
            extreme_z=p["optimized.extreme_z"],
            extreme_size_mult=p["optimized.extreme_size_mult"],
            extreme_target=p["optimized.extreme_target"],
            ultra_z=p["optimized.ultra_z"],
            ultra_size=p["optimized.ultra_size"],
            ultra_target=p["optimized.ultra_target"],
            max_single_position=p["optimized.max_single_position"],
            opt_min_kimp_entry=p["optimized.min_kimp_entry"],
            allocation={k: float(v) for k, v in p["optimized.allocation"].items()},
            normal_splits=p["optimized.normal_splits"],
            split_step_z=p["optimized.split_step_z"],
            stop_loss_pct=p["exits.stop_loss_pct"],
            max_holding_hours=p["exits.max_holding_hours"],
            topup_on_deeper_tier=p["optimized.topup_on_deeper_tier"],
            zscore_allocation={k: float(v) for k, v in za.items()} if za is not None else None,
            min_kimp_on=p["zscore.min_kimp_on"],
            min_window_fill=p["zscore.min_window_fill"],
        )
