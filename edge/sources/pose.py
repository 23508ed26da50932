"""The time-indexed pose store: every source adds samples, the pipeline asks for the pose at a frame's capture time.

Three independent streams, each kept for ``history_s``:

* positions (per source: MAVLink, gpsd): lat/lon (deg), alt (m AMSL) of the camera's optical centre, with
  1-sigma errors; interpolated linearly, extrapolated linearly (last two samples) up to ``max_extrapolation_s``
  with the error growing by ``extrapolation_err_mps`` per second. When several sources can answer, the one
  nearest in time wins, then the smaller error.
* body attitude: quaternions, slerped; held beyond the ends. Without samples, the configured fixed attitude
  (``body_*_deg``) when a heading is configured.
* camera (gimbal / mast) orientation: quaternions, slerped, in one of three frames: "body" (relative to the body),
  "earth" (relative to NED) or "heading" (roll/pitch relative to the horizon, yaw relative to the vehicle's heading:
  MAVLink gimbal protocol v2's "vehicle frame"); a "heading" sample comes out as an earth-frame camera angle
  using the body yaw at the same time. Without samples ever: frame "mount" with angles 0 (the geolocator's
  ``[geo]`` mounting and gimbal mode then say how the camera is held; ``edge.geo.orientation``).

``Pose.age_s`` is the largest distance (s) from the asked time to a sample used for any of the three (0 when
every stream interpolated).
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from dataclasses import dataclass
from typing import Generic, TypeVar

from edge.sources import quat
from edge.sources.settings import PoseSettings
from edge.stages import Health
from edge.types import Pose, PoseSource

CAMERA_FRAMES = ("body", "earth", "heading")
S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class _Pos:
    lat: float
    lon: float
    alt: float
    pos_err: float
    alt_err: float


@dataclass(frozen=True, slots=True)
class _Att:
    q: quat.Quat
    err: float
    source: str


@dataclass(frozen=True, slots=True)
class _Cam:
    q: quat.Quat
    frame: str


class _Series(Generic[S]):
    """Samples sorted by time (s); ``lookup`` finds the pair to interpolate or the one to hold."""

    def __init__(self) -> None:
        self.t: list[float] = []
        self.v: list[S] = []

    def add(self, t: float, value: S, history_s: float) -> None:
        if self.t and t <= self.t[-1]:
            i = bisect.bisect_left(self.t, t)
            if i < len(self.t) and self.t[i] == t:
                self.v[i] = value  # same time stamp: the newer report replaces the older
                return
            self.t.insert(i, t)
            self.v.insert(i, value)
        else:
            self.t.append(t)
            self.v.append(value)
        cut = bisect.bisect_left(self.t, self.t[-1] - history_s)
        if cut:
            del self.t[:cut], self.v[:cut]

    def lookup(self, t: float, max_gap: float) -> tuple[int, int, float, float] | None:
        """(i0, i1, f, age): interpolate v[i0] -> v[i1] by f in [0, 1]; age (s) = distance to the samples used.

        Beyond the newest sample i0 = i1 - 1 = the second newest (for extrapolation), f > 1; a lone sample or a gap
        wider than ``max_gap`` gives i0 == i1 (hold).
        """
        n = len(self.t)
        if n == 0:
            return None
        if t >= self.t[-1]:
            age = t - self.t[-1]
            if n >= 2 and self.t[-1] - self.t[-2] <= max_gap:
                dt = self.t[-1] - self.t[-2]
                return n - 2, n - 1, 1.0 + age / dt if dt > 0 else 1.0, age
            return n - 1, n - 1, 0.0, age
        if t <= self.t[0]:
            return 0, 0, 0.0, self.t[0] - t
        i1 = bisect.bisect_right(self.t, t)
        i0 = i1 - 1
        t0, t1 = self.t[i0], self.t[i1]
        if t1 - t0 <= max_gap:
            return i0, i1, (t - t0) / (t1 - t0), 0.0
        nearest = i0 if t - t0 <= t1 - t else i1
        return nearest, nearest, 0.0, abs(t - self.t[nearest])


def _dlon(lon0: float, lon1: float) -> float:
    """lon1 - lon0 (deg) the short way round the antimeridian."""
    return ((lon1 - lon0 + 540.0) % 360.0) - 180.0


class PoseStore:
    """``edge.stages.PoseStore``: thread-safe; sources call ``add_*`` from their threads."""

    def __init__(self, settings: PoseSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._pos: dict[PoseSource, _Series[_Pos]] = {}
        self._att: _Series[_Att] = _Series()
        self._cam: _Series[_Cam] = _Series()
        self._ground_alt: float | None = None
        self._att_last: dict[str, float] = {}
        self.misses = 0

    # -- feeding ------------------------------------------------------------------------------------------------
    def add_position(
        self,
        t_mono: float,
        lat: float,
        lon: float,
        alt: float,
        pos_err_m: float,
        alt_err_m: float,
        source: PoseSource,
    ) -> None:
        """A position of the camera's optical centre: deg, deg, m AMSL; 1-sigma errors in m."""
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0 and math.isfinite(alt)):
            raise ValueError(f"position out of range: {lat}, {lon}, {alt}")
        with self._lock:
            series = self._pos.setdefault(source, _Series())
            series.add(t_mono, _Pos(lat, lon, alt, pos_err_m, alt_err_m), self.settings.history_s)

    def add_attitude(
        self, t_mono: float, roll: float, pitch: float, yaw: float, att_err_rad: float, source: str = "mavlink"
    ) -> None:
        """Body attitude (rad, Z-Y-X Euler in NED) with its 1-sigma error per axis (rad); ``source`` names where it
        came from (shown by `edge status`; see ``last_attitude_t``)."""
        q = quat.from_euler(roll, pitch, yaw)
        with self._lock:
            self._att.add(t_mono, _Att(q, att_err_rad, source), self.settings.history_s)
            self._att_last[source] = max(t_mono, self._att_last.get(source, -math.inf))

    def last_attitude_t(self, source: str) -> float | None:
        """Time (s, monotonic) of the newest attitude sample from ``source``; None if it never sent one."""
        with self._lock:
            return self._att_last.get(source)

    def add_camera(self, t_mono: float, roll: float, pitch: float, yaw: float, frame: str) -> None:
        """Camera orientation (rad, Z-Y-X Euler); frame "body", "earth" or "heading" (see the module doc)."""
        self.add_camera_quat(t_mono, quat.from_euler(roll, pitch, yaw), frame)

    def add_camera_quat(self, t_mono: float, q: quat.Quat, frame: str) -> None:
        """Camera orientation as a quaternion (w, x, y, z); frame as in ``add_camera``."""
        if frame not in CAMERA_FRAMES:
            raise ValueError(f"camera frame must be one of {CAMERA_FRAMES}, not {frame!r}")
        q = quat.normalize(q)
        with self._lock:
            self._cam.add(t_mono, _Cam(q, frame), self.settings.history_s)

    def set_ground_alt(self, alt_m: float) -> None:
        """Ground height (m AMSL) under the vehicle or at home, as the sources know it."""
        with self._lock:
            self._ground_alt = alt_m

    def ground_alt_hint(self) -> float | None:
        """Ground height (m AMSL) at home (drone) or under the vehicle (MSS); None until a source told us."""
        with self._lock:
            return self._ground_alt

    # -- reading ------------------------------------------------------------------------------------------------
    def pose_at(self, t_mono: float) -> Pose | None:
        """The pose at ``t_mono`` (s); None when position, attitude or camera are unknown or too old there."""
        with self._lock:
            pose = self._pose_at(t_mono)
            if pose is None:
                self.misses += 1
            return pose

    def _pose_at(self, t: float) -> Pose | None:
        s = self.settings
        pos = self._position(t)
        if pos is None:
            return None
        (lat, lon, alt, pos_err, alt_err, source), pos_age = pos
        att = self._attitude(t)
        if att is None:
            return None
        (roll, pitch, yaw, att_err), att_age = att
        cam = self._camera(t, yaw)
        if cam is None:
            return None
        (c_roll, c_pitch, c_yaw, c_frame), cam_age = cam
        return Pose(
            t_mono=t,
            lat=lat,
            lon=lon,
            alt=alt,
            roll=roll,
            pitch=pitch,
            yaw=yaw,
            cam_roll=c_roll,
            cam_pitch=c_pitch,
            cam_yaw=c_yaw,
            cam_frame=c_frame,
            pos_err_m=pos_err + s.extrapolation_err_mps * pos_age,
            alt_err_m=alt_err + s.extrapolation_err_mps * pos_age,
            att_err_rad=att_err,
            age_s=max(pos_age, att_age, cam_age),
            source=source,
        )

    def _position(self, t: float) -> tuple[tuple[float, float, float, float, float, PoseSource], float] | None:
        s = self.settings
        best: tuple[tuple[float, float, float, float, float, PoseSource], float] | None = None
        for source, series in self._pos.items():
            hit = series.lookup(t, s.max_gap_s)
            if hit is None or hit[3] > s.max_extrapolation_s:
                continue
            i0, i1, f, age = hit
            a, b = series.v[i0], series.v[i1]
            value = (
                a.lat + f * (b.lat - a.lat),
                a.lon + f * _dlon(a.lon, b.lon),
                a.alt + f * (b.alt - a.alt),
                max(a.pos_err, b.pos_err) if 0 < f < 1 else b.pos_err if f >= 1 else a.pos_err,
                max(a.alt_err, b.alt_err) if 0 < f < 1 else b.alt_err if f >= 1 else a.alt_err,
                source,
            )
            if best is None or (age, value[3]) < (best[1], best[0][3]):
                best = (value, age)
        if best is None:
            return None
        (lat, lon, alt, pe, ae, src), age = best
        lon = ((lon + 540.0) % 360.0) - 180.0
        return (max(-90.0, min(90.0, lat)), lon, alt, pe, ae, src), age

    def _attitude(self, t: float) -> tuple[tuple[float, float, float, float], float] | None:
        s = self.settings
        hit = self._att.lookup(t, s.max_gap_s)
        if hit is not None and hit[3] <= s.max_extrapolation_s:
            i0, i1, f, age = hit
            a, b = self._att.v[i0], self._att.v[i1]
            q = quat.slerp(a.q, b.q, f) if 0 < f < 1 else (b.q if f >= 1 else a.q)
            roll, pitch, yaw = quat.to_euler(q)
            return (roll, pitch, yaw, max(a.err, b.err)), age
        if s.body_yaw_deg is None:
            return None
        r, p, y = (math.radians(v) for v in (s.body_roll_deg, s.body_pitch_deg, s.body_yaw_deg))
        return (r, p, quat.wrap(y), math.radians(s.static_att_err_deg)), 0.0

    def _camera(self, t: float, body_yaw: float) -> tuple[tuple[float, float, float, str], float] | None:
        s = self.settings
        if not self._cam.t:
            return (0.0, 0.0, 0.0, "mount"), 0.0
        hit = self._cam.lookup(t, s.max_gap_s)
        if hit is None or hit[3] > s.max_extrapolation_s:
            return None
        i0, i1, f, age = hit
        a, b = self._cam.v[i0], self._cam.v[i1]
        if a.frame != b.frame:  # the gimbal switched mode between the two samples: take the nearer one
            a = b = a if f < 0.5 else b
        q = quat.slerp(a.q, b.q, f) if 0 < f < 1 else (b.q if f >= 1 else a.q)
        roll, pitch, yaw = quat.to_euler(q)
        if a.frame == "heading":
            return (roll, pitch, quat.wrap(yaw + body_yaw), "earth"), age
        return (roll, pitch, yaw, a.frame), age

    def health(self) -> Health:
        """Sample counts per stream, and the newest position and attitude with their age (s) and source."""
        now = time.monotonic()
        with self._lock:
            out: Health = {f"position_{k.value}": len(v.t) for k, v in self._pos.items()}
            out["attitude"] = len(self._att.t)
            out["camera"] = len(self._cam.t)
            out["misses"] = self.misses
            out["ground_alt"] = self._ground_alt
            newest = max(((s.t[-1], k, s.v[-1]) for k, s in self._pos.items() if s.t), default=None, key=lambda x: x[0])
            if newest is not None:
                t, src, p = newest
                out["last_position"] = {
                    "lat": round(p.lat, 7),
                    "lon": round(p.lon, 7),
                    "alt_m": round(p.alt, 1),
                    "err_m": round(p.pos_err, 1),
                    "age_s": round(now - t, 1),
                    "source": src.value,
                }
            out["last_attitude"] = self._last_attitude(now)
            return out

    def _last_attitude(self, now: float) -> dict[str, object] | None:
        """The newest body attitude (deg) with its age (s) and source; the configured one when none came."""
        s = self.settings
        if self._att.t:
            roll, pitch, yaw = (math.degrees(v) for v in quat.to_euler(self._att.v[-1].q))
            age: float | None = round(now - self._att.t[-1], 1)
            source = self._att.v[-1].source
        elif s.body_yaw_deg is not None:
            roll, pitch, yaw, age, source = s.body_roll_deg, s.body_pitch_deg, s.body_yaw_deg, None, "static"
        else:
            return None
        return {
            "roll_deg": round(roll, 1),
            "pitch_deg": round(pitch, 1),
            "yaw_deg": round(yaw % 360.0, 1),
            "age_s": age,
            "source": source,
        }
