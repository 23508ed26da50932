"""NMS, filters and tile grids: table-driven with hand-worked numbers; tiling through the engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edge.detect.engine import OnnxDetector
from edge.detect.nms import iou_matrix, keep_mask, nms, points_in_polygon
from edge.detect.settings import DetectorSettings
from edge.detect.tiling import tile_windows
from edge.types import Frame


def arr(rows: list[list[float]]) -> np.ndarray:
    return np.asarray(rows, np.float32).reshape(-1, 4)


@pytest.mark.parametrize(
    ("a", "b", "iou"),
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
        ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),
        ([0, 0, 10, 10], [10, 10, 20, 20], 0.0),
        ([0, 0, 10, 10], [2, 2, 4, 4], 4 / 100),
        ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),
    ],
)
def test_iou_table(a: list[float], b: list[float], iou: float) -> None:
    assert iou_matrix(arr([a]), arr([b]))[0, 0] == pytest.approx(iou)


def test_nms_is_class_aware_and_best_first() -> None:
    boxes = arr([[0, 0, 10, 10], [1, 0, 11, 10], [0, 0, 10, 10], [50, 50, 60, 60]])
    score = np.asarray([0.8, 0.9, 0.7, 0.5], np.float32)
    cls = np.asarray([0, 0, 1, 0])
    keep = nms(boxes, score, cls, iou=0.5)
    assert list(keep) == [1, 2, 3]  # box 0 suppressed by 1 (IoU 0.82); box 2 is another class
    assert list(nms(boxes, score, cls, iou=0.5, max_det=2)) == [1, 2]
    assert len(nms(arr([]), np.empty(0, np.float32), np.empty(0, np.int64), 0.5)) == 0


def test_nms_agrees_with_greedy_reference_on_random_boxes() -> None:
    rng = np.random.default_rng(3)
    for _ in range(100):
        n = int(rng.integers(1, 60))
        xy = rng.uniform(0, 200, (n, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(2, 40, (n, 2))], 1).astype(np.float32)
        score = rng.uniform(0.3, 1.0, n).astype(np.float32)
        cls = rng.integers(0, 3, n)
        kept: list[int] = []  # the definition: best first, drop a box overlapping a kept one of its class > iou
        for i in np.argsort(-score, kind="stable"):
            same = [k for k in kept if cls[k] == cls[i]]
            if not same or iou_matrix(boxes[[i]], boxes[same]).max() <= 0.45:
                kept.append(int(i))
        assert nms(boxes, score, cls, iou=0.45).tolist() == kept


def test_points_in_polygon() -> None:
    square = np.asarray([[0, 0], [10, 0], [10, 10], [0, 10]], np.float32)
    pts = np.asarray([[5, 5], [15, 5], [-1, 5], [9.9, 9.9]], np.float32)
    assert list(points_in_polygon(pts, square)) == [True, False, False, True]


def test_keep_mask_thresholds_allow_list_size_and_masks() -> None:
    boxes = arr([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 1, 10], [100, 100, 120, 150], [0, 0, 10, 10]])
    score = np.asarray([0.5, 0.5, 0.9, 0.9, 0.9], np.float32)
    cls = np.asarray([0, 1, 0, 0, 2])
    thresholds = np.asarray([0.4, 0.6, 0.1], np.float32)  # class 1 needs 0.6
    allowed = np.asarray([True, True, False])  # class 2 not reported
    mask = np.asarray([[90, 140], [130, 140], [130, 160], [90, 160]], np.float32)  # holds box 3's foot (110, 150)
    ok = keep_mask(boxes, score, cls, thresholds, allowed, 2.0, [mask])
    assert list(ok) == [True, False, False, False, False]
    boxes[0, 2] = np.nan  # a model that outputs NaN must not crash the frame
    assert not keep_mask(boxes, score, cls, thresholds, allowed, 2.0, [])[0]


@pytest.mark.parametrize(
    ("w", "h", "cols", "rows", "overlap", "full", "expect"),
    [
        (100, 50, 1, 1, 0.2, False, [(0, 0, 100, 50)]),
        (100, 50, 2, 1, 0.0, False, [(0, 0, 50, 50), (50, 0, 100, 50)]),
        (100, 50, 2, 1, 0.2, True, [(0, 0, 100, 50), (0, 0, 56, 50), (44, 0, 100, 50)]),  # tile 55.6, step 44.4
        (90, 90, 3, 3, 0.0, False, [(x, y, x + 30, y + 30) for y in (0, 30, 60) for x in (0, 30, 60)]),
    ],
)
def test_tile_windows_table(
    w: int, h: int, cols: int, rows: int, overlap: float, full: bool, expect: list[tuple[int, int, int, int]]
) -> None:
    assert tile_windows(w, h, cols, rows, overlap, full) == expect


def test_engine_tiles_map_boxes_back_and_merge(make_const: Callable[..., Path]) -> None:
    out = np.zeros((1, 5, 1), np.float32)
    out[0, :, 0] = [32, 32, 16, 16, 0.9]  # model 64x64: box 24..40 at the tile's centre
    model = make_const({"output0": out}, input_shape=(1, 3, 64, 64))
    s = DetectorSettings(
        model=str(model),
        providers=["cpu"],
        labels=["x"],
        tiling={"cols": 2, "rows": 1, "overlap": 0.0, "full_frame": False},
    )
    d = OnnxDetector(s).detect(Frame(np.zeros((100, 200, 3), np.uint8), 0.0, 0.0, 1))
    # each 100x100 tile is scaled by 0.64: box 37.5..62.5, second tile shifted by 100
    np.testing.assert_allclose(
        d.xyxy[np.argsort(d.xyxy[:, 0])], [[37.5, 37.5, 62.5, 62.5], [137.5, 37.5, 162.5, 62.5]], atol=1.0
    )
    s2 = s.model_copy(update={"tiling": s.tiling.model_copy(update={"full_frame": True})})
    d2 = OnnxDetector(s2).detect(Frame(np.zeros((100, 200, 3), np.uint8), 0.0, 0.0, 1))
    # the full-frame pass adds a box at the frame centre (letterbox: 200x100 -> 64x32, pad 16): 75..125, 25..75
    assert len(d2) == 3
    assert any(np.allclose(b, [75, 25, 125, 75], atol=1.0) for b in d2.xyxy)


def test_agnostic_nms_through_the_engine(make_const: Callable[..., Path]) -> None:
    out = np.zeros((1, 6, 2), np.float32)
    out[0, :, 0] = [32, 32, 16, 16, 0.9, 0.0]
    out[0, :, 1] = [33, 32, 16, 16, 0.0, 0.8]  # the same object, called the other class
    model = make_const({"output0": out}, input_shape=(1, 3, 64, 64))
    frame = Frame(np.zeros((64, 64, 3), np.uint8), 0.0, 0.0, 1)
    assert (
        len(OnnxDetector(DetectorSettings(model=str(model), providers=["cpu"], labels=["a", "b"])).detect(frame)) == 2
    )
    d = OnnxDetector(
        DetectorSettings(model=str(model), providers=["cpu"], labels=["a", "b"], agnostic_nms=True)
    ).detect(frame)
    assert len(d) == 1 and d.class_id[0] == 0
