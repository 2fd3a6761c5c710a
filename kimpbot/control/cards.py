"""One trade, one message: a trade card posted once and edited in place as the trade goes.

A :class:`CardDesk` reads bus events (each front has its own, fed from its own subscriber task, so
events arrive in order) and keeps one :class:`Card` per trade: offered (a signal in confirmation
mode) → executing → each leg filled (venue, side, quantity to the step, average price to the tick,
fee with its currency) → done (net premium, size; realized P&L for an exit) / rolled back (with its
cost) / failed / UNHEDGED. The front posts the card the first time and edits that message for every
later state (:func:`render_card` is the text).

Events are tied to their card by their data: a signal by ``pending_id`` (``key`` on
``signal_answered``), every order of a pair trade by its ``trade_id`` (fill events carry the
client order id ``<trade_id>-<leg>-<attempt>``, see :func:`kimpbot.store.codec.client_order_id`).
A confirmed signal becomes the card of the trade it started: the trade record (and a refused
plan's error) names the signal's ``pending_id``; a trade record without one (written before
it was kept) falls back to the first trade of that symbol seen while the signal is executing.

Critical events (unhedged, critical errors) update the card AND go out as their own loud message:
the front does that (:func:`is_card_event` says which events a card takes).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from kimpbot.events import Event
from kimpbot.i18n import Text, cell_width, render
from kimpbot.i18n import cards as c
from kimpbot.i18n.common import side as side_word
from kimpbot.i18n.common import venue as venue_word
from kimpbot.i18n.units import kst, krw, money, pct, price, qty

MAX_CARDS = 200            # cards remembered per front (older ones are no longer edited)
WIDTH = 36

# the emoji in front of each state's title
ICON = {"offered": "🔔", "executing": "⏳", "filled": "✅", "partial": "◽", "rolled_back": "↩️",
        "failed": "❌", "not_sent": "⛔", "exposed": "🚨", "skipped": "✖️", "expired": "⌛"}
FINAL = frozenset({"filled", "partial", "rolled_back", "failed", "not_sent", "exposed", "skipped", "expired"})
TRADE_KINDS = frozenset({"fill", "partial", "unwind", "trade", "rollback", "exposure", "error"})
SIGNAL_KINDS = frozenset({"signal", "signal_answered", "signal_expired"})
DEFAULT_FEE_CURRENCY = {"upbit": "KRW", "binance": "USDT"}
QUOTE = {"upbit": "KRW", "binance": "USDT"}
UNWIND_LEGS = {"UU": "upbit", "BU": "binance"}
MAIN_LEGS = {"U": "upbit", "B": "binance"}


def _d(x: Any) -> Decimal | None:
    if x in (None, ""):
        return None
    try:
        return Decimal(str(x))
    except (InvalidOperation, ValueError):
        return None


def parse_cid(cid: Any) -> tuple[str, str, int] | None:
    """``(trade_id, leg, attempt)`` of a pair trade's client order id, None for anything else."""
    from kimpbot.store.codec import parse_client_order_id

    try:
        return parse_client_order_id(str(cid))
    except (ValueError, TypeError):
        return None


@dataclass
class Leg:
    venue: str
    side: str = ""
    qty: Decimal | None = None          # ordered
    filled: Decimal = Decimal(0)
    avg_price: Decimal | None = None
    fee: Decimal | None = None
    fee_currency: str = ""
    status: str = "sending"             # sending | filled | partial | failed | ...
    error: str = ""
    cid: str = ""

    def absorb(self, res: dict[str, Any]) -> None:
        """An order result (``status``, ``filled_qty``, ``avg_price``, ``fee``, ``error``) as the
        executor reports it; the pair's final report is the authority on the leg."""
        self.status = str(res.get("status") or self.status)
        f = _d(res.get("filled_qty"))
        if f is not None:
            self.filled = f
        a = _d(res.get("avg_price"))
        if a is not None and a > 0:
            self.avg_price = a
        fee = _d(res.get("fee"))
        if fee is not None:
            self.fee = fee
        if res.get("fee_currency"):
            self.fee_currency = str(res["fee_currency"])
        if res.get("error"):
            self.error = str(res["error"])
        if res.get("client_id"):
            self.cid = str(res["client_id"])


