"""Motion gate on synthetic scenes: static, platform shift only, a moving object, a slew and the time limit."""

from __future__ import annotations

import numpy as np

from edge.detect.motion import MotionGate
from edge.detect.settings import GatingSettings


def scene(seed: int = 1, w: int = 1280, h: int = 720) -> np.ndarray:
    """Textured ground (smoothed noise) as a BGR image; deterministic."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (h // 16, w // 16), np.uint8)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)


def test_static_scene_is_skipped_until_the_interval() -> None:
    gate = MotionGate(GatingSettings(enabled=True, max_interval_s=2.0))
    img = scene()
    assert gate.decide(img, 0.0).reason == "first"
    for t in (0.1, 0.5, 1.9):
        d = gate.decide(img.copy(), t)
        assert not d.run and d.reason == "static"
    assert gate.decide(img, 2.0).reason == "interval"


def test_platform_shift_is_compensated_and_reported() -> None:
    gate = MotionGate(GatingSettings(enabled=True))
    big = scene(w=1400, h=800)
    gate.decide(big[40:760, 40:1320], 0.0)
    d = gate.decide(big[40:760, 56:1336], 0.1)  # camera panned: content moves 16 px left (2 px at width 160)
    assert not d.run, d
    assert abs(d.shift[0] + 16) < 3 and abs(d.shift[1]) < 3


def test_moving_object_runs_and_slew_runs() -> None:
    gate = MotionGate(GatingSettings(enabled=True))
    img = scene()
    gate.decide(img, 0.0)
    moved = img.copy()
    moved[300:380, 600:680] = 255  # an 80x80 px object appears
    d = gate.decide(moved, 0.1)
    assert d.run and d.reason == "motion"
    big = scene(w=1600, h=900)
    gate2 = MotionGate(GatingSettings(enabled=True))
    gate2.decide(big[:720, :1280], 0.0)
    assert gate2.decide(big[:720, 160:1440], 0.1).reason == "slew"  # 160 px = 20 px at analysis width
