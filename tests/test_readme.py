"""The README's commands are the ones CI runs: a new user's first commands must work."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci_lines = [ln for ln in (REPO / ".ci/run").read_text().splitlines() if ln and not ln.startswith(("#", "set ", "cd "))]
    assert ci_lines, ".ci/run runs nothing"
    for line in ci_lines:
        assert line in readme, f".ci/run line not in README: {line}"


def test_readme_first_commands_install_and_run():
    readme = (REPO / "README.md").read_text()
    assert ('python3 -m venv .venv && .venv/bin/pip install -r deploy/requirements.lock && '
            '.venv/bin/pip install -e . && .venv/bin/kimpbot run') in readme
    assert '.venv/bin/kimpbot demo' in readme
