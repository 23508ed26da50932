"""Per-pixel ground, sea and sky: intersect each pixel's ray with the ground and sample tiling textures.

Texture level per pixel follows its ground footprint (mip-mapping), so distant ground does not shimmer.
Day output is float32 BGR (H, W, 3) in 0..255; thermal output is float32 kelvin (H, W).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from sim.render_textures import MACRO_TEXEL_M, TEXEL_M, MipTexture, make_macro, make_texture
from sim.world import World

F32 = npt.NDArray[np.float32]
HORIZON_BGR = np.array([205.0, 195.0, 185.0], np.float32)
ZENITH_BGR = np.array([190.0, 130.0, 80.0], np.float32)
SAND_BGR = np.array([150.0, 190.0, 210.0], np.float32)
MAX_RANGE_M = 60_000.0
# thermal: surface offset above ambient (K) and spread of its texture (K)
THERMAL_SURFACE = {"grass": (2.0, 1.5), "rock": (6.0, 3.0), "sand": (9.0, 2.0), "snow": (-4.0, 0.8), "road": (8.0, 1.0)}


@dataclass(frozen=True)
class Look:
    """Lighting and atmosphere of one frame: sun (rad), visibility (m), brightness factor, ambient (K)."""

    sun_az: float
    sun_el: float
    visibility_m: float
    brightness: float
    ambient_k: float

    @property
    def sun_ned(self) -> npt.NDArray[np.float64]:
        """Unit vector (3,) from the ground towards the sun."""
        ce = math.cos(self.sun_el)
        return np.array([ce * math.cos(self.sun_az), ce * math.sin(self.sun_az), -math.sin(self.sun_el)])


@dataclass
class GroundGeometry:
    """Where each pixel's ray meets the ground: north/east (m), range (m), masks and mip level."""

    n: F32
    e: F32
    range_m: F32
    sky: npt.NDArray[np.bool_]
    cos_inc: F32
    elev: F32


