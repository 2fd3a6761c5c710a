"""The two places kimpbot reaches inside pyupbit, pinned: a pyupbit upgrade that moves either fails
here, by name, instead of failing live (an unsigned order, or public calls going to the real host
from a test). Everything else of pyupbit is used through its public names or not at all.

1. ``pyupbit.request_api.requests`` (with ``_call_get/_call_post/_call_delete`` calling it at call
   time): redirected to ``UPBIT_API_URL`` (kimpbot/exchanges/upbit.py, the simulators).
2. ``pyupbit.Upbit._request_headers(query)``: the JWT the order adapter and ``kimpbot doctor`` send
   (kimpbot/exchanges/upbit_trading.py); kimpbot signs Upbit requests nowhere else.
"""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path
from urllib.parse import urlencode

import jwt
import pytest

pyupbit = pytest.importorskip("pyupbit")
ROOT = Path(__file__).resolve().parents[2]


def test_request_api_calls_the_module_level_requests_at_call_time():
    import requests

    import pyupbit.request_api as ra

    assert ra.requests is requests, "pyupbit.request_api no longer imports requests as a module attribute"
    for name in ("_call_get", "_call_post", "_call_delete"):
        fn = getattr(ra, name, None)
        assert callable(fn), f"pyupbit.request_api.{name} is gone: kimpbot's URL redirect would miss calls"
        # under pyupbit's error_handler decorator (no functools.wraps): the wrapped function is its closure
        inner = next((c.cell_contents for c in (fn.__closure__ or ()) if callable(c.cell_contents)), fn)
        assert "requests." in inspect.getsource(inner), f"pyupbit.request_api.{name} no longer calls requests.*"


def test_request_headers_sign_as_upbit_documents():
    up = pyupbit.Upbit("access-key-1234567890", "secret-key-1234567890-abcdefghij")
    assert callable(getattr(up, "_request_headers", None)), "pyupbit.Upbit._request_headers is gone"
    query = {"market": "KRW-BTC", "identifier": "kb-1"}
    auth = up._request_headers(query)["Authorization"]
    assert auth.startswith("Bearer ")
    claims = jwt.decode(auth[7:], "secret-key-1234567890-abcdefghij", algorithms=["HS256"])
    assert claims["access_key"] == "access-key-1234567890" and claims["nonce"]
    assert claims["query_hash_alg"] == "SHA512"
    assert claims["query_hash"] == hashlib.sha512(urlencode(query).encode()).hexdigest()


def test_no_upbit_or_binance_signing_by_hand():
    """The doctor and everything else sign through the adapters (pyupbit, ccxt)."""
    for path in (ROOT / "kimpbot").rglob("*.py"):
        if "sim" in path.parts:   # the simulators verify signatures: they must compute them
            continue
        text = path.read_text()
        assert "jwt.encode(" not in text, f"{path.relative_to(ROOT)} builds an Upbit JWT by hand"
        assert "hmac.new(" not in text, f"{path.relative_to(ROOT)} signs a Binance request by hand"
