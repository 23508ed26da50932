"""GroundGeolocator end to end on hand-worked geometry: fixes, reasons, error radii, size fusion."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge.geo.locator import NO_GROUND, NO_POSE, GroundGeolocator
from edge.geo.settings import GeoSettings, SizePrior
from edge.geo.wgs84 import LocalNed
from edge.types import Detections, EventKind, Frame, Pose, TrackEvents

DEG = math.pi / 180
W, H = 640, 480
CENTRE_BOX = np.array([310.0, 200.0, 330.0, 240.0])  # bottom-centre at the image centre (320, 240)
EXACT: dict[str, Any] = {"pos_err_m": 0.0, "alt_err_m": 0.0, "att_err_rad": 0.0}


def geo(**kw: Any) -> GroundGeolocator:
    base: dict[str, Any] = {"hfov_deg": 60.0, "ground_alt_m": 0.0, "earth_curvature": False, "gimbal_err_deg": 0.0}
    return GroundGeolocator(GeoSettings(**(base | kw)))


def ned_of(pose: Pose, lat: float, lon: float, alt: float) -> tuple[float, float, float]:
    n, e, d = LocalNed(pose.lat, pose.lon, pose.alt).to_ned(lat, lon, alt)
    return float(n), float(e), float(d)


@pytest.mark.parametrize(
    ("pose", "settings", "ned", "range_m"),
    [
        # nadir camera 100 m up: the point below
        (Pose(0, 42.0, 19.0, 100.0, cam_pitch=-90 * DEG, **EXACT), {}, (0, 0, 100), 100.0),
        # 45° down-look from 100 m: 100 m ahead (north)
        (Pose(0, 42.0, 19.0, 100.0, cam_pitch=-45 * DEG, **EXACT), {}, (100, 0, 100), 100 * math.sqrt(2)),
        # same, body yawed east
        (Pose(0, 42.0, 19.0, 100.0, yaw=90 * DEG, cam_pitch=-45 * DEG, **EXACT), {}, (0, 100, 100), 141.421),
        # ground at 1000 m AMSL, camera 1100 m, stabilised gimbal 30° down towards the south-west
        (
            Pose(0, 42.0, 19.0, 1100.0, roll=0.2, cam_pitch=-30 * DEG, cam_yaw=-135 * DEG, cam_frame="earth", **EXACT),
            {"ground_alt_m": 1000.0},
            (-173.205 / math.sqrt(2), -173.205 / math.sqrt(2), 100),
            200.0,
        ),
        # a camera bolted 90° down (mount), autopilot reports no gimbal
        (Pose(0, 42.0, 19.0, 80.0, **EXACT), {"mount_pitch_deg": -90.0}, (0, 0, 80), 80.0),
    ],
)
def test_hand_worked_fixes(pose: Pose, settings: dict[str, object], ned: tuple[float, ...], range_m: float) -> None:
    f = geo(**settings).fix_boxes([CENTRE_BOX], ["thing"], W, H, pose)
    assert f.reason == [None]
    assert ned_of(pose, f.lat[0], f.lon[0], f.alt[0]) == pytest.approx(ned, abs=1e-3)
    assert f.range_m[0] == pytest.approx(range_m, abs=1e-3)
    assert 0 < f.error_m[0] < 4.0  # only the pixel (2 px) and ground height (1 m) errors are left


@pytest.mark.parametrize(
    ("pose", "settings", "azimuth_deg", "depression_deg"),
    [
        (Pose(0, 42.0, 19.0, 100.0, cam_pitch=-45 * DEG, **EXACT), {}, 0.0, 45.0),
        (Pose(0, 42.0, 19.0, 100.0, yaw=90 * DEG, cam_pitch=-45 * DEG, **EXACT), {}, 90.0, 45.0),
        (Pose(0, 42.0, 19.0, 80.0, **EXACT), {"mount_pitch_deg": -90.0}, None, 90.0),
    ],
)
def test_the_line_of_sight_is_the_measured_ray_not_the_fix(
    pose: Pose, settings: dict[str, object], azimuth_deg: float | None, depression_deg: float
) -> None:
    """The sight through the box's contact pixel, whatever the size prior does to the fix along it."""
    f = geo(**settings).fix_boxes([CENTRE_BOX], ["thing"], W, H, pose)
    sight = f.sight(0)
    assert sight is not None
    if azimuth_deg is not None:
        assert math.degrees(sight[0]) == pytest.approx(azimuth_deg, abs=1e-6)
    assert math.degrees(sight[1]) == pytest.approx(depression_deg, abs=1e-6)
    # a 6 m mast, a person 1500 m north whose box says nearer than its feet: the fix moves, the sight does not
    hfov, w, h = 10.0, 1280, 720
    fx = (w / 2) / math.tan(math.radians(hfov / 2))
    box = np.array([w / 2 - 2, h / 2 + fx * 4.3 / 1500, w / 2 + 2, h / 2 + fx * 6.0 / 1500 + 2])
    prior = {"person": SizePrior(height_m=1.7, height_sigma_m=0.05, length_m=0.0, width_m=0.0)}
    mast = Pose(0, 42.0, 19.0, 6.0, att_err_rad=0.1 * DEG, pos_err_m=0.5, alt_err_m=0.3)
    sized = geo(hfov_deg=hfov, size_priors=prior).fix_boxes([box], ["person"], w, h, mast)
    plain = geo(hfov_deg=hfov, size_priors=prior, fusion=False).fix_boxes([box], ["person"], w, h, mast)
    assert abs(sized.range_m[0] - plain.range_m[0]) > 100.0  # the prior moved the fix along the ray ...
    assert sized.sight(0) == pytest.approx(plain.sight(0), abs=1e-12)  # ... not the line of sight


