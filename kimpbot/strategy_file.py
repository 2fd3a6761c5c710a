"""Owner-confirmed edits of the strategy file (``/set`` from chat).

The file is the owner's: kimpbot edits one line of it only when an allowed user asks for a change
and confirms it with a second button. The edit keeps every other line and comment as it is, is
validated by loading the whole edited file exactly as at start (types, ranges, cross-checks) and
comparing every other key with the file's current values, and is written atomically (temp file,
fsync, rename), so a crash leaves either the old or the new file, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kimpbot.config import ALL_SPECS, OwnerConfig, load_owner_config
from kimpbot.params import ConfigError, ParamSpec, _fmt

# Keys whose new value the running bot can take at once: the numbers read at each decision.
# Everything else shapes state built at start (windows, symbols, feeds, venues) and is used from
# the next start; backtest.* is read by each `kimpbot backtest` run.
RESTART_KEYS = ("strategy", "symbols", "zscore.window_days", "zscore.bar_minutes", "multi_timeframe.confirm_bars",
                "multi_timeframe.confirm_bar_minutes", "fx.", "market.max_quote_age_s", "market.ws_reconnect_max_s",
                "fees.", "execution.order_timeout_s", "execution.unknown_grace_s", "execution.leverage", "paper.")
BACKTEST_KEYS = ("backtest.",)

_SPECS = {s.key: s for s in ALL_SPECS}


def applies(key: str) -> str:
    """When a change of ``key`` takes effect: "now", "restart" or "backtest"."""
    if key.startswith(BACKTEST_KEYS):
        return "backtest"
    if any(key == k or (k.endswith(".") and key.startswith(k)) for k in RESTART_KEYS):
        return "restart"
    return "now"


def find_key(name: str) -> tuple[ParamSpec, str | None]:
    """The spec for ``name`` (full dotted key, a unique last part such as ``exit_z``, or a table entry
    such as ``optimized.allocation.BTC``) and the table entry's sub-key, if any."""
    name = name.strip()
    if name in _SPECS:
        return _SPECS[name], None
    for spec in ALL_SPECS:
        if spec.kind is dict and name.startswith(spec.key + "."):
            sub = name[len(spec.key) + 1:]
            if sub:
                return spec, sub
    matches = [s for s in ALL_SPECS if s.key.rsplit(".", 1)[-1] == name]
    if len(matches) == 1:
        return matches[0], None
    if matches:
        raise ConfigError(name, "(key)", "one of " + ", ".join(s.key for s in matches) + " (the name is ambiguous)")
    raise ConfigError(name, "(key)", "a key of the strategy file (/params lists them)")


def parse_value(spec: ParamSpec, raw: str, sub: str | None = None) -> Any:
    """A value typed in chat, as TOML (``2.5``, ``true``, ``"usdt"``, ``["BTC", "ETH"]``); bare words
    are accepted for text keys and ``none``/``off`` switches off a key that allows it."""
    raw = raw.strip()
    if spec.nullable and raw.lower() in ("none", "off"):
        return None
    if raw.lower() in ("on", "off", "yes", "no") and spec.kind is bool:
        return raw.lower() in ("on", "yes")
    try:
        value = tomllib.loads(f"v = {raw.replace(',', '') if _numberish(raw) else raw}")["v"]
    except tomllib.TOMLDecodeError:
        if spec.kind is str and sub is None and re.fullmatch(r"[A-Za-z0-9_.\-]+", raw):
            return raw
        raise ConfigError(spec.key if sub is None else f"{spec.key}.{sub}", raw, spec.allowed()) from None
    if spec.kind is float and sub is None and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    return value


def _numberish(raw: str) -> bool:
    return bool(re.fullmatch(r"[+-]?[0-9][0-9,_]*(\.[0-9]+)?", raw))


def toml_literal(value: Any) -> str:
    """A TOML literal for a value of a declared kind."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value}")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(toml_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_literal(v)}" for k, v in value.items()) + " }"
    raise TypeError(type(value).__name__)


_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\-\s\"]+?)\s*\]\s*(#.*)?$")


def _line_key(line: str) -> tuple[str, bool] | None:
    """(key, commented) for a ``key = ...`` or ``# key = ...`` line."""
    m = re.match(r"^\s*(#\s*)?([A-Za-z0-9_\-]+)\s*=", line)
    if m is None:
        return None
    return m.group(2), bool(m.group(1))


def _value_comment(line: str) -> str:
    """The trailing ``# comment`` after a value (strings may hold a '#': skip over them)."""
    body = line.split("=", 1)[1] if "=" in line else ""
    in_str: str | None = None
    for i, ch in enumerate(body):
        if in_str:
            if ch == in_str:
                in_str = None
        elif ch in "\"'":
            in_str = ch
        elif ch == "#":
            return body[i:].rstrip("\n")
    return ""


