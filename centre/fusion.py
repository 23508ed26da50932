"""Fusion across the fleet: the tracks of one object by different vehicles or cameras become one sighting.

Association is by track, not by detection: a sensor's (vehicle, boot, camera) track is one object over time.
Distances count in combined sigmas, ``d / sqrt(s_1^2 + s_2^2)``. For each detection in arrival order (``LOST``
events, which repeat a track's last fix, are skipped):

1. Pair costs. The fix is weighed against every other sensor's track of its class seen within ``window_s``, at
   the fix's time (interpolated between that track's fixes, else its nearest), after removing the two sensors'
   current offset (5). A pair starts when that squared distance is within ``gate_sigma``^2; its cost is then the
   running mean of it over the last ``memory_s`` (each sample weighted by the time since the last); a sample
   beyond twice the gate ends the pair at once (a tracker that jumped to another object).
2. Grouping. The live tracks (seen within ``window_s``) linked to this one by pairs, shared sightings or one
   sensor's succession are grouped again (``centre.fusion_tracks.cluster``): for every two sensors a one-to-one
   assignment of their tracks (Hungarian) minimising the sum of the costs within the gate, pairs already in one
   sighting ``HOLD_D2`` cheaper (no flip-flop); then the chosen pairs, and a sensor's broken track with its
   successor (begun within ``window_s`` after it ended, first fix within the gate of its last), are united
   cheapest first, never two tracks of one sensor seen at once in one object.
3. Naming. Each group keeps the sighting most of its tracks fed (on a tie, the one a track of it fed longest); the
   others start new sightings, named after their oldest track. A sighting whose live tracks all went to others
   merged into the one most of them went to (it goes to ``merged``; the feed deletes it).
4. Position. A sighting's position is the inverse-variance weighted mean of the newest fix of each camera (one
   camera's successive tracks share its errors: counted once); its variance is that of the weighted mean with
   any two cameras' errors correlated by ``error_correlation`` (rho; 0 gives ``1 / sum(1 / s_i^2)``):
   ``sum w_i^2 s_i^2 + rho * sum_{i != j} w_i w_j s_i s_j``. The wire's ``error_m`` is a 90 % radius: for a
   circular 2-D Gaussian that is 2.146 sigma (sqrt(-2 ln 0.1)), so s_i = error_m / 2.146 and the sighting's
   reported radius is 2.146 times its combined sigma, widened when the members disagree beyond their errors: by
   the Birge ratio ``sqrt(chi2 / (2 (n - 1)))`` when over 1, chi2 = sum of each member's squared distance from
   the fused position over its own sigma^2, n members (in the recordings of ``sim/scenarios/border-pair.toml``,
   where the daemons' own radii held 81-87 % of their fixes, it moved the fused positions within their radius
   from 80-84 % to 83-89 %).
5. Offsets. Two sensors' fixes of the same objects lie apart by a slowly changing offset (one vehicle's attitude
   and timing errors move all its fixes at once; measured in ``sim/scenarios/border-pair.toml``: 15 s means of
   -3 to +5 m along the line of sight). After grouping, where ``fix`` lies from the other sensors' tracks in its
   sighting updates their offset (a running mean over ``offset_s``, samples clipped to the pair's 90 % radius),
   but only when it cannot be a wrong pairing taken for an offset: neither track could pair with another of the
   other's sensor, or ``SHARED_MIN`` objects nearby are seen by both. The offset corrects only the pair costs;
   positions are averaged as received.

Limits: objects nearer each other than their error radii are told apart only by how their tracks move over
``memory_s``; people walking side by side within the radius pair by chance. A daemon's tracker that swaps two
people carries its track into the wrong sighting until the running means turn (a few seconds). A bias the
vehicles share beyond ``error_correlation`` is not in the radius. Members up to ``window_s`` apart in time are
averaged as if at once: a fast object's sighting lags and its radius is too small by about its speed times that
gap.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from centre.config import FusionSettings
from centre.fusion_tracks import M_PER_DEG as M_PER_DEG  # re-exported: the centre's other modules use them
from centre.fusion_tracks import (
    Fix,
    Pair,
    SensorKey,
    Track,
    TrackKey,
    cluster,
    d2,
    offset_m,
    pair_key,
    shifted,
)
from centre.fusion_tracks import distance_m as distance_m
from centre.store.rows import Detection
from edge.types import EventKind

R90_PER_SIGMA = math.sqrt(-2.0 * math.log(0.1))  # 2.146
SHARED_MIN = 3  # objects seen by both sensors at once that agree an offset even when the pairs have rivals
HOLD_D2 = 0.5  # a pair already in one sighting counts this much cheaper (squared combined sigmas): no flip-flop


@dataclass
class Member:
    """The latest detection of one track in a sighting. t_first: when the track joined it, t: last (POSIX s);
    sigma: 1-sigma horizontal error (m)."""

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


class Fuser:
    """Feed detections with ``add`` (in arrival order); it returns the sighting each one updated (or None)."""

    def __init__(self, settings: FusionSettings) -> None:
        self.s = settings
        self.sightings: dict[str, Sighting] = {}
        self.by_track: dict[TrackKey, str] = {}
        self.joined: dict[TrackKey, float] = {}  # when each track joined the sighting it now feeds (POSIX s)
        self.merged: list[Sighting] = []  # sightings merged into another since the caller last emptied this
        self.tracks: dict[TrackKey, Track] = {}
        self.by_sensor: dict[SensorKey, set[TrackKey]] = {}
        self.pairs: dict[tuple[TrackKey, TrackKey], Pair] = {}
        self.partners: dict[TrackKey, set[TrackKey]] = {}
        self.offsets: dict[tuple[SensorKey, SensorKey], list[float]] = {}  # (a, b), a < b: a - b east, north m; t

    def _sigma(self, d: Detection) -> float:
        return (d.error_m if d.error_m else self.s.default_error_m) / R90_PER_SIGMA

    def add(self, d: Detection) -> Sighting | None:
        """Add ``d`` to its track, weigh the track against the other sensors' tracks, group the tracks near it into
        objects again (rules in the module doc) and return the sighting ``d``'s track now feeds."""
        if d.lat is None or d.lon is None or d.kind == EventKind.LOST:  # a lost track's event repeats its last fix
            return None
        key: TrackKey = (d.vehicle, d.boot, d.camera, d.track)
        fix = Fix(d.t, d.lat, d.lon, self._sigma(d))
        tr = self.tracks.get(key)
        if tr is None:
            tr = self.tracks[key] = Track(key, d.class_name, d.t)
            self.by_sensor.setdefault(key[:3], set()).add(key)
        tr.t_first = min(tr.t_first, d.t)
        tr.add(fix, d.class_name, self.s.window_s)
        self._measure(tr, fix)
        live = self._component(tr, d.t)
        groups = cluster(live, self._costs(live), self._joins(live))
        self._name(groups, live)
        s = self.sightings[self.by_track[key]]
        self._register(tr, fix, s, groups)
        return s

    def _offset(self, a: SensorKey, b: SensorKey) -> tuple[float, float]:
        """How far sensor a's fixes lie from sensor b's of the same objects now: (east, north) m."""
        o = self.offsets.get((a, b) if a < b else (b, a))
        if o is None:
            return 0.0, 0.0
        return (o[0], o[1]) if a < b else (-o[0], -o[1])

    def _rivals(self, tr: Track, sensor: SensorKey) -> bool:
        """True when ``tr`` could pair with more than one live track of ``sensor`` (a pair within the gate)."""
        n = 0
        for k in self.partners.get(tr.key, ()):
            if k[:3] == sensor and self.pairs[pair_key(tr.key, k)].cost <= self.s.gate_sigma**2:
                n += 1
        return n > 1

    def _register(self, tr: Track, fix: Fix, s: Sighting, groups: list[list[Track]]) -> None:
        """Update the offset between ``tr``'s sensor and each other sensor in its sighting (``s``) from where ``fix``
        lies from that sensor's track: a running mean over ``offset_s``, each sample clipped to the pair's 90 %
        radius. Only when the offset is told apart from a wrong pairing: neither track could pair with another of
        the other's sensor, or ``SHARED_MIN`` objects nearby (``groups``) are seen by both sensors at once."""
        for k in s.members:
            o = self.tracks[k]
            if o.sensor == tr.sensor:
                continue
            both = sum(1 for g in groups if {tr.sensor, o.sensor} <= {x.sensor for x in g})
            if both < SHARED_MIN and (self._rivals(tr, o.sensor) or self._rivals(o, tr.sensor)):
                continue
            at = o.at(fix.t)
            east, north = offset_m(fix, at)
            clip = R90_PER_SIGMA * math.hypot(fix.sigma, at.sigma)
            if (n := math.hypot(east, north)) > clip:
                east, north = east * clip / n, north * clip / n
            a, b = tr.sensor, o.sensor
            if a > b:
                a, b, east, north = b, a, -east, -north
            cur = self.offsets.setdefault((a, b), [east, north, fix.t])
            alpha = 1.0 - math.exp(-max(0.0, fix.t - cur[2]) / self.s.offset_s)
            cur[0] += alpha * (east - cur[0])
            cur[1] += alpha * (north - cur[1])
            cur[2] = max(cur[2], fix.t)

    def _measure(self, tr: Track, fix: Fix) -> None:
        """Weigh ``fix`` against every other sensor's track of its class seen within ``window_s`` (where that track
        was at the fix's time): a pair starts within the gate, runs on as a mean, and ends at a sample beyond
        twice the gate."""
        gate2 = self.s.gate_sigma**2
        for o in self.tracks.values():
            if o.sensor == tr.sensor or o.class_name != tr.class_name or abs(o.last.t - fix.t) > self.s.window_s:
                continue
            east, north = self._offset(tr.sensor, o.sensor)
            sample = d2(shifted(fix, -east, -north), o.at(fix.t))
            pk = pair_key(tr.key, o.key)
            p = self.pairs.get(pk)
            if p is None and sample <= gate2:
                self.pairs[pk] = Pair(sample, fix.t)
                self.partners.setdefault(tr.key, set()).add(o.key)
                self.partners.setdefault(o.key, set()).add(tr.key)
            elif p is not None and sample > 4.0 * gate2:
                self._drop_pair(pk)
            elif p is not None:
                p.update(sample, fix.t, self.s.memory_s)

    def _drop_pair(self, pk: tuple[TrackKey, TrackKey]) -> None:
        del self.pairs[pk]
        for a, b in (pk, pk[::-1]):
            if (ps := self.partners.get(a)) is not None:
                ps.discard(b)

    def _live(self, k: TrackKey, t: float) -> bool:
        tr = self.tracks.get(k)
        return tr is not None and tr.last.t >= t - self.s.window_s

    def _component(self, tr: Track, t: float) -> list[Track]:
        """The live tracks (seen within ``window_s`` of t) linked to ``tr`` by pairs, shared sightings or one
        sensor's succession: the ones whose grouping may change with ``tr``'s news."""
        seen, todo = {tr.key}, [tr.key]
        while todo:
            k = todo.pop()
            near = set(self.partners.get(k, ()))
            if (s := self.sightings.get(self.by_track.get(k, ""))) is not None:
                near |= s.members.keys()
            near |= self.by_sensor.get(k[:3], set())
            for n in near - seen:
                if self._live(n, t):
                    seen.add(n)
                    todo.append(n)
        return [self.tracks[k] for k in seen]

    def _costs(self, live: list[Track]) -> dict[tuple[TrackKey, TrackKey], float]:
        """The pairs among ``live`` of one class within the gate, those already in one sighting ``HOLD_D2`` cheaper."""
        keys = {tr.key: tr for tr in live}
        out = {}
        for tr in live:
            for o in self.partners.get(tr.key, ()):
                if o not in keys or tr.key > o or keys[o].class_name != tr.class_name:
                    continue
                p = self.pairs[(tr.key, o)]
                if p.cost <= self.s.gate_sigma**2:
                    same = self.by_track.get(tr.key, "-") == self.by_track.get(o)
                    out[(tr.key, o)] = p.cost - (HOLD_D2 if same else 0.0)
        return out

    def _joins(self, live: list[Track]) -> list[tuple[float, TrackKey, TrackKey]]:
        """One sensor's track and one of its class that began after it ended, within ``window_s`` and the gate
        (a broken track and its successor), with their squared distance in combined sigmas."""
        out = []
        for a in live:
            for b in live:
                if (
                    a.sensor == b.sensor
                    and a.class_name == b.class_name
                    and 0.0 < b.t_first - a.last.t <= self.s.window_s
                    and (c := d2(a.last, b.fixes[0])) <= self.s.gate_sigma**2
                ):
                    out.append((c, a.key, b.key))
        return out

    def _name(self, groups: list[list[Track]], live: list[Track]) -> None:
        """Give each group a sighting: the one most of its tracks fed (on a tie, the one a track of it fed for
        longest), each to one group; the rest start new ones. A sighting whose live tracks all went to others merged into the one most went to."""
        before = {sid for tr in live if (sid := self.by_track.get(tr.key, "")) in self.sightings}
        votes = []
        for gi, g in enumerate(groups):
            n = Counter(sid for tr in g if (sid := self.by_track.get(tr.key, "")) in self.sightings)
            since = {sid: min(self.joined[tr.key] for tr in g if self.by_track.get(tr.key) == sid) for sid in n}
            votes += [(-c, since[sid], self.sightings[sid].t_first, sid, gi) for sid, c in n.items()]
        named: dict[int, str] = {}
        for *_, sid, gi in sorted(votes):
            if gi not in named and sid not in named.values():
                named[gi] = sid
        for gi, g in enumerate(groups):
            if gi in named:
                s = self.sightings[named[gi]]
            else:
                first = min(g, key=lambda tr: (tr.t_first, tr.key))
                s = Sighting(self._new_id(first.key), first.class_name, first.t_first, first.last.t)
                self.sightings[s.id] = s
            for tr in g:
                if self.by_track.get(tr.key) != s.id:
                    self.by_track[tr.key], self.joined[tr.key] = s.id, tr.last.t
            s.members = {tr.key: Member(self.joined[tr.key], tr.last.t, *tr.last[1:]) for tr in g}
            s.tracks |= {tr.key for tr in g}
            s.t_last = max(s.t_last, *(tr.last.t for tr in g))
            self._estimate(s)
        for sid in before - set(named.values()):
            gone = self.sightings.pop(sid)
            into = Counter(self.by_track[k] for k in gone.members if self.by_track.get(k) in self.sightings)
            if into:
                keep = self.sightings[into.most_common(1)[0][0]]
                keep.tracks |= gone.tracks
                keep.t_first = min(keep.t_first, gone.t_first)
                self.merged.append(gone)
            else:
                self.sightings[sid] = gone

    def _new_id(self, key: TrackKey) -> str:
        """A sighting id named after the track that started it (``-2``, ``-3``... if that track started one before)."""
        base = sid = f"{key[0]}-{key[1]:08x}-{key[2]}-{key[3]}"
        n = 1
        while sid in self.sightings or any(m.id == sid for m in self.merged):
            n += 1
            sid = f"{base}-{n}"
        return sid

    def _combine(self, members: list[Member]) -> tuple[float, float, float]:
        """Inverse-variance mean (lat, lon, 1-sigma m) of ``members`` (one per camera). The sigma counts
        ``error_correlation`` (rho) between any two cameras' errors:
        ``var = sum w_i^2 s_i^2 + rho * sum_{i != j} w_i w_j s_i s_j`` with weights ``w_i = s_i^-2 / sum s^-2``."""
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
        """The position and 90 % radius of ``s`` from the newest member of each camera (one camera, one error); the
        radius widened by the Birge ratio when the members disagree beyond their errors."""
        newest: dict[SensorKey, Member] = {}
        for k, m in s.members.items():
            if k[:3] not in newest or m.t > newest[k[:3]].t:
                newest[k[:3]] = m
        s.lat, s.lon, sigma = self._combine(list(newest.values()))
        chi2 = sum(distance_m(m.lat, m.lon, s.lat, s.lon) ** 2 / m.sigma**2 for m in newest.values())
        dof = 2 * (len(newest) - 1)
        s.error_m = R90_PER_SIGMA * sigma * (math.sqrt(max(1.0, chi2 / dof)) if dof else 1.0)

    def expire(self, now: float) -> list[str]:
        """Forget sightings and tracks not seen for ``stale_s`` before ``now`` (POSIX s); returns the sightings' ids."""
        gone = [k for k, s in self.sightings.items() if now - s.t_last > self.s.stale_s]
        for k in gone:
            del self.sightings[k]
        for key in [k for k, tr in self.tracks.items() if now - tr.last.t > self.s.stale_s]:
            del self.tracks[key]
            self.by_sensor[key[:3]].discard(key)
            self.by_track.pop(key, None)
            self.joined.pop(key, None)
            for o in list(self.partners.pop(key, ())):
                self.pairs.pop(pair_key(key, o), None)
                self.partners.get(o, set()).discard(key)
        return gone
