"""Raw model outputs -> candidate boxes, one decoder per output layout, and layout recognition.

Every decoder returns ``(xyxy (N, 4) float32, score (N,) float32, class_id (N,) int64)`` with boxes in
model-input pixels (or input fractions when the model gives normalised boxes; see ``denormalise``), keeping
only candidates with score >= ``min_score``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from edge.detect.nms import cxcywh_to_xyxy

LAYOUTS = ("yolov5", "yolov8", "end2end", "tf")
Decoded = tuple[np.ndarray, np.ndarray, np.ndarray]


class LayoutError(ValueError):
    """The outputs match no known layout (or not the configured one)."""


def _cxcywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    """(N, 4) centre-x, centre-y, width, height -> (N, 4) float32 x1, y1, x2, y2."""
    return cxcywh_to_xyxy(np.asarray(b, np.float32))


def _squeeze_batch(a: np.ndarray, rank: int) -> np.ndarray:
    if a.ndim == rank + 1:
        if a.shape[0] != 1:
            raise LayoutError(f"batch size {a.shape[0]} in output of shape {a.shape}; export with batch 1")
        return a[0]
    if a.ndim != rank:
        raise LayoutError(f"output of shape {a.shape} has rank {a.ndim}, expected {rank} (+ batch)")
    return a


def decode_yolov5(out: np.ndarray, min_score: float) -> Decoded:
    """[1, N, 5 + nc]: cx, cy, w, h, objectness, class scores; score = objectness * best class score."""
    p = _squeeze_batch(out, 2)
    p = p[p[:, 4] >= min_score]
    cls = p[:, 5:]
    cid = cls.argmax(1) if cls.shape[1] else np.zeros(len(p), np.int64)
    conf = p[:, 4] * (cls[np.arange(len(p)), cid] if cls.shape[1] else 1.0)
    keep = conf >= min_score
    return _cxcywh_to_xyxy(p[keep, :4]), conf[keep].astype(np.float32), cid[keep].astype(np.int64)


def decode_yolov8(out: np.ndarray, min_score: float) -> Decoded:
    """[1, 4 + nc, N] (YOLOv8 / YOLO11): cx, cy, w, h, class scores (no objectness), one column per anchor."""
    p = _squeeze_batch(out, 2)
    conf = p[4:].max(0)  # a plain reduction over all anchors; the rest only for the few that pass
    keep = np.flatnonzero(conf >= min_score)
    sel = p[:, keep]  # (4 + nc, K)
    cid = sel[4:].argmax(0).astype(np.int64, copy=False)
    return _cxcywh_to_xyxy(sel[:4].T), conf[keep].astype(np.float32, copy=False), cid


def decode_end2end(out: np.ndarray, min_score: float) -> Decoded:
    """[1, K, 6]: x1, y1, x2, y2, score, class (YOLOv10-style and NMS-in-graph exports)."""
    p = _squeeze_batch(out, 2)
    p = p[p[:, 4] >= min_score]
    return p[:, :4].astype(np.float32), p[:, 4].astype(np.float32), np.rint(p[:, 5]).astype(np.int64)


def decode_tf(outs: Mapping[str, np.ndarray], min_score: float) -> Decoded:
    """TF object-detection outputs: boxes [1, N, 4] (ymin, xmin, ymax, xmax), scores [1, N], classes [1, N], count."""
    boxes = _squeeze_batch(outs["boxes"], 2)
    scores = outs["scores"].reshape(-1)
    classes = outs["classes"].reshape(-1)
    n = len(scores)
    if "count" in outs:
        n = min(n, int(np.asarray(outs["count"]).reshape(-1)[0]))
    boxes, scores, classes = boxes[:n], scores[:n], classes[:n]
    keep = scores >= min_score
    xyxy = boxes[keep][:, [1, 0, 3, 2]].astype(np.float32)
    return xyxy, scores[keep].astype(np.float32), np.rint(classes[keep]).astype(np.int64)


TF_ROLES = {"boxes": ("box",), "scores": ("score",), "classes": ("class", "label"), "count": ("num", "count")}


def tf_roles(names: Sequence[str]) -> dict[str, int]:
    """Output index by role (boxes, scores, classes, count) from the output names; {} if they don't fit."""
    roles: dict[str, int] = {}
    for i, name in enumerate(names):
        low = name.lower()
        for role, keys in TF_ROLES.items():
            if role not in roles and any(k in low for k in keys):
                roles[role] = i
                break
    return roles if {"boxes", "scores", "classes"} <= roles.keys() else {}


def recognise(
    names: Sequence[str], shapes: Sequence[tuple[int, ...]], metadata: Mapping[str, str], nc: int | None
) -> str:
    """The layout of outputs with these names and (actual) shapes; ``nc`` is the class count when known."""
    if len(names) >= 3 and tf_roles(names):
        return "tf"
    rank3 = [s for s in shapes if len(s) == 3]
    if not rank3:
        raise LayoutError(f"no output of rank 3 among {list(shapes)} and the names {list(names)} are not TF-style")
    _, a, b = rank3[0]
    v8 = a == 4 + nc if nc is not None else 5 <= a < b
    v5 = b == 5 + nc if nc is not None else 6 <= b < a
    e2e = b == 6 and a > b and ("imgsz" in metadata or nc != 1 or a <= 1000)
    if v8 and (not v5 or a < b):
        return "yolov8"
    if e2e:
        return "end2end"
    if v5:
        return "yolov5"
    raise LayoutError(
        f"output shape {rank3[0]} fits no known layout with {nc if nc is not None else 'an unknown number of'} classes"
    )


def fits(layout: str, shapes: Sequence[tuple[int, ...]]) -> bool:
    """Whether outputs of these shapes can be decoded as ``layout`` (a config override is checked with this)."""
    rank3 = [s for s in shapes if len(s) == 3 and s[0] == 1]
    if not rank3:
        return False
    _, a, b = rank3[0]
    return {"yolov8": a >= 5, "yolov5": 6 <= b < a, "end2end": b == 6}.get(layout, False)


def denormalise(xyxy: np.ndarray, normalised: str, layout: str, dst_hw: tuple[int, int]) -> np.ndarray:
    """Scale fraction boxes to model-input pixels when ``normalised`` is yes (or auto and they look like fractions)."""
    if not len(xyxy):
        return xyxy
    norm = normalised == "yes" or (normalised == "auto" and (layout == "tf" or float(np.abs(xyxy).max()) <= 1.5))
    if not norm:
        return xyxy
    h, w = dst_hw
    return xyxy * np.asarray([w, h, w, h], np.float32)
