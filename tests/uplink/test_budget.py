"""The byte budget's token bucket, driven by a simulated clock over a minute."""

from __future__ import annotations

import random

import pytest

from edge.uplink.budget import ByteBudget


def test_a_minute_of_random_messages_stays_within_the_budget() -> None:
    rng = random.Random(3)
    rate, depth = 2000.0, 1000.0
    b = ByteBudget(rate, depth, now=0.0)
    t, sent = 0.0, 0
    while t < 60.0:
        n = rng.randint(40, 400)
        if b.try_take(n, t):
            sent += n
        else:
            t += max(b.wait_s(t), 0.001)
    assert sent <= depth + rate * 60 + 400
    assert abs(sent - rate * 60) <= 0.05 * rate * 60  # within 5 % over the minute (here ~1.7 %)


def test_wait_and_debt_by_hand() -> None:
    b = ByteBudget(100.0, 50.0, now=0.0)
    assert b.try_take(80, 0.0)  # a full bucket admits a message larger than itself
    assert b.tokens == -30.0
    assert not b.try_take(1, 0.0)
    assert b.wait_s(0.0) == pytest.approx(0.3)
    assert not b.try_take(1, 0.3) and b.try_take(1, 0.31)
    b.force(100, 0.31)  # status messages go anyway and push later ones back
    assert b.wait_s(0.31) == pytest.approx(1.0, abs=0.01)


def test_unlimited_and_bad_settings() -> None:
    assert ByteBudget(0.0, 0.0, 0.0).try_take(10**9, 0.0)
    with pytest.raises(ValueError):
        ByteBudget(10.0, 0.0, 0.0)
