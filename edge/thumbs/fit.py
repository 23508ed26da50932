"""Encode an image to fit a byte limit: the best quality at the largest size whose bytes are <= the limit."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

QUALITIES = (90, 80, 70, 60, 50, 40, 30, 20, 10, 5)  # tried from best to worst (binary search)
SCALE_STEP = 0.7  # each step down in size keeps this fraction of the width and height
MIN_SIDE_PX = 16  # no smaller image is offered
FORMATS = {"jpeg": (".jpg", cv2.IMWRITE_JPEG_QUALITY), "webp": (".webp", cv2.IMWRITE_WEBP_QUALITY)}


@dataclass(frozen=True, slots=True)
class Fitted:
    """An encoded image: its bytes, format ("jpeg"/"webp"), size (w, h) px and the quality it was encoded at."""

    data: bytes
    format: str
    wh: tuple[int, int]
    quality: int


def _encode(image: np.ndarray, fmt: str, quality: int) -> bytes:
    ext, flag = FORMATS[fmt]
    ok, buf = cv2.imencode(ext, image, [int(flag), quality])
    if not ok:  # pragma: no cover - OpenCV refuses only images it cannot encode at all
        raise ValueError(f"cannot encode a {image.shape} image as {fmt}")
    return buf.tobytes()


def fit(image: np.ndarray, limit: int, fmt: str = "jpeg") -> Fitted | None:
    """Encode ``image`` ((H, W, 3) or (H, W) uint8) as ``fmt`` in at most ``limit`` bytes; None when even the
    smallest size at the lowest quality is larger. Steps quality first (binary search), then size (x0.7 a step)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {sorted(FORMATS)}, got {fmt!r}")
    h, w = image.shape[:2]
    scale = 1.0
    while min(w, h) * scale >= MIN_SIDE_PX or scale == 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        img = image if scale == 1.0 else cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        worst = _encode(img, fmt, QUALITIES[-1])
        if len(worst) <= limit:
            lo, hi = 0, len(QUALITIES) - 1  # QUALITIES[hi] fits; find the best (lowest index) that fits
            best = worst
            while lo < hi:
                mid = (lo + hi) // 2
                data = _encode(img, fmt, QUALITIES[mid])
                if len(data) <= limit:
                    hi, best = mid, data
                else:
                    lo = mid + 1
            return Fitted(best, fmt, (img.shape[1], img.shape[0]), QUALITIES[hi])
        scale *= SCALE_STEP
    return None
