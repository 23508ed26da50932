"""The UTC clock: the offset estimator (worked by hand), source choice, holding, the host mode, the MAVLink feed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edge.sources.clock import UtcClock, estimate_offset
from edge.sources.clock_settings import ClockSettings
from edge.sources.mavlink_utc import attach_utc_feed

U = 1_800_000_000.0  # a UTC in 2027 (s)


@pytest.mark.parametrize(
    ("samples", "bin_s", "expected"),
    [
        ([], 5.0, None),
        # one sample: utc - t_mono
        ([(10.0, U + 10.0)], 5.0, U),
        # one bin, delays 30, 2 and 10 ms: the least-delayed (largest utc - t_mono) wins -> U - 0.002
        ([(10.030, U + 10.0), (11.002, U + 11.0), (12.010, U + 12.0)], 5.0, U - 0.002),
        # three bins at U, U - 0.004, U - 0.010: the median -> U - 0.004
        ([(1.0, U + 1.0), (6.004, U + 6.0), (11.010, U + 11.0)], 5.0, U - 0.004),
        # a GPS time glitch an hour off in one of three bins moves nothing: median of U, U + 3600, U - 0.002
        ([(1.0, U + 1.0), (6.0, U + 3606.0), (11.002, U + 11.0)], 5.0, U),
        # two bins: the median is their mean
        ([(1.0, U + 1.0), (6.010, U + 6.0)], 5.0, U - 0.005),
        # 1 s bins see each sample alone: median of U - 0.030, U - 0.002, U - 0.010 -> U - 0.010
        ([(10.030, U + 10.0), (11.002, U + 11.0), (12.010, U + 12.0)], 1.0, U - 0.010),
    ],
)
def test_estimate_offset(samples: list[tuple[float, float]], bin_s: float, expected: float | None) -> None:
    got = estimate_offset(samples, bin_s)
    assert got == (None if expected is None else pytest.approx(expected, abs=1e-6))


class FakeTime:
    """The host's wall clock an hour ahead of GPS time; monotonic time set by the test."""

    def __init__(self) -> None:
        self.mono = 100.0

    def host(self) -> float:
        return U + 3600.0 + self.mono


def test_host_until_gps_time_then_gps_preferred_and_held(caplog: pytest.LogCaptureFixture) -> None:
    ft = FakeTime()
    clock = UtcClock(ClockSettings(window_s=10.0), host=ft.host, mono=lambda: ft.mono)
    assert clock.source == "host" and clock.to_utc(99.0) == U + 3699.0
    assert clock.health()["host_offset_s"] is None
    with caplog.at_level(logging.INFO, "edge.sources.clock"):
        clock.add("gpsd", 100.0, U + 100.0)
        clock.add("gpsd", 100.5, U + 100.5)
    assert clock.source == "gpsd" and clock.to_utc(99.0) == pytest.approx(U + 99.0)
    assert "host clock is +3600.000 s off GPS time" in caplog.text  # one warning, not one per sample
    assert caplog.text.count("WARNING") == 1
    # the autopilot's GPS time comes: preferred over gpsd
    clock.add("gps-mavlink", 101.0, U + 101.0 + 0.020)
    h = clock.health()
    assert h["source"] == "gps-mavlink" and h["host_offset_s"] == pytest.approx(3599.980) and h["host_ok"] is False
    assert clock.now() == pytest.approx(U + 100.020)
    # the autopilot falls silent beyond the window: gpsd (still fresh) takes over
    ft.mono = 109.0
    clock.add("gpsd", 109.0, U + 109.0)
    ft.mono = 112.0
    assert clock.source == "gpsd"
    # everything silent: the last offset is held, not the host clock
    ft.mono = 500.0
    assert clock.source == "gpsd" and clock.now() == pytest.approx(U + 500.0)
    assert clock.health()["gps_age_s"] == pytest.approx(391.0)


