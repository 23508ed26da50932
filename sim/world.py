"""The simulated world: where the platform, its camera and every target truly are at sim time ``t``.

Local frame: flat-earth NED tangent plane at the scenario's home (x north, y east, z down, metres), converted
to WGS-84 lat/lon with the meridian / prime-vertical radii at home (good to centimetres within ~20 km).
Targets stand on the ground (their ``alt`` is the ground-contact point, m AMSL).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.types import Pose, PoseSource
from sim.scenario import Point, Scenario

CLASS_NAMES = ["person", "vehicle", "boat"]
# default (length, width, height) in metres per class
CLASS_SIZES: dict[str, tuple[float, float, float]] = {
    "person": (0.5, 0.5, 1.75),
    "vehicle": (4.5, 1.9, 1.6),
    "boat": (8.0, 2.8, 2.2),
}
_A = 6378137.0  # WGS-84 semi-major axis, m
_E2 = 6.69437999014e-3  # WGS-84 first eccentricity squared
_G = 9.81
ArrayLike = float | npt.NDArray[np.float64]


@dataclass(frozen=True)
class LocalFrame:
    """Flat-earth NED frame at (lat0, lon0, alt0): metres per radian north and east."""

    lat0: float
    lon0: float
    alt0: float

    @property
    def _radii(self) -> tuple[float, float]:
        s = math.sin(math.radians(self.lat0))
        w = math.sqrt(1.0 - _E2 * s * s)
        m = _A * (1.0 - _E2) / w**3 + self.alt0
        n = _A / w + self.alt0
        return m, n * math.cos(math.radians(self.lat0))

    def to_ned(self, lat: ArrayLike, lon: ArrayLike, alt: ArrayLike) -> tuple[ArrayLike, ArrayLike, ArrayLike]:
        """lat/lon (deg), alt (m AMSL) -> north, east, down (m) from the origin."""
        rn, re = self._radii
        return (
            np.radians(np.subtract(lat, self.lat0)) * rn,
            np.radians(np.subtract(lon, self.lon0)) * re,
            np.subtract(self.alt0, alt),
        )

    def to_geodetic(self, n: ArrayLike, e: ArrayLike, d: ArrayLike) -> tuple[ArrayLike, ArrayLike, ArrayLike]:
        """north, east, down (m) -> lat/lon (deg), alt (m AMSL)."""
        rn, re = self._radii
        return self.lat0 + np.degrees(np.divide(n, rn)), self.lon0 + np.degrees(np.divide(e, re)), self.alt0 - d


class Dem:
    """One SRTM ``.hgt`` tile (big-endian int16 m, rows north->south) sampled bilinearly; clamps at its edges."""

    def __init__(self, path: Path):
        raw = np.fromfile(path, dtype=">i2")
        side = round(math.sqrt(raw.size))
        if side * side != raw.size or side not in (1201, 3601):
            raise ValueError(f"{path}: not an SRTM tile ({raw.size} samples)")
        name = path.stem.upper()
        try:
            lat0 = int(name[1:3]) * (1 if name[0] == "N" else -1)
            lon0 = int(name[4:7]) * (1 if name[3] == "E" else -1)
        except (ValueError, IndexError):
            raise ValueError(f"{path}: tile name must look like N42E019.hgt") from None
        grid = raw.reshape(side, side).astype(np.float32)
        void = grid < -1000
        if void.any():
            grid[void] = float(np.median(grid[~void])) if (~void).any() else 0.0
        self.grid, self.side, self.lat0, self.lon0 = grid, side, lat0, lon0

    def alt(self, lat: ArrayLike, lon: ArrayLike) -> npt.NDArray[np.float64]:
        """Ground height (m AMSL) at lat/lon (deg), arrays broadcast."""
        n = self.side - 1
        r = np.clip((self.lat0 + 1.0 - np.asarray(lat, np.float64)) * n, 0, n - 1e-9)
        c = np.clip((np.asarray(lon, np.float64) - self.lon0) * n, 0, n - 1e-9)
        r0, c0 = np.floor(r).astype(int), np.floor(c).astype(int)
        fr, fc = r - r0, c - c0
        g = self.grid
        top = g[r0, c0] * (1 - fc) + g[r0, c0 + 1] * fc
        bot = g[r0 + 1, c0] * (1 - fc) + g[r0 + 1, c0 + 1] * fc
        return np.asarray(top * (1 - fr) + bot * fr, np.float64)


@dataclass(frozen=True)
class TargetTruth:
    """Where one target truly is: ground-contact point (deg, m AMSL), heading (rad, 0 = north), size (m)."""

    id: int
    class_id: int
    class_name: str
    lat: float
    lon: float
    alt: float
    heading: float
    length_m: float
    width_m: float
    height_m: float
    speed_mps: float
    thermal_only: bool = False  # unseen by day cameras


@dataclass(frozen=True)
class CameraSpec:
    """Image size (px), horizontal field of view (deg), frame rate (1/s) and mode ("day" | "thermal")."""

    width: int
    height: int
    hfov_deg: float
    fps: float
    mode: str


def along_polyline(pts: npt.NDArray[np.float64], s: float, loop: str) -> tuple[npt.NDArray[np.float64], float]:
    """Position (2,) north/east and heading (rad) at distance ``s`` (m) along ``pts`` (K, 2).

    loop: "cycle" closes the polygon and goes round, "pingpong" walks back and forth, "stop" halts at the end.
    Negative ``s`` extends backwards along the first segment.
    """
    if len(pts) < 2:
        return pts[0].copy(), 0.0
    if loop == "cycle":
        pts = np.vstack([pts, pts[:1]])
    seg = np.diff(pts, axis=0)
    lens = np.hypot(seg[:, 0], seg[:, 1])
    total = float(lens.sum())
    if total <= 0:
        return pts[0].copy(), 0.0
    reverse = False
    if s >= 0:
        if loop == "cycle":
            s = s % total
        elif loop == "pingpong":
            s = s % (2 * total)
            if s > total:
                s, reverse = 2 * total - s, True
        else:
            s = min(s, total)
    cum = np.concatenate([[0.0], np.cumsum(lens)])
    i = int(np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(seg) - 1))
    while lens[i] <= 0 and i + 1 < len(seg):
        i += 1
    d = seg[i] / max(lens[i], 1e-12)
    pos = pts[i] + d * (s - cum[i])
    heading = math.atan2(d[1], d[0]) + (math.pi if reverse else 0.0)
    return pos, _wrap(heading)


def _body_to_ned(roll: float, pitch: float, yaw: float) -> npt.NDArray[np.float64]:
    """Rotation (3, 3) from the body frame (forward, right, down) to NED for Z-Y-X Euler angles (rad)."""
    cr, sr, cp, sp, cy, sy = (f(a) for a in (roll, pitch, yaw) for f in (math.cos, math.sin))
    return np.array(
        [
            [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr],
        ]
    )


def _wrap(a: float) -> float:
    """Angle (rad) wrapped to (-pi, pi]."""
    return -(((-a + math.pi) % (2 * math.pi)) - math.pi)


@dataclass(frozen=True)
class _Plan:
    """A target's precomputed motion in the local frame."""

    id: int
    class_id: int
    class_name: str
    pts: npt.NDArray[np.float64]
    speed: float
    loop: str
    heading: float
    size: tuple[float, float, float]
    s_offset: float
    lateral: float
    start_s: float
    thermal_only: bool


