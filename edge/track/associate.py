"""Cross-camera association: one object seen by two cameras of the platform gets one shared object id.

A sink stage between the cameras' pipelines and the real sinks (spool, GCS, console): each frame's events come in
from their camera's pipeline thread, leave at once with ``GeoEvent.object_id`` set where the event's track is joined
to another camera's track, and go on to every sink. It keeps only the newest fix of each live track (a few dozen
small records) and never waits.

The rule (docs/association.md has its limits):

1. A track joined to an object stays in it while it lives; it leaves when the object's other members are fresh
   (within ``window_s``) yet outside the gate for ``split_after`` frames in a row.
2. A track not in an object is joined to the best-scoring live track of another camera whose newest fix is within
   ``window_s`` of its own, whose class is compatible (``compatible``) and that lies inside the gate:
   ``d <= gate_sigma * sqrt(s1^2 + s2^2 + (v_max * dt)^2)`` (``gate_score``): s = error_m / 2.146 (error_m is a
   90 % radius; a circular 2-D Gaussian holds 90 % inside 2.146 sigma), v_max the class's top speed (m/s) and dt
   the two fixes' time apart. Best first over all pairs of one frame (greedy on the score).
3. An object holds at most one track per camera: a camera's two tracks are two objects (it saw them apart).

Object ids count from 1 per boot; an event whose track is in no object carries none (``object_id`` None).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace

from edge.stages import EventSink, Health
from edge.track.settings import AssociationSettings
from edge.types import EventKind, FrameEvents, GeoEvent

log = logging.getLogger(__name__)

R90_PER_SIGMA = math.sqrt(-2.0 * math.log(0.1))  # 2.146: a circular 2-D Gaussian's 90 % radius in sigmas
M_PER_DEG = 111_320.0
# classes that name the same kind of object (models differ: a thermal model may say "car" where the day one says
# "vehicle"); any other pair must match exactly
CLASS_GROUPS: tuple[frozenset[str], ...] = (
    frozenset({"person", "pedestrian", "people"}),
    frozenset({"vehicle", "car", "truck", "bus", "van", "pickup", "motorcycle"}),
    frozenset({"boat", "ship", "vessel"}),
)
MAX_SPEED_MPS = {"person": 3.0, "vehicle": 30.0, "boat": 20.0}  # a class's top speed for the time gap; else 30
TrackKey = tuple[str, int]  # camera, track id


def compatible(a: str, b: str) -> bool:
    """True when class names ``a`` and ``b`` can be one object (equal, or in one of ``CLASS_GROUPS``)."""
    return a == b or any(a in g and b in g for g in CLASS_GROUPS)


def top_speed(class_name: str) -> float:
    """The fastest (m/s) an object of this class is assumed to move."""
    for name, speed in MAX_SPEED_MPS.items():
        if compatible(name, class_name):
            return speed
    return 30.0


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Equirectangular ground distance (m); exact enough below ~10 km."""
    dy = (lat2 - lat1) * M_PER_DEG
    dx = (lon2 - lon1) * M_PER_DEG * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(dx, dy)


def gate_score(d_m: float, sigma1_m: float, sigma2_m: float, motion_m: float = 0.0) -> float:
    """Ground distance ``d_m`` in combined sigmas: ``d / sqrt(s1^2 + s2^2 + motion^2)`` (all m).

    Inside the gate when <= gate_sigma; for independent circular errors the squared score is chi-square with
    2 degrees of freedom (3.03 sigma holds 99 %). ``motion_m``: how far the object may have moved between the fixes.
    """
    spread = math.sqrt(sigma1_m * sigma1_m + sigma2_m * sigma2_m + motion_m * motion_m)
    return d_m / spread if spread > 0 else (0.0 if d_m == 0 else math.inf)


@dataclass
class _Track:
    """The newest fix of one live track (t: POSIX s; sigma: 1-sigma horizontal error, m)."""

    t: float
    lat: float
    lon: float
    sigma: float
    class_name: str
    object_id: int | None = None
    misses: int = 0  # frames in a row its object's other members were outside the gate


