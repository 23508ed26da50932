"""Cross-camera association: one object seen by two cameras of the platform gets one shared object id.

A sink stage between the cameras' pipelines and the real sinks (spool, GCS, console): each frame's events come in
from their camera's pipeline thread with the fixes of its other confirmed tracks (``FrameEvents.seen``: the two
cameras' tracks meet on fixes a frame apart, not on events seconds apart), are taken in capture order (a frame
waits, at most ``reorder_max_s``, for the other cameras' older frames still in their pipelines: ``CaptureOrder``),
leave with ``GeoEvent.object_id`` set where the event's track is joined to another camera's track, and go on to every
sink (``seen`` dropped; a frame without events goes nowhere). It keeps only the newest fix of each live track (a few
dozen small records) and never blocks a pipeline.

The rule (docs/association.md has its limits):

1. A track joined to an object stays in it while it lives; it leaves when the object's other members are fresh
   (within ``window_s``) yet outside the gate for ``split_after`` frames in a row.
2. A track not in an object is joined to the best-scoring track of another camera that was in that camera's newest
   frame (not one the tracker coasts or is about to lose), whose newest fix is within ``join_within_s`` of its own,
   whose class is compatible (``compatible``) and that lies inside the gate:
   ``d <= gate_sigma * sqrt(s1^2 + s2^2 + (v_max * dt)^2)`` (``gate_score``): s = error_m / 2.146 (error_m is a
   90 % radius; a circular 2-D Gaussian holds 90 % inside 2.146 sigma), v_max the class's top speed (m/s) and dt
   the two fixes' time apart; and, when both frames had a pose, inside the line-of-sight gate: the cameras look
   from one platform with one pose error, so their measured rays to one object (``GeoEvent.sight``, not the fixes,
   which the size prior moves along the ray) agree, compared at the older one's time through the poses of that
   time (the newer ray carried back in its camera's frame on its image motion and turned by its camera's pose
   interpolated between its frames: the attitude error drifts between frames), within
   ``direction_sigma_deg`` across and ``depression_sigma_deg`` down, plus what the object may have done unforeseen
   over the gap (0.5 a dt^2 + 0.5 m/s dt with a = 1 m/s^2, or 30 % of the top speed times dt while neither track's
   velocity is known), plus the cameras' relative pointing error: learnt (``Boresight``: the difference of joined
   tracks' rays through the poses of one time that most pairs of tracks agree on) and taken off,
   ``boresight_sigma_deg`` until then. The score is the larger of the two; a frame's fixes and the candidates are
   paired one to one with the least sum of scores (``least_cost_pairs``).
3. An object holds at most one track per camera: a camera's two tracks seen in one frame are two objects (it saw
   them apart). A camera's track born after the object's track of that camera was last heard of, and inside that
   track's gate, takes its place at once (the tracker lost it and started again; its LOST event comes only after
   tracker.lost_after_s); so does any after ``join_within_s`` of silence.
4. A track whose object id changed since its newest event (it joined, left, or its object's first member got the
   id when the second joined) sends an UPDATE carrying the new one, so the ground side does not keep an old id
   until the track's next event (up to tracker.update_interval_s): a track of this frame in it (from
   ``FrameEvents.seen``); another camera's track given the id by a join in this frame at once, as its newest
   event again (its own camera's batch of that frame, after this one), not a frame later.
5. A track on the same box as a joined track of its camera in one frame (IoU >= ``twin_iou``: the tracker follows
   one object twice) is in that object too.
6. A track kept out by rule 3 that lies nearer to an object's track of another camera than its own camera's track
   in that object, ``split_after`` frames in a row, takes that track's place (the first join was made while each
   camera saw only one of two close objects).
7. A track whose object holds no track of another camera heard of within ``window_s`` (they were lost) may join
   again by rule 2, as if in no object; a partner in no object takes its id.
8. Two joined tracks of one camera seen in one frame, each in an object with one track of a second camera heard of
   within ``join_within_s``, that fit those two crossed better (the sum of the two scores lower by
   ``CROSS_MARGIN``, each crossed pair inside the gate), ``split_after`` frames in a row, exchange objects (the
   camera's tracker swapped two close objects, or a new track took a lost one's place on the wrong one of two;
   rule 1 keeps both pairs while the gate holds them).

Object ids count from 1 per boot; an event whose track is in no object carries none (``object_id`` None).
"""

from __future__ import annotations

