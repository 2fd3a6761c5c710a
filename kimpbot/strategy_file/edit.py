"""Owner-confirmed edits of the strategy file (``/set`` from chat): ``plan_change``, ``write_change``.

The file is the owner's: kimpbot edits one line of it only when an allowed user asks for a change
and confirms it with a second button. The edit keeps every other line and comment as it is, is
validated by loading the whole edited file exactly as at start (types, ranges, cross-checks) and
comparing every other key with the file's current values, and is written atomically (temp file,
fsync, rename), so a crash leaves either the old or the new file, never half of one.

A file kimpbot cannot replace (read-only for it, as in the shipped systemd unit and compose file)
is refused when the change is asked for, not after the owner pressed Apply; a symlinked file is
written through the link (the link stays).
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

import tomlkit
import tomlkit.items

from kimpbot.strategy_file.declare import ConfigError, ParamSpec, _fmt, resolve
from kimpbot.strategy_file.keys import ALL_SPECS
from kimpbot.strategy_file.read import DEFAULT_STRATEGY_FILE, OwnerConfig, load_owner_config, read_strategy_text

# Keys whose new value the running bot can take at once: the numbers read at each decision.
# Everything else shapes state built at start (windows, symbols, feeds, venues) and is used from
# the next start; backtest.* is read by each `kimpbot backtest` run.
RESTART_KEYS = ("strategy", "symbols", "zscore.window_days", "zscore.bar_minutes", "multi_timeframe.confirm_bars",
                "multi_timeframe.confirm_bar_minutes", "fx.", "market.max_quote_age_s", "market.ws_reconnect_max_s",
                "fees.", "execution.order_timeout_s", "execution.unknown_grace_s", "execution.leverage", "paper.",
                "execution.late_window_s", "execution.position_check_s")
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
    are accepted for text keys and ``none``/``off`` switches off a key that allows it. A comma in a
    number is a thousands separator only between groups of three digits (``40,000,000.5``); any
    other comma (``2,5``: a decimal comma) is refused rather than read as 25."""
    raw = raw.strip()
    key = spec.key if sub is None else f"{spec.key}.{sub}"
    if spec.nullable and raw.lower() in ("none", "off"):
        return None
    if raw.lower() in ("on", "off", "yes", "no") and spec.kind is bool:
        return raw.lower() in ("on", "yes")
    if "," in raw and _COMMA_NUMBER.fullmatch(raw):
        if not _GROUPED.fullmatch(raw):
            raise ConfigError(key, raw, "a number with a dot for decimals (2.5, not 2,5); a comma only "
                                        "between groups of three digits (1,000,000)")
        raw = raw.replace(",", "")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        if spec.kind is str and sub is None and re.fullmatch(r"[A-Za-z0-9_.\-]+", raw):
            return raw
        raise ConfigError(key, raw, spec.allowed()) from None
    if spec.kind is str and sub is None and re.fullmatch(r"[+-]?[0-9][0-9_]*(\.[0-9]+)?", raw):
        return raw  # a text key holding a number, e.g. backtest.inventory 5000000
    if spec.kind is float and sub is None and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    return value


# a number typed with a comma somewhere; accepted only as exact thousands groups
_COMMA_NUMBER = re.compile(r"[+-]?[0-9][0-9,._]*")
_GROUPED = re.compile(r"[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?")


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


def _literal_item(literal: str) -> Any:
    """A TOML literal as a tomlkit item (keeps its own layout, e.g. an inline table)."""
    return tomlkit.parse(f"v = {literal}")["v"]


def _own_line(item: Any, leaf: str, literal: str, note: str) -> Any:
    """A new key line: its note in the file's comment column (34), ended by a newline."""
    item.comment(note)
    item.trivia.comment_ws = " " * max(2, 34 - len(f"{leaf} = {literal}"))
    item.trivia.trail = "\n"
    return item


def _commented_default(container: Any, leaf: str) -> int | None:
    """Where ``# leaf = ...`` (a key left at its default, shown commented) sits in a table's body."""
    pat = re.compile(rf"^\s*#\s*{re.escape(leaf)}\s*=")
    for i, (k, item) in enumerate(container.body):
        if k is None and isinstance(item, tomlkit.items.Comment) and pat.match(item.as_string()):
            return i
    return None


def _table(doc: Any, table: str) -> Any | None:
    """``[table]`` ("" = the top level; dotted names nest), or None when the file has none."""
    node = doc
    for part in (table.split(".") if table else []):
        if part not in node or not isinstance(node[part], (tomlkit.items.Table, tomlkit.items.InlineTable)):
            return None
        node = node[part]
    return node