class Associator:
    """An EventSink that sets ``object_id`` on events of tracks joined across cameras, then hands each frame's
    events to ``sinks``; a Stage for its health (nothing to start)."""

    name = "association"

    def __init__(self, sinks: Sequence[EventSink], settings: AssociationSettings | None = None) -> None:
        self._sinks = list(sinks)
        self.s = settings or AssociationSettings()
        self._lock = threading.Lock()  # pipelines of several cameras submit from their own threads
        self._tracks: dict[TrackKey, _Track] = {}
        self._next_id = 1
        self._joins = 0
        self._splits = 0

    def start(self) -> None:
        """Nothing runs on its own."""

    def stop(self) -> None:
        """Nothing to stop."""

    def submit(self, batch: FrameEvents) -> None:
        """Assign object ids to ``batch``'s events and pass it on (never waits)."""
        with self._lock:
            batch = self._assign(batch)
        for sink in self._sinks:
            sink.submit(batch)

    def _sigma(self, ev: GeoEvent) -> float:
        return (ev.error_m if ev.error_m else self.s.default_error_m) / R90_PER_SIGMA

    def _score(self, ev: GeoEvent, t: float, other: _Track) -> float:
        assert ev.lat is not None and ev.lon is not None
        d = distance_m(ev.lat, ev.lon, other.lat, other.lon)
        motion = top_speed(ev.class_name) * abs(t - other.t)
        return gate_score(d, self._sigma(ev), other.sigma, motion)

    def _members(self, object_id: int) -> list[tuple[TrackKey, _Track]]:
        return [(k, tr) for k, tr in self._tracks.items() if tr.object_id == object_id]

    def _assign(self, batch: FrameEvents) -> FrameEvents:
        t, cam = batch.t_utc, batch.camera_id
        for key in [k for k, tr in self._tracks.items() if t - tr.t > self.s.stale_s]:
            del self._tracks[key]  # a track that went quiet without a LOST (a camera that stopped)
        located = [ev for ev in batch.events if ev.lat is not None and ev.lon is not None]
        for ev in located:
            self._check_join(cam, ev, t)
        self._join_new(cam, [ev for ev in located if self._object_of(cam, ev) is None], t)
        out = []
        for ev in batch.events:
            key = (cam, ev.track_id)
            if ev.lat is not None and ev.lon is not None:
                old = self._tracks.get(key)
                oid = old.object_id if old is not None else None
                misses = old.misses if old is not None else 0
                self._tracks[key] = _Track(t, ev.lat, ev.lon, self._sigma(ev), ev.class_name, oid, misses)
            tr = self._tracks.get(key)
            oid = tr.object_id if tr is not None else None
            out.append(ev if oid is None else replace(ev, object_id=oid))
            if ev.kind == EventKind.LOST:
                self._tracks.pop(key, None)
        return replace(batch, events=tuple(out))

    def _object_of(self, cam: str, ev: GeoEvent) -> int | None:
        tr = self._tracks.get((cam, ev.track_id))
        return tr.object_id if tr is not None else None

    def _check_join(self, cam: str, ev: GeoEvent, t: float) -> None:
        """Rule 1: a joined track whose partners, fresh, stay outside the gate leaves its object."""
        tr = self._tracks.get((cam, ev.track_id))
        if tr is None or tr.object_id is None:
            return
        fresh = [o for k, o in self._members(tr.object_id) if k[0] != cam and abs(t - o.t) <= self.s.window_s]
        if not fresh:
            return
        if any(self._score(ev, t, o) <= self.s.gate_sigma for o in fresh):
            tr.misses = 0
            return
        tr.misses += 1
        if tr.misses >= self.s.split_after:
            tr.object_id, tr.misses = None, 0
            self._splits += 1

    def _join_new(self, cam: str, events: list[GeoEvent], t: float) -> None:
        """Rules 2 and 3, best pair first over the frame's unjoined events and the other cameras' live tracks."""
        pairs = []
        for i, ev in enumerate(events):
            for key, other in self._tracks.items():
                if (
                    key[0] == cam
                    or abs(t - other.t) > self.s.window_s
                    or not compatible(ev.class_name, other.class_name)
                ):
                    continue
                score = self._score(ev, t, other)
                if score <= self.s.gate_sigma:
                    pairs.append((score, i, key))
        pairs.sort()
        done: set[int] = set()
        for _, i, key in pairs:
            other = self._tracks[key]
            if i in done:
                continue
            if other.object_id is not None and any(k[0] == cam for k, _ in self._members(other.object_id)):
                continue  # rule 3: its object already holds a track of this camera
            if other.object_id is None:
                other.object_id, self._next_id = self._next_id, self._next_id + 1
            ev = events[i]
            assert ev.lat is not None and ev.lon is not None
            self._tracks[(cam, ev.track_id)] = _Track(
                t, ev.lat, ev.lon, self._sigma(ev), ev.class_name, other.object_id
            )
            done.add(i)
            self._joins += 1

    def health(self) -> Health:
        with self._lock:
            objects = {tr.object_id for tr in self._tracks.values() if tr.object_id is not None}
            return {"tracks": len(self._tracks), "objects": len(objects), "joins": self._joins, "splits": self._splits}
