"""Pure formatting of what the pilot sees: alert text and the CAMERA_TRACKING_* messages of one event.

STATUSTEXT text is at most 50 bytes (MAVLink char[50], UTF-8 in QGroundControl), so text is cut by bytes,
never inside a character.
"""

from __future__ import annotations

import math

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edge.types import EventKind, GeoEvent

TEXT_BYTES = 50
NAN = float("nan")


def fit_bytes(text: str, limit: int = TEXT_BYTES) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes without splitting a character."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[:limit].decode("utf-8", errors="ignore")


def alert_text(ev: GeoEvent, ascii_only: bool = False, camera: str = "") -> str:
    """What the pilot reads and hears, e.g. ``person 87% 42.61234 19.94512 ±6 m #12`` (≤ 50 bytes); with
    ``camera`` (a daemon with several cameras) the camera's id first: ``ir person 87% ...``.

    Updates start with ``upd``; an event without a position says ``no fix`` and why. The class name is
    shortened when the whole line would not fit, so the position is never cut.
    """
    pm = "+/-" if ascii_only else "±"
    conf = f"{round(ev.confidence * 100):d}%"
    if ev.lat is not None and ev.lon is not None:
        where = f"{ev.lat:.5f} {ev.lon:.5f}"
        if ev.error_m is not None and math.isfinite(ev.error_m):
            where += f" {pm}{ev.error_m:.0f} m"
    else:
        where = f"no fix ({ev.no_fix_reason})" if ev.no_fix_reason else "no fix"
    prefix = ("upd " if ev.kind == EventKind.UPDATE else "") + (f"{fit_bytes(camera, 12)} " if camera else "")
    tail = f" {conf} {where} #{ev.track_id}"
    room = TEXT_BYTES - len((prefix + tail).encode("utf-8"))
    name = fit_bytes(ev.class_name, max(room, 1))
    return fit_bytes(prefix + name + tail)


def geo_status(ev: GeoEvent) -> mavlink.MAVLink_camera_tracking_geo_status_message | None:
    """CAMERA_TRACKING_GEO_STATUS for a located event (lat/lon degE7, alt m AMSL, h_acc/dist m); None without fix."""
    if ev.lat is None or ev.lon is None:
        return None
    return mavlink.MAVLink_camera_tracking_geo_status_message(
        mavlink.CAMERA_TRACKING_STATUS_FLAGS_ACTIVE,
        round(ev.lat * 1e7),
        round(ev.lon * 1e7),
        NAN if ev.alt is None else float(ev.alt),
        NAN if ev.error_m is None else float(ev.error_m),
        NAN,  # v_acc
        NAN,  # vel_n
        NAN,  # vel_e
        NAN,  # vel_d
        NAN,  # vel_acc
        NAN if ev.range_m is None else float(ev.range_m),
        NAN,  # hdg
        NAN,  # hdg_acc
    )


def image_status(ev: GeoEvent) -> mavlink.MAVLink_camera_tracking_image_status_message:
    """CAMERA_TRACKING_IMAGE_STATUS with the event's box as a rectangle (fractions of the image, 0..1)."""
    x1, y1, x2, y2 = (min(1.0, max(0.0, float(v))) for v in ev.bbox_norm)
    return mavlink.MAVLink_camera_tracking_image_status_message(
        mavlink.CAMERA_TRACKING_STATUS_FLAGS_ACTIVE,
        mavlink.CAMERA_TRACKING_MODE_RECTANGLE,
        mavlink.CAMERA_TRACKING_TARGET_DATA_IN_STATUS,
        NAN,  # point_x
        NAN,  # point_y
        NAN,  # radius
        x1,
        y1,
        x2,
        y2,
    )
