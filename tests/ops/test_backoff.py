"""The shared reconnect schedule: short first retry, doubling to a cap, reset after a healthy session, jitter."""

from __future__ import annotations

import pytest

from edge.ops.backoff import Backoff


def test_schedule_doubles_to_the_cap_and_resets() -> None:
    b = Backoff(0.5, 2.0, first_s=0.1, rand=lambda: 1.0)  # no jitter: the upper end
    assert [b.delay() for _ in range(6)] == [0.1, 0.5, 1.0, 2.0, 2.0, 2.0]
    b.reset()
    assert [b.delay() for _ in range(3)] == [0.1, 0.5, 1.0]


def test_jitter_scales_into_half_to_full() -> None:
    lo = Backoff(0.5, 4.0, first_s=0.2, rand=lambda: 0.0)
    assert [lo.delay() for _ in range(4)] == [0.1, 0.25, 0.5, 1.0]


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="min_s <= max_s"):
        Backoff(3.0, 1.0)
