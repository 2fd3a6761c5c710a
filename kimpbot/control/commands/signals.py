"""Answers to what the bot posts with buttons: a pending signal (Execute ``x:<id>`` / Skip
``s:<id>``, or /confirm and /skip typed; /pending lists them) and a reconciliation finding (Adopt
``ra:<fid>`` / Close ``rc:<fid>`` / Ignore ``ri:<fid>``). One answer counts: the copies of the
message in the other chats lose their buttons through a ``signal_answered`` /
``finding_answered`` event."""

from __future__ import annotations

import itertools
from typing import Any

from kimpbot.control.commands.base import Button, CoreParts, Reply, direction_word
from kimpbot.events import Event
from kimpbot.i18n import chat as c
from kimpbot.i18n.units import krw, num, pct


class SignalCommands(CoreParts):
    """Mixed into :class:`~kimpbot.control.commands.CommandCore`."""

    findings: dict[str, dict[str, Any]]
    _fids: itertools.count[int]

    # ---- signals ----------------------------------------------------------------------------

    @staticmethod
    def signal_buttons(pending_id: str) -> list[list[Button]]:
        return [[Button(str(c.EXECUTE), f"x:{pending_id}"), Button(str(c.SKIP), f"s:{pending_id}")]]

    async def cmd_pending(self, by: str, args: list[str]) -> Reply:
        t = self.trader
        if t is None:
            return self._no_trader()
        now = self.bot.clock.now_ms()
        live = [p for p in t.state.pending.values() if p.state == "pending" and now < p.expires_ms]
        if not live:
            return Reply(text=str(c.NO_PENDING))
        lines, buttons = [], []
        for p in live:
            s = p.signal
            lines.append(str(c.PENDING_LINE(id=p.id, symbol=s.symbol, direction=direction_word(s.direction),
                                            action=s.action, size=krw(s.size_krw), premium=pct(s.premium_pct or 0),
                                            z=num(s.z or 0, sign=True), left=f"{(p.expires_ms - now) / 1000:.0f}")))
            buttons += self.signal_buttons(p.id)
        return Reply(text="\n".join(lines), buttons=buttons, data=[p.id for p in live])

    async def cmd_confirm(self, by: str, args: list[str]) -> Reply:
        if not args:
            return Reply(text=str(c.CONFIRM_USAGE))
        r = await self._execute(args[0], by)
        return Reply(text=r.edit or r.toast, data=r.data)

    async def cmd_skip(self, by: str, args: list[str]) -> Reply:
        if not args:
            return Reply(text=str(c.SKIP_USAGE))
        r = self._skip(args[0], by)
        return Reply(text=r.edit or r.toast, data=r.data)

    def entries_blocked(self) -> str:
        """Why new entries cannot go now ("" when they can)."""
        t = self.trader
        if t is None:
            return str(c.BLOCKED_NOT_RUNNING(why=self._bot_status() or c.WATCHING_ONLY()))
        if t.risk.halted:
            return str(c.BLOCKED_HALTED)
        if not t.running:
            return str(c.BLOCKED_STOPPED)
        return ""

    def _pending(self, pid: str) -> Any:
        t = self.trader
        return None if t is None else t.state.pending.get(pid)

    def _answerable(self, pid: str, by: str, *, execute: bool) -> tuple[Any, Reply | None]:
        """The pending signal ``pid`` while it may still be answered, else the reply that says why
        not (unknown, answered already, expired: marked expired now, and an Execute press audited)."""
        p = self._pending(pid)
        if p is None:
            return None, Reply(toast=str(c.UNKNOWN_SIGNAL), data={"state": "unknown"})
        if p.state != "pending":
            return p, Reply(toast=str(c.ALREADY(state=p.state)), data={"state": p.state, "already": True})
        if self.bot.clock.now_ms() >= p.expires_ms:
            p.state = "expired"
            if execute:
                self._audit("signal_expired_press", by, {"pending_id": pid})
            return p, Reply(toast=str(c.EXPIRED_NOTHING_SENT if execute else c.EXPIRED),
                            edit=self._signal_text(p) + "\n" + c.EXPIRED_EDIT(),
                            data={"state": "expired", "already": True})
        return p, None

    def _signal_text(self, p: Any) -> str:
        s = p.signal
        return str(c.SIGNAL_TEXT(symbol=s.symbol, direction=direction_word(s.direction), action=s.action,
                                 size=krw(s.size_krw), premium=pct(s.premium_pct or 0), z=num(s.z or 0, sign=True),
                                 target=pct(s.target_pct, sign=False)))

    async def _execute(self, pid: str, by: str) -> Reply:
        if self.bot_switching():
            return Reply(toast=str(c.SWITCHING_TOAST), data={"state": "switching"})
        p, no = self._answerable(pid, by, execute=True)
        if no is not None:
            return no
        if self.trader.risk.halted or not self.trader.running:
            why = str(c.WHY_HALTED_RESUME if self.trader.risk.halted else c.WHY_STOPPED_START)
            return Reply(toast=str(c.ENTRIES_BLOCKED(why=why)), data={"state": p.state, "blocked": why})
        self._audit("confirm", by, {"pending_id": pid, "symbol": p.signal.symbol, "action": p.signal.action})
        result = await self.trader.confirm(pid, by)
        state = p.state
        if state == "done" and p.result in ("filled", "partial"):
            mark = "✅"
        else:
            mark = "⚠️"
        edit = f"{self._signal_text(p)}\n{c.SIGNAL_RESULT(mark=mark, result=result, by=by)}"
        if state != "pending":
            self._answered("signal_answered", pid, edit, by)
        return Reply(toast=result[:190], edit=edit, data={"state": state, "result": result})

    def _skip(self, pid: str, by: str) -> Reply:
        p, no = self._answerable(pid, by, execute=False)
        if no is not None:
            return no
        result = self.trader.skip(pid, by)
        self._audit("skip", by, {"pending_id": pid})
        edit = f"{self._signal_text(p)}\n{c.SIGNAL_RESULT(mark='✖️', result=result, by=by)}"
        self._answered("signal_answered", pid, edit, by)
        return Reply(toast=str(self.trader.skip_note(p)), edit=edit, data={"state": p.state})

    # ---- reconciliation findings ---------------------------------------------------------------

    def add_finding(self, text: str) -> str:
        """An id for a reconciliation finding; every front posting the same open finding gets the
        same id, so answering it in one chat answers it everywhere."""
        for fid, f in self.findings.items():
            if f["text"] == text and f["state"] in ("open", "working"):
                return fid
        fid = f"f{next(self._fids)}"
        self.findings[fid] = {"text": text, "state": "open"}
        return fid

    def _answered(self, kind: str, key: str, text: str, by: str) -> None:
        """Tell every front that a signal / finding was answered, so the copies of its message in
        other chats lose their buttons too (the front that took the press has edited its own)."""
        self.bot.bus.publish(Event(kind, text, "info", {"key": key, "by": by}))

    @staticmethod
    def finding_buttons(fid: str) -> list[list[Button]]:
        return [[Button(str(c.ADOPT), f"ra:{fid}"), Button(str(c.CLOSE), f"rc:{fid}"), Button(str(c.IGNORE), f"ri:{fid}")]]

    async def _finding(self, kind: str, fid: str, by: str) -> Reply:
        f = self.findings.get(fid)
        if f is None:
            return Reply(toast=str(c.UNKNOWN_FINDING))
        if f["state"] != "open":
            return Reply(toast=str(c.ALREADY(state=f["state"])), data={"already": True})
        if self.bot_switching():
            return Reply(toast=str(c.SWITCHING_TRY_AGAIN))
        f["state"] = "working"  # a second press while the order is out answers "Already working"
        t = self.trader
        meta = t.finding_meta.get(f["text"]) if t is not None else None
        state = {"ra": "adopted", "rc": "closed", "ri": "ignored"}[kind]
        try:
            if kind == "ra" and meta is not None:
                state, note = await t.adopt_finding(meta, by)
            elif kind == "rc" and meta is not None:
                state, note = await t.close_finding(meta, by)
            elif kind == "ra":
                note = str(c.FINDING_NOTE_ADOPT)
            elif kind == "rc":
                note = str(c.FINDING_NOTE_CLOSE)
            else:
                note = str(c.FINDING_NOTE_IGNORE)
        except Exception:
            f["state"] = "open"
            raise
        f["state"] = state
        what = {"ra": "adopt", "rc": "close", "ri": "ignore"}[kind]
        self._audit(f"reconcile_{what}" + ("" if state != "open" else "_refused"), by,
                    {"finding": f["text"][:300], "state": state, "result": note[:300]})
        if state == "open":  # nothing done: the buttons stay, the answer says why
            label = {"ra": c.ADOPT, "rc": c.CLOSE, "ri": c.IGNORE}[kind]
            return Reply(toast=str(c.FINDING_NOT_DONE_TOAST), text=str(c.FINDING_NOT_DONE(what=label, note=note)),
                         data={"state": state, "result": note})
        edit = str(c.FINDING_DONE(text=f["text"], state=state, by=by, note=note))
        if state != "pending":
            self._answered("finding_answered", fid, edit, by)
        return Reply(toast=str(c.FINDING_STATE_TOAST(state=state.capitalize())), edit=edit,
                     data={"state": state, "result": note})
