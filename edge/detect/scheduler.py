"""Model time shared between cameras: one model run at a time, granted in turn.

On a small CPU every model run uses every core; two cameras running their models at once only slow each other
(and the frames they finish are older). The scheduler lets one pipeline run its model at a time. When the model is
free and several cameras wait with a frame, the turn goes to the highest *standing* = ``priority`` + the turns
given to others since the camera began waiting; ties go to the higher priority, then to the one that waited
longest. The camera that just ran counts as waiting when it already has its next frame (``again``): it takes its
place before the turn is given, so a higher priority is not undone by the moment it takes to come back. So equal
priorities alternate, a higher priority is served first, and no camera starves: a camera with a frame waiting is
served within ``(highest priority - its priority) + (number of cameras - 1)`` turns (two cameras always with a
frame, priorities d apart: d + 1 turns to the higher for each of the lower's). A camera's frame rate cap
(``max_fps``) is kept by its pipeline: a capped camera just asks less often.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class _Waiter:
    name: str
    priority: int
    order: int  # arrival order: the tie-break
    passed: int = 0  # turns given to others while this one waited
    t0: float = field(default_factory=time.monotonic)


class ModelScheduler:
    """Grants the model to one caller at a time (see the module docstring for the rule)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = False
        self._owner: _Waiter | None = None  # granted, not yet running
        self._waiting: list[_Waiter] = []
        self._order = itertools.count()
        self.turns: dict[str, int] = {}
        self.wait_s: dict[str, float] = {}
        self.max_passed: dict[str, int] = {}

    @contextmanager
    def turn(self, name: str, priority: int = 0, again: Callable[[], bool] | None = None) -> Iterator[None]:
        """Hold the model for the ``with`` block; waits while another caller holds it. ``again()``, asked when the
        block ends: whether this caller will ask at once for its next turn (its next frame is there)."""
        with self._cond:
            placed = [w for w in (self._owner, *self._waiting) if w is not None and w.name == name]
            me = placed[0] if placed else None  # placed when its last turn ended (and perhaps granted already)
            if me is None:
                me = _Waiter(name, priority, next(self._order))
                if self._busy or self._waiting:
                    self._waiting.append(me)
            if me in self._waiting or self._owner is me:
                while self._owner is not me:
                    self._cond.wait()
                self._owner = None
            self._busy = True
            self.turns[name] = self.turns.get(name, 0) + 1
            self.wait_s[name] = self.wait_s.get(name, 0.0) + time.monotonic() - me.t0
            self.max_passed[name] = max(self.max_passed.get(name, 0), me.passed)
        try:
            yield
        finally:
            with self._cond:
                if again is not None and self._waiting and again():
                    self._waiting.append(_Waiter(name, priority, next(self._order)))
                self._busy = False
                self._grant()

    def leave(self, name: str) -> None:
        """``name`` asks no more (its pipeline stops): drop its place, and the model if it was granted to it."""
        with self._cond:
            self._waiting = [w for w in self._waiting if w.name != name]
            if self._owner is not None and self._owner.name == name:
                self._owner, self._busy = None, False
                self._grant()

    def _grant(self) -> None:
        """Give the free model to the waiter with the highest standing (lock held)."""
        if self._busy or not self._waiting:
            return
        nxt = max(self._waiting, key=lambda w: (w.priority + w.passed, w.priority, -w.order))
        self._waiting.remove(nxt)
        for w in self._waiting:
            w.passed += 1
        self._owner = nxt
        self._busy = True  # held for it until it wakes
        self._cond.notify_all()

    def stats(self, name: str) -> dict[str, float | int]:
        """Turns, mean wait (ms) and the most turns it was passed over in one wait, for ``name``."""
        with self._cond:
            turns = self.turns.get(name, 0)
            return {
                "model_turns": turns,
                "model_wait_ms_mean": round(self.wait_s.get(name, 0.0) * 1e3 / max(turns, 1), 2),
                "model_turns_passed_max": self.max_passed.get(name, 0),
            }
