"""Grading a gpsd TPV by the receiver's own word (satellites used, GSA mode), and checking report values."""

from __future__ import annotations

import math

import pytest

from edge.sources.gps_reports import BadReport, FixQuality, nmea_fields, nmea_heading, number, tpv_mode
from sim.nmea import sentence


def test_grade_lowers_mode_3_by_gsa_and_satellites() -> None:
    q = FixQuality()
    assert q.grade(3, 0.0) == (3, "")  # nothing known: gpsd's word
    q.nmea(sentence("GPGSA,A,2,02,05,07,09,,,,,,,,,3.4,2.5,2.3").decode().strip(), 0.0)
    assert q.grade(3, 1.0) == (2, "the receiver's GSA says 2D")
    assert q.grade(3, 4.0) == (3, "")  # a GSA 4 s old no longer speaks for this fix
    q.sky({"class": "SKY", "uSat": 3}, 4.0)
    assert q.grade(3, 4.5) == (2, "3 satellites used")
    q.nmea(sentence("GNGGA,120000.00,4807.038,N,01131.000,E,1,07,0.9,545.4,M,46.9,M,,").decode().strip(), 5.0)
    assert q.grade(3, 5.0) == (3, "") and q.sats == 7
    q.sky({"class": "SKY", "satellites": [{"used": True}, {"used": False}, {"used": True}]}, 6.0)
    assert q.grade(3, 6.0) == (2, "2 satellites used")
    assert q.grade(1, 6.0) == (1, "")


def test_nmea_with_a_bad_checksum_is_ignored() -> None:
    good = sentence("GPGSA,A,2,02,05,07,,,,,,,,,,3.4,2.5,2.3").decode().strip()
    assert nmea_fields(good) is not None
    assert nmea_fields(good[:-2] + "00") is None
    q = FixQuality()
    q.nmea(good[:-2] + "00", 0.0)
    assert q.rx_mode is None


@pytest.mark.parametrize(
    ("rep", "key", "lo", "hi", "want"),
    [
        ({"lat": 48.5}, "lat", -90, 90, 48.5),
        ({}, "lat", -90, 90, None),
        ({"lat": 91}, "lat", -90, 90, BadReport),
        ({"alt": math.nan}, "alt", -math.inf, math.inf, BadReport),
        ({"alt": "545"}, "alt", -math.inf, math.inf, BadReport),
        ({"alt": True}, "alt", -math.inf, math.inf, BadReport),
    ],
)
def test_number(rep: dict[str, object], key: str, lo: float, hi: float, want: object) -> None:
    if want is BadReport:
        with pytest.raises(BadReport, match=key):
            number(rep, key, lo, hi)
    else:
        assert number(rep, key, lo, hi) == want


@pytest.mark.parametrize("mode", ["x", 4, -1, 2.0, None])
def test_bad_tpv_modes(mode: object) -> None:
    with pytest.raises(BadReport, match="mode"):
        tpv_mode({"class": "TPV", "mode": mode})
    assert tpv_mode({"class": "TPV"}) == 0


@pytest.mark.parametrize(
    ("body", "want"),
    [
        ("GNTHS,123.45,A", 123.45),
        ("GNTHS,123.45,V", None),  # not valid
        ("GPHDT,359.9,T", 359.9),
        ("HCHDG,200.0,1.0,E,3.0,W", 198.0),  # magnetic 200 + deviation 1 E - variation 3 W
        ("HCHDG,200.0,,,,", None),  # magnetic without variation: not a true heading
        ("GPGGA,1,2", None),
    ],
)
def test_nmea_heading(body: str, want: float | None) -> None:
    got = nmea_heading(sentence(body).decode().strip())
    assert got == (pytest.approx(want) if want is not None else None)
