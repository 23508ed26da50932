"""A byte budget for the uplink: a token bucket that may go into debt by one message.

``rate`` bytes/s refill a bucket of ``depth`` bytes (starts full). A message is admitted while the bucket holds
any tokens at all and its size is then taken, possibly below zero; so a message larger than the bucket still
goes, and over any window T the bytes admitted stay within ``depth + rate * T + one message``. Time is passed in
(s, monotonic) so tests can drive it.
"""

from __future__ import annotations


class ByteBudget:
    """Token bucket in bytes; ``rate == 0`` means unlimited."""

    def __init__(self, rate: float, depth: float, now: float) -> None:
        if rate < 0 or (rate > 0 and depth <= 0):
            raise ValueError(f"byte budget needs rate >= 0 and depth > 0, got {rate}, {depth}")
        self.rate = rate
        self.depth = depth
        self.tokens = depth
        self._t = now

    def _refill(self, now: float) -> None:
        if now > self._t:
            self.tokens = min(self.depth, self.tokens + (now - self._t) * self.rate)
            self._t = now

    def try_take(self, nbytes: int, now: float) -> bool:
        """Admit ``nbytes`` if the bucket is not in debt; True when admitted (and taken)."""
        if not self.rate:
            return True
        self._refill(now)
        if self.tokens <= 0:
            return False
        self.tokens -= nbytes
        return True

    def admit(self, nbytes: int, prio: int, now: float) -> bool:
        """The drainer's Budget: ``try_take`` whatever the priority."""
        return self.try_take(nbytes, now)

    def force(self, nbytes: int, now: float) -> None:
        """Take bytes that must go anyway (status messages): later messages wait for them."""
        if self.rate:
            self._refill(now)
            self.tokens -= nbytes

    def wait_s(self, now: float) -> float:
        """Seconds until a message would be admitted (0 if now)."""
        if not self.rate:
            return 0.0
        self._refill(now)
        return 0.0 if self.tokens > 0 else (-self.tokens + 1e-6) / self.rate
