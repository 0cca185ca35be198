"""Waiting in tests: poll a condition, fail with a clear message when it never comes."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest


def wait_for(what: str, check: Callable[[], bool], timeout_s: float = 120.0) -> None:
    """Poll `check` until it is true; fail naming `what` after `timeout_s` seconds.

    The timeout is a safety net for a condition that never comes, not a performance
    assertion: make it generous, tests run on loaded 2-core machines.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    pytest.fail(f"waited {timeout_s:.0f} s for {what}")
