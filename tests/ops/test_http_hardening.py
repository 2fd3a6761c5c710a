"""The HTTP server under a hostile world (issue 10 §5): hung-connection floods, DNS rebinding,
a public bind without a token. A real bot against the simulated exchanges, a real aiohttp server,
the flood from a separate process."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from kimpbot.cli import main as cli_main
from kimpbot.config import load_settings
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.control.http import HttpApi, health_report
from kimpbot.control.httpguard import AcceptErrorLog
from kimpbot.engine import Bot
from kimpbot.strategy_file.declare import ConfigError

from testkit import short_window, wait_until

from .conftest import stop_bot

TOKEN = "monitor-token-0123456789abcdef"
FAST = short_window(max_quote_age_s=2)
FLOOD = Path(__file__).with_name("flood_client.py")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
async def bot(sim, tmp_path):
    sf = tmp_path / "strategy.toml"
    sf.write_text(FAST)
    settings = load_settings(sim.env() | {"KIMPBOT_STRATEGY_FILE": str(sf), "KIMPBOT_DATA_DIR": str(tmp_path / "d"),
                                          "KIMPBOT_HTTP_TOKEN": TOKEN,
                                          "KIMPBOT_PUBLIC_URL": "https://bot.example.com"})
    b = Bot(settings, load_owner_config(sf), warmup=False, trading=False)
    await b.start()
    try:
        yield b
    finally:
        await stop_bot(b)


# ------------------------------------------------------------------ bind without a token

@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "bot.example.com"])
def test_non_loopback_bind_without_token_is_a_config_error(host):
    with pytest.raises(ConfigError) as ei:
        load_settings({"KIMPBOT_HTTP_HOST": host})
    msg = str(ei.value)
    assert "KIMPBOT_HTTP_HOST" in msg and host in msg and "KIMPBOT_HTTP_TOKEN" in msg
    # with a token, or with the server off, or on loopback, it is fine
    assert load_settings({"KIMPBOT_HTTP_HOST": host, "KIMPBOT_HTTP_TOKEN": TOKEN}).http_host == host
    assert load_settings({"KIMPBOT_HTTP_HOST": host, "KIMPBOT_HTTP_PORT": "0"}).http_port == 0
    for lo in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert load_settings({"KIMPBOT_HTTP_HOST": lo}).http_host == lo


def test_short_token_and_bad_lang_refused():
    with pytest.raises(ConfigError, match="KIMPBOT_HTTP_TOKEN.*16 characters"):
        load_settings({"KIMPBOT_HTTP_TOKEN": "short"})
    with pytest.raises(ConfigError, match="KIMPBOT_LANG"):
        load_settings({"KIMPBOT_LANG": "jp"})
    with pytest.raises(ConfigError, match="KIMPBOT_PUBLIC_URL"):
        load_settings({"KIMPBOT_PUBLIC_URL": "bot.example.com"})


def test_config_check_and_run_refuse_a_public_bind_without_token(monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KIMPBOT_HTTP_HOST", "0.0.0.0")
    monkeypatch.delenv("KIMPBOT_HTTP_TOKEN", raising=False)
    for argv in (["config", "check"], ["run", "--duration", "0.1", "--no-stdin"]):
        assert cli_main(argv) != 0
        err = capsys.readouterr().err
        assert "KIMPBOT_HTTP_HOST" in err and "KIMPBOT_HTTP_TOKEN" in err


# ------------------------------------------------------------------ Host header, bearer token

async def test_host_header_mismatch_is_refused(bot):
    api = HttpApi(bot, "127.0.0.1", 0, dashboard=False)
    await api.start()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        async with aiohttp.ClientSession() as s:
            async def status(path, host, headers=None):
                async with s.get(api.url + path, headers={"Host": host, **(headers or {})}) as r:
                    return r.status, await r.text()

            # a DNS-rebinding page: evil.example resolves to 127.0.0.1, the browser sends its name
            for host in ("evil.example", f"evil.example:{api.port}", "127.0.0.1.evil.example", "[::2]:1"):
                for path in ("/health", "/status"):
                    code, text = await status(path, host, auth)
                    assert code == 421, (host, path, code)
                    assert "Host" in text and "mode" not in text
            for host in (f"127.0.0.1:{api.port}", f"localhost:{api.port}", "bot.example.com", "BOT.example.com:443"):
                code, _ = await status("/status", host, auth)
                assert code == 200, host
            # the JSON endpoints need the bearer token; /health stays public
            assert (await status("/health", "127.0.0.1"))[0] in (200, 503)
            for path in ("/status", "/positions", "/trades"):
                code, text = await status(path, "127.0.0.1")
                assert code == 401 and "KIMPBOT_HTTP_TOKEN" in text
                code, _ = await status(path, "127.0.0.1", {"Authorization": "Bearer wrong-token-0123456789"})
                assert code == 401
                code, _ = await status(path, "127.0.0.1", auth)
                assert code == 200
    finally:
        await api.stop()


# ------------------------------------------------------------------ hung-connection flood

def test_accept_errors_are_logged_once_a_minute(caplog):
    loop = asyncio.new_event_loop()
    try:
        h = AcceptErrorLog()
        h.install(loop)
        with caplog.at_level(logging.ERROR, logger="kimpbot.control.http"):
            for _ in range(500):  # asyncio retries accept() every second while out of descriptors
                loop.call_exception_handler({"message": "socket.accept() out of system resource",
                                             "exception": OSError(24, "Too many open files")})
        assert h.reported == 1 and h.suppressed == 499
        assert len([r for r in caplog.records if "cannot accept" in r.getMessage()]) == 1
        other = []
        h._prev = lambda lp, ctx: other.append(ctx["message"])
        loop.call_exception_handler({"message": "something else"})
        assert other == ["something else"]  # everything else goes to the handler that was there
        h.uninstall()
        assert loop.get_exception_handler() is not h
    finally:
        loop.close()


async def test_hung_connection_flood_keeps_feeds_fresh_and_health_answering(sim, bot):
    """600 idle and slowloris connections (reconnecting as soon as they are closed) against a
    process with only ~250 descriptors to spare: the cap and the timeouts keep the server's
    descriptors bounded, the websocket feeds and REST fallback keep the books fresh, /health
    answers throughout, and nothing floods the log."""
    api = HttpApi(bot, "127.0.0.1", 0, max_connections=64, header_timeout_s=1.0, request_timeout_s=3.0,
                  dashboard=False)
    await api.start()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    spare = 250
    base = open_fds()
    resource.setrlimit(resource.RLIMIT_NOFILE, (base + spare, hard))
    proc = None
    try:
        assert await wait_until(lambda: health_report(bot)[0], timeout=15)
        proc = await asyncio.create_subprocess_exec(sys.executable, str(FLOOD), str(api.port), "300", "300", "8",
                                                    stdout=subprocess.PIPE)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=4)) as s:
            assert await wait_until(lambda: api.guard.open >= 60, timeout=10), "the flood did not arrive"
            checks = 0
            max_fds = 0
            loop = asyncio.get_running_loop()
            t_end = loop.time() + 6
            connects = {f.name: f.connects for f in bot.feeds}
            dropped = False
            while loop.time() < t_end:
                t0 = loop.time()
                async with s.get(api.url + "/health") as r:
                    body = await r.json()
                assert r.status == 200, body  # books and FX fresh, scheduler running
                assert loop.time() - t0 < 3.0
                max_fds = max(max_fds, open_fds())
                checks += 1
                if not dropped and checks >= 3:
                    # both exchanges drop their websockets mid-flood: the feeds must open new
                    # sockets (and the REST fallback too) while the flood is at its height
                    sim.market.faults.inject("binance", "ws", "drop")
                    sim.market.faults.inject("upbit", "ws", "drop")
                    dropped = True
                await asyncio.sleep(0.2)
            assert await wait_until(lambda: all(f.connects > connects[f.name] and f.connected for f in bot.feeds),
                                    timeout=10), {f.name: (f.connects, f.last_error) for f in bot.feeds}
            now = bot.clock.now_ms()
            for f in bot.feeds:
                assert now - f.last_message_ms < 2000, (f.name, now - f.last_message_ms)
        out, _ = await proc.communicate()
        stats = json.loads(out.decode().strip().splitlines()[-1])
        assert stats["connects"] > 600  # the flood was refused / evicted and came back, again and again
        assert api.guard.evicted + api.guard.refused > 100
        assert checks >= 4  # each one answered 200 within 3 s, the last ones after the drop
        # bounded: the cap, one accept batch and the feeds' own sockets; far from the limit (base + 250)
        assert max_fds < base + 64 + 90, (base, max_fds)
        assert api.accept_log.reported == 0  # never ran out of descriptors
    finally:
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        await api.stop()


async def test_idle_slow_and_slow_body_connections_are_closed_by_the_timeouts(bot):
    api = HttpApi(bot, "127.0.0.1", 0, header_timeout_s=0.5, request_timeout_s=1.0, dashboard=False)
    await api.start()
    loop = asyncio.get_running_loop()
    conns = []
    try:
        for kind in ("idle", "slow", "body"):
            r, w = await asyncio.open_connection("127.0.0.1", api.port)
            if kind == "slow":
                w.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
            if kind == "body":  # complete headers, then a body that never comes
                w.write(b"POST /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nx")
            conns.append((kind, r, w, loop.time()))

        async def closed_after(kind, r, w, t0):
            while True:
                if kind == "slow":
                    w.write(b"a")  # a byte at a time keeps the connection busy, not alive
                data = await asyncio.wait_for(r.read(1024), timeout=5)
                if not data:
                    return loop.time() - t0

        took = await asyncio.gather(*(closed_after(*c) for c in conns), return_exceptions=True)
        assert all(isinstance(t, float) for t in took), took
        assert took[0] < 2.5 and took[1] < 2.5 and took[2] < 3.0, took
        assert api.guard.timed_out >= 2 and api.guard.open == 0
        # a normal request is answered and its connection closed (no keep-alive to idle on)
        r, w = await asyncio.open_connection("127.0.0.1", api.port)
        w.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data = await asyncio.wait_for(r.read(), timeout=5)
        assert data.startswith((b"HTTP/1.1 200", b"HTTP/1.1 503"))  # answered (503 while warming up), then closed
        w.close()
    finally:
        for _, _, w, _ in conns:
            w.close()
        await api.stop()


def test_shipped_unit_raises_the_descriptor_limit_and_compose_says_token():
    repo = Path(__file__).resolve().parents[2]
    unit = (repo / "deploy" / "kimpbot.service").read_text()
    vals = [ln.split("=", 1)[1].strip() for ln in unit.splitlines() if ln.startswith("LimitNOFILE=")]
    assert vals and int(vals[0].split(":")[-1]) >= 16384, vals
    compose = (repo / "deploy" / "compose.yaml").read_text()
    assert "KIMPBOT_HTTP_TOKEN" in compose and "nofile" in compose
