"""The pose store: interpolation, extrapolation, gaps, slerp, camera frames and fallbacks, with hand-worked numbers."""

from __future__ import annotations

import math
import threading

import pytest

from edge.sources.pose import PoseStore
from edge.sources.settings import PoseSettings
from edge.types import PoseSource

D = math.radians
MAV, GPSD = PoseSource.MAVLINK, PoseSource.GPSD


def _store(**kw: object) -> PoseStore:
    return PoseStore(PoseSettings.model_validate(kw))


def _two_samples(store: PoseStore) -> None:
    store.add_position(10.0, 42.0, 19.0, 100.0, 1.0, 2.0, MAV)
    store.add_position(11.0, 42.001, 19.002, 110.0, 3.0, 4.0, MAV)
    store.add_attitude(10.0, 0.0, 0.0, 0.0, 0.01)
    store.add_attitude(11.0, 0.0, 0.0, D(90), 0.01)


# t, lat, lon, alt, pos_err, alt_err, age: samples at t=10 (42, 19, 100 m, errs 1/2) and t=11 (42.001, 19.002,
# 110 m, errs 3/4); extrapolation adds 3 m/s x age to the errors.
POSITIONS = [
    (10.0, 42.0, 19.0, 100.0, 1.0, 2.0, 0.0),
    (10.25, 42.00025, 19.0005, 102.5, 3.0, 4.0, 0.0),
    (11.0, 42.001, 19.002, 110.0, 3.0, 4.0, 0.0),
    (11.5, 42.0015, 19.003, 115.0, 4.5, 5.5, 0.5),  # linear extrapolation, 0.5 s
    (9.5, 42.0, 19.0, 100.0, 2.5, 3.5, 0.5),  # before the first sample: held
]


@pytest.mark.parametrize(("t", "lat", "lon", "alt", "pos_err", "alt_err", "age"), POSITIONS)
def test_position_interpolation_table(
    t: float, lat: float, lon: float, alt: float, pos_err: float, alt_err: float, age: float
) -> None:
    store = _store()
    _two_samples(store)
    p = store.pose_at(t)
    assert p is not None
    assert (p.lat, p.lon, p.alt) == pytest.approx((lat, lon, alt), abs=1e-9)
    assert (p.pos_err_m, p.alt_err_m, p.age_s) == pytest.approx((pos_err, alt_err, age))
    assert p.source == MAV and p.t_mono == t


def test_too_old_or_across_a_gap_gives_no_pose() -> None:
    store = _store(max_extrapolation_s=1.0, max_gap_s=1.0)
    _two_samples(store)
    assert store.pose_at(12.01) is None  # 1.01 s beyond the newest sample
    assert store.pose_at(8.99) is None
    assert store.misses == 2
    store.add_position(15.0, 42.0, 19.0, 100.0, 1.0, 2.0, MAV)
    store.add_attitude(15.0, 0.0, 0.0, 0.0, 0.01)
    assert store.pose_at(13.0) is None  # 2 s from both ends of a 4 s gap: not interpolated
    near = store.pose_at(11.4)  # 0.4 s after the gap's start: held, age 0.4
    assert near is not None and near.age_s == pytest.approx(0.4) and near.alt == pytest.approx(110.0)


# yaw0, yaw1 (deg), f -> yaw (deg): slerp takes the short way, also across +-180
YAWS = [(0.0, 90.0, 0.5, 45.0), (170.0, -170.0, 0.5, 180.0), (-30.0, 30.0, 0.25, -15.0), (10.0, 10.0, 0.7, 10.0)]


@pytest.mark.parametrize(("y0", "y1", "f", "expected"), YAWS)
def test_slerp_yaw_table(y0: float, y1: float, f: float, expected: float) -> None:
    store = _store(body_yaw_deg=None)
    store.add_position(0.0, 42.0, 19.0, 100.0, 1.0, 1.0, MAV)
    store.add_position(1.0, 42.0, 19.0, 100.0, 1.0, 1.0, MAV)
    store.add_attitude(0.0, 0.0, 0.0, D(y0), 0.01)
    store.add_attitude(1.0, 0.0, 0.0, D(y1), 0.01)
    p = store.pose_at(f)
    assert p is not None
    assert math.cos(p.yaw - D(expected)) == pytest.approx(1.0, abs=1e-12)


def test_slerp_keeps_roll_when_only_yaw_turns_and_interpolates_pitch_linearly() -> None:
    # q0 = Rz(0) Rx(10 deg), q1 = Rz(90) Rx(10 deg) = Rz(90) q0: halfway is Rz(45) q0 -> roll 10, yaw 45
    store = _store()
    store.add_position(0.0, 42.0, 19.0, 100.0, 1.0, 1.0, MAV)
    store.add_position(1.0, 42.0, 19.0, 100.0, 1.0, 1.0, MAV)
    store.add_attitude(0.0, D(10), 0.0, 0.0, 0.01)
    store.add_attitude(1.0, D(10), 0.0, D(90), 0.01)
    p = store.pose_at(0.5)
    assert p is not None
    assert (p.roll, p.pitch, p.yaw) == pytest.approx((D(10), 0.0, D(45)), abs=1e-9)
    store2 = _store()
    store2.add_position(0.0, 42.0, 19.0, 100.0, 1.0, 1.0, MAV)
    store2.add_attitude(0.0, 0.0, 0.0, 0.0, 0.01)
    store2.add_attitude(1.0, 0.0, D(60), 0.0, 0.01)
    p2 = store2.pose_at(0.25)  # one axis: the angle moves linearly, 15 deg
    assert p2 is not None and p2.pitch == pytest.approx(D(15), abs=1e-9)