def test_pixel_error_alone_at_nadir() -> None:
    # 2 px at fx = 320 / tan 30° = 554.3 px from 100 m: 0.361 m per axis, a circle: 2.146 x 0.361 = 0.774 m
    pose = Pose(0, 42.0, 19.0, 100.0, cam_pitch=-90 * DEG, **EXACT)
    f = geo(ground_sigma_m=0.0, timing_sigma_s=0.0).fix_boxes([CENTRE_BOX], ["x"], W, H, pose)
    assert f.error_m[0] == pytest.approx(2.146 * 100 * 2 / 554.26, rel=1e-3)


def test_reasons() -> None:
    pose = Pose(0, 42.0, 19.0, 100.0, cam_pitch=-45 * DEG)
    assert geo().fix_boxes([CENTRE_BOX], ["x"], W, H, None).reason == [NO_POSE]
    assert geo(ground_alt_m=None).fix_boxes([CENTRE_BOX], ["x"], W, H, pose).reason == [NO_GROUND]
    up = replace(pose, cam_pitch=5 * DEG)
    f = geo().fix_boxes(np.array([CENTRE_BOX, [0, 0, 10, 10]]), ["x", "x"], W, H, up)
    assert f.reason == ["ray above horizon", "ray above horizon"] and np.isnan(f.lat).all()
    # the pose store's home ground is used when no ground altitude is configured
    hinted = GroundGeolocator(GeoSettings(ground_alt_m=None, earth_curvature=False), lambda: 50.0)
    f = hinted.fix_boxes([CENTRE_BOX], ["x"], W, H, replace(pose, **EXACT))
    assert f.alt[0] == 50.0 and ned_of(pose, f.lat[0], f.lon[0], 50.0)[0] == pytest.approx(50.0)


