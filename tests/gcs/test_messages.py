"""What the pilot reads: alert text and CAMERA_TRACKING_* fields, hand-worked."""

from __future__ import annotations

import math
from typing import Any

import pytest

from edge.gcs.health import flag_changes, named_values, summarize
from edge.gcs.messages import alert_text, fit_bytes, geo_status, image_status
from edge.types import EventKind, GeoEvent


def ev(**kw: Any) -> GeoEvent:
    base: dict[str, Any] = dict(
        track_id=12,
        class_id=0,
        class_name="person",
        confidence=0.87,
        kind=EventKind.NEW,
        bbox_norm=(0.25, 0.5, 0.3125, 0.75),
        lat=42.612341,
        lon=19.945118,
        alt=512.0,
        error_m=6.4,
        range_m=310.0,
    )
    base.update(kw)
    return GeoEvent(**base)


@pytest.mark.parametrize(
    ("kw", "ascii_only", "text"),
    [
        ({}, False, "person 87% 42.61234 19.94512 ±6 m #12"),
        ({}, True, "person 87% 42.61234 19.94512 +/-6 m #12"),
        ({"kind": EventKind.UPDATE, "confidence": 0.905}, False, "upd person 90% 42.61234 19.94512 ±6 m #12"),
        ({"lat": -33.9, "lon": -151.25, "error_m": None}, False, "person 87% -33.90000 -151.25000 #12"),
        ({"lat": None, "lon": None, "no_fix_reason": "no pose"}, False, "person 87% no fix (no pose) #12"),
        (  # 39 bytes after the name (± is 2 bytes) leave 11 for it
            {"class_name": "armoured-personnel-carrier", "track_id": 123456, "lat": -42.612341, "lon": -119.945118},
            False,
            "armoured-pe 87% -42.61234 -119.94512 ±6 m #123456",
        ),
    ],
)
def test_alert_text(kw, ascii_only, text):
    got = alert_text(ev(**kw), ascii_only)
    assert got == text
    assert len(got.encode()) <= 50


def test_fit_bytes_never_splits_a_character():
    assert fit_bytes("a" * 49 + "±", 50) == "a" * 49
    assert fit_bytes("short", 50) == "short"


def test_geo_status_fields():
    m = geo_status(ev())
    assert m is not None
    assert (m.lat, m.lon, m.alt, m.h_acc, m.dist, m.tracking_status) == (426123410, 199451180, 512.0, 6.4, 310.0, 1)
    assert math.isnan(m.vel_n) and math.isnan(m.hdg)
    assert geo_status(ev(lat=None, lon=None)) is None


def test_image_status_box_as_rectangle():
    m = image_status(ev(bbox_norm=(-0.1, 0.5, 0.3125, 1.2)))
    assert (m.rec_top_x, m.rec_top_y, m.rec_bottom_x, m.rec_bottom_y) == (0.0, 0.5, 0.3125, 1.0)
    assert (m.tracking_mode, m.target_data) == (2, 4) and math.isnan(m.point_x)


def test_named_values_and_flag_changes():
    h = {
        "detector_fps": 9.5,
        "uplink_connected": False,
        "spool_backlog": 17,
        "camera_ok": True,
        "note": "x",
        "gpu_temperature": 61,
    }
    assert named_values(h) == [
        ("cam_ok", 1.0, True),
        ("det_fps", 9.5, False),
        ("gpu_temper", 61.0, True),
        ("spool", 17.0, True),
        ("uplink", 0.0, True),
    ]
    assert flag_changes({}, h) == [("edge: uplink lost", True)]  # a healthy flag at start says nothing
    assert flag_changes(h, {**h, "camera_ok": False, "uplink_connected": True}) == [
        ("edge: camera FAILED", True),
        ("edge: uplink connected", False),
    ]


def test_default_text_survives_pymavlink_decoding():
    from pymavlink.dialects.v20 import ardupilotmega as mavlink

    from edge.gcs.settings import GcsSettings

    text = alert_text(ev(), GcsSettings().ascii_only)
    raw = mavlink.MAVLink_statustext_message(2, text.encode()).pack(mavlink.MAVLink(None))
    assert mavlink.MAVLink(None).decode(bytearray(raw)).text == text == "person 87% 42.61234 19.94512 +/-6 m #12"


def test_summarize_the_daemon_snapshot():
    snap = {
        "vehicle": "v1",
        "pid": 42,
        "stages": {
            "pipeline": {"fps": 8.25, "events": 3},
            "camera:cam0": {"state": "streaming"},
            "camera:ir": {"state": "reconnecting"},
            "mqtt": {"state": "backoff"},
            "spool": {"state": "ok", "rows": 120},
            "mavlink": {"state": "connected"},
        },
    }
    assert summarize(snap) == {
        "detector_fps": 8.25,
        "camera_ok": False,
        "uplink_connected": False,
        "spool_backlog": 120,
        "spool_intact": True,
    }
    snap["stages"]["spool"]["damage"] = "spool damaged: ..."  # type: ignore[index]
    assert summarize(snap)["spool_intact"] is False
    assert ("edge: spool damaged; see edge status", True) in flag_changes({}, summarize(snap))
    assert summarize({"stages": {}}) == {}
    assert summarize({"camera_ok": True}) == {"camera_ok": True}
