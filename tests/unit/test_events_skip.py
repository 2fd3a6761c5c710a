"""Skip means skip (issue #11): a skipped or expired signal is not offered again while its condition
persists; it returns when |z| is back inside the entry threshold or a deeper tier (or split) is reached.

Real strategies (zscore, optimized) read a window of 10 five-minute bars alternating 1 % and 3 %
(mean 2, std 1), so a premium p has z = p - 2; the trader, its store and bus are real.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from kimpbot.clock import ManualClock
from kimpbot.strategy_file.read import load_owner_config
from kimpbot.events import EventBus
from kimpbot.execution.trader import Trader, deeper, signal_depth
from kimpbot.market.premium import exec_long_premium, exec_short_premium
from kimpbot.models import Direction, PremiumBar, PremiumSnapshot
from kimpbot.store import Store
from kimpbot.strategy.base import PairFill, make_strategy, open_position

T0 = 1_735_689_600_000
WINDOW = "[zscore]\nwindow_days = 0.034722222222222224\n"  # 50 minutes = 10 five-minute bars
RICH = 1e12  # Upbit inventory: short-premium entries sell held coin


def snap(p_long: float, p_short: float | None = None, ts: int = T0 + 3_000_000) -> PremiumSnapshot:
    """Upbit at 100,000 x (1 + p/100) KRW, the perp at 100 USDT, FX 1,000, no fees."""
    ps = p_long if p_short is None else p_short
    u_buy, u_sell = 100_000 * (1 + p_long / 100), 100_000 * (1 + ps / 100)
    return PremiumSnapshot("BTC", ts, "usdkrw", 1000.0, p_long, (p_long + ps) / 2,
                           exec_long_premium(u_buy, 100.0, 1000.0, 0.0, 0.0),
                           exec_short_premium(u_sell, 100.0, 1000.0, 0.0, 0.0), 1_000_000.0,
                           u_buy, u_sell, 100.0, 100.0, 0.0, 0.0)


def make_trader(tmp_path, strategy: str, extra: str = "") -> Trader:
    owner = load_owner_config(None, text=WINDOW + extra)
    strat = make_strategy(owner.strategy, strategy)
    for k, v in enumerate((1.0, 3.0) * 5):
        strat.on_bar(PremiumBar("BTC", T0 + k * 300_000, 5, v, v, v, v, 1))
    clock = ManualClock(T0 + 3_000_000)
    store = Store(tmp_path / "data", "paper", clock=clock)
    market = SimpleNamespace(symbols=["BTC"], views={})
    return Trader(owner, market, strat, store, EventBus(), clock, None, None, live=False,  # type: ignore[arg-type]
                  confirm_timeout_s=60)


class Flow:
    """What on_snapshot does with one evaluation, minus the exchanges: lift holds, then offer the
    signals that are not held. Returns the signal events published."""

    def __init__(self, trader: Trader) -> None:
        self.t = trader

    def tick(self, s: PremiumSnapshot, positions=()) -> list:
        t = self.t
        n = len(t.bus.history)
        sigs = t.strategy.evaluate(s, list(positions), RICH, s.ts)
        t._sync_holds()
        t._lift_holds("BTC", s, list(positions))
        for sig in sigs:
            if not t._held(sig):
                t._offer(sig, s)
        return [e for e in t.bus.history[n:] if e.kind == "signal"]

    def skip_last(self) -> None:
        pid = self.t.bus.history[-1].data["pending_id"]
        assert str(self.t.skip(pid, "test")).startswith("skipped BTC")


def test_a_skipped_entry_stays_skipped_while_z_persists_and_returns_after_reset(tmp_path):
    t = make_trader(tmp_path, "zscore")
    f = Flow(t)
    [ev] = f.tick(snap(-0.5))  # z -2.5 <= -2: long premium entry offered
    assert ev.data["direction"] == "long_premium"
    f.skip_last()
    assert f.tick(snap(-0.5)) == []
    assert f.tick(snap(-0.9)) == []  # deeper z, but zscore has one tier and one size: the same signal
    assert f.tick(snap(0.0)) == []  # z exactly -2.0: still at the threshold, the condition persists
    assert t.holds, "the hold must survive a z at the threshold"
    assert f.tick(snap(0.01)) == []  # z -1.99: back inside, nothing to offer, the hold is lifted
    assert not t.holds
    [again] = f.tick(snap(-0.5))
    assert again.data["pending_id"] != ev.data["pending_id"]


def test_an_expired_offer_is_held_like_a_skip(tmp_path):
    t = make_trader(tmp_path, "zscore")
    f = Flow(t)
    [ev] = f.tick(snap(-0.5))
    t.clock.advance(61)  # past confirm_timeout_s: nobody pressed anything
    assert f.tick(snap(-0.5, ts=T0 + 3_100_000)) == []  # not a fresh offer of the same signal
    expired = [e for e in t.bus.history if e.kind == "signal_expired"]
    assert [e.data["pending_id"] for e in expired] == [ev.data["pending_id"]]
    assert "Not offered again until |z| is back inside the threshold (2)" in expired[0].message
    assert "다시 알리지 않음" in expired[0].shown("ko")
    assert f.tick(snap(0.2)) == [] and not t.holds
    assert len(f.tick(snap(-0.5))) == 1


def test_optimized_next_split_and_deeper_tier_are_offered_a_shallower_one_is_not(tmp_path):
    t = make_trader(tmp_path, "optimized")
    f = Flow(t)
    [ev] = f.tick(snap(4.1))  # short premium z 2.1: normal tier, split 1
    assert (ev.data["direction"], t.state.pending[ev.data["pending_id"]].signal.tier) == ("short_premium", "normal")
    f.skip_last()
    assert f.tick(snap(4.3)) == []  # z 2.3: still split 1 of the normal tier (split 2 at 2.33)
    [split2] = f.tick(snap(4.5))  # z 2.5: split 2 is due -> a larger entry -> offered
    assert split2.data["size_krw"] > ev.data["size_krw"]
    f.skip_last()
    [extreme] = f.tick(snap(5.1))  # z 3.1: the extreme tier
    assert t.state.pending[extreme.data["pending_id"]].signal.tier == "extreme"
    f.skip_last()
    assert f.tick(snap(4.8)) == []  # z 2.8: normal split 3 is shallower than the extreme skipped
    assert f.tick(snap(5.5)) == []  # z 3.5: the extreme tier again, same size: held
    assert len(f.tick(snap(6.2))) == 1  # z 4.2: ultra
    f.skip_last()
    assert f.tick(snap(3.9)) == [] and not t.holds  # z 1.9: reset
    assert len(f.tick(snap(4.1))) == 1


def test_depth_rules():
    from kimpbot.strategy.base import Signal

    def sig(action="enter", tier="normal", size=1e6, reason="x"):
        return Signal("BTC", Direction.LONG_PREMIUM, action, size, -2.0, -0.5, tier, 0.8, reason, T0)

    assert deeper(signal_depth(sig(tier="extreme")), signal_depth(sig(tier="normal", size=9e9)))
    assert not deeper(signal_depth(sig(size=1e6 + 0.5)), signal_depth(sig()))  # float noise is not a split
    assert deeper(signal_depth(sig(size=2e6)), signal_depth(sig()))
    target = sig("exit", reason="optimized normal exit: net profit 0.9% >= target 0.8%")
    hold = sig("exit", reason="maximum holding time: 73.0 h >= 72 h")
    stop = sig("exit", reason="stop loss: net profit -3.1% <= -3%")
    assert deeper(signal_depth(stop), signal_depth(hold)) and deeper(signal_depth(hold), signal_depth(target))
    assert not deeper(signal_depth(target), signal_depth(stop))


def test_a_skipped_exit_returns_when_its_condition_resets_or_escalates(tmp_path):
    """Exits go out by themselves today; a skipped exit offer (were one offered) follows the same rule:
    held while the exit rule holds, back after it stopped holding, or at once for a stop loss."""
    t = make_trader(tmp_path, "zscore", "[exits]\nstop_loss_pct = 3.0\n")
    [entry] = t.strategy.evaluate(snap(-0.5), [], RICH, T0)
    u = 100_000 * (1 - 0.5 / 100)
    q = entry.size_krw / u
    pos = open_position("P1", entry, PairFill(T0, u, q, 100.0, q, 1000.0, 0.0))
    f = Flow(t)
    [ev] = f.tick(snap(2.0), [pos])  # premium back to the mean (z 0): net profit ~2.5 % -> exit
    assert ev.data["action"] == "exit"
    f.skip_last()
    assert "exit condition resets or escalates" in str(t.skip_note(t.state.pending[ev.data["pending_id"]]))
    assert f.tick(snap(2.1), [pos]) == []  # still profitable and near the mean: held
    assert f.tick(snap(-0.4), [pos]) == [] and not t.holds  # profit gone: the condition reset
    [again] = f.tick(snap(2.0), [pos])
    f.skip_last()
    [stop] = f.tick(snap(-4.0), [pos])  # a 3.5 % loss: stop loss, more urgent than the skipped target exit
    assert t.state.pending[stop.data["pending_id"]].signal.reason.startswith("stop loss")


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_skip_answer_in_both_languages(tmp_path, lang):
    t = make_trader(tmp_path, "optimized")
    f = Flow(t)
    [ev] = f.tick(snap(4.1))
    p = t.state.pending[ev.data["pending_id"]]
    f.skip_last()
    text = t.skip_note(p).render(lang)
    want = {"ko": "건너뜀. 다시 알리지 않음: |z|가 기준(2) 안으로 돌아오거나 더 깊은 단계가 되면 다시 알림",
            "en": "Skipped. Not offered again until |z| is back inside the threshold (2) or a deeper tier is reached"}
    assert text == want[lang]
    assert len(text) <= 190  # a Telegram callback answer shows at most 200 characters


def test_a_skip_holds_across_a_restart(tmp_path, caplog):
    """The holds live in the store: after a restart the skipped signal is still not offered while its
    condition persists, and is once it has reset; a saved hold that does not read back is dropped
    with a warning (the worst case is one more offer), never a failed start."""
    t = make_trader(tmp_path, "zscore")
    f = Flow(t)
    [ev] = f.tick(snap(-0.5))
    f.skip_last()
    t.store.close()
    t2 = make_trader(tmp_path, "zscore")   # the restart: a new store and trader over the same data dir
    assert list(t2.holds) == [("BTC", "long_premium", "enter", "")]
    assert t2.holds[("BTC", "long_premium", "enter", "")].pending_id == ev.data["pending_id"]
    f2 = Flow(t2)
    assert f2.tick(snap(-0.5)) == []          # still extreme: not offered again
    assert f2.tick(snap(0.01)) == [] and not t2.holds   # back inside: lifted, and that is saved too
    t2.store.close()
    t3 = make_trader(tmp_path, "zscore")
    assert not t3.holds
    t3.store.set_state("signal_holds", [{"key": ["BTC"], "depth": [1, 2.0]}, "junk"])
    t3.store.close()
    with caplog.at_level("WARNING", logger="kimpbot.execution.trader"):
        t4 = make_trader(tmp_path, "zscore")
    assert t4.holds == {} and sum("saved skip hold dropped" in r.getMessage() for r in caplog.records) == 2
    t4.store.close()


def test_a_skip_still_holds_when_the_disk_is_full(tmp_path, caplog, monkeypatch):
    """The hold cannot be saved (a full disk): the skip still holds in this run, the owner's press is
    answered, and the log says a restart may offer it once more; nothing raises into the trader."""
    from kimpbot.store import StoreFailed

    t = make_trader(tmp_path, "zscore")
    f = Flow(t)
    f.tick(snap(-0.5))

    def full_disk(*a, **k):
        raise StoreFailed("no space left on device (test)")

    monkeypatch.setattr(t.store, "set_state", full_disk)
    with caplog.at_level("WARNING", logger="kimpbot.execution.trader"):
        f.skip_last()
        assert f.tick(snap(-0.5)) == [] and t.holds
    assert any("skip holds not saved" in r.getMessage() for r in caplog.records)
    t.store.close()
