"""Drawing ``/chart`` PNGs with matplotlib, in a child process of the bot.

matplotlib costs the process that imports it ~50 MB for good (issue #14), so the long-running bot
never imports it: :class:`kimpbot.control.charts.ChartWorker` starts ``python -m
kimpbot.control.chart_draw`` on the first chart, hands it one request at a time over stdin/stdout
and lets it exit after a short idle time. This module imports nothing of kimpbot's, so the child
holds only matplotlib and numpy.

Wire format (both ways, big-endian lengths):

* request:  ``len:u32`` + JSON (see :func:`draw_premium`)
* answer:   ``b"K"`` + ``len:u32`` + JSON meta + ``len:u32`` + PNG, or ``b"E"`` + ``len:u32`` + error text

:func:`korean_font` is shared with the backtest chart (drawn in the CLI's own short-lived process).
"""

from __future__ import annotations

import io
import json
import os
import sys
from typing import Any, BinaryIO

KST_OFFSET_MS = 9 * 3_600_000
# Fonts with Hangul, most readable first; matplotlib falls back to DejaVu Sans for other glyphs.
KOREAN_FONTS = ("Noto Sans CJK KR", "Noto Sans KR", "NanumGothic", "NanumBarunGothic", "Malgun Gothic",
                "Apple SD Gothic Neo", "AppleGothic", "Source Han Sans KR", "Source Han Sans K", "UnDotum",
                "Noto Sans CJK JP", "Noto Sans CJK SC", "Noto Sans CJK TC")
_FILE_HINTS = ("notosanscjk", "notosanskr", "nanum", "malgun", "applegothic", "applesdgothic", "sourcehansans",
               "undotum", "baekmuk", "notoserifcjk")
_font_cache: list[str | None] = []


def _has_hangul(path: str) -> bool:
    from matplotlib.ft2font import FT2Font

    try:
        return FT2Font(path).get_char_index(ord("김")) != 0
    except Exception:  # unreadable or not a font: not ours to use
        return False


def korean_font() -> str | None:
    """A font family name with Hangul glyphs that matplotlib can use, or None (then charts are
    labelled in English rather than showing empty boxes). matplotlib's font list is cached once
    per version, possibly before the fonts were installed (Debian: fonts-noto-cjk, fonts-nanum),
    so files on disk are looked at too and added."""
    if _font_cache:
        return _font_cache[0]
    from matplotlib import font_manager as fm

    found: str | None = None
    names = {f.name for f in fm.fontManager.ttflist}
    for n in KOREAN_FONTS:
        if n in names:
            found = n
            break
    if found is None:
        files = [p for p in fm.findSystemFonts() if any(h in os.path.basename(p).lower().replace("-", "")
                                                        for h in _FILE_HINTS)]
        # sans before serif, regular before bold: the most legible face on a small screen
        files.sort(key=lambda p: ("serif" in p.lower(), "bold" in p.lower(), p))
        for path in files:
            if not _has_hangul(path):
                continue
            try:
                fm.fontManager.addfont(path)
                found = fm.FontProperties(fname=path).get_name()
            except Exception:
                continue
            break
    _font_cache.append(found)
    return found


def _labels(req: dict[str, Any]) -> tuple[dict[str, Any], str, str | None]:
    """The labels to draw, their language and the font: Korean only with a Korean font."""
    lang = req.get("lang", "en")
    font = korean_font() if lang == "ko" else None
    if lang == "ko" and font is None:
        return req["labels_en"], "en", None
    return req["labels"], lang, font


