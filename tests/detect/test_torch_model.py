"""A model exported by a real training framework (PyTorch, see data/make_torch_model.py), end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.detect.engine import OnnxDetector
from edge.detect.settings import DetectorSettings
from edge.types import Frame

MODEL = Path(__file__).with_name("data") / "tiny_grid_yolov8.onnx"


@pytest.mark.parametrize("fuse", [True, False])  # the input conversion in the graph, or in Python
def test_torch_export_decodes_to_hand_worked_boxes(fuse: bool) -> None:
    det = OnnxDetector(DetectorSettings(model=str(MODEL), providers=["cpu"], fuse_input=fuse))
    assert det.info.layout == "yolov8" and det.class_names == ["red", "blue"]
    assert det.info.model_spec.size == (320, 320) and det.info.model_spec.rgb
    assert det.info.conversion.startswith("in the graph" if fuse else "in Python")
    img = np.zeros((480, 640, 3), np.uint8)
    # 640x480 -> letterbox r = 0.5 to 320x240, pad top 40: model y = 0.5 * y + 40.
    img[176:240, 64:128] = (0, 0, 255)  # red (BGR) -> model cell x 32..64, y 128..160
    img[48:112, 320:384] = (255, 0, 0)  # blue -> model cell x 160..192, y 64..96
    d = det.detect(Frame(img, 0.0, 0.0, 1))
    order = np.argsort(d.class_id)
    assert list(d.class_id[order]) == [0, 1]
    np.testing.assert_allclose(d.xyxy[order], [[64, 176, 128, 240], [320, 48, 384, 112]], atol=1.0)
    assert (d.score > 0.99).all()
