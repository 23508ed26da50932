"""Mapping a foreign clock (autopilot boot time, GPS time; seconds) onto ``time.monotonic()``.

Every stamped message gives an upper bound on the offset ``mono - foreign``: it was stamped before we received
it, so ``offset <= t_recv - stamp``. A TIMESYNC round trip also gives a lower bound: the autopilot stamped its
reply after our request left, so ``offset >= t_send - stamp``. Over a sliding window the smallest upper bound
(the message with the least delay) is the estimate; with lower bounds in the window too, the midpoint of the
tightest interval (NTP's symmetric-delay assumption). Sliding minima shrug off delayed bursts and adapt to drift
within the window. A stamp that jumps back by more than ``reboot_jump_s`` is a reboot: the samples are dropped.
"""

from __future__ import annotations

from collections import deque


class _SlidingExtreme:
    """Minimum (or maximum) of the values added in the last ``window`` seconds; O(1) amortised."""

    def __init__(self, window: float, largest: bool) -> None:
        self.window = window
        self.sign = -1.0 if largest else 1.0
        self._q: deque[tuple[float, float]] = deque()  # (t, sign * value), values increasing

    def add(self, t: float, value: float) -> None:
        v = self.sign * value
        while self._q and self._q[-1][1] >= v:
            self._q.pop()
        self._q.append((t, v))
        self.expire(t)

    def expire(self, now: float) -> None:
        while self._q and self._q[0][0] < now - self.window:
            self._q.popleft()

    def value(self) -> float | None:
        return self.sign * self._q[0][1] if self._q else None

    def clear(self) -> None:
        self._q.clear()


class ClockMap:
    """Robust offset between a foreign clock and ours; ``to_mono`` once a sample came."""

    def __init__(self, window_s: float = 30.0, reboot_jump_s: float = 2.0) -> None:
        self._upper = _SlidingExtreme(window_s, largest=False)
        self._lower = _SlidingExtreme(window_s, largest=True)
        self.reboot_jump_s = reboot_jump_s
        self._last_stamp: float | None = None
        self.samples = 0
        self.resets = 0
        self.inconsistent = 0

    def _check_reboot(self, stamp: float) -> None:
        if self._last_stamp is not None and stamp < self._last_stamp - self.reboot_jump_s:
            self._upper.clear()
            self._lower.clear()
            self.resets += 1
        self._last_stamp = stamp

    def add_one_way(self, t_recv: float, stamp: float) -> None:
        """A message stamped ``stamp`` (s, foreign clock) received at ``t_recv`` (s, monotonic)."""
        self._check_reboot(stamp)
        self._upper.add(t_recv, t_recv - stamp)
        self._lower.expire(t_recv)
        self.samples += 1

    def add_round_trip(self, t_send: float, t_recv: float, stamp: float) -> None:
        """A reply stamped ``stamp`` (foreign s) to a request we sent at ``t_send`` and got back at ``t_recv``."""
        if t_recv < t_send:
            return
        self._check_reboot(stamp)
        self._upper.add(t_recv, t_recv - stamp)
        self._lower.add(t_recv, t_send - stamp)
        self.samples += 1

    def offset(self) -> float | None:
        """Estimated ``mono - foreign`` (s), or None before the first sample."""
        hi = self._upper.value()
        if hi is None:
            return None
        lo = self._lower.value()
        if lo is None:
            return hi
        if lo > hi:  # contradicting bounds (a stamp from the future or a clock step): trust the one-way bound
            self.inconsistent += 1
            return hi
        return (lo + hi) / 2

    def to_mono(self, stamp: float) -> float | None:
        """Foreign time (s) -> monotonic (s); None before the first sample."""
        off = self.offset()
        return None if off is None else stamp + off
