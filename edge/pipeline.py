"""The detection chain on two threads: newest frame -> model | decode -> track -> geolocate -> sinks (spool, GCS).

The "infer" thread always asks the camera for the newest frame (the camera's one-slot buffer drops the rest), so a
slow detector never works on stale frames, and runs the model on it. The "track" thread finishes each frame
(decoding, tracking, geolocation, sinks) while the model already works on the next one. With an accelerator that
work is free; on a CPU whose every core runs the model it still costs frame rate (onnxruntime splits each operator
evenly between its threads, so the one tracking preempts holds the operator up), though measured here about 40 % of
its time against all of it done in line. A frame is handed to the track thread when the next frame's input tensor
is made, just before the model runs: the run frees the GIL, whereas handed on earlier the track thread would hold
the GIL through the preprocessing and hold up the run (measured: 0.65 -> 1.1 ms between runs); or at once when no
new frame is there. One frame at most waits between the threads. Sinks must not block (the spool writer
batches, the GCS alerter queues).

With several cameras each has its own pipeline; a shared ``ModelScheduler`` lets one of them run its model at a time
(``edge.detect.scheduler``: priority, no starvation). A pipeline that waited for its turn takes the camera's newest
frame again once it has it, so the model never works on the frame it had when it began to wait. ``max_fps`` caps
its model runs per second.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace

from edge.detect.scheduler import ModelScheduler
from edge.stages import CameraSource, Detector, EventSink, Geolocator, Health, PoseStore, Tracker
from edge.types import Detections, Frame, SensorInfo

log = logging.getLogger(__name__)

Finish = Callable[[], Detections]
Observer = Callable[[Frame, float], None]  # (frame, t_mono when its inference started), after its tracking


class Pipeline:
    """Two threads that run the detection chain on the newest frame; a Stage."""

    def __init__(
        self,
        camera: CameraSource,
        detector: Detector,
        tracker: Tracker,
        geolocator: Geolocator,
        poses: PoseStore,
        sinks: Sequence[EventSink],
        observer: Observer | None = None,
        name: str = "pipeline",
        scheduler: ModelScheduler | None = None,
        priority: int = 0,
        max_fps: float = 0.0,
    ) -> None:
        """``name``: the stage's name in health (``pipeline:<camera id>`` with several cameras); ``scheduler``:
        shared with the other cameras' pipelines; ``priority`` there; ``max_fps``: model runs per second at most
        (0 = no cap)."""
        self.name = name
        self._camera = camera
        self._detector = detector
        self._tracker = tracker
        self._geo = geolocator
        self._poses = poses
        self._sinks = list(sinks)
        self._observer = observer
        self._stop = threading.Event()
        self._handoff: queue.Queue[tuple[Frame, float, Finish] | None] = queue.Queue(maxsize=1)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()  # guards the counters both threads change
        self._last_seq = -1
        self._frames = 0
        self._detections = 0  # what the detector reported, before tracking
        self._events = 0
        self._errors = 0
        self._recent: deque[float] = deque(maxlen=64)  # completion times (s, monotonic) for fps
        self._age_ms: deque[float] = deque(maxlen=64)  # frame age at inference start
        self._infer_ms: deque[float] = deque(maxlen=64)  # time of the model's half of each frame
        self._scheduler = scheduler
        self._priority = priority
        self._interval = 1.0 / max_fps if max_fps > 0 else 0.0
        self._next_start = 0.0
        self._renewed = 0  # frames replaced by a newer one after waiting for the model
        self._last_progress = time.monotonic()
        self._sensor_info: SensorInfo | None = None

    @property
    def detector(self) -> Detector:
        return self._detector

    def start(self) -> None:
        self._threads = [
            threading.Thread(target=self._infer_loop, name="pipeline-infer", daemon=True),
            threading.Thread(target=self._track_loop, name="pipeline-track", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        """Finish the frames in hand (their events reach the sinks), then return."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=3)
        if self._scheduler is not None:
            self._scheduler.leave(self.name)

    def alive(self) -> bool:
        """True while both threads run and frames make progress (used by the systemd watchdog)."""
        running = bool(self._threads) and all(t.is_alive() for t in self._threads)
        return running and time.monotonic() - self._last_progress < 30

    def _finish(self, frame: Frame, t_infer: float, finish: Finish) -> None:
        """Decode, track, geolocate and hand on one frame's events."""
        dets = finish()
        tracks = self._tracker.update(dets, frame.t_mono)
        n = 0
        if len(tracks) or len(tracks.seen):  # seen: only for the association, which passes on frames with events
            batch = self._geo.locate(frame, tracks, self._poses.pose_at(frame.t_mono), self._detector.class_names)
            batch = replace(batch, sensor=self._sensor(frame))
            for sink in self._sinks:
                sink.submit(batch)
            n = len(batch.events)
        with self._lock:
            self._age_ms.append((t_infer - frame.t_mono) * 1000.0)
            self._frames += 1
            self._detections += len(dets)
            self._events += n
            self._recent.append(time.monotonic())
        if self._observer is not None:
            self._observer(frame, t_infer)

    def _sensor(self, frame: Frame) -> SensorInfo:
        """The description receivers need for ``frame``'s records (made anew only when something in it changed)."""
        names, (h, w) = self._detector.class_names, frame.image.shape[:2]
        s = self._sensor_info
        if s is None or s.camera_id != frame.camera_id or s.frame_wh != (w, h) or len(s.labels) != len(names):
            s = self._sensor_info = SensorInfo(frame.camera_id, self._detector.model_name, tuple(names), (w, h))
        return s

    def _failed(self, frame: Frame, stage: str) -> None:
        with self._lock:
            self._errors += 1
        log.exception("pipeline: %s of frame %d failed", stage, frame.seq)

    def _infer_loop(self) -> None:
        pending: tuple[Frame, float, Finish] | None = None  # the previous frame, not yet handed to the track thread

        def hand_on() -> None:  # waits while the track thread is a frame behind
            nonlocal pending
            if pending is not None:
                self._handoff.put(pending)
                pending = None

        try:
            while not self._stop.is_set():
                self._last_progress = time.monotonic()
                if (wait := self._next_start - time.monotonic()) > 0:  # max_fps
                    hand_on()
                    self._stop.wait(min(wait, 0.5))
                    continue
                # with a frame in hand, only look whether the next is there: never hold one back waiting for a camera
                frame = self._camera.latest(timeout=0.5 if pending is None else 0.0, after_seq=self._last_seq)
                if frame is None:
                    hand_on()
                    continue
                with self._turn():
                    if self._scheduler is not None and (newer := self._camera.latest(0.0, frame.seq)) is not None:
                        frame = newer  # it came while we waited for the model
                        self._renewed += 1
                    self._last_seq = frame.seq
                    t0 = time.monotonic()
                    self._next_start = t0 + self._interval
                    try:
                        finish = self._detector.infer(frame, ready=hand_on)
                    except Exception:  # a bad frame must not kill the daemon; count and go on
                        self._failed(frame, "inference")
                        continue
                    finally:
                        hand_on()
                    self._infer_ms.append((time.monotonic() - t0) * 1e3)
                pending = (frame, t0, finish)
        finally:
            hand_on()
            self._handoff.put(None)

    def _turn(self) -> AbstractContextManager[None]:
        if self._scheduler is None:
            return nullcontext()
        return self._scheduler.turn(self.name, self._priority, self._again)

    def _again(self) -> bool:
        """Whether the next model run can start at once: a newer frame is there, no fps cap holds it back."""
        frame = self._camera.peek()
        ready = frame is not None and frame.seq > self._last_seq and time.monotonic() >= self._next_start
        return ready and not self._stop.is_set()

    def _track_loop(self) -> None:
        while (item := self._handoff.get()) is not None:
            frame, t0, finish = item
            try:
                self._finish(frame, t0, finish)
            except Exception:
                self._failed(frame, "tracking")

    def health(self) -> Health:
        with self._lock:
            recent, ages, infer_ms = list(self._recent), list(self._age_ms), list(self._infer_ms)
            frames, dets, events, errors = self._frames, self._detections, self._events, self._errors
        fps = 0.0
        if len(recent) >= 2 and recent[-1] > recent[0]:
            fps = (len(recent) - 1) / (recent[-1] - recent[0])
        if recent and time.monotonic() - recent[-1] > 5:
            fps = 0.0
        return {
            "fps": round(fps, 2),
            "frames": frames,
            "detections": dets,
            "events": events,
            "errors": errors,
            "frame_age_ms": round(max(ages), 1) if ages else None,
            "inference_ms": round(sum(infer_ms) / len(infer_ms), 1) if infer_ms else None,
            "frames_dropped": getattr(self._camera, "dropped", 0) + self._renewed,
            **(self._scheduler.stats(self.name) if self._scheduler is not None else {}),
        }