import itertools
import logging
import math
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from edge.geo.orientation import camera_rotation, rotation_matrix, rotation_vector
from edge.stages import EventSink, Health
from edge.track.reorder import CaptureOrder
from edge.track.settings import AssociationSettings
from edge.types import EventKind, FrameEvents, GeoEvent, Pose, SensorInfo

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
# a fix's depression seen from the platform, for an event without its measured line of sight: the size prior
# moved the fix along the ray (one object's two cameras' fixes differ by 0.25-0.46 deg median on the simulated pairs)
FIX_DEPRESSION_SIGMA = math.radians(0.6)
SYNC_S = 0.02  # a camera's frame this near (s) to another's is taken at the same time (one pose error)
CARRY_S = 1.0  # a track's ray in its camera's frame is carried on its image motion over at most this gap (s)
FORBIDDEN = 1e9  # the cost of a pair outside the gate
CROSS_MARGIN = 1.0  # rule 8: crossed pairs fit better by at least this (gate units, summed), not by the noise
MIN_VELOCITY_DT_S = 0.3  # two fixes at least this far apart (s) give a velocity
UNFORESEEN_SHARE = 0.3  # of the top speed: how far a track whose velocity is not known yet may have gone
UNFORESEEN_ACCEL_MPS2 = 1.0  # a track moving on its velocity: how hard it may have sped up, turned or stopped
UNFORESEEN_SPEED_MPS = 0.5  # and how far off its velocity may be (m/s)
RELEASE_EVERY_S = 0.05  # how often the frames held for capture order are looked at (s)
TrackKey = tuple[str, int]  # camera, track id
Apart = tuple[float, float, float, bool]  # lines of sight apart: across, down (rad), range (m), both measured


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


def sight(pose: Pose, lat: float, lon: float, alt: float) -> tuple[float, float, float]:
    """Line of sight from the camera at ``pose`` to a point: azimuth (rad, 0 = north), depression (rad, + below the
    horizontal) and ground range (m); flat-earth, exact enough for a few km."""
    dn = (lat - pose.lat) * M_PER_DEG
    de = (lon - pose.lon) * M_PER_DEG * math.cos(math.radians(pose.lat))
    ground = math.hypot(dn, de)
    return math.atan2(de, dn), math.atan2(pose.alt - alt, ground), ground


@dataclass
class _Track:
    """The newest fix of one live track: t (POSIX s), lat/lon (deg), alt (m AMSL or None), sigma (1-sigma horizontal
    error, m), the frame's pose (None without one) and the track's ground velocity (north, east m/s; None until it
    has two fixes 0.3 s apart)."""

    t: float
    lat: float
    lon: float
    alt: float | None
    sigma: float
    class_name: str
    pose: Pose | None = None
    cam: str = ""
    vel: tuple[float, float] | None = None
    object_id: int | None = None
    misses: int = 0  # frames in a row its object's other members were outside the gate
    sent: int | None = None  # the object id its newest event sent carried
    born: float = math.nan  # when it was first heard of (POSIX s)
    wins: int = 0  # frames in a row it lay nearer to another camera's track than that track's partner of its camera
    wins_for: TrackKey | None = None  # ... that track
    crossed: int = 0  # frames in a row it and another track of its camera fitted each other's partners better
    crossed_with: TrackKey | None = None  # ... that track
    u: tuple[float, float, float] | None = None  # the box's measured line of sight in its camera's frame (unit)
    du: tuple[float, float, float] | None = None  # how fast u turns (1/s): the object's motion in the image
    ev: GeoEvent | None = None  # its newest event or seen fix, its frame's number and sensor: to say a new id again
    seq: int = -1
    sensor: SensorInfo | None = None

    @property
    def box(self) -> tuple[float, float, float, float]:
        """Its newest box: x1 y1 x2 y2, fractions of the frame."""
        return self.ev.bbox_norm if self.ev is not None else (0.0, 0.0, 0.0, 0.0)

    def at(self, t: float) -> tuple[float, float]:
        """Where it will be (or was) at ``t`` (s) on its velocity: lat, lon (deg)."""
        if self.vel is None:
            return self.lat, self.lon
        dt = t - self.t
        m_lon = M_PER_DEG * math.cos(math.radians(self.lat))
        return self.lat + self.vel[0] * dt / M_PER_DEG, self.lon + self.vel[1] * dt / m_lon


