"""Per-pixel ground, sea and sky: intersect each pixel's ray with the ground and sample tiling textures.

The texture level (mip-mapping) is chosen per image row from the ground footprint of that row, so distant ground
does not shimmer and each level is one contiguous remap. Roads are ground polygons projected into the image.
Day output is float32 BGR (H, W, 3) in 0..255; thermal output is float32 kelvin (H, W).
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from sim.render_camera import Intrinsics
from sim.render_textures import MACRO_TEXEL_M, TEX_SIZE, TEXEL_M, MipTexture, make_macro, make_texture
from sim.world import World

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
HORIZON_BGR = np.array([205.0, 195.0, 185.0], np.float32)
ZENITH_BGR = np.array([190.0, 130.0, 80.0], np.float32)
SAND_BGR = np.array([150.0, 190.0, 210.0], np.float32)
MAX_RANGE_M = 60_000.0
ROAD_PIECE_M = 100.0  # roads are drawn as quads at most this long
NEAR_M = 2.0  # ground polygons are clipped this far in front of the camera
# thermal: surface offset above ambient (K) and spread of its texture (K)
THERMAL_SURFACE = {"grass": (2.0, 1.5), "rock": (6.0, 3.0), "sand": (9.0, 2.0), "snow": (-4.0, 0.8), "road": (8.0, 1.0)}


@functools.lru_cache(maxsize=32)
def mip_texture(kind: str, seed: int) -> MipTexture:
    """Shared, cached BGR texture pyramid of one surface kind and seed."""
    return MipTexture.build(make_texture(kind, seed))


@functools.lru_cache(maxsize=16)
def mip_thermal(kind: str, seed: int) -> MipTexture:
    """Shared, cached temperature-offset pyramid (K above ambient) of a land surface."""
    gray = cv2.cvtColor(mip_texture(kind, seed).levels[0], cv2.COLOR_BGR2GRAY).astype(np.float32)
    off, spread = THERMAL_SURFACE[kind]
    return MipTexture.build(off + spread * (gray - gray.mean()) / (gray.std() + 1e-6))


@dataclass(frozen=True)
class Look:
    """Lighting and atmosphere of one frame: sun (rad), visibility (m), brightness factor, ambient (K)."""

    sun_az: float
    sun_el: float
    visibility_m: float
    brightness: float
    ambient_k: float

    @property
    def sun_ned(self) -> F64:
        """Unit vector (3,) from the ground towards the sun."""
        ce = math.cos(self.sun_el)
        return np.array([ce * math.cos(self.sun_az), ce * math.sin(self.sun_az), -math.sin(self.sun_el)])


@dataclass
class GroundGeometry:
    """Where each pixel's ray meets the ground, relative to the camera: north/east offsets (m, float32), range (m),
    sky mask, cosine of incidence, ray elevation (rad, sky only meaningful), and the view it came from."""

    dn: F32
    de: F32
    range_m: F32
    sky: npt.NDArray[np.bool_]
    cos_inc: F32
    rays: F32
    cam: F64
    r_cn: F64
    k: Intrinsics


def clip_project(pts_ned: F64, cam: F64, r_cn: F64, k: Intrinsics) -> F64 | None:
    """Project a planar convex polygon (K, 3) NED, clipped to depth >= NEAR_M; (M, 2) px or None if all behind."""
    g = (pts_ned - cam) @ r_cn
    out = []
    for i in range(len(g)):
        a, b = g[i], g[(i + 1) % len(g)]
        ina, inb = a[0] >= NEAR_M, b[0] >= NEAR_M
        if ina:
            out.append(a)
        if ina != inb:
            s = (NEAR_M - a[0]) / (b[0] - a[0])
            out.append(a + s * (b - a))
    if len(out) < 3:
        return None
    c = np.array(out)
    return np.stack([k.cx + k.fx * c[:, 1] / c[:, 0], k.cy + k.fx * c[:, 2] / c[:, 0]], axis=1)


class GroundPainter:
    """Paints ground, roads, coast, sea and sky for one world and one land surface kind."""

    def __init__(self, world: World, surface: str, seed: int):
        self.world = world
        sc = world.scenario
        self.all_sea = surface == "sea"
        self.land_kind = "grass" if self.all_sea else surface
        self.seed = seed
        self.land = mip_texture(self.land_kind, seed)
        self.sea = mip_texture("sea", seed)
        self.road = mip_texture("road", seed)
        self.macro = make_macro(seed)
        quads = []
        for road in sc.ground.roads:
            pts = [np.array(world.ne(p)) for p in road.points]
            for a, b in itertools.pairwise(pts):
                length = float(np.hypot(*(b - a)))
                if length <= 0:
                    continue
                side = np.array([-(b - a)[1], (b - a)[0]]) / length * road.width_m / 2
                steps = max(1, math.ceil(length / ROAD_PIECE_M))
                for i in range(steps):
                    p, q = a + (b - a) * i / steps, a + (b - a) * (i + 1) / steps
                    ne = np.array([p - side, q - side, q + side, p + side])
                    down = world.home[2] - world.ground_alt_ne(ne[:, 0], ne[:, 1])
                    quads.append(np.column_stack([ne, down]))
        self.road_quads = quads
        self.coast = sc.ground.coast

    def geometry(self, cam_ned: F64, rays: F32, r_cn: F64, k: Intrinsics) -> GroundGeometry:
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
        cos_inc = np.clip(rd / norm, 1e-3, 1.0)
        return GroundGeometry(t * rays[..., 0], t * rays[..., 1], t * norm, sky, cos_inc, rays, cam_ned, r_cn, k)

    def _dem_plane(self, cam_ned: F64, rays: F32, rd: F32) -> F32:
        """Per-pixel down-coordinate of the ground (m), from fixed-point steps on a 1/8 grid."""
        w = self.world
        small = (max(1, rays.shape[1] // 8), max(1, rays.shape[0] // 8))
        r = cv2.resize(rays, small, interpolation=cv2.INTER_AREA)
        d = cv2.resize(rd, small, interpolation=cv2.INTER_AREA)
        plane = np.full(d.shape, w.home[2] - float(w.ground_alt_ne(cam_ned[0], cam_ned[1])))
        for _ in range(3):
            t = np.clip((plane - cam_ned[2]) / np.maximum(d, 1e-4), 0.0, MAX_RANGE_M)
            plane = w.home[2] - w.ground_alt_ne(cam_ned[0] + t * r[..., 0], cam_ned[1] + t * r[..., 1])
        out = cv2.resize(plane.astype(np.float32), (rays.shape[1], rays.shape[0]), interpolation=cv2.INTER_LINEAR)
        return np.asarray(out, np.float32)

    def _row_levels(self, g: GroundGeometry) -> npt.NDArray[np.int64]:
        """Mip level per image row (H,): the sharpest ground footprint (m/px) among a few columns of that row."""
        cols = np.linspace(0, g.dn.shape[1] - 1, 5).astype(int)
        foot = g.range_m[:, cols] / g.k.fx / np.sqrt(g.cos_inc[:, cols])
        foot = np.where(g.sky[:, cols], np.inf, foot).min(axis=1)
        lvl = np.floor(np.log2(np.maximum(foot / TEXEL_M, 1e-6)) + 0.5)
        return np.clip(np.nan_to_num(lvl, posinf=99), 0, len(self.land.levels) - 1).astype(np.int64)

    def _sample(
        self,
        mip: MipTexture,
        g: GroundGeometry,
        levels: npt.NDArray[np.int64],
        shift: tuple[float, float] = (0.0, 0.0),
        rows: tuple[int, int] | None = None,
    ) -> F32:
        """Sample a wrapped mip texture at the ground points of rows ``rows`` (default all); (R, W[, C]) float32.

        Coordinates are taken relative to the tile corner nearest the camera so they stay small at fine levels.
        """
        r0, r1 = rows or (0, g.dn.shape[0])
        period = TEX_SIZE * TEXEL_M
        base_e = (g.cam[1] + shift[1]) % period / TEXEL_M
        base_n = (-g.cam[0] - shift[0]) % period / TEXEL_M
        first = mip.levels[0]
        out = np.empty((r1 - r0, g.dn.shape[1], *first.shape[2:]), np.float32)
        lv = levels[r0:r1]
        starts = np.flatnonzero(np.diff(lv, prepend=-1))
        for i, s in enumerate(starts):
            e = int(starts[i + 1]) if i + 1 < len(starts) else len(lv)
            k = int(lv[s])
            f = np.float32(0.5**k)
            a, b = r0 + int(s), r0 + e
            mx = (g.de[a:b] * np.float32(1.0 / TEXEL_M) + np.float32(base_e)) * f - np.float32(0.5)
            my = (g.dn[a:b] * np.float32(-1.0 / TEXEL_M) + np.float32(base_n)) * f - np.float32(0.5)
            out[int(s) : e] = cv2.remap(mip.levels[k], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        return out

    def _road_mask(self, g: GroundGeometry) -> npt.NDArray[np.uint8] | None:
        """Road pixels (H, W) uint8 0/255 from the projected road quads, or None when no road is in view."""
        mask: npt.NDArray[np.uint8] | None = None
        for quad in self.road_quads:
            uv = clip_project(quad, g.cam, g.r_cn, g.k)
            if uv is None:
                continue
            if mask is None:
                mask = np.zeros(g.dn.shape, np.uint8)
            cv2.fillConvexPoly(mask, np.round((uv - 0.5) * 16).astype(np.int32), 255, cv2.LINE_8, 4)
        if mask is not None:
            mask[g.sky] = 0
        return mask if mask is not None and mask.any() else None

    def _sea_beach(self, g: GroundGeometry) -> tuple[npt.NDArray[np.bool_] | None, npt.NDArray[np.bool_] | None]:
        """Sea and beach masks (H, W) or None where there is none."""
        if self.all_sea:
            return np.ones(g.dn.shape, bool), None
        if self.coast is None:
            return None, None
        b = math.radians(self.coast.bearing_deg)
        n = g.dn + np.float32(g.cam[0])
        e = g.de + np.float32(g.cam[1])
        out = n * math.cos(b) + e * math.sin(b) - self.coast.distance_m
        along = -n * math.sin(b) + e * math.cos(b)
        s = out - self.coast.wobble_m * (np.sin(along / 97.0) + 0.5 * np.sin(along / 31.0 + 1.0))
        sea = s > 0
        beach = (s > -12.0) & ~sea
        return (sea if sea.any() else None), (beach if beach.any() else None)

    def _road_rows(self, road: npt.NDArray[np.uint8]) -> tuple[int, int]:
        rows = np.flatnonzero(road.any(axis=1))
        return int(rows[0]), int(rows[-1]) + 1

    def _macro(self, g: GroundGeometry) -> F32:
        """Low-frequency colour multiplier (H, W, 3), sampled on a 1/4 grid and enlarged."""
        n = g.dn[::4, ::4] + np.float32(g.cam[0])
        e = g.de[::4, ::4] + np.float32(g.cam[1])
        small = cv2.remap(
            self.macro,
            np.mod(e / MACRO_TEXEL_M - 0.5, np.float32(self.macro.shape[1])),
            np.mod(-n / MACRO_TEXEL_M - 0.5, np.float32(self.macro.shape[0])),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_WRAP,
        )
        return np.asarray(cv2.resize(small, (g.dn.shape[1], g.dn.shape[0]), interpolation=cv2.INTER_LINEAR), np.float32)

    def _sky_elev(self, g: GroundGeometry) -> F32:
        """(elevation / 90 deg) ** 0.6 of the sky pixels' rays, (S,)."""
        r = g.rays[g.sky]
        el = np.arcsin(np.clip(-r[:, 2] / np.sqrt((r * r).sum(axis=1)), 0.0, 1.0))
        return np.asarray((el / (math.pi / 2)) ** 0.6, np.float32)

    def day(self, t: float, g: GroundGeometry, look: Look) -> F32:
        """BGR float32 (H, W, 3), 0..255, without targets."""
        levels = self._row_levels(g)
        sea, beach = self._sea_beach(g)
        img = self._sample(self.land, g, levels)
        road = self._road_mask(g)
        if road is not None:
            r0, r1 = self._road_rows(road)
            np.copyto(img[r0:r1], self._sample(self.road, g, levels, rows=(r0, r1)), where=road[r0:r1, :, None] > 0)
        if beach is not None:
            sand = SAND_BGR * (0.85 + 0.15 * img.mean(axis=-1, keepdims=True) / 128.0)
            np.copyto(img, sand, where=beach[..., None])
        img *= self._macro(g)
        if sea is not None:
            drift = 0.8 * t
            water = self._sample(self.sea, g, levels, shift=(0.6 * drift, drift))
            fres = (0.02 + 0.98 * (1.0 - g.cos_inc) ** 5)[..., None]
            np.copyto(img, water + (HORIZON_BGR - water) * fres, where=sea[..., None])
        haze = 1.0 - np.exp(g.range_m * (-3.912 / look.visibility_m))
        gain = look.brightness * (0.55 + 0.45 * math.sin(look.sun_el))
        img *= (gain * (1.0 - haze))[..., None]
        img += (HORIZON_BGR * look.brightness) * haze[..., None]
        if g.sky.any():
            e = self._sky_elev(g)
            img[g.sky] = (HORIZON_BGR + (ZENITH_BGR - HORIZON_BGR) * e[:, None]) * look.brightness
        return img

    def thermal(self, t: float, g: GroundGeometry, look: Look) -> F32:
        """Temperature (H, W) float32 kelvin, without targets."""
        levels = self._row_levels(g)
        sun = 0.5 + 0.5 * math.sin(look.sun_el)
        img = self._sample(mip_thermal(self.land_kind, self.seed), g, levels)
        img *= sun
        img += look.ambient_k
        sea, beach = self._sea_beach(g)
        road = self._road_mask(g)
        if road is not None:
            img[road > 0] = look.ambient_k + 5.0 * sun
        if beach is not None:
            img[beach] = look.ambient_k + 6.0 * sun
        if sea is not None:
            waves = self._sample(self.sea, g, levels, shift=(0.48 * t, 0.8 * t)).mean(axis=-1)
            np.copyto(img, look.ambient_k - 2.0 + 0.02 * (waves - 60.0), where=sea)
        haze = 0.6 * (1.0 - np.exp(g.range_m * (-3.912 / (2.0 * look.visibility_m))))
        img += (look.ambient_k - 5.0 - img) * haze
        if g.sky.any():
            img[g.sky] = look.ambient_k - 12.0 - 30.0 * self._sky_elev(g)
        return np.asarray(img, np.float32)
