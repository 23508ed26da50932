"""The camera renderer: what the camera sees from a pose at sim time ``t``, with exact ground truth.

``Renderer(world).render(t)`` -> (image, GroundTruth). Day images are (H, W, 3) uint8 BGR; thermal images are
(H, W) uint16 in centikelvin (value / 100 = kelvin), warm targets on a cooler background with sensor noise.
``Renderer(world, randomize=True)`` draws new surface, lighting, blur, noise and contrast for every frame
(for training data); ``options=RenderOptions(...)`` fixes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge.types import Pose, PoseSource
from sim.render_camera import Intrinsics, pixel_rays, r_cam_to_ned
from sim.render_ground import HORIZON_BGR, GroundPainter, Look
from sim.render_targets import (
    Part,
    box_of,
    draw_target,
    fill_ground_polygon,
    shadow_polygon,
    target_parts,
    wake_polygons,
)
from sim.render_textures import SURFACES
from sim.world import TargetTruth, World

LAND_SURFACES = ("grass", "rock", "sand", "snow", "road")


@dataclass(frozen=True)
class GroundTruth:
    """Truth for one frame: capture time ``t`` (s), the pose rendered from, and per visible target (N):

    boxes (N, 4) float64 px x1 y1 x2 y2 (projection of the target's 3-D box clipped to the image);
    target_ids, class_ids (N,) int64; lat, lon (deg), alt (m AMSL, ground contact) (N,) float64;
    range_m (N,) slant range to the ground-contact point; visible_frac (N,) share of the unclipped box inside
    the image; occluded (N,) share of the box covered by nearer targets' boxes (0..1).
    """

    t: float
    pose: Pose
    boxes: npt.NDArray[np.float64]
    target_ids: npt.NDArray[np.int64]
    class_ids: npt.NDArray[np.int64]
    lat: npt.NDArray[np.float64]
    lon: npt.NDArray[np.float64]
    alt: npt.NDArray[np.float64]
    range_m: npt.NDArray[np.float64]
    visible_frac: npt.NDArray[np.float64]
    occluded: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.boxes)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (pose as a dict of its fields)."""
        pose = {f: getattr(self.pose, f) for f in self.pose.__dataclass_fields__}
        pose["source"] = self.pose.source.value
        return {
            "t": self.t,
            "pose": pose,
            "boxes": self.boxes.round(3).tolist(),
            "target_ids": self.target_ids.tolist(),
            "class_ids": self.class_ids.tolist(),
            "lat": self.lat.tolist(),
            "lon": self.lon.tolist(),
            "alt": self.alt.round(3).tolist(),
            "range_m": self.range_m.round(2).tolist(),
            "visible_frac": self.visible_frac.round(4).tolist(),
            "occluded": self.occluded.round(4).tolist(),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> GroundTruth:
        """Inverse of ``to_json``."""
        pose = Pose(**{**d["pose"], "source": PoseSource(d["pose"]["source"])})
        f = np.float64
        return cls(
            float(d["t"]), pose, np.array(d["boxes"], f).reshape(-1, 4), np.array(d["target_ids"], np.int64),
            np.array(d["class_ids"], np.int64), np.array(d["lat"], f), np.array(d["lon"], f), np.array(d["alt"], f),
            np.array(d["range_m"], f), np.array(d["visible_frac"], f), np.array(d["occluded"], f),
        )  # fmt: skip


@dataclass(frozen=True)
class RenderOptions:
    """Appearance knobs. None means "the scenario's value". Noise: day in 8-bit DN, thermal in kelvin.
    contrast and white_balance (B, G, R gains) act on the final day image."""

    surface: str | None = None
    texture_seed: int | None = None
    sun_azimuth_deg: float | None = None
    sun_elevation_deg: float | None = None
    visibility_m: float | None = None
    ambient_c: float | None = None
    brightness: float = 1.0
    contrast: float = 1.0
    blur_sigma: float = 0.0
    noise_day: float = 1.5
    noise_thermal_k: float = 0.05
    shadows: bool = True
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)

    @classmethod
    def random(cls, rng: np.random.Generator, surface: str) -> RenderOptions:
        """Heavy randomisation for training; a sea scenario keeps its sea, land picks any land surface."""
        return cls(
            surface=surface if surface == "sea" else str(rng.choice(LAND_SURFACES)),
            texture_seed=int(rng.integers(4)),
            sun_azimuth_deg=float(rng.uniform(0, 360)),
            sun_elevation_deg=float(rng.uniform(15, 80)),
            visibility_m=float(rng.uniform(3000, 30000)),
            ambient_c=float(rng.uniform(-10, 35)),
            brightness=float(rng.uniform(0.6, 1.3)),
            contrast=float(rng.uniform(0.7, 1.3)),
            blur_sigma=float(rng.choice([0.0, 0.0, rng.uniform(0.3, 1.5)])),
            noise_day=float(rng.uniform(0.5, 6.0)),
            noise_thermal_k=float(rng.uniform(0.02, 0.2)),
            shadows=bool(rng.random() < 0.85),
            white_balance=(float(rng.uniform(0.9, 1.1)), 1.0, float(rng.uniform(0.9, 1.1))),
        )


def thermal_to_8bit(
    img: npt.NDArray[np.uint16], palette: str = "white_hot", lo_pct: float = 1.0, hi_pct: float = 99.5
) -> npt.NDArray[np.uint8]:
    """Percentile stretch (automatic gain) of a 16-bit thermal image (H, W) to 8 bits.

    palette: "white_hot" or "black_hot" give (H, W) grey; "ironbow" gives (H, W, 3) BGR (inferno colour map).
    """
    lo, hi = np.percentile(img, [lo_pct, hi_pct])
    scale = 255.0 / max(float(hi - lo), 1.0)
    grey = np.asarray(np.clip((img.astype(np.float32) - float(lo)) * scale, 0, 255), np.uint8)
    if palette == "white_hot":
        return grey
    if palette == "black_hot":
        return np.asarray(255 - grey, np.uint8)
    if palette == "ironbow":
        return np.asarray(cv2.applyColorMap(grey, cv2.COLORMAP_INFERNO), np.uint8)
    raise ValueError(f"palette must be white_hot, black_hot or ironbow, not {palette!r}")


class Renderer:
    """Renders a World's camera view. ``render(t, pose=None)`` -> (image, GroundTruth)."""

    def __init__(
        self,
        world: World,
        mode: str | None = None,
        rng_seed: int | None = None,
        randomize: bool = False,
        options: RenderOptions | None = None,
    ):
        self.world = world
        self.mode = mode or world.camera.mode
        if self.mode not in ("day", "thermal"):
            raise ValueError(f"mode must be 'day' or 'thermal', not {self.mode!r}")
        cam = world.camera
        self.k = Intrinsics.from_hfov(cam.width, cam.height, cam.hfov_deg)
        self.randomize = randomize
        self.options = options or RenderOptions()
        self._rng = np.random.default_rng(world.seed if rng_seed is None else rng_seed)
        self._painters: dict[tuple[str, int], GroundPainter] = {}
        self._parts: dict[int, list[Part]] = {}
        bank_shape = (cam.height + 32, cam.width + 32) + ((3,) if self.mode == "day" else ())
        self._noise = np.random.default_rng([world.seed, 5]).standard_normal(bank_shape, dtype=np.float32)
        self._fpn = np.random.default_rng([world.seed, 6]).standard_normal(cam.width).astype(np.float32)
        sc = world.scenario.scene
        self._scene = sc

    # ----- per-frame settings
    def _frame_options(self) -> RenderOptions:
        if self.randomize:
            return RenderOptions.random(self._rng, self.world.scenario.ground.surface)
        return self.options

    def _painter(self, opts: RenderOptions) -> GroundPainter:
        surface = opts.surface or self.world.scenario.ground.surface
        if surface not in SURFACES:
            raise ValueError(f"unknown surface {surface!r}; one of {SURFACES}")
        key = (surface, self.world.seed if opts.texture_seed is None else opts.texture_seed)
        if key not in self._painters:
            if len(self._painters) >= 24:
                self._painters.pop(next(iter(self._painters)))
            self._painters[key] = GroundPainter(self.world, surface, key[1])
        return self._painters[key]

    def _look(self, opts: RenderOptions) -> Look:
        sc = self._scene

        def pick(v: float | None, default: float) -> float:
            return default if v is None else v

        return Look(
            sun_az=math.radians(pick(opts.sun_azimuth_deg, sc.sun_azimuth_deg)),
            sun_el=math.radians(pick(opts.sun_elevation_deg, sc.sun_elevation_deg)),
            visibility_m=pick(opts.visibility_m, sc.visibility_m),
            brightness=opts.brightness,
            ambient_k=273.15 + pick(opts.ambient_c, sc.ambient_c),
        )

    def _noise_view(self) -> npt.NDArray[np.float32]:
        oy, ox = (int(x) for x in self._rng.integers(0, 32, 2))
        return self._noise[oy : oy + self.k.height, ox : ox + self.k.width]

    # ----- the frame
    def render(self, t: float, pose: Pose | None = None) -> tuple[npt.NDArray[Any], GroundTruth]:
        """Image and ground truth at sim time ``t`` (s) seen from ``pose`` (default: the world's true pose)."""
        w, k = self.world, self.k
        pose = w.platform(t) if pose is None else pose
        opts = self._frame_options()
        look = self._look(opts)
        painter = self._painter(opts)
        cam = np.array(w.frame.to_ned(pose.lat, pose.lon, pose.alt), np.float64)
        r_cn = r_cam_to_ned(pose)
        geo = painter.geometry(cam, pixel_rays(k, r_cn), r_cn, k)
        thermal = self.mode == "thermal"
        canvas = painter.thermal(t, geo, look) if thermal else painter.day(t, geo, look)

        targets = [tt for tt in w.targets(t) if thermal or not tt.thermal_only]  # thermal_only: dark by day
        placed = []
        for tt in targets:
            ground = np.array(w.frame.to_ned(tt.lat, tt.lon, tt.alt), np.float64)
            hit = box_of(tt, ground, cam, r_cn, k)
            if hit is not None:
                placed.append((tt, ground, hit[0], hit[1]))
        placed.sort(key=lambda p: -p[3])  # far first (painter's order)
        drawn = [
            p for p in placed if p[2][2] > -2 and p[2][0] < k.width + 2 and p[2][3] > -2 and p[2][1] < k.height + 2
        ]

        img: npt.NDArray[Any]
        if thermal:
            img = self._thermal_targets(canvas, drawn, cam, r_cn, look, opts)
        else:
            img = self._day_targets(canvas, drawn, cam, r_cn, look, opts)
        return img, self._truth(t, pose, drawn, cam)

    def _decals(
        self,
        drawn: list[Any],
        cam: npt.NDArray[np.float64],
        r_cn: npt.NDArray[np.float64],
        look: Look,
        opts: RenderOptions,
    ) -> tuple[npt.NDArray[np.uint8] | None, npt.NDArray[np.uint8] | None]:
        """Shadow and wake masks (H, W) uint8 0..255, or None when empty."""
        shadow = wake = None
        for tt, ground, _, _ in drawn:
            if opts.shadows:
                shadow = np.zeros((self.k.height, self.k.width), np.uint8) if shadow is None else shadow
                fill_ground_polygon(shadow, shadow_polygon(tt, ground, look.sun_ned), cam, r_cn, self.k)
            if tt.class_name == "boat" and tt.speed_mps > 0.5:
                wake = np.zeros((self.k.height, self.k.width), np.uint8) if wake is None else wake
                for quad, strength in wake_polygons(tt, ground):
                    fill_ground_polygon(wake, quad, cam, r_cn, self.k, strength)
        return shadow, wake

    def _day_targets(
        self,
        canvas: npt.NDArray[np.float32],
        drawn: list[Any],
        cam: npt.NDArray[np.float64],
        r_cn: npt.NDArray[np.float64],
        look: Look,
        opts: RenderOptions,
    ) -> npt.NDArray[np.uint8]:
        shadow, wake = self._decals(drawn, cam, r_cn, look, opts)
        if wake is not None:
            a = wake.astype(np.float32)[..., None] * (0.7 / 255.0)
            canvas += (np.float32(215.0) * look.brightness - canvas) * a
        if shadow is not None:
            canvas *= 1.0 - shadow.astype(np.float32)[..., None] * (0.45 * math.sin(look.sun_el) / 255.0)
        np.maximum(canvas, 0.0, out=canvas)
        img = np.asarray(cv2.convertScaleAbs(canvas), np.uint8)  # saturates at 255
        haze_col = HORIZON_BGR.astype(np.float64) * look.brightness
        for tt, ground, _, depth in drawn:
            haze = 1.0 - math.exp(-3.912 * depth / look.visibility_m)
            parts = self._parts_for(tt)
            draw_target(
                img,
                tt,
                parts,
                ground,
                cam,
                r_cn,
                self.k,
                look.sun_ned,
                (haze_col, haze, look.brightness),
                None,
            )
        if opts.contrast != 1.0 or opts.white_balance != (1.0, 1.0, 1.0):
            v = np.arange(256, dtype=np.float32)[:, None]
            lut = ((v - 128.0) * opts.contrast + 128.0) * np.array(opts.white_balance, np.float32)[None, :]
            img = np.asarray(cv2.LUT(img, np.clip(lut, 0, 255).astype(np.uint8).reshape(256, 1, 3)), np.uint8)
        if opts.blur_sigma > 0:
            img = np.asarray(cv2.GaussianBlur(img, (0, 0), opts.blur_sigma), np.uint8)
        if opts.noise_day > 0:
            noisy = img.astype(np.float32) + self._noise_view() * opts.noise_day
            img = np.clip(noisy, 0, 255).astype(np.uint8)
        return img

    def _thermal_targets(
        self,
        canvas: npt.NDArray[np.float32],
        drawn: list[Any],
        cam: npt.NDArray[np.float64],
        r_cn: npt.NDArray[np.float64],
        look: Look,
        opts: RenderOptions,
    ) -> npt.NDArray[np.uint16]:
        shadow, wake = self._decals(drawn, cam, r_cn, look, opts)
        if wake is not None:
            canvas -= wake.astype(np.float32) * (0.8 / 255.0)
        if shadow is not None:
            canvas -= shadow.astype(np.float32) * (1.5 * math.sin(look.sun_el) / 255.0)
        for tt, ground, _, depth in drawn:
            haze = 0.6 * (1.0 - math.exp(-3.912 * depth / (2.0 * look.visibility_m)))
            hz = np.array([look.ambient_k - 5.0])
            draw_target(
                canvas,
                tt,
                self._parts_for(tt),
                ground,
                cam,
                r_cn,
                self.k,
                look.sun_ned,
                (hz, haze, 1.0),
                look.ambient_k,
            )
        canvas = np.asarray(cv2.GaussianBlur(canvas, (0, 0), 0.6 + opts.blur_sigma), np.float32)
        canvas += self._noise_view() * opts.noise_thermal_k + self._fpn[None, :] * (0.5 * opts.noise_thermal_k)
        return np.clip(canvas * 100.0, 0, 65535).astype(np.uint16)

    def _parts_for(self, tt: TargetTruth) -> list[Part]:
        if tt.id not in self._parts:
            self._parts[tt.id] = target_parts(tt, self.world.seed)
        return self._parts[tt.id]

    def _truth(self, t: float, pose: Pose, drawn: list[Any], cam: npt.NDArray[np.float64]) -> GroundTruth:
        W, H = self.k.width, self.k.height
        rows = []
        for tt, ground, box, _ in drawn:
            clipped = np.array([max(box[0], 0.0), max(box[1], 0.0), min(box[2], W), min(box[3], H)])
            area = max(box[2] - box[0], 1e-9) * max(box[3] - box[1], 1e-9)
            if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
                continue
            vis = (clipped[2] - clipped[0]) * (clipped[3] - clipped[1]) / area
            rng_m = float(np.linalg.norm(ground - cam))
            rows.append((tt, clipped, vis, rng_m))
        # occlusion: share of each box covered by boxes of targets nearer than it
        occ = []
        for i, (_, bi, _, ri) in enumerate(rows):
            ai = (bi[2] - bi[0]) * (bi[3] - bi[1])
            cover = 0.0
            for j, (_, bj, _, rj) in enumerate(rows):
                if j != i and rj < ri:
                    iw = min(bi[2], bj[2]) - max(bi[0], bj[0])
                    ih = min(bi[3], bj[3]) - max(bi[1], bj[1])
                    cover += max(iw, 0.0) * max(ih, 0.0)
            occ.append(min(cover / ai, 1.0))
        f = np.float64
        return GroundTruth(
            t=t,
            pose=pose,
            boxes=np.array([r[1] for r in rows], f).reshape(-1, 4),
            target_ids=np.array([r[0].id for r in rows], np.int64),
            class_ids=np.array([r[0].class_id for r in rows], np.int64),
            lat=np.array([r[0].lat for r in rows], f),
            lon=np.array([r[0].lon for r in rows], f),
            alt=np.array([r[0].alt for r in rows], f),
            range_m=np.array([r[3] for r in rows], f),
            visible_frac=np.array([r[2] for r in rows], f),
            occluded=np.array(occ, f),
        )
