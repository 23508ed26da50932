"""``edge model quantize MODEL --calibrate DIR``: a static INT8 (QDQ) model calibrated on the user's own frames.

Steps: the calibration images go through the daemon's own preprocessing (``--config``); onnxruntime's quantizer
writes a QDQ model (per-channel int8 weights, uint8 activations). Kept in float: the convolutions that read the
image (so the daemon can still fold its input conversion into them, ``detector.fuse_input``), the output decoding
after the last convolutions (boxes in pixels and scores in 0..1 under one int8 scale would zero the scores), and
every convolution measured to lose more than ``--max-drop-db`` of signal-to-noise ratio against the float model
on the calibration frames. Last, the INT8 and float models run side by side on the same frames: the speed ratio,
how far their outputs agree, and mAP on ``--images``/``--labels`` where given.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnx

from edge.detect.datasets import DatasetError, image_files
from edge.detect.settings import DetectorSettings

log = logging.getLogger(__name__)

SENSITIVITY_FRAMES = 8  # frames the per-layer measurement runs on (every activation of both models is kept)


@dataclass
class QuantizeResult:
    """What ``quantize`` wrote and kept in float: output path, node names left in float (and why)."""

    path: Path
    float_nodes: dict[str, str]
    calibration_frames: int


def calibration_tensors(settings: DetectorSettings, images: Sequence[Path]) -> tuple[str, list[np.ndarray]]:
    """(input name, one model input tensor per image) as the daemon's preprocessing makes them (no input fusion)."""
    from edge.detect.model import load_model
    from edge.detect.preprocess import preprocess

    _, info = load_model(settings.model_copy(update={"fuse_input": False, "warmup_runs": 0}))
    tensors = []
    for path in images:
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise DatasetError(f"{path}: not an image OpenCV can read")
        if img.ndim == 3 and img.shape[2] == 4:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
        tensors.append(np.array(preprocess(img, info.spec, settings.thermal)[0], copy=True))
    return info.input_name, tensors


class _Reader:
    """onnxruntime's CalibrationDataReader over prepared tensors."""

    def __init__(self, name: str, tensors: Sequence[np.ndarray]) -> None:
        self._name, self._tensors = name, tensors
        self._it: Iterator[np.ndarray] = iter(tensors)

    def get_next(self) -> dict[str, np.ndarray] | None:
        t = next(self._it, None)
        return None if t is None else {self._name: t}

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return ({self._name: t} for t in self._tensors)

    def rewind(self) -> None:
        self._it = iter(self._tensors)


def _named(src: Path, dst: Path) -> onnx.ModelProto:
    """The model of ``src`` with every node named (the quantizer excludes nodes by name), saved to ``dst``."""
    model = onnx.load(str(src))
    for i, node in enumerate(model.graph.node):
        if not node.name:
            node.name = f"{node.op_type}_{i}"
    onnx.save(model, str(dst))
    return model


def _input_convs(model: onnx.ModelProto) -> dict[str, str]:
    """The convolutions that read the image input: kept in float so the daemon can fold its conversion in."""
    name = model.graph.input[0].name
    return {n.name: "reads the image (input conversion folds into it)" for n in model.graph.node if name in n.input}


COMPUTE_OPS = {"Conv", "ConvTranspose", "MatMul", "Gemm"}


def _output_tail(model: onnx.ModelProto) -> dict[str, str]:
    """Nodes between the last convolutions and the graph's outputs (box decoding, sigmoid, concatenation of boxes in
    pixels with scores in 0..1): one int8 scale over values that far apart would zero the scores, so they stay float."""
    producer = {out: n for n in model.graph.node for out in n.output}
    tail: dict[str, str] = {}
    todo = [o.name for o in model.graph.output]
    while todo:
        node = producer.get(todo.pop())
        if node is None or node.name in tail or node.op_type in COMPUTE_OPS:
            continue
        tail[node.name] = "decodes the outputs (after the last convolution)"
        todo.extend(node.input)
    return tail


