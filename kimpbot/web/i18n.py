"""The dashboard's texts live in the one catalogue (:mod:`kimpbot.i18n.web`); this module keeps the
names the web front imports."""

from __future__ import annotations

from kimpbot.i18n.web import t, texts

__all__ = ["t", "texts"]