def _inline_table_line(text: str, table: str, leaf: str) -> bool:
    """Whether ``[table]`` holds an active ``leaf = { ... }`` (an inline table)."""
    tbl = _table(tomlkit.parse(text), table)
    return tbl is not None and isinstance(tbl.get(leaf), tomlkit.items.InlineTable)


def set_in_text(text: str, table: str, leaf: str, literal: str, note: str) -> str:
    """``text`` with ``leaf = literal`` in ``[table]`` ("" = top level), edited with tomlkit so the
    owner's comments and layout stay: an existing key gets the new value (its comment kept), else a
    commented-out ``# leaf = ...`` line (the default, shown) is taken over with ``note`` as its
    comment, else the key is added to the table (created at the end when missing)."""
    doc = tomlkit.parse(text)
    item = _literal_item(literal)
    tbl = _table(doc, table)
    if tbl is None:   # a new [table] at the end, its dotted name as the owner would write it
        new = tomlkit.table()
        new.add(leaf, item.comment(note))
        sep = "" if not text or text.endswith("\n") else "\n"
        return f"{text}{sep}\n[{table}]\n{tomlkit.dumps(new)}"
    if leaf in tbl:
        tbl[leaf] = item   # tomlkit keeps the line's comment and spacing
        return tomlkit.dumps(doc)
    if isinstance(tbl, tomlkit.items.InlineTable):   # optimized = { ... }: one more entry, no comment
        tbl[leaf] = item
        return tomlkit.dumps(doc)
    container = tbl.value if hasattr(tbl, "value") and hasattr(tbl.value, "body") else tbl
    at = _commented_default(container, leaf)
    _own_line(item, leaf, literal, note)
    if at is not None:
        try:   # the default's commented line becomes the owner's line, in its place
            container._insert_at(at, leaf, item)
            old = container.body[at + 1][1].trivia   # the comment, now after it: rendered as nothing
            old.indent = old.comment_ws = old.comment = old.trail = ""
            return tomlkit.dumps(doc)
        except AttributeError:   # a tomlkit without these: append instead (the comment line stays)
            doc = tomlkit.parse(text)
            tbl = _table(doc, table)
            item = _own_line(_literal_item(literal), leaf, literal, note)
    tbl.add(leaf, item)
    return tomlkit.dumps(doc)


class FileRefusal(ConfigError):
    """A refusal caused by the file, not by the value: its message does not blame the value."""

    def __init__(self, key: str, value: object, allowed: str, message: str) -> None:
        super().__init__(key, value, allowed)
        self.args = (message,)


class FileLayoutError(FileRefusal):
    """The change itself is fine but this file's layout does not take a one-line edit."""

    def __init__(self, key: str, value: object, path: Path, reason: str) -> None:
        super().__init__(key, value, f"a file kimpbot can edit in place ({reason})",
                         f"{key}: this file's layout cannot be edited in place ({reason}); edit {path} by hand")


class FileNotWritableError(FileRefusal):
    """kimpbot may not replace the strategy file (a read-only deployment): refused before Apply."""

    def __init__(self, key: str, value: object, path: Path, reason: str) -> None:
        super().__init__(key, value, f"a strategy file kimpbot can write ({reason})",
                         f"{key}: kimpbot cannot write the strategy file {path} ({reason}); edit it by hand "
                         "and restart kimpbot, or make it writable for kimpbot (see README, Deploying)")


@dataclass(frozen=True)
class ParamChange:
    """A checked change of one key, ready to be written once the owner confirms."""

    key: str            # the declared key (a table key for an allocation entry)
    shown_key: str      # what the owner typed, resolved (``optimized.allocation.BTC``)
    old: Any            # for a table entry: the entry (None: no such entry yet)
    new: Any
    old_status: str
    path: Path
    new_text: str
    file_sha: str       # the file as it was when checked: a confirm refuses if it changed since
    applies: str        # now | restart | backtest

    def summary(self) -> str:
        when = {"now": "takes effect at once", "restart": "takes effect at the next start",
                "backtest": "used by the next `kimpbot backtest`"}[self.applies]
        old = "no entry" if self.old is None and self.shown_key != self.key else _fmt_value(self.old)
        return (f"{self.shown_key}: {old} ({self.old_status}) → {_fmt_value(self.new)}\n"
                f"written to {self.path}; {when}.")


def _fmt_value(v: Any) -> str:
    return "none (off)" if v is None else _fmt(v)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_file(path: Path) -> str:
    """The file's text ("" when it is gone), read as at start: a directory, FIFO, unreadable or
    non-UTF-8 file is a ConfigError, never a traceback or a read that waits forever."""
    return read_strategy_text(path) if os.path.lexists(path) else ""