@dataclass
class Card:
    key: str                                  # "S:<pending id>" or "T:<trade id>"
    symbol: str = ""
    direction: str = ""                       # long_premium | short_premium
    action: str = "enter"                     # enter | add | exit
    state: str = "executing"
    pending_id: str = ""
    trade_id: str = ""
    premium_pct: float | None = None          # the signal's executable premium
    z: float | None = None
    size_krw: float | None = None
    target_pct: float | None = None
    expires_ms: int | None = None
    blocked: str = ""                         # why an offered entry carries no buttons
    by: str = ""                              # who answered the signal
    legs: dict[str, Leg] = field(default_factory=dict)      # venue -> main leg
    unwinds: dict[str, Leg] = field(default_factory=dict)   # client id -> unwind order
    net_pct: float | None = None              # the premium the pair was filled at
    filled_size_krw: float | None = None
    realized_krw: float | None = None
    cost_krw: float | None = None
    exposure: list[str] = field(default_factory=list)
    note: str = ""                            # why it failed / was not sent
    alert: bool = False                       # a critical alert went out as its own message
    steps: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # venue -> (qty step, price tick)
    version: int = 0                          # bumped on every change (fronts skip stale edits)

    @property
    def group(self) -> str:
        """The /notify group the card's first post belongs to."""
        return "signals" if self.state in ("offered", "skipped", "expired") and not self.trade_id else "trades"

    @property
    def final(self) -> bool:
        return self.state in FINAL

    def leg(self, venue: str) -> Leg:
        lg = self.legs.get(venue)
        if lg is None:
            lg = self.legs[venue] = Leg(venue)
        return lg

    def buttons_wanted(self) -> bool:
        """Execute / Skip belong on the card while its signal waits for an answer."""
        return self.state == "offered" and bool(self.pending_id) and not self.blocked


def is_card_event(ev: Event) -> bool:
    return ev.kind in SIGNAL_KINDS or ev.kind in TRADE_KINDS


def card_alert(ev: Event) -> bool:
    """A card's event that must also go out as its own loud message (unhedged, critical errors)."""
    return ev.level == "critical" or ev.kind == "exposure"


