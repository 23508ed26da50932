"""The ONNX detection engine: frame -> (gating) -> tiles -> preprocess -> onnxruntime | decode -> filters -> NMS.

``OnnxDetector`` satisfies ``edge.stages.Detector``; boxes come back in original-image pixels. ``infer`` does the
part before the bar and returns the part after it, so a pipeline can overlap the two on consecutive frames.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from edge.detect.decoders import (
    Decoded,
    decode_end2end,
    decode_rtdetr,
    decode_ssd,
    decode_tf,
    decode_yolov5,
    decode_yolov8,
    decode_yolox,
    denormalise,
    yolox_grid,
)
from edge.detect.model import check_classes, load_model
from edge.detect.motion import MotionGate
from edge.detect.nms import keep_mask, nms
from edge.detect.preprocess import Transform, preprocess, to_original
from edge.detect.session import ModelError
from edge.detect.settings import DetectorSettings
from edge.detect.shared import SharedModels
from edge.detect.tiling import tile_windows
from edge.stages import Health
from edge.types import Detections, Frame

__all__ = ["ModelError", "OnnxDetector"]

log = logging.getLogger(__name__)


class OnnxDetector:
    """``edge.stages.Detector`` on onnxruntime; raises ModelError (naming the config key) for a bad model."""

    name = "detector"

    def __init__(self, settings: DetectorSettings, models: SharedModels | None = None) -> None:
        """``models``: where sessions are shared with other cameras' detectors (a model file is loaded once)."""
        self.settings = s = settings
        cv2.setNumThreads(s.opencv_threads if s.opencv_threads > 0 else -1)  # process-wide; -1: OpenCV's default
        self.session, self.info = models.load(s) if models is not None else load_model(s)
        self.class_names: list[str] = list(self.info.labels)
        self.model_name = Path(s.model).name
        names = self.class_names
        check_classes(s, names)
        self._thresholds = np.asarray([s.class_thresholds.get(n, s.conf_threshold) for n in names], np.float32)
        self._min_score = float(min(self._thresholds.min(), s.conf_threshold))
        self._allowed = np.asarray([n in s.classes for n in names]) if s.classes else None
        self._masks = [np.asarray(p, np.float32).reshape(-1, 2) for p in s.exclusion_masks]
        self._gate = MotionGate(s.gating) if s.gating.enabled else None
        self._last = Detections.empty()
        self._buf: np.ndarray | None = None  # the input tensor, reused while its shape holds
        self._grids: dict[tuple[int, int], np.ndarray] = {}  # yolox anchor points by input size
        self._lock = threading.Lock()
        self.inferences = 0
        self.frames = 0
        self.gated = 0
        self._infer_s = 0.0
        self._infer_last = 0.0
        dummy = np.zeros((*(self.info.spec.size or self.info.spec.max_size), 3), np.uint8)
        for _ in range(s.warmup_runs):
            self._infer(dummy)
        log.info(
            "detector: %s layout %s, %d classes, input %s, conversion %s",
            s.model,
            self.info.layout,
            len(names),
            self.info.model_spec.describe(),
            self.info.conversion,
        )

    def detect(self, frame: Frame) -> Detections:
        """Boxes in ``frame.image`` pixels: ``infer(frame)()``."""
        return self.infer(frame)()

    def infer(self, frame: Frame, ready: Callable[[], None] | None = None) -> Callable[[], Detections]:
        """The half of ``detect`` that needs the frame (gating, tiles, preprocessing, the model runs); returns the
        other half (decoding, filters, NMS), which the pipeline runs on its second thread while the model works on
        the next frame. With gating on, a static frame runs no model: its half returns the last boxes shifted by
        the platform's motion. Call the returned halves in frame order.

        ``ready`` is called once, when the first input tensor is made and the model is about to run (or at once
        for a gated frame): the pipeline hands the previous frame's half on then, so that its Python work overlaps
        the model run (which frees the GIL) rather than the preprocessing (which needs the GIL back to start the
        run)."""
        self.frames += 1
        if self._gate is not None:
            d = self._gate.decide(frame.image, frame.t_mono)
            if not d.run:
                self.gated += 1
                if ready is not None:
                    ready()
                return partial(self._shifted, np.asarray([*d.shift, *d.shift], np.float32))
        t = self.settings.tiling
        runs = []
        for x0, y0, x1, y1 in tile_windows(frame.width, frame.height, t.cols, t.rows, t.overlap, t.full_frame):
            runs.append(((x0, y0), *self._infer(frame.image[y0:y1, x0:x1], ready)))
            ready = None
        return partial(self._decode, runs)

    def _shifted(self, shift: np.ndarray) -> Detections:
        last = self._last
        return Detections(last.xyxy + shift, last.score, last.class_id) if len(last) else last

    def _decode(self, runs: list[tuple[tuple[int, int], list[np.ndarray], Transform]]) -> Detections:
        """Model outputs of each tile (its origin in the frame, outputs, transform) -> the frame's detections."""
        parts = [self._candidates(outs, tf, origin) for origin, outs, tf in runs]
        if len(parts) == 1:
            xyxy, score, cid = parts[0]
        else:
            xyxy, score, cid = (np.concatenate([p[i] for p in parts]) for i in range(3))
        if len(cid) and int(cid.max()) >= len(self.class_names):
            self._grow_classes(int(cid.max()) + 1)
        ok = keep_mask(xyxy, score, cid, self._thresholds, self._allowed, self.settings.min_box_px, self._masks)
        xyxy, score, cid = xyxy[ok], score[ok], cid[ok]
        groups = np.zeros_like(cid) if self.settings.agnostic_nms else cid
        keep = nms(xyxy, score, groups, self.settings.iou_threshold, self.settings.max_detections)
        # valid by construction (float32 finite boxes, float32 scores, int64 classes): skip the checks
        dets = Detections.trusted(xyxy[keep], score[keep], cid[keep], np.full(len(keep), -1, np.int64))
        self._last = dets
        return dets

    def _grow_classes(self, n: int) -> None:
        """The model gave a class id beyond its known names: extend them (generic names, default threshold)."""
        k = len(self.class_names)
        log.warning("detector: class id %d beyond the %d known class names; add detector.labels", n - 1, k)
        self.class_names.extend(f"class{i}" for i in range(k, n))
        self._thresholds = np.concatenate([self._thresholds, np.full(n - k, self.settings.conf_threshold, np.float32)])
        if self._allowed is not None:
            self._allowed = np.concatenate([self._allowed, np.zeros(n - k, bool)])

    def _infer(self, image: np.ndarray, ready: Callable[[], None] | None = None) -> tuple[list[np.ndarray], Transform]:
        """One model run on ``image`` (``ready`` called just before it): (the model's outputs, the image ->
        model-input transform)."""
        info = self.info
        tensor, tf = preprocess(image, info.spec, self.settings.thermal, self._buf)
        if tensor.flags.writeable:  # else a view of the frame itself: not a buffer to fill next time
            self._buf = tensor
        if ready is not None:
            ready()
        t0 = time.perf_counter()
        outs = self.session.run(None, {info.input_name: tensor})
        dt = time.perf_counter() - t0
        with self._lock:
            self.inferences += 1
            self._infer_s += dt
            self._infer_last = dt
        return outs, tf

    def _candidates(self, outs: list[np.ndarray], tf: Transform, origin: tuple[int, int]) -> Decoded:
        """One run's outputs -> candidates above the lowest threshold, in frame pixels (``origin``: the tile's
        top-left corner in the frame)."""
        info, s = self.info, self.settings
        roles, floor = info.roles, self._min_score
        if info.layout == "tf":
            decoded = decode_tf({role: outs[i] for role, i in roles.items()}, floor)
        elif info.layout == "ssd":
            boxes, scores = (np.asarray(outs[roles[r]], np.float32) for r in ("boxes", "scores"))
            yx = s.anchors.order == "yxhw"
            decoded = decode_ssd(boxes, scores, floor, info.anchors, s.anchors.variance, info.background, yx)
        elif info.layout == "yolox":
            decoded = decode_yolox(np.asarray(outs[roles["output"]], np.float32), floor, self._yolox_grid(tf.dst))
        else:
            decode = {
                "yolov5": decode_yolov5,
                "yolov8": decode_yolov8,
                "end2end": decode_end2end,
                "rtdetr": decode_rtdetr,
            }[info.layout]
            decoded = decode(np.asarray(outs[roles["output"]], np.float32), floor)
        xyxy = to_original(denormalise(decoded[0], s.boxes_normalized, info.layout, tf.dst), tf)
        if origin != (0, 0):
            xyxy += np.asarray([*origin, *origin], np.float32)
        return xyxy, decoded[1], decoded[2]

    def _yolox_grid(self, hw: tuple[int, int]) -> np.ndarray:
        if hw not in self._grids:
            self._grids[hw] = yolox_grid(hw)
        return self._grids[hw]

    def health(self) -> Health:
        with self._lock:
            return {
                "name": self.name,
                "model": self.settings.model,
                "provider": self.info.provider,
                "layout": self.info.layout,
                "frames": self.frames,
                "inferences": self.inferences,
                "gated_frames": self.gated,
                "inference_ms_last": round(self._infer_last * 1e3, 2),
                "inference_ms_mean": round(self._infer_s * 1e3 / max(self.inferences, 1), 2),
            }
