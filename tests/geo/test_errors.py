"""90 % radii of 2-D Gaussians and covariances from ±1 sigma perturbations."""

from __future__ import annotations

import numpy as np
import pytest

from edge.geo.errors import covariance, radius90


@pytest.mark.parametrize(
    ("cov", "radius"),
    [
        (np.eye(2), 2.1460),  # circular: sqrt(-2 ln 0.1)
        (np.diag([9.0, 9.0]), 3 * 2.1460),
        (np.diag([4.0, 0.0]), 2 * 1.6449),  # a line: the two-sided 90 % normal quantile
        (np.zeros((2, 2)), 0.0),
        # rotated: principal sigmas 10 and 0 along the diagonal
        (np.array([[50.0, 50.0], [50.0, 50.0]]), 10 * 1.6449),
    ],
)
def test_radius90_hand_values(cov: np.ndarray, radius: float) -> None:
    assert float(radius90(cov)) == pytest.approx(radius, abs=2e-3 * max(radius, 1))


@pytest.mark.parametrize("ratio", [0.1, 0.3, 0.5, 0.8])
def test_radius90_holds_90_percent(ratio: float) -> None:
    rng = np.random.default_rng(7)
    xy = rng.normal(size=(400_000, 2)) * [10.0, 10.0 * ratio]
    r = float(radius90(np.diag([100.0, (10.0 * ratio) ** 2])))
    assert np.mean(np.hypot(xy[:, 0], xy[:, 1]) <= r) == pytest.approx(0.90, abs=0.003)


def test_covariance_from_perturbations() -> None:
    # input 1 moves the point 3 m north per sigma, input 2 moves it 4 m east per sigma (independent)
    plus = np.array([[[3.0, 0.0], [0.0, 4.0]]])
    minus = -plus
    assert covariance(plus, minus)[0] == pytest.approx(np.diag([9.0, 16.0]))
    # a lopsided response (e.g. +sigma 5 m, -sigma 1 m) counts as the half-difference 3 m
    assert covariance(np.array([[[5.0, 0.0]]]), np.array([[[-1.0, 0.0]]]))[0, 0, 0] == pytest.approx(9.0)
