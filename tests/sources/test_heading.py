"""Which heading source wins, in the configured order, and how a held course and a calibration behave."""

from __future__ import annotations

import math

import pytest

from edge.sources.heading import Calibration, HeadingChooser

ALL = ["gnss", "mavlink", "course", "calibrated"]
LAT, LON = 48.0, 11.0


def chooser(order: list[str] = ALL) -> HeadingChooser:
    return HeadingChooser(order, course_err_deg=5.0, held_err_growth_deg_per_min=6.0)


def test_order_freshness_and_the_held_course() -> None:
    h = chooser()
    assert h.choose(0.0, False, 0.05) is None
    h.fix(0.0, LAT, LON, 5.0, math.radians(80.0), min_speed=2.0)
    got = h.choose(0.0, False, 0.05)
    assert got is not None and got.source == "course over ground" and got.err == pytest.approx(math.radians(5.0))
    assert h.choose(1.0, True, 0.05).source == "mavlink"  # type: ignore[union-attr]
    h.true_heading(math.radians(10.0), 1.0)
    assert h.choose(1.0, True, 0.05).source == "true heading"  # type: ignore[union-attr]
    h.fix(2.0, LAT, LON, 0.3, None, min_speed=2.0)  # stopped: no course (null below walking speed)
    held = h.choose(63.0, False, 0.05)  # the true heading is 62 s old: stale
    assert held is not None and held.source == "last course (held)" and held.yaw == pytest.approx(math.radians(80))
    assert held.err == pytest.approx(math.radians(5.0 + 6.0 * 63.0 / 60.0))  # grows by 6 deg per minute


def test_calibration_here_and_made_after_the_stop_beats_the_held_course() -> None:
    h = chooser()
    cal = Calibration(heading_deg=200.0, lat=LAT, lon=LON, err_deg=1.0, t_utc=0.0)
    h.fix(0.0, LAT, LON, 5.0, math.radians(80.0), min_speed=2.0)
    h.set_calibration(cal, t=-10.0)  # made before the vehicle last moved: the course is newer
    assert h.choose(30.0, False, 0.05).source == "last course (held)"  # type: ignore[union-attr]
    h.set_calibration(cal, t=31.0)
    got = h.choose(32.0, False, 0.05)
    assert got is not None and got.source == "calibrated" and got.yaw == pytest.approx(math.radians(200.0))
    h.fix(40.0, LAT + 0.001, LON, 0.0, None, min_speed=2.0)  # 111 m away from where it was calibrated
    assert h.choose(41.0, False, 0.05).source == "last course (held)"  # type: ignore[union-attr]


def test_only_the_configured_sources_count() -> None:
    h = chooser(["calibrated"])
    h.true_heading(0.0, 0.0)
    h.fix(0.0, LAT, LON, 5.0, 1.0, min_speed=2.0)
    assert h.choose(0.0, True, 0.05) is None
    h.set_calibration(Calibration(10.0, LAT, LON, 1.0, 0.0), 0.0)
    assert h.choose(0.0, True, 0.05).source == "calibrated"  # type: ignore[union-attr]
