"""Lets a benchmark run as ``python benchmarks/NAME.py`` from the repo root import what the tests
import: this checkout's ``kimpbot`` (ahead of any installed copy) and, from ``tests/``, ``testkit``
and the fake chat servers ``fakes`` (pytest gets ``tests/`` from pyproject's ``pythonpath``).
A benchmark imports it first: ``import _paths  # noqa: F401``."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _p in (ROOT / "tests", ROOT):   # ROOT ends up first
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))