class CardDesk:
    """The cards of one front. ``pending(pid)`` returns the trader's pending signal (state, signal),
    ``trade_doc(trade_id)`` the store's trade record (its FX rate), ``rules(venue, symbol)`` the
    venue's market rules (quantity step, price tick); each may return None."""

    def __init__(self, *, pending: Callable[[str], Any] | None = None,
                 trade_doc: Callable[[str], dict[str, Any] | None] | None = None,
                 rules: Callable[[str, str], Any] | None = None, max_cards: int = MAX_CARDS) -> None:
        self._pending = pending or (lambda pid: None)
        self._trade_doc = trade_doc or (lambda tid: None)
        self._rules = rules or (lambda venue, symbol: None)
        self.max_cards = max_cards
        self.cards: OrderedDict[str, Card] = OrderedDict()
        self.by_trade: dict[str, str] = {}
        self.by_pending: dict[str, str] = {}

    @classmethod
    def for_bot(cls, bot: Any) -> "CardDesk":
        def pending(pid: str) -> Any:
            t = getattr(bot, "trader", None)
            return None if t is None else t.state.pending.get(pid)

        def trade_doc(tid: str) -> dict[str, Any] | None:
            st = getattr(bot, "store", None)
            try:
                return None if st is None else st.get_trade(tid)
            except Exception:   # a card is a view: a store problem must not stop the alert
                return None

        def rules(venue: str, symbol: str) -> Any:
            t = getattr(bot, "trader", None)
            return None if t is None else getattr(t, "rules", {}).get((venue, symbol))

        return cls(pending=pending, trade_doc=trade_doc, rules=rules)

    # ---- lookups -----------------------------------------------------------------------

    def get(self, key: str) -> Card | None:
        return self.cards.get(key)

    def _add(self, card: Card) -> Card:
        self.cards[card.key] = card
        while len(self.cards) > self.max_cards:
            _k, old = self.cards.popitem(last=False)
            self.by_trade.pop(old.trade_id, None)
            self.by_pending.pop(old.pending_id, None)
        return card

    def _steps(self, card: Card) -> None:
        for venue in ("upbit", "binance"):
            if venue in card.steps or not card.symbol:
                continue
            r = self._rules(venue, card.symbol)
            if r is not None:
                card.steps[venue] = (getattr(r, "qty_step", None), getattr(r, "price_tick", None) or None)

    def sync(self, card: Card) -> Card:
        """A signal's card follows its pending signal (skipped, expired, refused, executing) until a
        trade of its own is bound to it."""
        if card.state not in ("offered", "executing") or not card.pending_id or card.trade_id:
            return card
        p = self._pending(card.pending_id)
        if p is None:
            return card
        st, res = getattr(p, "state", "pending"), getattr(p, "result", "")
        if st == "skipped":
            card.state = "skipped"
        elif st == "expired":
            card.state = "expired"
        elif st == "refused" or (st == "done" and res in ("refused", "failed")):
            card.state = "not_sent"   # nothing of a pair stands (no fill was ever published for it)
        elif st in ("executing", "done"):
            card.state = "executing"   # its trade's events follow
        else:
            return card
        card.version += 1
        return card

    # ---- events ------------------------------------------------------------------------

    def feed(self, ev: Event) -> Card | None:
        """The card ``ev`` changed (None: not a card's event; the front posts it as before)."""
        d = ev.data or {}
        if ev.kind == "signal":
            pid = str(d.get("pending_id") or "")
            if not pid:
                return None
            card = self._signal_card(pid, d)
        elif ev.kind in ("signal_answered", "signal_expired"):
            pid = str(d.get("key") or d.get("pending_id") or "")   # the core says "key", the trader "pending_id"
            card = self.cards.get(self.by_pending.get(pid, ""))
            if card is None:
                return None
            if ev.kind == "signal_expired" and not card.trade_id:
                card.state = "expired"
            else:
                card.by = str(d.get("by") or card.by)
                self.sync(card)
                if card.state == "not_sent" and not card.note:
                    card.note = ev.shown().strip().split("\n")[-1]
        elif ev.kind in TRADE_KINDS:
            card = self._trade_card(ev)
            if card is None:
                return None
            self._trade_event(card, ev)
        else:
            return None
        card.version += 1
        self.cards.move_to_end(card.key)
        return card

    def _signal_card(self, pid: str, d: dict[str, Any]) -> Card:
        key = f"S:{pid}"
        card = self.cards.get(key) or self._add(Card(key, pending_id=pid, state="offered"))
        self.by_pending[pid] = key
        card.symbol = str(d.get("symbol") or card.symbol)
        card.direction = str(d.get("direction") or card.direction)
        card.action = str(d.get("action") or card.action)
        card.premium_pct = d.get("premium_pct", card.premium_pct)
        card.z = d.get("z", card.z)
        card.size_krw = d.get("size_krw", card.size_krw)
        card.expires_ms = d.get("expires_ms", card.expires_ms)
        card.target_pct = d.get("target_pct", d.get("expected_profit_pct", card.target_pct))
        p = self._pending(pid)
        sig = getattr(p, "signal", None)
        if sig is not None and card.target_pct is None:
            card.target_pct = getattr(sig, "target_pct", None)
        self._steps(card)
        return card

    def _trade_card(self, ev: Event) -> Card | None:
        d = ev.data or {}
        tid = str(d.get("trade_id") or "")
        leg = ""
        if not tid and d.get("client_id"):
            parsed = parse_cid(d["client_id"])
            if parsed is not None:
                tid, leg = parsed[0], parsed[1]
        if not tid:
            return None
        known = self.by_trade.get(tid)
        if known is not None and known in self.cards:
            return self.cards[known]
        # a new trade: only events of a pair trade start a card (an error of a reconcile close, a
        # fill without a client id, stay plain messages)
        if ev.kind in ("fill", "partial") and leg not in MAIN_LEGS and leg not in UNWIND_LEGS:
            return None
        doc = self._trade_doc(tid) or {}
        sym = str(d.get("symbol") or doc.get("symbol") or "")
        pid = str(d.get("pending_id") or doc.get("pending_id") or "")
        card = self._signal_of(pid) if pid else self._executing_signal(sym)
        if card is None and ev.kind == "error":
            return None   # a trade that never got going, not a confirmed signal's: its own message
        if card is None:
            card = self._add(Card(f"T:{tid}", symbol=sym, state="executing"))
        card.trade_id = tid
        card.state = "executing" if card.state in ("offered", "executing") else card.state
        self.by_trade[tid] = card.key
        card.direction = str(doc.get("direction") or d.get("direction") or card.direction)
        card.action = str(doc.get("action") or d.get("action") or card.action)
        card.symbol = card.symbol or str(doc.get("symbol") or "")
        self._steps(card)
        return card

    def _signal_of(self, pending_id: str) -> Card | None:
        """The card of the confirmed signal ``pending_id`` if it has no trade yet (else None: the
        trade gets a card of its own)."""
        card = self.cards.get(self.by_pending.get(pending_id, ""))
        return card if card is not None and not card.trade_id else None

    def _executing_signal(self, symbol: str) -> Card | None:
        """The offered card of ``symbol`` whose signal is being executed (its trade has no card yet)."""
        for card in reversed(self.cards.values()):
            if card.pending_id and not card.trade_id and card.symbol == symbol and card.state in ("offered",
                                                                                                  "executing"):
                p = self._pending(card.pending_id)
                if p is None or getattr(p, "state", "") in ("executing", "done"):
                    return card
        return None

    def _trade_event(self, card: Card, ev: Event) -> None:
        d = ev.data or {}
        k = ev.kind
        if k in ("fill", "partial"):
            parsed = parse_cid(d.get("client_id"))
            leg_code = parsed[1] if parsed else ""
            venue = str(d.get("venue") or MAIN_LEGS.get(leg_code) or UNWIND_LEGS.get(leg_code) or "")
            if leg_code in UNWIND_LEGS:
                lg = card.unwinds.setdefault(str(d.get("client_id")), Leg(venue, cid=str(d.get("client_id"))))
            else:
                lg = card.leg(venue)
                if parsed and parsed[2] > 0 and lg.filled > 0 and lg.cid != str(d.get("client_id")):
                    # a retry of this leg (an exit that did not close at once): add it up
                    prev_f, prev_a = lg.filled, lg.avg_price or Decimal(0)
                    f, a = _d(d.get("filled_qty")) or Decimal(0), _d(d.get("avg_price")) or Decimal(0)
                    lg.filled = prev_f + f
                    lg.avg_price = (prev_f * prev_a + f * a) / lg.filled if lg.filled else None
                    lg.cid = str(d.get("client_id"))
                    lg.status = "filled" if k == "fill" else "partial"
                    return
            lg.side = str(d.get("side") or lg.side)
            lg.qty = _d(d.get("qty")) or lg.qty
            lg.absorb({"status": "filled" if k == "fill" else "partial", "filled_qty": d.get("filled_qty"),
                       "avg_price": d.get("avg_price"), "fee": d.get("fee"),
                       "fee_currency": d.get("fee_currency") or d.get("fee_asset"), "client_id": d.get("client_id")})
        elif k == "unwind":
            res = d.get("result") or {}
            cid = str(res.get("client_id") or "")
            venue = str(d.get("venue") or "")
            lg = card.unwinds.get(cid) or card.unwinds.setdefault(cid or f"{venue}{len(card.unwinds)}", Leg(venue))
            lg.qty = _d(d.get("qty")) or lg.qty
            lg.absorb(res)
            main = card.legs.get(venue)
            if not lg.side and main is not None and main.side:
                lg.side = "sell" if main.side == "buy" else "buy"
        elif k == "trade":
            card.state = str(d.get("status") or "")
            for venue in ("upbit", "binance"):
                res = d.get(venue)
                if isinstance(res, dict):
                    card.leg(venue).absorb(res)
            if card.state not in ("filled", "partial"):
                card.state = "filled" if all(lg.status == "filled" for lg in card.legs.values()) else "partial"
            card.direction = str(d.get("direction") or card.direction)
            card.action = str(d.get("action") or card.action)
            if d.get("size_krw") is not None:
                card.filled_size_krw = float(d["size_krw"])
            if d.get("realized_krw") is not None:
                card.realized_krw = float(d["realized_krw"])
            card.net_pct = self._net(card, d)
        elif k == "rollback":
            card.state = "rolled_back"
            card.cost_krw = float(d.get("cost_krw") or 0.0)
        elif k == "error":
            if ev.level == "critical":
                card.note = ev.shown()
                card.alert = True
            elif card.state == "executing":
                card.state = "failed"
                card.note = ev.shown()
        elif k == "exposure":
            card.state = "exposed"
            card.exposure = [str(x) for x in d.get("exposure") or []] or [ev.shown()]
            card.alert = True

    def _net(self, card: Card, d: dict[str, Any]) -> float | None:
        """The premium the pair was filled at: Upbit price over Binance price in won, minus one."""
        for key in ("fill_premium_pct", "filled_premium_pct", "net_premium_pct"):
            if d.get(key) is not None:
                return float(d[key])
        fx = d.get("fx")
        if fx is None:
            fx = (self._trade_doc(card.trade_id) or {}).get("fx")
        u, b = card.legs.get("upbit"), card.legs.get("binance")
        try:
            if fx and u and b and u.avg_price and b.avg_price:
                return (float(u.avg_price) / (float(b.avg_price) * float(fx)) - 1.0) * 100.0
        except (TypeError, ValueError, ZeroDivisionError):
            return None
        return None


