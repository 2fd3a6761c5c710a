"""StrangerGate's bookkeeping on its own, with a hand-driven clock: one audit line per stranger
per window with the count, bounded lines and memory however many strangers knock, answers
rate-limited per stranger and in all."""

from __future__ import annotations

from kimpbot.control.gate import StrangerGate

from .conftest import wait_until


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _gate(**kw):
    lines: list[tuple[str, str, dict]] = []
    clock = Clock()
    g = StrangerGate(lambda action, by, details: lines.append((action, by, details)), clock=clock, **kw)
    return g, lines, clock


def test_one_line_per_stranger_per_window_with_the_count():
    g, lines, clock = _gate(window_s=60)
    assert g.refuse("telegram:1", "/halt", -100, may_answer=False) is False       # a group: never answered
    assert g.refuse("telegram:1", "/status", 1) is True                            # private: once...
    assert all(g.refuse("telegram:1", "/status", 1) is False for _ in range(50))   # ...a window
    assert lines == [("unauthorized", "telegram:1", {"what": "/halt", "chat": "-100", "count": 1})]
    clock.t += 61
    assert g.refuse("telegram:1", "/pnl", 1) is True                                # a new window: answered again
    action, by, d = lines[1]
    assert (action, by, d["count"], d["what"], sorted(d["chats"])) == (
        "unauthorized_repeated", "telegram:1", 51, "/status", ["-100", "1"])
    assert lines[2][0] == "unauthorized" and len(lines) == 3
    g.close()
    assert len(lines) == 3   # the open window's only attempt is already on record: nothing more to write
    assert g.refused_total == 53


def test_a_crowd_of_strangers_is_bounded_in_lines_answers_and_memory():
    g, lines, clock = _gate(window_s=60, max_audited=5, max_replies=3, max_tracked=50)
    answers = sum(g.refuse(f"discord:{u}", "/halt", 7) for u in range(200) for _ in range(3))
    assert answers == 3 and len(g._strangers) == 50
    assert len(lines) == 5                                   # the first 5 strangers, at once
    g.flush(force=True)
    repeated = [d for a, _, d in lines if a == "unauthorized_repeated"]
    flood = [(by, d) for a, by, d in lines if a == "unauthorized_flood"]
    assert len(repeated) == 5 and all(d["count"] == 2 for d in repeated)
    assert len(flood) == 1 and flood[0][1]["users"] == 45 and flood[0][1]["untracked"] == 150 * 3
    assert 5 + sum(d["count"] for d in repeated) + flood[0][1]["count"] == 600
    assert len(lines) <= 2 * 5 + 1


async def test_the_window_closes_by_itself_when_the_flood_stops():
    lines: list[tuple[str, str, dict]] = []
    g = StrangerGate(lambda a, b, d: lines.append((a, b, d)), window_s=0.3)
    for _ in range(5):
        g.refuse("telegram:9", "/halt", 9)
    assert [a for a, _, _ in lines] == ["unauthorized"]
    assert await wait_until(lambda: len(lines) == 2, timeout=5)
    assert lines[1][0] == "unauthorized_repeated" and lines[1][2]["count"] == 4
    g.close()