def _sensitive(float_path: Path, qdq_path: Path, reader: _Reader, max_drop_db: float, model: onnx.ModelProto) -> dict:
    """Convolutions (and matrix products) that lose more than ``max_drop_db`` of signal-to-noise ratio against the
    float model, from their inputs to their output, on the calibration frames."""
    from onnxruntime.quantization.qdq_loss_debug import (
        collect_activations,
        compute_activation_error,
        create_activation_matching,
        modify_model_output_intermediate_tensors,
    )

    with tempfile.TemporaryDirectory() as tmp:
        acts = []
        for src in (qdq_path, float_path):
            aug = Path(tmp) / f"aug_{src.name}"
            modify_model_output_intermediate_tensors(str(src), str(aug))
            acts.append(collect_activations(str(aug), reader))
        errors = compute_activation_error(create_activation_matching(acts[0], acts[1]))
    producer = {out: n for n in model.graph.node for out in n.output}
    found = {}
    for tensor, err in errors.items():
        node = producer.get(tensor)
        if node is None or node.op_type not in COMPUTE_OPS:
            continue
        got = float(err.get("xmodel_err", np.inf))
        fed = [float(errors[i]["xmodel_err"]) for i in node.input if i in errors and "xmodel_err" in errors[i]]
        if not fed:  # reads the graph's input (kept float already) or nothing measured: nothing to attribute
            continue
        before = min(fed)
        if before - got > max_drop_db:
            found[node.name] = f"quantized, it costs {before - got:.1f} dB of SQNR against the float model"
    return found


