"""Mapping the autopilot's boot time onto our clock: sliding minimum of one-way delays, TIMESYNC bounds, reboots."""

from __future__ import annotations

import numpy as np
import pytest

from edge.sources.mavlink_time import ClockMap


def test_smallest_delay_wins() -> None:
    # true offset 100 s; delays 10, 2 and 30 ms -> the 2 ms message bounds it best: 100.002
    c = ClockMap()
    assert c.to_mono(1.0) is None
    for stamp, delay in ((1.0, 0.010), (2.0, 0.002), (3.0, 0.030)):
        c.add_one_way(100.0 + stamp + delay, stamp)
    assert c.offset() == pytest.approx(100.002)
    assert c.to_mono(5.0) == pytest.approx(105.002)


def test_round_trip_bounds_give_the_midpoint() -> None:
    # offset 100: request leaves at 200.000, stamped 100.004 on arrival (4 ms out), back at 200.010 (6 ms back)
    # -> lower 200.000 - 100.004 = 99.996, upper 200.010 - 100.004 = 100.006, midpoint 100.001
    c = ClockMap()
    c.add_round_trip(200.000, 200.010, 100.004)
    assert c.offset() == pytest.approx(100.001)
    # a one-way message with 2 ms delay tightens the upper bound to 100.002: midpoint (99.996 + 100.002) / 2
    c.add_one_way(200.502, 100.500)
    assert c.offset() == pytest.approx(99.999)


def test_drift_is_followed() -> None:
    # the autopilot's crystal runs 200 ppm fast: offset = 100 - 200e-6 * stamp; delays 1..40 ms, 10 messages/s
    rng = np.random.default_rng(1)
    c = ClockMap(window_s=60.0)
    for k in range(1200):
        stamp = 1000.0 + k * 0.1
        c.add_one_way(stamp + 100.0 - 200e-6 * stamp + rng.uniform(0.001, 0.040), stamp)
    # a plain 60 s minimum would be late by the drift over the window, 200 ppm x 60 s = 12 ms; the fitted envelope
    # is late only by about the smallest delays (one-way timing cannot see below them), and equally so everywhere
    errs = [c.to_mono(s) - (s + 100.0 - 200e-6 * s) for s in (1060.0, 1090.0, 1119.9)]  # type: ignore[operator]
    assert all(0.0 < e < 0.005 for e in errs), errs
    assert max(errs) - min(errs) < 0.001, errs


def test_window_forgets_old_samples() -> None:
    c = ClockMap(window_s=10.0)
    c.add_one_way(100.001, 0.0)  # 1 ms delay at t = 100
    c.add_one_way(105.020, 5.0)  # 20 ms
    assert c.offset() == pytest.approx(100.001)
    c.add_one_way(120.020, 20.0)  # the 1 ms sample is now 20 s old: out of the 10 s window
    assert c.offset() == pytest.approx(100.020)


def test_reboot_resets_and_contradictions_fall_back_to_the_upper_bound() -> None:
    c = ClockMap()
    c.add_one_way(600.0, 500.0)
    c.add_one_way(601.005, 1.0)  # boot time went back 499 s: a reboot
    assert c.resets == 1
    assert c.offset() == pytest.approx(600.005)
    c.add_one_way(601.500, 1.3)
    c.add_one_way(601.600, 0.9)  # a small step back (another message's older stamp) is no reboot
    assert c.resets == 1
    d = ClockMap()
    d.add_one_way(10.0, 5.0)  # upper bound 5.0
    d.add_round_trip(9.9, 10.1, 4.0)  # lower bound 5.9 > 5.0: impossible, keep the one-way bound
    assert d.offset() == pytest.approx(5.0)
    assert d.inconsistent == 1