def test_locate_builds_events() -> None:
    frame = Frame(np.zeros((H, W, 3), np.uint8), t_mono=5.0, t_utc=1.7e9, seq=42)
    dets = Detections(np.array([CENTRE_BOX, [0, 0, 64, 48]]), np.array([0.9, 0.5]), np.array([0, 7]), np.array([3, 4]))
    tracks = TrackEvents(dets, np.array([EventKind.NEW, EventKind.LOST]))
    pose = Pose(5.0, 42.0, 19.0, 100.0, cam_pitch=-45 * DEG)
    batch = geo().locate(frame, tracks, pose, ["person", "vehicle"])
    assert (batch.frame_seq, batch.t_utc, batch.camera_id) == (42, 1.7e9, "cam0")
    # the batch carries the orientation the fixes were made with, composed into the earth frame
    assert batch.pose is not None and batch.pose.cam_frame == "earth"
    assert batch.pose == replace(pose, cam_pitch=batch.pose.cam_pitch, cam_frame="earth")
    assert batch.pose.cam_pitch == pytest.approx(-45 * DEG)
    a, b = batch.events
    assert (a.track_id, a.class_name, a.kind, a.bbox_norm) == (
        3,
        "person",
        EventKind.NEW,
        (310 / W, 200 / H, 330 / W, 0.5),
    )
    assert a.lat is not None and a.error_m is not None and a.range_m is not None and a.no_fix_reason is None
    assert (b.class_name, b.kind) == ("7", EventKind.LOST)  # unknown class id keeps its number
    none = geo().locate(frame, tracks, None, ["person"])
    assert [e.no_fix_reason for e in none.events] == [NO_POSE, NO_POSE] and none.events[0].lat is None


def test_error_radius_grows_with_range_and_attitude_error() -> None:
    radii = []
    for pitch in (-60, -30, -15, -8):
        for att in (0.002, 0.01):
            pose = Pose(0, 42.0, 19.0, 100.0, cam_pitch=pitch * DEG, pos_err_m=2.0, alt_err_m=3.0, att_err_rad=att)
            radii.append(float(geo(fusion=False).fix_boxes([CENTRE_BOX], ["x"], W, H, pose).error_m[0]))
    small, large = radii[0::2], radii[1::2]
    assert small == sorted(small) and large == sorted(large)  # further -> larger
    assert all(b > a for a, b in zip(small, large, strict=True))  # worse attitude -> larger
    # floor: 2 m per axis of GPS alone is a circle of 2.146 x 2 m
    assert small[0] > 2.146 * 2.0


def test_timing_error_counts_speed() -> None:
    p0 = Pose(0.0, 42.0, 19.0, 100.0, cam_pitch=-45 * DEG, **EXACT)
    lat1, lon1, _ = LocalNed(42.0, 19.0, 100.0).to_geodetic(0.0, 30.0, 0.0)  # 30 m east in 1 s

    def second_radius(p1: Pose) -> float:
        g = geo(timing_sigma_s=0.1)
        g.fix_boxes([CENTRE_BOX], ["x"], W, H, p0)
        return float(g.fix_boxes([CENTRE_BOX], ["x"], W, H, p1).error_m[0])

    still = second_radius(replace(p0, t_mono=1.0))
    moving = second_radius(replace(p0, t_mono=1.0, lat=float(lat1), lon=float(lon1)))
    assert moving > still + 2.146 * 30 * 0.1 * 0.5  # 30 m/s x 0.1 s = 3 m of extra sigma per axis


@pytest.mark.parametrize(
    ("cam_frame", "mode", "expected_deg"),
    [
        ("earth", "body", (0.5, 0.5, math.hypot(0.5, 1.0))),  # reporting gimbal; yaw often via the heading
        ("body", "body", (math.hypot(0.5, 1.0),) * 3),  # reporting relative to the body: both add up
        ("mount", "body", (1.0, 1.0, 1.0)),  # bolted on: the airframe's attitude
        ("mount", "stabilised", (2.0, 2.0, 1.0)),  # silent stabiliser: its own roll/pitch, the heading's yaw
        ("mount", "earth", (2.0, 2.0, 2.0)),
    ],
)
def test_attitude_sigmas_by_what_holds_the_camera(
    cam_frame: str, mode: str, expected_deg: tuple[float, float, float]
) -> None:
    g = geo(gimbal_err_deg=0.5, stabilised_err_deg=2.0, gimbal_mode=mode)
    pose = Pose(0, 42.0, 19.0, 100.0, cam_frame=cam_frame, att_err_rad=1.0 * DEG)
    assert np.degrees(g.attitude_sigmas(pose)) == pytest.approx(expected_deg)


