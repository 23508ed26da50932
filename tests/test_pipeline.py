"""The inference loop: newest frame only, events to every sink, a failing frame does not stop it.

Unit test of one class: the stages are small in-memory stand-ins (the real ones are tested in their packages
and together in tests/integration)."""

from __future__ import annotations

import threading
import time

import numpy as np

from edge.pipeline import Pipeline
from edge.types import Detections, EventKind, Frame, FrameEvents, GeoEvent, Pose, TrackEvents


class SlotCamera:
    name = "camera"

    def __init__(self) -> None:
        self.frame: Frame | None = None
        self.cond = threading.Condition()

    def put(self, frame: Frame) -> None:
        with self.cond:
            self.frame = frame
            self.cond.notify_all()

    def latest(self, timeout: float, after_seq: int = -1) -> Frame | None:
        with self.cond:
            self.cond.wait_for(lambda: self.frame is not None and self.frame.seq > after_seq, timeout)
            f = self.frame
            return f if f is not None and f.seq > after_seq else None

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def health(self) -> dict[str, object]:
        return {}


class SlowDetector:
    def __init__(self, delay: float) -> None:
        self.class_names = ["person"]
        self.delay = delay
        self.seen: list[int] = []

    def detect(self, frame: Frame) -> Detections:
        self.seen.append(frame.seq)
        if frame.seq == 3:
            raise RuntimeError("corrupt frame")
        time.sleep(self.delay)
        return Detections(np.array([[0, 0, 10, 10]]), np.array([0.9]), np.array([0]))


class EveryFrameTracker:
    def update(self, dets: Detections, t_mono: float) -> TrackEvents:
        return TrackEvents(Detections(dets.xyxy, dets.score, dets.class_id, np.array([7])), np.array([EventKind.NEW]))


class Locator:
    def locate(self, frame: Frame, tracks: TrackEvents, pose: Pose | None, class_names: list[str]) -> FrameEvents:
        ev = GeoEvent(7, 0, class_names[0], 0.9, EventKind.NEW, (0, 0, 0.1, 0.1))
        return FrameEvents(frame.camera_id, frame.seq, frame.t_utc, pose, (ev,))


class Poses:
    def pose_at(self, t_mono: float) -> Pose | None:
        return Pose(t_mono, 42.6, 19.9, 1100.0)


class ListSink:
    def __init__(self) -> None:
        self.batches: list[FrameEvents] = []

    def submit(self, batch: FrameEvents) -> None:
        self.batches.append(batch)


def _frame(seq: int) -> Frame:
    return Frame(np.zeros((4, 4, 3), np.uint8), time.monotonic(), time.time(), seq)


def test_slow_detector_only_sees_newest_frames_and_survives_errors() -> None:
    cam, det, sink_a, sink_b = SlotCamera(), SlowDetector(0.05), ListSink(), ListSink()
    pipe = Pipeline(cam, det, EveryFrameTracker(), Locator(), Poses(), [sink_a, sink_b])
    pipe.start()
    try:
        for seq in range(1, 61):  # camera at ~200 fps, detector at ~20 fps
            cam.put(_frame(seq))
            time.sleep(0.005)
        deadline = time.monotonic() + 5
        while (not det.seen or det.seen[-1] != 60) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        pipe.stop()
    assert det.seen[-1] == 60
    assert det.seen == sorted(set(det.seen)), "a frame was processed twice or out of order"
    assert len(det.seen) < 40, "the detector was fed stale frames instead of the newest"
    assert [b.frame_seq for b in sink_a.batches] == [b.frame_seq for b in sink_b.batches]
    assert 3 not in [b.frame_seq for b in sink_a.batches] or 3 not in det.seen
    h = pipe.health()
    assert h["errors"] == (1 if 3 in det.seen else 0)
    assert h["events"] == len(sink_a.batches)


def test_gate_skips_frames() -> None:
    class NoMotion:
        def should_run(self, frame: Frame) -> bool:
            return frame.seq % 2 == 0

    sink = ListSink()
    pipe = Pipeline(SlotCamera(), SlowDetector(0), EveryFrameTracker(), Locator(), Poses(), [sink], NoMotion())
    for seq in (1, 2, 4, 5):
        pipe.step(_frame(seq))
    assert [b.frame_seq for b in sink.batches] == [2, 4]
    assert pipe.health()["gated"] == 2
