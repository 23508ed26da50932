"""Token buckets with priority reserves, with hand-worked numbers."""

from __future__ import annotations

import math

import pytest

from edge.gcs.budget import HIGH, LOW, NORMAL, LinkBudget, TokenBucket


def test_bucket_refills_at_rate_up_to_depth():
    b = TokenBucket(rate=10.0, depth=5.0, t0=0.0)
    for _ in range(5):
        assert b.can_take(1, 0.0)
        b.take(1, 0.0)
    assert not b.can_take(1, 0.0)
    assert b.wait_s(1, 0.0) == pytest.approx(0.1)  # 1 token at 10/s
    assert b.can_take(1, 0.1)
    assert b.can_take(5, 10.0) and not b.can_take(5.5, 10.0)  # capped at depth


@pytest.mark.parametrize(
    ("priority", "admitted"),
    [(HIGH, 10), (NORMAL, 7), (LOW, 5)],  # depth 10 msgs; reserves 0, 25 %, 50 % -> 10, 7 (leaves 3 >= 2.5), 5
)
def test_reserve_per_priority(priority, admitted):
    b = LinkBudget(msgs_per_s=10.0, bytes_per_s=0.0, burst_s=1.0)
    assert sum(b.admit(50, priority, 0.0) for _ in range(20)) == admitted


def test_low_priority_never_takes_the_high_priority_headroom():
    # 57,600 baud radio ~ 5760 B/s; a flood of 60-byte low-priority frames, 40-byte HIGH frames at 20/s
    b = LinkBudget(msgs_per_s=0.0, bytes_per_s=5760.0, burst_s=1.0)
    high_ok = 0
    for step in range(1000):  # 10 s in 10 ms steps, 10 low-priority attempts per step (1000/s)
        t = step * 0.01
        for _ in range(10):
            b.admit(60, LOW, t)
        if step % 5 == 0:
            high_ok += b.admit(40, HIGH, t)
    assert high_ok == 200


def test_unlimited_and_impossible():
    assert LinkBudget(0, 0).admit(10_000, LOW, 0.0)
    b = TokenBucket(rate=100.0, depth=280.0)
    assert math.isinf(b.wait_s(200, 0.0, reserve=0.5))  # 200 B never fits in the upper half of 280 B
    with pytest.raises(ValueError):
        TokenBucket(rate=-1.0, depth=1.0)
