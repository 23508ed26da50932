"""Fusion across the fleet: detections of one object by different vehicles or cameras become one sighting.

A sighting holds *members*: the latest detection of each track that fed it within ``window_s``. Two tracks of one
camera whose times overlap are two objects and never share a sighting (one after the other is a broken track and
may). Distances are counted in combined sigmas, ``d / sqrt(s_1^2 + s_2^2)``; the *gate* is ``gate_sigma``. Rules,
for each detection in arrival order (``LOST`` events, which repeat a track's last fix, are skipped):

1. Its track's sighting keeps it while that sighting is not stale (``stale_s``), holds no other track of its
   camera seen at once, and what the other cameras see of it (their members' combined position) lies within the
   gate. Then, (b) when another sighting holds one live track of this camera and the two tracks each fit the other
   sighting better (sum of squared combined sigmas), they trade places (two objects close together first paired
   crosswise); (c) when another sighting that may hold it lies nearer by more than ``SWITCH_D2`` squared sigmas,
   the track moves there (a tracker that swapped objects, a wrong first pairing).
2. Otherwise it joins the nearest open sighting of its class seen within ``window_s`` that may hold it, within
   the gate.
3. Otherwise it starts a new sighting, named after its own key.
4. After each update, a sighting within the gate of another one that may hold its members (same class, within
   ``window_s``) merges with it: the younger joins the older and goes to ``merged`` (the feed deletes it).

A sighting's position is the inverse-variance weighted mean of the newest member of each camera (one camera's
successive tracks share its errors: counted once); its variance is that of the weighted mean with any two cameras'
errors correlated by ``error_correlation`` (rho; 0 gives ``1 / sum(1 / s_i^2)``): ``sum w_i^2 s_i^2 + rho *
sum_{i != j} w_i w_j s_i s_j``. Measured between the two drones of ``sim/scenarios/border-pair.toml`` (one person
at once, errors against the truth): rho = -0.01 to 0.35 over three runs; 0.3 by default. The wire's ``error_m``
is a 90 % radius: for a circular 2-D Gaussian that is 2.146 sigma (sqrt(-2 ln 0.1)), so s_i = error_m / 2.146 and
the sighting's reported radius is 2.146 times its combined sigma. Distances in a local flat frame (metres).

Limits: objects nearer each other than their error radii cannot be told apart by position; which of them pair up
across vehicles is then a guess (groups walking close together become sightings that swap members); a daemon's
tracker that swaps two people carries members across until rule 1c moves them. A bias the vehicles share beyond
what ``error_correlation`` allows is not in the radius. Members up to ``window_s`` apart in time are averaged as if at once: a fast
object's sighting lags and its radius is too small by about its speed times that gap.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from centre.config import FusionSettings
from centre.store.rows import Detection
from edge.types import EventKind

R90_PER_SIGMA = math.sqrt(-2.0 * math.log(0.1))  # 2.146
M_PER_DEG = 111_320.0

TrackKey = tuple[str, int, str, int]
SWITCH_D2 = 0.5  # vehicle, boot, camera, track


@dataclass
class Member:
    """The latest detection of one track in a sighting. t_first: when the track was first seen in it, t: last
    (POSIX s); sigma: 1-sigma horizontal error (m)."""

    t_first: float
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
    members: dict[TrackKey, Member] = field(default_factory=dict)  # tracks seen with it within window_s
    tracks: set[TrackKey] = field(default_factory=set)  # every track that ever fed it

    @property
    def sensors(self) -> set[tuple[str, str]]:
        """(vehicle, camera) pairs that fed this sighting."""
        return {(k[0], k[2]) for k in self.tracks}

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
            "members": sorted(f"{v}/{b:08x}/{c}/{t}" for v, b, c, t in self.tracks),
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
        self.merged: list[Sighting] = []  # sightings merged into another since the caller last emptied this

    def _sigma(self, d: Detection) -> float:
        return (d.error_m if d.error_m else self.s.default_error_m) / R90_PER_SIGMA

    def add(self, d: Detection) -> Sighting | None:
        """Assign ``d`` to a sighting (rules in the module doc) and update that sighting's position."""
        if d.lat is None or d.lon is None or d.kind == EventKind.LOST:  # a lost track's event repeats its last fix
            return None
        key: TrackKey = (d.vehicle, d.boot, d.camera, d.track)
        s = self.sightings.get(self.by_track.get(key, ""))
        old = s.members.get(key) if s is not None else None
        me = Member(old.t_first if old else d.t, d.t, d.lat, d.lon, self._sigma(d))
        if s is not None and not self._still_fits(s, key, me):
            s.members.pop(key, None)
            s = None
        if s is not None:
            near = [o for o in self.sightings.values() if o is not s and self._may_reach(o, s.class_name, me)]
            s = self._trade(s, key, me, near)
            s = self._switch(s, key, me, [o for o in near if o is not s])
        if s is None:
            s = self._nearest(d.class_name, me, {key: me})
        if s is None:
            s = Sighting(self._new_id(key), d.class_name, d.t, d.t)
            self.sightings[s.id] = s
        self.by_track[key] = s.id
        s.members[key] = me
        s.tracks.add(key)
        s.t_first, s.t_last = min(s.t_first, d.t), max(s.t_last, d.t)
        self._estimate(s)
        here = Member(s.t_last, s.t_last, s.lat, s.lon, s.error_m / R90_PER_SIGMA)
        other = self._nearest(s.class_name, here, s.members, s)
        return s if other is None else self._merge(s, other)

    def _new_id(self, key: TrackKey) -> str:
        """A sighting id named after the track that started it (``-2``, ``-3``... if that track started one before)."""
        base = sid = f"{key[0]}-{key[1]:08x}-{key[2]}-{key[3]}"
        n = 1
        while sid in self.sightings or any(m.id == sid for m in self.merged):
            n += 1
            sid = f"{base}-{n}"
        return sid

    def _still_fits(self, s: Sighting, key: TrackKey, me: Member) -> bool:
        """Rule 1: the track's sighting is not stale, holds no other track of its camera seen at once, and what the
        other cameras see of it now lies within the gate of this detection."""
        if me.t - s.t_last > self.s.stale_s or self._one_camera_two_objects(s.members, {key: me}):
            return False
        others = self._others(s, key, me.t)
        return others is None or self._d2(me, others) <= self.s.gate_sigma**2

    def _trade(self, s: Sighting, key: TrackKey, me: Member, near: list[Sighting]) -> Sighting:
        """Rule 1b: two objects close together paired crosswise (A's track of one with B's of the other), or the
        wrong one of two tracks paired: when another sighting holds one live track of this camera, and the two
        tracks fit better the other way round (sum of squared combined sigmas from what the other cameras see in
        each sighting; a track alone costs the gate squared), they swap sightings. Returns the sighting ``key``
        now feeds."""
        mine = self._others(s, key, me.t)
        for o in near:
            twins = [k for k in o.members if k[:3] == key[:3]]
            if len(twins) != 1 or any(k[:3] == key[:3] and k != key for k in s.members):
                continue
            k2 = twins[0]
            m2, theirs = o.members[k2], self._others(o, k2, me.t)
            if theirs is None or me.t - m2.t > self.s.window_s:
                continue
            swapped = self._d2(me, theirs), self._cost(m2, mine)
            if max(swapped) <= self.s.gate_sigma**2 and sum(swapped) < self._cost(me, mine) + self._d2(m2, theirs):
                s.members.pop(key, None)
                del o.members[k2]
                s.members[k2], self.by_track[k2] = m2, s.id
                s.tracks.add(k2)
                self._estimate(s)
                return o
        return s

    def _cost(self, m: Member, at: tuple[float, float, float] | None) -> float:
        """``_d2`` of m from ``at``, or the gate squared when there is nothing to pair with."""
        return self.s.gate_sigma**2 if at is None else self._d2(m, at)

    def _switch(self, s: Sighting, key: TrackKey, me: Member, near: list[Sighting]) -> Sighting:
        """Rule 1c: a track whose tracker swapped objects (or that was paired wrongly) moves to another sighting
        that may hold it and lies nearer by more than ``SWITCH_D2`` squared sigmas."""
        mine = self._others(s, key, me.t)
        if mine is None:
            return s
        best, best_d2 = s, self._d2(me, mine) - SWITCH_D2
        for o in near:
            theirs = self._others(o, key, me.t)
            d2 = math.inf if theirs is None else self._d2(me, theirs)
            if d2 < best_d2 and not self._one_camera_two_objects(o.members, {key: me}):
                best, best_d2 = o, d2
        if best is not s:
            s.members.pop(key, None)
            if s.members:
                self._estimate(s)
        return best

    def _may_reach(self, o: Sighting, class_name: str, me: Member) -> bool:
        """A cheap first look for rules 1b and 1c (``near``: the sightings that pass): ``o`` is of ``class_name``, seen within ``window_s`` of ``me``
        and within twice the gate of it (its members' spread aside)."""
        if o.class_name != class_name or abs(me.t - o.t_last) > self.s.window_s:
            return False
        reach = 2.0 * self.s.gate_sigma * (o.error_m / R90_PER_SIGMA + me.sigma)
        return distance_m(o.lat, o.lon, me.lat, me.lon) <= reach

    def _others(self, s: Sighting, key: TrackKey, t: float) -> tuple[float, float, float] | None:
        """What the cameras other than ``key``'s see of ``s`` within ``window_s`` of t (see ``_combine``)."""
        return self._combine([m for k, m in s.members.items() if k[:3] != key[:3] and t - m.t <= self.s.window_s])

    @staticmethod
    def _d2(m: Member, at: tuple[float, float, float]) -> float:
        """Squared distance of ``m`` from ``at`` (lat, lon, sigma) in combined sigmas."""
        return distance_m(at[0], at[1], m.lat, m.lon) ** 2 / (at[2] ** 2 + m.sigma**2)

    def _nearest(
        self, class_name: str, at: Member, members: dict[TrackKey, Member], exclude: Sighting | None = None
    ) -> Sighting | None:
        """Rule 2: the open sighting of ``class_name`` seen within ``window_s`` of ``at``, nearest to it in combined
        sigmas and within the gate, that may hold ``members``."""
        best, best_score = None, self.s.gate_sigma
        for s in self.sightings.values():
            if s is exclude or s.class_name != class_name or abs(at.t - s.t_last) > self.s.window_s:
                continue
            score = distance_m(s.lat, s.lon, at.lat, at.lon) / math.hypot(s.error_m / R90_PER_SIGMA, at.sigma)
            if score <= best_score and not self._one_camera_two_objects(s.members, members):
                best, best_score = s, score
        return best

    @staticmethod
    def _one_camera_two_objects(a: dict[TrackKey, Member], b: dict[TrackKey, Member]) -> bool:
        """True when ``a`` and ``b`` hold two tracks of one camera whose times overlap (seen at once: two objects;
        one after the other is a broken track, which may join)."""
        return any(
            ka[:3] == kb[:3] and ka != kb and ma.t_first <= mb.t and mb.t_first <= ma.t
            for ka, ma in a.items()
            for kb, mb in b.items()
        )

    def _merge(self, a: Sighting, b: Sighting) -> Sighting:
        """Rule 3: one object seen as two sightings; the younger joins the older and goes to ``merged``."""
        keep, gone = (a, b) if (a.t_first, a.id) <= (b.t_first, b.id) else (b, a)
        for k, m in gone.members.items():
            if k not in keep.members or m.t > keep.members[k].t:
                keep.members[k] = m
        for k in gone.tracks:
            if self.by_track.get(k) == gone.id:
                self.by_track[k] = keep.id
        keep.tracks |= gone.tracks
        keep.t_first, keep.t_last = min(keep.t_first, gone.t_first), max(keep.t_last, gone.t_last)
        del self.sightings[gone.id]
        self.merged.append(gone)
        self._estimate(keep)
        return keep

    def _combine(self, members: list[Member]) -> tuple[float, float, float] | None:
        """Inverse-variance mean (lat, lon, 1-sigma m) of ``members`` (one per camera); None if empty. The sigma
        counts ``error_correlation`` (rho) between any two cameras' errors:
        ``var = sum w_i^2 s_i^2 + rho * sum_{i != j} w_i w_j s_i s_j`` with weights ``w_i = s_i^-2 / sum s^-2``."""
        if not members:
            return None
        w = [1.0 / (m.sigma * m.sigma) for m in members]
        total = sum(w)
        w = [wi / total for wi in w]
        lat = sum(wi * m.lat for wi, m in zip(w, members, strict=True))
        lon = sum(wi * m.lon for wi, m in zip(w, members, strict=True))
        ws = [wi * m.sigma for wi, m in zip(w, members, strict=True)]
        own = sum(x * x for x in ws)
        var = own + self.s.error_correlation * (sum(ws) ** 2 - own)
        return lat, lon, math.sqrt(var)

    def _estimate(self, s: Sighting) -> None:
        newest: dict[tuple[str, int, str], Member] = {}  # per camera: its newest member (one camera, one error)
        t_ref = max(m.t for m in s.members.values())
        for k, m in list(s.members.items()):
            if t_ref - m.t > self.s.window_s:
                del s.members[k]  # no longer seen with the others: it only feeds this sighting again by rule 1
            elif k[:3] not in newest or m.t > newest[k[:3]].t:
                newest[k[:3]] = m
        combined = self._combine(list(newest.values()))
        assert combined is not None  # the newest member is always fresh
        s.lat, s.lon, sigma = combined
        s.error_m = R90_PER_SIGMA * sigma

    def expire(self, now: float) -> list[str]:
        """Forget sightings not seen for ``stale_s`` before ``now`` (POSIX s); returns their ids."""
        gone = [k for k, s in self.sightings.items() if now - s.t_last > self.s.stale_s]
        for k in gone:
            del self.sightings[k]
        if gone:
            dead = set(gone)
            self.by_track = {t: sid for t, sid in self.by_track.items() if sid not in dead}
        return gone
