"""lat/lon <-> local NED: hand-worked metres per degree, round trips, curvature drop."""

from __future__ import annotations

import numpy as np
import pytest

from edge.geo.wgs84 import LocalNed, curvature_drop, radii


@pytest.mark.parametrize(
    ("lat", "north_per_deg", "east_per_deg"),
    [
        # M·π/180 and N·cos(lat)·π/180 with M = a(1-e²)/w³, N = a/w, w = sqrt(1 - e² sin² lat):
        # equator a(1-e²) = 6 335 439.3 m -> 110 574.3 m/deg north, a = 6 378 137 m -> 111 319.5 m/deg east
        (0.0, 110574.3, 111319.5),
        (45.0, 111131.8, 78846.8),
        (60.0, 111412.3, 55800.0),
    ],
)
def test_metres_per_degree(lat: float, north_per_deg: float, east_per_deg: float) -> None:
    m, p = radii(lat)
    assert np.radians(1.0) * m == pytest.approx(north_per_deg, abs=0.2)
    assert np.radians(1.0) * p == pytest.approx(east_per_deg, abs=0.2)


def test_ned_of_offsets() -> None:
    f = LocalNed(45.0, 19.0, 100.0)
    n, e, d = f.to_ned(45.001, 19.001, 50.0)
    m, p = radii(45.0, 100.0)
    assert float(n) == pytest.approx(np.radians(0.001) * m)  # ~111.1 m
    assert float(e) == pytest.approx(np.radians(0.001) * p)  # ~78.8 m
    assert float(d) == 50.0  # 50 m below the origin


@pytest.mark.parametrize(("lat0", "lon0"), [(42.57, 19.9), (-33.9, 151.2), (0.0, 179.99), (64.1, -21.9)])
def test_round_trip(lat0: float, lon0: float) -> None:
    f = LocalNed(lat0, lon0, 1200.0)
    rng = np.random.default_rng(1)
    n, e, d = rng.uniform(-15000, 15000, (3, 50))
    lat, lon, alt = f.to_geodetic(n, e, d)
    n2, e2, d2 = f.to_ned(lat, lon, alt)
    assert np.allclose(n2, n, atol=1e-6) and np.allclose(e2, e, atol=1e-6) and np.allclose(d2, d, atol=1e-9)
    assert np.all((lon >= -180) & (lon < 180))


def test_curvature_drop() -> None:
    # d² / (2 R / (1 - 0.13)) with R = 6 371 009 m: 1 km -> 0.0683 m, 10 km -> 6.83 m
    assert curvature_drop(1000.0) == pytest.approx(0.06828, abs=1e-4)
    assert curvature_drop(10000.0) == pytest.approx(6.828, abs=1e-2)
    assert curvature_drop(10000.0, refraction_k=0.0) == pytest.approx(7.848, abs=1e-2)
