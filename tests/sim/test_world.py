"""World kinematics: local frame, platform motion, camera angles, targets, DEM, overrides (hand-worked numbers)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.types import Pose, PoseSource
from sim.scenario import load_scenario, parse_scenario
from sim.world import CLASS_NAMES, LocalFrame, World, along_polyline


def scen(platform: dict[str, Any], targets: list[dict[str, Any]] | None = None, **extra: Any) -> World:
    data = {
        "name": "w",
        "home": {"lat": 42.6, "lon": 19.94, "alt_m": 1000.0},
        "platform": platform,
        "targets": targets or [],
        **extra,
    }
    return World(parse_scenario(data))


def test_local_frame_radii_at_the_equator() -> None:
    f = LocalFrame(0.0, 0.0, 0.0)
    n, e, d = f.to_ned(0.001, 0.001, -5.0)
    # meridian radius a(1 - e^2) = 6335439.33 m, prime vertical a = 6378137 m; 0.001 deg = 1.745329e-5 rad
    assert float(n) == pytest.approx(110.5743, abs=1e-3)
    assert float(e) == pytest.approx(111.3195, abs=1e-3)
    assert float(d) == 5.0


def test_local_frame_round_trip() -> None:
    f = LocalFrame(42.6, 19.94, 1000.0)
    lat, lon, alt = f.to_geodetic(1234.5, -678.9, -100.0)
    n, e, d = f.to_ned(lat, lon, alt)
    assert (float(n), float(e), float(d)) == pytest.approx((1234.5, -678.9, -100.0), abs=1e-6)


def test_orbit_position_heading_attitude_and_velocity() -> None:
    w = scen({"kind": "drone", "orbit": {"north_m": 0, "east_m": 0, "radius_m": 100}, "speed_mps": 10, "height_m": 50})
    p0 = w.platform(0.0)
    n, e, d = w.frame.to_ned(p0.lat, p0.lon, p0.alt)
    assert (float(n), float(e), float(d)) == pytest.approx((100.0, 0.0, -50.0), abs=1e-6)
    assert p0.yaw == pytest.approx(math.pi / 2)  # clockwise from north: heading east
    assert p0.roll == pytest.approx(math.atan(100 / (9.81 * 100)))  # banked into the turn
    assert p0.pitch == pytest.approx(-math.radians(6.0))  # 0.6 deg per m/s nose down
    assert p0.source == PoseSource.SIM and p0.pos_err_m == 0.0 and p0.t_mono == 0.0
    q = w.platform(math.pi / 2 / 0.1)  # a quarter turn at omega = v / r = 0.1 rad/s
    n, e, _ = w.frame.to_ned(q.lat, q.lon, q.alt)
    assert (float(n), float(e)) == pytest.approx((0.0, 100.0), abs=1e-6)
    assert abs(q.yaw) == pytest.approx(math.pi)
    assert w.velocity_ned(0.0) == pytest.approx((0.0, 10.0, 0.0), abs=0.01)


def test_route_cycles_and_stops() -> None:
    cyc = scen({"kind": "drone", "route": [[0, 0], [100, 0], [100, 100]], "speed_mps": 5, "height_m": 80})
    assert cyc.velocity_ned(4.0) == pytest.approx((5.0, 0.0, 0.0), abs=1e-6)
    p = cyc.platform(30.0)  # 150 m: 50 m along the second leg (east)
    n, e, _ = cyc.frame.to_ned(p.lat, p.lon, p.alt)
    assert (float(n), float(e)) == pytest.approx((100.0, 50.0), abs=1e-6)
    assert p.yaw == pytest.approx(math.pi / 2)
    stop = scen({"kind": "drone", "route": [[0, 0], [100, 0]], "speed_mps": 5, "loop": "stop", "yaw_deg": 45})
    q = stop.platform(100.0)
    assert float(stop.frame.to_ned(q.lat, q.lon, q.alt)[0]) == pytest.approx(100.0, abs=1e-6)
    assert q.yaw == pytest.approx(math.radians(45)) and q.pitch == 0.0 and q.roll == 0.0  # hovering


@pytest.mark.parametrize(
    ("s", "loop", "pos", "heading_deg"),
    [
        (50.0, "pingpong", (0.0, 50.0), 90.0),
        (150.0, "pingpong", (0.0, 50.0), -90.0),
        (150.0, "cycle", (0.0, 50.0), -90.0),
        (250.0, "stop", (0.0, 100.0), 90.0),
        (-10.0, "stop", (0.0, -10.0), 90.0),
    ],
)
def test_along_polyline(s: float, loop: str, pos: tuple[float, float], heading_deg: float) -> None:
    p, h = along_polyline(np.array([[0.0, 0.0], [0.0, 100.0]]), s, loop)
    assert tuple(p) == pytest.approx(pos)
    assert math.degrees(h) == pytest.approx(heading_deg)


def test_mss_mast_pan_tilt_and_ridge() -> None:
    w = scen(
        {"kind": "mss", "base_alt_m": 1260, "mast_height_m": 6, "yaw_deg": 30, "tilt_deg": -7,
         "pan": {"amplitude_deg": 60, "period_s": 40}},
        camera={"pitch_deg": 1.0},
    )  # fmt: skip
    p = w.platform(10.0)  # a quarter period: pan at +60 deg
    assert p.alt == 1266.0 and p.yaw == pytest.approx(math.radians(30))
    assert p.cam_yaw == pytest.approx(math.radians(60)) and p.cam_pitch == pytest.approx(math.radians(-6))
    assert p.cam_frame == "body" and p.roll == 0.0 and p.pitch == 0.0


def test_earth_frame_gimbal_yaw_follows_the_body() -> None:
    plat = {"kind": "drone", "route": [[0, 0], [0, 100]], "speed_mps": 5}
    follow = scen(plat, camera={"frame": "earth", "yaw_deg": 90, "pitch_deg": -50}).platform(1.0)
    fixed = scen(plat, camera={"frame": "earth", "yaw_follows_body": False, "yaw_deg": 10}).platform(1.0)
    assert follow.cam_frame == "earth" and abs(follow.cam_yaw) == pytest.approx(math.pi)  # body east + 90 = south
    assert follow.cam_pitch == pytest.approx(math.radians(-50))
    assert fixed.cam_yaw == pytest.approx(math.radians(10))


def test_targets_move_along_their_paths_in_file() -> None:
    w = scen(
        {"kind": "drone"},
        [
            {
                "class": "person",
                "north_m": 0,
                "east_m": 0,
                "path": [[0, 100]],
                "speed_mps": 2,
                "count": 3,
                "spacing_m": 3,
            },
            {
                "class": "vehicle",
                "north_m": 50,
                "east_m": 0,
                "heading_deg": 0,
                "count": 2,
                "spacing_m": 4,
                "length_m": 5.0,
            },
            {"class": "boat", "north_m": 0, "east_m": 0, "path": [[100, 0]], "speed_mps": 10, "start_s": 5},
        ],
    )

    def ne(t: float, i: int) -> tuple[float, float]:
        tt = w.targets(t)[i]
        n, e, _ = w.frame.to_ned(tt.lat, tt.lon, tt.alt)
        return float(n), float(e)

    assert [t.class_name for t in w.targets(0)] == ["person"] * 3 + ["vehicle"] * 2 + ["boat"]
    assert [t.class_id for t in w.targets(0)] == [0, 0, 0, 1, 1, 2]
    assert ne(10, 0) == pytest.approx((0.0, 20.0), abs=1e-6) and ne(10, 1) == pytest.approx((0.0, 17.0), abs=1e-6)
    assert ne(0, 2) == pytest.approx((0.0, -6.0), abs=1e-6)  # the third walker starts 6 m behind
    assert ne(60, 0) == pytest.approx((0.0, 80.0), abs=1e-6)  # 120 m: back 20 m from the end
    assert math.degrees(w.targets(60)[0].heading) == pytest.approx(-90.0)
    assert ne(0, 4) == pytest.approx((50.0, 4.0), abs=1e-6)  # parked side by side
    assert w.targets(0)[3].length_m == 5.0 and 1.9 * 0.9 <= w.targets(0)[3].width_m <= 1.9 * 1.1
    assert ne(4, 5) == pytest.approx((0.0, 0.0), abs=1e-6) and w.targets(4)[5].speed_mps == 0.0
    assert ne(7, 5) == pytest.approx((20.0, 0.0), abs=1e-6) and w.targets(7)[5].speed_mps == 10.0
    assert all(t.alt == 1000.0 for t in w.targets(3))


def test_seed_changes_scatter_and_is_reproducible() -> None:
    sc = load_scenario(Path(__file__).resolve().parents[2] / "sim" / "scenarios" / "drone-border.toml")
    a, b, c = World(sc, seed=1).targets(0), World(sc, seed=1).targets(0), World(sc, seed=2).targets(0)
    assert [(t.lat, t.lon) for t in a] == [(t.lat, t.lon) for t in b]
    assert [(t.lat, t.lon) for t in a] != [(t.lat, t.lon) for t in c]
    assert CLASS_NAMES == ["person", "vehicle", "boat"]


def test_platform_override_is_used_and_gets_the_mount_angles() -> None:
    given = Pose(t_mono=123.0, lat=42.61, lon=19.95, alt=1500.0, yaw=1.0, source=PoseSource.MAVLINK)
    answers: list[Pose | None] = [given, replace(given, cam_pitch=-0.5), None]
    sc = parse_scenario({"name": "o", "home": {"lat": 42.6, "lon": 19.94, "alt_m": 1000}, "platform": {"kind": "drone"},
                         "camera": {"pitch_deg": -30, "frame": "earth", "yaw_deg": 10}})  # fmt: skip
    w = World(sc, platform_override=lambda t: answers.pop(0))
    p = w.platform(2.0)
    assert (p.lat, p.lon, p.alt, p.t_mono, p.source) == (42.61, 19.95, 1500.0, 2.0, PoseSource.MAVLINK)
    assert p.cam_pitch == pytest.approx(math.radians(-30)) and p.cam_frame == "earth"
    assert p.cam_yaw == pytest.approx(1.0 + math.radians(10))
    assert w.platform(2.0).cam_pitch == -0.5  # the follower's own gimbal angles are kept
    assert w.platform(2.0).source == PoseSource.SIM  # no pose from the follower: the simulated one


def test_dem_ground_bilinear_and_drone_height_above_it(tmp_path: Path) -> None:
    cols = np.arange(1201, dtype=np.int64)
    grid = np.tile(1000 + cols, (1201, 1)).astype(">i2")  # rising 1 m per sample eastwards
    grid[0, 0] = -32768  # a void gets filled
    grid.tofile(tmp_path / "N42E019.hgt")
    (tmp_path / "s.toml").write_text(
        'name = "dem"\n[home]\nlat = 42.6\nlon = 19.5\nalt_m = 1600\n[ground]\ndem = "N42E019.hgt"\n'
        '[platform]\nkind = "drone"\nheight_m = 100\n'
    )
    w = World(load_scenario(tmp_path / "s.toml"))
    assert w.ground_alt(42.6, 19.5) == pytest.approx(1600.0)  # column 600
    assert w.ground_alt(42.3, 19.5 + 0.5 / 1200) == pytest.approx(1600.5)  # halfway to column 601
    assert w.platform(0).alt == pytest.approx(1700.0)


def test_each_camera_sees_the_same_targets_from_its_own_place_on_the_body() -> None:
    """[[cameras]]: one world per camera with its lens and mount; the offset is in the body frame (forward,
    right, down): a drone heading east puts a camera 1 m to its right 1 m south of the reference point."""
    cams = [
        {"id": "eo", "hfov_deg": 20.0},
        {"id": "ir", "mode": "thermal", "offset_right_m": 1.0, "offset_down_m": 0.5},
    ]
    w = scen({"kind": "drone", "yaw_deg": 90.0, "lean_deg_per_mps": 0.0}, [{"class": "person", "north_m": 50}],
             cameras=cams)  # fmt: skip
    eo, ir = w.cameras()
    assert (eo.camera_id, ir.camera_id, eo.camera.hfov_deg, ir.camera.mode) == ("eo", "ir", 20.0, "thermal")
    assert eo.targets(3.0) == ir.targets(3.0) == w.targets(3.0)
    a, b = eo.platform(0.0), ir.platform(0.0)
    n, e, d = LocalFrame(a.lat, a.lon, a.alt).to_ned(b.lat, b.lon, b.alt)
    assert (n, e, d) == pytest.approx((-1.0, 0.0, 0.5), abs=1e-4)
    assert w.cameras()[0].platform(0.0) == w.platform(0.0)  # the first camera without offset is the platform
    single = scen({"kind": "drone"})
    assert single.cameras() == [single]
