"""Local checks: the strategy file loads, the data dir is writable with free space."""

from __future__ import annotations

import os
import shutil
import uuid

from kimpbot.config import Settings
from kimpbot.strategy_file.read import (
    OwnerConfig,
    load_owner_config,
)
from kimpbot.doctor.common import (
    FAIL,
    MIN_FREE_BYTES,
    PASS,
    CheckResult,
)
from kimpbot.strategy_file.declare import ConfigError


def check_strategy_file(settings: Settings) -> tuple[CheckResult, OwnerConfig | None]:
    path = settings.strategy_file
    if not path.exists():
        return CheckResult("strategy file", FAIL,
                           f"{path} not found (the bot would run on built-in defaults you did not choose): copy "
                           "the repository's strategy.toml there or set KIMPBOT_STRATEGY_FILE"), None
    try:
        owner = load_owner_config(path)
    except ConfigError as exc:
        return CheckResult("strategy file", FAIL, str(exc)), None
    except OSError as exc:
        return CheckResult("strategy file", FAIL, f"{path}: {exc.strerror or exc}"), None
    sp = owner.strategy
    unset = owner.params.unset_open_keys()
    return CheckResult("strategy file", PASS,
                       f"{path}: strategy {sp.strategy} on {', '.join(sp.symbols)}"
                       + (f"; {len(unset)} keys unset by owner (defaults in force)" if unset else "")), owner


def check_data_dir(settings: Settings) -> CheckResult:
    d = settings.data_dir
    try:
        d.mkdir(parents=True, exist_ok=True)
        for target in (d, d / settings.mode):
            if target != d and not target.exists():
                continue
            probe = target / f".doctor-{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"
            with open(probe, "wb") as fh:
                fh.write(b"kimpbot doctor\n")
                fh.flush()
                os.fsync(fh.fileno())
            probe.unlink()
        free = shutil.disk_usage(d).free
    except OSError as exc:
        return CheckResult("data dir", FAIL, f"{d}: {exc.strerror or exc}: the bot's user must own it "
                                             f"(e.g. chown -R kimpbot: {d})")
    if free < MIN_FREE_BYTES:
        return CheckResult("data dir", FAIL, f"{d.resolve()}: only {free / 2**20:.0f} MB free "
                                             f"(the journal needs room: free at least {MIN_FREE_BYTES // 2**20} MB)")
    return CheckResult("data dir", PASS, f"{d.resolve()} writable, {free / 2**30:.1f} GB free")
