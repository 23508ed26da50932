"""The one token bucket of the project, and the budgets built on it (GCS alerts, the uplinks, the firmware bridge).

``LinkBudget``: messages/s and bytes/s with priority reserves: a message of priority p may only take tokens while
both buckets stay at or above ``RESERVE[p]`` of their depth after taking them, so low-priority traffic (detections)
can never drain the headroom that high-priority traffic (the autopilot's heartbeat and position, alerts) needs.
``SpoolBytes``: the uplink drainer's byte budget, which admits a record while the bucket is above its reserve and
may go into debt by one record (so a record larger than the bucket still goes). Time is passed in (s, monotonic).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

HIGH, NORMAL, LOW = 0, 1, 2
RESERVE = (0.0, 0.25, 0.5)  # fraction of each bucket's depth a priority must leave untouched


@dataclass
class TokenBucket:
    """``rate`` tokens per second up to ``depth``; a rate of 0 means unlimited. Starts full at ``t0``."""

    rate: float
    depth: float
    t0: float = 0.0

    def __post_init__(self) -> None:
        if self.rate < 0 or (self.rate > 0 and self.depth <= 0):
            raise ValueError(f"token bucket needs rate >= 0 and depth > 0, got {self.rate}, {self.depth}")
        self.tokens = self.depth
        self._t = self.t0

    def _refill(self, now: float) -> None:
        if now > self._t:
            self.tokens = min(self.depth, self.tokens + (now - self._t) * self.rate)
            self._t = now

    def can_take(self, n: float, now: float, reserve: float = 0.0) -> bool:
        """Whether ``n`` tokens can be taken leaving ``reserve`` (fraction of depth) in the bucket."""
        if self.rate == 0:
            return True
        self._refill(now)
        return self.tokens - n >= reserve * self.depth - 1e-9

    def admit(self, n: float, now: float, reserve: float = 0.0) -> bool:
        """Take ``n`` if the bucket holds more than ``reserve`` (fraction of depth), going into debt if need be; so
        over any window T the tokens taken stay within ``depth + rate * T + one message``. True when taken."""
        if self.rate == 0:
            return True
        self._refill(now)
        if self.tokens <= reserve * self.depth:
            return False
        self.tokens -= n
        return True

    def take(self, n: float, now: float) -> None:
        if self.rate:
            self._refill(now)
            self.tokens -= n

    def wait_s(self, n: float, now: float, reserve: float = 0.0) -> float:
        """Seconds until ``can_take(n, ., reserve)`` becomes true (inf if it never can)."""
        if self.rate == 0:
            return 0.0
        self._refill(now)
        need = n + reserve * self.depth - self.tokens
        if n > self.depth * (1 - reserve) + 1e-9:
            return math.inf
        return max(0.0, need / self.rate)


class LinkBudget:
    """Messages/s and bytes/s limits of one link; 0 disables a limit. Bucket depths are ``burst_s`` of rate."""

    def __init__(self, msgs_per_s: float, bytes_per_s: float, burst_s: float = 1.0, now: float = 0.0) -> None:
        self.msgs = TokenBucket(msgs_per_s, max(1.0, msgs_per_s * burst_s), now)
        self.bytes = TokenBucket(bytes_per_s, max(280.0, bytes_per_s * burst_s), now)

    @property
    def limited(self) -> bool:
        return bool(self.msgs.rate or self.bytes.rate)

    def admit(self, nbytes: int, priority: int, now: float) -> bool:
        """Take one message of ``nbytes`` at ``priority`` (HIGH, NORMAL, LOW) if the budget allows; True if taken."""
        reserve = RESERVE[priority]
        if self.msgs.can_take(1, now, reserve) and self.bytes.can_take(nbytes, now, reserve):
            self.msgs.take(1, now)
            self.bytes.take(nbytes, now)
            return True
        return False

    def wait_s(self, nbytes: int, priority: int, now: float) -> float:
        """Seconds until a message of ``nbytes`` at ``priority`` would be admitted."""
        reserve = RESERVE[priority]
        return max(self.msgs.wait_s(1, now, reserve), self.bytes.wait_s(nbytes, now, reserve))


class SpoolBytes:
    """The uplink drainer's Budget: bytes from ``bucket``; a record of spool priority p goes while the bucket holds
    more than ``reserves[p]`` (fraction of depth; 0 when absent) and may take it into debt by one record."""

    def __init__(self, bucket: TokenBucket, reserves: dict[int, float] | None = None) -> None:
        self.bucket = bucket
        self.reserves = reserves or {}

    def admit(self, nbytes: int, prio: int, now: float) -> bool:
        return self.bucket.admit(nbytes, now, self.reserves.get(prio, 0.0))
