"""The owner's strategies as pure code shared by the live bot and the backtester."""

from kimpbot.strategy.base import (Decision, PairFill, Position, Signal, Strategy, add_to_position, make_strategy,
                                   open_position, position_net_profit_krw, position_net_profit_pct)
from kimpbot.strategy.rolling import RollingStats, rolling_mean_std

__all__ = ["Decision", "PairFill", "Position", "RollingStats", "Signal", "Strategy", "add_to_position",
           "make_strategy", "open_position", "position_net_profit_krw", "position_net_profit_pct",
           "rolling_mean_std"]
