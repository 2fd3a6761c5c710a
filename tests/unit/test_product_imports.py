"""The product never imports test code: nothing under ``kimpbot/`` names ``tests``, ``testkit``,
``fakes`` (the fake Telegram/Discord servers in ``tests/fakes/``) or any other top-level name that
only ``tests/`` provides. An installed bot has no ``tests/`` directory (the wheel ships ``kimpbot*``
only), so such an import would fail only on the owner's machine."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ROOT / "kimpbot"
TESTS = ROOT / "tests"


def _test_only_names() -> set[str]:
    """``tests`` itself, and every name importable from ``tests/`` (on the path via pythonpath)."""
    names = {"tests"}
    for p in TESTS.iterdir():
        if p.suffix == ".py":
            names.add(p.stem)
        elif p.is_dir() and any(p.glob("*.py")):
            names.add(p.name)
    return names


def _imported(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import, and of ``importlib.import_module("...")`` /
    ``__import__("...")`` with a literal name."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name in ("import_module", "__import__"):
                out.append((node.lineno, node.args[0].value))
    return out


def offending_imports(source: str, where: str, forbidden: set[str]) -> list[str]:
    return [f"{where}:{line}: imports {mod}" for line, mod in _imported(ast.parse(source, where))
            if mod.split(".")[0] in forbidden]


def test_the_checker_catches_each_form_of_import():
    forbidden = _test_only_names()
    assert {"tests", "testkit", "fakes", "conftest"} <= forbidden
    src = ("import tests.fakes.telegram\nfrom fakes.discord import FakeDiscord\nfrom testkit import wait_until\n"
           "import importlib\nm = importlib.import_module('fakes.telegram')\n"
           "from kimpbot.sim.market import SimMarket\nfrom .fakes import x\n")
    assert offending_imports(src, "x.py", forbidden) == [
        "x.py:1: imports tests.fakes.telegram", "x.py:2: imports fakes.discord",
        "x.py:3: imports testkit", "x.py:5: imports fakes.telegram"]


def test_kimpbot_never_imports_test_code():
    forbidden = _test_only_names()
    files = sorted(PRODUCT.rglob("*.py"))
    assert len(files) > 50, files   # the scan really read the package
    bad = [hit for f in files
           for hit in offending_imports(f.read_text(encoding="utf-8"), str(f.relative_to(ROOT)), forbidden)]
    assert bad == [], "the product imports test code:\n" + "\n".join(bad)


def test_the_fake_chat_servers_live_in_tests_not_in_the_product():
    assert not (PRODUCT / "sim" / "telegram.py").exists() and not (PRODUCT / "sim" / "discord.py").exists()
    assert (TESTS / "fakes" / "telegram.py").is_file() and (TESTS / "fakes" / "discord.py").is_file()

