"""How a key of the strategy file is declared, validated and resolved; ``ConfigError``.

The owner's numbers live in ``strategy.toml``. Each key is declared once (``ParamSpec``; the keys
themselves are in ``kimpbot.strategy_file.keys``) with its type, default, allowed range and whether
SPEC fixes the default or leaves it open. ``resolve`` turns a parsed file into a ``ParamSet``: an
unknown key is an error, and a key missing from the owner's file takes its default and is reported
as "unset by owner", so nothing the owner did not choose can pass silently for a choice of theirs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable


class ConfigError(ValueError):
    """A bad configuration value; the message names the key, the value and what is allowed."""

    def __init__(self, key: str, value: object, allowed: str) -> None:
        self.key = key
        self.value = value
        self.allowed = allowed
        super().__init__(f"{key} = {value!r} is invalid: allowed {allowed}")


_INT_LIMIT = 10**15


def _short(raw: object) -> object:
    """A huge integer shown by its size, not its 400 digits."""
    if isinstance(raw, int) and abs(raw) > _INT_LIMIT:
        return f"{str(raw)[:12]}... ({len(str(abs(raw)))} digits)"
    return raw


@dataclass(frozen=True)
class ParamSpec:
    key: str  # dotted path in the TOML file, e.g. "zscore.entry_threshold"
    kind: type  # float, int, bool, str, list, dict
    default: Any
    help: str
    # "spec": SPEC fixes this default; "open": SPEC leaves it open (shown as unset by
    # owner); "exchange": a venue's published number (fees), not the owner's choice
    origin: str = "spec"
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    nullable: bool = False  # None means "off" (e.g. no stop loss)
    check: Callable[[Any], str | None] | None = None  # returns an error text or None
    none_text: str = "none (off)"  # how a None value is shown (nullable keys)

    def allowed(self) -> str:
        parts: list[str] = []
        if self.choices:
            parts.append("one of " + ", ".join(self.choices))
        elif self.kind is bool:
            parts.append("true or false")
        else:
            parts.append(self.kind.__name__)
            if self.min is not None and self.max is not None:
                parts.append(f"in [{self.min}, {self.max}]")
            elif self.min is not None:
                parts.append(f">= {self.min}")
            elif self.max is not None:
                parts.append(f"<= {self.max}")
        if self.nullable:
            parts.append("or \"none\" to switch it off")
        return " ".join(parts)

    def coerce(self, raw: Any) -> Any:
        """Validate one raw TOML value; raise ConfigError naming this key."""
        # only an explicit "none"/"off" switches a key off: an empty value ("") is a mistake, not a choice
        if self.nullable and (raw is None or (isinstance(raw, str) and raw.strip().lower() in ("none", "off"))):
            return None
        value: Any
        if self.kind is bool:
            if not isinstance(raw, bool):
                raise ConfigError(self.key, raw, "true or false")
            value = raw
        elif self.kind is int:
            if isinstance(raw, bool) or not isinstance(raw, int):
                raise ConfigError(self.key, raw, self.allowed())
            if abs(raw) > _INT_LIMIT:  # no count kimpbot reads is this large; later float maths would overflow
                raise ConfigError(self.key, _short(raw), self.allowed())
            value = raw
        elif self.kind is float:
            if isinstance(raw, bool) or not isinstance(raw, (int, float)):
                raise ConfigError(self.key, raw, self.allowed())
            try:  # a TOML integer may be far larger than any float (10**400): refused, not an OverflowError
                value = float(raw)
            except OverflowError:
                raise ConfigError(self.key, _short(raw), self.allowed() + " (a finite number)") from None
            if not math.isfinite(value):
                raise ConfigError(self.key, raw, self.allowed() + " (a finite number)")
        elif self.kind is str:
            if not isinstance(raw, str):
                raise ConfigError(self.key, raw, self.allowed())
            value = raw
            if self.choices and value not in self.choices:
                raise ConfigError(self.key, raw, self.allowed())
        elif self.kind is list:
            if not isinstance(raw, list):
                raise ConfigError(self.key, raw, "a list")
            value = list(raw)
        elif self.kind is dict:
            if not isinstance(raw, dict):
                raise ConfigError(self.key, raw, "a table")
            value = dict(raw)
        else:  # pragma: no cover - declaration error
            raise TypeError(self.kind)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
                raise ConfigError(self.key, raw, self.allowed())
        if self.check is not None:
            problem = self.check(value)
            if problem:
                raise ConfigError(self.key, raw, problem)
        return value


@dataclass
class ParamValue:
    spec: ParamSpec
    value: Any
    owner_set: bool

    @property
    def status(self) -> str:
        if self.owner_set:
            return "set by owner"
        if self.spec.origin == "open":
            return "default, unset by owner"
        if self.spec.origin == "exchange":
            return "exchange default, unset by owner"
        return "SPEC default, unset by owner"


@dataclass
class ParamSet:
    """Resolved parameters: ``values[key]`` for every declared key."""

    values: dict[str, ParamValue] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.values[key].value

    def unset_open_keys(self) -> list[str]:
        return [k for k, v in self.values.items() if not v.owner_set and v.spec.origin == "open"]

    def describe(self) -> list[tuple[str, str, str]]:
        """(key, value, status) rows for /params, `config check` and the start banner."""
        rows = []
        for key, pv in self.values.items():
            shown = pv.spec.none_text if pv.value is None else _fmt(pv.value)
            rows.append((key, shown, pv.status))
        return rows


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) >= 1e5:
            return f"{int(value):,}"
        if abs(value) >= 1e5:  # :g would show 4e+07
            return f"{value:,.4f}".rstrip("0").rstrip(".")
        return f"{value:g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_fmt(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def _flatten(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for k, v in doc.items():
        key = f"{prefix}{k}"
        flat[key] = v
        if isinstance(v, dict):
            flat.update(_flatten(v, key + "."))
    return flat


def resolve(specs: Iterable[ParamSpec], doc: dict[str, Any], source: str) -> ParamSet:
    """Resolve declared specs against a parsed TOML document.

    Unknown keys are an error (a typo must not silently fall back to a default).
    """
    specs = list(specs)
    flat = _flatten(doc)
    declared = {s.key for s in specs}
    # A table-valued spec (e.g. an allocation map) owns its sub-keys.
    table_prefixes = tuple(s.key + "." for s in specs if s.kind is dict)
    for key, raw in flat.items():
        if key in declared or key.startswith(table_prefixes):
            continue
        if isinstance(raw, dict) and any(d.startswith(key + ".") for d in declared):
            continue  # a section header
        raise ConfigError(f"{source}: {key}", raw, "a known key (see the comments in strategy.toml)")
    out = ParamSet()
    for spec in specs:
        if spec.key in flat:
            out.values[spec.key] = ParamValue(spec, spec.coerce(flat[spec.key]), True)
        else:
            out.values[spec.key] = ParamValue(spec, spec.default, False)
    return out
