"""Strict parsers from exchange payloads to domain objects.

Every price is checked (finite, positive); a book must be sorted and uncrossed.
A bad payload raises ``BadMarketData`` with a message naming the field, so the
feed can log one line and drop it without crashing.

Formats followed:
- Upbit Open API v1 ``/v1/orderbook`` and websocket ``orderbook`` (same fields,
  plus ``type``/``code``): ``orderbook_units[{ask_price, bid_price, ask_size, bid_size}]``,
  ``timestamp`` (ms); ``/v1/ticker`` and websocket ``ticker``: ``trade_price``, ``timestamp``.
- Binance USDT-M ``<sym>@depth<N>`` partial depth (``{"e":"depthUpdate","E","T","s","b","a"}``),
  ``<sym>@bookTicker`` (``{"e":"bookTicker","s","b","B","a","A","T","E"}``), REST ``/fapi/v1/depth``.
"""

from __future__ import annotations

from typing import Any

_INF = float("inf")

from kimpbot.models import BadMarketData, BookLevel, OrderBook, Ticker, Venue, valid_price, valid_size


def _check_book(book: OrderBook) -> OrderBook:
    if not book.bids or not book.asks:
        raise BadMarketData(f"{book.venue.value} {book.symbol}: empty book side")
    if book.bids[0].price >= book.asks[0].price:
        raise BadMarketData(
            f"{book.venue.value} {book.symbol}: crossed book (bid {book.bids[0].price} >= ask {book.asks[0].price})")
    return book


def _ts(value: Any, what: str) -> int:
    try:
        ts = int(value)
    except (TypeError, ValueError):
        raise BadMarketData(f"{what}: bad timestamp {value!r}") from None
    if ts <= 0:
        raise BadMarketData(f"{what}: bad timestamp {value!r}")
    return ts


def upbit_symbol(code: Any) -> str:
    """``KRW-BTC`` -> ``BTC``."""
    if not isinstance(code, str) or not code.startswith("KRW-"):
        raise BadMarketData(f"upbit: unexpected market code {code!r}")
    return code[4:]


def upbit_orderbook(msg: dict[str, Any], received_ts: int) -> OrderBook:
    """An Upbit orderbook (websocket message or one element of the REST array)."""
    try:
        code = msg.get("code") or msg.get("market")
        sym = upbit_symbol(code)
        units = msg["orderbook_units"]
        bids: list[BookLevel] = []
        asks: list[BookLevel] = []
        # Hot path (every websocket update): inline range checks; `0 < x < inf`
        # is False for NaN, zero, negatives and inf alike. Only a failing value
        # takes the slow path that names the field.
        for u in units:
            ap = float(u["ask_price"])
            asz = float(u["ask_size"])
            bp = float(u["bid_price"])
            bsz = float(u["bid_size"])
            if not (0.0 < ap < _INF and 0.0 < bp < _INF and 0.0 <= asz < _INF and 0.0 <= bsz < _INF):
                raise ValueError
            if asz > 0.0:
                asks.append(BookLevel(ap, asz))
            if bsz > 0.0:
                bids.append(BookLevel(bp, bsz))
        ts = _ts(msg["timestamp"], f"upbit {code}")
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        _explain_upbit_units(msg)
        raise BadMarketData(f"upbit orderbook: missing or malformed field {exc!s}") from None
    return _check_book(OrderBook(Venue.UPBIT, sym, bids, asks, ts, received_ts))


def _explain_upbit_units(msg: Any) -> None:
    """Slow path: raise BadMarketData naming the first bad field, if one is found."""
    try:
        code = msg.get("code") or msg.get("market")
        units = msg["orderbook_units"]
    except (KeyError, TypeError, AttributeError):
        return
    if not isinstance(units, list):
        return
    for i, u in enumerate(units):
        if not isinstance(u, dict):
            raise BadMarketData(f"upbit {code} orderbook_units[{i}]: not an object")
        for side in ("ask", "bid"):
            if f"{side}_price" not in u or f"{side}_size" not in u:
                continue
            valid_price(u[f"{side}_price"], f"upbit {code} {side}_price[{i}]")
            valid_size(u[f"{side}_size"], f"upbit {code} {side}_size[{i}]")


