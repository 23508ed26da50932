"""How well the whole live chain geolocates: received detections against the simulator's ground truth.

Each detection a receiver printed (``edge listen`` JSON: ``t_utc``, ``class``, ``lat``, ``lon``, ``error_m``) is
matched to the nearest true target of its class at the same sim time (``t_utc - t0_utc``, where ``t0_utc`` is what
``edge sim --status-json`` reports). Unlike ``edge sim --eval-geo`` this includes everything between the renderer
and the receiver: the JPEG stream and its capture timestamps, MAVLink or gpsd pose timing, the detector's boxes,
the tracker and the codec's rounding.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge.geo.wgs84 import LocalNed
from sim.world import World


@dataclass(frozen=True)
class LiveScore:
    """Horizontal geolocation error of received detections (m); ``coverage90`` = share of fixes inside the
    ``error_m`` the daemon reported with them (its 90 % horizontal radius: honest when near 0.9 or above)."""

    fixes: int
    unmatched: int
    median_m: float
    p90_m: float
    median_reported_m: float
    coverage90: float

    def line(self) -> str:
        return (
            f"{self.fixes} fixes: horizontal error median {self.median_m:.1f} m, p90 {self.p90_m:.1f} m "
            f"(reported error_m median {self.median_reported_m:.1f} m; {self.coverage90:.0%} inside it; "
            f"{self.unmatched} with no target of their class within 200 m)"
        )


def nearest_error(world: World, t: float, class_name: str, lat: float, lon: float) -> float:
    """Horizontal distance (m) from (lat, lon) to the nearest true target of ``class_name`` at sim time ``t``."""
    frame = LocalNed(lat, lon, 0.0)
    best = math.inf
    for truth in world.targets(t):
        if truth.class_name == class_name:
            n, e, _ = frame.to_ned(truth.lat, truth.lon, 0.0)
            best = min(best, math.hypot(float(n), float(e)))
    return best


def score(world: World, t0_utc: float, detections: Iterable[Mapping[str, Any]], gate_m: float = 200.0) -> LiveScore:
    """Score receiver JSON objects; ones without a fix are skipped, ones farther than ``gate_m`` are unmatched."""
    errors, reported, unmatched = [], [], 0
    for d in detections:
        if d.get("lat") is None or d.get("lon") is None:
            continue
        err = nearest_error(world, float(d["t_utc"]) - t0_utc, str(d["class"]), float(d["lat"]), float(d["lon"]))
        if err > gate_m:
            unmatched += 1
            continue
        errors.append(err)
        reported.append(float(d["error_m"]) if d.get("error_m") is not None else math.nan)
    if not errors:
        return LiveScore(0, unmatched, math.nan, math.nan, math.nan, math.nan)
    e, r = np.asarray(errors), np.asarray(reported)
    return LiveScore(
        fixes=len(e),
        unmatched=unmatched,
        median_m=float(np.median(e)),
        p90_m=float(np.percentile(e, 90)),
        median_reported_m=float(np.nanmedian(r)) if np.isfinite(r).any() else math.nan,
        coverage90=float(np.mean(e <= r)),
    )
