"""Fusion: worked numbers for the combination rule, the gates, and the synthetic two-vehicle measurement."""

from __future__ import annotations

import math

import pytest

from centre.config import FusionSettings
from centre.fusion import M_PER_DEG, R90_PER_SIGMA, Fuser
from centre.fusion_eval import evaluate
from centre.store.rows import Detection


def det(vehicle: str, track: int, t: float, north_m: float, err: float, cls: str = "person") -> Detection:
    return Detection(vehicle, 1, 0, 0, t, "cam0", 0, cls, 1, 0.9, track, 48.0 + north_m / M_PER_DEG, 17.0, None, err)


def test_two_equal_errors_meet_in_the_middle_with_sigma_over_root_two() -> None:
    f = Fuser(FusionSettings())
    f.add(det("a", 1, 0.0, 0.0, 10.0))
    s = f.add(det("b", 7, 0.0, 6.0, 10.0))  # 6 m apart, gate 3 * sqrt(2) * 4.66 = 19.8 m
    assert s is not None and len(f.sightings) == 1 and s.sensors == {("a", "cam0"), ("b", "cam0")}
    assert (s.lat - 48.0) * M_PER_DEG == pytest.approx(3.0, abs=1e-3)
    assert s.error_m == pytest.approx(10.0 / math.sqrt(2), rel=1e-6)


def test_inverse_variance_weights_favour_the_precise_sensor() -> None:
    f = Fuser(FusionSettings())
    f.add(det("a", 1, 0.0, 0.0, 5.0))
    s = f.add(det("b", 1, 0.5, 10.0, 20.0))  # weights 1/5^2 : 1/20^2 = 16 : 1 -> 10/17 m north
    assert s is not None
    assert (s.lat - 48.0) * M_PER_DEG == pytest.approx(10.0 / 17.0, abs=1e-3)
    assert s.error_m == pytest.approx(R90_PER_SIGMA / math.sqrt((R90_PER_SIGMA / 5) ** 2 + (R90_PER_SIGMA / 20) ** 2))


@pytest.mark.parametrize(
    ("other", "why"),
    [
        (det("b", 1, 0.0, 40.0, 10.0), "too far: 40 m > 19.8 m gate"),
        (det("b", 1, 5.0, 0.0, 10.0), "too late: 5 s > 2 s window"),
        (det("b", 1, 0.0, 0.0, 10.0, cls="vehicle"), "another class"),
        (det("a", 2, 0.0, 1.0, 10.0), "same camera, same frame: two objects"),
    ],
)
def test_what_does_not_join(other: Detection, why: str) -> None:
    f = Fuser(FusionSettings())
    f.add(det("a", 1, 0.0, 0.0, 10.0))
    f.add(other)
    assert len(f.sightings) == 2, why


def test_a_track_stays_in_its_sighting_and_stale_ones_expire() -> None:
    f = Fuser(FusionSettings(stale_s=10.0))
    a = f.add(det("a", 1, 0.0, 0.0, 10.0))
    b = f.add(det("a", 1, 1.0, 30.0, 10.0))  # the track moved: still the same sighting
    assert a is b
    assert f.expire(20.0) == [a.id] and not f.sightings  # type: ignore[union-attr]


def test_two_vehicles_seeing_the_same_people_measured_against_truth() -> None:
    r = evaluate(people=20, seconds=60.0)
    assert r.pairs_seen_by_both > 500
    assert r.one_sighting_pct >= 90.0
    assert r.within_radius_pct >= 85.0
