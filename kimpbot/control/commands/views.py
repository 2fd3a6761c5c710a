"""The read-only views of the command core: /help, /status, /positions, /pnl, /trades, /balance
and /chart (the reports /daily … /stats are :mod:`kimpbot.control.reports`). /status and
/positions carry a Refresh button (``rf:<view>``) that shows the view again in place."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from kimpbot.control.command_list import BY_NAME, COMMANDS, CommandSpec
from kimpbot.control.commands.base import Button, CoreParts, Reply, direction_word, mode_words
from kimpbot.control.format import fx_lines, mono, unresolved_line, unresolved_orders
from kimpbot.control.reports import FileRecords
from kimpbot.i18n import chat as c
from kimpbot.i18n import common, pad
from kimpbot.i18n.units import duration, krw, kst, pct, qty, usdt

KST_OFFSET_MS = 9 * 3_600_000

# /help: the command list (command_list.py) in groups; a command not named here goes under "Other"
HELP_GROUPS: tuple[tuple[Any, tuple[str, ...]], ...] = (
    (c.HELP_GROUP_VIEW, ("status", "positions", "pnl", "balance", "trades", "pending", "chart", "params")),
    (c.HELP_GROUP_REPORTS, ("daily", "weekly", "monthly", "performance", "stats")),
    (c.HELP_GROUP_CONTROL, ("start", "stop", "halt", "resume", "forceexit", "closeall", "confirm", "skip")),
    (c.HELP_GROUP_SETUP, ("set", "reload", "notify", "live", "paper")),
)
ARG_WORDS = {"symbol": (c.ARG_SYMBOL,), "symbol period": (c.ARG_SYMBOL, c.ARG_PERIOD), "position": (c.ARG_POSITION,),
             "n": (c.ARG_N,), "id": (c.ARG_ID,), "key value": (c.ARG_KEY_VALUE,), "kind level": (c.ARG_KIND_LEVEL,)}


def help_text() -> str:
    """/help: every command of command_list.py once, in groups, one short line each."""
    lines = [str(c.HELP_HEAD)]
    seen: set[str] = set()
    groups = [*HELP_GROUPS, (c.HELP_GROUP_OTHER, tuple(x.name for x in COMMANDS))]
    for title, names in groups:
        specs = [BY_NAME[n] for n in names if n in BY_NAME and n not in seen]
        if not specs:
            continue
        lines += ["", str(title)]
        for spec in specs:
            seen.add(spec.name)
            lines += [_usage(spec), f"  {spec.help}"]
    return mono(lines)  # short lines: a long one wraps under its command


def _usage(spec: CommandSpec) -> str:
    return " ".join([f"/{spec.name}", *(str(w) for w in ARG_WORDS.get(spec.args, ()))])


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.2f}"


class ViewCommands(CoreParts):
    """Mixed into :class:`~kimpbot.control.commands.CommandCore`."""

    async def cmd_help(self, by: str, args: list[str]) -> Reply:
        return Reply(text=help_text(), data=[x.name for x in COMMANDS])

    def _state_lines(self) -> list[str]:
        """Mode first (paper/live, trade mode), then running/stopped/halted and why."""
        s = self.bot.settings
        t = self.trader
        if t is None:
            run = self._bot_status() or str(c.WATCHING_ONLY)
            store = self.bot.store
            if store is not None and store.halt_state().halted:  # a /halt before trading started
                hs = store.halt_state()
                run += "\n" + str(c.HALTED_BY(reason=hs.reason, by=hs.by))
        elif t.journal.halted:
            run = str(c.HALTED_STORE(why=t.journal.reason()))
        elif t.risk.halted:
            hs = t.store.halt_state()
            run = str(c.HALTED_BY(reason=hs.reason, by=hs.by))
        else:
            run = str(c.RUNNING if t.running else c.STOPPED)
        tm = t.state.trade_mode if t is not None else s.trade_mode
        icon, mode = mode_words(s.mode)
        return [str(c.STATE_HEAD(icon=icon, mode=mode, tmode=c.TM_AUTO if tm == "auto" else c.TM_CONFIRM)), run]

    @staticmethod
    def _ledger_pnl(positions: list[dict[str, Any]], now: int) -> dict[str, Any]:
        """Realized P&L over a ledger's positions (closed ones, and the realized part of open ones)."""
        day0 = (now + KST_OFFSET_MS) // 86_400_000 * 86_400_000 - KST_OFFSET_MS
        today = total = 0.0
        n_today = n = 0
        for p in positions:
            r = float(p.get("realized_krw") or 0.0)
            if p.get("status") == "closed":
                total += r
                n += 1
                if int(p.get("closed_ms") or 0) >= day0:
                    today += r
                    n_today += 1
            elif r:   # partly closed positions carry realized P&L too
                total += r
                today += r
        return {"today_krw": today, "total_krw": total, "closed": n, "today_closed": n_today}

    def pnl_data(self) -> dict[str, Any]:
        """Realized P&L of the running mode's ledger (each mode keeps its own store)."""
        store = self.bot.store
        mode = self.bot.settings.mode
        if store is None:
            return {"today_krw": 0.0, "total_krw": 0.0, "closed": 0, "today_closed": 0, "mode": mode}
        return self._ledger_pnl(store.positions(), self.bot.clock.now_ms()) | {"mode": mode}

    def other_ledger_pnl(self) -> dict[str, Any] | None:
        """Realized P&L of the other mode's ledger (paper results stay visible after /live, and the
        live ledger after /paper); None when that mode never traded here."""
        other = "paper" if self.bot.settings.live else "live"
        directory = Path(self.bot.settings.data_dir).expanduser() / other
        if not directory.exists():
            return None
        try:   # read from its files, as /daily does: no lock taken, nothing written (a Store would compact)
            positions = FileRecords(directory, other).positions()
        except Exception as exc:  # unreadable or damaged: say so
            return {"mode": other, "error": f"{type(exc).__name__}"}
        d = self._ledger_pnl(positions, self.bot.clock.now_ms())
        return None if d["closed"] == 0 and d["total_krw"] == 0 else d | {"mode": other}

    @staticmethod
    def refresh_buttons(view: str) -> list[list[Button]]:
        return [[Button(str(common.REFRESH), f"rf:{view}")]]

    async def cmd_status(self, by: str, args: list[str]) -> Reply:
        m = self.bot.market
        rows = []
        now = self.bot.clock.now_ms()
        lines: list[Any] = [*self._state_lines()]
        pnl = self.pnl_data()
        lines.append(c.PNL_TODAY_TOTAL(today=krw(pnl["today_krw"], sign=True), total=krw(pnl["total_krw"], sign=True)))
        if self.trader is not None:
            lines.append(c.OPEN_PAIRS(n=len(self.trader.positions())))
        lines += fx_lines(m)
        glob = m.global_problems()
        if glob:
            lines.append(c.DATA_PROBLEMS(what="; ".join(glob)))
        # a narrow table: 4 cells the coin, 6 each number (34 cells)
        lines.append(pad(str(c.COL_SYM), 4) + "".join(pad(str(h), 6, right=True) for h in
                                                      (c.COL_MID, c.COL_LONG, c.COL_ZLONG, c.COL_SHORT, c.COL_ZSHORT)))
        stale: list[str] = []
        for sym in m.symbols:
            v = m.views[sym]
            snap = v.snapshot
            probs = m.symbol_problems(sym)
            if probs:
                stale.append(str(c.SYM_STALE(sym=sym, why=probs[0])))
            if snap is None:
                lines.append(f"{sym:<4} {c.WAITING_DATA}")
                rows.append({"symbol": sym})
                continue
            lines.append(pad(sym, 4) + "".join(f"{_f(x):>6}" for x in (snap.mid, snap.exec_long, v.z_long,
                                                                         snap.exec_short, v.z_short)))
            rows.append({"symbol": sym, "mid": snap.mid, "exec_long": snap.exec_long, "exec_short": snap.exec_short,
                         "z_mid": v.z_mid, "z_long": v.z_long, "z_short": v.z_short, "problems": probs})
        lines += stale
        waiting = unresolved_orders(self.trader, now)
        lines.extend(unresolved_line(o) for o in waiting)
        lines.append(c.STAMP(time=kst(now, seconds=True)))
        state = getattr(self.bot, "state", None)
        return Reply(text=mono(lines), mono=True, buttons=self.refresh_buttons("status"), data={
            "symbols": rows, "pnl": pnl, "mode": self.bot.settings.mode, "trading": self.trader is not None,
            "unresolved": waiting,
            "not_trading": getattr(state, "not_trading", "") if self.trader is None else ""})

    def _position_view(self, p: Any, now: int) -> tuple[list[str], dict[str, Any]]:
        from kimpbot.models import Direction
        from kimpbot.strategy.base import position_net_profit_krw

        t = self.trader
        snap = self.bot.market.views[p.symbol].snapshot
        cur = None
        pnl_krw = None
        if snap is not None:
            cur = snap.exec_short if p.direction is Direction.LONG_PREMIUM else snap.exec_long
            if cur is None:
                cur = snap.mid
            pnl_krw = position_net_profit_krw(p, snap)
        pnl_pct = pnl_krw / p.entry_notional_krw * 100 if pnl_krw is not None and p.entry_notional_krw else None
        nf = t.funding_next.get(p.symbol)
        # the coarser of the two venues' steps (the hedge holds the same quantity on both)
        rules = t.rules.get(("binance", p.symbol)) if hasattr(t, "rules") else None
        step = getattr(rules, "qty_step", None)
        lines = [str(c.POSITION_HEAD(symbol=p.symbol, direction=direction_word(p.direction), tier=p.tier)),
                 str(c.POSITION_PNL(pnl=krw(pnl_krw, sign=True), pct=pct(pnl_pct))),
                 str(c.POSITION_PREMIUM(entry=pct(p.entry_premium_pct), now=pct(cur))),
                 str(c.POSITION_TARGET(target=pct(p.target_pct, sign=False), age=duration((now - p.opened_ts) / 1000))),
                 str(c.POSITION_FUNDING(left=duration((nf - now) / 1000)) if nf and nf > now else c.POSITION_NO_FUNDING),
                 str(c.POSITION_SIZE(size=krw(p.entry_notional_krw), qty=qty(p.upbit_qty, step, p.symbol))),
                 str(c.POSITION_ID(id=p.id))]
        data = {"id": p.id, "symbol": p.symbol, "direction": p.direction.value,
                "entry_premium_pct": p.entry_premium_pct, "current_premium_pct": cur,
                "size_krw": p.entry_notional_krw, "unrealized_krw": pnl_krw, "unrealized_pct": pnl_pct,
                "age_ms": now - p.opened_ts, "next_funding_ms": nf}
        return lines, data

    async def cmd_positions(self, by: str, args: list[str]) -> Reply:
        t = self.trader
        if t is None:
            return self._no_trader()
        now = self.bot.clock.now_ms()
        out = []
        icon, mode = mode_words(self.bot.settings.mode)
        lines: list[str] = [f"{icon} {c.POSITIONS_HEAD(mode=mode)}"]
        for p in t.positions():
            block, data = self._position_view(p, now)
            lines += ["", *block]
            out.append(data)
        if not out:
            lines.append(str(c.NO_POSITIONS))
        lines += ["", str(c.STAMP(time=kst(now, seconds=True)))]
        # private (issue 11 item 7): sizes and P&L are for the owner's eyes (Discord: ephemeral)
        return Reply(text=mono(lines), data=out, private=True, buttons=self.refresh_buttons("positions"))

    async def cmd_pnl(self, by: str, args: list[str]) -> Reply:
        d = self.pnl_data()
        icon, mode = mode_words(d["mode"])
        lines = [f"{c.PNL_HEAD(mode=mode)} {icon}",
                 str(c.PNL_TODAY(krw=krw(d["today_krw"], sign=True), n=d["today_closed"])),
                 str(c.PNL_TOTAL(krw=krw(d["total_krw"], sign=True), n=d["closed"]))]
        if self.trader is not None and self.trader.positions():
            lines.append(str(c.PNL_OPEN(n=len(self.trader.positions()))))
        other = await asyncio.to_thread(self.other_ledger_pnl)
        if other is not None:
            oicon, omode = mode_words(other["mode"])
            if "error" in other:
                lines.append(f"{oicon} {c.PNL_OTHER_UNREAD(mode=omode, why=other['error'])}")
            else:
                lines.append(f"{oicon} {c.PNL_OTHER(mode=omode, krw=krw(other['total_krw'], sign=True), n=other['closed'])}")
        return Reply(text=mono(lines), data=d | {"other": other}, private=True)

    async def cmd_trades(self, by: str, args: list[str]) -> Reply:
        store = self.bot.store
        if store is None:
            return self._no_trader()
        n = 10
        if args:
            # ASCII digits only: str.isdigit() also accepts "²" or "৩", which int() refuses or misreads
            if not re.fullmatch(r"[0-9]{1,6}", args[0]):
                return Reply(text=str(c.TRADES_BAD_N(got=repr(args[0][:20]))))
            n = max(1, min(30, int(args[0])))
        rows = store.trades(limit=n)
        icon, mode = mode_words(self.bot.settings.mode)
        if not rows:
            return Reply(text=f"{icon} {c.NO_TRADES(mode=mode)}", data=rows)
        lines = [f"{icon} {c.TRADES_HEAD(n=len(rows), mode=mode)}"]
        for t in rows:
            d = "L" if t.get("direction") == "long_premium" else "S"
            lines.append(str(c.TRADE_LINE(time=kst(int(t.get("created_ms") or 0)), symbol=t.get("symbol", "?"), dir=d,
                                          action=t.get("action", "?"), status=t.get("status", "?"),
                                          size=krw(float(t.get("size_krw") or 0)))))
        return Reply(text=mono(lines), mono=True, data=rows)

    async def cmd_balance(self, by: str, args: list[str]) -> Reply:
        t = self.trader
        if t is None:
            return self._no_trader()
        await t.refresh_balances()
        b = t.balances
        lines = []
        up = b.get("upbit")
        bn = b.get("binance")
        if up is not None:
            lines.append(str(c.BALANCE_UPBIT(krw=krw(up.quote_free))))
            for coin, q in sorted(up.coins.items()):
                if q:
                    lines.append(str(c.BALANCE_COIN(qty=qty(q, None, coin))))
        if bn is not None:
            lines.append(str(c.BALANCE_BINANCE(usdt=usdt(bn.quote_free))))
            for coin, q in sorted(bn.positions.items()):
                if q:
                    lines.append(str(c.BALANCE_PERP(coin=coin, qty=f"{q:+}")))
        icon, mode = mode_words(self.bot.settings.mode)
        text = (mono([f"{c.BALANCE_HEAD(mode=mode)} {icon}", *lines]) if lines else str(c.BALANCE_UNKNOWN))
        return Reply(text=text, data={k: {"quote_free": str(v.quote_free),
                                          "coins": {cc: str(q) for cc, q in v.coins.items()},
                                          "positions": {cc: str(q) for cc, q in v.positions.items()}}
                                      for k, v in b.items()} | {"mode": self.bot.settings.mode}, private=True)

    async def cmd_chart(self, by: str, args: list[str]) -> Reply:
        """``/chart [COIN] [1d|7d|20d]``: see :mod:`kimpbot.control.charts` (drawn off the loop, in a
        child process)."""
        from kimpbot.control import charts

        parsed = charts.parse_args(args, list(self.bot.market.symbols))
        if not isinstance(parsed, tuple):
            return Reply(text=str(parsed), data={"refused": parsed.msg.key})
        coin, period = parsed
        d, png, text = await charts.make_chart(self.bot, coin, period)
        return Reply(text=str(text), photo=png, data=charts.as_dict(d))
