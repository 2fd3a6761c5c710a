"""Trading control through the command core: /start and /stop (new entries allowed or paused),
/halt and /resume, /closeall and /forceexit (close every position, or one chosen, in two steps),
/live and /paper (switch the trading mode, in two steps). Each second step is answered in
:meth:`~kimpbot.control.commands.CommandCore._confirm_answer`, which calls the ``_close_all``,
``_forceexit`` or ``_switch_mode`` here."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from kimpbot.control.commands.base import Button, Confirm, CoreParts, Reply, direction_word, mode_words
from kimpbot.i18n import chat as c
from kimpbot.i18n import common
from kimpbot.i18n.units import krw

FORCEEXIT_WAIT_S = 10.0  # /forceexit waits this long for a trade of the coin in flight, then refuses


class TradingCommands(CoreParts):
    """Mixed into :class:`~kimpbot.control.commands.CommandCore` (``_position_view`` is the views')."""

    _bg: set[asyncio.Task[Any]]

    # ---- /start, /stop -----------------------------------------------------------------------

    async def cmd_start(self, by: str, args: list[str]) -> Reply:
        return self._set_running(by, True)

    async def cmd_stop(self, by: str, args: list[str]) -> Reply:
        return self._set_running(by, False)

    def _set_running(self, by: str, on: bool) -> Reply:
        t = self.trader
        if t is None:
            return self._no_trader()
        t.running = on
        self.bot.state.running = on
        self._audit("start" if on else "stop", by)
        if on:
            text = str(c.ENTRIES_ALLOWED(extra=c.BUT_HALTED() if t.risk.halted else ""))
        else:
            text = str(c.ENTRIES_PAUSED)
        return Reply(text=text, data={"running": on})

    # ---- /halt, /resume -----------------------------------------------------------------------

    async def cmd_halt(self, by: str, args: list[str]) -> Reply:
        t = self.trader
        reason = " ".join(args) or c.HALT_REASON_CHAT.render("en")  # the stored reason: the audit's language
        if t is None:
            return self._halt_before_trading(reason, by)
        was = t.risk.halted
        task = asyncio.create_task(t.halt(reason, by))
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)
        # the halt itself is persisted synchronously at the task's first step; cancelling open
        # orders may take longer and finishes in the background
        done, _ = await asyncio.wait({task}, timeout=0.7)
        self._audit("halt_command", by, {"reason": reason})
        if task in done and task.exception() is None:
            cancelled = task.result()
            orders = c.ORDERS_CANCELLED(n=len(cancelled)) if cancelled else c.NO_OPEN_ORDERS()
        elif task in done:
            orders = c.CANCEL_FAILED(error=type(task.exception()).__name__)
        else:
            orders = c.CANCEL_BACKGROUND()
        head = c.ALREADY_HALTED_HEAD() if was else c.HALTED_HEAD()
        n = len(t.positions())
        text = str(c.HALT_TEXT(head=head, orders=orders))
        buttons: list[list[Button]] = []
        if n:
            text += "\n" + c.HALT_POSITIONS(n=n)
            buttons = [[Button(str(c.CLOSE_ALL_BUTTON(n=n)), "ca")]]
        return Reply(text=text, buttons=buttons, data={"halted": True, "positions": n})

    def _halt_before_trading(self, reason: str, by: str) -> Reply:
        """/halt while warming up or not trading: persisted now (the store is open from the first
        second), so no entry goes out when trading starts; there are no orders to cancel yet."""
        if self.bot.store is None:
            return self._no_trader()
        was = not self.bot.halt_entries(reason, by)
        self._audit("halt_command", by, {"reason": reason, "before_trading": True})
        head = c.ALREADY_HALTED_HEAD() if was else c.HALTED_HEAD()
        return Reply(text=str(c.HALT_BEFORE_TRADING(head=head, status=self._bot_status())),
                     data={"halted": True, "positions": 0})

    async def cmd_resume(self, by: str, args: list[str]) -> Reply:
        t = self.trader
        if t is None:
            if self.bot.store is None:
                return self._no_trader()
            ok = self.bot.resume_entries(by)
            self._audit("resume_command", by, {"lifted": ok, "before_trading": True})
            return Reply(text=str(c.HALT_LIFTED_LATER if ok else c.NOT_HALTED), data={"halted": False})
        was_store = t.journal.halted
        if was_store and not await t.journal.probe():  # halt kind "store": lifts itself, /resume retries
            return Reply(text=str(c.STILL_HALTED_STORE(why=t.journal.reason())), data={"halted": True})
        ok = t.risk.resume(by)
        if not ok and was_store:
            return Reply(text=str(c.STORE_HALT_LIFTED), data={"halted": False})
        self._audit("resume_command", by, {"lifted": ok})
        if not ok:
            return Reply(text=str(c.NOT_HALTED), data={"halted": False})
        run = "" if t.running else c.STILL_PAUSED()
        return Reply(text=str(c.HALT_LIFTED(extra=run)), data={"halted": False})

    # ---- /closeall: every position (two steps) ----------------------------------------------

    async def cmd_closeall(self, by: str, args: list[str]) -> Reply:
        return self._offer_close_all(by)

    def _offer_close_all(self, by: str) -> Reply:
        """Step 1, typed or pressed (the Close all button under /halt): the question with a one-time
        Yes / Cancel, as a new message."""
        t = self.trader
        if t is None:
            return self._no_trader()
        n = len(t.positions())
        if n == 0:
            return Reply(text=str(c.NO_POSITIONS_TO_CLOSE), toast=str(c.NO_POSITIONS_TOAST))
        nonce = self._new_confirm("close_all", by)
        self._audit("close_all_requested", by, {"positions": n})
        return Reply(text=str(c.CLOSE_ALL_ASK(n=n)),
                     buttons=[[Button(str(c.YES_CLOSE_ALL), f"cy:{nonce}"), Button(str(c.CANCEL), f"cn:{nonce}")]],
                     toast=str(c.CONFIRM_BELOW), data={"nonce": nonce, "positions": n})

    async def _close_all(self, cf: Confirm, by: str) -> Reply:
        """Step 2 of /closeall: every open position at market, both legs."""
        self._audit("close_all_confirmed", by)
        outs = await self.trader.close_all(by)
        summary = ", ".join(f"{o.symbol} {o.status}" for o in outs) or str(c.NOTHING_TO_CLOSE)
        left = len(self.trader.positions())
        return Reply(toast=str(c.CLOSING_TOAST), edit=str(c.CLOSE_ALL_DONE(by=by, summary=summary, left=left)),
                     data={"results": [o.status for o in outs], "left": left})

    # ---- /forceexit: close one chosen position (two steps) ----------------------------------------

    async def cmd_forceexit(self, by: str, args: list[str]) -> Reply:
        t = self.trader
        if t is None:
            return self._no_trader()
        pos = t.positions()
        if not pos:
            return Reply(text=str(c.NO_POSITIONS_TO_CLOSE), toast=str(c.NO_POSITIONS_TOAST))
        if not args:  # step 0: one button per open position
            now = self.bot.clock.now_ms()
            rows = []
            for p in pos:
                _lines, d = self._position_view(p, now)
                label = str(c.FORCEEXIT_BUTTON(symbol=p.symbol, direction=direction_word(p.direction),
                                               pnl=krw(d["unrealized_krw"], sign=True)))
                rows.append([Button(label[:60], f"fx:{p.id}"[:64])])
            return Reply(text=str(c.FORCEEXIT_PICK), buttons=rows[:25], data=[p.id for p in pos])
        arg = args[0]
        ids = ", ".join(p.id for p in pos)
        hit = [p for p in pos if p.id == arg]
        if not hit and re.fullmatch(r"[0-9]{1,3}", arg) and 1 <= int(arg) <= len(pos):
            hit = [pos[int(arg) - 1]]   # /forceexit 2: the second position of /positions
        if not hit:
            hit = [p for p in pos if p.symbol == arg.upper()]
            if len(hit) > 1:
                return Reply(text=str(c.FORCEEXIT_AMBIGUOUS(arg=arg.upper(), ids=ids)))
        if not hit:
            self._audit("forceexit_refused", by, {"position": arg[:64], "why": "no such open position"})
            return Reply(text=str(c.FORCEEXIT_UNKNOWN(arg=arg[:64], ids=ids)))
        return self._offer_forceexit(hit[0].id, by, as_message=True)

    def _offer_forceexit(self, pid: str, by: str, as_message: bool = False) -> Reply:
        """Step 1: the chosen position and a one-time Yes / Cancel (a button press edits the list in
        place into this question; the typed command posts it)."""
        t = self.trader
        p = next((x for x in t.positions() if x.id == pid), None) if t is not None else None
        if p is None:
            text = str(c.FORCEEXIT_GONE(id=pid))
            return Reply(text=text, toast=text[:190]) if as_message else Reply(toast=text[:190], edit=text)
        _lines, d = self._position_view(p, self.bot.clock.now_ms())
        nonce = self._new_confirm("forceexit", by, p.id)
        self._audit("forceexit_requested", by, {"position": p.id, "symbol": p.symbol})
        text = str(c.FORCEEXIT_ASK(symbol=p.symbol, direction=direction_word(p.direction), id=p.id,
                                   size=krw(p.entry_notional_krw), pnl=krw(d["unrealized_krw"], sign=True)))
        buttons = [[Button(str(c.YES_CLOSE), f"cy:{nonce}"), Button(str(c.CANCEL), f"cn:{nonce}")]]
        data = {"nonce": nonce, "position": p.id}
        if as_message:
            return Reply(text=text, buttons=buttons, data=data)
        return Reply(toast=str(c.CONFIRM_BELOW), edit=text, buttons=buttons, data=data)

    async def _forceexit(self, cf: Confirm, by: str) -> Reply:
        """Step 2: close the one position at market, both legs, as /closeall does for each. The coin
        is marked busy first, so the strategy starts no exit of its own at the same time (never a
        doubled order); an exit already in flight is waited for, and then the position re-checked."""
        from kimpbot.execution.trader import signal_prices
        from kimpbot.strategy.base import Signal

        t = self.trader
        pid = cf.payload
        p = next((x for x in t.positions() if x.id == pid), None) if t is not None else None
        if p is None:
            self._audit("forceexit_refused", by, {"position": pid, "why": "no longer open"})
            return Reply(toast=str(c.FORCEEXIT_GONE(id=pid))[:190], edit=str(c.FORCEEXIT_GONE(id=pid)),
                         data={"closed": False})
        sym = p.symbol
        loop = asyncio.get_running_loop()
        end = loop.time() + FORCEEXIT_WAIT_S
        while sym in t._busy and loop.time() < end:  # the strategy's look at this coin (or its trade) ends first
            await asyncio.sleep(0.05)
        if sym in t._busy:
            why = str(c.FORCEEXIT_BUSY(symbol=sym))
            self._audit("forceexit_refused", by, {"position": pid, "why": "trade in flight"})
            return Reply(toast=why[:190], edit=str(c.FORCEEXIT_NOT_DONE(symbol=sym, id=pid, why=why)),
                         data={"closed": False})
        t._busy.add(sym)
        try:
            async with t.executor.lock(sym):  # an order of this coin still out finishes first
                pass
            p = next((x for x in t.positions() if x.id == pid), None)
            if p is None:
                self._audit("forceexit_refused", by, {"position": pid, "why": "closed meanwhile"})
                return Reply(toast=str(c.FORCEEXIT_GONE(id=pid))[:190], edit=str(c.FORCEEXIT_GONE(id=pid)),
                             data={"closed": False})
            snap = self.bot.market.views[sym].snapshot
            up = bp = None
            sig = None
            if snap is not None:
                sig = Signal(sym, p.direction, "exit", p.entry_notional_krw, None, None, p.tier, p.target_pct,
                             f"force exit by {by}", snap.ts, p.id, "manual")
                up, bp = signal_prices(sig, snap)
            if sig is None or up is None or bp is None:
                why = str(c.FORCEEXIT_NO_PRICES(symbol=sym))
                self._audit("forceexit_failed", by, {"position": pid, "why": "no prices"})
                return Reply(toast=why[:190], edit=str(c.FORCEEXIT_NOT_DONE(symbol=sym, id=pid, why=why)),
                             data={"closed": False})
            self._audit("forceexit_confirmed", by, {"position": pid, "symbol": sym})
            out = await t.executor.execute(sig, upbit_price=up, binance_price=bp, fx=snap.fx_rate, position=p, by=by)
        finally:
            t._busy.discard(sym)
        await t.refresh_balances()
        still = any(x.id == pid for x in t.positions())
        rec = self.bot.store.get_position(pid) if self.bot.store is not None else None
        realized = (c.REALIZED(krw=krw(rec.get("realized_krw"), sign=True))
                    if rec and rec.get("realized_krw") is not None and not still else "")
        self._audit("forceexit_done", by, {"position": pid, "symbol": sym, "status": out.status, "open": still})
        text = str(c.FORCEEXIT_DONE(symbol=sym, direction=direction_word(p.direction), id=pid, by=by, status=out.status,
                                    realized=realized))
        return Reply(toast=str(c.CLOSING_TOAST), edit=text,
                     data={"closed": not still, "status": out.status, "trade_id": out.trade_id})

    # ---- /live, /paper: switch the trading mode (two steps) -----------------------------------

    async def cmd_live(self, by: str, args: list[str]) -> Reply:
        return await self._offer_mode("live", by)

    async def cmd_paper(self, by: str, args: list[str]) -> Reply:
        return await self._offer_mode("paper", by)

    def _mode_blocked(self, mode: str) -> str:
        s = self.bot.settings
        t = self.trader
        if self.bot_switching():
            return str(c.WHY_SWITCH_IN_PROGRESS)
        if t is None:
            return str(c.WHY_NOT_TRADING)
        if s.mode == mode:
            return str(c.WHY_ALREADY_MODE(mode=common.mode(mode)))
        if t.journal.halted:  # a switch would drop what only memory holds (late fills, an unsaved halt)
            return str(c.WHY_STORE(why=t.journal.reason()))
        if mode == "live":
            missing = [n for n, v in (("UPBIT_ACCESS_KEY", s.upbit_access_key), ("UPBIT_SECRET_KEY", s.upbit_secret_key),
                                      ("BINANCE_API_KEY", s.binance_api_key), ("BINANCE_API_SECRET", s.binance_api_secret))
                       if not v]
            if missing:
                return str(c.WHY_LIVE_KEYS(keys=", ".join(missing)))
            if t.risk.halted:
                return str(c.WHY_LIVE_HALTED)
        if t.positions():
            return str(c.WHY_OPEN_POSITIONS(n=len(t.positions()), mode=common.mode(s.mode)))
        if t._busy or (t.store is not None and t.store.journal_open()):
            return str(c.WHY_IN_FLIGHT)
        return ""

    async def _offer_mode(self, mode: str, by: str) -> Reply:
        blocked = self._mode_blocked(mode)
        if blocked:
            self._audit("mode_switch_refused", by, {"mode": mode, "why": blocked})
            return Reply(text=str(c.MODE_NOT_SWITCHING(mode=common.mode(mode), why=blocked)),
                         data={"mode": mode, "refused": blocked})
        lines: list[str] = []
        if mode == "live":
            from kimpbot.doctor import FAIL, live_preflight

            checks = await live_preflight(self.bot.settings, list(self.bot.market.symbols))
            failed = [c for c in checks if c.status == FAIL]
            lines = [f"{'❌' if c.status == FAIL else '✅' if c.status == 'PASS' else '➖'} {c.name}: {c.detail}"
                     for c in checks]
            if failed:
                self._audit("mode_switch_refused", by, {"mode": mode, "why": "; ".join(c.name for c in failed)})
                return Reply(text="\n".join([str(c.LIVE_CHECKS_FAILED), *lines]),
                             data={"mode": mode, "refused": [c.name for c in failed]})
            canary = self.bot.owner["risk.live_canary_max_krw"]
            cap = c.CANARY_CAP(krw=krw(canary)) if canary is not None else c.NO_CANARY()
            tm = self.trader.state.trade_mode if self.trader is not None else self.bot.settings.trade_mode
            how = c.HOW_AUTO() if tm == "auto" else c.HOW_CONFIRM()
            head = str(c.LIVE_ASK(cap=cap, how=how))
        else:
            head = str(c.PAPER_ASK)
        nonce = self._new_confirm("mode", by, mode)
        self._audit("mode_switch_requested", by, {"mode": mode})
        label = str(c.YES_LIVE if mode == "live" else c.YES_PAPER)
        return Reply(text="\n".join([head, *lines]),
                     buttons=[[Button(label, f"cy:{nonce}"), Button(str(c.CANCEL), f"cn:{nonce}")]],
                     data={"nonce": nonce, "mode": mode})

    async def _switch_mode(self, cf: Confirm, by: str) -> Reply:
        mode = cf.payload
        blocked = self._mode_blocked(mode)  # things may have changed while the button waited
        if blocked:
            self._audit("mode_switch_refused", by, {"mode": mode, "why": blocked})
            return Reply(toast=str(c.NOT_SWITCHED_TOAST), edit=str(c.NOT_SWITCHED(mode=common.mode(mode), why=blocked)),
                         data={"switched": False})
        self._audit("mode_switch_confirmed", by, {"mode": mode})
        try:
            await self.bot.switch_mode(mode, by)
        except Exception as exc:
            self._audit("mode_switch_failed", by, {"mode": mode, "why": f"{type(exc).__name__}: {exc}"[:200]})
            return Reply(toast=str(c.SWITCH_FAILED_TOAST),
                         edit=str(c.SWITCH_FAILED(mode=common.mode(mode), error=f"{type(exc).__name__}: {exc}",
                                                  now=common.mode(self.bot.settings.mode))), data={"switched": False})
        self._audit("mode_switched", by, {"mode": mode})  # into the new mode's store: each ledger tells its story
        icon, word = mode_words(mode)
        return Reply(toast=str(c.NOW_MODE_TOAST(mode=word)), edit=str(c.SWITCHED(icon=icon, mode=word, by=by)),
                     data={"switched": True, "mode": mode})
