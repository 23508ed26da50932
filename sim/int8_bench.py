"""``edge bench`` part "int8": the default model quantized to INT8 against its float32 self, in one run.

Calibrates on simulator frames of training seeds (>= 1000), measures on held-out seed 7: ``int8_speedup`` (raw runs/s
of the INT8 model over the float one on the same input tensors, interleaved) and ``int8_map50_drop`` (mAP@0.5 of the
float model minus the INT8 model's, through the daemon's own detector); ``int8_speedup_yolov8n`` the same speed
ratio for a YOLOv8n-shaped model (``sim.yolo_shape``: the export's layers with random weights, so no accuracy).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from edge.detect.datasets import image_files, load
from edge.detect.evaluate import evaluate
from edge.detect.quantize import calibration_tensors, quantize, raw_speed
from edge.detect.settings import DetectorSettings
from sim.export_dataset import export
from sim.yolo_shape import build

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "models" / "edge-default.onnx"
SCENARIO = REPO / "sim" / "scenarios" / "drone-border.toml"


def run_bench(out_dir: Path, quick: bool) -> dict[str, float]:
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = DetectorSettings(model=str(MODEL))
    with tempfile.TemporaryDirectory() as tmp:
        calib = export(SCENARIO, Path(tmp) / "calib", 24 if quick else 100, 1234, None, 8.0)
        held = export(SCENARIO, Path(tmp) / "held", 12 if quick else 60, 7, None, 8.0)
        images = image_files(Path(calib["out"]) / "images")
        int8 = out_dir / "edge-default.int8.onnx"
        quantize(settings, images, int8)
        _, tensors = calibration_tensors(settings, images[:10])
        fps_float, fps_int8 = raw_speed([str(MODEL), str(int8)], tensors, seconds=2.0 if quick else 6.0)
        yolo = build(Path(tmp) / "yolov8n_shape.onnx")
        yolo_settings = DetectorSettings(model=str(yolo))
        yolo_int8 = out_dir / "yolov8n_shape.int8.onnx"
        quantize(yolo_settings, images[: 16 if quick else 50], yolo_int8)
        _, yolo_tensors = calibration_tensors(yolo_settings, images[:6])
        yolo_fps = raw_speed([str(yolo), str(yolo_int8)], yolo_tensors, seconds=3.0 if quick else 8.0)
        data = load(Path(held["out"]) / "images", Path(held["out"]) / "labels")
        map_float = evaluate(settings, data, quiet=True)[0]["all"]["map50"]
        map_int8 = evaluate(settings.model_copy(update={"model": str(int8)}), data, quiet=True)[0]["all"]["map50"]
    return {
        "int8_raw_fps": round(fps_int8, 2),
        "int8_float_raw_fps": round(fps_float, 2),
        "int8_speedup": round(fps_int8 / fps_float, 3),
        "int8_map50_float": map_float,
        "int8_map50": map_int8,
        "int8_map50_drop": round(map_float - map_int8, 4),
        "int8_speedup_yolov8n": round(yolo_fps[1] / yolo_fps[0], 3),
    }
