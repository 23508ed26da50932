"""Pixel ray -> ground: where rays from the camera first meet the ground model.

Rays live in a local NED frame (``edge.geo.wgs84.LocalNed``, origin at the camera); ``t`` is the slant distance
(m) along a unit direction. Flat ground is solved in closed form, a DEM by marching along the ray in fixed steps
and refining the first crossing by bisection. Optional earth curvature (with refraction) lowers the ground by
``curvature_drop(horizontal distance from the ray's origin)``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.geo.terrain import FlatGround, Terrain
from edge.geo.wgs84 import MEAN_RADIUS_M, REFRACTION_K, LocalNed, curvature_drop

F64 = npt.NDArray[np.float64]
_CHUNK = 32  # DEM samples per ray evaluated at once


class Miss(enum.IntEnum):
    """Why a ray has no ground point (0 = it has one)."""

    HIT = 0
    ABOVE_HORIZON = 1
    BEYOND_RANGE = 2
    NO_DEM = 3
    BELOW_GROUND = 4


REASONS = {
    Miss.ABOVE_HORIZON: "ray above horizon",
    Miss.BEYOND_RANGE: "ground beyond max range",
    Miss.NO_DEM: "no DEM data along the ray",
    Miss.BELOW_GROUND: "camera below the ground model",
}


@dataclass(frozen=True)
class Ground:
    """The ground seen from a local frame: a terrain model, optional earth curvature, marching settings.

    frame: LocalNed the rays are expressed in; max_range_m: slant distance (m) beyond which a ray misses;
    step_m: DEM marching step (m); curvature: lower the ground by the earth's (refracted) curvature.
    """

    terrain: Terrain
    frame: LocalNed
    max_range_m: float = 5000.0
    step_m: float = 10.0
    curvature: bool = False

    def down(self, north: F64, east: F64) -> F64:
        """NED down coordinate (m) of the terrain surface at north/east (m); NaN where unknown."""
        lat, lon, _ = self.frame.to_geodetic(north, east, 0.0)
        return self.frame.alt0 - self.terrain.height(lat, lon)

    def intersect(self, origins: npt.ArrayLike, dirs: npt.ArrayLike, offsets: npt.ArrayLike = 0.0) -> tuple[F64, F64]:
        """First ground crossing of M rays.

        origins (M, 3) or (3,) NED m; dirs (M, 3) NED, any length; offsets (M,) or scalar m added to the ground's
        height (+ raises the ground). Returns points (M, 3) NED m (NaN where missed) and status (M,) Miss codes
        as floats.
        """
        d = np.asarray(dirs, np.float64).reshape(-1, 3)
        d = d / np.linalg.norm(d, axis=1, keepdims=True)
        o = np.broadcast_to(np.asarray(origins, np.float64), d.shape)
        off = np.broadcast_to(np.asarray(offsets, np.float64), d.shape[:1])
        if isinstance(self.terrain, FlatGround):
            t, status = self._flat(o, d, off)
        else:
            t, status = self._march(o, d, off)
        pts = o + d * t[:, None]
        pts[status != Miss.HIT] = np.nan
        return pts, status

    def _flat(self, o: F64, d: F64, off: F64) -> tuple[F64, F64]:
        assert isinstance(self.terrain, FlatGround)
        above = (self.frame.alt0 - self.terrain.alt_m) - off - o[:, 2]  # camera height above the ground, m
        h2 = d[:, 0] ** 2 + d[:, 1] ** 2
        inv_r = (1.0 - REFRACTION_K) / MEAN_RADIUS_M if self.curvature else 0.0
        disc = d[:, 2] ** 2 - 2.0 * h2 * above * inv_r
        with np.errstate(invalid="ignore", divide="ignore"):
            t = 2.0 * above / (d[:, 2] + np.sqrt(np.maximum(disc, 0.0)))
        status = np.full(len(d), float(Miss.HIT))
        status[(d[:, 2] <= 0) | (disc < 0)] = Miss.ABOVE_HORIZON
        status[(status == Miss.HIT) & ~(t <= self.max_range_m)] = Miss.BEYOND_RANGE
        status[above < 0] = Miss.BELOW_GROUND
        return np.where(status == Miss.HIT, t, np.nan), status

    def _clearance(self, o: F64, d: F64, off: F64, t: F64) -> F64:
        """Height (m) of the ray points at distances t (M, K) above the ground; NaN where no DEM."""
        p = o[:, None, :] + d[:, None, :] * t[..., None]
        g = self.down(p[..., 0], p[..., 1]) - off[:, None]
        if self.curvature:
            g = g + curvature_drop(np.hypot(p[..., 0] - o[:, None, 0], p[..., 1] - o[:, None, 1]))
        return np.asarray(g - p[..., 2], np.float64)

    def _march(self, o: F64, d: F64, off: F64) -> tuple[F64, F64]:
        m = len(d)
        steps = np.arange(0.0, self.max_range_m + self.step_m, self.step_m)
        a0 = self._clearance(o, d, off, np.zeros((m, 1)))[:, 0]
        k_hit = np.full(m, -1)
        no_dem = np.isnan(a0)
        active = a0 > 0
        for start in range(1, len(steps), _CHUNK):  # chunks, so that near hits stop early
            idx = np.flatnonzero(active)
            if not len(idx):
                break
            chunk = steps[start : start + _CHUNK]
            a = self._clearance(o[idx], d[idx], off[idx], np.broadcast_to(chunk, (len(idx), len(chunk))))
            below = a <= 0
            hit = below.any(axis=1)
            j = np.argmax(below, axis=1)
            upto = np.where(hit, j, len(chunk))
            nan_first = (np.isnan(a) & (np.arange(len(chunk))[None, :] < upto[:, None])).any(axis=1)
            no_dem[idx[nan_first]] = True
            k_hit[idx[hit & ~nan_first]] = start + j[hit & ~nan_first]
            active[idx[hit | nan_first]] = False
        status = np.where(d[:, 2] <= 0, float(Miss.ABOVE_HORIZON), float(Miss.BEYOND_RANGE))
        status[k_hit >= 0] = Miss.HIT
        status[no_dem] = Miss.NO_DEM
        status[a0 <= 0] = Miss.BELOW_GROUND
        t = np.full(m, np.nan)
        idx = np.flatnonzero(status == Miss.HIT)
        if len(idx):
            lo, hi = steps[k_hit[idx] - 1].copy(), steps[k_hit[idx]].copy()
            oi, di, fi = o[idx], d[idx], off[idx]
            for _ in range(40):  # bisection to ~step / 1e12
                mid = 0.5 * (lo + hi)
                above = self._clearance(oi, di, fi, mid[:, None])[:, 0] > 0
                lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
            t[idx] = 0.5 * (lo + hi)
        return t, status
