"""Fusion across the fleet: detections of one object by several vehicles or cameras become one sighting.

The rule (``FusionSettings``):

1. A detection belongs to the sighting its track already feeds (key: vehicle, boot, camera, track), unless that
   sighting has not been seen for ``stale_s``.
2. Otherwise it joins the nearest open sighting that has the same class, a member seen within ``window_s`` of it,
   no member from the same camera in the same frame (one camera sees two objects there, not one), and lies within
   ``gate_sigma`` combined sigmas: ``d <= gate_sigma * sqrt(s_sighting^2 + s_detection^2)``.
3. Otherwise it starts a new sighting, named after its own key.

A sighting's position is the inverse-variance weighted mean of the latest position of each member seen within
``window_s`` of the newest detection; its variance is ``1 / sum(1 / s_i^2)``. The wire's ``error_m`` is a 90 %
radius: for a circular 2-D Gaussian that is 2.146 sigma (sqrt(-2 ln 0.1)), so s_i = error_m / 2.146 and the
sighting's reported radius is 2.146 times its combined sigma. Distances in a local flat frame (metres).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from centre.config import FusionSettings
from centre.store.rows import Detection

R90_PER_SIGMA = math.sqrt(-2.0 * math.log(0.1))  # 2.146
M_PER_DEG = 111_320.0

TrackKey = tuple[str, int, str, int]  # vehicle, boot, camera, track


@dataclass
class Member:
    """The latest detection of one track in a sighting. t: POSIX s; sigma: 1-sigma horizontal error (m)."""

    t: float
    lat: float
    lon: float
    sigma: float


@dataclass
class Sighting:
    """One object seen by one or more sensors; error_m is the 90 % radius of the fused position (m)."""

    id: str
    class_name: str
    t_first: float
    t_last: float
    lat: float = 0.0
    lon: float = 0.0
    error_m: float = 0.0
    members: dict[TrackKey, Member] = field(default_factory=dict)

    @property
    def sensors(self) -> set[tuple[str, str]]:
        """(vehicle, camera) pairs that fed this sighting."""
        return {(k[0], k[2]) for k in self.members}

    def as_dict(self) -> dict[str, Any]:
        """The sighting as the store gives it back (members as vehicle/boot/camera/track strings)."""
        return {
            "id": self.id,
            "t_first": self.t_first,
            "t_last": self.t_last,
            "class": self.class_name,
            "lat": self.lat,
            "lon": self.lon,
            "error_m": self.error_m,
            "n_sensors": len(self.sensors),
            "members": sorted(f"{v}/{b:08x}/{c}/{t}" for v, b, c, t in self.members),
        }

    def row(self) -> tuple[Any, ...]:
        """Values for the store's sightings table (SIGHTING_COLUMNS without acked_by)."""
        d = self.as_dict()
        d["members"] = json.dumps(d["members"])
        return tuple(d.values())


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Equirectangular ground distance (m); exact enough below ~10 km."""
    dy = (lat2 - lat1) * M_PER_DEG
    dx = (lon2 - lon1) * M_PER_DEG * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(dx, dy)


class Fuser:
    """Feed detections with ``add`` (in arrival order); it returns the sighting each one updated (or None)."""

    def __init__(self, settings: FusionSettings) -> None:
        self.s = settings
        self.sightings: dict[str, Sighting] = {}
        self.by_track: dict[TrackKey, str] = {}

    def _sigma(self, d: Detection) -> float:
        return (d.error_m if d.error_m else self.s.default_error_m) / R90_PER_SIGMA

    def add(self, d: Detection) -> Sighting | None:
        """Assign ``d`` to a sighting (rules in the module doc) and update that sighting's position."""
        if d.lat is None or d.lon is None:
            return None
        key: TrackKey = (d.vehicle, d.boot, d.camera, d.track)
        sig = self._sigma(d)
        s = self.sightings.get(self.by_track.get(key, ""))
        if s is not None and d.t - s.t_last > self.s.stale_s:
            s = None
        if s is None:
            s = self._match(d, sig)
        if s is None:
            s = Sighting(f"{d.vehicle}-{d.boot:08x}-{d.camera}-{d.track}", d.class_name, d.t, d.t)
            self.sightings[s.id] = s
        self.by_track[key] = s.id
        s.members[key] = Member(d.t, d.lat, d.lon, sig)
        s.t_first, s.t_last = min(s.t_first, d.t), max(s.t_last, d.t)
        self._estimate(s)
        return s

    def _match(self, d: Detection, sig: float) -> Sighting | None:
        assert d.lat is not None and d.lon is not None
        best, best_score = None, self.s.gate_sigma
        for s in self.sightings.values():
            if s.class_name != d.class_name or d.t - s.t_last > self.s.window_s or s.t_last - d.t > self.s.window_s:
                continue
            if any(k[0] == d.vehicle and k[2] == d.camera and abs(m.t - d.t) < 1e-3 for k, m in s.members.items()):
                continue
            s_sigma = s.error_m / R90_PER_SIGMA
            score = distance_m(s.lat, s.lon, d.lat, d.lon) / math.hypot(s_sigma, sig)
            if score <= best_score:
                best, best_score = s, score
        return best

    def _estimate(self, s: Sighting) -> None:
        fresh = [m for m in s.members.values() if s.t_last - m.t <= self.s.window_s]
        w = [1.0 / (m.sigma * m.sigma) for m in fresh]
        total = sum(w)
        s.lat = sum(wi * m.lat for wi, m in zip(w, fresh, strict=True)) / total
        s.lon = sum(wi * m.lon for wi, m in zip(w, fresh, strict=True)) / total
        s.error_m = R90_PER_SIGMA / math.sqrt(total)

    def expire(self, now: float) -> list[str]:
        """Forget sightings not seen for ``stale_s`` before ``now`` (POSIX s); returns their ids."""
        gone = [k for k, s in self.sightings.items() if now - s.t_last > self.s.stale_s]
        for k in gone:
            del self.sightings[k]
        if gone:
            dead = set(gone)
            self.by_track = {t: sid for t, sid in self.by_track.items() if sid not in dead}
        return gone
