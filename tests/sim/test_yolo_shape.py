"""The YOLOv8n-shaped bench model: YOLOv8n's parameter count and output, read by the daemon as a YOLOv8 export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from edge.detect.engine import OnnxDetector
from edge.detect.settings import DetectorSettings
from edge.types import Frame
from sim.yolo_shape import build


def test_yolov8n_shape_and_layout(tmp_path: Path) -> None:
    path = build(tmp_path / "y.onnx", size=320)
    params = sum(numpy_helper.to_array(t).size for t in onnx.load(str(path)).graph.initializer)
    assert 3.0e6 < params < 3.3e6  # YOLOv8n: 3.15 M parameters (BatchNorm folded), plus the anchor table
    det = OnnxDetector(DetectorSettings(model=str(path), warmup_runs=0))
    assert det.info.layout == "yolov8" and len(det.class_names) == 80 and det.info.output_shapes[0] == (1, 84, 2100)
    d = det.detect(Frame(np.zeros((240, 320, 3), np.uint8), 0.0, 0.0, 1))
    assert np.isfinite(d.xyxy).all()
