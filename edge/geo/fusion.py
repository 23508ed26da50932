"""Range from an object's apparent size, its footprint, and its fusion with the ground intersection.

An object of height H whose footprint is D deep along the line of sight, seen at depression angle δ, spans
H·cos δ + D·sin δ across the line of sight, so its box's angular height α gives the slant range
R = (H·cos δ + D·sin δ) / α. A rectangle L x W at a random heading has a depth D = L|cos θ| + W|sin θ| along
any direction: mean 2(L+W)/π, mean square (L²+W²)/2 + 2LW/π. Its box's lowest point is the near edge of the
footprint, on average D/2 = (L+W)/π in front of the centre.

Fusion works on the *inverse* horizontal distance w = 1/s along the line of sight (plus the cross-track offset),
where both measurements are close to Gaussian: the size gives w = α / (span·cos δ), linear in the measured α,
and the flat-ground intersection gives w ≈ tan δ / h, linear in the depression angle. (Weighting ranges instead
would trust a box measured too tall more than one measured too short, and pull every fix towards the camera.)
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


def footprint_depth(length_m: float, width_m: float, rel_sigma: float = 0.0) -> tuple[float, float]:
    """Mean and standard deviation (m) of the depth of an L x W footprint seen from a random direction, the
    object's size itself varying by ``rel_sigma`` (a fraction, 1-sigma) around L x W."""
    mean = 2.0 * (length_m + width_m) / math.pi
    mean_sq = 0.5 * (length_m**2 + width_m**2) + 2.0 * length_m * width_m / math.pi
    return mean, math.hypot(math.sqrt(max(mean_sq - mean * mean, 0.0)), mean * rel_sigma)


def inverse_size_distance(
    alpha_rad: F64,
    alpha_sigma_rad: float,
    depression_rad: F64,
    height_m: float,
    height_sigma_m: float,
    depth_m: float,
    depth_sigma_m: float,
) -> tuple[F64, F64]:
    """Inverse horizontal distance w (N,) 1/m and its 1-sigma (N,) from angular box heights alpha (N,) rad.

    depression_rad (N,): angle of the line of sight below the horizontal (|δ| < 90°); the prior is the object's
    height and footprint depth with their 1-sigma (m); alpha_sigma_rad is the 1-sigma of alpha.
    """
    c, s = np.cos(depression_rad), np.abs(np.sin(depression_rad))
    span = height_m * c + depth_m * s
    span_sigma = np.hypot(height_sigma_m * c, depth_sigma_m * s)
    w = alpha_rad / (span * c)
    sigma = np.hypot(alpha_sigma_rad / (span * c), w * span_sigma / span)
    return w, sigma


def update_first(y: F64, cov: F64, z: F64, z_sigma: F64, gate: float = 3.0) -> tuple[F64, F64]:
    """Kalman update of states y (N, 2) with covariance cov (N, 2, 2) by measurements z (N,) ± z_sigma (N,) of
    their first component.

    Measurements more than ``gate`` innovation sigmas away (an object far off its size prior: a truck among
    cars) are ignored. Returns the updated y (N, 2) and covariance (N, 2, 2).
    """
    p0 = cov[:, :, 0]  # P H^T with H = [1, 0]
    s = cov[:, 0, 0] + z_sigma**2
    gain = p0 / s[:, None]
    innov = z - y[:, 0]
    gain[innov**2 > gate**2 * s] = 0.0
    y_f = y + gain * innov[:, None]
    cov_f = cov - np.einsum("ni,nj->nij", gain, p0)
    return y_f, 0.5 * (cov_f + np.swapaxes(cov_f, 1, 2))
