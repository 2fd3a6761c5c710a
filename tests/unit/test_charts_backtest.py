"""``kimpbot backtest --chart``: a title with strategy, period, return and Sharpe; entry and exit marks
in each coin's colour, with a legend naming them; labels in both languages."""

from __future__ import annotations

import re
import zlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from kimpbot import i18n  # noqa: E402
from kimpbot.backtest.chart import figure, title, write_chart  # noqa: E402
from kimpbot.backtest.data import SAMPLE_DIR, load_dataset  # noqa: E402
from kimpbot.backtest.engine import run_strategy  # noqa: E402
from kimpbot.backtest.fills import market_model  # noqa: E402
from kimpbot.backtest.metrics import compute  # noqa: E402
from kimpbot.strategy_file.read import load_owner_config  # noqa: E402


@pytest.fixture(scope="module")
def run():
    oc = load_owner_config(None)
    ds = load_dataset(SAMPLE_DIR, cache=False)
    r = run_strategy(ds, oc.strategy, "optimized", market_model(oc))
    assert sum(len(s.decisions) for s in r.symbols.values()) > 0
    return r, {"optimized": compute(r, oc.strategy.initial_capital_krw)}, oc.strategy.initial_capital_krw


def test_title_names_strategy_period_return_and_sharpe(run):
    r, results, _ = run
    res = results["optimized"]
    t = title("optimized", res)
    en, ko = t.render("en"), t.render("ko")
    assert en == (f"optimized · {res['period_start'][:10]} to {res['period_end'][:10]} · "
                  f"return {res['total_return_pct']:+.2f}% · Sharpe {res['sharpe']:.2f}")
    assert ko.startswith("optimized · " + res["period_start"][:10]) and "수익률" in ko and "샤프" in ko
    assert "n/a" in title("zscore", {}).render("en")    # a run with no result yet still gets a title


def test_marks_in_each_coins_colour_with_a_legend(run):
    r, results, initial = run
    fig = figure([r], initial, None, 2.0, results)
    try:
        assert fig.get_suptitle() == title("optimized", results["optimized"]).render("en")
        ax_p = fig.axes[1]
        lines = {ln.get_label(): ln.get_color() for ln in ax_p.get_lines()}
        legend = {t.get_text() for t in ax_p.get_legend().get_texts()}
        for sym, sr in r.symbols.items():
            color = to_rgba(lines[f"{sym} premium"])
            assert {f"{sym} premium", f"{sym} entry", f"{sym} exit"} <= legend
            n_exit = sum(1 for d in sr.decisions if d.action == "exit")
            n_in = len(sr.decisions) - n_exit
            # every mark of this coin is drawn in the coin's line colour
            coll = [c for c in ax_p.collections if to_rgba(c.get_facecolor()[0]) == color
                    or (len(c.get_edgecolor()) and to_rgba(c.get_edgecolor()[0]) == color)]
            assert len(coll) == n_in + n_exit, sym
        assert not [c for c in ax_p.collections if to_rgba(c.get_facecolor()[0])[:3] == (0, 0, 0)], \
            "an exit mark drawn black, not in its coin's colour"
    finally:
        plt.close(fig)


def _png_title(path) -> str:
    data = path.read_bytes()
    for mt in re.finditer(rb"tEXtTitle\x00", data):
        n = int.from_bytes(data[mt.start() - 4: mt.start()], "big")
        return data[mt.end(): mt.start() + 4 + n].decode("latin-1")
    for mt in re.finditer(rb"iTXtTitle\x00", data):
        n = int.from_bytes(data[mt.start() - 4: mt.start()], "big")
        body = data[mt.end(): mt.start() + 4 + n]
        flag, rest = body[0], body[2:]
        rest = rest.split(b"\x00", 2)[2]
        return (zlib.decompress(rest) if flag else rest).decode()
    raise AssertionError("no Title in the PNG")


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_written_png_carries_the_title_in_the_bots_language(run, tmp_path, lang):
    r, results, initial = run
    out = tmp_path / "bt.png"
    with i18n.using(lang):
        write_chart(out, [r], initial, None, 2.0, results)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000
    from kimpbot.control.chart_draw import korean_font

    want = lang if (lang == "en" or korean_font()) else "en"
    assert _png_title(out) == title("optimized", results["optimized"]).render(want)
