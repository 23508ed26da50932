"""Range from an object's apparent size, its footprint, and its fusion with the ground intersection.

An object of height H whose footprint is D deep along the line of sight, seen at depression angle δ, spans
H·cos δ + D·sin δ across the line of sight, so its box's angular height α gives the slant range
R = (H·cos δ + D·sin δ) / α. A rectangle L x W at a random heading has a depth D = L|cos θ| + W|sin θ| along
any direction: mean 2(L+W)/π, mean square (L²+W²)/2 + 2LW/π. Its box's lowest point is the near edge of the
footprint, on average D/2 = (L+W)/π in front of the centre.

Fusion is a Kalman update of the north/east estimate (x, P) of the ground intersection with the size range as
a measurement of the horizontal distance along the ray's azimuth a: z = R cos δ, H = aᵀ.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


def footprint_depth(length_m: float, width_m: float) -> tuple[float, float]:
    """Mean and standard deviation (m) of the depth of an L x W footprint seen from a random direction."""
    mean = 2.0 * (length_m + width_m) / math.pi
    mean_sq = 0.5 * (length_m**2 + width_m**2) + 2.0 * length_m * width_m / math.pi
    return mean, math.sqrt(max(mean_sq - mean * mean, 0.0))


def size_range(
    alpha_rad: F64,
    alpha_sigma_rad: F64,
    depression_rad: F64,
    height_m: float,
    height_sigma_m: float,
    depth_m: float,
    depth_sigma_m: float,
) -> tuple[F64, F64]:
    """Slant range (N,) m and its 1-sigma (N,) m from angular box heights alpha (N,) rad.

    depression_rad (N,): angle of the line of sight below the horizontal; the prior is the object's height and
    footprint depth with their 1-sigma (m).
    """
    c, s = np.cos(depression_rad), np.abs(np.sin(depression_rad))
    span = height_m * c + depth_m * s
    span_sigma = np.hypot(height_sigma_m * c, depth_sigma_m * s)
    rng = span / alpha_rad
    rel = np.hypot(span_sigma / span, alpha_sigma_rad / alpha_rad)
    return rng, rng * rel


def fuse_along(
    x: F64, cov: F64, origin: F64, azimuth: F64, dist: F64, dist_sigma: F64, gate: float = 3.0
) -> tuple[F64, F64]:
    """Kalman update of north/east estimates x (N, 2) m with covariance cov (N, 2, 2) m² by a measured horizontal
    distance dist (N,) m ± dist_sigma (N,) m from origin (2,) along unit azimuth vectors (N, 2).

    Measurements more than ``gate`` innovation sigmas away (an object far off its size prior: a truck among
    cars) are ignored. Returns the fused x (N, 2) and covariance (N, 2, 2).
    """
    a = azimuth
    pa = np.einsum("nij,nj->ni", cov, a)  # P a
    s = np.einsum("ni,ni->n", a, pa) + dist_sigma**2  # innovation variance
    gain = pa / s[:, None]
    innov = dist - np.einsum("ni,ni->n", a, x - origin)
    gain[innov**2 > gate**2 * s] = 0.0
    x_f = x + gain * innov[:, None]
    cov_f = cov - np.einsum("ni,nj->nij", gain, pa)
    return x_f, 0.5 * (cov_f + np.swapaxes(cov_f, 1, 2))
