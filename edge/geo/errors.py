"""Error propagation: 2-D covariance from input perturbations, and the radius holding 90 % of it.

Inputs are perturbed one at a time by ±1 sigma (a central secant, which stays honest where the intersection
bends away at grazing angles); the half-differences are the columns J_i of the sensitivity matrix and the
north/east covariance is sum_i J_i J_i^T. The 90 % radius of a zero-mean 2-D Gaussian is found from the ratio
of its principal axes: 2.146 sigma for a circle, 1.645 sigma_major for a line.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
CIRCULAR_90 = math.sqrt(-2.0 * math.log(0.1))  # 2.146


def _mass_inside(r: float, ratio: float) -> float:
    """P(X² + Y² <= r²) for X ~ N(0, 1), Y ~ N(0, ratio²), 0 < ratio <= 1 (midpoint rule over x)."""
    n = 200
    x = (np.arange(n) + 0.5) / n * r
    y = np.sqrt(np.maximum(r * r - x * x, 0.0)) / ratio
    inner = np.array([math.erf(v / math.sqrt(2.0)) for v in y])
    return float(2.0 * np.sum(np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi) * inner) * (r / n))


def _k90(ratio: float) -> float:
    """Radius (in units of sigma_major) holding 90 % of a 2-D Gaussian with sigma_minor/sigma_major = ratio."""
    if ratio <= 1e-6:
        return 1.6448536269514722
    lo, hi = 1.0, 2.2
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _mass_inside(mid, ratio) < 0.9 else (lo, mid)
    return 0.5 * (lo + hi)


_RATIOS = np.linspace(0.0, 1.0, 41)
_K90 = np.array([_k90(r) for r in _RATIOS])


def radius90(cov: npt.ArrayLike) -> F64:
    """90 % horizontal error radius (m) of covariances (..., 2, 2) m²."""
    c = np.asarray(cov, np.float64)
    ev = np.linalg.eigvalsh(c)  # ascending
    major = np.sqrt(np.maximum(ev[..., 1], 0.0))
    minor = np.sqrt(np.maximum(ev[..., 0], 0.0))
    ratio = np.divide(minor, major, out=np.ones_like(major), where=major > 0)
    return np.asarray(major * np.interp(ratio, _RATIOS, _K90), np.float64)


def covariance(plus: npt.ArrayLike, minus: npt.ArrayLike) -> F64:
    """Covariance (N, 2, 2) from points (N, P, 2) reached by perturbing each of P inputs by +1 and -1 sigma."""
    j = 0.5 * (np.asarray(plus, np.float64) - np.asarray(minus, np.float64))
    return np.asarray(np.einsum("npi,npj->nij", j, j), np.float64)
