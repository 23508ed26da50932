"""Pipelines of several cameras: one model run at a time through the shared scheduler, priority, max_fps.

Unit test of the pipeline's use of the scheduler, with the in-memory stand-ins of tests/test_pipeline.py."""

from __future__ import annotations

import itertools
import threading
import time

from edge.detect.scheduler import ModelScheduler
from edge.pipeline import Pipeline
from tests.test_pipeline import EveryFrameTracker, ListSink, Locator, Poses, SlotCamera, SlowDetector, _frame


class PeekCamera(SlotCamera):
    def peek(self):  # type: ignore[no-untyped-def]
        return self.frame


def _feed(cams: list[PeekCamera], stop: threading.Event) -> None:
    seq = 3  # SlowDetector fails frame 3 on purpose: start past it
    while not stop.is_set():
        seq += 1
        for cam in cams:
            cam.put(_frame(seq))
        time.sleep(0.002)  # 500 fps: a frame is always waiting


def _run(pipes: list[Pipeline], cams: list[PeekCamera], seconds: float) -> None:
    stop = threading.Event()
    feeder = threading.Thread(target=_feed, args=(cams, stop))
    feeder.start()
    for p in pipes:
        p.start()
    time.sleep(seconds)
    for p in pipes:
        p.stop()
    stop.set()
    feeder.join()


def test_one_model_run_at_a_time_and_priority_gets_more() -> None:
    sched = ModelScheduler()
    cams = [PeekCamera(), PeekCamera()]
    dets = [SlowDetector(0.01), SlowDetector(0.01)]
    pipes = [
        Pipeline(cam, det, EveryFrameTracker(), Locator(), Poses(), [ListSink()], None, f"pipeline:{n}", sched, prio)
        for cam, det, n, prio in zip(cams, dets, ("day", "ir"), (0, 1), strict=True)
    ]
    _run(pipes, cams, 1.5)
    runs = sorted((a, b) for det in dets for what, _, a, b in det.log if what == "infer")
    assert all(b0 <= a1 for (_, b0), (a1, _) in itertools.pairwise(runs)), "two model runs at once"
    day, ir = (len([e for e in det.log if e[0] == "infer"]) for det in dets)
    assert day > 10 and ir > 1.4 * day, (day, ir)  # priorities 1 and 0: about 2:1, and day is served
    h = pipes[0].health()
    assert h["model_turns"] >= day and h["model_turns_passed_max"] <= 2, h


def test_max_fps_caps_the_model_runs() -> None:
    cam, det = PeekCamera(), SlowDetector(0.001)
    pipe = Pipeline(cam, det, EveryFrameTracker(), Locator(), Poses(), [ListSink()], max_fps=10.0)
    _run([pipe], [cam], 2.0)
    n = len([e for e in det.log if e[0] == "infer"])
    assert 12 <= n <= 22, n  # 10 a second (a loaded machine may run fewer, never more)
