"""Pieces of the vision benchmark: a stand-in model, a memory camera, the daemon's pipeline timed per frame, recall.

Bench-only code (imports onnx; never imported by the daemon).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.detect.nms import iou_matrix
from edge.geo.locator import GroundGeolocator
from edge.geo.settings import GeoSettings
from edge.pipeline import Pipeline
from edge.sources.camera import LatestSlot
from edge.stages import CameraSource, Detector, Tracker
from edge.types import Frame, Pose


def make_standin_model(path: Path, size: tuple[int, int] = (480, 640), nc: int = 3, seed: int = 0) -> Path:
    """A YOLOv8-layout CNN ([1, 3, H, W] -> [1, 4 + nc, H/16 * W/16]) with random weights and roughly the
    compute of a small real detector (~1 GFLOP at 480x640); class logits biased to -6 so few boxes pass."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    chans = [3, 16, 32, 64, 96, 128, 128, 128]
    strides = [2, 2, 2, 2, 1, 1, 1]
    x = "images"
    for i, (cin, cout, s) in enumerate(zip(chans[:-1], chans[1:], strides, strict=True)):
        w = (rng.standard_normal((cout, cin, 3, 3)) * np.sqrt(2.0 / (cin * 9))).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(np.zeros(cout, np.float32), f"b{i}")]
        nodes.append(helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [f"c{i}"], pads=[1, 1, 1, 1], strides=[s, s]))
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
        x = f"r{i}"
    wh = (rng.standard_normal((4 + nc, chans[-1], 1, 1)) * 0.05).astype(np.float32)
    bh = np.concatenate([[size[1] / 2, size[0] / 2, 40, 40], np.full(nc, -6.0)]).astype(np.float32)
    inits += [numpy_helper.from_array(wh, "wh"), numpy_helper.from_array(bh, "bh")]
    inits.append(numpy_helper.from_array(np.asarray([1, 4 + nc, -1], np.int64), "shape"))
    nodes += [
        helper.make_node("Conv", [x, "wh", "bh"], ["head"]),
        helper.make_node("Reshape", ["head", "shape"], ["flat"]),
        helper.make_node("Split", ["flat", "split4"], ["box", "logit"], axis=1),
        helper.make_node("Sigmoid", ["logit"], ["score"]),
        helper.make_node("Concat", ["box", "score"], ["output0"], axis=1),
    ]
    inits.append(numpy_helper.from_array(np.asarray([4, nc], np.int64), "split4"))
    inp = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, *size])
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + nc, None])
    model = helper.make_model(
        helper.make_graph(nodes, "standin", [inp], [out], inits), opset_imports=[helper.make_opsetid("", 17)]
    )
    model.ir_version = 8
    meta = {"names": "{0: 'person', 1: 'vehicle', 2: 'boat'}", "imgsz": f"[{size[0]}, {size[1]}]", "stride": "32"}
    for k, v in meta.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    onnx.save(model, str(path))
    return path


class MemoryCamera:
    """A CameraSource over images in memory at ``fps`` (grab time = when the frame is put in the slot)."""

    name = "camera:memory"

    def __init__(self, images: list[np.ndarray], fps: float) -> None:
        self._images, self._period = images, 1.0 / fps
        self._slot = LatestSlot()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.received = 0

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.is_set():
            self.received += 1
            now = time.monotonic()
            self._slot.put(Frame(self._images[self.received % len(self._images)], now, time.time(), self.received))
            self._stop.wait(max(0.0, t0 + self.received * self._period - time.monotonic()))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)

    def health(self) -> dict[str, object]:
        return {"frames_received": self.received}

    def latest(self, timeout: float, after_seq: int = -1) -> Frame | None:
        return self._slot.get(timeout, after_seq)

    def peek(self) -> Frame | None:
        return self._slot.peek()


@dataclass
class PipelineRun:
    """What one run of the pipeline loop measured (times in s)."""

    frames: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0
    latency: list[float] = field(default_factory=list)  # capture -> tracked detections
    age: list[float] = field(default_factory=list)  # frame age when the detector took it

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


class LookingDown:
    """A PoseStore with one pose: 120 m above the ground (the geolocator's default 0 m), camera 45 deg down."""

    def pose_at(self, t_mono: float) -> Pose | None:
        return Pose(t_mono, 42.6, 19.9, 120.0, cam_pitch=-math.pi / 4)


def run_pipeline(camera: CameraSource, detector: Detector, tracker: Tracker, seconds: float) -> PipelineRun:
    """The daemon's ``Pipeline`` (its two threads, a geolocator with a pose, no sinks) on ``camera`` for ``seconds``
    of wall time; every frame's age at inference and capture -> tracked latency come from its observer hook."""
    run = PipelineRun()

    def observe(frame: Frame, t_infer: float) -> None:
        run.age.append(t_infer - frame.t_mono)
        run.latency.append(time.monotonic() - frame.t_mono)
        run.frames += 1

    pipe = Pipeline(camera, detector, tracker, GroundGeolocator(GeoSettings()), LookingDown(), [], observe)
    camera.start()
    if camera.latest(10.0) is None:
        raise RuntimeError("bench camera gave no frame")
    c0, t0 = time.process_time(), time.monotonic()
    pipe.start()
    time.sleep(seconds)
    pipe.stop()
    run.seconds, run.cpu_s = time.monotonic() - t0, time.process_time() - c0
    camera.stop()
    return run


def recall(gt_boxes: list[np.ndarray], pred_boxes: list[np.ndarray], iou: float = 0.5) -> tuple[int, int]:
    """(found, total) ground-truth boxes matched by a prediction at IoU >= ``iou`` (class-agnostic, per frame)."""
    found = total = 0
    for gt, pred in zip(gt_boxes, pred_boxes, strict=True):
        total += len(gt)
        if len(gt) and len(pred):
            found += int((iou_matrix(gt.astype(np.float32), pred.astype(np.float32)).max(1) >= iou).sum())
    return found, total
