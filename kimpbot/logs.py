"""Logging: stdlib, one line per event, secrets redacted before anything is written."""

from __future__ import annotations

import logging
import sys
from typing import Iterable

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactingFilter(logging.Filter):
    """Replaces every configured secret in a record's final message with ``***``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for s in self.secrets:
            if s in text:
                text = text.replace(s, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            msg = record.getMessage()
            clean = self.redact(msg)
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = self.redact(record.exc_text)
            if clean != msg:
                record.msg, record.args = clean, None
        return True


def setup_logging(level: str = "INFO", secrets: Iterable[str] = (), stream=None) -> RedactingFilter:  # type: ignore[no-untyped-def]
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_kimpbot", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._kimpbot = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter(FORMAT))
    flt = RedactingFilter(secrets)
    handler.addFilter(flt)
    root.addHandler(handler)
    root.setLevel(level)
    # Library chatter (ccxt request dumps, websocket frames) is not an event of ours.
    for noisy in ("ccxt", "apscheduler", "aiohttp.access", "urllib3", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return flt
