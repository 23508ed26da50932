"""Size-prior distances, footprint depth, and the Kalman update that fuses them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge.geo.fusion import footprint_depth, inverse_size_distance, update_first


@pytest.mark.parametrize(
    ("length", "width", "mean", "sd"),
    [
        (0.0, 0.0, 0.0, 0.0),
        (4.0, 0.0, 8 / math.pi, math.sqrt(8 - 64 / math.pi**2)),  # a stick: 4|cos θ|, E = 8/π, E² = 8
        (1.0, 1.0, 4 / math.pi, math.sqrt(1 + 2 / math.pi - 16 / math.pi**2)),  # a square
    ],
)
def test_footprint_depth(length: float, width: float, mean: float, sd: float) -> None:
    assert footprint_depth(length, width) == pytest.approx((mean, sd), abs=1e-12)


def test_inverse_size_distance_hand_values() -> None:
    # 1.7 m person, seen level, 1.7 mrad tall: 1000 m; sigma from 0.17 mrad box error (10 %) and 0 prior spread
    w, sig = inverse_size_distance(np.array([1.7e-3]), 1.7e-4, np.array([0.0]), 1.7, 0.0, 0.5, 0.0)
    assert 1 / w[0] == pytest.approx(1000.0)
    assert sig[0] == pytest.approx(1e-4)
    # 30° down-look: span = 1.7 cos 30° + 2 sin 30° = 2.472 m; horizontal distance = slant cos 30°
    alpha = 2.4722 / 500.0
    w, sig = inverse_size_distance(np.array([alpha]), 0.0, np.array([math.radians(30)]), 1.7, 0.17, 2.0, 0.0)
    assert 1 / w[0] == pytest.approx(500.0 * math.cos(math.radians(30)), rel=1e-4)
    assert sig[0] / w[0] == pytest.approx(0.17 * math.cos(math.radians(30)) / 2.4722, rel=1e-3)


def test_update_first_weights_by_variance() -> None:
    y = np.array([[2.0, 5.0]])
    cov = np.array([[[1.0, 0.5], [0.5, 4.0]]])
    # equal variances: half-way; the correlated second component moves by cov01/(cov00+r) * innovation
    y_f, cov_f = update_first(y, cov, np.array([4.0]), np.array([1.0]))
    assert y_f[0] == pytest.approx([3.0, 5.5])
    assert cov_f[0] == pytest.approx(np.array([[0.5, 0.25], [0.25, 3.875]]))
    # a measurement 10 sigma off the prediction is refused (gate 3)
    y_g, cov_g = update_first(y, cov, np.array([2.0 + 10 * math.sqrt(2.0)]), np.array([1.0]))
    assert y_g[0] == pytest.approx(y[0]) and cov_g[0] == pytest.approx(cov[0])
