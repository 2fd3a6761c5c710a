"""Paper trading: market orders filled against the live order books, with fees, into a ledger.

``PaperVenue("upbit" | "binance", market, store, clock, fee, quote_balance=..., coins=...)``
implements ``TradingVenue`` (and ``PerpVenue`` for ``"binance"``) without any exchange account:

* **Fills** walk the CURRENT book the market engine holds for that venue
  (``market.books[(Venue, symbol)]``), best level first: a BUY takes the asks, a SELL the bids.
  An Upbit BUY spends ``floor(qty x price_hint)`` KRW, exactly what the live adapter would send,
  and buys what that amount buys (8 decimals); every other order is for ``qty`` coins. A book
  thinner than the order fills what it holds: PARTIAL. A book older than the engine's
  ``market.max_quote_age_s`` (arrival time, or exchange time lagging arrival by as much) or
  missing: REJECTED ``paper: book stale`` / ``paper: no book`` (nothing filled).
* **Fees**: ``fee`` (a fraction, the venue's taker rate) on the traded quote amount, in the
  quote currency. Upbit charges it on top of a buy and out of a sell's proceeds, as Upbit does;
  Binance takes it from the USDT wallet.
* **Checks as the exchanges make them**: Upbit's 5,000 KRW minimum and the balance (KRW plus
  fee for a buy, coins for a sell); Binance's step, minimum quantity and minimum notional
  (``rules``), reduce-only (must shrink the position; capped at its size) and margin at
  ``leverage`` (available = wallet + unrealised P&L - initial margin of all positions).
* **Idempotent by client id**: an order id seen before returns the recorded result, whatever
  it was (never fills twice); ``query`` finds it, across restarts.
* **Ledger**: balances, positions, funding and the funding cursor live in the Store's state
  ``paper_ledger`` (one section per venue, so both paper venues can share one store); every
  order result lives in its own key ``paper_order.<venue>.<client_id>``, written in the same
  atomic batch as the ledger change it caused (a key per order keeps each write small however
  long the history grows). The Store is per mode: a live-mode store is refused. Without a store
  the ledger lives in memory only.
* **Funding** (``"binance"``): ``funding_info`` gives ``funding_rate`` (one rate, or one per
  symbol) and the next 00:00/08:00/16:00 UTC. At each of those times that the clock has
  crossed, the position held then pays ``-position x mark x rate`` (a long pays a positive
  rate): booked into the wallet and listed by ``funding_payments`` with a ``tranId``
  ``paper-<SYM>-<ms>``. Funding is settled lazily before every order, balance, query of
  funding; since it is settled before any position change, the position used is the one held
  at the funding time. The mark used is the book's mid when the settlement runs (a paper
  approximation: the mark at the funding instant is not kept).
"""

from __future__ import annotations

import logging
from decimal import ROUND_DOWN, Decimal
from typing import Any

from kimpbot.clock import Clock
from kimpbot.execution.venues import (Balances, FundingInfo, FundingPayment, MarketRules, OrderRequest, OrderResult,
                                      OrderStatus, Side)
from kimpbot.models import OrderBook, Venue

log = logging.getLogger(__name__)

ZERO = Decimal(0)
COIN_STEP = Decimal("0.00000001")  # Upbit's volume precision
MONEY_STEP = Decimal("0.00000001")
UPBIT_MIN_KRW = Decimal(5000)
FUNDING_PERIOD_MS = 8 * 3600 * 1000
LEDGER_KEY = "paper_ledger"
FUNDING_KEEP_MS = 400 * 24 * 3600 * 1000

# Binance USDT-M perpetual filters (exchangeInfo, LOT_SIZE / MIN_NOTIONAL / PRICE_FILTER tickSize) for the
# default symbols; the tick only shapes how prices are shown (paper fills are book prices).
BINANCE_RULES: dict[str, MarketRules] = {
    "BTC": MarketRules(Decimal("0.001"), Decimal("0.001"), Decimal("100"), price_tick=Decimal("0.1")),
    "ETH": MarketRules(Decimal("0.001"), Decimal("0.001"), Decimal("20"), price_tick=Decimal("0.01")),
    "XRP": MarketRules(Decimal("0.1"), Decimal("0.1"), Decimal("5"), price_tick=Decimal("0.0001")),
}


