"""Polling waits for tests and benchmarks: a condition looked at every ``every`` s until ``timeout`` s pass."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(cond: Callable[[], object], timeout: float = 15.0, every: float = 0.02) -> bool:
    """True as soon as ``cond()`` is truthy; False once ``timeout`` s passed without."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(every)
    return False


def wait_value(
    what: str,
    fn: Callable[[], Any],
    timeout: float = 30.0,
    every: float = 0.2,
    retry_on: tuple[type[BaseException], ...] = (),
) -> Any:
    """The first truthy ``fn()`` (an exception of ``retry_on`` counts as none yet); AssertionError naming ``what``
    after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = fn()
        except retry_on:
            got = None
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"no {what} within {timeout} s")