def test_silent_stabiliser_radius_is_larger_along_the_line_of_sight() -> None:
    # 45° down, looking north: pitch error moves the fix north-south, yaw error east-west
    pose = Pose(0, 42.0, 19.0, 100.0, cam_frame="mount", pos_err_m=0.0, alt_err_m=0.0, att_err_rad=0.1 * DEG)
    kw: dict[str, Any] = {"mount_pitch_deg": -45.0, "fusion": False, "pixel_sigma_px": 0.0, "ground_sigma_m": 0.0}
    reported = geo(**kw).fix_boxes([CENTRE_BOX], ["x"], W, H, replace(pose, cam_pitch=-45 * DEG, cam_frame="earth"))
    silent = geo(gimbal_mode="stabilised", stabilised_err_deg=1.0, **kw).fix_boxes([CENTRE_BOX], ["x"], W, H, pose)
    # 1° of pitch at 45° from 100 m: 100 / sin²45° x 1° = 3.49 m north-south, and a nearly flat ellipse
    assert float(silent.error_m[0]) == pytest.approx(1.645 * 3.49, rel=0.05)
    assert float(reported.error_m[0]) < 0.2 * float(silent.error_m[0])


def test_turn_rate_grows_the_radius_about_its_own_axis() -> None:
    # yawing at 30°/s with 0.1 s of timing error: 3° of yaw sigma, cross-track only (100 m out x 3° = 5.2 m)
    p0 = Pose(0.0, 42.0, 19.0, 100.0, cam_pitch=-45 * DEG, cam_frame="earth", **EXACT)
    g = geo(timing_sigma_s=0.1, pixel_sigma_px=0.0, ground_sigma_m=0.0, fusion=False)
    g.fix_boxes([CENTRE_BOX], ["x"], W, H, p0)
    f = g.fix_boxes([CENTRE_BOX], ["x"], W, H, replace(p0, t_mono=1.0, cam_yaw=30 * DEG))
    assert float(f.error_m[0]) == pytest.approx(1.645 * 100.0 * math.radians(3.0), rel=0.05)
    # the same turn in pitch (30°/s down to -75°): along-track, and no cross-track sigma
    g.fix_boxes([CENTRE_BOX], ["x"], W, H, replace(p0, t_mono=2.0))
    f = g.fix_boxes([CENTRE_BOX], ["x"], W, H, replace(p0, t_mono=3.0, cam_pitch=-75 * DEG))
    along = 100.0 / math.sin(75 * DEG) ** 2 * math.radians(3.0)
    assert float(f.error_m[0]) == pytest.approx(1.645 * along, rel=0.1)


def test_footprint_moves_the_contact_point_back() -> None:
    pose = Pose(0, 42.0, 19.0, 100.0, cam_pitch=-45 * DEG, **EXACT)
    car = geo(fusion=False).fix_boxes([CENTRE_BOX], ["vehicle"], W, H, pose)
    # mean half depth of a 4.5 x 1.9 m footprint is (4.5 + 1.9) / π = 2.04 m, away from the camera
    assert ned_of(pose, car.lat[0], car.lon[0], 0.0)[0] == pytest.approx(100 + 6.4 / math.pi, abs=1e-3)


def test_box_cut_by_the_image_bottom_is_less_certain() -> None:
    pose = Pose(0, 42.0, 19.0, 100.0, cam_pitch=-45 * DEG)
    whole, cut = geo().fix_boxes([[300, 400, 340, 470], [300, 410, 340, 480]], ["x", "x"], W, H, pose).error_m
    assert cut > whole * 1.5


