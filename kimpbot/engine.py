"""The running bot: exchanges, feeds, FX, warm-up and the APScheduler loop, wired together.

    exchanges (ws/REST) ─► market ─► strategy ─► risk/protections ─► execution ─► store (journal)
                              └──────── events ─► notifier: console / Telegram / Discord / dashboard

All jobs run on one asyncio loop; blocking client calls go through
``asyncio.to_thread`` inside the adapters.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from kimpbot import i18n
from kimpbot.backoff import Backoff
from kimpbot.clock import Clock, SystemClock
from kimpbot.config import Settings
from kimpbot.strategy_file.read import OwnerConfig, cross_check
from kimpbot.events import Event, EventBus
from kimpbot.exchanges.base import CredentialsRefused, ExchangeUnavailable
from kimpbot.exchanges.binance import BinanceFutures
from kimpbot.exchanges.upbit import UpbitSpot
from kimpbot.execution.executor import ExecConfig
from kimpbot.execution.paper import PaperVenue
from kimpbot.execution.trader import Trader
from kimpbot.execution.venues import PerpVenue, TradingVenue
from kimpbot.i18n import Text
from kimpbot.i18n import common as C
from kimpbot.i18n import events as E
from kimpbot.market.engine import MarketEngine
from kimpbot.market.feeds import BinanceFeed, UpbitFeed
from kimpbot.market.fx import BankFxClient, retired_notes
from kimpbot.market.warmup import warm_up
from kimpbot.models import BadMarketData, FxRate, Venue
from kimpbot.strategy_file.declare import ParamSet, ParamValue
from kimpbot.protections import protections_line
from kimpbot.store import Store
from kimpbot.store.errors import StoreError
from kimpbot.strategy_file.keys import StrategyParams

log = logging.getLogger(__name__)

WARMUP_TRIES = 3  # start-up tries that wait for the candle history before starting without it


class StartupError(RuntimeError):
    """The bot cannot start; the message says why and what to do."""


class FatalConfigError(StartupError):
    """A configuration or credential problem that trying again cannot fix (refused API keys, an
    unusable data dir): the owner must act. The process ends with exit code 78 (EX_CONFIG) after
    this one line reached the chat; everything transient keeps the process up instead."""


@dataclass
class BotState:
    running: bool = True  # new entries allowed (/start, /stop)
    started_ms: int = 0
    warmup_note: str = ""
    notes: list[str] = field(default_factory=list)
    # the start-up ladder: starting -> warm-up -> starting trading -> trading | watching;
    # "not trading" while a transient failure (exchange unreachable, maintenance) is retried
    phase: str = "starting"
    not_trading: str = ""  # why not trading, while retrying ("" otherwise)
    retry_at_ms: int = 0  # when the next try starts (not trading)
    attempts: int = 0  # failed tries since the last success


class Bot:
    def __init__(self, settings: Settings, owner: OwnerConfig, clock: Clock | None = None,
                 bus: EventBus | None = None, warmup: bool = True, trading: bool = True,
                 paper_coins: dict[str, float] | None = None) -> None:
        self.settings = settings
        self.owner = owner
        i18n.set_lang(getattr(settings, "lang", i18n.DEFAULT_LANG) or i18n.DEFAULT_LANG)  # KIMPBOT_LANG
        self.clock = clock or SystemClock()
        self.bus = bus or EventBus()
        self.state = BotState()
        self.do_warmup = warmup
        self.strategy = _make_strategy(owner)
        self.market = MarketEngine(owner, self.clock, self.bus, self.strategy)
        self.upbit = UpbitSpot(settings.upbit_api_url, self.clock, settings.upbit_access_key,
                               settings.upbit_secret_key)
        self.binance = BinanceFutures(settings.binance_api_url, self.clock, settings.binance_api_key,
                                      settings.binance_api_secret)
        self.session: aiohttp.ClientSession | None = None
        self.store: Store | None = None
        self.trader: Trader | None = None
        self.trading = trading
        self.paper_coins = paper_coins  # the demo's stand-in for coin the owner holds
        self.feeds: list[UpbitFeed | BinanceFeed] = []
        self.scheduler: AsyncIOScheduler | None = None
        self.bank_fx: BankFxClient | None = None
        # held by a mode switch and by the jobs that use the trader and its store
        self.trading_lock = asyncio.Lock()
        self.switching = False
        self.fatal: FatalConfigError | None = None  # set when the bot must stop with exit 78
        self.fatal_event = asyncio.Event()
        self._bringup: asyncio.Task[None] | None = None
        self._loaded: set[str] = set()  # venues whose markets are loaded
        self._primed = False  # first FX/book fetch, warm-up and feeds done
        self._warmup_failures = 0
        self._restart_with: dict[str, Any] = {}  # /stop state and trade mode a retried start keeps
        self._down_announced = False  # the chat was told "not trading" (one message, then one "back")
        self._fx_save_failed = False

    # ---- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, start the jobs, and make one try at everything trading needs.

        Never raises for a transient failure (an exchange unreachable at boot, maintenance, DNS, a
        failed balance read or reconciliation): the bot stays up "not trading", says why once in the
        chat and in /status, and tries again with a capped, jittered back-off until trading starts by
        itself. Raises :class:`FatalConfigError` for what only the owner can fix (refused keys, an
        unusable data dir); a later try that finds one sets ``fatal`` / ``fatal_event`` instead."""
        self.state.started_ms = self.clock.now_ms()
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        self.bank_fx = BankFxClient(self.settings.fx_api_url, self.session, self.clock)
        try:
            if self.trading and self.strategy is not None:
                self.open_store()  # first: a /halt from the first second is persisted
            self.scheduler = AsyncIOScheduler()
            sch = self.scheduler
            # bars, REST fallback and health start once the first books are in (_add_market_jobs)
            sch.add_job(self._poll_fx, "interval", seconds=self.owner["fx.poll_seconds"], id="fx",
                        misfire_grace_time=30)
            if self.trading and self.strategy is not None:  # both return at once while there is no trader
                sch.add_job(self._funding, "interval", minutes=5, id="funding", misfire_grace_time=60)
                sch.add_job(self._housekeeping, "interval", seconds=60, id="housekeeping", misfire_grace_time=30)
            sch.start()
            self._load_fx_history()  # the FX check's confirmed ratios, before the first FX poll
            ok = await self._bring_up()
        except FatalConfigError:
            await self.stop()
            raise
        if ok:
            log.info("start: %s", "; ".join(self.banner_details()))
            self.bus.publish(Event("start", self.banner()))
        else:
            self._bringup = asyncio.create_task(self._retry_bring_up())

    def open_store(self) -> None:
        """The trading store (journal, trades, halt state) of this mode; opened before anything reaches
        out to the network, so a /halt during warm-up or while not trading is persisted at once."""
        if self.store is not None:
            return
        s = self.settings
        try:
            self.store = Store(s.data_dir, s.mode, clock=self.clock)
        except (StoreError, OSError) as exc:
            raise FatalConfigError(
                f"the data dir {s.data_dir} cannot be used ({type(exc).__name__}: {exc}): give the bot's user "
                "write access to it (KIMPBOT_DATA_DIR), or stop the other kimpbot that holds it") from None

    async def _bring_up(self) -> bool:
        """One try at the steps trading needs, each done once: markets, first prices, warm-up,
        feeds, then the trader (balances, rules, reconciliation). False (and the reason in
        ``state.not_trading``) on a transient failure; FatalConfigError for refused keys."""
        try:
            self.state.phase = "starting"
            await self._load_markets()
            if not self._primed:
                await self._poll_fx()
                await self._rest_refresh(force=True)
                if self.do_warmup and self.strategy is not None:
                    self.state.phase = "warm-up"
                    await self._warm_up()
                self._start_feeds()
                self._primed = True
                self._add_market_jobs()
            if self.trading and self.strategy is not None and self.trader is None:
                self.state.phase = "starting trading"
                async with self.trading_lock:
                    await self._start_trading(**self._restart_with)
        except CredentialsRefused as exc:
            await self._abandon_trader()
            raise FatalConfigError(str(exc)) from None
        except FatalConfigError:
            await self._abandon_trader()
            raise
        except asyncio.CancelledError:
            await self._abandon_trader()
            raise
        except Exception as exc:  # transient (or unforeseen): never the end of the process
            await self._abandon_trader()
            if not isinstance(exc, (ExchangeUnavailable, aiohttp.ClientError, asyncio.TimeoutError, OSError)):
                log.error("start-up step failed", exc_info=exc)
            self._set_not_trading(_why(exc))
            return False
        self.state.phase = "trading" if self.trader is not None else "watching"
        self.state.not_trading = ""
        self.state.attempts = 0
        return True

    async def _load_markets(self) -> None:
        todo = [ex for ex in (self.upbit, self.binance) if ex.name not in self._loaded]
        res = await asyncio.gather(*(ex.load() for ex in todo), return_exceptions=True)
        errors = []
        for ex, r in zip(todo, res):
            if isinstance(r, BaseException):
                errors.append(r)
            else:
                self._loaded.add(ex.name)
        if errors:
            raise ExchangeUnavailable("cannot reach " + "; ".join(str(e) for e in errors))

    def _add_market_jobs(self) -> None:
        sch = self.scheduler
        if sch is None:
            return
        sch.add_job(self._roll_bars, "cron", second=0, id="roll_bars", misfire_grace_time=30)
        sch.add_job(self._rest_refresh, "interval", seconds=2, id="rest_fallback", misfire_grace_time=5)
        sch.add_job(self._health, "interval", seconds=1, id="health", misfire_grace_time=5)

    def _start_feeds(self) -> None:
        assert self.session is not None
        syms = list(self.owner.strategy.symbols)
        ws_kw = {"max_backoff_s": self.owner["market.ws_reconnect_max_s"]}
        self.feeds = [
            UpbitFeed(self.settings.upbit_ws_url, self.session, self.market.on_upbit_message, self.clock, syms,
                      **ws_kw),
            BinanceFeed(self.settings.binance_ws_url, self.session, self.market.on_binance_message, self.clock,
                        syms, **ws_kw),
        ]
        for f in self.feeds:
            f.start()

    async def _abandon_trader(self) -> None:
        """A trader whose start failed half-way is taken down again; the store (and a halt in it) stays."""
        trader = self.trader
        if trader is None:
            return
        self.market.on_snapshot = None
        self.trader = None
        try:
            await trader.stop()
        finally:
            await asyncio.gather(trader.upbit.close(), trader.binance.close(), return_exceptions=True)

    def _set_not_trading(self, why: str) -> None:
        from kimpbot.control.notify import redact

        why = redact(why, self.settings.secrets())
        self.state.phase = "not trading"
        self.state.not_trading = why
        self.state.attempts += 1
        log.warning("not trading: %s (try %d)", why, self.state.attempts)
        if not self._down_announced:  # one message when it goes down, one when it is back
            self._down_announced = True
            self.bus.publish(Event("trading", E.NOT_TRADING(why=why, cap=f"{self.owner['startup.retry_max_s']:g}"),
                                   "warning", {"trading": False, "reason": why}))

    async def _retry_bring_up(self) -> None:
        """Try again with a doubling, capped and jittered wait until trading starts (or a fatal error)."""
        policy = Backoff(float(self.owner["startup.retry_min_s"]), float(self.owner["startup.retry_max_s"]))
        while True:
            policy.cap_s = float(self.owner["startup.retry_max_s"])   # a /set applies to the next wait
            wait = policy.next_wait()
            self.state.retry_at_ms = self.clock.now_ms() + int(wait * 1000)
            await asyncio.sleep(wait)
            try:
                ok = await self._bring_up()
            except FatalConfigError as exc:
                self.fatal = exc
                self.state.phase = "stopped"
                self.state.not_trading = str(exc)
                log.critical("%s", exc)
                self.fatal_event.set()
                return
            if ok:
                self._down_announced = False
                self.bus.publish(Event("trading", E.TRADING_AGAIN(banner=self.banner()), "info", {"trading": True}))
                return

    def trading_status(self) -> str:
        """One line for /status while there is no trader ("" while trading)."""
        st = self.state
        if self.fatal is not None:
            return f"NOT TRADING: {self.fatal}"
        if st.not_trading:
            left = max(0, (st.retry_at_ms - self.clock.now_ms()) // 1000)
            return f"NOT TRADING: {st.not_trading} (try {st.attempts}; next in {left} s)"
        if self.trader is not None:
            return ""
        if st.phase in ("starting", "warm-up", "starting trading"):
            return f"starting ({st.phase}): not trading yet"
        return "watching only"

    def halt_entries(self, reason: str, by: str) -> bool:
        """/halt before a trader exists (warm-up, not trading): persisted in the store now and honoured
        when trading starts. False when already halted."""
        if self.trader is not None:
            return self.trader.risk.halt(reason, by)
        if self.store is None:
            raise RuntimeError("trading is not configured in this run (watching only): nothing to halt")
        if self.store.halt_state().halted:
            return False
        self.store.set_halt(True, reason, by)
        msg = E.HALTED_PRESTART(reason=reason)
        log.critical("%s", msg.render("en"))
        self.bus.publish(Event("halt", msg, "critical", {"reason": reason, "by": by}))
        return True

    def resume_entries(self, by: str) -> bool:
        """/resume before a trader exists; False when not halted."""
        if self.trader is not None:
            return self.trader.risk.resume(by)
        if self.store is None or not self.store.halt_state().halted:
            return False
        self.store.set_halt(False, "resumed", by)
        self.bus.publish(Event("halt", E.RESUMED(by=by), "info", {"by": by}))
        return True

    async def _start_trading(self, running: bool = True, trade_mode: str | None = None) -> None:
        """Store, venues (paper or live), risk and the trader; then restart reconciliation."""
        s, o = self.settings, self.owner
        self.open_store()
        assert self.store is not None
        fee_u = Decimal(str(o["fees.upbit_taker"]))
        fee_b = Decimal(str(o["fees.binance_taker"]))
        up: TradingVenue
        bn: PerpVenue
        if s.live:
            from kimpbot.exchanges.binance_trading import BinanceTrading
            from kimpbot.exchanges.upbit_trading import UpbitTrading

            up = UpbitTrading(s.upbit_api_url, s.upbit_access_key, s.upbit_secret_key, self.clock)
            bn = BinanceTrading(s.binance_api_url, s.binance_api_key, s.binance_api_secret, self.clock,
                                leverage=o["execution.leverage"], taker_fee=fee_b)
            try:
                # A signed read of each account first: a refused key (CredentialsRefused) or an
                # unreachable venue stops here, before the trader is built on unread balances.
                await asyncio.gather(up.balances(), bn.balances())
            except BaseException:
                await asyncio.gather(up.close(), bn.close(), return_exceptions=True)
                raise
        else:
            up = PaperVenue("upbit", self.market, self.store, self.clock, fee_u,
                            quote_balance=Decimal(str(o["paper.upbit_krw"])),
                            coins={k: Decimal(str(v)) for k, v in
                                   (self.paper_coins or o["paper.upbit_coins"]).items()})
            bn = PaperVenue("binance", self.market, self.store, self.clock, fee_b,
                            quote_balance=Decimal(str(o["paper.binance_usdt"])), leverage=o["execution.leverage"])
        cfg = ExecConfig(order_timeout_s=o["execution.order_timeout_s"],
                         unknown_grace_s=o["execution.unknown_grace_s"],
                         late_window_s=o["execution.late_window_s"],
                         position_check_s=o["execution.position_check_s"])
        self.trader = Trader(o, self.market, self.strategy, self.store, self.bus, self.clock, up, bn,
                             live=s.live, trade_mode=trade_mode or s.trade_mode, exec_cfg=cfg,
                             confirm_timeout_s=o["execution.confirm_timeout_s"],
                             confirm_tolerance_pct=o["execution.confirm_tolerance_pct"])
        self.trader.running = running
        await self.trader.start()
        self._check_other_ledger()
        self.market.on_snapshot = self.trader.on_snapshot
        await self.trader.book_funding()

    def _check_other_ledger(self) -> None:
        """Positions or orders left in the OTHER mode's ledger are managed by nobody in this process
        (a /live switch lasts until a restart): alert, and halt new entries until the owner acts."""
        other = "paper" if self.settings.live else "live"
        if not (Path(self.settings.data_dir) / other).exists():
            return
        try:
            st = Store(self.settings.data_dir, other, clock=self.clock)
        except Exception as exc:  # locked by another process, say: it is managed there
            log.info("%s ledger not inspected: %s", other, exc)
            return
        try:
            n_pos, n_open = len(st.open_positions()), len(st.journal_open())
        finally:
            st.close()
        if not (n_pos or n_open):
            return
        what = E.LEDGER_WHAT_ORDERS(n=n_pos, m=n_open) if n_open else E.LEDGER_WHAT(n=n_pos)
        msg = E.OTHER_LEDGER(other=C.mode(other), other_low=other, what=what, mode=C.mode(self.settings.mode))
        log.critical("%s", msg.render("en"))
        self.bus.publish(Event("error", msg, "critical", {"mode": other, "positions": n_pos, "orders": n_open}))
        assert self.trader is not None
        self.trader.risk.halt(f"{other} positions unmanaged", by="start")

    async def _stop_trading(self) -> None:
        self.market.on_snapshot = None  # no decisions while there is no trader
        trader, store = self.trader, self.store
        self.trader = None
        self.store = None
        if trader is not None:
            await trader.stop()
            await asyncio.gather(trader.upbit.close(), trader.binance.close(), return_exceptions=True)
        if store is not None:
            store.close()

    async def switch_mode(self, mode: str, by: str, idle_timeout_s: float = 30.0) -> None:
        """Paper ⇄ live at run time (a second confirmation in chat comes first). The trader, its
        venues and its store are rebuilt: each mode keeps its own ledger, and the new mode's start
        runs the same reconciliation as a restart. No new trade starts once the switch begins; one
        in flight is waited for (the switch is called off if it does not end). If the new mode
        cannot start, the old one is restored; if that fails too, trading stops and says so. The
        switch lasts until the process ends: a restart uses KIMPBOT_MODE again (and alerts when
        the other ledger holds positions), so a crash loop falls back to what the config says."""
        if mode not in ("paper", "live"):
            raise ValueError(f"mode {mode!r}: paper or live")
        if self.switching:
            raise RuntimeError("a mode switch is already in progress")
        old = self.settings
        if old.mode == mode or self.trader is None:
            return
        self.switching = True  # the command core refuses presses and changes from here on
        trader = self.trader
        try:
            self.market.on_snapshot = None  # no new decisions; a trade in flight finishes
            loop = asyncio.get_running_loop()
            end = loop.time() + idle_timeout_s
            while True:
                # wait outside the lock: housekeeping may be what answers an open order
                while (trader._busy or trader.store.journal_open()) and loop.time() < end:
                    await asyncio.sleep(0.05)
                await self.trading_lock.acquire()  # funding / housekeeping jobs finish first
                if not (trader._busy or trader.store.journal_open()):
                    break
                self.trading_lock.release()
                if loop.time() >= end:
                    self.market.on_snapshot = trader.on_snapshot
                    raise RuntimeError("a trade or order is still in flight; switch called off")
            try:
                await self._switch(mode, by, old)
            finally:
                self.trading_lock.release()
        finally:
            self.switching = False

    async def _switch(self, mode: str, by: str, old: Settings) -> None:
        trader = self.trader
        assert trader is not None
        running, trade_mode = trader.running, trader.state.trade_mode
        await self._stop_trading()
        self.settings = dataclasses.replace(old, mode=mode)
        try:
            await self._start_trading(running=running, trade_mode=trade_mode)
        except BaseException as exc:
            log.error("switch to %s failed (%s: %s); back to %s", mode, type(exc).__name__, exc, old.mode)
            await self._stop_trading()
            self.settings = old
            try:
                await self._start_trading(running=running, trade_mode=trade_mode)
            except BaseException as exc2:
                await self._stop_trading()
                text = E.SWITCH_BOTH_FAILED(mode=mode, old=old.mode, err=f"{type(exc).__name__}: {exc}",
                                            err2=f"{type(exc2).__name__}: {exc2}")
                msg = text.render("en")
                log.critical("%s", msg)
                self.bus.publish(Event("error", text, "critical", {"mode": None}))
                # not the end of the process: the start-up retry brings the old mode back (same
                # /stop and trade mode), and the store is reopened at once so /halt still works
                self._restart_with = {"running": running, "trade_mode": trade_mode}
                try:
                    self.open_store()
                except FatalConfigError as exc3:
                    log.error("%s", exc3)
                self._set_not_trading(f"switch to {mode} failed and {old.mode} could not be restored "
                                      f"({type(exc2).__name__}: {exc2})")
                if self._bringup is None or self._bringup.done():
                    self._bringup = asyncio.create_task(self._retry_bring_up())
                raise RuntimeError(msg) from exc2
            self.bus.publish(Event("error", E.SWITCH_FAILED(mode=mode, old=old.mode, err=f"{type(exc).__name__}: {exc}"),
                                   "critical", {"mode": old.mode}))
            raise
        log.warning("mode switched to %s by %s", mode, by)
        self.bus.publish(Event("mode", (E.MODE_LIVE if mode == "live" else E.MODE_PAPER)(by=by),
                               "warning", {"mode": mode, "by": by}))

    def apply_owner(self, values: dict[str, ParamValue], source: str) -> None:
        """Put new values of keys read at each decision in force without a restart.

        The running OwnerConfig keeps every other key as it runs, so a key that needs a restart
        (or a hand edit of the file not yet confirmed) never half-applies."""
        merged = ParamSet({k: values.get(k, pv) for k, pv in self.owner.params.values.items()})
        sp = StrategyParams.from_params(merged)
        cross_check(sp)
        owner = OwnerConfig(params=merged, strategy=sp, source=source)
        self.owner = owner
        self.market.owner = owner
        self.market.order_krw = {s: owner.order_krw(s) for s in self.market.symbols}
        if self.strategy is not None:
            self.strategy.params = sp
        if self.trader is not None:
            self.trader.apply_owner(owner)

    async def stop(self) -> None:
        task, self._bringup = self._bringup, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.market.on_snapshot = None
        for f in self.feeds:
            await f.stop()
        trader = self.trader
        await self._stop_trading()
        self.trader = trader  # kept for a last look (tests, the final summary); its store is closed
        await asyncio.gather(self.upbit.close(), self.binance.close(), return_exceptions=True)
        if self.session is not None:
            await self.session.close()
            self.session = None

    # ---- jobs ---------------------------------------------------------------------------

    async def _poll_fx(self) -> None:
        assert self.bank_fx is not None
        try:
            reading = await self.bank_fx.fetch()
        except asyncio.CancelledError:  # shutting down mid-request
            return
        except (aiohttp.ClientError, asyncio.TimeoutError, BadMarketData) as exc:
            log.warning("FX bank USD/KRW fetch failed: %s", str(exc) or type(exc).__name__)
            return
        self.market.on_fx(reading)
        self._save_fx_history()

    def _fx_history_path(self) -> Path:
        return Path(self.settings.data_dir) / "fx_ratio.json"

    def _load_fx_history(self) -> None:
        """The FX check's confirmed USDT/bank ratios from the previous run (see FxGuard.restore)."""
        path = self._fx_history_path()
        try:
            if not path.exists():
                return
            n = self.market.fx.restore(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.warning("FX ratio history %s not used (%s); the FX check learns it again", path, exc)
            return
        log.info("FX ratio history: %d confirmed readings restored from %s", n, path)

    def _save_fx_history(self) -> None:
        """Written whole (temporary file renamed over it); a failure costs only a relearn at restart."""
        path = self._fx_history_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(self.market.fx.to_doc(), separators=(",", ":")), encoding="utf-8")
            os.replace(tmp, path)
            self._fx_save_failed = False
        except OSError as exc:
            if not self._fx_save_failed:  # one line per failure spell, not one per poll
                log.warning("FX ratio history not saved to %s: %s", path, exc)
            self._fx_save_failed = True

    async def _rest_refresh(self, force: bool = False) -> None:
        """REST fallback: refresh any book the websocket has not kept fresh."""
        now = self.clock.now_ms()
        limit = self.market.max_age_ms // 2
        jobs = []
        for sym in self.market.symbols:
            for venue, ex in ((Venue.UPBIT, self.upbit), (Venue.BINANCE, self.binance)):
                book = self.market.books.get((venue, sym))
                if force or book is None or now - book.received_ts > limit:
                    jobs.append(self._refresh_book(ex, sym))
        usdt = self.market.fx.states["usdt"].latest
        if force or usdt is None or now - usdt.received_ts > limit:
            jobs.append(self._refresh_usdt())
        if jobs:
            try:
                await asyncio.gather(*jobs)
            except asyncio.CancelledError:  # shutting down mid-request
                return

    async def _refresh_book(self, ex: UpbitSpot | BinanceFutures, sym: str) -> None:
        try:
            self.market.on_book(await ex.order_book(sym))
        except (ExchangeUnavailable, BadMarketData) as exc:
            log.warning("REST fallback: %s", exc)
        except Exception as exc:  # a truncated answer can fail inside the client library: skip this book only
            log.warning("REST fallback: %s %s order book skipped: %s: %s", type(ex).__name__, sym,
                        type(exc).__name__, exc)

    async def _refresh_usdt(self) -> None:
        try:
            t = await self.upbit.ticker("USDT")
        except (ExchangeUnavailable, BadMarketData) as exc:
            log.warning("REST fallback: %s", exc)
            return
        except Exception as exc:  # as for a book: a malformed answer skips this reading only
            log.warning("REST fallback: Upbit KRW-USDT ticker skipped: %s: %s", type(exc).__name__, exc)
            return
        self.market.on_fx(FxRate("usdt", t.last, t.exchange_ts, t.received_ts))

    # APScheduler's asyncio executor runs plain functions in a thread pool: every job
    # is a coroutine so market state is only ever touched from the event loop.
    async def _roll_bars(self) -> None:
        self.market.roll_bars()

    async def _health(self) -> None:
        self.market.check_health()
        if self.trader is not None:
            self.trader.expire_pending()

    async def _funding(self) -> None:
        async with self.trading_lock:
            if self.trader is not None:  # None only after a failed mode switch
                await self.trader.book_funding()

    async def _housekeeping(self) -> None:
        """Re-check orders left unknown and fold the store's journal when due."""
        async with self.trading_lock:
            await self._housekeep()

    async def _housekeep(self) -> None:
        if self.trader is None or self.store is None:  # after a failed mode switch
            return
        if self.store.journal_open() and not self.trader._busy:
            await self.trader.recheck_open_orders()
        if self.store.compaction_due and not self.trader._busy and self.store.failed is None:
            await asyncio.to_thread(self.store.compact)

    async def _warm_up(self) -> None:
        """The z window from candle history. A failure is a start-up failure (retried with the
        back-off) for the first ``WARMUP_TRIES`` tries; then the bot starts without it and the window
        fills from live bars (history cannot be put in front of live bars later)."""
        sp = self.owner.strategy
        bank = self.market.fx.states["usdkrw"].latest
        usdt = self.market.fx.states["usdt"].latest
        try:
            report = await warm_up(self.upbit, self.binance, list(sp.symbols), sp.bar_minutes, sp.window_bars,
                                   self.clock.now_ms(), self.market.fx.source, bank.rate if bank else None,
                                   usdt.rate if usdt else None)
        except (ExchangeUnavailable, RuntimeError) as exc:
            self._warmup_failures += 1
            if self._warmup_failures < WARMUP_TRIES:
                raise ExchangeUnavailable(f"warm-up candle history: {exc}") from None
            self.state.warmup_note = (f"warm-up failed {self._warmup_failures} times ({exc}); "
                                      "the z window fills from live bars")
            log.warning("%s", self.state.warmup_note)
            return
        self.market.warm_start(report.bars, report.since_ms)
        self.state.warmup_note = report.summary()

    # ---- views --------------------------------------------------------------------------

    def banner(self) -> Text:
        """The start message: a few short lines a phone shows whole (mode, trade mode, symbols,
        strategy, how many keys the owner left unset), then only what needs the owner now (not
        trading, retired keys). The rest is in :meth:`banner_details` (console, logs)."""
        sp = self.owner.strategy
        unset = self.owner.params.unset_open_keys()
        if self.trader is not None:
            trade: Any = E.AUTO() if self.settings.trade_mode == "auto" else E.CONFIRM()
        else:
            trade = E.NOT_TRADING_YET() if self.state.not_trading else E.WATCHING_ONLY()
        notes = ([self.trading_status()] if self.state.not_trading else []) + retired_notes(self.owner)
        return E.BANNER(mode=C.mode(self.settings.mode), trade=trade, symbols=", ".join(sp.symbols),
                        strategy=sp.strategy, unset=E.BANNER_UNSET(n=len(unset)) if unset else "",
                        notes="".join("\n" + n for n in notes))

    def banner_details(self) -> list[str]:
        """What the start banner leaves out, for the console and the log (English, as logs are)."""
        unset = self.owner.params.unset_open_keys()
        lines = [f"FX source: {self.market.fx.source} ({self.market.fx.label}); strategy file: {self.owner.source}",
                 *([self.state.warmup_note] if self.state.warmup_note else []), protections_line(self.owner),
                 self.market.fx.start_note()]
        if unset:
            lines.append("unset by owner (defaults in force): " + ", ".join(unset))
        return lines


def _make_strategy(owner: OwnerConfig):  # type: ignore[no-untyped-def]
    from kimpbot.strategy.base import make_strategy

    return make_strategy(owner.strategy)


def _why(exc: BaseException) -> str:
    """A failure as one line for the owner (exchange errors already name the venue)."""
    text = str(exc).strip().replace("\n", " ")
    if isinstance(exc, ExchangeUnavailable) and text:
        return text[:400]
    return f"{type(exc).__name__}: {text}"[:400] if text else type(exc).__name__
