"""The owner's web dashboard, served by kimpbot's own aiohttp server (see :mod:`kimpbot.web.app`)."""

from kimpbot.web.app import Dashboard

__all__ = ["Dashboard"]
