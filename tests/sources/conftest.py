"""Fixtures of the source tests: a free UDP port, and stages stopped at the end of a test."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def cleanup() -> Iterator[list[Any]]:
    """Append anything with ``stop()``; stopped in reverse order after the test."""
    things: list[Any] = []
    yield things
    for t in reversed(things):
        t.stop()
