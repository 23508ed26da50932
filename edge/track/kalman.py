"""Vectorised constant-velocity Kalman filter on boxes (centre-x, centre-y, width, height and their rates).

State (T, 8): cx, cy, w, h, vcx, vcy, vw, vh in pixels and pixels/s; covariance (T, 8, 8).
Noise scales with box height as in ByteTrack/DeepSORT, but per second rather than per frame (the frame rate
varies with gating and load): measurement 1/20 of the height; process noise 1/10 (position) and ``q_vel``
(velocity: 1/2 by default, ``tracker.velocity_noise``) of the height per sqrt(second); a new track's velocity 1 height per second (1 sigma): the camera's own motion moves
boxes that fast, and at 1 fps a narrower start loses the track at its second frame.
"""

from __future__ import annotations

import numpy as np

STD_POS = 1.0 / 20.0
Q_POS = 1.0 / 10.0
Q_VEL = 1.0 / 2.0
MIN_CENTRE_PX = 1.0  # measurement noise of a box centre for gating: at least a pixel
STD_VEL0 = 1.0  # a new track's image velocity is unknown: up to a box height per second (a turning drone, a pan)
_P0 = np.diag(np.array([2 * STD_POS] * 4 + [STD_VEL0] * 4) ** 2)  # initial covariance per (height px)^2
_R = np.eye(4) * STD_POS**2  # measurement noise covariance per (height px)^2
# xyxy @ _TO_CXCYWH = cxcywh (the inverse is edge.detect.nms.cxcywh_to_xyxy)
_TO_CXCYWH = np.array([[0.5, 0, -1, 0], [0, 0.5, 0, -1], [0.5, 0, 1, 0], [0, 0.5, 0, 1]])


def xyxy_to_cxcywh(b: np.ndarray) -> np.ndarray:
    """(N, 4) x1, y1, x2, y2 -> (N, 4) float64 cx, cy, w, h."""
    return np.asarray(b, np.float64) @ _TO_CXCYWH


def initiate(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4) xyxy measurements -> state (N, 8) with zero velocity and covariance (N, 8, 8)."""
    z = xyxy_to_cxcywh(boxes)
    mean = np.zeros((len(z), 8))
    mean[:, :4] = z
    h = np.maximum(z[:, 3], 1.0)
    return mean, _P0 * (h * h)[:, None, None]


def predict(mean: np.ndarray, cov: np.ndarray, dt: np.ndarray, q_vel: float = Q_VEL) -> tuple[np.ndarray, np.ndarray]:
    """Advance each state by its own ``dt`` (T,) seconds; noise per second of prediction (``q_vel``: the velocity's,
    box heights per second per sqrt(second))."""
    if not len(mean):
        return mean, cov
    d = dt[:, None]
    mean = mean.copy()
    mean[:, :4] += mean[:, 4:] * d
    # P' = F P F^T with F = [[I, dt I], [0, I]]: add dt x the velocity rows, then dt x the velocity columns
    cov = cov.copy()
    cov[:, :4, :] += d[:, :, None] * cov[:, 4:, :]
    cov[:, :, :4] += d[:, None, :] * cov[:, :, 4:]
    h = np.maximum(mean[:, 3], 1.0)
    q = np.diag(np.array([Q_POS] * 4 + [q_vel] * 4) ** 2)  # process noise covariance per (height px)^2 per second
    cov += q * (h * h * np.maximum(dt, 1e-3))[:, None, None]
    return mean, cov


def centre_distance2(mean: np.ndarray, cov: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(T, D) squared Mahalanobis distance of the centres of xyxy boxes (D, 4) from states (T, 8) / (T, 8, 8): the
    centre block of the innovation covariance H P H^T + R (grows with the time predicted)."""
    if not len(mean) or not len(boxes):
        return np.zeros((len(mean), len(boxes)))
    z = xyxy_to_cxcywh(boxes)[:, :2]
    h = np.maximum(mean[:, 3], 1.0)
    r = np.maximum(STD_POS * h, MIN_CENTRE_PX) ** 2  # a box a few px wide jitters by a pixel at least
    s = cov[:, :2, :2] + np.eye(2) * r[:, None, None]  # (T, 2, 2)
    d = z[None, :, :] - mean[:, None, :2]  # (T, D, 2)
    return np.asarray(np.einsum("tdi,tij,tdj->td", d, np.linalg.inv(s), d))


def update(mean: np.ndarray, cov: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correct states (T, 8) / (T, 8, 8) with measured xyxy boxes (T, 4)."""
    if not len(mean):
        return mean, cov
    z = xyxy_to_cxcywh(boxes)
    h = np.maximum(mean[:, 3], 1.0)
    s = cov[:, :4, :4] + _R * (h * h)[:, None, None]  # H P H^T + R with H = [I 0]
    gain = np.linalg.solve(s, cov[:, :4, :]).transpose(0, 2, 1)  # K = P H^T S^-1 (S and P symmetric), (T, 8, 4)
    mean = mean + (gain @ (z - mean[:, :4])[:, :, None])[:, :, 0]
    cov = cov - gain @ cov[:, :4, :]
    return mean, cov
