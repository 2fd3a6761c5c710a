"""The owner's strategy file (``strategy.toml``, ``KIMPBOT_STRATEGY_FILE``): its one home.

The flow, one module a step:

- ``declare``: how a key is declared (``ParamSpec``: type, default, range, whether SPEC fixes the
  default or leaves it open), how a parsed file resolves against the declarations (``resolve``:
  unknown keys refused, a key the owner left out marked "unset by owner") and ``ConfigError``.
- ``keys``: every key the file may hold (strategy, operations, protections) with SPEC's defaults,
  and ``StrategyParams``, the typed view of the strategy keys.
- ``read``: the file read and validated as a whole (types, ranges, cross-key money checks) into an
  ``OwnerConfig``; a missing or unreadable file is a ConfigError, never silent defaults.
- ``edit``: an owner-confirmed ``/set`` of one key, validated with the whole file and written
  atomically.

The .env settings (secrets, mode, endpoints) are ``kimpbot.config``.
"""
