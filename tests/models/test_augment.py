"""Training crops keep boxes on their objects (scale, flip, edges), and the photometric changes stay in range."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest


def _load(name: str) -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "models" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"models_{name}", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


augment = _load("augment")


def _scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    img = np.zeros((480, 640, 3), np.uint8)
    boxes = np.array([[100, 200, 140, 260], [400, 100, 420, 110]], np.float32)
    for x1, y1, x2, y2 in boxes.astype(int):
        img[y1:y2, x1:x2] = 255
    return img, boxes, np.array([0, 2])


@pytest.mark.parametrize("seed", range(12))
def test_crop_boxes_follow_the_pixels(seed: int) -> None:
    img, boxes, classes = _scene()
    rng = np.random.default_rng(seed)
    crop, out, cls = augment.random_crop(rng, img, boxes, classes, 128, scale_range=(0.5, 2.0), focus=1.0)
    assert crop.shape == (128, 128, 3) and crop.dtype == np.uint8
    white = crop[..., 0] > 200
    for (x1, y1, x2, y2), c in zip(out, cls, strict=True):
        assert c in (0, 2, -1)
        inner = white[int(y1) + 1 : int(np.ceil(y2)) - 1, int(x1) + 1 : int(np.ceil(x2)) - 1]
        assert inner.size == 0 or inner.mean() > 0.9  # the box lies on its white rectangle
    # every white pixel (object) is covered by some kept box
    ys, xs = np.nonzero(crop[..., 0] > 250)
    for y, x in zip(ys[::50], xs[::50], strict=True):
        assert any(b[0] - 1 <= x + 0.5 <= b[2] + 1 and b[1] - 1 <= y + 0.5 <= b[3] + 1 for b in out)


def test_crop_marks_boxes_cut_by_the_edge_as_ignore() -> None:
    img, boxes, classes = _scene()
    seen = set()
    for seed in range(3000):
        rng = np.random.default_rng(seed)
        _, out, cls = augment.random_crop(rng, img, boxes[:1], classes[:1], 64, scale_range=(1.0, 1.0), focus=0.0)
        if len(out):
            visible = float(np.prod(out[0, 2:] - out[0, :2])) / (40 * 60)
            assert cls[0] == (0 if visible >= augment.MIN_VISIBLE - 1e-6 else -1)
            seen.add(int(cls[0]))
    assert seen == {0, -1}


def test_photometric_keeps_shape_and_type() -> None:
    rng = np.random.default_rng(0)
    img = np.full((64, 64, 3), 128, np.uint8)
    for _ in range(20):
        out = augment.photometric(rng, img)
        assert out.shape == img.shape and out.dtype == np.uint8
    t = augment.to_tensor_layout(
        np.dstack([np.zeros((2, 2)), np.full((2, 2), 51), np.full((2, 2), 255)]).astype(np.uint8)
    )
    assert t.shape == (3, 2, 2) and t.dtype == np.float32
    assert t[:, 0, 0] == pytest.approx([1.0, 0.2, 0.0])  # BGR -> RGB, / 255