# -- can kimpbot replace the file? -------------------------------------------------------------------

def _target(path: Path) -> Path:
    """The file a write lands in: a symlink's target (the link stays a link)."""
    return Path(os.path.realpath(path))


def _writable(p: Path) -> bool:
    """Whether this process may write ``p`` (for a directory: create and rename entries in it). A
    read-only mount (systemd ProtectSystem=strict, a compose ``:ro`` mount) counts as not writable."""
    mode = os.W_OK | (os.X_OK if p.is_dir() else 0)
    return os.access(p, mode, effective_ids=os.access in os.supports_effective_ids)


def why_not_writable(path: Path) -> str | None:
    """Why kimpbot cannot replace the strategy file at ``path`` (None: it can). The write is a temp
    file next to it renamed over it, so the directory must be writable too; a missing file needs
    a writable directory (the nearest existing one: missing ones are created)."""
    target = _target(path)
    linked = target != Path(os.path.abspath(path))
    if target.exists() and not _writable(target):
        return f"its target {target} is read-only for kimpbot" if linked else "it is read-only for kimpbot"
    d = target.parent
    while not d.exists() and d != d.parent:
        d = d.parent
    if not _writable(d):
        if not target.exists():
            return f"it does not exist and {d} is read-only for kimpbot"
        return f"its directory {d} is read-only for kimpbot"
    return None


# -- table entries (optimized.allocation.BTC, paper.upbit_coins.BTC) ----------------------------------

# dict key -> (lowest, highest or None, what an entry is)
_ENTRY_RULES: dict[str, tuple[float, float | None, str]] = {
    "optimized.allocation": (0.0, 1.0, "a fraction of the capital in [0, 1]"),
    "paper.upbit_coins": (0.0, None, "a coin amount >= 0"),
}


def _entry_value(spec: ParamSpec, sub: str, raw: str, symbols: list[str]) -> Any:
    """One table entry typed in chat, checked on its own: its name must be a traded symbol and its
    value a finite number in range (the whole table is checked again with the file)."""
    shown = f"{spec.key}.{sub}"
    value = parse_value(spec, raw, sub)
    rule = _ENTRY_RULES.get(spec.key)
    if rule is None:
        return value
    lo, hi, what = rule
    if sub not in symbols:
        hint = f"; did you mean {sub.upper()}?" if sub.upper() in symbols else ""
        more = (" (a new coin goes into symbols and optimized.allocation together: edit the file by hand)"
                if spec.key == "optimized.allocation" else "")
        raise ConfigError(shown, raw, f"an entry named after a traded symbol in upper case, one of "
                                      f"{', '.join(symbols)}{hint}{more}")
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or value < lo or (hi is not None and value > hi)):
        raise ConfigError(shown, raw, f"{what} (a finite number)")
    return float(value)


# -- plan and write -----------------------------------------------------------------------------------

