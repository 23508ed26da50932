"""Pure mapping of the daemon's health dict to what a ground station shows.

Known keys (the daemon reports them through ``GcsAlerter.report_health``):

=================  ======  ===========  =====================================
key                type    MAVLink name  meaning
=================  ======  ===========  =====================================
detector_fps       float   det_fps      detections per second of the detector
uplink_connected   bool    uplink       MQTT uplink connected
spool_backlog      int     spool        events waiting in the spool
camera_ok          bool    cam_ok       frames are arriving
fps_<camera id>    float   fps_<id>     one camera's frames/s (several cameras)
=================  ======  ===========  =====================================

Other numeric keys are sent under their first 10 characters. NAMED_VALUE names are at most 10 characters.
The daemon's health snapshot (``{"stages": {"pipeline": {...}, "camera:cam0": {...}, "mqtt": {...}, ...}}``)
is reduced to these keys by ``summarize``.
"""

from __future__ import annotations

NAMES = {"detector_fps": "det_fps", "uplink_connected": "uplink", "spool_backlog": "spool", "camera_ok": "cam_ok"}
# flag -> (text when it becomes true, text when it becomes false)
FLAG_TEXT = {
    "camera_ok": ("edge: camera OK", "edge: camera FAILED"),
    "uplink_connected": ("edge: uplink connected", "edge: uplink lost"),
    "spool_intact": ("edge: spool OK", "edge: spool damaged; see edge status"),
}
NAME_LEN = 10


def summarize(snapshot: dict[str, object]) -> dict[str, object]:
    """The known keys from the daemon's health snapshot; a snapshot without ``stages`` is taken as already flat.

    detector_fps = stages.pipeline.fps (summed over ``pipeline:<id>`` with several cameras, each also as
    ``fps_<id>``, cut to 10 characters); camera_ok = every ``camera*`` stage is "streaming";
    uplink_connected = stages.mqtt.state == "connected"; spool_backlog = stages.spool.rows;
    spool_intact = stages.spool has no ``damage`` (a damaged spool found at start, moved aside).
    Keys whose stage is absent are left out.
    """
    stages = snapshot.get("stages")
    if not isinstance(stages, dict):
        return dict(snapshot)
    out: dict[str, object] = {}
    mqtt, spool = stages.get("mqtt"), stages.get("spool")
    pipes = {  # "pipeline", or "pipeline:<camera id>" each with several cameras
        str(name).partition(":")[2]: float(h["fps"])
        for name, h in stages.items()
        if str(name).partition(":")[0] == "pipeline" and isinstance(h, dict) and isinstance(h.get("fps"), (int, float))
    }
    if pipes:
        out["detector_fps"] = sum(pipes.values())
    if len(pipes) > 1:
        out |= {f"fps_{cam}"[:NAME_LEN]: fps for cam, fps in pipes.items()}
    cams = [h for name, h in stages.items() if str(name).startswith("camera") and isinstance(h, dict)]
    if cams:
        out["camera_ok"] = all(h.get("state") == "streaming" for h in cams)
    if isinstance(mqtt, dict):
        out["uplink_connected"] = mqtt.get("state") == "connected"
    if isinstance(spool, dict) and isinstance(spool.get("rows"), int):
        out["spool_backlog"] = spool["rows"]
        out["spool_intact"] = "damage" not in spool
    return out


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
