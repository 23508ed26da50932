"""Motion gating for a moving platform: run inference only when something moves relative to the ground.

The current frame is registered to the frame of the last inference by phase correlation on a small grey
image (the platform's own motion, a global shift); what still differs after that shift is scene motion.
A large platform motion (slew) always runs inference, and so does the time limit ``max_interval_s``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.detect.settings import GatingSettings


@dataclass(frozen=True, slots=True)
class GateDecision:
    """run: infer on this frame; reason: first, interval, slew, motion or static;
    shift: platform motion since the last inference in original pixels (dx, dy); changed: fraction of pixels."""

    run: bool
    reason: str
    shift: tuple[float, float]
    changed: float


class MotionGate:
    """Decides per frame whether inference must run (``decide`` keeps the last inference's frame as reference)."""

    def __init__(self, settings: GatingSettings) -> None:
        self.s = settings
        self._ref: np.ndarray | None = None
        self._t_ref = 0.0
        self._window: np.ndarray | None = None

    def _small(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        h, w = image.shape[:2]
        sw = min(self.s.width, w)
        sh = max(8, round(h * sw / w))
        small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
        if small.ndim == 3:
            small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        grey = small.astype(np.float32)
        if image.dtype == np.uint16:
            grey *= 1.0 / 256.0
        return grey, w / sw

    def decide(self, image: np.ndarray, t_mono: float) -> GateDecision:
        """Whether to run inference on ``image`` (any frame image) captured at ``t_mono`` (s)."""
        cur, scale = self._small(image)
        ref = self._ref
        if ref is None or ref.shape != cur.shape:
            return self._run(cur, t_mono, "first", (0.0, 0.0), 1.0)
        if t_mono - self._t_ref >= self.s.max_interval_s:
            return self._run(cur, t_mono, "interval", (0.0, 0.0), 0.0)
        if self._window is None or self._window.shape != cur.shape:
            self._window = cv2.createHanningWindow((cur.shape[1], cur.shape[0]), cv2.CV_32F)
        (dx, dy), _ = cv2.phaseCorrelate(ref.copy(), cur.copy(), self._window)  # OpenCV 5 windows its inputs in place
        shift = (dx * scale, dy * scale)
        if np.hypot(dx, dy) >= self.s.slew_px:
            return self._run(cur, t_mono, "slew", shift, 1.0)
        # sub-pixel registration noise on fine texture must not count as motion: shifts under half a pixel are
        # taken as none, and both images are smoothed before differencing
        sx, sy = (dx, dy) if np.hypot(dx, dy) >= 0.5 else (0.0, 0.0)
        m = np.array([[1, 0, sx], [0, 1, sy]], np.float32)
        warped = cv2.warpAffine(ref, m, (cur.shape[1], cur.shape[0]), flags=cv2.INTER_LINEAR)
        bx, by = int(np.ceil(abs(sx))) + 2, int(np.ceil(abs(sy))) + 2
        a = cv2.GaussianBlur(cur, (5, 5), 1.5)[by:-by, bx:-bx]
        b = cv2.GaussianBlur(warped, (5, 5), 1.5)[by:-by, bx:-bx]
        diff = cv2.absdiff(a, b)
        changed = float(np.count_nonzero(diff > self.s.diff_threshold)) / max(diff.size, 1)
        if changed >= self.s.min_changed:
            return self._run(cur, t_mono, "motion", shift, changed)
        return GateDecision(False, "static", shift, changed)

    def _run(self, cur: np.ndarray, t: float, why: str, shift: tuple[float, float], changed: float) -> GateDecision:
        self._ref, self._t_ref = cur, t
        return GateDecision(True, why, shift, changed)
