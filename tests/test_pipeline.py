"""The inference threads: newest frame only, events to every sink in frame order, a failing frame does not stop them,
tracking of one frame overlaps inference of the next, stop() hands on the frames in hand.

Unit test of one class: the stages are small in-memory stand-ins (the real ones are tested in their packages
and together in tests/integration)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

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

    def peek(self) -> Frame | None:
        return self.frame

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def health(self) -> dict[str, object]:
        return {}


class SlowDetector:
    """Inference takes ``delay`` s, decoding ``decode_delay`` s; both log (what, seq, start, end) intervals."""

    def __init__(self, delay: float, decode_delay: float = 0.0) -> None:
        self.class_names = ["person"]
        self.model_name = "slow.onnx"
        self.delay, self.decode_delay = delay, decode_delay
        self.seen: list[int] = []
        self.log: list[tuple[str, int, float, float]] = []

    def detect(self, frame: Frame) -> Detections:
        return self.infer(frame)()

    def infer(self, frame: Frame, ready: Callable[[], None] | None = None) -> Callable[[], Detections]:
        self.seen.append(frame.seq)
        if frame.seq == 3:
            raise RuntimeError("corrupt frame")
        if ready is not None:
            ready()
        t0 = time.monotonic()
        time.sleep(self.delay)
        self.log.append(("infer", frame.seq, t0, time.monotonic()))

        def finish() -> Detections:
            t1 = time.monotonic()
            time.sleep(self.decode_delay)
            self.log.append(("decode", frame.seq, t1, time.monotonic()))
            return Detections(np.array([[0, 0, 10, 10]]), np.array([0.9]), np.array([0]))

        return finish


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


def test_tracking_overlaps_the_next_inference_and_stop_hands_on_the_frames_in_hand() -> None:
    cam, det, sink = SlotCamera(), SlowDetector(0.04, decode_delay=0.03), ListSink()
    observed: list[tuple[int, float]] = []
    pipe = Pipeline(
        cam, det, EveryFrameTracker(), Locator(), Poses(), [sink], observer=lambda f, t: observed.append((f.seq, t))
    )
    pipe.start()
    for seq in (1, 2, 4, 5, 6):  # one frame per inference: each is taken as soon as the model is free
        cam.put(_frame(seq))
        deadline = time.monotonic() + 2
        while seq not in det.seen and time.monotonic() < deadline:
            time.sleep(0.002)
    pipe.stop()  # frame 6 is still being inferred or decoded: its events must reach the sink all the same
    seqs = [b.frame_seq for b in sink.batches]
    assert seqs == [1, 2, 4, 5, 6]
    assert [seq for seq, _ in observed] == seqs
    spans = {(what, seq): (a, b) for what, seq, a, b in det.log}
    nxt = {1: 2, 2: 4, 4: 5, 5: 6}  # the camera shows no frame 3

    def overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
        return a[0] < b[1] and b[0] < a[1]

    overlapped = [s for s, n in nxt.items() if overlaps(spans[("decode", s)], spans[("infer", n)])]
    assert overlapped, f"decoding never ran while the next frame was inferred: {det.log}"
    running = {t.name for t in threading.enumerate()}
    assert not {"pipeline-track", "pipeline-infer"} & running, "threads left running"
