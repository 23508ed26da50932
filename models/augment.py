"""Training crops with heavy augmentation (numpy and OpenCV only).

A crop is cut from a letterboxed render with a random scale and flip (one affine warp, letterbox grey outside),
then brightness, contrast, gamma, colour balance, greyscale, thermal polarity, blur, noise and JPEG artefacts.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

PAD_VALUE = 114
MIN_VISIBLE = 0.5  # a box cut by the crop edge keeps its label when at least this share of it is inside

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


def random_crop(
    rng: np.random.Generator,
    image: U8,
    boxes: F32,
    classes: I64,
    size: int,
    base_scale: float = 1.0,
    scale_range: tuple[float, float] = (0.7, 1.4),
    focus: float = 0.7,
) -> tuple[U8, F32, I64]:
    """A (size, size, 3) crop, its boxes (M, 4) and classes (M,); class -1 marks a box cut too much (ignore).

    The image is resized by ``base_scale`` (the detector's letterbox factor) times a random factor from
    ``scale_range``. With probability ``focus`` the crop is placed around a random labelled box, else anywhere.
    """
    h, w = image.shape[:2]
    s = base_scale * math.exp(rng.uniform(math.log(scale_range[0]), math.log(scale_range[1])))
    span = size / s  # source pixels covered by the crop
    if len(boxes) and rng.uniform() < focus:
        b = boxes[rng.integers(len(boxes))]
        cx = (b[0] + b[2]) / 2 + rng.uniform(-0.4, 0.4) * span
        cy = (b[1] + b[3]) / 2 + rng.uniform(-0.4, 0.4) * span
    else:
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    flip = rng.uniform() < 0.5
    # in pixel coordinates (pixel i spans [i, i + 1]): dst = s * (src - (cx, cy)) + size / 2, mirrored when flipped
    sx = -s if flip else s
    m = np.array([[sx, 0.0, size / 2 - sx * cx], [0.0, s, size / 2 - s * cy]], np.float64)
    m_idx = m.copy()  # the same map on OpenCV's array indices (pixel centres at integers)
    m_idx[:, 2] += 0.5 * np.array([sx, s]) - 0.5
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    crop = cv2.warpAffine(image, m_idx, (size, size), flags=interp, borderValue=(PAD_VALUE,) * 3)
    if not len(boxes):
        return np.asarray(crop, np.uint8), np.empty((0, 4), np.float32), np.empty(0, np.int64)
    xs = boxes[:, [0, 2]] * m[0, 0] + m[0, 2]
    ys = boxes[:, [1, 3]] * m[1, 1] + m[1, 2]
    out = np.stack([xs.min(1), ys.min(1), xs.max(1), ys.max(1)], 1).astype(np.float32)
    area = np.prod(out[:, 2:] - out[:, :2], 1)
    clipped = np.clip(out, 0, size)
    vis = np.prod(np.clip(clipped[:, 2:] - clipped[:, :2], 0, None), 1) / np.maximum(area, 1e-6)
    keep = vis > 0
    cls = np.where(vis >= MIN_VISIBLE, classes, -1)
    return np.asarray(crop, np.uint8), clipped[keep], cls[keep].astype(np.int64)


def photometric(rng: np.random.Generator, img: U8) -> U8:
    """Random lighting, colour, polarity, blur, noise and compression applied to a (H, W, 3) uint8 BGR image."""
    grey = bool(np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 1], img[..., 2]))
    x = img.astype(np.float32)
    if grey and rng.uniform() < 0.3:
        x = 255.0 - x  # white-hot <-> black-hot
    if not grey:
        x *= rng.uniform(0.85, 1.15, 3).astype(np.float32)
        if rng.uniform() < 0.1:
            x[:] = x.mean(2, keepdims=True)
    x = x * rng.uniform(0.6, 1.4) + rng.uniform(-35, 35)
    x = 255.0 * (np.clip(x, 0, 255) / 255.0) ** rng.uniform(0.7, 1.4)
    if rng.uniform() < 0.35:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.4, 1.4))
    if rng.uniform() < 0.5:
        x += rng.normal(0.0, rng.uniform(1.0, 8.0), x.shape).astype(np.float32)
    out = np.clip(x, 0, 255).astype(np.uint8)
    if rng.uniform() < 0.3:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(35, 90))])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return np.asarray(out, np.uint8)


def to_tensor_layout(img: U8) -> F32:
    """(H, W, 3) uint8 BGR -> (3, H, W) float32 RGB in [0, 1], what the exported model takes."""
    return np.ascontiguousarray(img[..., ::-1].transpose(2, 0, 1), dtype=np.float32) / np.float32(255.0)