class Associator:
    """An EventSink that sets ``object_id`` on events of tracks joined across cameras, then hands each frame's
    events to ``sinks``; a Stage for its health (nothing to start)."""

    name = "association"

    def __init__(
        self,
        sinks: Sequence[EventSink],
        settings: AssociationSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sinks = list(sinks)
        self.s = settings or AssociationSettings()
        self._lock = threading.Lock()  # pipelines of several cameras submit from their own threads
        self._sending = threading.Lock()  # frames reach the sinks in the order they were associated
        self._order = CaptureOrder(self.s.reorder_max_s, clock)  # the cameras' frames in capture order
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tracks: dict[TrackKey, _Track] = {}
        self._sigmas_az = (math.radians(self.s.direction_sigma_deg),) * 2
        self._sigmas_dep = (math.radians(self.s.depression_sigma_deg),) * 2
        self._sigmas_fix_dep = (max(self._sigmas_dep[0], FIX_DEPRESSION_SIGMA),) * 2
        self._newest: dict[str, float] = {}  # camera: time (POSIX s) of its newest frame here
        self._views: dict[str, deque[tuple[float, npt.NDArray[np.float64]]]] = {}  # camera: frames' t (s), rotations
        self._boresight: dict[tuple[str, str], Boresight] = {}  # two cameras (sorted): their relative pointing error
        self._next_id = 1
        self._joins = 0
        self._splits = 0
        self._announced = 0
        self._twins = 0
        self._swaps = 0
        self._crosses = 0

    def start(self) -> None:
        """Hand on the frames held for capture order once they have waited long enough, on a thread (without it,
        only a submit hands them on)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="association", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and hand on every frame still held (after the pipelines stopped: nothing is lost)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._release(everything=True)

    def _run(self) -> None:
        while not self._stop.wait(RELEASE_EVERY_S):
            self._release()

    def submit(self, batch: FrameEvents) -> None:
        """Take one camera's frame; hand on, in capture order, the frames due (held at most
        ``reorder_max_s``: ``CaptureOrder``), their events with object ids and without their ``seen`` fixes, those
        with events only (never waits)."""
        with self._lock:
            self._order.push(batch)
        self._release()

    def _release(self, everything: bool = False) -> None:
        """Associate the frames due and hand them to the sinks."""
        with self._sending:
            with self._lock:
                batches = []
                for frame in self._order.due(everything):
                    batches += [self._assign(frame), *self._announce(frame.camera_id)]
            for out in batches:
                if not out.events:  # a frame of tracks seen without an event: nothing to send
                    continue
                for sink in self._sinks:
                    sink.submit(out)

    def _fix(self, ev: GeoEvent, batch: FrameEvents, old: _Track | None) -> _Track:
        """The track state an event gives (its object and misses carried over from ``old``)."""
        assert ev.lat is not None and ev.lon is not None
        sigma = (ev.error_m if ev.error_m else self.s.default_error_m) / R90_PER_SIGMA
        fix = _Track(batch.t_utc, ev.lat, ev.lon, ev.alt, sigma, ev.class_name, batch.pose, batch.camera_id)
        fix.born = batch.t_utc
        fix.ev, fix.seq, fix.sensor = ev, batch.frame_seq, batch.sensor
        if ev.sight is not None and batch.pose is not None:
            fix.u = _in_camera(camera_rotation(batch.pose), *ev.sight)
        if old is None:
            return fix
        fix.object_id, fix.misses, fix.vel, fix.sent, fix.born = old.object_id, old.misses, old.vel, old.sent, old.born
        fix.wins, fix.wins_for, fix.du = old.wins, old.wins_for, old.du
        fix.crossed, fix.crossed_with = old.crossed, old.crossed_with
        dt = fix.t - old.t
        if dt >= MIN_VELOCITY_DT_S and fix.u is not None and old.u is not None:  # as the velocity below
            rate = np.subtract(fix.u, old.u) / dt
            if old.du is not None:
                rate = (rate + old.du) / 2
            fix.du = (float(rate[0]), float(rate[1]), float(rate[2]))
        if dt >= MIN_VELOCITY_DT_S:  # velocity from the last two fixes, half of it kept, capped at the top speed
            vn = (fix.lat - old.lat) * M_PER_DEG / dt
            ve = (fix.lon - old.lon) * M_PER_DEG * math.cos(math.radians(fix.lat)) / dt
            if old.vel is not None:
                vn, ve = (vn + old.vel[0]) / 2, (ve + old.vel[1]) / 2
            cap = top_speed(fix.class_name) / max(math.hypot(vn, ve), 1e-9)
            fix.vel = (vn * min(cap, 1.0), ve * min(cap, 1.0))
        return fix

    def _score(self, fix: _Track, other: _Track) -> float:
        """How far apart two fixes are in gate units (inside when <= gate_sigma): on the ground within their error
        radii, and, with a pose, along the line of sight; the larger of the two."""
        return self._compare(fix, other)[0]

    def _compare(self, fix: _Track, other: _Track) -> tuple[float, Apart | None]:
        """``_score`` and the lines of sight's ``_apart`` it was found from (None where the ground decided)."""
        dt = abs(fix.t - other.t)
        speed = top_speed(fix.class_name)
        ground = gate_score(distance_m(fix.lat, fix.lon, other.lat, other.lon), fix.sigma, other.sigma, speed * dt)
        pose = fix.pose or other.pose
        if pose is None or fix.alt is None or other.alt is None:
            return ground, None
        # both seen from the platform, one carried to the other's time on its velocity: the cameras share the
        # platform and its pose error, so only their calibration and the boxes part one object's two lines of sight
        # (direction_sigma_deg), plus what the object may have done unforeseen in between
        if fix.vel is None and other.vel is None:
            unforeseen_m = UNFORESEEN_SHARE * speed * dt  # how it moves is not known yet
        else:
            unforeseen_m = min(speed * dt, 0.5 * UNFORESEEN_ACCEL_MPS2 * dt * dt + UNFORESEEN_SPEED_MPS * dt)
        apart = self._apart(fix, other, pose)
        if apart is None:
            return ground, None
        d_az, d_dep, rng, _ = apart
        pair = self._boresight.get(_pair_key(fix.cam, other.cam))
        sign = 1.0 if fix.cam < other.cam else -1.0
        unknown = math.radians(self.s.boresight_sigma_deg)
        if pair is not None and pair.learnt():  # the mounts' relative error, learnt from the objects both saw
            unknown = min(unknown, pair.doubt() * math.hypot(*self._sigmas_az))
            d_az, d_dep = d_az - sign * pair.az, d_dep - sign * pair.dep
        spread = math.hypot(unforeseen_m / max(rng, 1.0), unknown)
        across = gate_score(abs(d_az), *self._sigmas_az, spread)
        dep_sigmas = self._sigmas_dep if fix.u is not None and other.u is not None else self._sigmas_fix_dep
        down = gate_score(abs(d_dep), *dep_sigmas, spread)
        return max(ground, math.hypot(across, down)), apart

    def _apart(self, fix: _Track, other: _Track, pose: Pose) -> Apart | None:
        """How far ``fix``'s line of sight lies from ``other``'s, both at the older one's time: across (azimuth
        times the cosine of the depression) and down (depression), rad; the ground range (m); and whether both are
        measured rays turned by their cameras' poses of that time (``_sight_at``). None without a pose."""
        t_ref, ref = (fix.t, fix.pose) if fix.t <= other.t else (other.t, other.pose)
        a, b = self._sight_at(fix, t_ref, ref or pose), self._sight_at(other, t_ref, ref or pose)
        if a is None or b is None:
            return None
        return _wrap(a[0] - b[0]) * math.cos(a[1]), a[1] - b[1], a[2], a[3] and b[3]

    def _learn(self, keys: tuple[TrackKey, TrackKey], fix: _Track, other: _Track, apart: Apart | None) -> None:
        """Two joined tracks of two cameras (``keys``: ``fix``'s, ``other``'s) compared through the poses of one time
        (``apart`` from ``_compare``): how their lines of sight differ is the cameras' relative pointing error
        (mounts, lens centres), plus the boxes' noise."""
        if fix.pose is None or not self.s.learn_boresight or apart is None or not apart[3]:
            return
        sign = 1.0 if fix.cam < other.cam else -1.0
        pair = self._boresight.setdefault(_pair_key(fix.cam, other.cam), Boresight())
        pair.add(sign * apart[0], sign * apart[1], tuple(sorted(keys)))

    def _sight_at(self, tr: _Track, t: float, ref: Pose) -> tuple[float, float, float, bool] | None:
        """``tr``'s line of sight at ``t`` (s) from the platform at ``ref`` (the pose of the frame of ``t``):
        azimuth, depression (rad), ground range (m), and whether it is its measured ray turned by its camera's pose
        of time ``t``; None without a pose.

        Two cameras' rays of one object at one time share the platform's pose error; rays of two times do not (an
        attitude error drifting 0.25 deg in half a second parts two views of one object by that). So where its
        camera's pose at ``t`` is known (a frame then, within ``SYNC_S``, or between two frames at most ``CARRY_S``
        apart: interpolated), its measured ray in its camera's frame (``_Track.u``), carried over the gap (at most
        ``CARRY_S``) on its turn rate as the image saw it (no pose error in that), is turned to NED by that pose.
        Otherwise its measured ray in NED is moved by how the direction of its fix changed from its own frame to
        ``ref`` and its fix carried to ``t`` (the platform's travel and turn, the object's motion). The fix's
        direction (which the size prior moved along the ray) where the event had no measured ray."""
        if tr.pose is None or tr.alt is None:
            return None
        lat, lon = tr.at(t)
        now = sight(ref, lat, lon, tr.alt)
        if tr.u is None:
            return (*now, False)
        gap = t - tr.t
        if abs(gap) <= SYNC_S or (tr.du is not None and abs(gap) <= CARRY_S):
            r = self._rotation_at(tr.cam, t)
            if r is not None:
                u = np.array(tr.u) if tr.du is None else np.array(tr.u) + np.array(tr.du) * gap
                az, dep = _angles(r @ u)
                return az, dep, now[2], True
        then = sight(tr.pose, tr.lat, tr.lon, tr.alt)
        az, dep = _angles(camera_rotation(tr.pose) @ np.array(tr.u))
        return az + _wrap(now[0] - then[0]), dep + now[1] - then[1], now[2], False

    def _rotation_at(self, cam: str, t: float) -> npt.NDArray[np.float64] | None:
        """Camera ``cam``'s rotation to NED (3, 3) at ``t`` (s): of its frame then (within ``SYNC_S``), or
        interpolated between its two frames around ``t`` (at most ``CARRY_S`` apart); None when neither."""
        views = self._views.get(cam, ())
        for (t1, r1), (t2, r2) in itertools.pairwise([(-math.inf, None), *views, (math.inf, None)]):
            if t1 - SYNC_S <= t <= t2 + SYNC_S:
                if r1 is not None and abs(t - t1) <= SYNC_S:
                    return r1
                if r2 is not None and abs(t - t2) <= SYNC_S:
                    return r2
                if r1 is not None and r2 is not None and t1 < t < t2 and t2 - t1 <= CARRY_S:
                    return r1 @ rotation_matrix(rotation_vector(r1.T @ r2) * ((t - t1) / (t2 - t1)))
        return None

    def _members(self, object_id: int) -> list[tuple[TrackKey, _Track]]:
        return [(k, tr) for k, tr in self._tracks.items() if tr.object_id == object_id]

    def _assign(self, batch: FrameEvents) -> FrameEvents:
        t, cam = batch.t_utc, batch.camera_id
        self._newest[cam] = t
        if batch.pose is not None:
            views = self._views.setdefault(cam, deque())
            views.append((t, camera_rotation(batch.pose)))
            while views and t - views[0][0] > self.s.window_s:
                views.popleft()
        for key in [k for k, tr in self._tracks.items() if t - tr.t > self.s.stale_s]:
            del self._tracks[key]  # a track that went quiet without a LOST (a camera that stopped)
        fixes = {
            ev.track_id: self._fix(ev, batch, self._tracks.get((cam, ev.track_id)))
            for ev in batch.events + batch.seen
            if ev.lat is not None and ev.lon is not None
        }
        for track_id, fix in fixes.items():
            self._tracks[(cam, track_id)] = fix
            self._check_join((cam, track_id), fix)
        self._join_new(cam, [(i, f) for i, f in fixes.items() if f.object_id is None or self._alone(cam, f)])
        self._take_over(cam, [f for f in fixes.values() if f.object_id is None])
        self._cross(cam, [((cam, i), f) for i, f in fixes.items() if f.object_id is not None])
        self._join_twins(list(fixes.values()))
        out = []
        for ev in batch.events:
            tr = self._tracks.get((cam, ev.track_id))
            oid = tr.object_id if tr is not None else None
            out.append(ev if oid is None else replace(ev, object_id=oid))
            if ev.kind == EventKind.LOST:
                self._tracks.pop((cam, ev.track_id), None)
            elif tr is not None:
                tr.sent = oid
        for ev in batch.seen:  # rule 4: a track whose object id changed says so in its next frame
            tr = self._tracks.get((cam, ev.track_id))
            if tr is not None and tr.object_id != tr.sent:
                out.append(replace(ev, object_id=tr.object_id))
                tr.sent = tr.object_id
                self._announced += 1
        return replace(batch, events=tuple(out), seen=())

    def _announce(self, cam: str) -> list[FrameEvents]:
        """Rule 4 for the other cameras' tracks whose object id a join in camera ``cam``'s frame changed: each one's
        newest event again with the new id, as an UPDATE in a batch of its own camera's frame (one per frame)."""
        frames: dict[tuple[str, int, float], list[_Track]] = {}
        for k, tr in self._tracks.items():
            if k[0] != cam and tr.object_id is not None and tr.object_id != tr.sent and tr.ev is not None:
                frames.setdefault((k[0], tr.seq, tr.t), []).append(tr)
        out = []
        for (other, seq, t), trs in frames.items():
            events = []
            for tr in trs:
                assert tr.ev is not None
                events.append(replace(tr.ev, kind=EventKind.UPDATE, object_id=tr.object_id))
                tr.sent = tr.object_id
                self._announced += 1
            out.append(FrameEvents(other, seq, t, trs[0].pose, tuple(events), trs[0].sensor))
        return out

    def _fresh_others(self, cam: str, fix: _Track) -> list[tuple[TrackKey, _Track]]:
        return [(k, o) for k, o in self._tracks.items() if k[0] != cam and abs(fix.t - o.t) <= self.s.window_s]

    def _check_join(self, key: TrackKey, fix: _Track) -> None:
        """Rule 1: a joined track whose partners, fresh, stay outside the gate leaves its object."""
        if fix.object_id is None:
            return
        fresh = [(k, o) for k, o in self._fresh_others(key[0], fix) if o.object_id == fix.object_id]
        if not fresh:
            return
        compared = [(k, o, *self._compare(fix, o)) for k, o in fresh]
        inside = [(k, o, apart) for k, o, score, apart in compared if score <= self.s.gate_sigma]
        for k, o, apart in inside:
            self._learn((key, k), fix, o, apart)
        if inside:
            fix.misses = 0
            return
        fix.misses += 1
        if fix.misses >= self.s.split_after:
            fix.object_id, fix.misses = None, 0
            self._splits += 1

    def _holds(self, object_id: int, cam: str, fix: _Track) -> bool:
        """Rule 3: the object holds a track of camera ``cam`` heard of at most join_within_s ago that ``fix``'s track
        cannot be the continuation of: one heard of since ``fix``'s track was born (the camera saw both at once),
        or one whose newest fix is outside the gate of ``fix``."""
        return any(
            k[0] == cam
            and o is not fix
            and fix.t - o.t <= self.s.join_within_s
            and (o.t >= fix.born or self._score(fix, o) > self.s.gate_sigma)
            for k, o in self._members(object_id)
        )

    def _join_new(self, cam: str, fixes: list[tuple[int, _Track]]) -> None:
        """Rules 2 and 3: the frame's unjoined fixes against the other cameras' live tracks, paired so that the sum
        of the scores is least (a shared offset of one camera's fixes does not swap two close objects)."""
        others = [(key, o) for key, o in self._tracks.items() if key[0] != cam and o.t >= self._newest[key[0]]]
        cost = [[FORBIDDEN] * len(others) for _ in fixes]
        for i, (_, fix) in enumerate(fixes):
            for j, (_, other) in enumerate(others):
                if other.object_id is not None and self._holds(other.object_id, cam, fix):
                    continue
                if abs(fix.t - other.t) <= self.s.join_within_s and compatible(fix.class_name, other.class_name):
                    score = self._score(fix, other)
                    if score <= self.s.gate_sigma:
                        cost[i][j] = score
        for i, j in least_cost_pairs(cost):
            if cost[i][j] >= FORBIDDEN:
                continue
            other = others[j][1]
            fix = fixes[i][1]
            if other.object_id is None:  # a lone member keeps its id
                other.object_id, self._next_id = fix.object_id or self._next_id, self._next_id + (not fix.object_id)
            for k, stale in self._members(other.object_id):
                if k[0] == cam and stale is not fix:
                    stale.object_id = None  # this camera's old track of it, silent since: the new one takes over
            fix.object_id = other.object_id
            self._joins += 1

    def _alone(self, cam: str, fix: _Track) -> bool:
        """Rule 7: ``fix``'s object has no track of another camera heard of within window_s (they were lost)."""
        return fix.object_id is not None and not any(
            k[0] != cam and fix.t - o.t <= self.s.window_s for k, o in self._members(fix.object_id)
        )

    def _take_over(self, cam: str, fixes: list[_Track]) -> None:
        """Rule 6: an unjoined track that lies nearer than its camera's track in an object to that object's track of
        another camera, ``split_after`` frames in a row, takes its camera's place in the object (the first join was
        made while each camera saw only one of two close objects)."""
        for fix in fixes:
            best: tuple[float, TrackKey, _Track] | None = None
            for key, other in self._tracks.items():
                if key[0] == cam or other.object_id is None or other.t < self._newest[key[0]]:
                    continue
                if abs(fix.t - other.t) > self.s.join_within_s or not compatible(fix.class_name, other.class_name):
                    continue
                rivals = [o for k, o in self._members(other.object_id) if k[0] == cam and o.t == fix.t]
                score = self._score(fix, other)
                if rivals and score < min(self._score(r, other) for r in rivals) and (best is None or score < best[0]):
                    best = (score, key, other)
            if best is None or best[0] > self.s.gate_sigma:
                fix.wins, fix.wins_for = 0, None
                continue
            fix.wins = fix.wins + 1 if fix.wins_for == best[1] else 1
            fix.wins_for = best[1]
            if fix.wins >= self.s.split_after:
                for k, o in self._members(best[2].object_id or 0):
                    if k[0] == cam:
                        o.object_id, o.misses = None, 0
                fix.object_id, fix.wins, fix.wins_for = best[2].object_id, 0, None
                self._swaps += 1

    def _cross(self, cam: str, fixes: list[tuple[TrackKey, _Track]]) -> None:
        """Rule 8: two joined tracks of this frame whose objects' tracks of another camera (in that camera's newest
        frame) fit them crossed better (the least sum of scores, each crossed pair inside the gate), ``split_after``
        frames in a row, exchange objects (the tracker of one camera swapped two close objects, or a new track took
        a lost one's place on the wrong one of two). Better by ``CROSS_MARGIN``: two objects side by side, rightly
        joined, fit crossed worse by several gate units, and the noise must not swap them."""
        partner: dict[TrackKey, tuple[TrackKey, _Track]] = {}
        for key, fix in fixes:
            mates = [
                (k, o)
                for k, o in self._members(fix.object_id or 0)
                if k[0] != cam and abs(fix.t - o.t) <= self.s.join_within_s
            ]
            if len(mates) == 1:
                partner[key] = mates[0]
        best: dict[TrackKey, tuple[float, TrackKey]] = {}
        compared: set[TrackKey] = set()
        for (ka, a), (kb, b) in itertools.combinations(fixes, 2):
            if ka not in partner or kb not in partner or partner[ka][0][0] != partner[kb][0][0]:
                continue
            pa, pb = partner[ka][1], partner[kb][1]
            if not (compatible(a.class_name, pb.class_name) and compatible(b.class_name, pa.class_name)):
                continue
            compared |= {ka, kb}
            now = self._score(a, pa) + self._score(b, pb)
            xa, xb = self._score(a, pb), self._score(b, pa)
            if max(xa, xb) <= self.s.gate_sigma and xa + xb + CROSS_MARGIN < now:
                gain = now - xa - xb
                for k, other in ((ka, kb), (kb, ka)):
                    if k not in best or gain > best[k][0]:
                        best[k] = (gain, other)
        for key, fix in fixes:
            if key in compared and key not in best:
                fix.crossed, fix.crossed_with = 0, None
            if key not in best:
                continue
            with_ = best[key][1]
            fix.crossed = fix.crossed + 1 if fix.crossed_with == with_ else 1
            fix.crossed_with = with_
        for key, fix in fixes:
            mate = self._tracks.get(fix.crossed_with) if fix.crossed_with else None
            if mate is None or mate.crossed_with != key or min(fix.crossed, mate.crossed) < self.s.split_after:
                continue
            fix.object_id, mate.object_id = mate.object_id, fix.object_id
            fix.crossed = mate.crossed = 0
            fix.crossed_with = mate.crossed_with = None
            fix.misses = mate.misses = 0
            self._crosses += 1

    def _join_twins(self, fixes: list[_Track]) -> None:
        """Rule 5: a track on the same box as a joined track of its camera in this frame (IoU >= twin_iou: the
        tracker follows one object twice) is in that object too."""
        joined = [f for f in fixes if f.object_id is not None]
        for fix in fixes:
            if fix.object_id is not None:
                continue
            twin = max(joined, key=lambda j: iou(fix.box, j.box), default=None)
            if twin and iou(fix.box, twin.box) >= self.s.twin_iou and compatible(fix.class_name, twin.class_name):
                fix.object_id = twin.object_id
                self._twins += 1

    def health(self) -> Health:
        with self._lock:
            objects = {tr.object_id for tr in self._tracks.values() if tr.object_id is not None}
            h: Health = {"tracks": len(self._tracks), "objects": len(objects), "joins": self._joins}
            return {
                **h,
                "splits": self._splits,
                "announced": self._announced,
                "twins": self._twins,
                "swaps": self._swaps,
                "crosses": self._crosses,
                "held": self._order.held,
                "hold_s": round(self._order.hold_s, 3),
                "late": self._order.late,
                "boresight": {f"{a}/{b}": p.health() for (a, b), p in sorted(self._boresight.items())},
            }


