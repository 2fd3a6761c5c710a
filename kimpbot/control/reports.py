"""Reports a freqtrade user reaches for (/daily, /weekly, /monthly, /performance, /stats): a part
of the command core (:class:`~kimpbot.control.commands.CommandCore` inherits these commands)."""

from __future__ import annotations


class ReportCommands:
    """Mixed into the command core: ``self.bot``, ``self.trader`` and the core's helpers are there."""
