"""NMEA sentences of the simulated GPS: checksums, formats, 2D fixes, the antenna height, the pty."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import serial

from sim.nmea import NmeaFeeder, checksum, fix_sentences, sentence
from sim.scenario import Noise, load_scenario
from sim.world import World

SCEN = Path(__file__).resolve().parents[2] / "sim" / "scenarios"
UTC = 1_763_820_000.25  # 2025-11-22 14:00:00.25 UTC


def _valid(line: bytes) -> bool:
    text = line.decode("ascii").strip()
    body, _, cs = text[1:].partition("*")
    return text.startswith("$") and checksum(body) == cs


def test_checksum_of_the_textbook_sentence() -> None:
    # the NMEA reference example: $GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47
    assert checksum("GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,") == "47"
    assert sentence("GPHDT,274.07,T") == b"$GPHDT,274.07,T*03\r\n"


def test_fix_sentences_3d_and_2d() -> None:
    lines = fix_sentences(UTC, 48.1173, -11.5, 545.4, 5.144444, 84.4, 274.07, (1.0, 2.0, 3.0))
    assert all(_valid(x) for x in lines)
    gga, gsa, rmc, hdt, gst = (x.decode().split("*")[0] for x in lines)
    assert gga == "$GPGGA,140000.25,4807.03800,N,01130.00000,W,1,12,0.8,545.40,M,0.0,M,,"
    assert gsa.split(",")[2] == "3"
    assert rmc == "$GPRMC,140000.25,A,4807.03800,N,01130.00000,W,10.00,84.4,221125,,,A"  # 5.144 m/s = 10 kn
    assert hdt == "$GPHDT,274.07,T"
    assert gst.split(",")[6:] == ["1.00", "2.00", "3.00"]
    flat = fix_sentences(UTC, 48.1173, 11.5, None, 0.0, 0.0, None, (1.0, 1.0, 1.0))
    assert len(flat) == 4  # no heading sentence
    assert flat[0].decode().split(",")[9] == "" and flat[1].decode().split(",")[2] == "2"


def test_epoch_reports_the_antenna_of_the_world_without_noise() -> None:
    s = load_scenario(SCEN / "mss-ridge.toml")
    world = World(s.model_copy(update={"noise": Noise(gps_m=0, alt_m=0, att_deg=0)}))
    gga = NmeaFeeder(world, antenna_height_m=2.0).epoch(10.0, UTC)[0].decode().split(",")
    truth = world.platform(10.0)  # the camera: ridge 1260 m + 6 m mast
    lat = int(gga[2][:2]) + float(gga[2][2:]) / 60
    lon = int(gga[4][:3]) + float(gga[4][3:]) / 60
    assert (lat, lon) == pytest.approx((truth.lat, truth.lon), abs=2e-7)
    assert float(gga[9]) == pytest.approx(truth.alt - 6.0 + 2.0)


def test_feeder_writes_valid_sentences_to_its_pty() -> None:
    world = World(load_scenario(SCEN / "mss-ridge.toml"))
    feeder = NmeaFeeder(world, rate_hz=10.0)
    feeder.start()
    try:
        assert feeder.pty_path is not None
        with serial.Serial(feeder.pty_path, 38400, timeout=0.2) as port:
            lines: list[bytes] = []
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline and len(lines) < 12:
                line = port.readline()
                if line.startswith(b"$"):
                    lines.append(line)
    finally:
        feeder.stop()
    assert len(lines) >= 12 and all(_valid(x) for x in lines)
    assert {x[3:6] for x in lines} == {b"GGA", b"GSA", b"RMC", b"HDT", b"GST"}
    with pytest.raises(ValueError, match="fix"):
        NmeaFeeder(world, fix="none")
