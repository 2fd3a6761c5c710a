"""``kimpbot backtest --sweep`` and ``--walk-forward``: the grid in parallel, the owner's row marked,
a heatmap, out-of-sample parts — and the strategy file never written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from testkit import backtest_cli as run


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIMPBOT_CACHE_DIR", "off")
    monkeypatch.delenv("KIMPBOT_STRATEGY_FILE", raising=False)
    monkeypatch.chdir(tmp_path)


OWNER_FILE = """# the owner's file: kimpbot must not touch it
strategy = "optimized"
[optimized]
normal_z = 2.0
normal_target = 0.8
"""


def test_sweep_grid_marks_the_owner_row_writes_a_heatmap_and_never_the_strategy_file(tmp_path: Path,
                                                                                    capsys) -> None:
    f = tmp_path / "strategy.toml"
    f.write_text(OWNER_FILE)
    before = (f.read_bytes(), os.stat(f).st_mtime_ns)
    png = tmp_path / "sweep.png"
    code, out, err = run(["--strategy-file", str(f), "--sweep", "optimized.normal_z=1.5,2,2.5",
                          "--sweep", "optimized.normal_target=0.5,0.8", "--chart", str(png), "--json",
                          "--workers", "2"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert (f.read_bytes(), os.stat(f).st_mtime_ns) == before  # not a byte, not even a touch
    assert doc["keys"] == ["optimized.normal_z", "optimized.normal_target"] and doc["workers"] == 2
    pts = doc["points"]
    assert len(pts) == 6 and all(p["error"] is None for p in pts)
    [own] = [p for p in pts if p["owner"]]
    assert own["values"] == {"optimized.normal_z": 2.0, "optimized.normal_target": 0.8}
    # the owner's row is the plain backtest of the file
    _, plain, _ = run(["--strategy-file", str(f), "--json"], capsys)
    base = json.loads(plain)["optimized"]
    assert own["annual_return_pct"] == base["annual_return_pct"] and own["trades"] == base["trades"]
    assert len({(p["trades"], p["annual_return_pct"]) for p in pts}) > 1  # the keys really changed the runs
    assert png.stat().st_size > 10_000
    code, text, _ = run(["--strategy-file", str(f), "--sweep", "optimized.normal_z=1.5,2"], capsys)
    star = [line for line in text.splitlines() if line.startswith("*")]
    assert len(star) == 1 and star[0].split()[1] == "2"
    assert "the strategy file is not changed" in text
    assert f.read_bytes() == before[0]


def test_owner_row_is_added_when_the_grid_misses_it_and_bad_points_are_named(tmp_path: Path, capsys) -> None:
    code, out, _ = run(["--sweep", "optimized.split_step_z=0.25,0.6", "--json", "--workers", "1"], capsys)
    assert code == 0
    pts = json.loads(out)["points"]
    assert [p["values"]["optimized.split_step_z"] for p in pts] == [0.25, 0.6, None]
    assert pts[2]["owner"] and pts[2]["error"] is None  # unset by owner: derived, the current setting
    assert "invalid" in pts[1]["error"] and "below extreme_z" in pts[1]["error"]


def test_walk_forward_reports_every_part_for_every_point(capsys) -> None:
    code, out, _ = run(["--sweep", "optimized.normal_z=1.8,2.2", "--walk-forward", "3", "--json"], capsys)
    assert code == 0
    doc = json.loads(out)
    assert len(doc["parts"]) == 3
    assert doc["parts"][0]["to"] == doc["parts"][1]["from"]
    for p in doc["points"]:
        assert len(p["walk_forward"]) == 3
        for k, part in enumerate(p["walk_forward"]):
            assert part["period_start"] >= doc["parts"][k]["from"][:19]  # trades only inside its part
            assert part["period_end"] <= doc["parts"][k]["to"]
    assert [c["part"] for c in doc["walk_forward_choice"]] == [2, 3]
    code, text, _ = run(["--sweep", "optimized.normal_z=1.8,2.2", "--walk-forward", "3"], capsys)
    assert "walk-forward" in text and "out of sample" in text


@pytest.mark.parametrize("argv,msg", [
    (["--sweep", "optimized.normal_zz=1,2"], "a number key of the strategy file"),
    (["--sweep", "optimized.normal_z"], "KEY=V1,V2"),
    (["--sweep", "optimized.normal_z=abc"], "float"),
    (["--sweep", "optimized.normal_z=-1"], ">= 0.0"),
    (["--sweep", "optimized.normal_z=2", "--strategy", "all"], "one strategy"),
    (["--walk-forward", "3"], "used with --sweep"),
    (["--sweep", "optimized.normal_z=2", "--walk-forward", "1"], ">= 2"),
])
def test_bad_sweep_arguments_are_named(argv: list[str], msg: str, capsys) -> None:
    code, _, err = run(argv, capsys)
    assert code == 2 and msg in err
