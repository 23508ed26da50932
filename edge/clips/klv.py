"""MISB ST 0601 (UAS Datalink Local Set) packets: the metadata full-motion-video tools place a clip on the map with.

A packet is the 16-byte UAS LS universal key, a BER length, then tag-length-value items (tags < 128: one byte each)
ending with the checksum (tag 1). Numbers use the standard's fixed linear mappings: a value in [a, b] becomes the
integer ``round((v - a) * (2**n - 1) / (b - a))`` of n bits (unsigned tags) or ``round(v * (2**(n-1) - 1) / b)``
(signed tags, symmetric ranges); the signed tags' most negative integer means "out of range" (e.g. a pitch beyond
the +-20 deg of tag 6, which tag 90 then carries at +-90 deg).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

UAS_LS_KEY = bytes.fromhex("060e2b34020b01010e01030101000000")
LS_VERSION = 19  # ST 0601.19: the tag layout written here has not changed since .8


@dataclass(frozen=True)
class Mapping:
    """How tag ``tag`` maps a value in [lo, hi] (its unit: degrees or metres) to a ``size``-byte integer."""

    tag: int
    lo: float
    hi: float
    size: int
    signed: bool


# tag: (range, bytes, signed) from ST 0601's tag table
PLATFORM_HEADING = Mapping(5, 0.0, 360.0, 2, False)
PLATFORM_PITCH = Mapping(6, -20.0, 20.0, 2, True)
PLATFORM_ROLL = Mapping(7, -50.0, 50.0, 2, True)
SENSOR_LAT = Mapping(13, -90.0, 90.0, 4, True)
SENSOR_LON = Mapping(14, -180.0, 180.0, 4, True)
SENSOR_ALT = Mapping(15, -900.0, 19000.0, 2, False)
SENSOR_HFOV = Mapping(16, 0.0, 180.0, 2, False)
SENSOR_VFOV = Mapping(17, 0.0, 180.0, 2, False)
SENSOR_REL_AZIMUTH = Mapping(18, 0.0, 360.0, 4, False)
SENSOR_REL_ELEVATION = Mapping(19, -180.0, 180.0, 4, True)
SENSOR_REL_ROLL = Mapping(20, 0.0, 360.0, 4, False)
FRAME_CENTER_LAT = Mapping(23, -90.0, 90.0, 4, True)
FRAME_CENTER_LON = Mapping(24, -180.0, 180.0, 4, True)
FRAME_CENTER_ELEV = Mapping(25, -900.0, 19000.0, 2, False)
TARGET_LAT = Mapping(40, -90.0, 90.0, 4, True)
TARGET_LON = Mapping(41, -180.0, 180.0, 4, True)
TARGET_ELEV = Mapping(42, -900.0, 19000.0, 2, False)
PLATFORM_PITCH_FULL = Mapping(90, -90.0, 90.0, 4, True)
PLATFORM_ROLL_FULL = Mapping(91, -90.0, 90.0, 4, True)


def map_value(m: Mapping, value: float) -> bytes:
    """``value`` (deg or m) as the tag's big-endian integer; signed tags out of range give the error value."""
    bits = 8 * m.size
    if m.signed:
        top = (1 << (bits - 1)) - 1
        if not m.lo <= value <= m.hi:
            return (1 << (bits - 1)).to_bytes(m.size, "big")  # 0x80..00: "out of range"
        return round(value * top / m.hi).to_bytes(m.size, "big", signed=True)
    top = (1 << bits) - 1
    clipped = min(max(value, m.lo), m.hi)
    return round((clipped - m.lo) * top / (m.hi - m.lo)).to_bytes(m.size, "big")


def unmap_value(m: Mapping, raw: bytes) -> float:
    """The inverse of ``map_value`` (NaN for the error value): for tests and readers."""
    bits = 8 * m.size
    if m.signed:
        n = int.from_bytes(raw, "big", signed=True)
        if n == -(1 << (bits - 1)):
            return math.nan
        return n * m.hi / ((1 << (bits - 1)) - 1)
    return m.lo + int.from_bytes(raw, "big") * (m.hi - m.lo) / ((1 << bits) - 1)


def ber_length(n: int) -> bytes:
    """BER length: short form below 128, else 0x80 | count followed by the big-endian count bytes."""
    if n < 128:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def checksum(data: bytes) -> int:
    """ST 0601's 16-bit running sum: even-indexed bytes (from the key's first) are the high byte of a word."""
    total = 0
    for i, b in enumerate(data):
        total += b << (8 * ((i + 1) % 2))
    return total & 0xFFFF


@dataclass(frozen=True)
class Sample:
    """One frame's metadata. Times POSIX s (UTC); angles degrees; positions WGS-84 degrees and metres AMSL.

    Platform heading 0..360 from north, pitch and roll as ``edge.types``; sensor angles relative to the platform
    (azimuth 0..360 clockwise from the nose, elevation up positive, roll 0..360); fields of view in degrees.
    ``frame_center`` and ``target``: (lat, lon, elevation) or None when unknown.
    """

    t_utc: float
    lat: float
    lon: float
    alt: float
    heading: float
    pitch: float
    roll: float
    rel_azimuth: float
    rel_elevation: float
    rel_roll: float
    hfov: float
    vfov: float
    frame_center: tuple[float, float, float] | None = None
    target: tuple[float, float, float] | None = None


def _item(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + ber_length(len(value)) + value


def encode(s: Sample) -> bytes:
    """One ST 0601 packet (key, length, items, checksum) for ``s``."""
    items = [_item(2, round(s.t_utc * 1e6).to_bytes(8, "big"))]

    def put(m: Mapping, value: float) -> None:
        items.append(_item(m.tag, map_value(m, value)))

    put(PLATFORM_HEADING, s.heading % 360.0)
    put(PLATFORM_PITCH, s.pitch)
    put(PLATFORM_ROLL, s.roll)
    put(SENSOR_LAT, s.lat)
    put(SENSOR_LON, s.lon)
    put(SENSOR_ALT, s.alt)
    put(SENSOR_HFOV, s.hfov)
    put(SENSOR_VFOV, s.vfov)
    put(SENSOR_REL_AZIMUTH, s.rel_azimuth % 360.0)
    put(SENSOR_REL_ELEVATION, s.rel_elevation)
    put(SENSOR_REL_ROLL, s.rel_roll % 360.0)
    if s.frame_center is not None:
        put(FRAME_CENTER_LAT, s.frame_center[0])
        put(FRAME_CENTER_LON, s.frame_center[1])
        put(FRAME_CENTER_ELEV, s.frame_center[2])
    if s.target is not None:
        put(TARGET_LAT, s.target[0])
        put(TARGET_LON, s.target[1])
        put(TARGET_ELEV, s.target[2])
    items.append(_item(65, bytes([LS_VERSION])))
    if not PLATFORM_PITCH.lo <= s.pitch <= PLATFORM_PITCH.hi:
        put(PLATFORM_PITCH_FULL, s.pitch)
    if not PLATFORM_ROLL.lo <= s.roll <= PLATFORM_ROLL.hi:
        put(PLATFORM_ROLL_FULL, s.roll)
    body = b"".join(items) + b"\x01\x02"  # the checksum item's tag and length count in the sum
    head = UAS_LS_KEY + ber_length(len(body) + 2)
    return head + body + checksum(head + body).to_bytes(2, "big")