class Boresight:
    """Two cameras' relative pointing error, learnt from the objects both saw: the differences (rad) of two joined
    tracks' lines of sight compared through the poses of one time, across (``az``, times the cosine of the
    depression) and down (``dep``), over the last ``KEEP`` such sightings.

    Each pair of tracks has one vote, at the median of its sightings; the offset is the median of the sightings of
    the pairs that agree (within ``AGREE_RAD``) with the most other pairs, and is ``learnt()`` once ``NEED_PAIRS``
    pairs with ``NEED`` sightings agree (it is kept, and moved only by windows where three pairs agree). A wrong
    join (a track of one walker with the other camera's track of his neighbour, 0.4-0.8 deg apart, which the
    unlearnt gate admits) gives one pair many sightings at a camera's frame rate (ten in a second at 10 fps):
    counted by sightings, it was the offset from its 5th on, and then the right pairs fell outside the gate and were
    never joined to correct it (mss-ridge-pair at 10 fps: 0.81 deg learnt, 1.4 % of the objects both saw joined).
    Distinct pairs that agree are distinct objects, or one object tracked again."""

    KEEP = 256
    NEED = 5
    NEED_PAIRS = 3
    AGREE_RAD = math.radians(0.15)  # 3 sigma of one sighting's spread (the boxes: ~0.05 deg)
    EVERY = 8  # sightings between two estimates, once learnt (an estimate costs O(pairs^2))

    def __init__(self) -> None:
        self._seen: deque[tuple[float, float, tuple[TrackKey, ...]]] = deque(maxlen=self.KEEP)
        self.az = self.dep = 0.0
        self._agree = 0  # sightings the offset rests on
        self._pairs = 0  # pairs of tracks among them
        self._since = 0
        self._learnt = False

    def add(self, d_az: float, d_dep: float, pair: tuple[TrackKey, ...]) -> None:
        """One sighting of the pair of tracks ``pair`` (their keys), ``d_az`` across and ``d_dep`` down (rad)."""
        self._seen.append((d_az, d_dep, pair))
        self._since += 1
        if not self.learnt() or self._since >= self.EVERY:
            self._estimate()

    def _estimate(self) -> None:
        self._since = 0
        by_pair: dict[tuple[TrackKey, ...], list[tuple[float, float]]] = {}
        for d_az, d_dep, pair in self._seen:
            by_pair.setdefault(pair, []).append((d_az, d_dep))
        votes = {
            p: (statistics.median(a for a, _ in v), statistics.median(d for _, d in v)) for p, v in by_pair.items()
        }

        def agreeing(at: tuple[float, float]) -> list[tuple[TrackKey, ...]]:
            return [p for p, v in votes.items() if math.hypot(v[0] - at[0], v[1] - at[1]) <= self.AGREE_RAD]

        best = max((agreeing(v) for v in votes.values()), key=lambda ps: (len(ps), sum(len(by_pair[p]) for p in ps)))
        sightings = [s for p in best for s in by_pair[p]]
        self._agree, self._pairs = len(sightings), len(best)
        if self._agree >= self.NEED and self._pairs >= self.NEED_PAIRS:
            self.az, self.dep = statistics.median(a for a, _ in sightings), statistics.median(d for _, d in sightings)
            self._learnt = True

    def learnt(self) -> bool:
        """Three pairs agreed once (the offset is kept while one object fills the window: a lone pair seen for long)."""
        return self._learnt

    def doubt(self) -> float:
        """The 1-sigma error of the learnt offsets in units of one sighting's: a median's, 1.25 / sqrt(n)."""
        return 1.25 / math.sqrt(max(self._agree, 1))

    def health(self) -> dict[str, float | int]:
        """Its figures for the health record: offsets (deg, 0 until learnt), the sightings they rest on, and the
        pairs of tracks those came from."""
        return {
            "across_deg": round(math.degrees(self.az), 3),
            "down_deg": round(math.degrees(self.dep), 3),
            "n": self._agree,
            "pairs": self._pairs,
        }


