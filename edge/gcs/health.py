"""Pure mapping of the daemon's health dict to what a ground station shows.

Known keys (the daemon reports them through ``GcsAlerter.report_health``):

=================  ======  ===========  =====================================
key                type    MAVLink name  meaning
=================  ======  ===========  =====================================
detector_fps       float   det_fps      detections per second of the detector
uplink_connected   bool    uplink       MQTT uplink connected
spool_backlog      int     spool        events waiting in the spool
camera_ok          bool    cam_ok       frames are arriving
=================  ======  ===========  =====================================

Other numeric keys are sent under their first 10 characters. NAMED_VALUE names are at most 10 characters.
"""

from __future__ import annotations

NAMES = {"detector_fps": "det_fps", "uplink_connected": "uplink", "spool_backlog": "spool", "camera_ok": "cam_ok"}
# flag -> (text when it becomes true, text when it becomes false)
FLAG_TEXT = {
    "camera_ok": ("edge: camera OK", "edge: camera FAILED"),
    "uplink_connected": ("edge: uplink connected", "edge: uplink lost"),
}
NAME_LEN = 10


def named_values(health: dict[str, object]) -> list[tuple[str, float, bool]]:
    """(name ≤ 10 chars, value, is_int) for each numeric or boolean entry; booleans are ints 0/1. Sorted by name."""
    out: list[tuple[str, float, bool]] = []
    for key, value in health.items():
        name = NAMES.get(key, key)[:NAME_LEN]
        if isinstance(value, (bool, int)):
            out.append((name, float(value), True))
        elif isinstance(value, float):
            out.append((name, value, False))
    return sorted(out)


def flag_changes(prev: dict[str, object], cur: dict[str, object]) -> list[tuple[str, bool]]:
    """(text, is_bad) for each boolean flag whose value differs from ``prev`` (a flag seen for the first time
    counts as a change only when it is false, so a healthy start says nothing)."""
    out: list[tuple[str, bool]] = []
    for key in sorted(cur):
        value = cur[key]
        if not isinstance(value, bool):
            continue
        before = prev.get(key)
        if before == value or (before is None and value):
            continue
        good, bad = FLAG_TEXT.get(key, (f"edge: {key} yes", f"edge: {key} no"))
        out.append((good if value else bad, not value))
    return out
