"""The owner's strategy parameters through the command core: /params (one section a page, paged in
place by ``pp:<section>`` buttons), /set KEY VALUE and /reload (the strategy file read again). A
change is shown first and written or applied only on its one-time Apply button (``cy``/``cn``,
answered in :meth:`~kimpbot.control.commands.CommandCore._confirm_answer`); a key that cannot
change while running is kept in ``pending_restart`` until the next start."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from kimpbot.control.commands.base import Button, Confirm, CoreParts, Reply, log
from kimpbot.control.format import mono
from kimpbot.i18n import chat as c
from kimpbot.strategy_file.declare import ParamValue


class ParamsCommands(CoreParts):
    """Mixed into :class:`~kimpbot.control.commands.CommandCore`."""

    pending_restart: dict[str, Any]

    # ---- /params: grouped by section, one section a page ------------------------------------------

    def _sections(self) -> dict[str, list[tuple[str, str, str]]]:
        out: dict[str, list[tuple[str, str, str]]] = {}
        for k, v, status in self.bot.owner.params.describe():
            out.setdefault(k.split(".", 1)[0], []).append((k, v, status))
        return out

    def _params_buttons(self) -> list[list[Button]]:
        names = list(self._sections())
        per = 4  # Discord: at most 5 rows of 5; 17 sections fit in 5 rows of 4
        return [[Button(n, f"pp:{n}") for n in names[i:i + per]] for i in range(0, len(names), per)]

    async def cmd_params(self, by: str, args: list[str]) -> Reply:
        if args:
            return self._params_section(args[0].lower().split(".", 1)[0])
        secs = self._sections()
        src = self.bot.owner.source
        # the file's name: its full path would wrap over 3 phone lines (/set's question names the path)
        lines = [str(c.PARAMS_HEAD(source=Path(src).name if "/" in src else src)), ""]
        for name, rows in secs.items():
            unset = sum(1 for _k, _v, st in rows if "unset" in st)
            lines.append(str(c.PARAMS_OVERVIEW(section=name, n=len(rows), unset=unset)))
        lines += ["", str(c.PARAMS_PICK)]
        return Reply(text=mono(lines), mono=True, buttons=self._params_buttons(),
                     data=self.bot.owner.params.describe())

    def _params_section(self, section: str) -> Reply:
        secs = self._sections()
        rows = secs.get(section)
        if rows is None:
            return Reply(text=str(c.PARAMS_UNKNOWN_SECTION(section=section[:40], sections=", ".join(secs))))
        names = list(secs)
        lines = [str(c.PARAMS_SECTION_HEAD(section=section, page=f"{names.index(section) + 1}/{len(names)}"))]
        for k, v, status in rows:
            owner_set = "set by owner" in status and "unset" not in status
            leaf = k.split(".", 1)[1] if "." in k else k
            lines.append(f"{leaf} = {v}" + ("" if owner_set else " *"))
            for pk, pv in self.pending_restart.items():
                if pk == k or pk.startswith(k + "."):
                    lines.append(str(c.PARAMS_PENDING(key=pk, value=_plain(pv))))
        lines += ["", str(c.PARAMS_UNSET_MARK), str(c.PARAMS_SET_HINT)]
        return Reply(text=mono(lines), mono=True, buttons=self._params_buttons(),
                     data=[r for r in rows])

    async def cmd_set(self, by: str, args: list[str]) -> Reply:
        """``/set KEY VALUE``: step 1 of a parameter change; nothing changes before "Apply"."""
        from kimpbot.strategy_file.declare import ConfigError
        from kimpbot.strategy_file.edit import plan_change

        if len(args) < 2:
            return Reply(text=str(c.SET_USAGE))
        key, raw = args[0], " ".join(args[1:])
        path = self.bot.settings.strategy_file
        today = time.strftime("%Y-%m-%d", time.gmtime(self.bot.clock.now_ms() / 1000))
        try:
            change = await asyncio.to_thread(plan_change, path, key, raw, by, today)
        except ConfigError as exc:
            self._audit("param_change_refused", by, {"key": key[:60], "value": raw[:60], "why": str(exc)[:200]})
            return Reply(text=str(c.ERROR(error=exc)), data={"error": str(exc)})
        running = self.bot.owner[change.key]
        if change.shown_key != change.key and isinstance(running, dict):
            running = running.get(change.shown_key[len(change.key) + 1:])
        differs: Any = ""
        if running != change.old:  # the file was edited by hand since the start
            differs = c.SET_DIFFERS(running=_plain(running), file=_plain(change.old), key=change.shown_key)
        nonce = self._new_confirm("set_param", by, change)
        self._audit("param_change_requested", by, {"key": change.shown_key, "old": _plain(change.old),
                                                    "new": _plain(change.new)})
        return Reply(text=str(c.SET_ASK(key=change.shown_key, old=_old_value(change), status=change.old_status,
                                        new=_value(change.new), path=change.path, when=_when(change.applies),
                                        differs=differs)),
                     buttons=[[Button(str(c.APPLY), f"cy:{nonce}"), Button(str(c.CANCEL), f"cn:{nonce}")]],
                     data={"nonce": nonce, "key": change.shown_key, "old": change.old, "new": change.new,
                           "applies": change.applies})

    async def _apply_param(self, cf: Confirm, by: str) -> Reply:
        from kimpbot.strategy_file.declare import ConfigError
        from kimpbot.strategy_file.edit import write_change

        change = cf.payload
        try:
            new_owner = await asyncio.to_thread(write_change, change)
        except (ConfigError, OSError) as exc:
            self._audit("param_change_failed", by, {"key": change.shown_key, "why": str(exc)[:200]})
            return Reply(toast=str(c.NOT_APPLIED_TOAST), edit=str(c.NOT_CHANGED(key=change.shown_key, error=exc)),
                         data={"applied": False})
        when = str(c.IN_FORCE_NOW)
        if change.applies == "now":
            pv = new_owner.params.values[change.key]
            if change.shown_key != change.key:  # one table entry: the other entries stay as they run
                table = dict(self.bot.owner[change.key])
                table[change.shown_key[len(change.key) + 1:]] = change.new
                pv = ParamValue(pv.spec, table, True)
            try:
                self.bot.apply_owner({change.key: pv}, new_owner.source)
            except ConfigError as exc:  # a cross-check against running values that are not in the file yet
                when = str(c.NOT_IN_FORCE(error=exc))
                self.pending_restart[change.shown_key] = change.new
        elif change.applies == "restart":
            when = str(c.IN_FORCE_NEXT_START)
            self.pending_restart[change.shown_key] = change.new
        else:
            when = str(c.USED_BY_BACKTEST)
        self._audit("param_changed", by, {"key": change.shown_key, "old": _plain(change.old),
                                          "new": _plain(change.new), "file": str(change.path), "when": when})
        log.warning("strategy file: %s changed by %s (%s)", change.shown_key, by, when)
        return Reply(toast=str(c.APPLIED_TOAST), edit=str(c.SET_DONE(key=change.shown_key, old=_old_value(change),
                                                                      new=_value(change.new), by=by, when=when)),
                     data={"applied": True, "when": change.applies})

    # ---- /reload: the strategy file again, shown, applied on confirmation --------------------------

    async def cmd_reload(self, by: str, args: list[str]) -> Reply:
        from kimpbot.strategy_file.read import load_owner_config
        from kimpbot.strategy_file.declare import ConfigError

        path = self.bot.settings.strategy_file
        try:
            new = await asyncio.to_thread(load_owner_config, path)
        except (ConfigError, OSError) as exc:
            self._audit("reload_refused", by, {"why": str(exc)[:300]})
            return Reply(text=str(c.RELOAD_INVALID(error=exc)), data={"error": str(exc)})
        diffs = self._reload_diffs(new)
        if not diffs:
            self._audit("reload_unchanged", by, {})
            return Reply(text=str(c.RELOAD_SAME), data={"changes": []})
        lines = [str(c.RELOAD_ASK(n=len(diffs)))]
        for key, old, newv, applies in diffs:
            lines.append(str(c.RELOAD_LINE(key=key, old=old, new=newv, when={
                "now": c.RELOAD_WHEN_NOW, "restart": c.RELOAD_WHEN_RESTART,
                "backtest": c.RELOAD_WHEN_BACKTEST}[applies]())))
        lines.append(str(c.RELOAD_QUESTION))
        nonce = self._new_confirm("reload", by, {"owner": new, "diffs": diffs})
        self._audit("reload_requested", by, {"changes": [d[0] for d in diffs]})
        return Reply(text=mono(lines),
                     buttons=[[Button(str(c.APPLY), f"cy:{nonce}"), Button(str(c.CANCEL), f"cn:{nonce}")]],
                     data={"nonce": nonce, "changes": [{"key": k, "old": o, "new": nv, "applies": a}
                                                       for k, o, nv, a in diffs]})

    def _reload_diffs(self, new: Any) -> list[tuple[str, str, str, str]]:
        """(key, running value, file value, when it applies) for each key whose value or owner-set
        state differs between the running values and the file."""
        from kimpbot.strategy_file.edit import applies

        out = []
        cur = self.bot.owner.params.values
        for key, pv in new.params.values.items():
            old = cur.get(key)
            if old is not None and old.value == pv.value and old.owner_set == pv.owner_set:
                continue

            def shown(x: Any) -> str:
                if x is None:
                    return "—"
                v = _value(x.value)
                return v if x.owner_set else f"{v} ({c.RELOAD_UNSET})"
            out.append((key, shown(old), shown(pv), applies(key)))
        return out

    async def _apply_reload(self, cf: Confirm, by: str) -> Reply:
        from kimpbot.strategy_file.read import load_owner_config
        from kimpbot.strategy_file.declare import ConfigError

        offered = cf.payload["owner"]
        try:  # the file as it is now must still be what was shown
            now_file = await asyncio.to_thread(load_owner_config, self.bot.settings.strategy_file)
        except (ConfigError, OSError) as exc:
            self._audit("reload_failed", by, {"why": str(exc)[:300]})
            return Reply(toast=str(c.NOT_APPLIED_TOAST), edit=str(c.RELOAD_INVALID(error=exc)), data={"applied": False})
        same = all((a.value, a.owner_set) == (now_file.params.values[k].value, now_file.params.values[k].owner_set)
                   for k, a in offered.params.values.items())
        if not same:
            self._audit("reload_failed", by, {"why": "file changed since the question"})
            return Reply(toast=str(c.NOT_APPLIED_TOAST), edit=str(c.RELOAD_CHANGED_SINCE), data={"applied": False})
        diffs = cf.payload["diffs"]
        now_keys = {k: offered.params.values[k] for k, _o, _n, a in diffs if a == "now"}
        later = [k for k, _o, _n, a in diffs if a == "restart"]
        backtest = [k for k, _o, _n, a in diffs if a == "backtest"]
        try:
            if now_keys:
                self.bot.apply_owner(now_keys, offered.source)
        except ConfigError as exc:
            self._audit("reload_failed", by, {"why": str(exc)[:300]})
            return Reply(toast=str(c.NOT_APPLIED_TOAST), edit=str(c.RELOAD_FAILED(error=exc)), data={"applied": False})
        for k in later:
            self.pending_restart[k] = offered.params.values[k].value
        self._audit("reload_applied", by, {"now": sorted(now_keys), "restart": later, "backtest": backtest,
                                           "changes": [{"key": k, "old": o, "new": n} for k, o, n, _a in diffs]})
        log.warning("strategy file reloaded by %s: %d key(s) now, %d at the next start", by, len(now_keys), len(later))
        return Reply(toast=str(c.APPLIED_TOAST),
                     edit=str(c.RELOAD_DONE(by=by, now=len(now_keys), restart=len(later), backtest=len(backtest))),
                     data={"applied": True, "now": sorted(now_keys), "restart": later, "backtest": backtest})


def _plain(v: Any) -> Any:
    """A value for the audit log (JSON)."""
    return v if v is None or isinstance(v, (bool, int, float, str)) else str(v)


def _value(v: Any) -> str:
    from kimpbot.strategy_file.edit import _fmt_value

    return _fmt_value(v)


def _old_value(change: Any) -> str:
    return str(c.NO_ENTRY) if change.old is None and change.shown_key != change.key else _value(change.old)


def _when(applies: str) -> str:
    return str({"now": c.WHEN_NOW, "restart": c.WHEN_RESTART, "backtest": c.WHEN_BACKTEST}[applies])