def quantize(
    settings: DetectorSettings, images: Sequence[Path], out: Path, max_drop_db: float = 3.0, method: str = "minmax"
) -> QuantizeResult:
    """Write the INT8 QDQ model of ``settings.model`` calibrated on ``images`` to ``out``."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    name, tensors = calibration_tensors(settings, images)
    reader = _Reader(name, tensors)
    calib = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy}[method]
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(settings.model, str(pre), skip_symbolic_shape=True)
        model = _named(pre, pre)
        keep = {**_input_convs(model), **_output_tail(model)}

        def run(exclude: dict[str, str], dst: Path) -> None:
            reader.rewind()
            quantize_static(
                str(pre),
                str(dst),
                reader,
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                per_channel=True,
                calibrate_method=calib,
                nodes_to_exclude=sorted(exclude),
            )

        first = Path(tmp) / "first.onnx"
        run(keep, first)
        measured = _sensitive(pre, first, _Reader(name, tensors[:SENSITIVITY_FRAMES]), max_drop_db, model)
        keep.update({k: v for k, v in measured.items() if k not in keep})
        out.parent.mkdir(parents=True, exist_ok=True)
        run(keep, out)
    final = onnx.load(str(out))
    original = onnx.load(settings.model, load_external_data=False)
    meta = {p.key: p.value for p in original.metadata_props}  # names, imgsz, stride...: the quantizer drops them
    meta["quantization"] = json.dumps({"format": "QDQ int8", "calibration_frames": len(tensors), "float_nodes": keep})
    del final.metadata_props[:]
    for k, v in meta.items():
        final.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    onnx.save(final, str(out))
    return QuantizeResult(out, keep, len(tensors))


def raw_speed(models: Sequence[str], tensors: Sequence[np.ndarray], seconds: float = 4.0) -> list[float]:
    """Runs/s of each model on the same tensors, interleaved in short rounds (one model at a time, side by side)."""
    import onnxruntime as ort

    sessions = [ort.InferenceSession(m, providers=["CPUExecutionProvider"]) for m in models]
    name = sessions[0].get_inputs()[0].name
    for s in sessions:
        s.run(None, {name: tensors[0]})
    runs, spent = [0] * len(models), [0.0] * len(models)
    t_end = time.monotonic() + seconds * len(models)
    i = 0
    while time.monotonic() < t_end:
        for k, s in enumerate(sessions):
            t0 = time.perf_counter()
            for _ in range(3):
                s.run(None, {name: tensors[i % len(tensors)]})
                i += 1
            spent[k] += time.perf_counter() - t0
            runs[k] += 3
    return [r / t for r, t in zip(runs, spent, strict=True)]


def output_agreement(models: Sequence[str], tensors: Sequence[np.ndarray]) -> float:
    """SQNR (dB) of the second model's outputs against the first's over ``tensors``."""
    import onnxruntime as ort

    a, b = (ort.InferenceSession(m, providers=["CPUExecutionProvider"]) for m in models)
    name = a.get_inputs()[0].name
    signal = noise = 0.0
    for t in tensors:
        for x, y in zip(a.run(None, {name: t}), b.run(None, {name: t}), strict=True):
            x64, y64 = np.asarray(x, np.float64), np.asarray(y, np.float64)
            signal += float(np.sum(x64**2))
            noise += float(np.sum((x64 - y64) ** 2))
    return 10 * np.log10(signal / max(noise, 1e-30))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="edge model quantize", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("model", help="float ONNX model")
    p.add_argument("--calibrate", type=Path, required=True, help="folder of representative frames (100-500 is plenty)")
    p.add_argument("--out", type=Path, help="INT8 model to write (default: MODEL.int8.onnx beside it)")
    p.add_argument("--config", help="daemon config whose [detector] preprocessing applies")
    p.add_argument("--frames", type=int, default=200, help="calibration images to use at most (default %(default)s)")
    p.add_argument(
        "--max-drop-db", type=float, default=3.0, help="keep in float a layer that loses more SNR than this (dB)"
    )
    p.add_argument("--method", choices=["minmax", "entropy"], default="minmax", help="calibration method")
    p.add_argument("--images", type=Path, help="labelled images to compare mAP on (with --labels)")
    p.add_argument("--labels", type=Path, help="YOLO labels folder or COCO JSON for --images")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    ns = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from edge.config import ConfigError, detector_settings
    from edge.detect.session import ModelError

    try:
        settings = detector_settings(ns.config, ns.model)
    except ConfigError as err:
        print(f"edge model quantize: {err}", file=sys.stderr)
        return 2
    out = ns.out or Path(ns.model).with_suffix(".int8.onnx")

    try:
        files = image_files(ns.calibrate)
        step = max(1, len(files) // max(ns.frames, 1))
        files = files[::step][: ns.frames]
        result = quantize(settings, files, out, ns.max_drop_db, ns.method)
        _name, tensors = calibration_tensors(settings, files[:: max(1, len(files) // 20)])
        fps_float, fps_int8 = raw_speed([ns.model, str(out)], tensors)
        report: dict[str, object] = {
            "model": ns.model,
            "int8_model": str(out),
            "calibration_frames": result.calibration_frames,
            "kept_in_float": result.float_nodes,
            "raw_fps_float": round(fps_float, 2),
            "raw_fps_int8": round(fps_int8, 2),
            "int8_speedup": round(fps_int8 / fps_float, 3),
            "output_sqnr_db": round(output_agreement([ns.model, str(out)], tensors), 1),
        }
        if ns.images and ns.labels:
            from edge.detect.datasets import load
            from edge.detect.evaluate import evaluate

            data = load(ns.images, ns.labels)
            for key, path in (("float", ns.model), ("int8", str(out))):
                rep = evaluate(settings.model_copy(update={"model": path}), data, quiet=True)[0]
                report[f"map50_{key}"] = rep["all"]["map50"]
                report[f"map50_95_{key}"] = rep["all"]["map50_95"]
    except (DatasetError, ModelError) as err:
        print(f"edge model quantize: {err}", file=sys.stderr)
        return 2
    if ns.json:
        print(json.dumps(report))
    else:
        for k, v in report.items():
            print(f"{k:20s} {json.dumps(v) if isinstance(v, dict) else v}")
    return 0
