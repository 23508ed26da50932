"""Quaternion helpers: Z-Y-X Euler conversions and products, hand-worked."""

from __future__ import annotations

import math

import pytest

from edge.sources import quat

D = math.radians
H = math.sqrt(0.5)

# roll, pitch, yaw (deg) -> (w, x, y, z)
KNOWN = [
    ((0, 0, 0), (1.0, 0.0, 0.0, 0.0)),
    ((0, 0, 90), (H, 0.0, 0.0, H)),
    ((0, 90, 0), (H, 0.0, H, 0.0)),
    ((90, 0, 0), (H, H, 0.0, 0.0)),
    ((0, 0, 180), (0.0, 0.0, 0.0, 1.0)),
]


@pytest.mark.parametrize(("euler", "q"), KNOWN)
def test_known_quaternions(euler: tuple[float, float, float], q: tuple[float, float, float, float]) -> None:
    assert quat.from_euler(*(D(a) for a in euler)) == pytest.approx(q, abs=1e-12)


@pytest.mark.parametrize("euler", [(10, -20, 30), (-170, 45, -100), (0, -89, 179), (179, 5, -179)])
def test_round_trip(euler: tuple[float, float, float]) -> None:
    back = quat.to_euler(quat.from_euler(*(D(a) for a in euler)))
    assert back == pytest.approx(tuple(D(a) for a in euler), abs=1e-9)


def test_product_composes_rotations() -> None:
    # yaw 90 then yaw 90 = yaw 180; Rz(30) * (Ry(-45)) = euler (0, -45, 30)
    qz = quat.from_euler(0, 0, D(90))
    assert quat.to_euler(quat.multiply(qz, qz))[2] == pytest.approx(math.pi)
    q = quat.multiply(quat.from_euler(0, 0, D(30)), quat.from_euler(0, D(-45), 0))
    assert quat.to_euler(q) == pytest.approx((0.0, D(-45), D(30)), abs=1e-12)


def test_wrap_and_bad_quaternion() -> None:
    assert quat.wrap(D(270)) == pytest.approx(D(-90))
    assert quat.wrap(-math.pi) == pytest.approx(math.pi)
    with pytest.raises(ValueError):
        quat.normalize((float("nan"), 0.0, 0.0, 0.0))
