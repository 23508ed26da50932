"""The daemon config keys that describe a scenario's simulated sensors, so the daemon sees the sim as it is.

A field crew sets these from the camera's data sheet and a survey of the vehicle; against the simulator they come
from the scenario: the camera's field of view and how it is held (gimbal mode and mount angles), the sensors'
error budget (attitude, gimbal, timing), the ground (flat altitude or DEM tile), for a mast vehicle the camera
height above the ground, and tiling for a frame much wider than the model's input. The simulated world is a local
tangent plane, so earth curvature is off. A scenario with several cameras gives one ``[[cameras]]`` table each
(``camera_tables``): its stream, lens, mount and offset, and tiling for a wide frame.
"""

from __future__ import annotations

import json
from typing import Any

from sim.scenario import Scenario

Sections = dict[str, Any]  # {section: {key: value}} or, for an array of tables, {name: [{key: value}, ...]}
MODEL_WIDTH_PX = 640  # the default model's input width


def scenario_sections(scenario: Scenario) -> Sections:
    """``{section: {key: value}}`` for [geo] (and [gps] for an MSS, [tracker] for a mast that holds still,
    [detector.tiling] for a wide frame)."""
    g, c = scenario.ground, scenario.camera
    geo: dict[str, Any] = {"hfov_deg": c.hfov_deg, "earth_curvature": False}
    # how the camera is held, for when nothing reports its angles (ArduPilot SITL has no gimbal)
    geo["gimbal_mode"] = "body" if c.frame == "body" else "stabilised" if c.yaw_follows_body else "earth"
    tilt = scenario.platform.tilt_deg if scenario.platform.kind == "mss" else 0.0
    geo |= {"mount_roll_deg": c.roll_deg, "mount_pitch_deg": c.pitch_deg + tilt, "mount_yaw_deg": c.yaw_deg}
    if g.dem is not None:
        geo["dem_path"] = str(g.dem)
    else:
        geo["ground_alt_m"] = g.alt_m if g.alt_m is not None else scenario.home.alt_m
    # the error budget of the simulated sensors, as a crew takes it from data sheets: attitude and gimbal angles
    # (the simulated stabiliser holds exactly; its error stands at the attitude's), and frames stamped on arrival
    # over HTTP, some 0.1 s apart from the pose they are matched with as the renderer's pace varies. The ground
    # model is the simulator's own (flat or the same DEM): good to a decimetre.
    att = scenario.noise.att_deg
    geo |= {"gimbal_err_deg": att, "stabilised_err_deg": att, "timing_sigma_s": 0.1, "ground_sigma_m": 0.1}
    out: Sections = {"geo": geo, "pose": {"att_err_deg": att}}
    if scenario.camera.width >= 2 * MODEL_WIDTH_PX and not scenario.cameras:
        out["detector.tiling"] = TILES
    if scenario.platform.kind == "mss":
        out["gps"] = {"camera_height_m": scenario.platform.mast_height_m}
        if scenario.platform.pan.amplitude_deg == 0.0:
            out["tracker"] = {"velocity_noise": STILL_MAST_VELOCITY_NOISE}
    return out


# a mast head that holds still (the crew stopped the sweep): the image moves only with the objects, and a slower
# changing velocity keeps each track on its own one of two people walking 20 px apart (mss-ridge-pair, replayed
# by sim.assoc_offline at the demo's rates here, day 1.2 and thermal 2.4 fps: one id for 92.5 -> 97.7 % of the
# objects both cameras saw, by track; 95.8 -> 97.2 % by box)
STILL_MAST_VELOCITY_NOISE = 0.25


# far targets on a wide frame: 2 x 2 tiles keep their pixels (the model sees each at ~0.8 scale, not 0.5)
TILES = {"cols": 2, "rows": 2, "full_frame": False}


