"""The tracker for still images: every image is a scene of its own.

Photos of a folder are not a video: nothing carries over from one to the next, so a track can neither be confirmed
over several frames nor be lost. Each detection is reported NEW at once, with an id of its own.
"""

from __future__ import annotations

import numpy as np

from edge.stages import Health
from edge.types import Detections, EventKind, TrackEvents


class StillTracker:
    """``edge.stages.Tracker`` for photos: every detection of every image is a NEW event with a fresh track id."""

    name = "tracker"

    def __init__(self) -> None:
        self._next_id = 1
        self.frames = 0
        self.reported = 0

    def update(self, dets: Detections, t_mono: float) -> TrackEvents:
        """``dets`` of one image (captured at ``t_mono`` s, unused) -> one NEW event each."""
        self.frames += 1
        n = len(dets)
        ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        self._next_id += n
        self.reported += n
        out = Detections.trusted(dets.xyxy, dets.score, dets.class_id, ids) if n else Detections.empty()
        return TrackEvents(out, np.full(n, int(EventKind.NEW), np.int8))

    def health(self) -> Health:
        return {"name": self.name, "mode": "still images", "frames": self.frames, "events": {"new": self.reported}}