class World:
    """True platform pose, target positions and ground height at sim time ``t`` (s since start)."""

    def __init__(
        self,
        scenario: Scenario,
        seed: int | None = None,
        platform_override: Callable[[float], Pose | None] | None = None,
    ):
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        h = scenario.home
        ground_alt = scenario.ground.alt_m if scenario.ground.alt_m is not None else h.alt_m
        self.dem = Dem(scenario.ground.dem) if scenario.ground.dem is not None else None
        self._flat_alt = float(ground_alt)
        self.frame = LocalFrame(h.lat, h.lon, h.alt_m)
        self.home = (h.lat, h.lon, h.alt_m)
        c = scenario.camera
        self.camera = CameraSpec(c.width, c.height, c.hfov_deg, c.fps, c.mode)
        self.platform_override = platform_override
        self.camera_id = "cam0"
        self.offset_frd = (0.0, 0.0, 0.0)  # camera from the platform's reference point: forward, right, down (m)
        self._plans = self._make_plans(np.random.default_rng(self.seed))
        p = scenario.platform
        self._route = np.array([self.ne(q) for q in p.route], np.float64).reshape(-1, 2)
        if len(self._route) == 0:
            self._route = np.zeros((1, 2))

    def cameras(self) -> list[World]:
        """One world per camera of the scenario (``[[cameras]]``, else just this one): the same targets and
        platform, seen through each camera's own lens, mount and offset; ``camera_id`` names it."""
        worlds = []
        for entry in self.scenario.cameras:
            scenario = self.scenario.model_copy(update={"camera": entry.as_camera()})
            w = World(scenario, seed=self.seed, platform_override=self.platform_override)
            w.camera_id = entry.id
            w.offset_frd = (entry.offset_forward_m, entry.offset_right_m, entry.offset_down_m)
            worlds.append(w)
        return worlds or [self]

    # ----- geometry helpers
    def ne(self, p: Point) -> tuple[float, float]:
        """North/east (m) from home of a scenario point."""
        if p.lat is not None and p.lon is not None:
            n, e, _ = self.frame.to_ned(p.lat, p.lon, self.home[2])
            return float(n), float(e)
        return float(p.north_m or 0.0), float(p.east_m or 0.0)

    def ground_alt(self, lat: float, lon: float) -> float:
        """Ground height (m AMSL) at lat/lon (deg): flat or from the DEM."""
        if self.dem is None:
            return self._flat_alt
        return float(self.dem.alt(lat, lon))

    def ground_alt_ne(self, n: ArrayLike, e: ArrayLike) -> npt.NDArray[np.float64]:
        """Ground height (m AMSL) at local north/east (m), arrays broadcast."""
        if self.dem is None:
            return np.full(np.broadcast(n, e).shape, self._flat_alt)
        lat, lon, _ = self.frame.to_geodetic(n, e, 0.0)
        return self.dem.alt(lat, lon)

    # ----- targets
    def _make_plans(self, rng: np.random.Generator) -> list[_Plan]:
        plans: list[_Plan] = []
        for spec in self.scenario.targets:
            base = np.array([self.ne(spec)] + [self.ne(q) for q in spec.path], np.float64)
            default = CLASS_SIZES[spec.class_name]
            for k in range(spec.count):
                pts = base + rng.normal(0.0, spec.scatter_m, base.shape) if spec.scatter_m > 0 else base
                jitter = rng.uniform(0.9, 1.1, 3)
                given = (spec.length_m, spec.width_m, spec.height_m)
                size = tuple(
                    float(g if g is not None else d * j) for g, d, j in zip(given, default, jitter, strict=True)
                )
                heading = (
                    math.radians(spec.heading_deg)
                    if spec.heading_deg is not None
                    else float(rng.uniform(-math.pi, math.pi))
                )
                moving = spec.speed_mps > 0 and len(pts) > 1
                plans.append(
                    _Plan(
                        id=len(plans),
                        class_id=CLASS_NAMES.index(spec.class_name),
                        class_name=spec.class_name,
                        pts=pts,
                        speed=spec.speed_mps,
                        loop=spec.loop,
                        heading=heading,
                        size=(size[0], size[1], size[2]),
                        s_offset=-k * spec.spacing_m if moving else 0.0,
                        lateral=0.0 if moving else k * spec.spacing_m,
                        start_s=spec.start_s,
                        thermal_only=spec.thermal_only,
                    )
                )
        return plans

    def _target_ne(self, plan: _Plan, t: float) -> tuple[npt.NDArray[np.float64], float, float]:
        """North/east (m), heading (rad) and speed (m/s) of one target."""
        if plan.speed > 0 and len(plan.pts) > 1:
            s = plan.speed * max(0.0, t - plan.start_s) + plan.s_offset
            pos, heading = along_polyline(plan.pts, s, plan.loop)
            total = float(np.hypot(*np.diff(plan.pts, axis=0).T).sum())
            stopped = (plan.loop == "stop" and s >= total) or t < plan.start_s
            return pos, heading, 0.0 if stopped else plan.speed
        h = plan.heading
        pos = plan.pts[0] + plan.lateral * np.array([-math.sin(h), math.cos(h)])
        return pos, h, 0.0

    def targets(self, t: float) -> list[TargetTruth]:
        """Every target's true state at sim time ``t`` (s)."""
        out = []
        for plan in self._plans:
            (n, e), heading, speed = self._target_ne(plan, t)
            lat, lon, _ = self.frame.to_geodetic(n, e, 0.0)
            alt = self.ground_alt(float(lat), float(lon))
            out.append(
                TargetTruth(
                    plan.id,
                    plan.class_id,
                    plan.class_name,
                    float(lat),
                    float(lon),
                    alt,
                    heading,
                    *plan.size,
                    speed,
                    plan.thermal_only,
                )
            )
        return out

    # ----- platform
    def _platform_ne(self, t: float) -> tuple[float, float, float, float, float]:
        """north, east (m), heading of travel (rad), speed (m/s), turn rate (rad/s, + = clockwise)."""
        p = self.scenario.platform
        if p.orbit is not None:
            cn, ce = self.ne(p.orbit)
            r = p.orbit.radius_m
            sign = 1.0 if p.orbit.clockwise else -1.0
            omega = p.speed_mps / r
            b = math.radians(p.orbit.start_bearing_deg) + sign * omega * t
            return cn + r * math.cos(b), ce + r * math.sin(b), _wrap(b + sign * math.pi / 2), p.speed_mps, sign * omega
        if len(self._route) > 1 and p.speed_mps > 0:
            pos, heading = along_polyline(self._route, p.speed_mps * t, p.loop)
            total = float(np.hypot(*np.diff(self._route, axis=0).T).sum())
            speed = 0.0 if p.loop == "stop" and p.speed_mps * t >= total else p.speed_mps
            return float(pos[0]), float(pos[1]), heading, speed, 0.0
        yaw = math.radians(p.yaw_deg or 0.0)
        return float(self._route[0, 0]), float(self._route[0, 1]), yaw, 0.0, 0.0

    def true_platform(self, t: float) -> Pose:
        """The simulated pose (ignoring any override) at sim time ``t`` (s)."""
        p = self.scenario.platform
        n, e, travel, speed, turn = self._platform_ne(t)
        yaw = math.radians(p.yaw_deg) if p.yaw_deg is not None else travel
        roll = pitch = 0.0
        if p.kind == "drone":
            tilt = math.radians(min(p.lean_deg_per_mps * speed, p.max_lean_deg))  # a multirotor leans into its travel
            pitch = -tilt * math.cos(travel - yaw)
            roll = tilt * math.sin(travel - yaw) + math.atan(speed * turn / _G)
        if p.kind == "mss" and p.base_alt_m is not None:
            alt = p.base_alt_m + p.mast_height_m
        else:
            alt = float(self.ground_alt_ne(n, e)) + (p.height_m if p.kind == "drone" else p.mast_height_m)
        if self.offset_frd != (0.0, 0.0, 0.0):  # the camera's place on the body (a pan head's turn not included)
            dn, de, dd = _body_to_ned(roll, pitch, yaw) @ np.array(self.offset_frd)
            n, e, alt = n + float(dn), e + float(de), alt - float(dd)
        lat, lon, _ = self.frame.to_geodetic(n, e, 0.0)
        return replace(
            self._camera_angles(t, yaw),
            t_mono=t,
            lat=float(lat),
            lon=float(lon),
            alt=alt,
            roll=roll,
            pitch=pitch,
            yaw=_wrap(yaw),
        )

    def _camera_angles(self, t: float, body_yaw: float) -> Pose:
        """A pose at home carrying the camera angles (rad) of the mount / gimbal / mast at time ``t``."""
        c, p = self.scenario.camera, self.scenario.platform
        pitch = c.pitch_deg + (c.pitch_sweep.at(t) if c.pitch_sweep else 0.0)
        yaw = c.yaw_deg + (c.yaw_sweep.at(t) if c.yaw_sweep else 0.0)
        if p.kind == "mss":
            pitch += p.tilt_deg
            yaw += p.pan.at(t)
        yaw_rad = math.radians(yaw)
        if c.frame == "earth" and c.yaw_follows_body:
            yaw_rad += body_yaw
        return Pose(
            t_mono=t,
            lat=self.home[0],
            lon=self.home[1],
            alt=self.home[2],
            cam_roll=math.radians(c.roll_deg),
            cam_pitch=math.radians(pitch),
            cam_yaw=_wrap(yaw_rad),
            cam_frame=c.frame,
            pos_err_m=0.0,
            alt_err_m=0.0,
            att_err_rad=0.0,
            source=PoseSource.SIM,
        )

    def platform(self, t: float) -> Pose:
        """TRUE camera pose at sim time ``t`` (s): optical centre lat/lon/alt, body attitude, camera angles.

        With ``platform_override`` returning a Pose, that pose is used (t_mono set to ``t``); if it carries no
        camera angles (frame "mount", or all zero in the body frame: e.g. SITL without a gimbal) the scenario's
        camera angles are applied.
        """
        if self.platform_override is not None:
            pose = self.platform_override(t)
            if pose is not None:
                silent = pose.cam_frame == "body" and pose.cam_roll == pose.cam_pitch == pose.cam_yaw == 0.0
                if silent or pose.cam_frame == "mount":
                    cam = self._camera_angles(t, pose.yaw)
                    pose = replace(
                        pose,
                        cam_roll=cam.cam_roll,
                        cam_pitch=cam.cam_pitch,
                        cam_yaw=cam.cam_yaw,
                        cam_frame=cam.cam_frame,
                    )
                return replace(pose, t_mono=t)
        return self.true_platform(t)

    def platform_ned(self, t: float) -> npt.NDArray[np.float64]:
        """Platform (camera) position (3,) north, east, down (m) from home."""
        pose = self.platform(t)
        return np.array(self.frame.to_ned(pose.lat, pose.lon, pose.alt), np.float64)

    def velocity_ned(self, t: float) -> tuple[float, float, float]:
        """Platform velocity north, east, down (m/s) by central difference over 0.1 s."""
        dt = 0.05
        v = (self.platform_ned(t + dt) - self.platform_ned(t - dt)) / (2 * dt)
        return float(v[0]), float(v[1]), float(v[2])
