"""Logging: stdlib, one line per event, secrets redacted before anything is written.

``setup_logging`` installs one stream handler (stderr: journald or ``docker logs`` keep it) and,
with ``log_file``, a size-rotated file (``RotatingFileHandler``: ``max_bytes`` per file,
``backups`` old files kept as ``kimpbot.log.1`` ... ``.N``). The same ``RedactingFilter`` sits on
every handler, so a secret is replaced by ``***`` whichever handler writes the record and
whichever library logged it.

Libraries that put secrets into their own log lines are held above the level where they do:
httpx logs every request URL at INFO, and python-telegram-bot's URLs carry the bot token
(``/bot<token>/getUpdates``); discord.py logs webhook URLs (with the webhook token) at DEBUG.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys
from pathlib import Path
from typing import Any, Iterable

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_BACKUPS = 5

# logger name -> the lowest level it may log at, whatever --log-level says
LIBRARY_LEVELS: dict[str, int] = {
    "httpx": logging.WARNING,          # "HTTP Request: POST https://api.telegram.org/bot<TOKEN>/..." at INFO
    "httpcore": logging.WARNING,       # connection-level debug, URLs included
    "telegram": logging.INFO,          # python-telegram-bot: DEBUG dumps request parameters
    "telegram.ext": logging.INFO,
    "discord": logging.INFO,           # discord.py: DEBUG logs webhook URLs with their token
    "ccxt": logging.WARNING,           # request/response dumps
    "apscheduler": logging.WARNING,    # "Running job ..." every second
    "aiohttp.access": logging.WARNING,
    "urllib3": logging.WARNING,
    "asyncio": logging.WARNING,
    "matplotlib": logging.WARNING,
    "PIL": logging.WARNING,
}


_TELEGRAM_TOKEN = re.compile(r"^[0-9]+:([A-Za-z0-9_-]{20,})$")


def _expand(secrets: Iterable[str]) -> set[str]:
    """The secrets themselves, plus the parts that can appear alone: a Discord webhook URL's token
    (in a URL built on another API base) and a Telegram token's secret half (after ``<bot id>:``)."""
    out: set[str] = set()
    for s in secrets:
        if not s:
            continue
        out.add(s)
        if "/webhooks/" in s:
            out.add(s.rstrip("/").rsplit("/", 1)[-1])
        m = _TELEGRAM_TOKEN.match(s)
        if m:
            out.add(m.group(1))
    return {s for s in out if len(s) >= 6}


class RedactingFilter(logging.Filter):
    """Replaces every configured secret in a record's final message with ``***``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted(_expand(secrets), key=len, reverse=True)

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
            if record.stack_info:
                record.stack_info = self.redact(record.stack_info)
            if clean != msg:
                record.msg, record.args = clean, None
        return True


class OneLineFormatter(logging.Formatter):
    """One event, one line: newlines inside a message or a traceback become `` | ``."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if "\n" in text:
            text = " | ".join(part for part in text.replace("\r", "").split("\n") if part.strip())
        return text


def log_path(log_file: Path | str) -> Path:
    """``KIMPBOT_LOG_FILE`` as a path: a relative one lives in ``KIMPBOT_DATA_DIR`` (the one place
    the shipped systemd unit and container may write), an absolute one where it says."""
    path = Path(log_file).expanduser()
    if not path.is_absolute():
        path = Path(os.environ.get("KIMPBOT_DATA_DIR") or "data") / path
    return path


def setup_logging(level: str = "INFO", secrets: Iterable[str] = (), stream=None,  # type: ignore[no-untyped-def]
                  log_file: Path | str | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
                  backups: int = DEFAULT_BACKUPS) -> RedactingFilter:
    """Install kimpbot's handlers on the root logger (replacing any it installed before)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_kimpbot", False):
            root.removeHandler(h)
            if isinstance(h, logging.FileHandler):
                h.close()
    flt = RedactingFilter(secrets)
    formatter = OneLineFormatter(FORMAT)
    handlers: list[logging.Handler] = [logging.StreamHandler(stream or sys.stderr)]
    if log_file is not None:
        path = log_path(log_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(path, maxBytes=int(max_bytes),
                                                             backupCount=int(backups), encoding="utf-8"))
    for handler in handlers:
        handler._kimpbot = True  # type: ignore[attr-defined]
        handler.setFormatter(formatter)
        handler.addFilter(flt)
        root.addHandler(handler)
    root.setLevel(level)
    for name, floor in LIBRARY_LEVELS.items():
        lg = logging.getLogger(name)
        if lg.level < floor:  # never lower a level someone raised on purpose
            lg.setLevel(floor)
    return flt


LOG_TAIL_LINES = 1000  # log lines the in-memory tail keeps (when no log file is configured)


class LogTail(logging.Handler):
    """The last log lines in memory, for /logs when no log file is configured. Records are kept
    as formatted; /logs redacts them when shown (secrets of the running settings, URL credentials)."""

    def __init__(self, size: int = LOG_TAIL_LINES) -> None:
        super().__init__(logging.INFO)
        import collections

        self.lines: collections.deque[str] = collections.deque(maxlen=size)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record).replace("\n", " | "))
        except Exception:  # a log line that cannot be formatted is not worth an error
            pass


_LOG_TAIL: LogTail | None = None


def log_tail() -> LogTail:
    """The process's one in-memory log tail (installed on the root logger on first use)."""
    global _LOG_TAIL
    if _LOG_TAIL is None:
        _LOG_TAIL = LogTail()
        logging.getLogger().addHandler(_LOG_TAIL)
    return _LOG_TAIL


# what the log redaction (kimpbot.logs.RedactingFilter: the configured secrets) does not know: secrets
# carried in URLs of any service (user:password@, token/key/secret query parameters, a bot token path)
_URL_SECRETS = (
    (re.compile(r"(?i)(https?://)[^/\s:@]+:[^/\s@]+@"), r"\1***@"),
    (re.compile(r"(?i)([?&;](?:[a-z_]*token|[a-z_]*key|[a-z_]*secret|signature|password|pass|auth|sig)=)[^&\s\"']+"),
     r"\1***"),
    (re.compile(r"/bot\d+:[A-Za-z0-9_-]+"), "/bot***"),
    (re.compile(r"(/webhooks/\d+/)[A-Za-z0-9_.-]+"), r"\1***"),
    (re.compile(r"(?i)\b(bearer|authorization:?)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 ***"),
)


def redact_line(line: str, flt: Any) -> str:
    """``flt``: a :class:`kimpbot.logs.RedactingFilter` over the running settings' secrets."""
    line = flt.redact(line)
    for rx, sub in _URL_SECRETS:
        line = rx.sub(sub, line)
    return line
