"""Static checks over the code: pyflakes' rules through ruff (pyproject's [tool.ruff.lint]).

An undefined name on a path the tests did not take (a NameError in /halt's close-all was found
this way only at run time) fails here instead of on the owner's phone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_pyflakes_rules_pass_over_the_package_tests_and_benchmarks():
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise",
                        "kimpbot", "tests", "benchmarks"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