# ---- rendering ---------------------------------------------------------------------------------

def _direction(name: str) -> Text | str:
    return c.LONG_PREMIUM() if name == "long_premium" else c.SHORT_PREMIUM() if name == "short_premium" \
        else name.replace("_", " ")


def _action(name: str) -> Text | str:
    m = {"enter": c.ENTER, "add": c.ADD, "exit": c.EXIT}.get(name)
    return m() if m is not None else name


def card_title(card: Card, lang: str | None = None) -> str:
    """The card's first line without its emoji (a Discord embed's title)."""
    a = dict(coin=card.symbol, direction=_direction(card.direction), action=_action(card.action))
    st = card.state
    if st in ("offered", "skipped", "expired"):
        t = c.SIGNAL(**a)
    elif st == "executing":
        t = c.EXECUTING(**a)
    elif st in ("filled", "partial") and card.action == "exit":
        t = (c.EXIT_CLOSED if st == "filled" else c.EXIT_PARTIAL)(**a)
    elif st == "filled":
        t = c.FILLED(**a)
    elif st == "partial":
        t = c.PARTIAL(**a)
    elif st == "rolled_back":
        t = c.ROLLED_BACK(**a)
    elif st == "failed":
        t = c.FAILED(**a)
    elif st == "not_sent":
        t = c.NOT_SENT(**a)
    else:
        t = c.EXPOSED(**a)
    return render(t, lang)


