"""Feeding the pose store from the autopilot's messages.

GLOBAL_POSITION_INT -> position (the camera sits ``pose.camera_height_m`` above the autopilot's position; the home
ground height, ``alt - relative_alt``, becomes the store's ground hint); GPS_RAW_INT -> the position's errors (``h_acc``/``v_acc``
when the GPS reports them, else HDOP/VDOP x ``UERE_M``) and the fix: without a 3D fix positions are not used;
ATTITUDE -> body attitude; GIMBAL_DEVICE_ATTITUDE_STATUS (or MOUNT_STATUS from older gimbals, when no
GIMBAL_DEVICE_ATTITUDE_STATUS came) -> camera orientation. Every sample is stamped with the sender's
``time_boot_ms`` mapped onto our clock.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edge.sources.pose import PoseStore
from edge.types import PoseSource

if TYPE_CHECKING:
    from edge.sources.mavlink import MavlinkLink

UERE_M = 3.0  # user-equivalent range error (m, 1 sigma) that turns a DOP into metres
_EARTH = mavlink.GIMBAL_DEVICE_FLAGS_YAW_IN_EARTH_FRAME
_VEHICLE = mavlink.GIMBAL_DEVICE_FLAGS_YAW_IN_VEHICLE_FRAME
_LOCK = mavlink.GIMBAL_DEVICE_FLAGS_YAW_LOCK


def gps_errors(msg: Any) -> tuple[float | None, float | None]:
    """(horizontal, vertical) 1-sigma errors in m from a GPS_RAW_INT; None where it says nothing."""
    h_acc, v_acc = getattr(msg, "h_acc", 0), getattr(msg, "v_acc", 0)
    pos = h_acc / 1000.0 if h_acc else (msg.eph / 100.0 * UERE_M if msg.eph not in (0, 65535) else None)
    alt = v_acc / 1000.0 if v_acc else (msg.epv / 100.0 * UERE_M if msg.epv not in (0, 65535) else None)
    return pos, alt


def gimbal_frame(flags: int) -> str:
    """The pose store's camera frame for a GIMBAL_DEVICE_ATTITUDE_STATUS: "earth" or "heading".

    Gimbal protocol v2: roll and pitch are always relative to the horizon; yaw is relative to north when
    YAW_IN_EARTH_FRAME is set (or, in older gimbals that set neither frame flag, YAW_LOCK), else to the heading.
    """
    if flags & _EARTH or (not flags & _VEHICLE and flags & _LOCK):
        return "earth"
    return "heading"


class _Feed:
    def __init__(self, link: MavlinkLink, store: PoseStore, ignore: Collection[tuple[int, int]] = ()) -> None:
        self.link = link
        self.store = store
        self.ignore = frozenset(ignore)
        self.att_err = math.radians(store.settings.att_err_deg)
        self.fix: int | None = None
        self.pos_err = 5.0
        self.alt_err = 10.0
        self.gimbal_v2 = False
        self.skipped_no_fix = 0

    def __call__(self, msg: Any, t_recv: float) -> None:
        link = self.link
        src_comp = msg.get_srcComponent()
        if (msg.get_srcSystem(), src_comp) in self.ignore:
            return
        mtype = msg.get_type()
        from_autopilot = src_comp == link.target_component
        t = t_recv
        if getattr(msg, "time_boot_ms", 0):
            t = link.to_mono(msg.time_boot_ms, src_comp) or t_recv
        if mtype == "GPS_RAW_INT" and from_autopilot:
            self.fix = msg.fix_type
            pos, alt = gps_errors(msg)
            self.pos_err = pos if pos is not None else self.pos_err
            self.alt_err = alt if alt is not None else self.alt_err
        elif mtype == "GLOBAL_POSITION_INT" and from_autopilot:
            if (msg.lat == 0 and msg.lon == 0) or (self.fix is not None and self.fix < mavlink.GPS_FIX_TYPE_3D_FIX):
                self.skipped_no_fix += 1
                return
            alt = msg.alt / 1000.0
            cam_alt = alt + self.store.settings.camera_height_m
            self.store.add_position(
                t, msg.lat / 1e7, msg.lon / 1e7, cam_alt, self.pos_err, self.alt_err, PoseSource.MAVLINK
            )
            self.store.set_ground_alt(alt - msg.relative_alt / 1000.0)
        elif mtype == "ATTITUDE" and from_autopilot:
            self.store.add_attitude(t, msg.roll, msg.pitch, msg.yaw, self.att_err)
        elif mtype == "GIMBAL_DEVICE_ATTITUDE_STATUS":
            q = tuple(float(c) for c in msg.q)
            if all(math.isfinite(c) for c in q) and any(q):
                self.gimbal_v2 = True
                self.store.add_camera_quat(t, (q[0], q[1], q[2], q[3]), gimbal_frame(msg.flags))
        elif mtype == "MOUNT_STATUS" and not self.gimbal_v2:
            pitch, roll, yaw = (math.radians(v / 100.0) for v in (msg.pointing_a, msg.pointing_b, msg.pointing_c))
            self.store.add_camera(t, roll, pitch, yaw, "heading")


def attach_pose_feed(link: MavlinkLink, store: PoseStore, ignore: Collection[tuple[int, int]] = ()) -> None:
    """Feed ``store`` from ``link``'s target system: position, attitude, GPS errors and gimbal angles; messages
    from the (system, component) pairs in ``ignore`` are not used (the simulator's own gimbal, echoed back)."""
    link.add_listener(_Feed(link, store, ignore))
