"""The inference thread: newest frame -> detect -> track -> geolocate -> sinks (spool, GCS).

It always asks the camera for the newest frame (the camera's one-slot buffer drops the rest), so a slow
detector never works on stale frames. Sinks must not block (the spool writer batches, the GCS alerter queues).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Protocol

from edge.stages import CameraSource, Detector, EventSink, Geolocator, Health, PoseStore, Tracker
from edge.types import Frame

log = logging.getLogger(__name__)


class FrameGate(Protocol):
    """Decides whether a frame is worth running the detector on (motion gating)."""

    def should_run(self, frame: Frame) -> bool: ...


class Pipeline:
    """One thread that runs the detection chain on the newest frame; a Stage."""

    name = "pipeline"

    def __init__(
        self,
        camera: CameraSource,
        detector: Detector,
        tracker: Tracker,
        geolocator: Geolocator,
        poses: PoseStore,
        sinks: Sequence[EventSink],
        gate: FrameGate | None = None,
    ) -> None:
        self._camera = camera
        self._detector = detector
        self._tracker = tracker
        self._geo = geolocator
        self._poses = poses
        self._sinks = list(sinks)
        self._gate = gate
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_seq = -1
        self._frames = 0
        self._skipped = 0
        self._events = 0
        self._errors = 0
        self._recent: deque[float] = deque(maxlen=64)  # completion times (s, monotonic) for fps
        self._age_ms: deque[float] = deque(maxlen=64)  # frame age at inference start
        self._last_progress = time.monotonic()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pipeline", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish the frame in hand (its events reach the sinks), then return."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)

    def alive(self) -> bool:
        """True while the loop makes progress (used by the systemd watchdog)."""
        return self._thread is not None and self._thread.is_alive() and time.monotonic() - self._last_progress < 30

    def step(self, frame: Frame) -> int:
        """Run the chain on one frame; returns the number of events handed to the sinks."""
        if self._gate is not None and not self._gate.should_run(frame):
            self._skipped += 1
            return 0
        self._age_ms.append((time.monotonic() - frame.t_mono) * 1000.0)
        dets = self._detector.detect(frame)
        tracks = self._tracker.update(dets, frame.t_mono)
        self._frames += 1
        self._recent.append(time.monotonic())
        if not len(tracks):
            return 0
        batch = self._geo.locate(frame, tracks, self._poses.pose_at(frame.t_mono), self._detector.class_names)
        for sink in self._sinks:
            sink.submit(batch)
        self._events += len(batch.events)
        return len(batch.events)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._last_progress = time.monotonic()
            frame = self._camera.latest(timeout=0.5, after_seq=self._last_seq)
            if frame is None:
                continue
            self._last_seq = frame.seq
            try:
                self.step(frame)
            except Exception:  # a bad frame must not kill the daemon; count and go on
                self._errors += 1
                log.exception("pipeline: frame %d failed", frame.seq)

    def health(self) -> Health:
        fps = 0.0
        if len(self._recent) >= 2 and self._recent[-1] > self._recent[0]:
            fps = (len(self._recent) - 1) / (self._recent[-1] - self._recent[0])
        if self._recent and time.monotonic() - self._recent[-1] > 5:
            fps = 0.0
        return {
            "fps": round(fps, 2),
            "frames": self._frames,
            "gated": self._skipped,
            "events": self._events,
            "errors": self._errors,
            "frame_age_ms": round(max(self._age_ms), 1) if self._age_ms else None,
        }
