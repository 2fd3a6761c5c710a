"""`kimpbot run` against the simulated exchanges (via the env URLs) and `kimpbot demo` print a live premium table."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from typing import Callable

import pytest

TABLE_ROW = re.compile(r"^(BTC|ETH|XRP)\s+[+-]\d+\.\d\d\s+[+-]\d+\.\d\d\s+[+-]\d+\.\d\d\s+[+-]\d+\.\d\d", re.M)


async def run_cli(args, env, timeout=90):
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "kimpbot", *args, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                stdin=asyncio.subprocess.DEVNULL)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode(), err.decode()


async def run_cli_until(args, env, done: Callable[[str, str], bool], timeout=60):
    """`python -m kimpbot ARGS` until ``done(stdout, stderr)`` holds, then SIGTERM (the console's
    graceful stop, as ^C); ``--duration timeout`` caps the run, so a condition that never comes
    ends the process by itself and the caller's asserts show its output."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "kimpbot", *args, "--duration", str(timeout),
                                                env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL)
    out, err = bytearray(), bytearray()

    async def pump(stream, buf: bytearray) -> None:
        while chunk := await stream.read(4096):
            buf.extend(chunk)

    pumps = asyncio.gather(pump(proc.stdout, out), pump(proc.stderr, err))
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while proc.returncode is None and loop.time() < end and not done(out.decode(errors="replace"),
                                                                      err.decode(errors="replace")):
        await asyncio.sleep(0.1)
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(pumps, timeout + 30)
    await asyncio.wait_for(proc.wait(), 30)
    return proc.returncode, out.decode(), err.decode()


def base_env(tmp_path, strategy_file):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UPBIT_", "BINANCE_", "TELEGRAM_", "DISCORD_"))}
    env.update({"KIMPBOT_DATA_DIR": str(tmp_path / "data"), "KIMPBOT_STRATEGY_FILE": str(strategy_file)})
    return env


@pytest.mark.korean_default
async def test_run_against_sim_prints_premium_table(sim, tmp_path, strategy_file):
    env = base_env(tmp_path, strategy_file) | sim.env()
    sim.market.set_premium("BTC", 2.5)

    def btc_at_premium(out: str, _err: str) -> bool:
        rows = [ln for ln in out.splitlines() if TABLE_ROW.match(ln)]
        return {"BTC", "ETH", "XRP"} <= {ln.split()[0] for ln in rows} and any(
            ln.startswith("BTC ") and abs(float(ln.split()[2]) - 2.5) <= 0.06 for ln in rows)

    code, out, err = await run_cli_until(["run", "--table-every", "1", "--no-stdin"], env, btc_at_premium)
    assert code == 0, err
    # the banner in the default language (Korean), a few short lines; the details follow in English
    assert "kimpbot 시작\n모의 · 확인 후 거래\n종목 BTC, ETH, XRP\n전략 optimized\n" in out
    assert "protections: halt at a daily loss of 800,000 KRW (2 %)" in out
    assert "FX usdkrw (bank USD/KRW)" in out
    rows = TABLE_ROW.findall(out)
    assert {"BTC", "ETH", "XRP"} <= set(rows)
    btc = [ln for ln in out.splitlines() if ln.startswith("BTC ")][-1]
    assert float(btc.split()[2]) == __import__("pytest").approx(2.5, abs=0.06)  # the mid premium column
    for secret in (sim.env()["UPBIT_SECRET_KEY"], sim.env()["BINANCE_API_SECRET"]):
        assert secret not in out and secret not in err


@pytest.mark.korean_default
async def test_run_without_network_points_to_demo(tmp_path, strategy_file):
    env = base_env(tmp_path, strategy_file) | {"UPBIT_API_URL": "http://127.0.0.1:9",
                                               "BINANCE_FUTURES_API_URL": "http://127.0.0.1:9",
                                               "FX_API_URL": "http://127.0.0.1:9"}
    # a printed table: the console's signal handlers are in place, a SIGTERM stops it gracefully
    code, out, err = await run_cli_until(["run", "--table-every", "1", "--no-stdin"], env,
                                         lambda out, err: "kimpbot demo" in err and "premiums in %" in out)
    # unreachable exchanges are transient: the process stays up, not trading, and says why
    assert code == 0, err
    assert "아직 거래 안 함" in out and "cannot reach" in out and "127.0.0.1:9" in out  # Korean default banner
    assert "kimpbot keeps trying by itself" in err and "kimpbot demo" in err
    assert "Traceback" not in err


