"""``edge model quantize``: a static INT8 model of the default model, calibrated on simulator frames, that the daemon
runs (input conversion still folded into the graph) with the float model's labels and nearly its detections."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from edge.detect.engine import OnnxDetector
from edge.detect.settings import DetectorSettings
from edge.types import Frame

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "edge-default.onnx"


@pytest.fixture(scope="module")
def int8(tmp_path_factory: pytest.TempPathFactory, sim_export: Callable[[int, int], Path]) -> tuple[Path, dict, Path]:
    tmp = tmp_path_factory.mktemp("int8")
    calib, held = sim_export(16, 1234), sim_export(8, 7)
    out = tmp / "default.int8.onnx"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge",
            "model",
            "quantize",
            str(MODEL),
            "--calibrate",
            str(calib / "images"),
            "--out",
            str(out),
            "--images",
            str(held / "images"),
            "--labels",
            str(held / "labels"),
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads(proc.stdout.splitlines()[-1]), held


def test_int8_model_is_qdq_keeps_metadata_and_decoding_in_float(int8: tuple[Path, dict, Path]) -> None:
    out, report, _ = int8
    model = onnx.load(str(out))
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    meta = {p.key: p.value for p in model.metadata_props}
    assert "person" in meta["names"] and meta["imgsz"] == "[480, 640]"
    kept = json.loads(meta["quantization"])["float_nodes"]
    assert any("reads the image" in why for why in kept.values())
    assert any("decodes the outputs" in why for why in kept.values())
    assert report["calibration_frames"] == 16 and report["int8_speedup"] > 0


def test_daemon_runs_the_int8_model_like_the_float_one(int8: tuple[Path, dict, Path]) -> None:
    out, report, held = int8
    q = OnnxDetector(DetectorSettings(model=str(out)))
    f = OnnxDetector(DetectorSettings(model=str(MODEL)))
    assert q.class_names == f.class_names == ["person", "vehicle", "boat"]
    assert q.info.conversion.startswith("in the graph")  # the input conversion still folds into the float first conv
    found = matched = 0
    for i, path in enumerate(sorted((held / "images").iterdir())):
        img = cv2.imread(str(path))
        a = f.detect(Frame(img, float(i), float(i), i + 1))
        b = q.detect(Frame(img, float(i), float(i), i + 1))
        found += len(a)
        for box, cls in zip(a.xyxy, a.class_id, strict=True):
            same = b.xyxy[b.class_id == cls]
            if len(same):
                lt = np.maximum(box[:2], same[:, :2])
                rb = np.minimum(box[2:], same[:, 2:])
                inter = np.prod(np.clip(rb - lt, 0, None), 1)
                union = np.prod(box[2:] - box[:2]) + np.prod(same[:, 2:] - same[:, :2], 1) - inter
                matched += int((inter / union).max() >= 0.5)
    assert found > 20 and matched / found >= 0.85
    assert report["map50_float"] - report["map50_int8"] <= 0.05  # 8 frames: the bench measures the 0.01 goal