def _wrap(text: str, width: int = WIDTH, indent: str = "", max_lines: int = 6) -> list[str]:
    """``text`` in lines of at most ``width`` cells (Hangul counts 2)."""
    out: list[str] = []
    for para in str(text).split("\n"):
        words = para.split(" ")
        line = indent
        for w in words:
            while cell_width(w) > width - len(indent):   # a word longer than a line: cut it
                room = width - cell_width(line) - (1 if line.strip() else 0)
                if room <= 0:
                    out.append(line.rstrip())
                    line = indent
                    continue
                cut, acc = "", 0
                for ch in w:
                    if acc + cell_width(ch) > room:
                        break
                    cut += ch
                    acc += cell_width(ch)
                line = (line + " " + cut) if line.strip() else line + cut
                out.append(line.rstrip())
                line = indent
                w = w[len(cut):]
            cand = (line + " " + w) if line.strip() else line + w
            if cell_width(cand) > width:
                out.append(line.rstrip())
                line = indent + w
            else:
                line = cand
        if line.strip():
            out.append(line.rstrip())
    if len(out) > max_lines:
        out = out[:max_lines]
        out[-1] = out[-1][: max(0, len(out[-1]) - 1)] + "…"
    return out or [""]


def _side_of(card: Card, venue: str) -> str:
    """The side of a pair's leg: long premium buys Upbit and sells the perp on entry, the reverse on exit."""
    buy_upbit = (card.direction != "short_premium") == (card.action != "exit")
    return "buy" if (venue == "upbit") == buy_upbit else "sell"


def _tick_of(p: Decimal) -> Decimal | None:
    """Without the venue's rules: the price's own decimals (an exchange's average), at most 4."""
    exp = p.normalize().as_tuple().exponent
    if not isinstance(exp, int) or exp >= 0:
        return None
    return Decimal(1).scaleb(max(exp, -4))


def _leg_lines(card: Card, lg: Leg, lang: str | None, unwind: bool = False) -> list[str]:
    step, tick = card.steps.get(lg.venue, (None, None))
    if tick is None and lg.avg_price is not None and lg.venue != "upbit":
        tick = _tick_of(lg.avg_price)
    sd = lg.side or _side_of(card, lg.venue)
    if unwind and not lg.side:
        sd = "sell" if sd == "buy" else "buy"
    v, s = venue_word(lg.venue), side_word(sd)
    coin = card.symbol
    if unwind:
        head = c.UNWIND(venue=v, side=s)
    elif lg.status == "filled":
        head = c.LEG_FILLED(venue=v, side=s)
    elif lg.status == "partial" or (lg.filled > 0 and lg.qty is not None and lg.filled < lg.qty):
        head = c.LEG_PARTIAL(venue=v, side=s, filled=qty(lg.filled, step), qty=qty(lg.qty or 0, step))
    elif lg.status == "sending":
        head = c.LEG_SENDING(venue=v, side=s)
    else:
        head = c.LEG_FAILED(venue=v, side=s, why=lg.status)
    lines = [render(head, lang)]
    if lg.filled > 0 and lg.avg_price:
        lines.append(render(c.LEG_QTY(qty=qty(lg.filled, step, coin),
                                      price=price(lg.avg_price, tick, QUOTE.get(lg.venue, ""))), lang))
    if lg.fee is not None and lg.fee != 0:
        cur = lg.fee_currency or DEFAULT_FEE_CURRENCY.get(lg.venue, "")
        lines.append(render(c.LEG_FEE(fee=money(lg.fee, cur)), lang))
    if lg.error and lg.status not in ("filled",):
        lines += _wrap(lg.error, indent="  ", max_lines=2)
    return lines