def upbit_ticker(msg: dict[str, Any], received_ts: int) -> Ticker:
    try:
        code = msg.get("code") or msg.get("market")
        market = code
        price = valid_price(msg["trade_price"], f"upbit {market} trade_price")
        ts = _ts(msg.get("trade_timestamp") or msg["timestamp"], f"upbit {market}")
    except (KeyError, TypeError, AttributeError) as exc:
        raise BadMarketData(f"upbit ticker: missing or malformed field {exc!s}") from None
    if not isinstance(market, str) or "-" not in market:
        raise BadMarketData(f"upbit ticker: unexpected market code {market!r}")
    return Ticker(Venue.UPBIT, market.split("-", 1)[1] if market.startswith("KRW-") else market, price, ts,
                  received_ts)


def binance_symbol(raw: Any) -> str:
    """``BTCUSDT`` -> ``BTC``."""
    if not isinstance(raw, str) or not raw.upper().endswith("USDT"):
        raise BadMarketData(f"binance: unexpected symbol {raw!r}")
    return raw.upper()[:-4]


def _levels(rows: Any, what: str) -> list[BookLevel]:
    out: list[BookLevel] = []
    append = out.append
    try:
        for row in rows:
            price = float(row[0])
            size = float(row[1])
            if not (0.0 < price < _INF and 0.0 <= size < _INF):
                raise ValueError
            if size > 0.0:
                append(BookLevel(price, size))
    except (ValueError, TypeError, IndexError, KeyError):
        # slow path: name the offending level
        for i, row in enumerate(rows):
            if not isinstance(row, (list, tuple)) or len(row) < 2:
                raise BadMarketData(f"{what}[{i}]: expected [price, qty], got {str(row)[:40]!r}") from None
            valid_price(row[0], f"{what}[{i}] price")
            valid_size(row[1], f"{what}[{i}] qty")
        raise BadMarketData(f"{what}: malformed levels") from None
    return out


def binance_depth(msg: dict[str, Any], received_ts: int, symbol: str | None = None) -> OrderBook:
    """A partial-depth stream event or a REST ``/fapi/v1/depth`` body (which has no ``s``)."""
    try:
        sym = binance_symbol(msg["s"]) if "s" in msg else symbol
        if sym is None:
            raise BadMarketData("binance depth: no symbol")
        bids = _levels(msg.get("b", msg.get("bids")), f"binance {sym} bids")
        asks = _levels(msg.get("a", msg.get("asks")), f"binance {sym} asks")
        ts = _ts(msg.get("T") or msg.get("E"), f"binance {sym}")
    except (KeyError, TypeError, IndexError, AttributeError) as exc:
        raise BadMarketData(f"binance depth: missing or malformed field {exc!s}") from None
    return _check_book(OrderBook(Venue.BINANCE, sym, bids, asks, ts, received_ts))


def binance_book_ticker(msg: dict[str, Any], received_ts: int) -> tuple[str, BookLevel, BookLevel, int]:
    """Best bid and ask from a bookTicker event: (symbol, bid, ask, exchange ts)."""
    try:
        sym = binance_symbol(msg["s"])
        bid = BookLevel(valid_price(msg["b"], f"binance {sym} bookTicker b"), valid_size(msg["B"], "B"))
        ask = BookLevel(valid_price(msg["a"], f"binance {sym} bookTicker a"), valid_size(msg["A"], "A"))
        ts = _ts(msg.get("T") or msg.get("E"), f"binance {sym}")
    except (KeyError, TypeError, AttributeError) as exc:
        raise BadMarketData(f"binance bookTicker: missing or malformed field {exc!s}") from None
    if bid.price >= ask.price:
        raise BadMarketData(f"binance {sym}: crossed bookTicker (bid {bid.price} >= ask {ask.price})")
    return sym, bid, ask, ts


def ccxt_order_book(venue: Venue, symbol: str, ob: dict[str, Any], received_ts: int) -> OrderBook:
    """A ccxt ``fetch_order_book`` result (REST fallback and warm-up)."""
    what = f"{venue.value} {symbol}"
    try:
        bids = _levels(ob["bids"], f"{what} bids")
        asks = _levels(ob["asks"], f"{what} asks")
        ts = ob.get("timestamp") or received_ts
    except (KeyError, TypeError, IndexError) as exc:
        raise BadMarketData(f"{what} order book: missing or malformed field {exc!s}") from None
    return _check_book(OrderBook(venue, symbol, bids, asks, int(ts), received_ts))
