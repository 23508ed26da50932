"""The committed default model: size, ONNX layout and metadata the daemon reads like a third-party YOLOv8 export."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from edge.detect.model import load_model
from edge.detect.settings import DetectorSettings

MODELS = Path(__file__).resolve().parents[2] / "models"
MODEL = MODELS / "edge-default.onnx"
NAMES = ["person", "vehicle", "boat"]


def test_file_is_small_and_labels_sit_beside_it() -> None:
    assert MODEL.stat().st_size <= 5 * 1024 * 1024
    assert (MODELS / "edge-default.labels.txt").read_text().split() == NAMES


def test_graph_layout_and_metadata() -> None:
    m = onnx.load(str(MODEL))
    onnx.checker.check_model(m)
    assert [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")] == [17]
    meta = {p.key: p.value for p in m.metadata_props}
    assert ast.literal_eval(meta["names"]) == dict(enumerate(NAMES))
    assert ast.literal_eval(meta["imgsz"]) == [480, 640]
    assert meta["task"] == "detect" and int(meta["stride"]) == 32
    s = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    (inp,) = s.get_inputs()
    assert inp.shape == [1, 3, 480, 640] and inp.type == "tensor(float)"
    out = s.run(None, {inp.name: np.full((1, 3, 480, 640), 114 / 255, np.float32)})[0]
    # YOLOv8: (1, 4 + nc, N), N = cells of stride 8 and 16
    assert out.shape == (1, 4 + len(NAMES), 60 * 80 + 30 * 40)
    scores = out[0, 4:]
    assert np.all((scores >= 0) & (scores <= 1))
    assert scores.max() < 0.35  # a blank grey input shows nothing at the daemon's default threshold
    # box centres sit near their cells: the first cell is centred at (4, 4), the last at (632, 472)
    assert np.all(np.abs(out[0, :2, 0] - 4) < 64) and np.all(np.abs(out[0, :2, -1] - [632, 472]) < 128)


def test_the_daemon_recognises_it_without_any_settings() -> None:
    _, info = load_model(DetectorSettings(model=str(MODEL), providers=["CPUExecutionProvider"]))
    assert info.layout == "yolov8"
    assert info.labels == NAMES and "metadata" in info.labels_source
    spec = info.model_spec
    assert spec.size == (480, 640) and spec.rgb and spec.letterbox
    assert abs(spec.scale - 1 / 255) < 1e-9
    assert info.conversion.startswith("in the graph")  # camera pixels go in as uint8: no float conversion per frame
