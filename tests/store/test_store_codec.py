"""Client order ids and the JSON codec (Decimal round trip, refusals)."""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from kimpbot.models import Direction, Venue
from kimpbot.store import client_order_id, parse_client_order_id
from kimpbot.store.codec import from_json, money, next_stamp, to_json, utc_stamp

BINANCE_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
UPBIT_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")  # what we allow for both


def test_client_order_id_is_deterministic_and_valid_for_both_exchanges():
    cid = client_order_id("K20250101000000-001", "UE", 0)
    assert cid == "K20250101000000-001-UE-0"
    assert cid == client_order_id("K20250101000000-001", "UE", 0)
    assert cid != client_order_id("K20250101000000-001", "UE", 1)
    assert cid != client_order_id("K20250101000000-001", "BE", 0)
    assert BINANCE_RE.match(cid) and UPBIT_RE.match(cid)
    assert parse_client_order_id(cid) == ("K20250101000000-001", "UE", 0)


@given(
    trade=st.from_regex(r"K[0-9]{14}-[0-9]{3}", fullmatch=True),
    leg=st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True),
    attempt=st.integers(0, 999),
)
def test_client_order_id_round_trip(trade, leg, attempt):
    try:
        cid = client_order_id(trade, leg, attempt)
    except ValueError as e:
        assert "at most 36" in str(e)
        assert len(f"{trade}-{leg}-{attempt}") > 36
        return
    assert len(cid) <= 36 and BINANCE_RE.match(cid) and UPBIT_RE.match(cid)
    assert parse_client_order_id(cid) == (trade, leg, attempt)


@pytest.mark.parametrize(
    "trade,leg,attempt,msg",
    [
        ("K1", "U-E", 0, "leg"),
        ("K1", "", 0, "leg"),
        ("K 1", "UE", 0, "trade id"),
        ("K1.x", "UE", 0, "trade id"),
        ("K1", "UE", -1, "attempt"),
        ("K1", "UE", True, "attempt"),
        ("K20250101000000-001", "binance_unwind_x", 10, "at most 36"),
    ],
)
def test_client_order_id_refusals(trade, leg, attempt, msg):
    with pytest.raises(ValueError, match=msg):
        client_order_id(trade, leg, attempt)


@pytest.mark.parametrize("bad", ["", "abc", "a-b-c", "K1-UE-01", "K1-U.E-0", "x" * 37, "K1-UE-", "-UE-0"])
def test_parse_client_order_id_refusals(bad):
    with pytest.raises(ValueError):
        parse_client_order_id(bad)


@dataclasses.dataclass
class Rec:
    id: str
    qty: Decimal
    venue: Venue


def test_to_json_round_trips_decimal_exactly_and_converts_enums_and_dataclasses():
    value = {"a": Decimal("0.000000012345678901234567890"), "b": [Decimal("-1E+3"), 1, 2.5, None, True],
             "c": {"d": Direction.LONG_PREMIUM}, "r": Rec("x", Decimal("1.10"), Venue.UPBIT), "t": (1, 2)}
    back = from_json(to_json(value))
    assert back["a"] == Decimal("0.000000012345678901234567890") and str(back["a"]) == str(value["a"])
    assert back["b"][0] == Decimal("-1E+3") and type(back["b"][0]) is Decimal
    assert str(back["r"]["qty"]) == "1.10"
    assert back["c"]["d"] == "long_premium" and back["r"]["venue"] == "upbit"
    assert back["t"] == [1, 2]


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_decimal_round_trip_property(d):
    back = from_json(to_json({"v": d}))["v"]
    assert back == d and str(back) == str(d)


@pytest.mark.parametrize(
    "bad,exc",
    [
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        (Decimal("NaN"), ValueError),
        ({1: "x"}, TypeError),
        ({"$decimal": "1"}, ValueError),
        ({1, 2}, TypeError),
        (object(), TypeError),
        (b"bytes", TypeError),
    ],
)
def test_to_json_refuses_what_json_cannot_hold(bad, exc):
    with pytest.raises(exc):
        to_json({"x": bad})


def test_money_refuses_floats_and_bad_values():
    assert money(Decimal("1.5"), "qty") == "1.5"
    assert money(3, "qty") == "3" and money("0.1", "qty") == "0.1"
    assert money(None, "fee", optional=True) is None
    with pytest.raises(TypeError, match="Decimal"):
        money(0.1, "qty")
    with pytest.raises(ValueError, match="positive"):
        money(Decimal(0), "qty", positive=True)
    with pytest.raises(ValueError, match="non-negative"):
        money(Decimal(-1), "qty")
    with pytest.raises(ValueError):
        money("abc", "qty")
    with pytest.raises(ValueError):
        money(None, "qty")


def test_stamps():
    assert utc_stamp(1_735_689_600_000) == "20250101000000"
    assert next_stamp("20241231235959") == "20250101000000"