async def test_demo_prints_a_moving_premium(tmp_path, strategy_file):

    def btc_mids(out: str) -> list[float]:
        return [float(ln.split()[2]) for ln in out.splitlines() if TABLE_ROW.match(ln) and ln.startswith("BTC")]

    code, out, err = await run_cli_until(["demo", "--table-every", "1", "--no-stdin", "--sim-step", "0.5"],
                                         base_env(tmp_path, strategy_file),
                                         lambda out, _err: len(set(btc_mids(out))) > 1 and len(btc_mids(out)) >= 3)
    assert code == 0, err
    assert "demo: simulated Upbit, Binance and FX on 127.0.0.1" in out
    mids = btc_mids(out)
    assert len(mids) >= 3
    assert len(set(mids)) > 1, "the demo premium should move"


async def test_config_check_names_bad_key(tmp_path):
    bad = tmp_path / "s.toml"
    bad.write_text("[zscore]\nentry_threshold = 'two'\n")
    env = base_env(tmp_path, bad) | {"BINANCE_API_SECRET": "do-not-print-this-secret"}
    code, out, err = await run_cli(["config", "check"], env)
    assert code == 78  # EX_CONFIG, as for `run`
    assert "zscore.entry_threshold" in err and "'two'" in err and "float" in err
    good = tmp_path / "g.toml"
    good.write_text("")
    code, out, err = await run_cli(["config", "check"], base_env(tmp_path, good) |
                                   {"BINANCE_API_SECRET": "do-not-print-this-secret"})
    assert code == 0, err
    assert "do-not-print-this-secret" not in out + err
    assert "BINANCE_API_SECRET = (set)" in out
    assert "zscore.exit_z" in out and "default, unset by owner" in out


async def test_churn_configuration_refused_by_config_check_and_run(sim, tmp_path):
    # issue 10 §3: a stop loss of 0 was accepted and churned ~1M KRW a minute of paper round trips
    churn = tmp_path / "churn.toml"
    churn.write_text("[exits]\nstop_loss_pct = 0\nmax_holding_hours = 0\n")
    env = base_env(tmp_path, churn) | sim.env()
    for args in (["config", "check"], ["run", "--duration", "5", "--no-stdin", "--no-warmup"]):
        code, out, err = await run_cli(args, env)
        assert code not in (0, 1), (args, err)  # a config error's exit code, not a crash
        assert err.startswith("config error: exits.stop_loss_pct = 0") and "churn" in err, err
        assert "Traceback" not in err and "kimpbot 시작" not in out and "kimpbot started" not in out


async def test_readme_sim_two_liner_points_a_bot_at_the_sims(tmp_path, strategy_file):
    """README's `kimpbot sim` two-liner, as a shell runs it: the second line waits for the env file
    (written in one rename once the servers listen) and the bot reads the sims' URLs from it."""
    kb = f"{sys.executable} -m kimpbot"
    script = (f"rm -f sim.env; {kb} sim --env-out sim.env > /dev/null 2>&1 & pid=$!\n"
              f"until [ -s sim.env ]; do sleep 0.2; done; set -a; . ./sim.env; set +a; "
              f"{kb} config check; rc=$?; kill $pid; exit $rc\n")
    env = base_env(tmp_path, strategy_file)
    proc = await asyncio.create_subprocess_exec("bash", "-c", script, cwd=tmp_path, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()[-2000:]
    text = out.decode()
    assert re.search(r"UPBIT_API_URL = http://127\.0\.0\.1:\d+", text), text[:2000]
    assert "trade mode: confirm" in text and "config OK" in text