def test_host_mode_measures_but_stamps_from_the_host() -> None:
    ft = FakeTime()
    clock = UtcClock(ClockSettings(source="host"), host=ft.host, mono=lambda: ft.mono)
    clock.add("gps-mavlink", 100.0, U + 100.0)
    assert clock.source == "host" and clock.now() == U + 3700.0
    assert clock.health()["host_offset_s"] == pytest.approx(3600.0)


def test_implausible_utc_is_ignored_and_an_honest_host_is_ok() -> None:
    mono = [100.0]
    clock = UtcClock(host=lambda: U + mono[0] + 0.3, mono=lambda: mono[0])
    clock.add("gps-mavlink", 100.0, 42.0)  # a time since boot, not a UTC
    assert clock.source == "host"
    clock.add("gps-mavlink", 100.0, U + 100.0)  # host 0.3 s ahead: within the 1 s tolerance
    h = clock.health()
    assert h["source"] == "gps-mavlink" and h["host_ok"] is True and h["host_offset_s"] == pytest.approx(0.3)
    with pytest.raises(ValueError, match="unknown clock source"):
        clock.add("ntp", 100.0, U)


class FakeLink:
    """What the feed uses of MavlinkLink: the target, boot time -> monotonic (offset 1000 s), listeners."""

    target_component = 1

    def __init__(self) -> None:
        self.listeners: list[Callable[[Any, float], None]] = []

    def add_listener(self, cb: Callable[[Any, float], None]) -> None:
        self.listeners.append(cb)

    def to_mono(self, time_boot_ms: int, component: int | None = None) -> float:
        return 1000.0 + time_boot_ms / 1000.0


def _msg(m: Any, comp: int = 1) -> Any:
    m.pack(mavlink.MAVLink(None, 1, comp))  # sets the header (source component) as on the wire
    return m


def _gps(fix: int, time_usec: int) -> Any:
    return _msg(mavlink.MAVLink_gps_raw_int_message(time_usec, fix, 0, 0, 0, 80, 120, 0, 0, 10))


def test_mavlink_feed_needs_a_3d_fix_and_maps_system_time_through_boot_time() -> None:
    link = FakeLink()
    clock = UtcClock(mono=lambda: 1020.0)
    attach_utc_feed(link, clock)  # duck-typed
    feed = link.listeners[0]
    system_time = _msg(mavlink.MAVLink_system_time_message(int((U + 5.0) * 1e6), 15_000))  # boot 15 s = mono 1015
    feed(system_time, 1015.050)  # no GPS_RAW_INT yet: the autopilot's clock may be unset or hand-set
    feed(_gps(mavlink.GPS_FIX_TYPE_2D_FIX, int((U + 5.0) * 1e6)), 1015.0)
    feed(system_time, 1015.050)
    assert clock.source == "host"
    feed(_gps(mavlink.GPS_FIX_TYPE_3D_FIX, 15_000_000), 1015.0)  # ArduPilot: time since boot, not UTC
    assert clock.source == "host"
    feed(_msg(mavlink.MAVLink_system_time_message(int((U + 5.0) * 1e6), 15_000), comp=154), 1015.050)  # a gimbal
    assert clock.source == "host"
    feed(system_time, 1015.050)  # 50 ms late; its boot time says it was true at 1015.000
    assert clock.source == "gps-mavlink" and clock.to_utc(1015.0) == pytest.approx(U + 5.0)


def test_mavlink_feed_takes_a_utc_gps_raw_int_at_its_receive_time() -> None:
    link = FakeLink()
    clock = UtcClock(mono=lambda: 1020.0)
    attach_utc_feed(link, clock)  # duck-typed
    link.listeners[0](_gps(mavlink.GPS_FIX_TYPE_3D_FIX, int((U + 5.0) * 1e6)), 1015.010)
    assert clock.source == "gps-mavlink" and clock.to_utc(1015.010) == pytest.approx(U + 5.0)