# the default model on the simulator's thermal picture sees warm ground as vehicles: on drone-border-pair at 1 fps,
# 160 of its 290 vehicle boxes at >= 0.35 lay on no target, 40 of 163 at >= 0.5, while 123 of the 130 true ones
# stayed (python -m sim.eval_track; its people need the default threshold: mss-ridge-pair's far ones score low)
THERMAL_CLASS_THRESHOLDS = {"vehicle": 0.5}


def camera_tables(scenario: Scenario, urls: dict[str, str]) -> list[dict[str, Any]]:
    """One ``[[cameras]]`` table per camera of the scenario: ``urls`` maps camera id to its stream. The thermal
    camera goes first when both wait for the model (it sees what the day camera cannot at dusk) and reports a
    vehicle from 0.5 (``THERMAL_CLASS_THRESHOLDS``). A wide frame is tiled 2 x 2 (``TILES``), and so is a mast's
    thermal imager: its narrow view is for the far watch, where people 300-650 m out are 10-15 px tall in its
    640 px frame, too few for the default model (mss-ridge-pair at 3 fps: 2.8 times the people found tiled)."""
    tilt = scenario.platform.tilt_deg if scenario.platform.kind == "mss" else 0.0
    tables = []
    for c in scenario.cameras:
        geo = {
            "hfov_deg": c.hfov_deg,
            "gimbal_mode": "body" if c.frame == "body" else "stabilised" if c.yaw_follows_body else "earth",
            "mount_roll_deg": c.roll_deg,
            "mount_pitch_deg": c.pitch_deg + tilt,
            "mount_yaw_deg": c.yaw_deg,
            "offset_forward_m": c.offset_forward_m,
            "offset_right_m": c.offset_right_m,
            "offset_down_m": c.offset_down_m,
        }
        table: dict[str, Any] = {"id": c.id, "url": urls[c.id], "priority": 1 if c.mode == "thermal" else 0}
        table["geo"] = geo
        detector: dict[str, Any] = {}
        if c.width >= 2 * MODEL_WIDTH_PX or (c.mode == "thermal" and scenario.platform.kind == "mss"):
            detector["tiling"] = TILES
        if c.mode == "thermal":
            detector["class_thresholds"] = THERMAL_CLASS_THRESHOLDS
        if detector:
            table["detector"] = detector
        tables.append(table)
    return tables


def merge(*parts: Sections) -> Sections:
    """Sections from several sources, later keys winning."""
    out: Sections = {}
    for part in parts:
        for name, keys in part.items():
            if isinstance(keys, list):  # an array of tables: replaced as a whole
                out[name] = keys
            else:
                out.setdefault(name, {}).update(keys)
    return out


def to_toml(sections: Sections) -> str:
    """TOML text of sections of str, bool, int and float values (and lists of numbers); a section that is a list
    of tables is an array of tables, whose dict values are its sub-tables (``[[cameras]]``, ``[cameras.geo]``)."""
    lines: list[str] = []
    for name, keys in sections.items():
        for table in keys if isinstance(keys, list) else [keys]:
            _table(lines, name, table, f"[[{name}]]" if isinstance(keys, list) else f"[{name}]")
    return "\n".join(lines) + "\n"


def _table(lines: list[str], name: str, keys: dict[str, Any], header: str) -> None:
    lines.append(header)
    subs = {k: v for k, v in keys.items() if isinstance(v, dict)}
    for key, value in keys.items():
        if key not in subs:
            lines.append(f"{key} = {_value(name, key, value)}")
    for key, sub in subs.items():
        _table(lines, f"{name}.{key}", sub, f"[{name}.{key}]")


def _value(name: str, key: str, value: Any) -> str:
    """One TOML value: bool, int, float, text or a list of numbers."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list) and all(isinstance(v, int | float) for v in value):
        return json.dumps(value)  # a TOML array of numbers
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string for any text
    raise TypeError(f"[{name}] {key}: cannot write {type(value).__name__} as TOML")
