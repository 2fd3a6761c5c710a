"""``/chart`` drawing: a PNG from the child process, the process ends when idle and after a failure,
and Korean labels only where a Korean font exists (else English, never empty boxes)."""

from __future__ import annotations

import os
import struct
import time

import pytest

from kimpbot.control import chart_draw
from kimpbot.control.charts import ChartData, ChartError, ChartWorker, Tier, request

PNG_SIG = b"\x89PNG\r\n\x1a\n"
BAR_MS = 300_000


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == PNG_SIG
    w, h = struct.unpack(">II", png[16:24])   # IHDR
    return w, h


def data() -> ChartData:
    ts = [1_764_800_000_000 + i * BAR_MS for i in range(288)]
    prem = [2.0 + 0.3 * ((i % 50) / 50) for i in range(288)]
    return ChartData(coin="BTC", period="1d", mode="paper", ts=ts, premium=prem, mean=2.15, std=0.09,
                     window_days=20, ready=True, z=0.4, tiers=[Tier(2, "normal"), Tier(3, "extreme"), Tier(4, "ultra")],
                     marks=[{"ts": ts[40], "premium": prem[40], "kind": "entry", "trade_id": "1"},
                            {"ts": ts[90], "premium": prem[90], "kind": "exit", "trade_id": "2"}],
                     open_entries=[2.2], covered_ms=ts[-1] - ts[0])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): read its state
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_child_process_draws_and_ends_when_idle():
    w = ChartWorker(idle_s=0.5, timeout_s=60)
    try:
        png, meta = w.draw(request(data(), "en"))
        assert png_size(png) == (720, 440) and len(png) > 10_000
        assert meta["lang"] == "en"
        pid = w.pid
        assert pid is not None and pid != os.getpid() and _alive(pid)
        png2, _ = w.draw(request(data(), "en"))      # the same process answers the next chart
        assert w.pid == pid and w.started == 1 and png2[:8] == PNG_SIG
        deadline = time.monotonic() + 20
        while (w.pid is not None or _alive(pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert w.pid is None and not _alive(pid), "the drawing process outlived its idle time"
        png3, _ = w.draw(request(data(), "en"))       # and a new one starts for the next chart
        assert png3[:8] == PNG_SIG and w.started == 2
    finally:
        w.close()
    assert w.pid is None


def test_a_bad_request_is_an_error_and_the_worker_goes_on():
    w = ChartWorker(idle_s=5)
    try:
        bad = request(data(), "en")
        del bad["labels"]["title"]
        with pytest.raises(ChartError, match="KeyError"):
            w.draw(bad)
        png, _ = w.draw(request(data(), "en"))
        assert png[:8] == PNG_SIG and w.started == 1
    finally:
        w.close()


def test_a_hung_or_dead_child_is_reported_not_waited_on(monkeypatch):
    w = ChartWorker(idle_s=5, timeout_s=60)
    try:
        w.draw(request(data(), "en"))
        os.kill(w.pid, 9)                              # the child dies between charts
        png, _ = w.draw(request(data(), "en"))         # a dead process is replaced, not written to
        assert png[:8] == PNG_SIG and w.started == 2
    finally:
        w.close()
    slow = ChartWorker(idle_s=5, timeout_s=0.3)
    try:
        t0 = time.monotonic()
        with pytest.raises(ChartError, match="no answer within 0.3 s"):
            slow.draw(request(data(), "en"))           # the cold start alone takes longer than 0.3 s
        assert time.monotonic() - t0 < 10 and slow.pid is None
    finally:
        slow.close()


def test_korean_labels_need_a_korean_font(monkeypatch):
    req = request(data(), "ko")
    font = chart_draw.korean_font()
    png, meta = chart_draw.draw_premium(req)
    assert png[:8] == PNG_SIG
    if font is not None:
        assert (meta["lang"], meta["font"]) == ("ko", font)
    monkeypatch.setattr(chart_draw, "_font_cache", [None])   # a machine without any Korean font
    png, meta = chart_draw.draw_premium(req)
    assert png[:8] == PNG_SIG and (meta["lang"], meta["font"]) == ("en", None)


def test_this_machine_finds_its_korean_font_on_disk():
    """Debian's fonts-noto-cjk (or fonts-nanum): matplotlib's cached font list may predate them."""
    from matplotlib import font_manager as fm

    on_disk = [p for p in fm.findSystemFonts() if "cjk" in p.lower() or "nanum" in p.lower()]
    if not on_disk:
        pytest.skip("no Korean font installed here (charts are then labelled in English)")
    assert chart_draw.korean_font() is not None


def test_the_drawing_process_gets_no_secrets(monkeypatch):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "7654321:AAH-secret-bot-token_xyz")
    monkeypatch.setenv("UPBIT_SECRET_KEY", "upbit-secret-value")
    w = ChartWorker(idle_s=5)
    try:
        w.draw(request(data(), "en"))
        with open(f"/proc/{w.pid}/environ", "rb") as f:
            env = f.read()
        assert b"secret" not in env and b"TELEGRAM" not in env and b"UPBIT" not in env
        assert b"PATH=" in env
    finally:
        w.close()
