"""Every chat command once: its name, its one-line help (catalogue), what arguments it takes and
whether its answer is private. ``/help``, Telegram's command menu and Discord's slash commands are
all made from this table, so a command cannot exist on one front and be missing on another."""

from __future__ import annotations

from dataclasses import dataclass

from kimpbot.i18n import Msg
from kimpbot.i18n import help as h


@dataclass(frozen=True)
class CommandSpec:
    name: str
    help: Msg
    # what follows the name: "" none, "symbol" a coin of the owner's list (Discord offers the
    # choices), "symbol period" coin + 1d/7d/20d, "position" an open position, "n" a count,
    # "id" a signal id, "key value" a strategy key and value, "kind level" a notification setting
    args: str = ""
    private: bool = False   # balances and positions: only the caller sees the answer (Discord: ephemeral)
    menu: bool = True       # listed in Telegram's command menu
    keyboard: bool = False  # on the reply keyboard (the commands used every day)


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("status", h.STATUS, keyboard=True),
    CommandSpec("positions", h.POSITIONS, private=True, keyboard=True),
    CommandSpec("pnl", h.PNL, private=True, keyboard=True),
    CommandSpec("daily", h.DAILY, "n", private=True),
    CommandSpec("weekly", h.WEEKLY, "n", private=True),
    CommandSpec("monthly", h.MONTHLY, "n", private=True),
    CommandSpec("performance", h.PERFORMANCE, private=True),
    CommandSpec("stats", h.STATS, private=True),
    CommandSpec("trades", h.TRADES, "n", private=True),
    CommandSpec("balance", h.BALANCE, private=True, keyboard=True),
    CommandSpec("chart", h.CHART, "symbol period", keyboard=True),
    CommandSpec("pending", h.PENDING, keyboard=True),
    CommandSpec("params", h.PARAMS),
    CommandSpec("start", h.START),
    CommandSpec("stop", h.STOP),
    CommandSpec("halt", h.HALT, keyboard=True),
    CommandSpec("resume", h.RESUME),
    CommandSpec("forceexit", h.FORCEEXIT, "position"),
    CommandSpec("closeall", h.CLOSEALL),
    CommandSpec("confirm", h.CONFIRM, "id", menu=False),
    CommandSpec("skip", h.SKIP, "id", menu=False),
    CommandSpec("set", h.SET, "key value"),
    CommandSpec("reload", h.RELOAD),
    CommandSpec("notify", h.NOTIFY, "kind level"),
    CommandSpec("live", h.LIVE),
    CommandSpec("paper", h.PAPER),
    CommandSpec("logs", h.LOGS, "n", private=True),
    CommandSpec("version", h.VERSION),
    CommandSpec("dashboard", h.DASHBOARD, private=True),
    CommandSpec("help", h.HELP),
)
BY_NAME = {c.name: c for c in COMMANDS}
CHART_PERIODS = ("1d", "7d", "20d")