def render_card(card: Card, lang: str | None = None) -> str:
    """The card as the phone shows it: a block of lines of at most 36 cells, the title first."""
    lines = [f"{ICON.get(card.state, '•')} {card_title(card, lang)}"]
    R = lambda t: render(t, lang)  # noqa: E731
    st = card.state
    if st in ("offered", "skipped", "expired") or (card.pending_id and not card.legs and st in
                                                    ("executing", "not_sent")):
        if card.premium_pct is not None:
            lines.append(R(c.SIG_PREMIUM(premium=pct(card.premium_pct), z=f"{float(card.z or 0):+.2f}")))
        if card.size_krw is not None:
            lines.append(R(c.SIG_SIZE(size=krw(card.size_krw))))
        if card.target_pct is not None:
            lines.append(R(c.SIG_TARGET(target=pct(card.target_pct, sign=False))))
    if st == "offered":
        if card.blocked:
            lines += _wrap(R(c.SIG_BLOCKED(why=card.blocked)))
        else:
            if card.expires_ms:
                lines.append(R(c.SIG_UNTIL(until=kst(card.expires_ms, date=False, seconds=True),
                                           id=card.pending_id)))
            lines.append(R(c.SIG_WAITING()))
    elif st == "skipped":
        lines.append(R(c.SKIPPED(by=card.by) if card.by else c.SKIPPED_NOBODY()))
    elif st == "expired":
        lines.append(R(c.EXPIRED()))
    # what the pair came to, the important number first
    if st in ("filled", "partial"):
        if card.action == "exit" and card.realized_krw is not None:
            lines.append(R(c.REALIZED(pnl=krw(card.realized_krw, sign=True))))
        elif card.net_pct is not None and card.filled_size_krw is not None:
            lines.append(R(c.NET(premium=pct(card.net_pct), size=krw(card.filled_size_krw))))
        elif card.filled_size_krw is not None:
            lines.append(R(c.SIZE_ONLY(size=krw(card.filled_size_krw))))
    elif st == "rolled_back":
        lines.append(R(c.COST(cost=krw(card.cost_krw or 0))))
        if card.action == "exit":
            lines.append(R(c.STILL_HEDGED()))
    elif st == "failed" and not any(lg.filled > 0 for lg in card.legs.values()):
        lines += _wrap(R(c.NOTHING_FILLED()))
    if st == "exposed":
        for what in card.exposure[:3]:
            lines += _wrap(R(c.UNHEDGED_LINE(what=what)), max_lines=4)
    for venue in ("upbit", "binance"):
        if venue in card.legs:
            lines += _leg_lines(card, card.legs[venue], lang)
        elif card.trade_id and st in ("rolled_back", "failed", "exposed", "partial"):
            # a leg that filled nothing publishes no fill: the card still names it
            lines.append(R(c.LEG_NOT_FILLED(venue=venue_word(venue), side=side_word(_side_of(card, venue)))))
    for lg in card.unwinds.values():
        lines += _leg_lines(card, lg, lang, unwind=True)
    if card.note and st in ("failed", "not_sent", "exposed") or (card.note and card.alert):
        lines += _wrap(card.note, max_lines=4)
    if card.by and st not in ("offered", "skipped", "expired"):
        lines.append(R(c.ANSWERED_BY(by=card.by)))
    return "\n".join(_fit(ln) for ln in lines)


def _fit(line: str) -> str:
    """A last guard: a line the layout could not keep within 36 cells is cut (never wrapped by the phone)."""
    if cell_width(line) <= WIDTH:
        return line
    out, acc = "", 0
    for ch in line:
        w = cell_width(ch)
        if acc + w > WIDTH - 1:
            break
        out += ch
        acc += w
    return out + "…"


# exported for the front ends
__all__ = ["Card", "CardDesk", "Leg", "card_title", "is_card_event", "render_card"]
