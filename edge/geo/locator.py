"""GroundGeolocator: tracked boxes + the pose at capture time -> lat/lon/alt, slant range, 90 % error radius.

Per box: the ground-contact pixel (bottom-centre) becomes a camera ray (``camera_model``), rotated to NED by
the camera's orientation (``orientation.camera_rotation``: body, mounting and gimbal), and meets the ground model (``projection``: flat ground at ``geo.ground_alt_m`` or the
pose store's home ground, or a DEM). The box bottom is the footprint's near edge, so the point is moved back by
the class's mean half footprint depth. Its north/east covariance comes from re-solving with each input moved by
±1 sigma (``errors``): camera north, east, altitude (``pos_err_m``, ``alt_err_m``, plus speed x timing error),
ground height, three attitude axes (roll about the optical axis, pitch about the image's right axis, yaw about
down: per axis from the source of the camera's angles — the autopilot's ``att_err_rad``, ``geo.gimbal_err_deg``
for a gimbal that reports, ``geo.stabilised_err_deg`` for a stabilised camera that does not — plus that axis's
turn rate x timing error) and the contact pixel's u, v.
Then (``fusion``) the range from the box's angular height and the class's size prior updates the estimate
along the line of sight — what saves low masts at long range, where the intersection is nearly parallel to the
ground. Timing error: hypot(geo.timing_sigma_s, pose.age_s) times the platform's speed and the camera's turn rate
per axis, which are estimated from the poses this geolocator has seen over the last seconds. ``pos_err_m`` is read as the 1-sigma of
each horizontal axis (gpsd's eph / 2.45), ``att_err_rad`` as the 1-sigma about each axis.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from edge.geo.camera_model import CameraModel
from edge.geo.errors import covariance, radius90
from edge.geo.fusion import footprint_depth, inverse_size_distance, update_first
from edge.geo.orientation import Mounting, camera_rotation, lever_arm_ned, resolved, rotation_matrix, rotation_vector
from edge.geo.projection import REASONS, Ground, Miss
from edge.geo.settings import GeoSettings
from edge.geo.terrain import FlatGround, Terrain, open_dem
from edge.geo.wgs84 import LocalNed
from edge.types import Detections, EventKind, Frame, FrameEvents, GeoEvent, Pose, TrackEvents

F64 = npt.NDArray[np.float64]
NO_POSE = "no pose"
NO_GROUND = "no ground altitude (set geo.ground_alt_m or geo.dem_path)"
_AXES = np.eye(3)
_KEEP_FIXES = 4096  # last fixes kept per track id, for its LOST event


@dataclass(frozen=True)
class Fixes:
    """Positions of N boxes: lat, lon (deg), alt (m AMSL), error_m (90 % horizontal radius, m), range_m (slant,
    m), and the measured line of sight through each box's contact pixel: azimuth (rad, 0 = north, + east) and
    depression (rad, + down); all (N,) float64 with NaN where ``reason[i]`` says why there is no fix."""

    lat: F64
    lon: F64
    alt: F64
    error_m: F64
    range_m: F64
    reason: list[str | None]
    azimuth: F64
    depression: F64

    @classmethod
    def none(cls, n: int, reason: str) -> Fixes:
        nan = np.full(n, np.nan)
        return cls(nan, nan.copy(), nan.copy(), nan.copy(), nan.copy(), [reason] * n, nan.copy(), nan.copy())

    def sight(self, i: int) -> tuple[float, float] | None:
        """Box ``i``'s line of sight (azimuth, depression rad), None without a fix."""
        return None if self.reason[i] is not None else (float(self.azimuth[i]), float(self.depression[i]))