def test_calibration_file(tmp_path: Path) -> None:
    fs = cv2.FileStorage(str(tmp_path / "cam.yaml"), cv2.FILE_STORAGE_WRITE)
    fs.write("camera_matrix", np.array([[500.0, 0, 319.5], [0, 500.0, 239.5], [0, 0, 1]]))
    fs.write("dist_coeffs", np.array([[-0.2, 0.05, 0.0, 0.0, 0.0]]))
    fs.write("image_width", 640)
    fs.write("image_height", 480)
    fs.release()
    g = geo(calibration_file=str(tmp_path / "cam.yaml"))
    assert g.camera(1280, 960).fx == 1000.0  # scaled to the stream
    pose = Pose(0, 42.0, 19.0, 100.0, cam_pitch=-45 * DEG, **EXACT)
    f = g.fix_boxes([[630, 440, 650, 480]], ["x"], 1280, 960, pose)  # bottom-centre (640, 480): the centre
    assert ned_of(pose, f.lat[0], f.lon[0], 0.0)[:2] == pytest.approx((100.0, 0.0), abs=1e-6)


def test_size_fusion_wins_at_grazing_angles() -> None:
    """6 m mast on flat ground, a 1.7 m person 1500 m north: 0.23° below the horizon, where 0.1° of pitch
    error moves the ground intersection by hundreds of metres (or over the horizon)."""
    hfov, w, h, dist, mast = 10.0, 1280, 720, 1500.0, 6.0
    fx = (w / 2) / math.tan(math.radians(hfov / 2))
    feet, head = h / 2 + fx * mast / dist, h / 2 + fx * (mast - 1.7) / dist  # pinhole by hand, level camera
    prior = {"person": SizePrior(height_m=1.7, height_sigma_m=0.05, length_m=0.0, width_m=0.0)}
    kw = {"hfov_deg": hfov, "size_priors": prior, "pixel_sigma_px": 0.5, "box_sigma_px": 0.7, "timing_sigma_s": 0.0}
    fused, plain = geo(**kw), geo(fusion=False, **kw)
    rng = np.random.default_rng(3)
    errs: dict[str, list[float]] = {"fused": [], "plain": []}
    covered, fixed = 0, 0
    for _ in range(300):
        pose = Pose(
            0, 42.0, 19.0, mast, cam_pitch=rng.normal(0, 0.1) * DEG, pos_err_m=0.5, alt_err_m=0.3, att_err_rad=0.1 * DEG
        )
        box = np.array([w / 2 - 2, head, w / 2 + 2, feet]) + rng.normal(0, 0.5, 4)
        for name, g in (("fused", fused), ("plain", plain)):
            f = g.fix_boxes([box], ["person"], w, h, pose)
            if f.reason[0] is not None:  # pitched up by about 0.23°: the ray passes over the horizon
                assert f.reason[0] in ("ray above horizon", "ground beyond max range")
                errs[name].append(math.inf)
                continue
            n, e, _ = ned_of(pose, f.lat[0], f.lon[0], 0.0)
            errs[name].append(math.hypot(n - dist, e))
            if name == "fused":
                fixed += 1
                covered += errs[name][-1] <= f.error_m[0]
    med_fused, med_plain = np.median(errs["fused"]), np.median(errs["plain"])
    print(f"median error fused {med_fused:.0f} m, intersection {med_plain:.0f} m, coverage {covered / fixed:.2f}")
    assert med_fused < 120 < 250 < med_plain  # size ranging: ~6 % of 1500 m; the intersection: hundreds of m
    assert covered / fixed >= 0.85


