"""Several cameras' frames back in capture order, for the cross-camera association.

Each camera's pipeline hands on its frames in order, but the cameras do not keep pace with each other: a day
camera's frame waits its turn behind the thermal camera's and its model run takes longer. Live on the simulated
mast pair, a third of the frames reached the associator after a newer frame of the other camera, up to 0.4-0.5 s
late. The association's rules compare a track's newest fix with the other camera's newest, so it scored 2-3 points
lower on those runs than on the same frames in capture order.

``CaptureOrder`` holds each frame until the frames captured before it have come in, and hands the frames on in
capture order. A frame goes when a frame captured ``hold_s`` after it has arrived, or when it has waited
``hold_s`` itself. ``hold_s`` is learnt: the largest lateness among the last ``KEEP`` frames, plus a margin, at
most ``max_s``. A frame's lateness is how much older it is than the newest frame that came before it. With one
camera, or cameras that keep pace, nothing is late and nothing is held.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections import deque
from collections.abc import Callable

from edge.types import FrameEvents

KEEP = 256  # frames whose lateness sets the hold
MARGIN = 1.25  # the hold: the largest lateness seen times this, plus MARGIN_S
MARGIN_S = 0.02
STEP_S = 60.0  # a frame this much older (s) than the newest: the UTC clock was set back, not a slow pipeline


class CaptureOrder:
    """A buffer of frames (``FrameEvents``) that hands them on in capture order (``t_utc``); not thread-safe (its
    owner locks). ``max_s``: the longest a frame is held (s; 0: never held, arrival order); ``clock``: monotonic
    seconds."""

    def __init__(self, max_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_s = max_s
        self._clock = clock
        self._held: list[tuple[float, int, float, FrameEvents]] = []  # heap of (t_utc, arrival order, arrived, frame)
        self._count = itertools.count()
        self._lateness: deque[float] = deque(maxlen=KEEP)
        self._newest = -float("inf")  # capture time (POSIX s) of the newest frame that came in
        self._gone = -float("inf")  # ... of the newest frame handed on
        self._at_once: list[FrameEvents] = []  # frames to hand on first: held when the clock was set back, untimed
        self.late = 0  # frames handed on after a newer one had gone (they came in later than the hold)

    @property
    def hold_s(self) -> float:
        """How long (s) a frame may wait for older ones now: learnt from the recent frames' lateness."""
        worst = max(self._lateness, default=0.0)
        return min(self.max_s, worst * MARGIN + MARGIN_S) if worst > 0 else 0.0

    @property
    def held(self) -> int:
        """Frames waiting now."""
        return len(self._held) + len(self._at_once)

    def push(self, frame: FrameEvents) -> None:
        """Take one camera's frame as it arrives. One far older than the newest (``STEP_S``) means the clock was
        set back (the cameras share it): the order starts again from it, with nothing learnt."""
        if not math.isfinite(frame.t_utc):  # no capture time to order it by: it goes as it came
            self._at_once.append(frame)
            return
        if self._newest - frame.t_utc > STEP_S:  # what is held was captured before the step: it goes first
            self._at_once += [f for *_, f in sorted(self._held, key=lambda h: h[:2])]
            self._held.clear()
            self._newest = self._gone = -float("inf")
            self._lateness.clear()
        self._lateness.append(max(0.0, self._newest - frame.t_utc))
        self._newest = max(self._newest, frame.t_utc)
        heapq.heappush(self._held, (frame.t_utc, next(self._count), self._clock(), frame))

    def due(self, everything: bool = False) -> list[FrameEvents]:
        """The frames to hand on now, oldest capture first (``everything``: all held, as at a stop)."""
        hold = self.hold_s
        # a frame captured hold_s after these has come in; one older than a frame gone is too late to wait
        until = max(self._newest - hold, self._gone)
        now = self._clock()
        waited = [t for t, _, arrived, _ in self._held if now - arrived >= hold]
        if waited:
            until = max(until, max(waited))
        out, self._at_once = self._at_once, []
        while self._held and (everything or self._held[0][0] <= until):
            t, _, _, frame = heapq.heappop(self._held)
            self.late += t < self._gone
            self._gone = max(self._gone, t)
            out.append(frame)
        return out
