"""ConsoleHub: what the console knows, fed by the pipeline without ever making it wait.

The pipeline's threads only hand things over: ``observe`` keeps the newest frame per camera (one slot, latest
wins), ``submit`` appends a frame's events to a bounded inbox (the oldest batch is dropped when 512 wait),
``report_health`` keeps the newest snapshot. The server's thread calls ``drain`` to turn what arrived into the
state the pages show (alerts, current tracks, trails, the platform's pose) and the messages it pushes. Every
buffer is bounded, so a console left running for a day holds the same memory as after a minute.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge.stages import Health
from edge.types import EventKind, Frame, FrameEvents, GeoEvent, Pose

MAX_ALERTS = 200  # new-track alerts kept for the events page
MAX_TRACKS = 256  # current tracks (boxes, trails) kept over all cameras
TRAIL_POINTS = 60  # positions kept per track for its trail
TRACK_TTL_S = 10.0
MAX_THUMBNAILS = 16  # thumbnails sent on request kept for the events page (images in memory)  # a track not heard of for this long leaves the live view

Json = dict[str, Any]


@dataclass
class TrackState:
    """The newest event of one track and its trail of positions [(lat, lon), ...]."""

    camera: str
    event: GeoEvent
    seen: float  # monotonic s of the batch that last mentioned it
    t_utc: float  # capture time of the frame of ``event``, POSIX s
    trail: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=TRAIL_POINTS))


def event_json(ev: GeoEvent, camera: str, t_utc: float) -> Json:
    """A GeoEvent as the pages see it (rounded: 7 decimals of a degree is ~1 cm)."""

    def rnd(v: float | None, nd: int) -> float | None:
        return None if v is None else round(v, nd)

    return {
        "t_utc": round(t_utc, 3),
        "camera": camera,
        "track_id": ev.track_id,
        "object_id": ev.object_id,
        "class": ev.class_name,
        "confidence": round(ev.confidence, 3),
        "kind": ev.kind.name.lower(),
        "box": [round(x, 5) for x in ev.bbox_norm],
        "lat": rnd(ev.lat, 7),
        "lon": rnd(ev.lon, 7),
        "alt": rnd(ev.alt, 1),
        "error_m": rnd(ev.error_m, 1),
        "range_m": rnd(ev.range_m, 1),
        "no_fix": ev.no_fix_reason,
    }


def pose_json(pose: Pose | None) -> Json | None:
    """The platform's position (deg, m) and heading, camera angles (deg) for the map."""
    if pose is None:
        return None
    return {
        "lat": round(pose.lat, 7),
        "lon": round(pose.lon, 7),
        "alt": round(pose.alt, 1),
        "yaw_deg": round(math.degrees(pose.yaw) % 360.0, 1),
        "cam_yaw_deg": round(math.degrees(pose.cam_yaw), 1),
        "cam_pitch_deg": round(math.degrees(pose.cam_pitch), 1),
        "cam_frame": pose.cam_frame,
    }


