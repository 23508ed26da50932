"""The one reconnect schedule every reconnecting reader shares (gpsd, camera, MAVLink, MQTT, the listener).

After a healthy session the first retry comes after ``first_s`` (the other side often restarts at once); then
``min_s`` doubling up to ``max_s``. Every delay is scaled by a random factor in [0.5, 1] (jitter) so that a fleet
does not reconnect in step. ``max_s`` bounds how long after the other side's return we notice it: the default caps
are short (1 s) because a refused connect costs nothing.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable


class Backoff:
    """Delays (s) for successive reconnect attempts; ``reset()`` after a healthy session."""

    def __init__(
        self, min_s: float, max_s: float, first_s: float = 0.1, rand: Callable[[], float] = random.random
    ) -> None:
        if not (0 < min_s <= max_s and first_s >= 0):
            raise ValueError(f"backoff needs 0 < min_s <= max_s and first_s >= 0, not {min_s}, {max_s}, {first_s}")
        self.min_s, self.max_s, self.first_s = min_s, max_s, min(first_s, max_s)
        self._rand = rand
        self._next: float | None = None  # None: the next delay is the short first one

    def reset(self) -> None:
        """The last session was healthy: the next retry is the short first one again."""
        self._next = None

    def delay(self) -> float:
        """Seconds to wait before the next attempt (jittered), and advance the schedule."""
        if self._next is None:
            self._next = self.min_s
            base = self.first_s
        else:
            base = self._next
            self._next = min(self._next * 2, self.max_s)
        return base * (0.5 + 0.5 * self._rand())

    def wait(self, stop: threading.Event) -> bool:
        """Sleep the next delay unless ``stop`` is set first; True when stopped."""
        return stop.wait(self.delay())
