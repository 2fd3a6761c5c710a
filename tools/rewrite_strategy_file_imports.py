"""Rewrite imports of the modules issue #14 moved into ``kimpbot/strategy_file/`` (one-off, for merges).

    python tools/rewrite_strategy_file_imports.py FILE_OR_DIR ...

    kimpbot.params           -> kimpbot.strategy_file.declare   (every name)
    kimpbot.strategy.params  -> kimpbot.strategy_file.keys      (every name)
    kimpbot.strategy_file    -> kimpbot.strategy_file.edit      (every name; the old module is now the package)
    kimpbot.config           -> kimpbot.strategy_file.keys      UPBIT_MIN_ORDER_KRW, OPERATIONS_SPECS, ALL_SPECS
                             -> kimpbot.strategy_file.read      OwnerConfig, DEFAULT_STRATEGY_FILE, HOW_TO_CREATE,
                                read_strategy_text, load_owner_config, round_trip_fee_pct,
                                smallest_orders_krw, check_money, check_fx, cross_check
                             (everything else stays in kimpbot.config)

Rewrites ``from <old> import a, b`` statements (any indentation, one line or parenthesized) into the
new modules, splitting a statement whose names now live in several modules. Idempotent: a rewritten
file is left as it is. Other spellings (``import kimpbot.params``, ``from kimpbot import params``) are
listed for a hand edit. Delete this file once every branch of issue #14's round is merged.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

# modules moved whole: every name goes to the new module
MOVED = {
    "kimpbot.params": "kimpbot.strategy_file.declare",
    "kimpbot.strategy.params": "kimpbot.strategy_file.keys",
    "kimpbot.strategy_file": "kimpbot.strategy_file.edit",
}
# kimpbot.config: these names moved, the rest stays
CONFIG_MOVED = {
    **{n: "kimpbot.strategy_file.keys" for n in ("UPBIT_MIN_ORDER_KRW", "OPERATIONS_SPECS", "ALL_SPECS")},
    **{n: "kimpbot.strategy_file.read" for n in (
        "OwnerConfig", "DEFAULT_STRATEGY_FILE", "HOW_TO_CREATE", "read_strategy_text", "load_owner_config",
        "round_trip_fee_pct", "smallest_orders_krw", "check_money", "check_fx", "cross_check")},
}
WIDTH = 120


SUBMODULES = ("declare", "keys", "read", "edit")  # kimpbot.strategy_file is now their package


def _dest(module: str, name: str) -> str:
    if module == "kimpbot.strategy_file" and name in SUBMODULES:
        return module
    if module in MOVED:
        return MOVED[module]
    if module == "kimpbot.config":
        return CONFIG_MOVED.get(name, module)
    return module


def _render(indent: str, module: str, names: list[str], vertical: bool, tail: str) -> list[str]:
    head = f"{indent}from {module} import "
    if vertical and len(names) > 1:
        return [head + "(\n"] + [f"{indent}    {n},\n" for n in names] + [f"{indent}){tail}\n"]
    one = head + ", ".join(names)
    if len(one + tail) <= WIDTH:
        return [one + tail + "\n"]
    lines, cur = [], head + "("
    pad = " " * len(cur)
    for i, n in enumerate(names):
        piece = n + (", " if i < len(names) - 1 else ")")
        if cur != head + "(" and len(cur + piece.rstrip() + (tail if i == len(names) - 1 else "")) > WIDTH:
            lines.append(cur.rstrip() + "\n")
            cur = pad
        cur += piece
    lines.append(cur + tail + "\n")
    return lines


def rewrite(text: str) -> tuple[str, list[str]]:
    tree = ast.parse(text)
    src = text.splitlines(keepends=True)
    edits: list[tuple[int, int, list[str]]] = []
    manual: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name in MOVED or a.name == "kimpbot.config":
                    manual.append(f"line {node.lineno}: import {a.name}")
            continue
        if not isinstance(node, ast.ImportFrom) or node.level or node.module is None:
            continue
        if node.module == "kimpbot":
            for a in node.names:
                if f"kimpbot.{a.name}" in MOVED or a.name == "config":
                    manual.append(f"line {node.lineno}: from kimpbot import {a.name}")
            continue
        if node.module not in MOVED and node.module != "kimpbot.config":
            continue
        groups: dict[str, list[str]] = {}
        for a in node.names:
            groups.setdefault(_dest(node.module, a.name), []).append(
                a.name if a.asname is None else f"{a.name} as {a.asname}")
        if list(groups) == [node.module]:
            continue  # nothing of it moved
        first, last = node.lineno - 1, node.end_lineno - 1
        indent = src[first][: node.col_offset]
        tail = src[last][node.end_col_offset:].rstrip("\n")
        vertical = last > first and len({a.lineno for a in node.names}) == len(node.names)
        order = [node.module] if node.module in groups else []
        order += sorted(m for m in groups if m != node.module)
        out: list[str] = []
        for m in order:
            out += _render(indent, m, groups[m], vertical, tail)
        edits.append((first, last, out))
    for first, last, out in sorted(edits, reverse=True):
        src[first:last + 1] = out
    return "".join(src), manual


def main(argv: list[str]) -> int:
    files: list[Path] = []
    for arg in argv or ["."]:
        p = Path(arg)
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    for f in files:
        if any(part in (".venv", ".git", "build") for part in f.parts):
            continue
        text = f.read_text(encoding="utf-8")
        new, manual = rewrite(text)
        if new != text:
            f.write_text(new, encoding="utf-8")
            print(f"rewrote {f}")
        for m in manual:
            print(f"EDIT BY HAND {f}: {m}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
