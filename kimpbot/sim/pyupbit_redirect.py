"""Point pyupbit's REST calls at another base URL (the local Upbit fake, a proxy).

pyupbit 0.2.34 hard-codes ``https://api.upbit.com`` in every function, but all REST goes through
``pyupbit.request_api._call_get/_call_post/_call_delete``, which call the module-level
``requests.get/post/delete`` looked up at call time. ``redirect_pyupbit(base_url)`` swaps that
module reference for a small proxy that rewrites the prefix, and restores it on exit.
It is process-wide while active (pyupbit is module-global); pyupbit's websocket is not covered.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator

import requests as _requests

UPBIT_ORIGIN = "https://api.upbit.com"
_lock = threading.Lock()


class _RedirectingRequests:
    """Looks like the ``requests`` module; get/post/delete (and request) rewrite the origin."""

    def __init__(self, base_url: str, real: Any = _requests) -> None:
        self._base = base_url.rstrip("/")
        self._real = real

    def _url(self, url: str) -> str:
        if isinstance(url, str) and url.startswith(UPBIT_ORIGIN):
            rest = url[len(UPBIT_ORIGIN):]
            while rest.startswith("//"):  # pyupbit has a "https://api.upbit.com//v1/deposits"
                rest = rest[1:]
            return self._base + rest
        return url

    def get(self, url: str, **kw: Any) -> Any:
        return self._real.get(self._url(url), **kw)

    def post(self, url: str, **kw: Any) -> Any:
        return self._real.post(self._url(url), **kw)

    def delete(self, url: str, **kw: Any) -> Any:
        return self._real.delete(self._url(url), **kw)

    def request(self, method: str, url: str, **kw: Any) -> Any:
        return self._real.request(method, self._url(url), **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@contextlib.contextmanager
def redirect_pyupbit(base_url: str) -> Iterator[None]:
    """``with redirect_pyupbit("http://127.0.0.1:PORT"): pyupbit.Upbit(a, s).get_balances()``."""
    import pyupbit.request_api as ra

    with _lock:
        saved = ra.requests
        ra.requests = _RedirectingRequests(base_url, saved if not isinstance(saved, _RedirectingRequests)
                                           else saved._real)
    try:
        yield
    finally:
        with _lock:
            ra.requests = saved