class ConsoleHub:
    """An EventSink and a frame observer for the pipeline, a health sink for the daemon; state for the server."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._inbox: deque[FrameEvents] = deque(maxlen=512)
        self._frames: dict[str, Frame] = {}
        self._health: Json | None = None
        self._wake: Callable[[], None] | None = None
        self._woken = threading.Event()  # set while a wake-up is pending: one call_soon_threadsafe per drain
        self._observers: list[Callable[[Frame, float, float], None]] = []
        self.alerts: deque[Json] = deque(maxlen=MAX_ALERTS)
        self.tracks: OrderedDict[tuple[str, int], TrackState] = OrderedDict()
        self.poses: dict[str, Json] = {}  # camera -> last pose seen with its events
        self.pose_objs: dict[str, Pose] = {}
        self.health: Json | None = None
        self.counts: dict[tuple[str, str], int] = {}  # (kind, class) -> events
        self.dropped_batches = 0
        self._alert_ids = itertools.count(1)
        self._thumb_in: deque[tuple[Json, bytes]] = deque(maxlen=MAX_THUMBNAILS)
        self.thumbnails: OrderedDict[int, tuple[Json, bytes]] = OrderedDict()  # id -> (description, image)
        self._thumb_ids = itertools.count(1)

    # -- the pipeline's side (any thread, never blocks) ------------------------------------------------------
    def submit(self, batch: FrameEvents) -> None:
        """EventSink: hand over a frame's events."""
        if len(self._inbox) == self._inbox.maxlen:
            self.dropped_batches += 1
        self._inbox.append(batch)
        self._poke()

    def observe(self, frame: Frame, t_infer: float) -> None:
        """Pipeline observer: the newest frame of its camera (kept by reference, one slot), after its tracking."""
        self._frames[frame.camera_id] = frame
        now = self.clock()
        for fn in self._observers:
            fn(frame, t_infer, now)

    def report_health(self, snapshot: dict[str, object]) -> None:
        """The daemon's health snapshot (the same as health.json)."""
        self._health = dict(snapshot)
        self._poke()

    def thumbnail(self, meta: Json, data: bytes) -> None:
        """A thumbnail the vehicle sent on request (its answer's description and the image); shown by its alert."""
        self._thumb_in.append((meta, data))
        self._poke()

    def on_frame(self, fn: Callable[[Frame, float, float], None]) -> None:
        """Also call ``fn(frame, t_infer, t_done)`` (monotonic s) per observed frame: for the metrics' histograms."""
        self._observers.append(fn)

    def set_wake(self, wake: Callable[[], None] | None) -> None:
        """``wake()`` is called (from any thread) when something arrived; it must only schedule, never block."""
        self._wake = wake
        self._woken.clear()

    def _poke(self) -> None:
        wake = self._wake
        if wake is not None and not self._woken.is_set():
            self._woken.set()
            wake()

    # -- the server's side ----------------------------------------------------------------------------------
    def latest_frame(self, camera: str) -> Frame | None:
        return self._frames.get(camera)

    def cameras(self) -> list[str]:
        return sorted(self._frames)

    def drain(self) -> list[tuple[str, Json]]:
        """Take what arrived; update the state; return the messages to push: ("alert" | "events" | "health", data)."""
        self._woken.clear()
        out: list[tuple[str, Json]] = []
        now = self.clock()
        while self._inbox:
            batch = self._inbox.popleft()
            evs = [event_json(ev, batch.camera_id, batch.t_utc) for ev in batch.events]
            pose = pose_json(batch.pose)
            if pose is not None and batch.pose is not None:
                self.poses[batch.camera_id] = pose
                self.pose_objs[batch.camera_id] = batch.pose
            for ev, js in zip(batch.events, evs, strict=True):
                self._track(batch.camera_id, ev, now, batch.t_utc)
                key = (js["kind"], ev.class_name)
                self.counts[key] = self.counts.get(key, 0) + 1
                if ev.kind == EventKind.NEW:
                    alert = {"id": next(self._alert_ids), **js, "ack": None}
                    self.alerts.append(alert)
                    out.append(("alert", alert))
            out.append(
                ("events", {"camera": batch.camera_id, "frame_seq": batch.frame_seq, "pose": pose, "events": evs})
            )
        while self._thumb_in:
            meta, data = self._thumb_in.popleft()
            n = next(self._thumb_ids)
            js = {k: meta.get(k) for k in ("camera", "track", "frame", "requester", "bytes", "t_utc", "class")}
            js["url"] = f"/api/thumbnail/{n}"
            self.thumbnails[n] = (js, data)
            while len(self.thumbnails) > MAX_THUMBNAILS:
                self.thumbnails.popitem(last=False)
            out.append(("thumbnail", js))
        health, self._health = self._health, None
        if health is not None:
            self.health = health
            out.append(("health", health))
        self._expire(now)
        return out

    def _track(self, camera: str, ev: GeoEvent, now: float, t_utc: float) -> None:
        key = (camera, ev.track_id)
        if ev.kind == EventKind.LOST:
            self.tracks.pop(key, None)
            return
        st = self.tracks.get(key)
        if st is None:
            st = self.tracks[key] = TrackState(camera, ev, now, t_utc)
            while len(self.tracks) > MAX_TRACKS:
                self.tracks.popitem(last=False)
        st.event, st.seen, st.t_utc = ev, now, t_utc
        self.tracks.move_to_end(key)
        if ev.lat is not None and ev.lon is not None:
            st.trail.append((round(ev.lat, 7), round(ev.lon, 7)))

    def _expire(self, now: float) -> None:
        while self.tracks:
            key, st = next(iter(self.tracks.items()))
            if now - st.seen <= TRACK_TTL_S:
                break
            del self.tracks[key]

    def boxes(self, camera: str) -> list[Json]:
        """The current tracks of ``camera`` as boxes (fractions of the image) with class, confidence, track id."""
        return [
            {
                "track_id": st.event.track_id,
                "class": st.event.class_name,
                "confidence": round(st.event.confidence, 3),
                "box": [round(x, 5) for x in st.event.bbox_norm],
            }
            for st in self.tracks.values()
            if st.camera == camera
        ]

    def map_state(self) -> Json:
        """Everything the map draws: poses per camera, current tracks with their trails and error circles."""
        tracks = []
        for (camera, tid), st in self.tracks.items():
            ev = st.event
            tracks.append(
                {
                    "camera": camera,
                    "track_id": tid,
                    "t_utc": round(st.t_utc, 3),
                    "class": ev.class_name,
                    "confidence": round(ev.confidence, 3),
                    "lat": ev.lat,
                    "lon": ev.lon,
                    "error_m": None if ev.error_m is None else round(ev.error_m, 1),
                    "trail": list(st.trail),
                }
            )
        return {"poses": self.poses, "tracks": tracks}

    def stage_health(self) -> Health:
        return {"alerts": len(self.alerts), "tracks": len(self.tracks), "dropped_batches": self.dropped_batches}
