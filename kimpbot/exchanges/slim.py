"""ccxt and pyupbit without the parts kimpbot never runs: about 80 MB of RSS a live bot does not pay.

``import ccxt.async_support`` runs ``ccxt/__init__.py`` and ``ccxt/async_support/__init__.py``,
which import every exchange ccxt ships, sync and async (ccxt 4.5.90: +68 MB RSS; upstream knows,
ccxt/ccxt#29573). kimpbot uses two async classes, ``binanceusdm`` and ``upbit`` (+21 MB).
``import pyupbit`` runs ``pyupbit/__init__.py``, whose ``quotation_api`` imports pandas (+34 MB)
for ``get_ohlcv`` and friends, which kimpbot never calls; it signs through ``exchange_api.Upbit``.

So both packages are registered in ``sys.modules`` WITHOUT running their ``__init__.py``, and
only the submodules kimpbot needs are imported, with the names the real ``__init__`` would have
exported from them. The first attribute such a package lacks runs its real ``__init__`` in place
(PEP 562 ``__getattr__``): ``import ccxt; ccxt.kraken(...)`` or ``pyupbit.get_ohlcv(...)``
anywhere in the process still works, at the full price. A library upgrade that needs more from
the package than is exported here costs memory, never correctness
(tests/unit/test_slim_imports.py pins both).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from types import ModuleType
from typing import Any

_lock = threading.RLock()


def _package_without_init(name: str) -> ModuleType:
    """``sys.modules[name]``: the real package if already imported, else one whose ``__init__``
    runs on the first attribute it lacks."""
    with _lock:
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or spec.submodule_search_locations is None:
            raise ImportError(f"{name} is not an installed package", name=name)
        pkg = importlib.util.module_from_spec(spec)
        ran = False

        def __getattr__(attr: str) -> Any:
            nonlocal ran
            with _lock:
                if not ran:
                    ran = True
                    spec.loader.exec_module(pkg)  # type: ignore[union-attr]  # the real __init__, in place
                    return getattr(pkg, attr)
            raise AttributeError(f"module {name!r} has no attribute {attr!r}")

        pkg.__getattr__ = __getattr__  # type: ignore[attr-defined]
        sys.modules[name] = pkg
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, pkg)
        return pkg


def _star(pkg: ModuleType, mod: ModuleType) -> None:
    """``from mod import *`` into the package, as its ``__init__`` does."""
    names = getattr(mod, "__all__", None) or [n for n in vars(mod) if not n.startswith("_")]
    for n in names:
        setattr(pkg, n, getattr(mod, n))


def ccxt_async() -> ModuleType:
    """``ccxt.async_support`` with ``binanceusdm``, ``upbit`` and every ccxt error class."""
    with _lock:
        if "ccxt.async_support" in sys.modules:
            return sys.modules["ccxt.async_support"]
        top = _package_without_init("ccxt")
        errors = importlib.import_module("ccxt.base.errors")
        if "Exchange" not in vars(top):  # not the real package (imported earlier by someone else)
            # ccxt.async_support.base.ws imports these from the top package (``from ccxt import ...``)
            _star(top, errors)
            top.Exchange = importlib.import_module("ccxt.base.exchange").Exchange  # type: ignore[attr-defined]
        aio = _package_without_init("ccxt.async_support")
        _star(aio, errors)
        for name in ("binanceusdm", "upbit"):
            importlib.import_module(f"ccxt.async_support.{name}")
        for name, sub in list(vars(aio).items()):  # binance (binanceusdm's base class) too
            if isinstance(sub, ModuleType) and isinstance(getattr(sub, name, None), type):
                setattr(aio, name, getattr(sub, name))  # the class, as ccxt's __init__ has it, not the submodule
        aio.Exchange = importlib.import_module("ccxt.async_support.base.exchange").Exchange  # type: ignore[attr-defined]
        return aio


def pyupbit() -> ModuleType:
    """``pyupbit`` with its ``exchange_api`` (``Upbit``), ``request_api`` and ``errors``; no pandas."""
    with _lock:
        if "pyupbit" in sys.modules:
            return sys.modules["pyupbit"]
        pkg = _package_without_init("pyupbit")
        for sub in ("exchange_api", "request_api", "errors"):  # the order of pyupbit/__init__.py
            _star(pkg, importlib.import_module(f"pyupbit.{sub}"))
        return pkg