# camera sample frame, cam roll/pitch/yaw (deg) -> Pose cam angles and frame, with body yaw 30 deg
CAMERA = [
    ("heading", (0.0, -45.0, 20.0), (0.0, -45.0, 50.0), "earth"),  # yaw relative to the heading: 30 + 20
    ("earth", (0.0, -45.0, 20.0), (0.0, -45.0, 20.0), "earth"),
    ("body", (5.0, -90.0, 0.0), (5.0, -90.0, 0.0), "body"),
]


@pytest.mark.parametrize(("frame", "given", "expected", "out_frame"), CAMERA)
def test_camera_frames(
    frame: str, given: tuple[float, float, float], expected: tuple[float, float, float], out_frame: str
) -> None:
    store = _store()
    store.add_position(0.0, 42.0, 19.0, 100.0, 1.0, 1.0, MAV)
    store.add_attitude(0.0, 0.0, 0.0, D(30), 0.01)
    store.add_camera(0.0, D(given[0]), D(given[1]), D(given[2]), frame)
    p = store.pose_at(0.0)
    assert p is not None and p.cam_frame == out_frame
    if expected[1] == -90.0:  # at nadir only pitch is well defined
        assert p.cam_pitch == pytest.approx(D(-90), abs=1e-6)
    else:
        assert (p.cam_roll, p.cam_pitch, p.cam_yaw) == pytest.approx(tuple(D(a) for a in expected), abs=1e-9)


def test_fallbacks_mount_frame_and_fixed_heading() -> None:
    store = _store(body_yaw_deg=None, static_att_err_deg=3.0)
    store.add_position(0.0, 42.0, 19.0, 100.0, 1.0, 1.0, GPSD)
    assert store.pose_at(0.0) is None  # no attitude and no fixed heading
    fixed = _store(body_yaw_deg=270.0, body_pitch_deg=2.0, max_extrapolation_s=1.0)
    fixed.add_position(0.0, 42.0, 19.0, 100.0, 1.0, 1.0, GPSD)
    p = fixed.pose_at(0.0)
    assert p is not None
    assert (p.pitch, p.yaw, p.att_err_rad) == pytest.approx((D(2), D(-90), D(3)))
    # nothing reports the camera: the geolocator's mounting holds it (edge.geo.orientation)
    assert (p.cam_roll, p.cam_pitch, p.cam_yaw, p.cam_frame) == (0.0, 0.0, 0.0, "mount")
    # once a gimbal has reported, its silence is not papered over with the mounting
    fixed.add_camera(0.0, 0.0, D(-10), 0.0, "body")
    fixed.add_position(2.0, 42.0, 19.0, 100.0, 1.0, 1.0, GPSD)
    assert fixed.pose_at(0.5) is not None
    assert fixed.pose_at(2.0) is None  # position fresh, camera 2 s old


def test_nearest_source_wins_then_smaller_error() -> None:
    store = _store(body_yaw_deg=0.0)
    store.add_position(0.0, 42.0, 19.0, 100.0, 1.0, 1.0, MAV)  # precise but 0.5 s old at t = 0.5
    store.add_position(0.5, 42.1, 19.0, 100.0, 4.0, 4.0, GPSD)
    p = store.pose_at(0.5)
    assert p is not None and p.source == GPSD
    store.add_position(0.5, 42.2, 19.0, 100.0, 0.5, 0.5, MAV)
    p = store.pose_at(0.5)
    assert p is not None and p.source == MAV and p.lat == pytest.approx(42.2)


def test_antimeridian_out_of_order_duplicates_and_history() -> None:
    store = _store(body_yaw_deg=0.0, history_s=5.0)
    store.add_position(1.0, 0.0, -179.999, 0.0, 1.0, 1.0, MAV)
    store.add_position(0.0, 0.0, 179.999, 0.0, 1.0, 1.0, MAV)  # arrives late: inserted before
    p = store.pose_at(0.5)
    assert p is not None and abs(p.lon) == pytest.approx(180.0)
    store.add_position(1.0, 0.0, -179.998, 0.0, 1.0, 1.0, MAV)  # same time stamp: replaces
    p = store.pose_at(1.0)
    assert p is not None and p.lon == pytest.approx(-179.998)
    store.add_position(10.0, 1.0, 1.0, 0.0, 1.0, 1.0, MAV)  # 9 s later: the old samples leave the 5 s history
    assert store.pose_at(0.5) is None
    assert store.health()["position_mavlink"] == 1


def test_bad_input_is_refused() -> None:
    store = _store()
    with pytest.raises(ValueError, match="out of range"):
        store.add_position(0.0, 91.0, 0.0, 0.0, 1.0, 1.0, MAV)
    with pytest.raises(ValueError, match="camera frame"):
        store.add_camera(0.0, 0.0, 0.0, 0.0, "gimbal")
    with pytest.raises(ValueError, match="quaternion"):
        store.add_camera_quat(0.0, (0.0, 0.0, 0.0, 0.0), "earth")


def test_feeding_from_threads_while_reading() -> None:
    store = _store(body_yaw_deg=0.0, history_s=1000.0)

    def feed(offset: float) -> None:
        for i in range(2000):
            store.add_position(i * 0.01 + offset, 42.0, 19.0, 100.0, 1.0, 1.0, MAV)

    threads = [threading.Thread(target=feed, args=(k * 0.001,)) for k in range(4)]
    for th in threads:
        th.start()
    for _ in range(200):
        store.pose_at(5.0)
    for th in threads:
        th.join(10)
    assert store.health()["position_mavlink"] == 8000
    assert store.pose_at(10.0) is not None
