"""Which output cell learns which box: hand-worked for a 64 x 64 input (8 x 8 cells of stride 8, 4 x 4 of 16)."""

from __future__ import annotations

import numpy as np

from sim.dataset import assign_targets, letterbox_scale

N8 = 64  # stride-8 cells come first, then the 16 stride-16 cells


def test_centre_sampling_on_both_scales() -> None:
    # 20 x 40 box centred at (20, 30): longest side 40 -> both scales
    gt_box, gt_cls, weight = assign_targets(np.array([[10, 10, 30, 50]], np.float32), np.array([1]), 64, 64)
    assert gt_box.shape == (80, 4) and gt_cls.shape == (80,) and weight.shape == (80,)
    # stride 8: centres 12, 20, 28 in x and 20, 28, 36 in y lie inside the box within 12 px of its centre
    want8 = {r * 8 + c for r in (2, 3, 4) for c in (1, 2, 3)}
    # stride 16: centres x 24 and y 24, 40 -> cells (row 1, col 1) and (row 2, col 1)
    want16 = {N8 + 5, N8 + 9}
    assert set(np.flatnonzero(gt_cls == 1)) == want8 | want16
    assert set(np.flatnonzero(gt_cls >= 0)) == want8 | want16
    assert np.all(gt_box[gt_cls == 1] == [10, 10, 30, 50])
    assert np.all(weight == 1)


def test_small_box_is_one_cell_and_tiny_box_is_ignored() -> None:
    boxes = np.array([[1, 1, 7, 13], [50, 50, 53, 54]], np.float32)  # 6 x 12 person; 3 x 4 speck
    _, gt_cls, weight = assign_targets(boxes, np.array([0, 2]), 64, 64)
    # the person (centre (4, 7)): cell centres (4, 4) and (4, 12) lie inside it -> rows 0 and 1 of column 0;
    # never on stride 16 (longest side 12 < 40)
    assert list(np.flatnonzero(gt_cls >= 0)) == [0, 8]
    # the speck (height 4 < 5): cells whose centre is within half a stride of it are ignored, none positive
    assert list(np.flatnonzero(weight == 0)) == [6 * 8 + 6, N8 + 15]
    # a class of -1 (cut by a crop edge) is ignored the same way
    _, cls2, w2 = assign_targets(np.array([[10, 10, 30, 50]], np.float32), np.array([-1]), 64, 64)
    assert np.all(cls2 == -1) and (w2 == 0).sum() == 3 * 6 + 2 * 4  # centres within 4 px / 8 px of it


def test_shared_cell_goes_to_the_smaller_box() -> None:
    boxes = np.array([[0, 0, 64, 64], [16, 16, 32, 40]], np.float32)  # 64 px box, 16 x 24 box inside it
    _, gt_cls, _ = assign_targets(boxes, np.array([1, 0]), 64, 64)
    # stride 8: the big box takes the 4 x 4 cells within 12 px of (32, 32) (rows/cols 2..5) except the 2 x 3 cells
    # (cols 2, 3; rows 2..4) of the smaller box centred at (24, 28)
    small = {r * 8 + c for r in (2, 3, 4) for c in (2, 3)}
    big = {r * 8 + c for r in range(2, 6) for c in range(2, 6)} - small
    assert set(np.flatnonzero(gt_cls[:N8] == 0)) == small
    assert set(np.flatnonzero(gt_cls[:N8] == 1)) == big
    # stride 16: only the big box (longest side 64 >= 40); every centre is within 24 px of (32, 32)
    assert np.all(gt_cls[N8:] == 1)


def test_letterbox_scale_matches_the_detector() -> None:
    assert letterbox_scale((480, 640), (736, 1280)) == 981 / 640  # resized to round(640 * 736 / 480) = 981 px wide
    assert letterbox_scale((720, 1280), (736, 1280)) == 1.0
    assert letterbox_scale((720, 1280), (480, 640)) == 0.5