def draw_premium(req: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    """The ``/chart`` PNG. ``req``: ``ts`` (bar close times, ms UTC), ``premium`` (mid, %), ``mean``,
    ``bands`` (``[{"k", "level", "side"}]``), ``marks`` (``[{"ts", "premium", "kind"}]``),
    ``open`` (``[premium]``), ``labels`` / ``labels_en`` (strings), ``lang``."""
    import time

    t0 = time.perf_counter()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    import numpy as np
    from datetime import timedelta, timezone

    labels, lang, font = _labels(req)
    kst = timezone(timedelta(hours=9))
    rc = {"font.family": [font, "DejaVu Sans"] if font else ["DejaVu Sans"], "axes.unicode_minus": False}
    with plt.rc_context(rc):
        fig, ax = plt.subplots(figsize=(7.2, 4.4), dpi=100)
        try:
            t = np.asarray(req["ts"], dtype="int64").astype("datetime64[ms]")
            y = np.asarray(req["premium"], dtype="float64")
            ax.plot(t, y, color="#1f77b4", lw=1.1, label=labels["premium"], zorder=3)
            ax.axhline(req["mean"], color="grey", lw=0.8, ls="--", label=labels["mean"], zorder=2)
            tier_colors = ("#d4a017", "#e4572e", "#8e1b1b", "#5b2a86")
            band_colors = [tier_colors[min(b["tier_index"], len(tier_colors) - 1)] for b in req["bands"]]
            for b, c in zip(req["bands"], band_colors):
                ax.axhline(b["level"], color=c, lw=0.9, ls=":", zorder=1)
            for prem, lab in zip(req["open"], labels["open"]):
                ax.axhline(prem, color="#2ca02c", lw=1.3, ls="-.", label=lab, zorder=2)
            for kind, marker, color in (("entry", "^", "#2ca02c"), ("exit", "v", "#d62728")):
                ms = [m for m in req["marks"] if m["kind"] == kind]
                if ms:
                    ax.scatter(np.asarray([m["ts"] for m in ms], dtype="int64").astype("datetime64[ms]"),
                               [m["premium"] for m in ms], marker=marker, s=56, color=color, edgecolors="black",
                               linewidths=0.6, zorder=5, label=labels[kind])
            ax.set_title(labels["title"], fontsize=10)
            ax.set_ylabel(labels["ylabel"])
            ax.set_xlabel(labels["xlabel"])
            ax.grid(alpha=0.3)
            span_h = (req["ts"][-1] - req["ts"][0]) / 3_600_000 if len(req["ts"]) > 1 else 0
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M" if span_h <= 36 else "%m-%d", tz=kst))
            ax.legend(loc="best", fontsize=7, framealpha=0.8)
            if req["bands"]:
                # the band names on a right-hand axis: beside the plot, never over the latest data
                right = ax.twinx()
                right.set_ylim(ax.get_ylim())
                right.set_yticks([b["level"] for b in req["bands"]], labels["bands"], fontsize=7)
                for tick, c in zip(right.get_yticklabels(), band_colors):
                    tick.set_color(c)
            fig.autofmt_xdate()
            fig.tight_layout()
            buf = io.BytesIO()
            fig.savefig(buf, format="png")
        finally:
            plt.close(fig)
    return buf.getvalue(), {"lang": lang, "font": font, "draw_s": round(time.perf_counter() - t0, 3)}


# ---- the child process --------------------------------------------------------------------

def _read_exact(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if data is None or len(data) < n:
        raise EOFError
    return data


def _answer(out: BinaryIO, *parts: bytes, ok: bool) -> None:
    out.write(b"K" if ok else b"E")
    for p in parts:
        out.write(len(p).to_bytes(4, "big"))
        out.write(p)
    out.flush()


def main() -> int:
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the answers
    while True:
        try:
            n = int.from_bytes(_read_exact(inp, 4), "big")
            req = json.loads(_read_exact(inp, n))
        except EOFError:  # the bot closed the pipe (idle, or it ended): done
            return 0
        try:
            png, meta = draw_premium(req)
        except Exception as exc:  # one bad chart must not end the worker's answers
            _answer(out, f"{type(exc).__name__}: {exc}"[:500].encode(), ok=False)
            continue
        _answer(out, json.dumps(meta).encode(), png, ok=True)


if __name__ == "__main__":
    sys.exit(main())
