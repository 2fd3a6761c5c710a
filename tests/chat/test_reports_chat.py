"""The report commands end to end: a real paper round trip (signal -> /confirm -> both legs fill ->
premium reverts -> exit), then /daily, /performance and /stats over the REAL python-telegram-bot and
the fake Telegram Bot API answer with that trade."""

from __future__ import annotations

from kimpbot.i18n import too_wide
from kimpbot.i18n.units import krw

from .conftest import wait_until


def _pre(reply: dict) -> str:
    """The reply's text, checked to be one monospace block (the fake parsed the HTML as Telegram does)."""
    text = reply["text"]
    assert any(e["type"] == "pre" and e["offset"] == 0 for e in reply.get("entities") or []), reply
    return text


async def test_reports_answer_with_a_real_paper_round_trip(rig):
    bot, sim = rig.bot, rig.sim
    assert await wait_until(lambda: bot.market.signals_allowed("BTC"))
    base = sim.market.premium("BTC")

    # nothing closed yet: the report says so, marked paper
    empty = _pre(await rig.command("/stats"))
    assert "PAPER" in empty.splitlines()[0] and "no closed trades" in empty

    sim.market.set_premium("BTC", base - 3.0)
    assert await wait_until(lambda: any(p.state == "pending" for p in bot.trader.state.pending.values()), timeout=10)
    pid = next(k for k, p in bot.trader.state.pending.items() if p.state == "pending")
    await rig.command(f"/confirm {pid}", timeout=10)
    assert await wait_until(lambda: len(bot.trader.positions()) == 1, timeout=10)
    sim.market.set_premium("BTC", base)
    assert await wait_until(lambda: bot.store.positions(status="closed"), timeout=15)
    pos = bot.store.positions(status="closed")[0]
    realized = str(krw(pos["realized_krw"], sign=True))   # as the report must show it (English suite)

    daily = _pre(await rig.command("/daily"))
    assert "PAPER" in daily.splitlines()[0]
    total = next(ln for ln in daily.splitlines() if ln.startswith("total"))
    assert total.split()[1] == "1" and realized in total
    assert not too_wide(daily)

    perf = _pre(await rig.command("/performance"))
    btc = next(ln for ln in perf.splitlines() if ln.startswith("BTC"))
    assert btc.split()[1] == "1" and realized in btc
    assert not too_wide(perf)

    stats = _pre(await rig.command("/stats"))
    assert "1 closed" in stats and realized in stats and "premium move" in stats and "best trade" in stats
    assert "estimated" not in stats   # split from the journaled orders, not from averages
    assert not too_wide(stats)

    bad = await rig.command("/daily 0")
    assert "1 to 60" in bad["text"]