class PaperError(RuntimeError):
    """A paper venue was set up wrongly (not an order outcome: those are ``OrderResult``s)."""


def _d(x: float) -> Decimal:
    return Decimal(repr(x))


def _money(x: Decimal) -> Decimal:
    return x.quantize(MONEY_STEP)


def _trim(x: Decimal) -> Decimal:
    """Division results to 12 decimals."""
    return x.quantize(Decimal("0.000000000001")) if x.as_tuple().exponent < -12 else x  # type: ignore[operator]


class PaperVenue:
    """A simulated Upbit spot or Binance USDT-M venue over the live books (see the module doc)."""

    can_book_late = False  # answers at once, in process: an order it does not know was never placed

    def __init__(self, name: str, market: Any, store: Any, clock: Clock, fee: Decimal, *,
                 quote_balance: Decimal = ZERO, coins: dict[str, Decimal] | None = None,
                 rules: dict[str, MarketRules] | None = None,
                 funding_rate: Decimal | dict[str, Decimal] = Decimal("0.0001"),
                 leverage: Decimal | int = 1, min_order_krw: Decimal = UPBIT_MIN_KRW) -> None:
        if name not in ("upbit", "binance"):
            raise PaperError(f"paper venue name must be 'upbit' or 'binance', got {name!r}")
        if store is not None and getattr(store, "mode", "paper") != "paper":
            raise PaperError(f"the paper ledger must not go into a {store.mode!r} store: paper and live are kept apart")
        self.name = name
        self.venue = Venue.UPBIT if name == "upbit" else Venue.BINANCE
        self.market = market
        self.store = store
        self.clock = clock
        self.fee = Decimal(fee)
        self.leverage = Decimal(leverage)
        self.funding_rate = funding_rate
        self.min_order_krw = Decimal(min_order_krw)
        self.rules = dict(BINANCE_RULES if name == "binance" else {})
        self.rules.update(rules or {})
        self._orders: dict[str, OrderResult] = {}  # memory cache of what the store holds
        loaded = self._load()
        if loaded is None:
            self.quote = Decimal(quote_balance)
            self.coins: dict[str, Decimal] = {k: Decimal(v) for k, v in (coins or {}).items()}
            self.positions: dict[str, dict[str, Decimal]] = {}
            self.funding: list[dict[str, Any]] = []
            self.funding_cursor_ms = clock.now_ms()
            self.fees_paid = ZERO
            self.realized = ZERO
            self._persist(None)
        else:
            self._restore(loaded)

    # ------------------------------------------------------------------ ledger persistence
    def _ledger_doc(self) -> dict[str, Any]:
        return {"quote": self.quote, "coins": dict(self.coins),
                "positions": {s: dict(p) for s, p in self.positions.items()},
                "funding": list(self.funding), "funding_cursor_ms": self.funding_cursor_ms,
                "fees_paid": self.fees_paid, "realized": self.realized}

    def _restore(self, doc: dict[str, Any]) -> None:
        self.quote = Decimal(doc["quote"])
        self.coins = {k: Decimal(v) for k, v in doc.get("coins", {}).items()}
        self.positions = {s: {"amt": Decimal(p["amt"]), "entry": Decimal(p["entry"])}
                          for s, p in doc.get("positions", {}).items()}
        self.funding = list(doc.get("funding", []))
        self.funding_cursor_ms = int(doc.get("funding_cursor_ms", self.clock.now_ms()))
        self.fees_paid = Decimal(doc.get("fees_paid", 0))
        self.realized = Decimal(doc.get("realized", 0))

    def _load(self) -> dict[str, Any] | None:
        if self.store is None:
            return None
        ledger = self.store.get_state(LEDGER_KEY, None) or {}
        return ledger.get(self.name)

    def _order_key(self, client_id: str) -> str:
        return f"paper_order.{self.name}.{client_id}"

    def _persist(self, res: OrderResult | None, *, ledger: bool = True) -> None:
        """Write the ledger section (and the order) in one atomic batch."""
        if self.store is None:
            return
        with self.store.batch():
            if ledger:
                all_ledgers = dict(self.store.get_state(LEDGER_KEY, None) or {})
                all_ledgers[self.name] = self._ledger_doc()
                self.store.set_state(LEDGER_KEY, all_ledgers)
            if res is not None:
                self.store.set_state(self._order_key(res.client_id), _result_doc(res))

    def _recorded(self, client_id: str) -> OrderResult | None:
        res = self._orders.get(client_id)
        if res is None and self.store is not None:
            doc = self.store.get_state(self._order_key(client_id), None)
            if doc is not None:
                res = _result_from_doc(doc)
                self._orders[client_id] = res
        return res

    # ------------------------------------------------------------------ books
    def _book(self, symbol: str) -> tuple[OrderBook | None, str]:
        book = self.market.books.get((self.venue, symbol))
        if book is None:
            return None, f"paper: no book for {self.name} {symbol} yet"
        now = self.clock.now_ms()
        max_age = int(self.market.max_age_ms)
        age = now - book.received_ts
        lag = book.received_ts - book.exchange_ts
        if age > max_age or lag > max_age:
            return None, (f"paper: book stale: {self.name} {symbol} is {max(age, lag) / 1000:.1f} s old "
                          f"(market.max_quote_age_s {max_age / 1000:g})")
        if not book.bids or not book.asks:
            return None, f"paper: {self.name} {symbol} book has an empty side"
        return book, ""

    def _mark(self, symbol: str) -> Decimal | None:
        book = self.market.books.get((self.venue, symbol))
        if book is None or not book.bids or not book.asks:
            return None
        return (_d(book.bids[0].price) + _d(book.asks[0].price)) / 2

    # ------------------------------------------------------------------ orders
    async def place_market(self, req: OrderRequest, timeout_s: float) -> OrderResult:
        recorded = self._recorded(req.client_id)
        if recorded is not None:
            return recorded
        if self.name == "binance":
            self._settle_funding()
        ledger_before = self._ledger_doc()
        try:
            res = self._fill_upbit(req) if self.name == "upbit" else self._fill_binance(req)
        except Exception as exc:  # a bug must not leave a half-applied fill in memory
            self._restore(ledger_before)
            log.exception("paper %s order %s failed", self.name, req.client_id)
            return self._res(req, OrderStatus.REJECTED, error=f"paper: internal error: {type(exc).__name__}: {exc}")
        changed = res.filled_qty > 0
        try:
            self._persist(res, ledger=changed)
        except Exception as exc:
            # the store refused (disk): nothing is known to be recorded; undo in memory
            self._restore(ledger_before)
            log.error("paper %s order %s: store write failed: %s", self.name, req.client_id, exc)
            return self._res(req, OrderStatus.UNKNOWN, error=f"paper: ledger write failed: {exc}")
        self._orders[req.client_id] = res
        return res

    def _res(self, req: OrderRequest, status: OrderStatus, **kw: Any) -> OrderResult:
        return OrderResult(self.name, req.symbol, req.side, req.client_id, status, **kw)

    def _fill_upbit(self, req: OrderRequest) -> OrderResult:
        book, why = self._book(req.symbol)
        if book is None:
            return self._res(req, OrderStatus.REJECTED, error=why)
        fee_rate = self.fee
        if req.side is Side.BUY:
            if req.qty <= 0 or req.price_hint <= 0:
                return self._res(req, OrderStatus.REJECTED,
                                 error=f"paper: a market buy needs qty > 0 and price_hint > 0 "
                                       f"(qty {req.qty}, price_hint {req.price_hint})")
            budget = (req.qty * req.price_hint).to_integral_value(rounding=ROUND_DOWN)
            if budget < self.min_order_krw:
                return self._res(req, OrderStatus.REJECTED,
                                 error=f"paper: under_min_total_bid: {budget} KRW is under the minimum "
                                       f"{self.min_order_krw} KRW")
            need = budget * (1 + fee_rate)
            if need > self.quote:
                return self._res(req, OrderStatus.REJECTED,
                                 error=f"paper: insufficient_funds_bid: need {_money(need)} KRW, have {self.quote}")
            left = budget
            got = funds = ZERO
            top = ZERO
            for lvl in book.asks:
                price, size = _d(lvl.price), _d(lvl.size)
                take = min(size, (left / price).quantize(COIN_STEP, rounding=ROUND_DOWN))
                if take <= 0:
                    break
                got += take
                funds += take * price
                left -= take * price
                top = price
                if take < size:
                    break  # the budget ran out inside this level
            if got <= 0:
                return self._res(req, OrderStatus.REJECTED, error="paper: the ask side cannot fill any amount")
            complete = left <= max(Decimal(1), top * COIN_STEP * 2)
            fee = _money(funds * fee_rate)
            self.quote -= funds + fee
            self.coins[req.symbol] = self.coins.get(req.symbol, ZERO) + got
        else:
            vol = req.qty.quantize(COIN_STEP, rounding=ROUND_DOWN)
            if vol <= 0:
                return self._res(req, OrderStatus.REJECTED, error=f"paper: sell volume {req.qty} rounds to 0")
            held = self.coins.get(req.symbol, ZERO)
            if vol > held:
                return self._res(req, OrderStatus.REJECTED,
                                 error=f"paper: insufficient_funds_ask: sell {vol} {req.symbol}, have {held}")
            if vol * _d(book.bids[0].price) < self.min_order_krw:
                return self._res(req, OrderStatus.REJECTED,
                                 error=f"paper: under_min_total_ask: {vol} {req.symbol} is under "
                                       f"{self.min_order_krw} KRW")
            got, funds = self._walk(book.bids, vol)
            if got <= 0:
                return self._res(req, OrderStatus.REJECTED, error="paper: the bid side cannot fill any amount")
            complete = got >= vol
            fee = _money(funds * fee_rate)
            self.quote += funds - fee
            self.coins[req.symbol] = held - got
        self.fees_paid += fee
        status = OrderStatus.FILLED if complete else OrderStatus.PARTIAL
        return self._res(req, status, filled_qty=got, avg_price=_trim(funds / got), fee=fee,
                         exchange_id=f"paper-{self.name}-{req.client_id}",
                         error="" if complete else "paper: the book is thinner than the order")

    @staticmethod
    def _walk(levels: list, qty: Decimal, step: Decimal = COIN_STEP) -> tuple[Decimal, Decimal]:
        """(filled, quote) taking ``qty`` from ``levels``, each take rounded down to ``step``."""
        left = qty
        got = funds = ZERO
        for lvl in levels:
            if left <= 0:
                break
            price, size = _d(lvl.price), _d(lvl.size)
            take = min(size, left).quantize(step, rounding=ROUND_DOWN) if step > 0 else min(size, left)
            if take <= 0:
                break
            got += take
            funds += take * price
            left -= take
        return got, funds

    def _binance_rules(self, symbol: str) -> MarketRules:
        r = self.rules.get(symbol)
        if r is None:
            raise PaperError(f"paper binance: no rules for {symbol}; pass rules={{'{symbol}': MarketRules(...)}}")
        return r

    def _fill_binance(self, req: OrderRequest) -> OrderResult:
        try:
            rules = self._binance_rules(req.symbol)
        except PaperError as exc:
            return self._res(req, OrderStatus.REJECTED, error=str(exc))
        qty = req.qty
        if qty <= 0 or rules.round_qty(qty) != qty:
            return self._res(req, OrderStatus.REJECTED,
                             error=f"paper: -1111 quantity {qty} is not a multiple of the step {rules.qty_step}")
        if qty < rules.min_qty:
            return self._res(req, OrderStatus.REJECTED,
                             error=f"paper: -4004 quantity {qty} is under the minimum {rules.min_qty}")
        book, why = self._book(req.symbol)
        if book is None:
            return self._res(req, OrderStatus.REJECTED, error=why)
        pos = self.positions.get(req.symbol, {"amt": ZERO, "entry": ZERO})
        amt = pos["amt"]
        sign = 1 if req.side is Side.BUY else -1
        levels = book.asks if req.side is Side.BUY else book.bids
        ref = _d(levels[0].price)
        if req.reduce_only:
            if amt == 0 or (amt > 0) == (sign > 0):
                return self._res(req, OrderStatus.REJECTED, error="paper: -2022 ReduceOnly Order is rejected.")
            qty = min(qty, abs(amt))
        elif qty * ref < rules.min_notional:
            return self._res(req, OrderStatus.REJECTED,
                             error=f"paper: -4164 notional {_money(qty * ref)} USDT is under {rules.min_notional}")
        new_amt = amt + sign * qty
        if abs(new_amt) > abs(amt):
            need = self._initial_margin({req.symbol: new_amt}) + qty * ref * self.fee
            have = self.quote + self._unrealized()
            if need > have:
                return self._res(req, OrderStatus.REJECTED,
                                 error=f"paper: -2019 Margin is insufficient: need {_money(need)} USDT, "
                                       f"have {_money(have)}")
        got, notional = self._walk(levels, qty, rules.qty_step)
        if got <= 0:
            return self._res(req, OrderStatus.REJECTED, error="paper: the book cannot fill one step")
        avg = notional / got
        fee = _money(notional * self.fee)
        realized = self._apply_position(req.symbol, sign, got, avg)
        self.quote += realized - fee
        self.realized += realized
        self.fees_paid += fee
        complete = got >= qty
        return self._res(req, OrderStatus.FILLED if complete else OrderStatus.PARTIAL, filled_qty=got,
                         avg_price=_trim(avg), fee=fee, exchange_id=f"paper-{self.name}-{req.client_id}",
                         error="" if complete else "paper: the book is thinner than the order")

    def _apply_position(self, symbol: str, sign: int, q: Decimal, price: Decimal) -> Decimal:
        """Move the position by ``sign * q`` at ``price``; returns the realised P&L (USDT)."""
        pos = self.positions.setdefault(symbol, {"amt": ZERO, "entry": ZERO})
        amt, entry = pos["amt"], pos["entry"]
        realized = ZERO
        if amt == 0 or (amt > 0) == (sign > 0):
            new_amt = amt + sign * q
            pos["entry"] = _trim((abs(amt) * entry + q * price) / abs(new_amt))
        else:
            closing = min(q, abs(amt))
            realized = _money(closing * (price - entry) * (1 if amt > 0 else -1))
            new_amt = amt + sign * q
            if new_amt == 0:
                pos["entry"] = ZERO
            elif (new_amt > 0) != (amt > 0):
                pos["entry"] = price
        pos["amt"] = new_amt
        if new_amt == 0:
            del self.positions[symbol]
        return realized

    def _initial_margin(self, override: dict[str, Decimal] | None = None) -> Decimal:
        total = ZERO
        syms = set(self.positions) | set(override or {})
        for s in syms:
            amt = (override or {}).get(s, self.positions.get(s, {}).get("amt", ZERO))
            mark = self._mark(s) or self.positions.get(s, {}).get("entry", ZERO)
            total += abs(amt) * mark / self.leverage
        return total

    def _unrealized(self) -> Decimal:
        total = ZERO
        for s, p in self.positions.items():
            mark = self._mark(s)
            if mark is not None:
                total += p["amt"] * (mark - p["entry"])
        return total

    async def query(self, symbol: str, client_id: str, timeout_s: float) -> OrderResult:
        res = self._recorded(client_id)
        if res is not None:
            return res
        return OrderResult(self.name, symbol, Side.BUY, client_id, OrderStatus.NOT_FOUND,
                           error="paper: no order with this client id")

    async def cancel_open_orders(self, symbols: list[str]) -> list[str]:
        return []  # paper market orders are final at once: nothing ever rests

    async def load_rules(self, symbols: list[str]) -> dict[str, MarketRules]:
        if self.name == "upbit":
            from kimpbot.exchanges.upbit_trading import KRW_TICKS  # Upbit's KRW price units, for display

            return {s: MarketRules(COIN_STEP, COIN_STEP, self.min_order_krw, price_ticks=KRW_TICKS) for s in symbols}
        return {s: self._binance_rules(s) for s in symbols}

    async def balances(self) -> Balances:
        if self.name == "upbit":
            return Balances(quote_free=self.quote, coins={k: v for k, v in self.coins.items() if v != 0})
        self._settle_funding()
        avail = self.quote + self._unrealized() - self._initial_margin()
        return Balances(quote_free=_money(max(ZERO, avail)),
                        positions={s: p["amt"] for s, p in self.positions.items() if p["amt"] != 0})

    async def close(self) -> None:
        return None

    # ------------------------------------------------------------------ funding (binance)
    def _rate(self, symbol: str) -> Decimal:
        r = self.funding_rate
        if isinstance(r, dict):
            return Decimal(r.get(symbol, Decimal("0.0001")))
        return Decimal(r)

    def _settle_funding(self) -> None:
        if self.name != "binance":
            return
        now = self.clock.now_ms()
        t = (self.funding_cursor_ms // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS
        booked = False
        while t <= now:
            for sym, p in sorted(self.positions.items()):
                if p["amt"] == 0:
                    continue
                mark = self._mark(sym) or p["entry"]
                pay = _money(-p["amt"] * mark * self._rate(sym))
                self.quote += pay
                self.funding.append({"symbol": sym, "ts": t, "amount": pay, "tran_id": f"paper-{sym}-{t}"})
                booked = True
            t += FUNDING_PERIOD_MS
        self.funding_cursor_ms = max(self.funding_cursor_ms, now)
        if booked:
            cutoff = now - FUNDING_KEEP_MS
            self.funding = [f for f in self.funding if int(f["ts"]) >= cutoff]
            self._persist(None)

    async def funding_info(self, symbol: str) -> FundingInfo:
        self._settle_funding()
        now = self.clock.now_ms()
        mark = self._mark(symbol)
        if mark is None:
            raise PaperError(f"paper: no {self.name} {symbol} book for a mark price yet")
        return FundingInfo(symbol=symbol, next_funding_ms=(now // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS,
                           rate=self._rate(symbol), mark_price=mark)

    async def funding_payments(self, symbol: str, since_ms: int) -> list[FundingPayment]:
        self._settle_funding()
        return [FundingPayment(f["symbol"], int(f["ts"]), Decimal(f["amount"]), str(f["tran_id"]))
                for f in self.funding if f["symbol"] == symbol and int(f["ts"]) >= since_ms]


def _result_doc(res: OrderResult) -> dict[str, Any]:
    return {"venue": res.venue, "symbol": res.symbol, "side": res.side.value, "client_id": res.client_id,
            "status": res.status.value, "filled_qty": res.filled_qty, "avg_price": res.avg_price, "fee": res.fee,
            "exchange_id": res.exchange_id, "error": res.error, "retryable": res.retryable}


def _result_from_doc(d: dict[str, Any]) -> OrderResult:
    return OrderResult(venue=d["venue"], symbol=d["symbol"], side=Side(d["side"]), client_id=d["client_id"],
                       status=OrderStatus(d["status"]), filled_qty=Decimal(d["filled_qty"]),
                       avg_price=Decimal(d["avg_price"]), fee=Decimal(d["fee"]), exchange_id=d["exchange_id"],
                       error=d["error"], retryable=bool(d["retryable"]))