def plan_change(path: Path, name: str, raw: str, by: str, today: str) -> ParamChange:
    """Check a change of ``name`` to ``raw`` against the file at ``path``; raise ConfigError naming
    the key, the value and what is allowed (FileLayoutError when the value is fine but the file's
    layout does not take the edit; FileNotWritableError when kimpbot may not replace the file)."""
    spec, sub = find_key(name)
    shown = spec.key if sub is None else f"{spec.key}.{sub}"
    if spec.kind is dict and sub is None:
        raise ConfigError(spec.key, raw, f"one entry at a time, e.g. /set {spec.key}.BTC 0.4")
    blocked = why_not_writable(path)
    if blocked:
        raise FileNotWritableError(shown, raw, path, blocked)
    if not os.path.lexists(path):
        # kimpbot started with this file: a file with one key would put SPEC's defaults in force for
        # every other money number at the next start, so nothing is created
        raise FileRefusal(shown, raw, "an existing strategy file",
                          f"{shown}: the strategy file {path} is gone; restore it (e.g. from a backup, or cp {DEFAULT_STRATEGY_FILE} {path} and edit it) "
                          "and ask again")
    text = read_file(path)
    try:
        current = load_owner_config(path, text=text)
    except ConfigError as exc:
        raise FileRefusal(shown, raw, f"a strategy file that loads ({exc})",
                          f"{shown}: {path} does not load as it is ({exc}); fix it by hand first") from None
    pv = current.params.values[spec.key]
    if sub is not None:
        entry = _entry_value(spec, sub, raw, list(current.params["symbols"]))
        table_now = pv.value or {}  # a table unset by owner may be none (zscore.allocation)
        old_value: Any = table_now.get(sub)
        new_value: Any = dict(table_now)
        new_value[sub] = entry
        new_shown: Any = entry
        parent, _, name_in_parent = spec.key.rpartition(".")
        if pv.owner_set and not _inline_table_line(text, parent, name_in_parent):
            table, leaf, literal = spec.key, sub, toml_literal(entry)  # one line of [optimized.allocation]
        else:
            # an inline table (allocation = { ... }) is rewritten whole; a table still at its defaults
            # is written whole, so the entries not named keep their values
            table, leaf, literal = parent, name_in_parent, toml_literal(new_value)
        if table == spec.key:
            was = "no entry" if old_value is None else _fmt_value(old_value)
        else:
            # the note of a whole-table line tells the table it replaced
            was = pv.spec.none_text if pv.value is None else _fmt_value(pv.value)
    else:
        new_value = spec.coerce(parse_value(spec, raw))
        old_value = pv.value
        table, _, leaf = spec.key.rpartition(".")
        new_shown = new_value
        literal = '"none"' if new_value is None else toml_literal(new_value)
        was = spec.none_text if old_value is None else _fmt_value(old_value)
    if pv.owner_set and (old_value == new_shown if sub is not None else pv.value == new_value):
        raise ConfigError(shown, raw, "a value different from the one in force (it is already that)")
    note = f"set from chat by {by} on {today} (was {was}, {pv.status})"
    new_text = set_in_text(text or _NEW_FILE_HEAD, table, leaf, literal, note)
    _check_edit(path, spec, sub, shown, raw, current, new_text, new_value)
    return ParamChange(spec.key, shown, old_value, new_shown, pv.status, path, new_text, _sha(text),
                       applies(spec.key))


def _check_edit(path: Path, spec: ParamSpec, sub: str | None, shown: str, raw: str, current: OwnerConfig,
                new_text: str, new_value: Any) -> None:
    """Load the edited text as at start. A failure of the new value with the file's other values (a
    cross-check, an allocation summing past 1) blames the value; a failure the value alone cannot
    cause (the edit breaks the TOML, disturbs another key, misses its mark) blames the layout."""
    try:
        doc = tomllib.loads(new_text)
    except tomllib.TOMLDecodeError as exc:
        raise FileLayoutError(shown, raw, path, f"the edited file would not be valid TOML: {exc}") from None
    try:
        resolve(ALL_SPECS, doc, str(path))
    except ConfigError as exc:
        if exc.key == spec.key and sub is not None:  # the table's own check, e.g. the allocation's sum
            raise ConfigError(shown, raw, exc.allowed) from None
        raise FileLayoutError(shown, raw, path, str(exc)) from None
    try:
        checked = load_owner_config(path, text=new_text)
    except ConfigError as exc:  # cross-checks: the new value against the file's other values
        raise ConfigError(shown, raw, exc.allowed) from None
    # the edit must change exactly this key and nothing else
    for k, v in checked.params.values.items():
        before = current.params.values[k]
        if k == spec.key:
            if v.value != new_value:
                raise FileLayoutError(shown, raw, path, f"the edit would give {spec.key} = {_fmt_value(v.value)}")
        elif v.value != before.value or v.owner_set != before.owner_set:
            raise FileLayoutError(shown, raw, path, f"the edit would also change {k}")


_NEW_FILE_HEAD = ("# kimpbot strategy file: the OWNER's numbers. Keys left out take SPEC's defaults.\n"
                  "# Created by a change confirmed in chat; see strategy.toml in the repository for every key.\n")


def write_change(change: ParamChange) -> OwnerConfig:
    """Write a confirmed change atomically; refuse if the file changed since it was checked or
    kimpbot may no longer replace it."""
    if _sha(read_file(change.path)) != change.file_sha:
        raise ConfigError(change.shown_key, "(file)", "an unchanged file: it was edited since the change was "
                                                      "asked for; ask again")
    blocked = why_not_writable(change.path)
    if blocked:
        raise FileNotWritableError(change.shown_key, change.new, change.path, blocked)
    owner = load_owner_config(change.path, text=change.new_text)
    write_atomic(change.path, change.new_text)
    return owner


def write_atomic(path: Path, text: str) -> None:
    """Replace the file at ``path`` (a symlink's target; the link stays) with ``text``: a temp file
    in the same directory, fsynced, given the old file's mode, renamed over it, then the directory
    fsynced, so a crash leaves the old or the new file."""
    path = _target(path)
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
