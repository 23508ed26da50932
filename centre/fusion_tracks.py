"""Track-level association for the centre's fusion: each sensor's track over time, how well two tracks of
different sensors agree (a running mean of their squared distance in combined sigmas), and one clustering of the
live tracks into objects (one-to-one between every two sensors, Hungarian). The rule is told in centre/fusion.py."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment

M_PER_DEG = 111_320.0
TrackKey = tuple[str, int, str, int]  # vehicle, boot, camera, track
SensorKey = tuple[str, int, str]  # vehicle, boot, camera: one sensor's tracks share its errors
UNPAIRED = 1e9  # the Hungarian's cost of a pair outside the gate


class Fix(NamedTuple):
    """One detection of a track: time (POSIX s), WGS-84 degrees, 1-sigma horizontal error (m)."""

    t: float
    lat: float
    lon: float
    sigma: float


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Equirectangular ground distance (m); exact enough below ~10 km."""
    dy = (lat2 - lat1) * M_PER_DEG
    dx = (lon2 - lon1) * M_PER_DEG * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(dx, dy)


def offset_m(a: Fix, b: Fix) -> tuple[float, float]:
    """Where ``a`` lies from ``b``: (east, north) in metres."""
    return (a.lon - b.lon) * M_PER_DEG * math.cos(math.radians((a.lat + b.lat) / 2)), (a.lat - b.lat) * M_PER_DEG


def shifted(f: Fix, east_m: float, north_m: float) -> Fix:
    """``f`` moved by (east, north) metres."""
    return f._replace(lat=f.lat + north_m / M_PER_DEG, lon=f.lon + east_m / (M_PER_DEG * math.cos(math.radians(f.lat))))


def d2(a: Fix, b: Fix) -> float:
    """Squared distance of two fixes in combined sigmas: ``d^2 / (s_a^2 + s_b^2)``."""
    return distance_m(a.lat, a.lon, b.lat, b.lon) ** 2 / (a.sigma * a.sigma + b.sigma * b.sigma)


@dataclass
class Track:
    """One sensor's track: its class (the latest detection's) and its fixes of the last ``keep_s`` (oldest first)."""

    key: TrackKey
    class_name: str
    t_first: float
    fixes: list[Fix] = field(default_factory=list)

    @property
    def last(self) -> Fix:
        return self.fixes[-1]

    @property
    def sensor(self) -> SensorKey:
        return self.key[:3]

    def add(self, fix: Fix, class_name: str, keep_s: float) -> None:
        """Append ``fix`` (kept in time order) and forget fixes older than ``keep_s`` before the newest."""
        self.class_name = class_name
        i = len(self.fixes)
        while i and self.fixes[i - 1].t > fix.t:
            i -= 1
        self.fixes.insert(i, fix)
        newest = self.fixes[-1].t
        while self.fixes[0].t < newest - keep_s:
            self.fixes.pop(0)

    def at(self, t: float) -> Fix:
        """Where the track was at t: interpolated between the fixes around t, else its fix nearest in time."""
        fx = self.fixes
        if t <= fx[0].t:
            return fx[0]
        for a, b in itertools.pairwise(fx):
            if a.t <= t <= b.t:
                u = (t - a.t) / (b.t - a.t) if b.t > a.t else 1.0
                return Fix(
                    t, a.lat + u * (b.lat - a.lat), a.lon + u * (b.lon - a.lon), a.sigma + u * (b.sigma - a.sigma)
                )
        return fx[-1]

    def overlaps(self, other: Track) -> bool:
        """True when both tracks were seen over a common time (two objects, if one sensor's)."""
        return self.t_first <= other.last.t and other.t_first <= self.last.t


@dataclass
class Pair:
    """How well two tracks of different sensors agree: ``cost``, the running mean of their squared distance in
    combined sigmas, each sample weighted by the time since the last one (memory ``memory_s``); ``t`` its last."""

    cost: float
    t: float
    n: int = 1

    def update(self, sample: float, t: float, memory_s: float) -> None:
        self.n += 1
        alpha = max(1.0 - math.exp(-abs(t - self.t) / memory_s), 1.0 / self.n)
        self.cost += alpha * (sample - self.cost)
        self.t = max(self.t, t)


def pair_key(a: TrackKey, b: TrackKey) -> tuple[TrackKey, TrackKey]:
    return (a, b) if a <= b else (b, a)


def cluster(
    tracks: list[Track], costs: dict[tuple[TrackKey, TrackKey], float], joins: list[tuple[float, TrackKey, TrackKey]]
) -> list[list[Track]]:
    """Group ``tracks`` into objects. For every two sensors, a one-to-one assignment of their tracks minimising the
    sum of ``costs`` (pairs absent from it may not pair); the chosen pairs and ``joins`` (one sensor's broken
    track and its successor) are then united cheapest first, never putting two tracks of one sensor seen at
    once into one object. Returns the groups (each track in exactly one)."""
    by_sensor: dict[SensorKey, list[Track]] = {}
    for tr in tracks:
        by_sensor.setdefault(tr.sensor, []).append(tr)
    edges = list(joins)
    sensors = sorted(by_sensor)
    for i, sa in enumerate(sensors):
        for sb in sensors[i + 1 :]:
            a, b = by_sensor[sa], by_sensor[sb]
            na, nb = len(a), len(b)
            m = np.full((na, nb), UNPAIRED)
            for r, ta in enumerate(a):
                for c, tb in enumerate(b):
                    m[r, c] = costs.get(pair_key(ta.key, tb.key), UNPAIRED)
            if not (m < UNPAIRED).any():
                continue
            rows, cols = linear_sum_assignment(m)
            edges += [
                (float(m[r, c]), a[r].key, b[c].key) for r, c in zip(rows, cols, strict=True) if m[r, c] < UNPAIRED
            ]
    group = {tr.key: [tr] for tr in tracks}
    for _, ka, kb in sorted(edges):
        ga, gb = group[ka], group[kb]
        if ga is gb or any(x.sensor == y.sensor and x.overlaps(y) for x in ga for y in gb):
            continue
        ga.extend(gb)
        for tr in gb:
            group[tr.key] = ga
    seen: set[int] = set()
    out = []
    for g in group.values():
        if id(g) not in seen:
            seen.add(id(g))
            out.append(g)
    return out
