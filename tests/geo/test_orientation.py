"""The camera's orientation: body, mounting and gimbal composed, honouring the gimbal mode (worked by hand)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge.geo.orientation import (
    Mounting,
    camera_attitude,
    camera_rotation,
    resolved,
    rot_zyx,
    rotation_matrix,
    rotation_vector,
)
from edge.types import Pose

DEG = math.pi / 180


@pytest.mark.parametrize(
    ("pose", "pixel_dir", "ned"),
    [
        # level camera on a north-facing body looks north
        (Pose(0, 0, 0, 0), (1, 0, 0), (1, 0, 0)),
        # nadir: optical axis down, image top (-z_g) north, image right east
        (Pose(0, 0, 0, 0, cam_pitch=-90 * DEG), (1, 0, 0), (0, 0, 1)),
        (Pose(0, 0, 0, 0, cam_pitch=-90 * DEG), (0, 0, -1), (1, 0, 0)),
        (Pose(0, 0, 0, 0, cam_pitch=-90 * DEG), (0, 1, 0), (0, 1, 0)),
        # body yawed east, camera 45° down in the body frame: looks east and down
        (Pose(0, 0, 0, 0, yaw=90 * DEG, cam_pitch=-45 * DEG), (1, 0, 0), (0, 1 / math.sqrt(2), 1 / math.sqrt(2))),
        # stabilised gimbal ignores the body's attitude
        (
            Pose(0, 0, 0, 0, roll=20 * DEG, pitch=10 * DEG, yaw=90 * DEG, cam_yaw=180 * DEG, cam_frame="earth"),
            (1, 0, 0),
            (-1, 0, 0),
        ),
        # body rolled 90° right: the camera's right points down
        (Pose(0, 0, 0, 0, roll=90 * DEG), (0, 1, 0), (0, 0, 1)),
        # body pitched 30° nose up, camera level in the body: looks 30° above the horizon
        (Pose(0, 0, 0, 0, pitch=30 * DEG), (1, 0, 0), (math.cos(30 * DEG), 0, -0.5)),
    ],
)
def test_camera_to_ned(pose: Pose, pixel_dir: tuple[float, ...], ned: tuple[float, ...]) -> None:
    assert np.allclose(camera_rotation(pose) @ np.array(pixel_dir, float), ned, atol=1e-12)


def test_mount_on_a_body_fixed_camera() -> None:
    # a camera bolted 90° down on a drone whose autopilot reports no gimbal
    r = camera_rotation(Pose(0, 0, 0, 0, yaw=90 * DEG, cam_frame="mount"), Mounting(pitch=-90 * DEG))
    assert np.allclose(r @ [1, 0, 0], [0, 0, 1], atol=1e-12)  # looks down
    assert np.allclose(r @ [0, 0, -1], [0, 1, 0], atol=1e-12)  # image top towards the nose (east)


# a drone flying east at speed: nose 28° down, rolled 5°
FAST = {"roll": 5 * DEG, "pitch": -28 * DEG, "yaw": 90 * DEG}


@pytest.mark.parametrize(
    ("mode", "yaw_pitch_roll"),
    [
        ("body", None),  # the body's lean adds to the mount
        ("stabilised", (90 + 10, -45, 0)),  # yaw follows the heading; pitch and roll held to the horizon
        ("earth", (10, -45, 0)),  # everything held; yaw from north
    ],
)
def test_gimbal_modes_of_a_silent_camera(mode: str, yaw_pitch_roll: tuple[float, float, float] | None) -> None:
    mounting = Mounting.from_degrees(0.0, -45.0, 10.0, mode)
    pose = Pose(0, 0, 0, 0, cam_frame="mount", **FAST)
    att = np.degrees(camera_attitude(pose, mounting))
    if yaw_pitch_roll is None:
        r = camera_rotation(pose, mounting)
        body = camera_rotation(Pose(0, 0, 0, 0, **FAST))  # body frame, gimbal at 0
        assert np.allclose(r, body @ Mounting(0.0, -45 * DEG, 10 * DEG).matrix)
        assert att[1] < -45 - 20  # nose-down lean points the camera further down
    else:
        assert att == pytest.approx(yaw_pitch_roll, abs=1e-9)


def test_reported_angles_override_the_mode_and_earth_reports_ignore_the_mount() -> None:
    mounting = Mounting.from_degrees(3.0, -45.0, 10.0, "stabilised")
    earth = Pose(0, 0, 0, 0, cam_yaw=30 * DEG, cam_pitch=-60 * DEG, cam_frame="earth", **FAST)
    assert np.degrees(camera_attitude(earth, mounting)) == pytest.approx((30, -60, 0), abs=1e-9)
    # a gimbal reporting relative to the body: body ∘ mount (the gimbal base) ∘ gimbal
    level = Pose(0, 0, 0, 0, yaw=90 * DEG, cam_pitch=-30 * DEG)
    assert np.degrees(camera_attitude(level, Mounting(pitch=-10 * DEG))) == pytest.approx((90, -40, 0), abs=1e-9)


def test_resolved_pose_carries_the_composed_orientation() -> None:
    mounting = Mounting.from_degrees(2.0, -40.0, 15.0, "body")
    pose = Pose(0, 0, 0, 0, cam_frame="mount", **FAST)
    out = resolved(pose, mounting)
    assert out.cam_frame == "earth" and (out.roll, out.pitch, out.yaw) == (pose.roll, pose.pitch, pose.yaw)
    assert np.allclose(camera_rotation(out), camera_rotation(pose, mounting), atol=1e-12)


def test_unknown_gimbal_mode() -> None:
    with pytest.raises(ValueError, match="gimbal_mode"):
        Mounting(gimbal_mode="gyro")


@pytest.mark.parametrize("w", [(0.0, 0.0, 0.0), (0.3, -0.2, 0.1), (0.0, 0.0, -2.5), (1e-9, 0.0, 0.0)])
def test_rotation_vector_and_matrix_are_inverse(w: tuple[float, float, float]) -> None:
    vec = np.array(w)
    r = rotation_matrix(vec)
    assert np.allclose(r @ r.T, np.eye(3), atol=1e-12) and np.isclose(np.linalg.det(r), 1.0)
    assert np.allclose(rotation_vector(r), vec, atol=1e-7)


def test_rotation_matrix_about_down_is_a_yaw() -> None:
    assert np.allclose(rotation_matrix(np.array([0.0, 0.0, 0.4])), rot_zyx(0.4, 0.0, 0.0), atol=1e-12)
