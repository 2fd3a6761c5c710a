"""Fake chat servers for tests and benchmarks: the Telegram Bot API (``fakes.telegram``) and Discord
(REST, webhooks, gateway: ``fakes.discord``), on 127.0.0.1, speaking the real wire formats.

Not part of the product: the bot never talks to them unless a test points it there, and nothing
under ``kimpbot/`` imports them (``tests/unit/test_product_imports.py`` checks). The exchange and FX
simulators that ``kimpbot demo`` and ``kimpbot sim`` serve stay in ``kimpbot/sim/``.

Imported as ``fakes`` (pyproject's ``pythonpath = ["tests"]`` puts ``tests/`` on the path, as for
``testkit``), not ``tests.fakes``: pyupbit installs a top-level ``tests`` package of its own, which
would win over this directory.
"""
