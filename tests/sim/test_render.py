"""Renderer: ground-truth boxes against hand-worked projections, drawing inside the boxes, image types, classes.

Hand-worked setup: 640x480 with hfov 90 deg, so fx = 320 / tan(45 deg) = 320, cx = 320, cy = 240.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.types import Pose, PoseSource
from sim.render import GroundTruth, Renderer, RenderOptions
from sim.render_camera import Intrinsics, project, r_cam_to_ned
from sim.scenario import load_scenario, parse_scenario
from sim.world import World

SCENARIOS = Path(__file__).resolve().parents[2] / "sim" / "scenarios"
CLEAN = RenderOptions(noise_day=0.0, shadows=False)


def world(platform: dict[str, Any], camera: dict[str, Any], targets: list[dict[str, Any]]) -> World:
    data = {
        "name": "r",
        "home": {"lat": 42.6, "lon": 19.94, "alt_m": 1000.0},
        "platform": platform,
        "camera": {"width": 640, "height": 480, "hfov_deg": 90.0, **camera},
        "targets": targets,
    }
    return World(parse_scenario(data))


def car(n: float, e: float, heading: float) -> dict[str, Any]:
    return {
        "class": "vehicle",
        "north_m": n,
        "east_m": e,
        "heading_deg": heading,
        "length_m": 4.0,
        "width_m": 2.0,
        "height_m": 1.5,
    }


NADIR = {"frame": "earth", "yaw_follows_body": False, "pitch_deg": -90.0}


def test_nadir_vehicle_box_is_the_hand_worked_projection() -> None:
    # camera 100 m above flat ground; car 10 m north, 20 m east, length along north.
    # corners: bottom at depth 100, top at 98.5; u = 320 + 320 e / depth, v = 240 - 320 n / depth (north is up)
    w = world({"kind": "drone", "height_m": 100.0}, NADIR, [car(10, 20, 0)])
    _, gt = Renderer(w, options=CLEAN).render(0.0)
    expected = [320 + 320 * 19 / 100, 240 - 320 * 12 / 98.5, 320 + 320 * 21 / 98.5, 240 - 320 * 8 / 100]
    assert expected == pytest.approx([380.8, 201.0152, 388.2234, 214.4], abs=1e-3)
    assert gt.boxes.shape == (1, 4)
    assert gt.boxes[0] == pytest.approx(expected, abs=1.0)
    assert gt.boxes[0] == pytest.approx(expected, abs=1e-6)  # it is in fact exact
    assert gt.range_m[0] == pytest.approx(math.sqrt(100**2 + 10**2 + 20**2))
    assert gt.visible_frac[0] == 1.0 and gt.occluded[0] == 0.0


def test_nadir_person_cylinder_box() -> None:
    person = {
        "class": "person",
        "north_m": 0,
        "east_m": 30,
        "heading_deg": 0,
        "length_m": 0.5,
        "width_m": 0.5,
        "height_m": 1.8,
    }
    w = world({"kind": "drone", "height_m": 100.0}, NADIR, [person])
    _, gt = Renderer(w, options=CLEAN).render(0.0)
    # radius 0.25 m around the point 30 m east of nadir: x1 from the bottom ring (depth 100, nearer the centre),
    # x2, y1 and y2 from the top ring (depth 98.2, magnified away from the centre)
    expected = [320 + 320 * 29.75 / 100, 240 - 320 * 0.25 / 98.2, 320 + 320 * 30.25 / 98.2, 240 + 320 * 0.25 / 98.2]
    assert gt.boxes[0] == pytest.approx(expected, abs=1e-6)
    assert gt.class_ids.tolist() == [0]


def test_horizontal_camera_looking_east() -> None:
    # body yaw 90 deg, camera level, 10 m above the ground; car 100 m east with its length along east.
    # image right is south: u = 320 - 320 n / depth; v = 240 + 320 (down) / depth
    w = world({"kind": "drone", "height_m": 10.0, "yaw_deg": 90.0}, {}, [car(0, 100, 90)])
    _, gt = Renderer(w, options=CLEAN).render(0.0)
    expected = [320 - 320 / 98, 240 + 320 * 8.5 / 102, 320 + 320 / 98, 240 + 320 * 10 / 98]
    assert expected == pytest.approx([316.7347, 266.6667, 323.2653, 272.6531], abs=1e-4)
    assert gt.boxes[0] == pytest.approx(expected, abs=1e-6)


def test_gimbal_composes_after_the_body() -> None:
    # body rolled 20 deg right, camera yawed 90 deg right in the body: it looks east, 20 deg down.
    pose = Pose(t_mono=0, lat=0, lon=0, alt=0, roll=math.radians(20), cam_yaw=math.radians(90), source=PoseSource.SIM)
    k = Intrinsics.from_hfov(640, 480, 90.0)
    ahead = 10 / math.tan(math.radians(20))  # where the optical axis meets the ground 10 m below
    pts = np.array([[0.0, ahead, 10.0], [-1.0, ahead, 10.0]])  # that point, and 1 m south of it
    uv, depth = project(pts, np.zeros(3), r_cam_to_ned(pose), k)
    slant = math.hypot(ahead, 10.0)
    assert uv[0] == pytest.approx([320.0, 240.0], abs=1e-9)
    assert uv[1, 0] == pytest.approx(320 + 320 / slant, abs=1e-9)
    assert depth[0] == pytest.approx(slant)


def test_targets_behind_or_beside_the_camera_are_left_out_and_cut_ones_are_clipped() -> None:
    w = world(
        {"kind": "drone", "height_m": 10.0, "yaw_deg": 90.0}, {}, [car(0, -100, 90), car(0, 100, 90), car(100, 1, 0)]
    )
    _, gt = Renderer(w, options=CLEAN).render(0.0)
    assert gt.target_ids.tolist() == [1]
    edge = world({"kind": "drone", "height_m": 100.0}, NADIR, [car(0, 100, 0)])  # straddles the right border
    _, gt = Renderer(edge, options=CLEAN).render(0.0)
    assert gt.boxes[0, 2] == 640.0 and 0.0 < gt.visible_frac[0] < 1.0


def test_drawn_pixels_lie_inside_the_box() -> None:
    w = world({"kind": "drone", "height_m": 60.0}, {**NADIR, "pitch_deg": -60.0}, [car(40, 5, 30)])
    empty = world({"kind": "drone", "height_m": 60.0}, {**NADIR, "pitch_deg": -60.0}, [])
    img, gt = Renderer(w, options=CLEAN).render(0.0)
    bg, _ = Renderer(empty, options=CLEAN).render(0.0)
    ys, xs = np.nonzero(np.abs(img.astype(int) - bg.astype(int)).max(axis=2) > 8)
    x1, y1, x2, y2 = gt.boxes[0]
    assert len(xs) > 0.3 * (x2 - x1) * (y2 - y1)  # the car fills a good part of its box
    assert xs.min() + 0.5 >= x1 - 1 and xs.max() + 0.5 <= x2 + 1
    assert ys.min() + 0.5 >= y1 - 1 and ys.max() + 0.5 <= y2 + 1


@pytest.mark.parametrize("name", ["drone-border", "coast"])
def test_day_and_thermal_images_and_truth(name: str) -> None:
    w = World(load_scenario(SCENARIOS / f"{name}.toml"))
    day, gt = Renderer(w).render(2.0)
    assert day.shape == (480, 640, 3) and day.dtype == np.uint8
    assert len(gt) >= 2 and gt.boxes.dtype == np.float64
    assert np.all((gt.boxes[:, :2] >= 0) & (gt.boxes[:, 2:] <= [640, 480]))
    thermal, gt_t = Renderer(w, mode="thermal").render(2.0)
    assert thermal.shape == (480, 640) and thermal.dtype == np.uint16
    assert gt_t.target_ids.tolist() == gt.target_ids.tolist()
    background = np.median(thermal)
    for x1, y1, x2, y2 in gt.boxes:
        patch = thermal[int(y1) : math.ceil(y2), int(x1) : math.ceil(x2)]
        assert patch.max() > background + 200  # > 2 K warmer than the scene (centikelvin)
    assert 25000 < background < 32000  # plausible temperatures, 250..320 K


def test_classes_have_their_own_sizes() -> None:
    heights: dict[int, list[float]] = {0: [], 1: [], 2: []}
    for name in ("drone-border", "coast"):
        w = World(load_scenario(SCENARIOS / f"{name}.toml"))
        r = Renderer(w)
        for t in (0.0, 7.0, 14.0):
            _, gt = r.render(t)
            for c, b in zip(gt.class_ids, gt.boxes, strict=True):
                heights[int(c)].append(float(b[3] - b[1]) * float(b[2] - b[0]))
    person, vehicle, boat = (float(np.median(heights[c])) for c in (0, 1, 2))
    assert vehicle > 4 * person and boat > 4 * person
    widths_ok = all(len(v) > 0 for v in heights.values())
    assert widths_ok


def test_same_seed_same_image_and_randomize_varies() -> None:
    w = World(load_scenario(SCENARIOS / "drone-border.toml"))
    a, _ = Renderer(w, rng_seed=3).render(1.0)
    b, _ = Renderer(w, rng_seed=3).render(1.0)
    assert np.array_equal(a, b)
    r = Renderer(w, rng_seed=3, randomize=True)
    c, gt_c = r.render(1.0)
    d, gt_d = r.render(1.0)
    assert not np.array_equal(c, d)
    assert np.array_equal(gt_c.boxes, gt_d.boxes)  # appearance changes, geometry does not


def test_ground_truth_json_round_trip() -> None:
    w = World(load_scenario(SCENARIOS / "coast.toml"))
    _, gt = Renderer(w).render(3.0)
    back = GroundTruth.from_json(gt.to_json())
    assert back.pose == gt.pose
    assert np.allclose(back.boxes, gt.boxes, atol=1e-3) and back.target_ids.tolist() == gt.target_ids.tolist()
    assert np.array_equal(back.lat, gt.lat)


def test_dem_ground_renders_and_targets_stand_on_it(tmp_path: Path) -> None:
    rows = np.arange(1201, dtype=np.int64)[:, None]
    np.tile(700 + (1200 - rows), (1, 1201)).astype(">i2").tofile(tmp_path / "N42E019.hgt")  # 1 m per sample northwards
    (tmp_path / "s.toml").write_text(
        'name = "dem"\n[home]\nlat = 42.5\nlon = 19.5\nalt_m = 1300\n[ground]\ndem = "N42E019.hgt"\n'
        '[platform]\nkind = "drone"\nheight_m = 100\n[camera]\npitch_deg = -45\n'
        '[[targets]]\nclass = "vehicle"\nnorth_m = 100\neast_m = 0\nheading_deg = 0\n'
    )
    w = World(load_scenario(tmp_path / "s.toml"))
    img, gt = Renderer(w).render(0.0)
    assert img.shape == (480, 640, 3) and len(gt) == 1
    # 1300 m at home (row 600); 100 m north is 100 / 92.6 = 1.08 samples of 3 arc-seconds: 1.08 m higher
    assert gt.alt[0] == pytest.approx(w.ground_alt(gt.lat[0], gt.lon[0]))
    assert gt.alt[0] == pytest.approx(1301.08, abs=0.01)
    assert w.platform(0.0).alt == pytest.approx(1400.0)


def test_thermal_palettes_and_day_colour_knobs() -> None:
    from sim.render import thermal_to_8bit

    img = (np.arange(100 * 120, dtype=np.uint16).reshape(100, 120) % 4000 + 28000).astype(np.uint16)
    white = thermal_to_8bit(img)
    assert white.dtype == np.uint8 and white.shape == (100, 120) and white.max() == 255 and white.min() == 0
    assert np.array_equal(thermal_to_8bit(img, "black_hot"), 255 - white)
    assert thermal_to_8bit(img, "ironbow").shape == (100, 120, 3)
    with pytest.raises(ValueError, match="palette"):
        thermal_to_8bit(img, "rainbow")
    w = World(load_scenario(SCENARIOS / "drone-border.toml"))
    plain, _ = Renderer(w, options=CLEAN).render(1.0)
    bluer, _ = Renderer(w, options=RenderOptions(noise_day=0.0, shadows=False, white_balance=(1.1, 1.0, 0.9))).render(
        1.0
    )
    assert bluer[..., 0].mean() > plain[..., 0].mean() + 2 and bluer[..., 2].mean() < plain[..., 2].mean() - 2
    flat, _ = Renderer(w, options=RenderOptions(noise_day=0.0, shadows=False, contrast=0.5)).render(1.0)
    assert flat.std() < 0.6 * plain.std()


def test_a_thermal_only_target_is_dark_to_the_day_camera_and_warm_to_the_thermal_one() -> None:
    hidden = {**car(0, 0, 0.0), "thermal_only": True}
    w = world({"kind": "drone", "height_m": 50.0}, {"pitch_deg": -90.0}, [car(10, 0, 0.0), hidden])
    day_img, day = Renderer(w, mode="day", options=CLEAN).render(0.0)
    thermal_img, thermal = Renderer(w, mode="thermal", options=CLEAN).render(0.0)
    assert day.target_ids.tolist() == [0] and sorted(thermal.target_ids.tolist()) == [0, 1]
    x1, y1, x2, y2 = (int(v) for v in thermal.boxes[thermal.target_ids.tolist().index(1)])
    centre = (slice((y1 + y2) // 2 - 2, (y1 + y2) // 2 + 2), slice((x1 + x2) // 2 - 2, (x1 + x2) // 2 + 2))
    assert thermal_img[centre].mean() > np.median(thermal_img) + 200  # 2 K warmer than the ground, at least
    assert abs(float(day_img[centre].mean()) - float(np.median(day_img))) < 30  # only ground there by day
