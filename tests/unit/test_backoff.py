"""The one retry policy: doubling, capped, equal jitter; retry_until retries only what it is told."""

from __future__ import annotations

import random

import pytest

from kimpbot.backoff import Backoff, retry_until


def test_waits_double_up_to_the_cap_with_equal_jitter():
    random.seed(1)
    b = Backoff(1.0, 8.0)
    ceilings = []
    for _ in range(6):
        c = b.ceiling()
        w = b.next_wait()
        assert c / 2 <= w <= c
        ceilings.append(c)
    assert ceilings == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    b.reset()
    assert b.ceiling() == 1.0


def test_nonsense_waits_are_refused():
    with pytest.raises(ValueError):
        Backoff(-1, 5)


async def test_retry_until_retries_the_named_errors_and_raises_others():
    calls = []

    async def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("down")
        return "up"

    assert await retry_until(flaky, retry_on=(ConnectionError,), backoff=Backoff(0.001, 0.002)) == "up"
    assert len(calls) == 3

    async def broken():
        raise KeyError("config")

    with pytest.raises(KeyError):
        await retry_until(broken, retry_on=(ConnectionError,), backoff=Backoff(0.001, 0.002))
