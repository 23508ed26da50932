"""Mapping a foreign clock (autopilot boot time, GPS time; seconds) onto ``time.monotonic()``, drift included.

Every stamped message gives an upper bound on the offset ``mono - foreign``: it was stamped before we received
it, so ``offset <= t_recv - stamp``. A TIMESYNC round trip also gives a lower bound: the autopilot stamped its
reply after our request left, so ``offset >= t_send - stamp``. Samples are gathered in ``bin_s`` bins (by our
receive time): a bin's value is its smallest upper bound (the least-delayed message), or the midpoint between
that and its largest lower bound when TIMESYNC gave one (NTP's symmetric-delay assumption). Over the last
``window_s`` the bins' values are fitted with a line against the foreign time (two passes: the second keeps the
bins at or below the first fit, the lower envelope), so a crystal's drift (tens to hundreds of ppm) does not lag
behind. With fewer than ``MIN_FIT_BINS`` bins or under ``MIN_FIT_SPAN_S`` of span, the smallest value is used.
A stamp that jumps back by more than ``reboot_jump_s`` is a reboot: everything is forgotten.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

MIN_FIT_BINS = 5
MIN_FIT_SPAN_S = 8.0


@dataclass
class _Bin:
    key: int
    upper: float = math.inf  # smallest t_recv - stamp
    upper_stamp: float = 0.0
    lower: float = -math.inf  # largest t_send - stamp

    def value(self) -> float | None:
        if math.isinf(self.upper):
            return None
        if math.isinf(self.lower) or self.lower > self.upper:
            return self.upper
        return (self.lower + self.upper) / 2


class ClockMap:
    """Robust, drift-following offset between a foreign clock and ours; ``to_mono`` once a sample came."""

    def __init__(self, window_s: float = 60.0, bin_s: float = 1.0, reboot_jump_s: float = 2.0) -> None:
        self.window_s, self.bin_s, self.reboot_jump_s = window_s, bin_s, reboot_jump_s
        self._bins: deque[_Bin] = deque()
        self._last_stamp: float | None = None
        self._fit: tuple[float, float, float] | None = None  # (offset at s_ref, drift, s_ref)
        self._dirty = True
        self.samples = 0
        self.resets = 0
        self.inconsistent = 0

    def _bin(self, t_recv: float, stamp: float) -> _Bin:
        if self._last_stamp is not None and stamp < self._last_stamp - self.reboot_jump_s:
            self._bins.clear()
            self.resets += 1
        self._last_stamp = stamp
        key = math.floor(t_recv / self.bin_s)
        if not self._bins or self._bins[-1].key < key:
            self._bins.append(_Bin(key))
            while self._bins and self._bins[0].key < key - self.window_s / self.bin_s:
                self._bins.popleft()
        self._dirty = True
        self.samples += 1
        return self._bins[-1]

    def add_one_way(self, t_recv: float, stamp: float) -> None:
        """A message stamped ``stamp`` (s, foreign clock) received at ``t_recv`` (s, monotonic)."""
        b = self._bin(t_recv, stamp)
        if t_recv - stamp < b.upper:
            b.upper, b.upper_stamp = t_recv - stamp, stamp

    def add_round_trip(self, t_send: float, t_recv: float, stamp: float) -> None:
        """A reply stamped ``stamp`` (foreign s) to a request we sent at ``t_send`` and got back at ``t_recv``."""
        if t_recv < t_send:
            return
        b = self._bin(t_recv, stamp)
        if t_recv - stamp < b.upper:
            b.upper, b.upper_stamp = t_recv - stamp, stamp
        if t_send - stamp > b.lower:
            b.lower = t_send - stamp
            if b.lower > b.upper:
                self.inconsistent += 1

    def _refit(self) -> None:
        self._dirty = False
        pts = [(b.upper_stamp, v) for b in self._bins if (v := b.value()) is not None]
        if not pts:
            self._fit = None
            return
        span = pts[-1][0] - pts[0][0]
        if len(pts) < MIN_FIT_BINS or span < MIN_FIT_SPAN_S:
            self._fit = (min(v for _, v in pts), 0.0, 0.0)
            return
        s_ref = pts[-1][0]
        a, b = _line([(s - s_ref, v) for s, v in pts])
        low = [(s - s_ref, v) for s, v in pts if v <= a + b * (s - s_ref)]
        if len(low) >= 3:
            a, b = _line(low)
        self._fit = (a, b, s_ref)

    def offset(self, stamp: float | None = None) -> float | None:
        """Estimated ``mono - foreign`` (s) at foreign time ``stamp`` (default: the newest), None before samples."""
        if self._dirty:
            self._refit()
        if self._fit is None:
            return None
        a, b, s_ref = self._fit
        return a + b * ((stamp if stamp is not None else s_ref) - s_ref)

    def to_mono(self, stamp: float) -> float | None:
        """Foreign time (s) -> monotonic (s); None before the first sample."""
        off = self.offset(stamp)
        return None if off is None else stamp + off


def _line(pts: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares (a, b) of v = a + b x through (x, v) points (b = 0 when the xs do not spread)."""
    n = len(pts)
    mx = sum(x for x, _ in pts) / n
    mv = sum(v for _, v in pts) / n
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    if sxx < 1e-12:
        return min(v for _, v in pts), 0.0
    b = sum((x - mx) * (v - mv) for x, v in pts) / sxx
    return mv - b * mx, b
