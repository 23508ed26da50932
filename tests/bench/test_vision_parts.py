"""The benchmark's pieces (the figures themselves come from `edge bench`, never asserted here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.vision_parts import MemoryCamera, make_standin_model, recall, run_pipeline
from edge.detect.engine import OnnxDetector
from edge.detect.settings import DetectorSettings
from edge.track.settings import TrackerSettings
from edge.track.tracker import ByteTracker


def test_standin_model_runs_through_the_daemon_loop(tmp_path: Path) -> None:
    model = make_standin_model(tmp_path / "s.onnx", size=(96, 128))
    det = OnnxDetector(DetectorSettings(model=str(model), providers=["cpu"]))
    assert det.info.layout == "yolov8" and det.class_names == ["person", "vehicle", "boat"]
    images = [np.full((96, 128, 3), i * 40, np.uint8) for i in range(3)]
    run = run_pipeline(MemoryCamera(images, fps=200.0), det, ByteTracker(TrackerSettings()), 0.5)
    assert run.frames > 0 and len(run.latency) == len(run.age) == run.frames
    assert all(lat >= age >= 0 for lat, age in zip(run.latency, run.age, strict=True))
    assert run.cpu_s > 0 and run.fps > 0


def test_recall_counts_matches_at_iou() -> None:
    gt = [np.asarray([[0, 0, 10, 10], [20, 20, 30, 30]]), np.zeros((0, 4)), np.asarray([[0, 0, 10, 10]])]
    pred = [np.asarray([[0, 0, 10, 11]]), np.asarray([[0, 0, 5, 5]]), np.zeros((0, 4))]
    assert recall(gt, pred) == (1, 3)
