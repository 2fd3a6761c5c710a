"""kimpbot/exchanges/slim.py: the live adapters load ccxt's two exchange classes and pyupbit's
signing part only (no pandas, not ccxt's ~100 other exchanges), and the rest of both libraries
still works in the same process when something asks for it. Each case runs in a fresh interpreter:
this test process has imported the full libraries long ago."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("pyupbit")


def _run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_live_adapters_load_no_pandas_and_two_ccxt_exchanges():
    r = _run("""
        import json, sys
        from kimpbot.clock import SystemClock
        from kimpbot.exchanges.binance import make_binanceusdm
        from kimpbot.exchanges.binance_trading import BinanceTrading
        from kimpbot.exchanges.upbit import make_upbit_ccxt, redirect_pyupbit
        from kimpbot.exchanges.upbit_trading import UpbitTrading

        UpbitTrading("http://127.0.0.1:9", "access-key-123456", "secret-key-123456", SystemClock())
        redirect_pyupbit("http://127.0.0.1:9")
        make_upbit_ccxt("http://127.0.0.1:9")
        exchanges = sorted(m.split(".")[2] for m in sys.modules
                           if m.startswith("ccxt.async_support.") and m.count(".") == 2 and m != "ccxt.async_support.base")
        sync = sorted(m for m in sys.modules if m.startswith("ccxt.") and m.count(".") == 1
                      and m not in ("ccxt.base", "ccxt.async_support", "ccxt.abstract", "ccxt.static_dependencies"))
        print(json.dumps({"pandas": "pandas" in sys.modules, "exchanges": exchanges, "sync": sync,
                          "quotation": "pyupbit.quotation_api" in sys.modules}))
    """)
    assert r["pandas"] is False and r["quotation"] is False, r
    assert r["exchanges"] == ["binance", "binanceusdm", "upbit"], r
    assert r["sync"] == [], r


def test_the_rest_of_ccxt_and_pyupbit_still_imports_on_demand():
    r = _run("""
        import json, sys
        from kimpbot.exchanges import binance, upbit_trading
        from kimpbot.exchanges.slim import ccxt_async, pyupbit

        aio, up = ccxt_async(), pyupbit()
        ours = aio.binanceusdm
        import ccxt                                   # the real package, run in place on first need
        import ccxt.async_support as a2
        from ccxt.async_support import kraken
        print(json.dumps({
            "same_pkg": a2 is aio, "same_class": a2.binanceusdm is ours and binance.ccxt.binanceusdm is ours,
            "binance_is_class": isinstance(a2.binance, type),
            "kraken": kraken.__name__ == "kraken" and isinstance(ccxt.kraken, type),
            "errors": a2.NetworkError is ccxt.NetworkError and issubclass(a2.RateLimitExceeded, a2.BaseError),
            "version": ccxt.__version__ == a2.__version__,
            "upbit": up.Upbit.__name__ == "Upbit" and callable(up.get_ohlcv) and "pandas" in sys.modules,
        }))
    """)
    assert all(r.values()), r


def test_a_missing_name_is_an_attribute_error_after_the_real_init():
    r = _run("""
        import json
        from kimpbot.exchanges.slim import pyupbit
        up = pyupbit()
        try:
            up.no_such_name
        except AttributeError as exc:
            print(json.dumps({"msg": str(exc), "full": hasattr(up, "get_ohlcv")}))
    """)
    assert r == {"msg": "module 'pyupbit' has no attribute 'no_such_name'", "full": True}