@pytest.mark.parametrize(
    ("cam", "mode"),
    [
        ({"cam_pitch": -20 * DEG, "cam_yaw": 5 * DEG, "cam_frame": "body"}, "body"),  # gimbal on a tilted base
        ({"cam_frame": "mount"}, "body"),
        ({"cam_frame": "mount"}, "stabilised"),
        ({"cam_frame": "mount"}, "earth"),
    ],
)
def test_wire_pose_is_the_one_the_fixes_were_made_with(cam: dict[str, Any], mode: str) -> None:
    from edge.geo.orientation import camera_rotation, rot_zyx
    from edge.uplink.codec import decode, encode

    g = geo(mount_roll_deg=4.0, mount_pitch_deg=-30.0, mount_yaw_deg=25.0, gimbal_mode=mode)
    pose = Pose(5.0, 42.0, 19.0, 100.0, roll=6 * DEG, pitch=-12 * DEG, yaw=80 * DEG, **cam)
    frame = Frame(np.zeros((H, W, 3), np.uint8), t_mono=5.0, t_utc=1.7e9, seq=1)
    tracks = TrackEvents(Detections(np.array([CENTRE_BOX]), np.array([0.9]), np.array([0])), np.array([0]))
    batch = g.locate(frame, tracks, pose, ["thing"])
    wire = decode(encode(batch, 1, 0)).pose
    assert wire is not None
    r_wire = rot_zyx(*np.radians([wire.yaw, wire.pitch, wire.roll]))
    # centidegrees on the wire: the same rotation to ~1e-4 rad
    assert np.allclose(r_wire, camera_rotation(pose, g.mounting), atol=3e-4)
    assert batch.events[0].lat is not None


def test_lost_event_keeps_the_tracks_last_fix() -> None:
    # the LOST box was seen a second ago; the drone has flown 10 m north since: the box through this pose is stale
    g = geo()
    frame = Frame(np.zeros((H, W, 3), np.uint8), t_mono=5.0, t_utc=1.7e9, seq=1)
    seen = Pose(5.0, 42.0, 19.0, 100.0, cam_pitch=-45 * DEG)
    lat1, lon1, _ = LocalNed(42.0, 19.0, 100.0).to_geodetic(10.0, 0.0, 0.0)
    later = replace(seen, t_mono=6.0, lat=float(lat1), lon=float(lon1))
    dets = Detections(np.array([CENTRE_BOX]), np.array([0.9]), np.array([0]), np.array([7]))
    first = g.locate(frame, TrackEvents(dets, np.array([EventKind.NEW])), seen, ["person"]).events[0]
    lost = g.locate(frame, TrackEvents(dets, np.array([EventKind.LOST])), later, ["person"]).events[0]
    assert (lost.lat, lost.lon, lost.error_m) == (first.lat, first.lon, first.error_m)
    # a track never located (or already lost) gets the box through this pose
    again = g.locate(frame, TrackEvents(dets, np.array([EventKind.LOST])), later, ["person"]).events[0]
    assert again.lat is not None and again.lat > first.lat  # type: ignore[operator]


def test_locate_gives_the_fixes_of_tracks_seen_without_an_event() -> None:
    """TrackEvents.seen (for the association): located like events, those without a fix left out."""
    frame = Frame(np.zeros((H, W, 3), np.uint8), t_mono=5.0, t_utc=1.7e9, seq=42)
    up = [0, 0, 10, 10]  # the top corner of a 20° down-look (vertical field 46°): above the horizon, no fix
    seen = Detections(np.array([CENTRE_BOX, up]), np.array([0.9, 0.5]), np.array([0, 0]), np.array([3, 4]))
    pose = Pose(5.0, 42.0, 19.0, 100.0, cam_pitch=-20 * DEG, **EXACT)
    batch = geo().locate(frame, TrackEvents(Detections.empty(), np.empty(0, np.int8), seen), pose, ["person"])
    assert batch.events == () and [(e.track_id, e.class_name) for e in batch.seen] == [(3, "person")]
    fix = geo().fix_boxes([CENTRE_BOX], ["person"], W, H, pose)
    assert (batch.seen[0].lat, batch.seen[0].lon, batch.seen[0].error_m) == (fix.lat[0], fix.lon[0], fix.error_m[0])
