"""Vectorised constant-velocity Kalman filter on boxes (centre-x, centre-y, width, height and their rates).

State (T, 8): cx, cy, w, h, vcx, vcy, vw, vh in pixels and pixels/s; covariance (T, 8, 8).
Noise scales with box height as in ByteTrack/DeepSORT, but per second rather than per frame (the frame rate
varies with gating and load): measurement 1/20 of the height; process noise 1/10 (position) and 1/2 (velocity)
of the height per sqrt(second).
"""

from __future__ import annotations

import numpy as np

STD_POS = 1.0 / 20.0
STD_VEL = 1.0 / 160.0
Q_POS = 1.0 / 10.0
Q_VEL = 1.0 / 2.0
_H = np.hstack([np.eye(4), np.zeros((4, 4))]).astype(np.float64)


def xyxy_to_cxcywh(b: np.ndarray) -> np.ndarray:
    """(N, 4) x1, y1, x2, y2 -> (N, 4) cx, cy, w, h."""
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)


def cxcywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    """(N, 4) cx, cy, w, h -> (N, 4) x1, y1, x2, y2."""
    half = b[:, 2:4] / 2
    return np.concatenate([b[:, :2] - half, b[:, :2] + half], axis=1)


def initiate(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4) xyxy measurements -> state (N, 8) with zero velocity and covariance (N, 8, 8)."""
    z = xyxy_to_cxcywh(boxes.astype(np.float64))
    mean = np.hstack([z, np.zeros_like(z)])
    h = np.maximum(z[:, 3:4], 1.0)
    std = np.hstack([2 * STD_POS * h * np.ones((1, 4)), 10 * STD_VEL * h * np.ones((1, 4))])
    cov = np.zeros((len(z), 8, 8))
    idx = np.arange(8)
    cov[:, idx, idx] = std**2
    return mean, cov


def predict(mean: np.ndarray, cov: np.ndarray, dt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Advance each state by its own ``dt`` (T,) seconds; noise per second of prediction."""
    if not len(mean):
        return mean, cov
    # F = [[I, dt I], [0, I]] applied blockwise: x' = x + dt v; P' = F P F^T
    d = dt[:, None, None]
    mean = np.concatenate([mean[:, :4] + mean[:, 4:] * dt[:, None], mean[:, 4:]], axis=1)
    p11, p12, p21, p22 = cov[:, :4, :4], cov[:, :4, 4:], cov[:, 4:, :4], cov[:, 4:, 4:]
    top = np.concatenate([p11 + d * (p12 + p21) + d * d * p22, p12 + d * p22], axis=2)
    bottom = np.concatenate([p21 + d * p22, p22], axis=2)
    cov = np.concatenate([top, bottom], axis=1)
    h = np.maximum(mean[:, 3:4], 1.0)
    q = np.hstack([Q_POS * h * np.ones((1, 4)), Q_VEL * h * np.ones((1, 4))]) ** 2 * np.maximum(dt, 1e-3)[:, None]
    cov[:, np.arange(8), np.arange(8)] += q
    return mean, cov


def update(mean: np.ndarray, cov: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correct states (T, 8) / (T, 8, 8) with measured xyxy boxes (T, 4)."""
    if not len(mean):
        return mean, cov
    z = xyxy_to_cxcywh(boxes.astype(np.float64))
    h = np.maximum(mean[:, 3], 1.0)
    r = (STD_POS * h) ** 2
    s = cov[:, :4, :4].copy()
    s[:, np.arange(4), np.arange(4)] += r[:, None]
    pht = cov @ _H.T  # (T, 8, 4)
    gain = np.transpose(np.linalg.solve(s, np.transpose(pht, (0, 2, 1))), (0, 2, 1))  # (T, 8, 4)
    mean = mean + np.einsum("nij,nj->ni", gain, z - mean[:, :4])
    cov = cov - gain @ _H @ cov
    return mean, cov