def _pair_key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two boxes x1 y1 x2 y2 (0 when either is empty)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0.0) * max(h, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def least_cost_pairs(cost: list[list[float]]) -> list[tuple[int, int]]:
    """The one-to-one pairs (row, column) of least total cost of an n x m matrix (the Hungarian method, O(n^2 m));
    every row of the smaller side gets a partner, so mark impossible pairs with a large cost and drop them after."""
    if not cost or not cost[0]:
        return []
    flip = len(cost) > len(cost[0])
    a = [list(col) for col in zip(*cost, strict=True)] if flip else cost
    n, m = len(a), len(a[0])
    u, v = [0.0] * (n + 1), [0.0] * (m + 1)
    match, way = [0] * (m + 1), [0] * (m + 1)  # match[j]: the row (1-based) in column j
    for i in range(1, n + 1):
        match[0], j0 = i, 0
        minv, used = [math.inf] * (m + 1), [False] * (m + 1)
        while True:
            used[j0] = True
            i0, delta, j1 = match[j0], math.inf, 0
            for j in range(1, m + 1):
                if not used[j]:
                    cur = a[i0 - 1][j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j], way[j] = cur, j0
                    if minv[j] < delta:
                        delta, j1 = minv[j], j
            for j in range(m + 1):
                if used[j]:
                    u[match[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if match[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            match[j0] = match[j1]
            j0 = j1
    pairs = [(match[j] - 1, j - 1) for j in range(1, m + 1) if match[j]]
    return sorted((c, r) for r, c in pairs) if flip else sorted(pairs)


def _in_camera(r: npt.NDArray[np.float64], azimuth: float, depression: float) -> tuple[float, float, float]:
    """The NED direction of ``azimuth``, ``depression`` (rad) in the frame of a camera whose rotation to NED is
    ``r`` (3, 3): a unit vector."""
    c = math.cos(depression)
    x, y, z = r.T @ np.array([c * math.cos(azimuth), c * math.sin(azimuth), math.sin(depression)])
    return float(x), float(y), float(z)


def _angles(ned: npt.NDArray[np.float64]) -> tuple[float, float]:
    """Azimuth and depression (rad) of a direction (3,) in NED (any length)."""
    n, e, d = (float(v) for v in ned)
    return math.atan2(e, n), math.atan2(d, math.hypot(n, e))


def _wrap(a: float) -> float:
    """Angle (rad) wrapped to [-pi, pi)."""
    return (a + math.pi) % (2.0 * math.pi) - math.pi
