"""Ray -> ground intersections, worked by hand: flat ground, a tilted DEM tile, misses and their reasons."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edge.geo.projection import Ground, Miss
from edge.geo.terrain import FlatGround, open_dem
from edge.geo.wgs84 import LocalNed, curvature_drop, radii

S2 = math.sqrt(2.0)
FLAT = Ground(FlatGround(0.0), LocalNed(42.0, 19.0, 100.0))  # camera (origin) 100 m above flat ground


@pytest.mark.parametrize(
    ("direction", "point", "status"),
    [
        ((0, 0, 1), (0, 0, 100), Miss.HIT),  # nadir: the point below
        ((1, 0, 1), (100, 0, 100), Miss.HIT),  # 45° down-look: 100 m ahead
        ((math.cos(math.radians(30)), 0, 0.5), (173.205, 0, 100), Miss.HIT),  # 30° down: 100 / tan 30°
        ((1, 1, 0.5), (200, 200, 100), Miss.HIT),  # north-east, any vector length
        ((0, -3, 1), (0, -300, 100), Miss.HIT),
        ((1, 0, 0), None, Miss.ABOVE_HORIZON),  # level
        ((1, 0, -0.1), None, Miss.ABOVE_HORIZON),  # looking up
        ((1, 0, 0.01), None, Miss.BEYOND_RANGE),  # would meet the ground 10 km out; max range 5 km
    ],
)
def test_flat_ground(direction: tuple[float, ...], point: tuple[float, ...] | None, status: Miss) -> None:
    pts, st = FLAT.intersect(np.zeros(3), [direction])
    assert st[0] == status
    if point is None:
        assert np.isnan(pts[0]).all()
    else:
        assert pts[0] == pytest.approx(point, abs=1e-3)


def test_flat_ground_offsets_origins_and_camera_below_ground() -> None:
    # ground raised by 10 m; a camera moved 5 m east and 20 m down
    pts, st = FLAT.intersect([[0, 0, 0], [0, 5, 20]], [[0, 0, 1], [1, 0, 1]], [10.0, 0.0])
    assert st.tolist() == [Miss.HIT, Miss.HIT]
    assert pts == pytest.approx(np.array([[0, 0, 90], [80, 5, 100]]))
    below = Ground(FlatGround(150.0), LocalNed(42.0, 19.0, 100.0))
    assert below.intersect(np.zeros(3), [[0, 0, 1]])[1][0] == Miss.BELOW_GROUND


def test_flat_ground_with_earth_curvature() -> None:
    g = Ground(FlatGround(0.0), LocalNed(42.0, 19.0, 100.0), max_range_m=20000, curvature=True)
    pts, st = g.intersect(np.zeros(3), [[100, 0, 1]])  # meets a flat earth 10 km out
    p = pts[0]
    assert st[0] == Miss.HIT
    # the curved ground drops ~7 m by 10 km, so the ray travels further: x = 100 (100 + x² / 2R')
    assert p[2] == pytest.approx(100 + float(curvature_drop(p[0])), abs=1e-6)
    assert p[0] == pytest.approx(100 * p[2], rel=1e-9)
    assert 10700 < p[0] < 10900
    # a ray 0.1° below the horizon from 100 m passes over the curved earth's horizon
    low = g.intersect(np.zeros(3), [[1, 0, math.tan(math.radians(0.1))]])[1][0]
    assert low == Miss.ABOVE_HORIZON


# The tilted tile (conftest): flat north-south, rising 7 m per 3" column eastwards. Camera over its middle
# (42.5 N, 19.5 E) where the ground is 500 + 7 * 600 = 4700 m.
GROUND_M = 4700.0


def slope() -> float:
    """Rise per metre east: 7 m per 1/1200 deg of longitude (about 0.102)."""
    metres_per_deg = math.radians(1.0) * radii(42.5, GROUND_M + 100)[1]
    return 7.0 * 1200 / metres_per_deg


@pytest.mark.parametrize(
    ("height", "direction", "expected"),
    [
        (100, (0, 0, 1), lambda s: (0, 0, 100)),  # nadir
        (100, (1, 0, 1), lambda s: (100, 0, 100)),  # 45° north, along the contour
        (100, (0, 1, 1), lambda s: (0, 100 / (1 + s), 100 / (1 + s))),  # 45° east, uphill: x + s x = 100
        (100, (0, -1, 1), lambda s: (0, -100 / (1 - s), 100 / (1 - s))),  # 45° west, downhill
        # 2° *above* the horizon from 10 m, towards the hillside: 10 + x tan 2° = s x
        (
            10,
            (0, 1, -math.tan(math.radians(2))),
            lambda s: (0, 10 / (s - math.tan(math.radians(2))), 10 - 10 / (s - math.tan(math.radians(2))) * s),
        ),
    ],
)
def test_tilted_dem(
    tilted_hgt: Path, height: float, direction: tuple[float, ...], expected: Callable[[float], tuple[float, ...]]
) -> None:
    g = Ground(open_dem(tilted_hgt), LocalNed(42.5, 19.5, GROUND_M + height), step_m=5.0)
    pts, st = g.intersect(np.zeros(3), [direction])
    assert st[0] == Miss.HIT
    assert pts[0] == pytest.approx(expected(slope()), abs=0.02)


def test_dem_misses(tilted_hgt: Path) -> None:
    dem = open_dem(tilted_hgt)
    g = Ground(dem, LocalNed(42.5, 19.5, GROUND_M + 10), step_m=5.0)
    # level, downhill: the ground falls away faster than the ray
    assert g.intersect(np.zeros(3), [[0, -1, 0]])[1][0] == Miss.ABOVE_HORIZON
    # slightly down, downhill: never meets the ground within max range
    assert g.intersect(np.zeros(3), [[0, -1, 0.01]])[1][0] == Miss.BEYOND_RANGE
    # camera underground
    assert (
        Ground(dem, LocalNed(42.5, 19.5, GROUND_M - 5)).intersect(np.zeros(3), [[0, 0, 1]])[1][0] == Miss.BELOW_GROUND
    )
    # near the west edge looking west, gently down: the ray leaves the tile before it lands
    edge = Ground(dem, LocalNed(42.5, 19.0005, 600.0), step_m=5.0)
    assert edge.intersect(np.zeros(3), [[0, -1, 0.05]])[1][0] == Miss.NO_DEM
    # outside any tile
    assert Ground(dem, LocalNed(45.0, 19.5, 600.0)).intersect(np.zeros(3), [[0, 0, 1]])[1][0] == Miss.NO_DEM