class _Motion:
    """Platform speed (m/s) and the camera's turn rates (rad/s: about its optical axis, its right axis, and down)
    from the poses of the last few seconds."""

    def __init__(self, baseline_s: float = 0.5, keep_s: float = 3.0):
        self._hist: deque[tuple[float, Pose, F64]] = deque()
        self._baseline, self._keep = baseline_s, keep_s

    def update(self, pose: Pose, r: F64) -> tuple[float, F64]:
        if self._hist and pose.t_mono < self._hist[-1][0]:
            self._hist.clear()
        self._hist.append((pose.t_mono, pose, r))
        while self._hist and pose.t_mono - self._hist[0][0] > self._keep:
            self._hist.popleft()
        old = [h for h in self._hist if pose.t_mono - h[0] >= self._baseline]
        if not old:
            return 0.0, np.zeros(3)
        t0, p0, r0 = old[-1]
        dt = pose.t_mono - t0
        n, e, d = LocalNed(p0.lat, p0.lon, p0.alt).to_ned(pose.lat, pose.lon, pose.alt)
        w = rotation_vector(r @ r0.T)  # in NED: its down part is yaw, the rest tilts the camera
        tilt = r.T @ np.array([w[0], w[1], 0.0])  # in the camera frame: about its optical and right axes
        return float(np.sqrt(n * n + e * e + d * d)) / dt, np.abs(np.array([tilt[0], tilt[1], w[2]])) / dt


