"""Average precision as COCO's evaluation defines it (bbox, all areas, 100 detections per image and class).

Per image and class, detections in score order take the unmatched ground-truth box of highest IoU at or above the
threshold; over all images a class's detections are ranked by score (stable sort, images in order), precision is made
monotone from the right and read at 101 recall points; AP is their mean. mAP@0.5:0.95 averages ten IoU thresholds,
and classes with no ground truth are left out of the mean. The test suite checks these figures against pycocotools on
the same data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
MAX_DETS = 100

F64 = npt.NDArray[np.float64]


@dataclass
class ImageResult:
    """One image's detections (boxes (D, 4) x1, y1, x2, y2 px, scores (D,), class indices (D,)) and ground truth
    (boxes (G, 4), class indices (G,)); class indices into the evaluation's class list."""

    det_boxes: F64
    det_scores: F64
    det_classes: npt.NDArray[np.int64]
    gt_boxes: F64
    gt_classes: npt.NDArray[np.int64]


def iou(a: F64, b: F64) -> F64:
    """(A, B) IoU of boxes (A, 4) and (B, 4), x1, y1, x2, y2."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def match(ious: F64, threshold: float) -> npt.NDArray[np.bool_]:
    """(D,) True for each detection (rows of ``ious``, in score order) that takes a ground-truth box (columns)."""
    taken = np.zeros(ious.shape[1], bool)
    hit = np.zeros(ious.shape[0], bool)
    for d in range(ious.shape[0]):
        best, m = min(threshold, 1 - 1e-10), -1
        for g in range(ious.shape[1]):
            if not taken[g] and ious[d, g] >= best:
                best, m = ious[d, g], g
        if m >= 0:
            taken[m], hit[d] = True, True
    return hit


def _per_class(results: Sequence[ImageResult], c: int) -> tuple[F64, npt.NDArray[np.bool_], int]:
    """(scores (N,), matched (T, N) per IoU threshold, ground-truth count) of class ``c`` over all images."""
    scores, hits, n_gt = [], [], 0
    for r in results:
        d = np.flatnonzero(r.det_classes == c)
        d = d[np.argsort(-r.det_scores[d], kind="mergesort")][:MAX_DETS]
        g = r.gt_boxes[r.gt_classes == c]
        n_gt += len(g)
        ious = iou(r.det_boxes[d], g)
        scores.append(r.det_scores[d])
        hits.append(np.stack([match(ious, t) for t in IOU_THRESHOLDS]).reshape(len(IOU_THRESHOLDS), len(d)))
    return np.concatenate(scores), np.concatenate(hits, axis=1), n_gt


def precision_at_recall(hit: npt.NDArray[np.bool_], n_gt: int) -> F64:
    """(101,) interpolated precision at RECALL_POINTS of detections already ranked by score."""
    tp = np.cumsum(hit)
    fp = np.cumsum(~hit)
    rc = tp / n_gt
    pr = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    pr = np.maximum.accumulate(pr[::-1])[::-1] if len(pr) else pr
    idx = np.searchsorted(rc, RECALL_POINTS, side="left")
    q = np.zeros(len(RECALL_POINTS))
    ok = idx < len(pr)
    q[ok] = pr[idx[ok]]
    return q


@dataclass
class ClassAP:
    """One class: ground-truth count, AP at IoU 0.5 and averaged over 0.5:0.95, the 0.5 PR curve (101,)."""

    n_gt: int
    ap50: float
    ap: float
    curve50: F64


def average_precision(results: Sequence[ImageResult], n_classes: int) -> list[ClassAP | None]:
    """Per class index: its APs, or None when it has no ground truth (COCO leaves it out of the mean)."""
    out: list[ClassAP | None] = []
    for c in range(n_classes):
        scores, hits, n_gt = _per_class(results, c)
        if n_gt == 0:
            out.append(None)
            continue
        order = np.argsort(-scores, kind="mergesort")
        curves = [precision_at_recall(h[order], n_gt) for h in hits]
        aps = [float(q.mean()) for q in curves]
        out.append(ClassAP(n_gt, aps[0], float(np.mean(aps)), curves[0]))
    return out
