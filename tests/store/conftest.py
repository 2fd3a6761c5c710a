from __future__ import annotations

from pathlib import Path

import pytest

from kimpbot.clock import ManualClock
from kimpbot.store import Store


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start_ms=1_735_689_600_000)  # 2025-01-01 00:00:00 UTC


@pytest.fixture
def store(tmp_path: Path, clock: ManualClock):
    s = Store(tmp_path, "paper", clock=clock)
    yield s
    s.close()


@pytest.fixture
def reopen():
    """Close a store and open it again from disk (what a restart does)."""
    opened: list[Store] = []

    def _reopen(s: Store) -> Store:
        s.close()
        new = Store(s.dir.parent, s.mode, clock=s.clock)
        opened.append(new)
        return new

    yield _reopen
    for s in opened:
        s.close()