class GroundGeolocator:
    """Satisfies ``edge.stages.Geolocator``. ``ground_alt_hint()`` (m AMSL or None) is the pose store's home
    ground, used when ``geo.ground_alt_m`` and ``geo.dem_path`` are unset."""

    def __init__(self, settings: GeoSettings, ground_alt_hint: Callable[[], float | None] | None = None):
        self.settings = settings
        self._hint = ground_alt_hint
        self._calibration = CameraModel.from_file(settings.calibration_file) if settings.calibration_file else None
        self._dem: Terrain | None = open_dem(settings.dem_path) if settings.dem_path else None
        m = settings
        self.mounting = Mounting.from_degrees(m.mount_roll_deg, m.mount_pitch_deg, m.mount_yaw_deg, m.gimbal_mode)
        self._offset = np.array([m.offset_forward_m, m.offset_right_m, m.offset_down_m], np.float64)
        self._cameras: dict[tuple[int, int], CameraModel] = {}
        self._motion = _Motion()
        self._last: OrderedDict[int, tuple[float, float, float, float, float]] = OrderedDict()

    def at_camera(self, pose: Pose) -> Pose:
        """``pose`` moved from the pose sources' reference point to this camera (geo.offset_*_m, the lever arm)."""
        if not self._offset.any():
            return pose
        n, e, d = lever_arm_ned(pose, self._offset)
        lat, lon, alt = LocalNed(pose.lat, pose.lon, pose.alt).to_geodetic(n, e, d)
        return replace(pose, lat=float(lat), lon=float(lon), alt=float(alt))

    def camera(self, width: int, height: int) -> CameraModel:
        """The camera model for images of ``width`` x ``height`` px."""
        key = (width, height)
        if key not in self._cameras:
            if self._calibration is not None:
                self._cameras[key] = self._calibration.scaled(width, height)
            else:
                self._cameras[key] = CameraModel.from_hfov(width, height, self.settings.hfov_deg)
        return self._cameras[key]

    def view(self, pose: Pose, width: int, height: int) -> tuple[CameraModel, F64, Terrain | None]:
        """What a box is located through: the camera model for ``width`` x ``height`` px, its rotation to NED
        (3, 3; ``orientation.camera_rotation``: body, mounting and gimbal) and the ground model (None without a
        ground altitude). The console's ground grid projects through the same."""
        return self.camera(width, height), camera_rotation(pose, self.mounting), self._terrain()

    def _terrain(self) -> Terrain | None:
        if self._dem is not None:
            return self._dem
        alt = self.settings.ground_alt_m
        if alt is None and self._hint is not None:
            alt = self._hint()
        return None if alt is None else FlatGround(float(alt))

    def locate(self, frame: Frame, tracks: TrackEvents, pose: Pose | None, class_names: list[str]) -> FrameEvents:
        """One GeoEvent per track event of the frame.

        A LOST event carries the box the track was last seen with, frames ago: through this frame's pose it would
        land a platform's travel off (10 m at 10 m/s after 1 s). It gets the track's last fix instead (lat, lon,
        alt, error, range of its last NEW / UPDATE event), and only without one the box through this pose."""
        dets = tracks.dets
        names = [class_names[c] if 0 <= c < len(class_names) else str(int(c)) for c in dets.class_id]
        fixes = self.fix_boxes(dets.xyxy, names, frame.width, frame.height, pose)
        scale = np.array([frame.width, frame.height, frame.width, frame.height], np.float64)
        events = []
        for i in range(len(dets)):
            bx = np.clip(dets.xyxy[i] / scale, 0.0, 1.0)

            track, kind = int(dets.track_id[i]), EventKind(int(tracks.kinds[i]))
            fix: tuple[float, float, float, float, float] | None = None
            if fixes.reason[i] is None:
                f = fixes
                fix = (float(f.lat[i]), float(f.lon[i]), float(f.alt[i]), float(f.error_m[i]), float(f.range_m[i]))
            if kind == EventKind.LOST:
                fix = self._last.pop(track, fix)
            elif fix is not None:
                self._last[track] = fix
                self._last.move_to_end(track)
                while len(self._last) > _KEEP_FIXES:
                    self._last.popitem(last=False)
            lat, lon, alt, err, rng = fix if fix is not None else (None,) * 5
            sight = fixes.sight(i) if kind != EventKind.LOST else None
            events.append(
                GeoEvent(
                    track_id=track,
                    class_id=int(dets.class_id[i]),
                    class_name=names[i],
                    confidence=float(dets.score[i]),
                    kind=kind,
                    bbox_norm=(float(bx[0]), float(bx[1]), float(bx[2]), float(bx[3])),
                    lat=lat,
                    lon=lon,
                    alt=alt,
                    error_m=err,
                    range_m=rng,
                    no_fix_reason=None if fix is not None else fixes.reason[i],
                    sight=sight,
                )
            )
        seen = None if pose is None else resolved(self.at_camera(pose), self.mounting)
        quiet = self._seen(frame, tracks.seen, pose, class_names)
        return FrameEvents(frame.camera_id, frame.seq, frame.t_utc, seen, tuple(events), seen=quiet)

    def _seen(self, frame: Frame, dets: Detections, pose: Pose | None, class_names: list[str]) -> tuple[GeoEvent, ...]:
        """UPDATE events of the tracks seen without one (``TrackEvents.seen``), located ones only (the association
        reads their fixes, and sends one when its track's object id changed)."""
        if not len(dets):
            return ()
        names = [class_names[c] if 0 <= c < len(class_names) else str(int(c)) for c in dets.class_id]
        f = self.fix_boxes(dets.xyxy, names, frame.width, frame.height, pose)
        boxes = np.clip(dets.xyxy / np.array([frame.width, frame.height] * 2, np.float64), 0.0, 1.0)
        out = []
        for i in np.flatnonzero([r is None for r in f.reason]):
            box = (float(boxes[i, 0]), float(boxes[i, 1]), float(boxes[i, 2]), float(boxes[i, 3]))
            fix = float(f.lat[i]), float(f.lon[i]), float(f.alt[i]), float(f.error_m[i]), float(f.range_m[i])
            cls, score = int(dets.class_id[i]), float(dets.score[i])
            ev = GeoEvent(
                int(dets.track_id[i]), cls, names[i], score, EventKind.UPDATE, box, *fix, sight=f.sight(int(i))
            )
            out.append(ev)
        return tuple(out)

    def fix_boxes(self, xyxy: npt.ArrayLike, names: list[str], width: int, height: int, pose: Pose | None) -> Fixes:
        """Fixes for boxes (N, 4) px of classes ``names`` (N) in a ``width`` x ``height`` image seen from ``pose``."""
        boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
        n = len(boxes)
        if pose is None:
            return Fixes.none(n, NO_POSE)
        pose = self.at_camera(pose)
        terrain = self._terrain()
        if terrain is None:
            return Fixes.none(n, NO_GROUND)
        s = self.settings
        local = LocalNed(pose.lat, pose.lon, pose.alt)
        ground = Ground(terrain, local, s.max_range_m, s.dem_step_m, s.earth_curvature)
        cam, r = self.camera(width, height), camera_rotation(pose, self.mounting)
        speed, turn = self._motion.update(pose, r)
        if n == 0:
            return Fixes.none(0, "")
        sig_t = math.hypot(s.timing_sigma_s, pose.age_s)
        pos_sig = math.hypot(pose.pos_err_m, speed * sig_t)
        att_sig = np.hypot(self.attitude_sigmas(pose), turn * sig_t)

        uv = np.column_stack([(boxes[:, 0] + boxes[:, 2]) / 2.0, boxes[:, 3]])
        box_h = boxes[:, 3] - boxes[:, 1]
        cut = boxes[:, 3] >= height - 0.5  # the contact point may lie below the image
        sig_u = np.full(n, s.pixel_sigma_px)
        sig_v = np.where(cut, np.maximum(s.pixel_sigma_px, box_h), s.pixel_sigma_px)
        step_v = np.maximum(sig_v, 0.5)  # a non-zero step: its direction places the footprint correction

        sigmas = (pos_sig, pos_sig, pose.alt_err_m, s.ground_sigma_m, att_sig, sig_u, step_v)
        ne, status, unit, pts = self._perturbed(ground, cam, r, uv, sigmas)
        # footprint: the box bottom is the near edge; step back along the image-up direction on the ground
        down_dir = ne[:, 17] - ne[:, 18]
        down_dir /= np.maximum(np.linalg.norm(down_dir, axis=1, keepdims=True), 1e-12)
        half, half_sig = np.zeros(n), np.zeros(n)
        for i, name in enumerate(names):
            prior = s.size_priors.get(name)
            if prior is not None:
                mean, sd = footprint_depth(prior.length_m, prior.width_m, prior.height_sigma_m / prior.height_m)
                half[i], half_sig[i] = mean / 2.0, sd / 2.0
        ne = ne - (down_dir * half[:, None])[:, None, :]
        plus, minus = ne[:, 1::2].copy(), ne[:, 2::2].copy()
        scale_v = (sig_v / step_v)[:, None]
        plus[:, 8] = ne[:, 0] + (ne[:, 17] - ne[:, 0]) * scale_v
        minus[:, 8] = ne[:, 0] + (ne[:, 18] - ne[:, 0]) * scale_v
        foot = down_dir * half_sig[:, None]  # 1-sigma footprint offset (N, 2)
        plus = np.concatenate([plus, (ne[:, 0] + foot)[:, None]], axis=1)
        minus = np.concatenate([minus, (ne[:, 0] - foot)[:, None]], axis=1)
        x, cov = ne[:, 0].copy(), covariance(plus, minus)
        if s.fusion:
            x, cov = self._fuse(x, cov, plus, minus, boxes, names, cam, unit[:, 0], width, height)

        alt = terrain.height(*local.to_geodetic(x[:, 0], x[:, 1], 0.0)[:2])
        alt = np.where(np.isfinite(alt), alt, pose.alt - pts[:, 0, 2])
        lat, lon, _ = local.to_geodetic(x[:, 0], x[:, 1], 0.0)
        rng = np.sqrt(x[:, 0] ** 2 + x[:, 1] ** 2 + (pose.alt - alt) ** 2)
        reason: list[str | None] = [None if st == Miss.HIT else REASONS[Miss(int(st))] for st in status[:, 0]]
        bad = status[:, 0] != Miss.HIT
        nan = np.nan
        return Fixes(
            np.where(bad, nan, lat),
            np.where(bad, nan, lon),
            np.where(bad, nan, alt),
            np.where(bad, nan, radius90(cov)),
            np.where(bad, nan, rng),
            reason,
            np.where(bad, nan, np.arctan2(unit[:, 0, 1], unit[:, 0, 0])),
            np.where(bad, nan, np.arcsin(np.clip(unit[:, 0, 2], -1.0, 1.0))),
        )

    def attitude_sigmas(self, pose: Pose) -> F64:
        """1-sigma errors (3,) rad of the camera's roll (optical axis), pitch (right axis) and yaw (down), by what
        holds the camera: a reporting gimbal, the airframe, or a stabiliser that reports nothing."""
        body, gimbal = pose.att_err_rad, math.radians(self.settings.gimbal_err_deg)
        stab = math.radians(self.settings.stabilised_err_deg)
        if pose.cam_frame == "earth":  # yaw is often reported relative to the heading: the heading's error too
            return np.array([gimbal, gimbal, math.hypot(gimbal, body)])
        if pose.cam_frame == "body":
            return np.full(3, math.hypot(gimbal, body))
        mode = self.mounting.gimbal_mode
        if mode == "stabilised":
            return np.array([stab, stab, body])
        return np.full(3, stab if mode == "earth" else body)

    def _perturbed(
        self,
        ground: Ground,
        cam: CameraModel,
        r: F64,
        uv: F64,
        sigmas: tuple[float, float, float, float, F64, F64, F64],
    ) -> tuple[F64, F64, F64, F64]:
        """Ground points of the nominal rays through ``uv`` (N, 2) and of 9 inputs moved by +/-1 sigma each.

        sigmas: north, east, altitude, ground height (m), attitude (3,) rad (roll about the optical axis, pitch about
        the image's right axis, yaw about NED down), u (N,) and v (N,) px. Input j's +/-
        points are columns 1 + 2j / 2 + 2j of the (N, 19, ...) results: north/east (m; misses counted at max
        range), Miss status, unit NED ray directions, and the raw NED points (NaN where missed).
        """
        sig_n, sig_e, sig_alt, sig_ground, sig_att, sig_u, sig_v = sigmas
        n, k = len(uv), 19
        origins = np.zeros((n, k, 3))
        offsets = np.zeros((n, k))
        pix = np.repeat(uv[:, None, :], k, axis=1)
        rots = np.repeat(np.eye(3)[None], k, axis=0)  # camera-frame rotations, after r
        yaws = np.repeat(np.eye(3)[None], k, axis=0)  # NED rotations, before r
        for j, sig in enumerate((sig_n, sig_e, sig_alt)):
            origins[:, 1 + 2 * j, j], origins[:, 2 + 2 * j, j] = sig, -sig
        offsets[:, 7], offsets[:, 8] = sig_ground, -sig_ground
        for j in range(2):
            rots[9 + 2 * j] = _small_rotation(j, sig_att[j])
            rots[10 + 2 * j] = _small_rotation(j, -sig_att[j])
        yaws[13], yaws[14] = _small_rotation(2, sig_att[2]), _small_rotation(2, -sig_att[2])
        pix[:, 15, 0] += sig_u
        pix[:, 16, 0] -= sig_u
        pix[:, 17, 1] += sig_v
        pix[:, 18, 1] -= sig_v
        d_cam = cam.rays(pix.reshape(-1, 2)).reshape(n, k, 3)
        dirs = np.einsum("kij,jl,klm,nkm->nki", yaws, r, rots, d_cam)
        pts, status = ground.intersect(origins.reshape(-1, 3), dirs.reshape(-1, 3), offsets.reshape(-1))
        pts, status = pts.reshape(n, k, 3), status.reshape(n, k)
        unit = dirs / np.linalg.norm(dirs, axis=2, keepdims=True)
        capped = origins + unit * ground.max_range_m
        ne = np.where((status == Miss.HIT)[..., None], pts, capped)[..., :2]
        return ne, status, unit, pts

    def _fuse(
        self,
        x: F64,
        cov: F64,
        plus: F64,
        minus: F64,
        boxes: F64,
        names: list[str],
        cam: CameraModel,
        ray: F64,
        width: int,
        height: int,
    ) -> tuple[F64, F64]:
        """Update x (N, 2), cov (N, 2, 2) by size ranges where the class has a prior and the box is whole.

        plus/minus (N, P, 2): the points of the +/-1 sigma input perturbations; ray (N, 3): unit NED direction
        of the nominal ground-contact ray. Works in (inverse along-ray distance, cross-track offset).
        """
        s = self.settings
        horiz = np.hypot(ray[:, 0], ray[:, 1])
        whole = (boxes[:, 0] > 0.5) & (boxes[:, 1] > 0.5) & (boxes[:, 2] < width - 0.5) & (boxes[:, 3] < height - 0.5)
        use = whole & (boxes[:, 3] - boxes[:, 1] >= s.min_box_px) & (horiz > 1e-3)
        use &= np.array([name in s.size_priors for name in names], bool)
        idx = np.flatnonzero(use)
        if not len(idx):
            return x, cov
        az = ray[idx, :2] / horiz[idx, None]
        basis = np.stack([az, np.column_stack([-az[:, 1], az[:, 0]])], axis=2)  # columns: along, cross

        def to_y(p: F64) -> F64:
            q = np.einsum("n...i,nij->n...j", p, basis)
            q[..., 0] = 1.0 / np.maximum(q[..., 0], 1.0)
            return q

        y0 = to_y(x[idx])
        cov_y = covariance(to_y(plus[idx]), to_y(minus[idx]))
        uc = (boxes[idx, 0] + boxes[idx, 2]) / 2.0
        top = cam.rays(np.column_stack([uc, boxes[idx, 1]]))
        bot = cam.rays(np.column_stack([uc, boxes[idx, 3]]))
        cosang = np.einsum("ni,ni->n", top, bot) / (np.linalg.norm(top, axis=1) * np.linalg.norm(bot, axis=1))
        alpha = np.arccos(np.clip(cosang, -1.0, 1.0))
        dep = np.arcsin(np.clip(ray[idx, 2], -1.0, 1.0))
        w, w_sig = np.zeros(len(idx)), np.zeros(len(idx))
        for j, i in enumerate(idx):
            prior = s.size_priors[names[i]]
            depth, depth_sd = footprint_depth(prior.length_m, prior.width_m, prior.height_sigma_m / prior.height_m)
            wj, sj = inverse_size_distance(
                alpha[j : j + 1],
                s.box_sigma_px / cam.fy,
                dep[j : j + 1],
                prior.height_m,
                prior.height_sigma_m,
                depth,
                depth_sd,
            )
            w[j], w_sig[j] = wj[0], sj[0]
        y_f, cov_f = update_first(y0, cov_y, w, w_sig)
        fused = y_f[:, 0] != y0[:, 0]
        w_f = np.maximum(y_f[:, 0], 1.0 / s.max_range_m)
        dist = 1.0 / w_f
        # distance per unit of w: the far-side secant, since 1/w stretches the far tail
        w_sd = np.sqrt(np.maximum(cov_f[:, 0, 0], 1e-30))
        far = 1.0 / np.maximum(w_f - w_sd, 1.0 / s.max_range_m)
        jac = basis * np.stack([-(far - dist) / w_sd, np.ones_like(dist)], axis=1)[:, None, :]  # d(n, e)/d(w, c)
        x, cov = x.copy(), cov.copy()
        sel = idx[fused]
        x[sel] = np.einsum("nij,nj->ni", basis, np.column_stack([dist, y_f[:, 1]]))[fused]
        cov[sel] = np.einsum("nij,njk,nlk->nil", jac, cov_f, jac)[fused]
        return x, cov


def _small_rotation(axis: int, angle: float) -> F64:
    """Rotation (3, 3) by ``angle`` rad about axis 0, 1 or 2 of a frame (camera: optical, right, down; NED)."""
    return rotation_matrix(_AXES[axis] * angle)
