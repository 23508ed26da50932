"""Token buckets with priority reserves, with hand-worked numbers."""

from __future__ import annotations

import math
import random

import pytest

from edge.ops.budget import HIGH, LOW, NORMAL, LinkBudget, SpoolBytes, TokenBucket


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


def test_a_minute_of_random_records_stays_within_the_spool_budget() -> None:
    rng = random.Random(3)
    rate, depth = 2000.0, 1000.0
    b = SpoolBytes(TokenBucket(rate, depth, 0.0))
    t, sent = 0.0, 0
    while t < 60.0:
        n = rng.randint(40, 400)
        if b.admit(n, 1, t):
            sent += n
        else:
            t += max(b.bucket.wait_s(0, t), 0.001)
    assert sent <= depth + rate * 60 + 400
    assert abs(sent - rate * 60) <= 0.05 * rate * 60  # within 5 % over the minute (here ~1.7 %)


def test_debt_and_reserves_by_hand() -> None:
    bucket = TokenBucket(100.0, 50.0, 0.0)
    b = SpoolBytes(bucket, {1: 0.5})
    assert b.admit(80, 0, 0.0)  # a full bucket admits a record larger than itself
    assert bucket.tokens == -30.0
    assert not b.admit(1, 0, 0.0)
    assert bucket.wait_s(0, 0.0) == pytest.approx(0.3)
    assert not b.admit(1, 0, 0.3) and b.admit(1, 0, 0.31)
    assert not b.admit(1, 1, 0.5)  # priority 1 must leave half the bucket (25 tokens) untouched
    assert b.admit(1, 1, 0.8)
    assert SpoolBytes(TokenBucket(0.0, 0.0)).admit(10**9, 0, 0.0)  # rate 0: unlimited
