"""Encode to fit: never over the limit, the best quality and size that fit, None when nothing can."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.thumbs.fit import fit


def _picture(w: int = 240, h: int = 320) -> np.ndarray:
    rng = np.random.default_rng(1)
    img = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (5, 5), 0)
    cv2.rectangle(img, (60, 80), (180, 260), (30, 200, 40), -1)
    return img


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
@pytest.mark.parametrize("limit", [900, 1500, 4000, 20000, 200000])
def test_never_over_the_limit_and_decodes(fmt: str, limit: int) -> None:
    got = fit(_picture(), limit, fmt)
    assert got is not None
    assert len(got.data) <= limit
    img = cv2.imdecode(np.frombuffer(got.data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and (img.shape[1], img.shape[0]) == got.wh


def test_steps_quality_before_size() -> None:
    big = fit(_picture(), 200000)
    assert big is not None and big.wh == (240, 320) and big.quality == 90  # room: full size, best quality
    mid = fit(_picture(), 9000)
    assert mid is not None and mid.wh == (240, 320) and mid.quality < 90
    tight = fit(_picture(), 1000)
    assert tight is not None and tight.wh[0] < 240  # even the lowest quality at full size is too big


def test_nothing_fits() -> None:
    assert fit(_picture(), 50) is None
    with pytest.raises(ValueError, match="format"):
        fit(_picture(), 5000, "gif")