class GroundPainter:
    """Paints ground, roads, coast, sea and sky for one world and one land surface kind."""

    def __init__(self, world: World, surface: str, seed: int):
        self.world = world
        sc = world.scenario
        self.surface = surface
        self.all_sea = surface == "sea"
        land = "grass" if self.all_sea else surface
        self.land = MipTexture.build(make_texture(land, seed))
        self.sea = MipTexture.build(make_texture("sea", seed))
        self.road = MipTexture.build(make_texture("road", seed))
        self.macro = make_macro(seed)
        gray = cv2.cvtColor(self.land.levels[0], cv2.COLOR_BGR2GRAY).astype(np.float32)
        off, spread = THERMAL_SURFACE[land]
        self.land_k = MipTexture.build(off + spread * (gray - gray.mean()) / (gray.std() + 1e-6))
        segs = []
        for road in sc.ground.roads:
            pts = [world.ne(p) for p in road.points]
            segs += [(*a, *b, road.width_m) for a, b in itertools.pairwise(pts)]
        self.roads = np.array(segs, np.float64).reshape(-1, 5)
        self.coast = sc.ground.coast

    def geometry(self, cam_ned: npt.NDArray[np.float64], rays: F32, fx: float) -> GroundGeometry:
        """Intersect rays (H, W, 3) NED from ``cam_ned`` with the ground (flat, or DEM by fixed-point iteration)."""
        w = self.world
        rd = rays[..., 2]
        norm = np.sqrt((rays * rays).sum(axis=-1))
        sky = rd <= 1e-4 * norm
        rd_safe = np.where(sky, np.float32(1.0), rd)
        if w.dem is None:
            plane_d: float | F32 = w.home[2] - w.ground_alt(w.home[0], w.home[1])
        else:
            plane_d = self._dem_plane(cam_ned, rays, rd_safe)
        h = np.maximum(np.float32(plane_d - cam_ned[2]), np.float32(0.1))
        far = np.float32(MAX_RANGE_M) / norm
        t = np.where(sky, far, np.minimum(h / rd_safe, far))
        n = np.float32(cam_ned[0]) + t * rays[..., 0]
        e = np.float32(cam_ned[1]) + t * rays[..., 1]
        cos_inc = np.clip(rd / norm, 1e-3, 1.0)
        elev = np.arcsin(np.clip(-rd / norm, 0.0, 1.0))
        return GroundGeometry(n, e, t * norm, sky, cos_inc, elev)

    def _dem_plane(self, cam_ned: npt.NDArray[np.float64], rays: F32, rd: F32) -> F32:
        """Per-pixel down-coordinate of the ground (m), from two fixed-point steps on a 1/8 grid."""
        w = self.world
        small = (max(1, rays.shape[1] // 8), max(1, rays.shape[0] // 8))
        r = cv2.resize(rays, small, interpolation=cv2.INTER_AREA)
        d = cv2.resize(rd, small, interpolation=cv2.INTER_AREA)
        plane = np.full(d.shape, w.home[2] - float(w.ground_alt_ne(cam_ned[0], cam_ned[1])))
        for _ in range(3):
            t = np.clip((plane - cam_ned[2]) / np.maximum(d, 1e-4), 0.0, MAX_RANGE_M)
            n = cam_ned[0] + t * r[..., 0]
            e = cam_ned[1] + t * r[..., 1]
            plane = w.home[2] - w.ground_alt_ne(n, e)
        out = cv2.resize(plane.astype(np.float32), (rays.shape[1], rays.shape[0]), interpolation=cv2.INTER_LINEAR)
        return np.asarray(out, np.float32)

    def _levels(self, g: GroundGeometry, fx: float) -> npt.NDArray[np.int8]:
        """Mip level per pixel from its ground footprint (m/px) relative to the texel size."""
        foot = g.range_m / fx / np.sqrt(g.cos_inc)
        lvl = np.floor(np.log2(np.maximum(foot / TEXEL_M, 1e-6)) + 0.5)
        return np.clip(lvl, 0, len(self.land.levels) - 1).astype(np.int8)

    @staticmethod
    def _sample(mip: MipTexture, col: F32, row: F32, lvl: npt.NDArray[np.int8]) -> F32:
        """Sample a wrapped mip texture at level-0 texel coordinates (any real values), level chosen per pixel."""
        first = mip.levels[0]
        out = np.zeros(lvl.shape + first.shape[2:], np.float32)
        lo, hi = lvl.min(axis=1), lvl.max(axis=1)
        size0 = np.float32(first.shape[0])
        col = np.mod(col, size0)
        row = np.mod(row, size0)
        for k, tex in enumerate(mip.levels):
            rows = np.flatnonzero((lo <= k) & (hi >= k))
            if rows.size == 0:
                continue
            r0, r1 = int(rows[0]), int(rows[-1]) + 1
            f = np.float32(0.5**k)
            part = cv2.remap(
                tex, col[r0:r1] * f - 0.5, row[r0:r1] * f - 0.5, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP
            )
            if lo[r0:r1].min() == hi[r0:r1].max() == k:
                out[r0:r1] = part
            else:
                sel = lvl[r0:r1] == k
                np.copyto(out[r0:r1], part, where=sel[..., None] if part.ndim == 3 else sel)
        return out

    def _masks(self, g: GroundGeometry) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Sea, beach and road masks (H, W)."""
        shape = g.n.shape
        sea = np.full(shape, self.all_sea)
        beach = np.zeros(shape, bool)
        if self.coast is not None and not self.all_sea:
            b = math.radians(self.coast.bearing_deg)
            out = g.n * math.cos(b) + g.e * math.sin(b) - self.coast.distance_m
            along = -g.n * math.sin(b) + g.e * math.cos(b)
            wob = self.coast.wobble_m * (np.sin(along / 97.0) + 0.5 * np.sin(along / 31.0 + 1.0))
            s = out - wob
            sea = s > 0
            beach = (s > -12.0) & ~sea
        road = np.zeros(shape, bool)
        for n0, e0, n1, e1, width in self.roads:
            dn, de = n1 - n0, e1 - e0
            ll = max(dn * dn + de * de, 1e-9)
            u = np.clip(((g.n - n0) * dn + (g.e - e0) * de) / ll, 0.0, 1.0)
            dist2 = (g.n - n0 - u * dn) ** 2 + (g.e - e0 - u * de) ** 2
            road |= dist2 < (width / 2) ** 2
        road &= ~sea
        return sea, beach & ~road, road

    def _macro(self, g: GroundGeometry) -> F32:
        """Low-frequency colour multiplier (H, W, 3), sampled on a 1/4 grid and enlarged."""
        n, e = g.n[::4, ::4], g.e[::4, ::4]
        small = cv2.remap(
            self.macro,
            np.mod(e / MACRO_TEXEL_M - 0.5, np.float32(self.macro.shape[1])),
            np.mod(-n / MACRO_TEXEL_M - 0.5, np.float32(self.macro.shape[0])),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_WRAP,
        )
        return np.asarray(cv2.resize(small, (g.n.shape[1], g.n.shape[0]), interpolation=cv2.INTER_LINEAR), np.float32)

    def day(self, t: float, g: GroundGeometry, look: Look, fx: float) -> F32:
        """BGR float32 (H, W, 3), 0..255, without targets."""
        lvl = self._levels(g, fx)
        col, row = g.e * (1.0 / TEXEL_M), g.n * (-1.0 / TEXEL_M)
        sea, beach, road = self._masks(g)
        img = self._sample(self.land, col, row, lvl) if not sea.all() else np.zeros((*g.n.shape, 3), np.float32)
        if road.any():
            np.copyto(img, self._sample(self.road, col, row, lvl), where=road[..., None])
        if beach.any():
            sand = SAND_BGR * (0.85 + 0.15 * img.mean(axis=-1, keepdims=True) / 128.0)
            np.copyto(img, sand, where=beach[..., None])
        img *= self._macro(g)
        if sea.any():
            drift = 0.8 * t / TEXEL_M
            water = self._sample(self.sea, col + drift, row + 0.6 * drift, lvl)
            fres = (0.02 + 0.98 * (1.0 - g.cos_inc) ** 5)[..., None]
            np.copyto(img, water + (HORIZON_BGR - water) * fres, where=sea[..., None])
        img *= look.brightness * (0.55 + 0.45 * math.sin(look.sun_el))
        haze = 1.0 - np.exp(g.range_m * (-3.912 / look.visibility_m))
        img += (HORIZON_BGR * look.brightness - img) * haze[..., None]
        if g.sky.any():
            e = (g.elev / (math.pi / 2)) ** 0.6
            sky = (HORIZON_BGR + (ZENITH_BGR - HORIZON_BGR) * e[..., None]) * look.brightness
            np.copyto(img, sky, where=g.sky[..., None])
        return img

    def thermal(self, t: float, g: GroundGeometry, look: Look, fx: float) -> F32:
        """Temperature (H, W) float32 kelvin, without targets."""
        lvl = self._levels(g, fx)
        col, row = g.e * (1.0 / TEXEL_M), g.n * (-1.0 / TEXEL_M)
        sun = 0.5 + 0.5 * math.sin(look.sun_el)
        img = look.ambient_k + sun * self._sample(self.land_k, col, row, lvl)
        sea, beach, road = self._masks(g)
        img[road] = look.ambient_k + 5.0 * sun
        img[beach] = look.ambient_k + 6.0 * sun
        if sea.any():
            drift = 0.8 * t / TEXEL_M
            waves = self._sample(self.sea, col + drift, row + 0.6 * drift, lvl).mean(axis=-1)
            np.copyto(img, look.ambient_k - 2.0 + 0.02 * (waves - 60.0), where=sea)
        haze = 0.6 * (1.0 - np.exp(g.range_m * (-3.912 / (2.0 * look.visibility_m))))
        img += (look.ambient_k - 5.0 - img) * haze
        if g.sky.any():
            np.copyto(img, look.ambient_k - 12.0 - 30.0 * (g.elev / (math.pi / 2)) ** 0.6, where=g.sky)
        return np.asarray(img, np.float32)
