"""ST 0601 encoding: the standard's own per-tag examples (ST 0601.8, tag table), BER lengths and the checksum, and a
whole packet read back by klvdata, an independent parser."""

from __future__ import annotations

import math

import pytest

from edge.clips import klv

# (mapping, value, the standard's example bytes)
EXAMPLES = [
    (klv.PLATFORM_HEADING, 159.9744, "71c2"),
    (klv.PLATFORM_PITCH, -0.4315251, "fd3d"),
    (klv.PLATFORM_ROLL, 3.405814, "08b8"),
    (klv.SENSOR_LAT, 60.1768229669783, "5595b66d"),
    (klv.SENSOR_LON, 128.426759042045, "5b5360c4"),
    (klv.SENSOR_ALT, 14190.72, "c221"),
    (klv.SENSOR_HFOV, 144.5713, "cd9c"),
    (klv.SENSOR_VFOV, 152.6436, "d917"),
    (klv.SENSOR_REL_AZIMUTH, 160.719211474396, "724a0a20"),
    (klv.SENSOR_REL_ELEVATION, -168.792324833941, "87f84b86"),
    (klv.SENSOR_REL_ROLL, 176.865437690432, "7dc55ece"),
    (klv.FRAME_CENTER_LAT, -10.5423886331461, "f101a229"),
    (klv.FRAME_CENTER_LON, 29.157890122923, "14bc082b"),
    (klv.FRAME_CENTER_ELEV, 3216.037, "34f3"),
]


@pytest.mark.parametrize(("mapping", "value", "expected"), EXAMPLES)
def test_mapped_values_match_the_standards_examples(mapping: klv.Mapping, value: float, expected: str) -> None:
    raw = klv.map_value(mapping, value)
    assert raw.hex() == expected
    step = (mapping.hi - mapping.lo) / (1 << (8 * mapping.size))
    assert klv.unmap_value(mapping, raw) == pytest.approx(value, abs=step)


@pytest.mark.parametrize(
    ("mapping", "value", "expected"),
    [
        (klv.PLATFORM_PITCH, 20.0, "7fff"),
        (klv.PLATFORM_PITCH, -20.0, "8001"),
        (klv.PLATFORM_PITCH, -25.0, "8000"),  # out of range: the error value
        (klv.PLATFORM_ROLL, 50.5, "8000"),
        (klv.SENSOR_ALT, -900.0, "0000"),
        (klv.SENSOR_ALT, 19000.0, "ffff"),
        (klv.PLATFORM_HEADING, 0.0, "0000"),
        (klv.PLATFORM_HEADING, 360.0, "ffff"),
    ],
)
def test_range_ends_and_the_error_value(mapping: klv.Mapping, value: float, expected: str) -> None:
    assert klv.map_value(mapping, value).hex() == expected
    assert math.isnan(klv.unmap_value(klv.PLATFORM_PITCH, bytes.fromhex("8000")))


@pytest.mark.parametrize(("n", "expected"), [(0, "00"), (127, "7f"), (128, "8180"), (255, "81ff"), (256, "820100")])
def test_ber_length(n: int, expected: str) -> None:
    assert klv.ber_length(n).hex() == expected


def test_checksum_weights_even_bytes_high() -> None:
    assert klv.checksum(bytes([0x01, 0x02, 0x03])) == 0x0100 + 0x02 + 0x0300
    assert klv.checksum(b"\xff\xff" * 40000) == (0xFFFF * 40000) & 0xFFFF


SAMPLE = klv.Sample(
    t_utc=1_700_000_000.123456,
    lat=42.61234,
    lon=19.94512,
    alt=1123.4,
    heading=271.5,
    pitch=-3.25,
    roll=7.5,
    rel_azimuth=350.0,
    rel_elevation=-45.0,
    rel_roll=0.0,
    hfov=60.0,
    vfov=46.8,
    frame_center=(42.615, 19.941, 1000.0),
    target=(42.616, 19.942, 1001.5),
)


def test_packet_layout_and_checksum() -> None:
    pkt = klv.encode(SAMPLE)
    assert pkt[:16] == klv.UAS_LS_KEY
    assert pkt[16] == len(pkt) - 17  # short-form BER length of the rest
    assert pkt[17:19] == b"\x02\x08" and int.from_bytes(pkt[19:27], "big") == 1_700_000_000_123_456
    assert pkt[-4:-2] == b"\x01\x02"
    assert int.from_bytes(pkt[-2:], "big") == klv.checksum(pkt[:-2])


def test_pitch_beyond_tag_6_goes_in_tag_90() -> None:
    pkt = klv.encode(SAMPLE.__class__(**{**SAMPLE.__dict__, "pitch": -60.0}))
    assert bytes([6, 2]) + bytes.fromhex("8000") in pkt
    assert bytes([90, 4]) + klv.map_value(klv.PLATFORM_PITCH_FULL, -60.0) in pkt


def test_klvdata_reads_the_packet_back() -> None:
    klvdata = pytest.importorskip("klvdata")
    (packet,) = list(klvdata.StreamParser(klv.encode(SAMPLE)))
    values = {type(item).__name__: item.value.value for item in packet.items.values()}
    assert values["PrecisionTimeStamp"].timestamp() == pytest.approx(SAMPLE.t_utc, abs=1e-6)
    expected = {
        "SensorLatitude": SAMPLE.lat,
        "SensorLongitude": SAMPLE.lon,
        "SensorTrueAltitude": SAMPLE.alt,
        "PlatformHeadingAngle": SAMPLE.heading,
        "PlatformPitchAngle": SAMPLE.pitch,
        "PlatformRollAngle": SAMPLE.roll,
        "SensorRelativeAzimuthAngle": SAMPLE.rel_azimuth,
        "SensorRelativeElevationAngle": SAMPLE.rel_elevation,
        "SensorHorizontalFieldOfView": SAMPLE.hfov,
        "SensorVerticalFieldOfView": SAMPLE.vfov,
        "FrameCenterLatitude": 42.615,
        "TargetLocationLongitude": 19.942,
        "TargetLocationElevation": 1001.5,
    }
    for name, value in expected.items():
        assert values[name] == pytest.approx(value, abs=0.3), name