def set_in_text(text: str, table: str, leaf: str, literal: str, note: str) -> str:
    """``text`` with ``leaf = literal`` in ``[table]`` ("" = top level): an existing line is replaced
    (its comment kept), else a commented-out ``# leaf = ...`` line is taken over (its comment, which
    described the default, replaced by ``note``), else the line is added to the table (created at
    the end when missing)."""
    lines = text.splitlines(keepends=True)
    # locate the table's body: from its header (or the top) to the next header
    start, end = 0, len(lines)
    if table:
        start = -1
        for i, ln in enumerate(lines):
            m = _HEADER.match(ln)
            if m and m.group(1).replace(" ", "") == table:
                start = i + 1
                break
    if start >= 0:
        for j in range(start, len(lines)):
            if _HEADER.match(lines[j]):
                end = j
                break
    width = 34
    if start < 0:
        sep = "" if not text or text.endswith("\n") else "\n"
        return f"{text}{sep}\n[{table}]\n{f'{leaf} = {literal}':<{width}}# {note}\n"
    active = commented = None
    for j in range(start, end):
        k = _line_key(lines[j])
        if k is not None and k[0] == leaf:
            if not k[1] and active is None:
                active = j
            elif k[1] and commented is None:
                commented = j
    if active is not None:
        old = lines[active]
        indent = old[: len(old) - len(old.lstrip())]
        comment = _value_comment(old)
        core = f"{indent}{leaf} = {literal}"
        lines[active] = (f"{core:<{width}}{comment}" if comment else core) + "\n"
    elif commented is not None:
        lines[commented] = f"{f'{leaf} = {literal}':<{width}}# {note}\n"
    else:
        at = end
        while at > start and not lines[at - 1].strip():
            at -= 1  # keep blank lines between tables
        if at > 0 and not lines[at - 1].endswith("\n"):
            lines[at - 1] += "\n"
        lines.insert(at, f"{f'{leaf} = {literal}':<{width}}# {note}\n")
    return "".join(lines)


@dataclass(frozen=True)
class ParamChange:
    """A checked change of one key, ready to be written once the owner confirms."""

    key: str            # the declared key (a table key for an allocation entry)
    shown_key: str      # what the owner typed, resolved (``optimized.allocation.BTC``)
    old: Any
    new: Any
    old_status: str
    path: Path
    new_text: str
    file_sha: str       # the file as it was when checked: a confirm refuses if it changed since
    applies: str        # now | restart | backtest

    def summary(self) -> str:
        when = {"now": "takes effect at once", "restart": "takes effect at the next start",
                "backtest": "used by the next `kimpbot backtest`"}[self.applies]
        return (f"{self.shown_key}: {_fmt_value(self.old)} ({self.old_status}) → {_fmt_value(self.new)}\n"
                f"written to {self.path}; {when}.")


def _fmt_value(v: Any) -> str:
    return "none (off)" if v is None else _fmt(v)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_file(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


def plan_change(path: Path, name: str, raw: str, by: str, today: str) -> ParamChange:
    """Check a change of ``name`` to ``raw`` against the file at ``path``; raise ConfigError naming
    the key, the value and what is allowed."""
    spec, sub = find_key(name)
    text = read_file(path)
    current = load_owner_config(path if text else None, text=text or None)
    pv = current.params.values[spec.key]
    if sub is not None:
        entry = parse_value(spec, raw, sub)
        new_value: Any = dict(pv.value)
        old_value: Any = pv.value.get(sub)
        new_value[sub] = entry
        table, leaf, literal = spec.key, sub, toml_literal(entry)
        shown, new_shown = f"{spec.key}.{sub}", entry
    else:
        new_value = spec.coerce(parse_value(spec, raw))
        old_value = pv.value
        table, _, leaf = spec.key.rpartition(".")
        shown, new_shown = spec.key, new_value
        if new_value is None:
            literal = '"none"'
        else:
            literal = toml_literal(new_value)
    if spec.kind is dict and sub is None:
        raise ConfigError(spec.key, raw, f"one entry at a time, e.g. /set {spec.key}.BTC 0.4")
    if pv.owner_set and (old_value == new_shown if sub is not None else pv.value == new_value):
        raise ConfigError(shown, raw, "a value different from the one in force (it is already that)")
    note = f"set from chat by {by} on {today} (was {_fmt_value(old_value)}, {pv.status})"
    new_text = set_in_text(text or _NEW_FILE_HEAD, table, leaf, literal, note)
    try:
        checked = load_owner_config(path, text=new_text)
    except ConfigError as exc:
        raise ConfigError(shown, raw, exc.allowed) from None
    # the edit must change exactly this key and nothing else
    for k, v in checked.params.values.items():
        before = current.params.values[k]
        if k == spec.key:
            if v.value != new_value:
                raise ConfigError(shown, raw, "a file kimpbot can edit in place (edit it by hand instead)")
        elif v.value != before.value or v.owner_set != before.owner_set:
            raise ConfigError(shown, raw, f"an edit that leaves {k} alone (edit the file by hand instead)")
    return ParamChange(spec.key, shown, old_value, new_shown, pv.status, path, new_text, _sha(text),
                       applies(spec.key))


_NEW_FILE_HEAD = ("# kimpbot strategy file: the OWNER's numbers. Keys left out take SPEC's defaults.\n"
                  "# Created by a change confirmed in chat; see strategy.toml in the repository for every key.\n")


def write_change(change: ParamChange) -> OwnerConfig:
    """Write a confirmed change atomically; refuse if the file changed since it was checked."""
    if _sha(read_file(change.path)) != change.file_sha:
        raise ConfigError(change.shown_key, "(file)", "an unchanged file: it was edited since the change was "
                                                      "asked for; ask again")
    owner = load_owner_config(change.path, text=change.new_text)
    write_atomic(change.path, change.new_text)
    return owner


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dfd = os.open(str(path.parent), os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
