"""deploy/requirements.lock: every dependency of pyproject.toml pinned (version inside its range, with
hashes), nothing pinned twice for one environment, and — the install itself is the README's first
command and CI's — the versions installed here are the lock's."""

from __future__ import annotations

import importlib.metadata as md
import re
import tomllib
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "deploy" / "requirements.lock"


def _lock() -> list[tuple[str, Version, Marker | None, list[str]]]:
    text = LOCK.read_text()
    out = []
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        block = "\n".join(ln for ln in block.splitlines() if not ln.lstrip().startswith("#"))
        if not block.strip():
            continue
        head = block.split("\\")[0].strip()
        req = Requirement(head)
        (spec,) = list(req.specifier)
        assert spec.operator == "==", f"{head}: the lock pins with =="
        out.append((canonicalize_name(req.name), Version(spec.version), req.marker,
                    re.findall(r"--hash=sha256:([0-9a-f]{64})", block)))
    return out


def _applies(marker: Marker | None) -> bool:
    return marker is None or marker.evaluate()


def test_every_pin_has_hashes():
    pins = _lock()
    assert len(pins) > 20
    for name, _v, _m, hashes in pins:
        assert hashes, f"{name} has no --hash: pip's hash-checking mode would refuse the whole file"


def test_lock_covers_pyproject_within_its_ranges():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    here = {n: v for n, v, m, _h in _lock() if _applies(m)}
    for line in deps:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name in here, f"{req.name} is in pyproject.toml but not in the lock: re-run the command in its header"
        assert req.specifier.contains(here[name], prereleases=True), \
            f"{req.name}: the lock pins {here[name]}, outside pyproject's {req.specifier}"


def test_one_pin_per_package_for_this_python():
    seen: dict[str, Version] = {}
    for name, v, m, _h in _lock():
        if _applies(m):
            assert name not in seen, f"{name} pinned twice for this environment ({seen[name]}, {v})"
            seen[name] = v


def test_this_environment_was_installed_from_the_lock():
    """The README's install command installs the lock first; a package here at another version than
    the lock's means the lock does not install (or the README skipped it)."""
    wrong = []
    for name, v, m, _h in _lock():
        if not _applies(m):
            continue
        try:
            have = Version(md.version(name))
        except md.PackageNotFoundError:
            wrong.append(f"{name} {v}: not installed")
            continue
        if have != v:
            wrong.append(f"{name}: lock {v}, installed {have}")
    assert not wrong, "; ".join(wrong)
