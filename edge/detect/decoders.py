"""Raw model outputs -> candidate boxes, one decoder per output layout, and layout recognition.

Every decoder returns ``(xyxy (N, 4) float32, score (N,) float32, class_id (N,) int64)`` with boxes in
model-input pixels (or input fractions when the model gives normalised boxes; see ``denormalise``), keeping
only candidates with score >= ``min_score``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from edge.detect.nms import cxcywh_to_xyxy

LAYOUTS = ("yolov5", "yolov8", "end2end", "tf", "rtdetr", "yolox", "ssd")
NORMALISED_LAYOUTS = ("tf", "rtdetr", "ssd")  # boxes are fractions of the input unless detector.boxes_normalized = no
YOLOX_STRIDES = (8, 16, 32)
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


def decode_rtdetr(out: np.ndarray, min_score: float) -> Decoded:
    """[1, K, 4 + nc] (Ultralytics RT-DETR): cx, cy, w, h (input fractions), class scores after a sigmoid."""
    p = _squeeze_batch(out, 2)
    conf = p[:, 4:].max(1)
    keep = np.flatnonzero(conf >= min_score)
    sel = p[keep]
    cid = sel[:, 4:].argmax(1).astype(np.int64, copy=False)
    return _cxcywh_to_xyxy(sel[:, :4]), conf[keep].astype(np.float32, copy=False), cid


def yolox_grid(hw: tuple[int, int], strides: Sequence[int] = YOLOX_STRIDES) -> np.ndarray:
    """(N, 3) float32 rows (cell x, cell y, stride) of YOLOX's anchor points for an input of ``hw`` (height, width)
    px, strides in order and cells row-major, as YOLOX's head concatenates them."""
    parts = []
    for st in strides:
        gy, gx = np.mgrid[0 : -(-hw[0] // st), 0 : -(-hw[1] // st)]
        parts.append(np.stack([gx.ravel(), gy.ravel(), np.full(gx.size, st)], 1))
    return np.concatenate(parts).astype(np.float32)


def decode_yolox(out: np.ndarray, min_score: float, grid: np.ndarray) -> Decoded:
    """[1, N, 5 + nc] raw YOLOX head (exported without decode_in_inference): x, y offsets in cells, log w, h in
    strides, objectness and class scores after a sigmoid; ``grid`` from ``yolox_grid`` (N, 3)."""
    p = _squeeze_batch(out, 2)
    if len(p) != len(grid):
        raise LayoutError(f"{len(p)} anchors but the input size gives {len(grid)} for strides {YOLOX_STRIDES}")
    keep = np.flatnonzero(p[:, 4] >= min_score)
    p, g = p[keep].copy(), grid[keep]
    p[:, :2] = (p[:, :2] + g[:, :2]) * g[:, 2:]
    p[:, 2:4] = np.exp(np.minimum(p[:, 2:4], 20.0)) * g[:, 2:]
    return decode_yolov5(p, min_score)


def decode_ssd(
    boxes: np.ndarray,
    scores: np.ndarray,
    min_score: float,
    anchors: np.ndarray | None = None,
    variance: Sequence[float] = (0.1, 0.1, 0.2, 0.2),
    skip_first: bool = False,
    yx_first: bool = False,
) -> Decoded:
    """SSD-style separate outputs: boxes [1, N, 4] and scores [1, N, C] (softmax or sigmoid).

    Without ``anchors`` the boxes are x1, y1, x2, y2 (e.g. pytorch-ssd exports). With ``anchors`` (N, 4) rows cx, cy,
    w, h, the boxes are offsets dx, dy, dw, dh: cx = ax + dx·var0·aw, w = aw·exp(dw·var2) (TF's scale factors 10, 10,
    5, 5 are variances 0.1, 0.1, 0.2, 0.2). ``yx_first``: the offsets come as dy, dx, dh, dw (TF's order; the
    anchors are given already in x-first order). ``skip_first``: score column 0 is the background; class ids are the
    remaining columns' indices minus one."""
    b = _squeeze_batch(boxes, 2)
    sc = _squeeze_batch(scores, 2)
    if len(b) != len(sc) or b.shape[1] != 4:
        raise LayoutError(f"boxes {boxes.shape} and scores {scores.shape} do not pair up")
    if skip_first:
        sc = sc[:, 1:]
    conf = sc.max(1)
    keep = np.flatnonzero(conf >= min_score)
    cid = sc[keep].argmax(1).astype(np.int64)
    b = b[keep].astype(np.float32)
    if anchors is not None:
        if len(anchors) != len(sc):
            raise LayoutError(f"{len(anchors)} anchors for {len(sc)} boxes")
        a = anchors[keep]
        if yx_first:
            b = b[:, [1, 0, 3, 2]]
        v = np.asarray(variance, np.float32)
        cxcy = a[:, :2] + b[:, :2] * v[:2] * a[:, 2:]
        wh = a[:, 2:] * np.exp(np.minimum(b[:, 2:] * v[2:], 20.0))
        b = _cxcywh_to_xyxy(np.concatenate([cxcy, wh], 1))
    return b, conf[keep].astype(np.float32), cid


def ssd_roles(shapes: Sequence[tuple[int, ...]]) -> dict[str, int]:
    """Output index of the boxes [1, N, 4] and the scores [1, N, C] (C != 4 or the other one); {} if none pair."""
    rank3 = [(i, s) for i, s in enumerate(shapes) if len(s) == 3 and s[0] == 1]
    for i, s in rank3:
        if s[2] == 4:
            for j, t in rank3:
                if j != i and t[1] == s[1] and t[2] >= 1:
                    return {"boxes": i, "scores": j}
    return {}


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
    if len(shapes) >= 2 and ssd_roles(shapes):
        return "ssd"
    rank3 = [s for s in shapes if len(s) == 3]
    if not rank3:
        raise LayoutError(f"no output of rank 3 among {list(shapes)} and the names {list(names)} are not TF-style")
    _, a, b = rank3[0]
    v8 = a == 4 + nc if nc is not None else 5 <= a < b
    v5 = b == 5 + nc if nc is not None else 6 <= b < a
    e2e = b == 6 and a > b and ("imgsz" in metadata or nc != 1 or a <= 1000)
    detr = "detr" in metadata.get("description", "").lower()
    rtdetr = b >= 5 and a > b and (b == 4 + nc if nc is not None else detr) and (detr or a <= 1000)
    if v8 and (not v5 or a < b):
        return "yolov8"
    if e2e and not (detr and rtdetr):
        return "end2end"
    if rtdetr:
        return "rtdetr"
    if v5:
        return "yolov5"
    raise LayoutError(
        f"output shape {rank3[0]} fits no known layout with {nc if nc is not None else 'an unknown number of'} classes"
    )


def fits(layout: str, shapes: Sequence[tuple[int, ...]]) -> bool:
    """Whether outputs of these shapes can be decoded as ``layout`` (a config override is checked with this)."""
    if layout == "ssd":
        return bool(ssd_roles(shapes))
    rank3 = [s for s in shapes if len(s) == 3 and s[0] == 1]
    if not rank3:
        return False
    _, a, b = rank3[0]
    fit = {"yolov8": a >= 5, "yolov5": 6 <= b < a, "yolox": 6 <= b < a, "end2end": b == 6, "rtdetr": b >= 5}
    return fit.get(layout, False)


def denormalise(xyxy: np.ndarray, normalised: str, layout: str, dst_hw: tuple[int, int]) -> np.ndarray:
    """Scale fraction boxes to model-input pixels when ``normalised`` is yes (or auto and they look like fractions)."""
    if not len(xyxy):
        return xyxy
    norm = normalised == "yes" or (
        normalised == "auto" and (layout in NORMALISED_LAYOUTS or float(np.abs(xyxy).max()) <= 1.5)
    )
    if not norm:
        return xyxy
    h, w = dst_hw
    return xyxy * np.asarray([w, h, w, h], np.float32)
