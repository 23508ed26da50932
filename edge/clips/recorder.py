"""The evidence recorder: a sink like the spool and the GCS alerter (takes events without blocking, reports its
health) that keeps the seconds around new-track alerts as MPEG-TS clips with MISB ST 0601 KLV.

Threads: "clips-grab" hands the camera's newest frame to ffmpeg ``fps`` times a second (it peeks at the camera's
slot, never taking a frame from the detector), restarting ffmpeg with backoff when it fails or the frame size
changes; frames that come while ffmpeg is busy are simply not recorded. "clips-mux" reads ffmpeg's access
units, gives each its frame's capture time as PTS and its KLV packet (the pose store's pose at that time), writes
them into the ring's segments, cuts clips once their last second is recorded, and prunes the ring and the kept
clips. A clip is ``<UTC time>-<camera>-<class>-track<id>.ts`` with a ``.json`` sidecar: the alerts it holds and, per
frame, the pose it was written with.
"""

from __future__ import annotations

import collections
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edge.clips import klv
from edge.clips.encoder import Encoder, EncoderError, Remuxer, pixel_format, probe
from edge.clips.metadata import View, sample
from edge.clips.ring import Ring, prune
from edge.clips.settings import ClipSettings
from edge.clips.ts import CLOCK_HZ, TsMuxer, is_keyframe
from edge.geo.orientation import Mounting, camera_attitude
from edge.ops.backoff import Backoff
from edge.sources.camera_settings import CameraSettings
from edge.stages import Health
from edge.types import EventKind, Frame, FrameEvents, Pose

log = logging.getLogger(__name__)

PoseAt = Callable[[float], Pose | None]
PRUNE_EVERY_S = 60.0
STALE_S = 2.0  # a camera frame older than this is not recorded (the camera stalled: a gap, not a frozen picture)


@dataclass(frozen=True)
class _Shot:
    """What a recorded frame shows: its capture time (t_mono, t_utc s), size (px), camera frame number (-1: none)."""

    t_mono: float
    t_utc: float
    width: int
    height: int
    seq: int = -1


@dataclass
class _Clip:
    """A clip waiting for its last second: [t0, t1] t_mono s."""

    t0: float
    t1: float
    name: str
    alerts: list[dict[str, Any]] = field(default_factory=list)
    tracks: set[int] = field(default_factory=set)


class ClipRecorder:
    """A Stage and an EventSink. ``peek()`` gives the camera's newest frame (or None) without taking it."""

    def __init__(
        self,
        settings: ClipSettings,
        folder: Path,
        camera: CameraSettings,
        peek: Callable[[], Frame | None],
        pose_at: PoseAt,
        view: View,
        mounting: Mounting,
        to_utc: Callable[[float], float],
    ) -> None:
        self.s = settings
        self.name = f"clips:{camera.id}"
        self.folder = folder
        self.camera_id = camera.id
        self._camera = camera
        self._peek, self._pose_at, self._view, self._mounting, self._to_utc = peek, pose_at, view, mounting, to_utc
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)  # personal data: the daemon's user only
        self.ring = Ring(folder / "ring" / camera.id, settings.ring_s, int(settings.ring_mb * 1e6))
        self._classes = set(settings.classes)
        self._alerts: queue.SimpleQueue[FrameEvents] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._encoders: queue.Queue[Encoder | Remuxer | None] = queue.Queue()
        self._pending: collections.deque[tuple[_Shot, float, int]] = (
            collections.deque()
        )  # in ffmpeg: shot, tick, session
        self._seq_t: collections.deque[tuple[int, float]] = collections.deque(maxlen=4096)  # recorded (seq, t_mono)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._muxer = TsMuxer()
        self._open: _Clip | None = None
        self._targets: dict[int, tuple[float, float, float]] = {}  # the open clip's tracks' latest fixes
        self._cpu = {"grab": 0.0, "mux": 0.0}
        self._ffmpeg_cpu_done = 0.0
        self._encoder: Encoder | Remuxer | None = None
        self._fresh = True  # the next keyframe starts a segment (a new ffmpeg session)
        self.source = settings.source  # "encode" or "remux" once decided
        self.state = "stopped"
        self.last_error = ""
        self.frames = self.units = self.clips = self.restarts = self.dropped_alerts = 0
        self.write_errors = self.clip_errors = 0  # the ring's writes and clips that failed (a full disk)
        self.last_clip = ""

    # -- Stage ----------------------------------------------------------------------------------------------
    def start(self) -> None:
        prune(self.folder, self.s.keep_days * 86400, int(self.s.keep_mb * 1e6))
        self._threads = [
            threading.Thread(target=self._source_loop, name="clips-grab", daemon=True),
            threading.Thread(target=self._mux_loop, name="clips-mux", daemon=True),
        ]
        self.state = "starting"
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        """Stop taking frames; ffmpeg finishes what it holds, open clips are cut from what was recorded."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=3)
        self.ring.close()
        self.state = "stopped"

    def health(self) -> Health:
        enc = self._encoder
        with self._lock:
            ffmpeg = self._ffmpeg_cpu_done + (enc.cpu_s() if enc else 0.0)
            return {
                "state": self.state,
                "source": self.source,
                "frames": self.frames,
                "units": self.units,
                "ring_s": round(self.ring.span_s(), 1),
                "ring_bytes": self.ring.size,
                "segments_evicted": self.ring.evicted,
                "clips": self.clips,
                "clip_errors": self.clip_errors,
                "write_errors": self.write_errors,
                "clip_open": self._open.name if self._open else None,
                "last_clip": self.last_clip,
                "ffmpeg_restarts": self.restarts,
                "ffmpeg_cpu_s": round(ffmpeg, 3),
                "cpu_s": round(ffmpeg + sum(self._cpu.values()), 3),  # ffmpeg's and the recorder's threads
                "last_error": self.last_error,
            }

    # -- EventSink ------------------------------------------------------------------------------------------
    def submit(self, batch: FrameEvents) -> None:
        """Never blocks: the mux thread looks at the batch (alerts of the chosen classes, their tracks' fixes)."""
        if batch.camera_id == self.camera_id:
            self._alerts.put(batch)

    # -- grab thread ----------------------------------------------------------------------------------------
    def _grab_loop(self) -> None:
        """Every 1/fps s, the camera's newest frame to ffmpeg: a constant frame rate (a frame repeats while the camera
        is slower), so that a keyframe every fps x segment_s frames is one every segment_s seconds."""
        backoff = Backoff(0.5, 10.0)
        period = 1.0 / self.s.fps
        last_seq = -1
        enc: Encoder | None = None
        next_t = time.monotonic()
        while not self._stop.is_set():
            self._cpu["grab"] = time.thread_time()
            tick = time.monotonic()
            frame = self._peek()
            if frame is not None and tick - frame.t_mono <= STALE_S:
                if frame.seq != last_seq:
                    last_seq = frame.seq
                    self._seq_t.append((frame.seq, frame.t_mono))
                enc = self._record(enc, frame, tick, backoff)
            next_t = max(next_t + period, time.monotonic())
            self._stop.wait(next_t - time.monotonic())
        self._end(enc)
        self._encoders.put(None)

    def _record(self, enc: Encoder | None, frame: Frame, tick: float, backoff: Backoff) -> Encoder | None:
        """Hand ``frame`` to ffmpeg as the frame of ``tick`` (t_mono s), starting ffmpeg when needed; the encoder
        to use next time (None after a failure)."""
        try:
            size = (frame.width, frame.height, pixel_format(frame.image))
        except EncoderError as err:
            self._end(enc)
            self._fail(str(err))
            backoff.wait(self._stop)
            return None
        if enc is not None and enc.size != size:
            self._end(enc)
            enc = None
        if enc is None and (enc := self._begin(size, backoff)) is None:
            return None
        self._pending.append((_Shot(frame.t_mono, frame.t_utc, frame.width, frame.height, frame.seq), tick, enc.serial))
        if not enc.write(frame.image):
            self._fail("ffmpeg stopped taking frames")
            self._end(enc)
            return None
        with self._lock:
            self.frames += 1
        return enc

    def _source_loop(self) -> None:
        """``clips.source``: remux, encode, or auto: remux a network stream or video file that ffprobe finds to be
        H.264/H.265, encode anything else (a V4L2 device or a pipeline is never opened twice)."""
        url = self.s.remux_url or self._camera.url
        remux = self.s.source == "remux"
        if self.s.source == "auto" and ("://" in url or Path(url).is_file()) and "!" not in url:
            try:
                probe(self.s, url)
                remux = True
            except EncoderError as err:
                log.info("%s: encoding the camera's frames (%s)", self.name, err)
        self.source = "remux" if remux else "encode"
        if remux:
            self._remux_loop()
        else:
            self._grab_loop()

    def _remux_loop(self) -> None:
        """The camera's own H.264/H.265 stream (``clips.remux_url`` or ``camera.url``) copied by ffmpeg; reopened
        with backoff when it ends or fails."""
        url = self.s.remux_url or self._camera.url
        file_rate = Path(url).is_file()  # a video file plays at its own rate, as the camera replays it
        backoff = Backoff(0.5, 10.0)
        while not self._stop.is_set():
            self._cpu["grab"] = time.thread_time()
            try:
                codec, width, height = probe(self.s, url)
                rem = Remuxer(self.s, url, codec, (width, height), file_rate, self._camera.loop, self._log_path)
            except EncoderError as err:
                self._fail(str(err))
                backoff.wait(self._stop)
                continue
            self.state = "recording"
            with self._lock:
                self._encoder = rem
            self._encoders.put(rem)
            while rem.proc.poll() is None and not self._stop.wait(0.2):
                pass
            rem.finish_input()
            if not self._stop.is_set():
                self._fail(f"the stream to remux ended (ffmpeg exit {rem.proc.wait()})")
                backoff.wait(self._stop)
        self._encoders.put(None)

    def _begin(self, size: tuple[int, int, str], backoff: Backoff) -> Encoder | None:
        try:
            enc = Encoder(self.s, *size, self._log_path)
        except EncoderError as err:
            self._fail(str(err))
            backoff.wait(self._stop)
            return None
        self.state = "recording"
        self._encoder = enc
        self._encoders.put(enc)
        return enc

    @property
    def _log_path(self) -> Path:
        return self.ring.folder / "ffmpeg.log"

    def _end(self, enc: Encoder | None) -> None:
        if enc is not None:
            enc.finish_input()  # the mux thread reads its last units, then closes it

    def _fail(self, why: str) -> None:
        with self._lock:
            self.state, self.last_error = "restarting", why
            self.restarts += 1
        log.warning("%s: %s", self.name, why)

    # -- mux thread -----------------------------------------------------------------------------------------
    def _mux_loop(self) -> None:
        next_prune = time.monotonic() + PRUNE_EVERY_S
        while (enc := self._encoders.get()) is not None:
            self._fresh = True
            if self._muxer.codec != enc.codec:
                self._muxer = TsMuxer(enc.codec)
            while (units := enc.read()) is not None:
                for unit in units:
                    self._mux(enc, unit)
                self._take_alerts()
                self._cut_due(time.monotonic())
                if time.monotonic() > next_prune:
                    next_prune = time.monotonic() + PRUNE_EVERY_S
                    try:
                        prune(self.folder, self.s.keep_days * 86400, int(self.s.keep_mb * 1e6))
                    except OSError as err:  # a clip deleted by hand meanwhile: next time
                        log.warning("%s: pruning %s: %s", self.name, self.folder, err)
                self._cpu["mux"] = time.thread_time()
            cpu = enc.cpu_s()
            enc.close()
            with self._lock:
                self._ffmpeg_cpu_done += cpu
                self._encoder = None
        self._take_alerts()
        if self._open is not None:
            self._cut(self._open, truncated=True)

    def _shot(self, enc: Encoder | Remuxer) -> tuple[_Shot, float] | None:
        """The frame a unit of ``enc`` shows and the tick it is presented at (t_mono s): the frame handed to the
        encoder, or a remuxed unit's arrival (less the camera's latency)."""
        if isinstance(enc, Remuxer):
            tick = time.monotonic()
            t = tick - self._camera.latency_offset_ms / 1e3
            return _Shot(t, self._to_utc(t), enc.size[0], enc.size[1]), tick
        while self._pending and self._pending[0][2] < enc.serial:  # handed to a session that had gone
            self._pending.popleft()
        if not self._pending or self._pending[0][2] != enc.serial:
            return None  # no frame for this unit: should not happen; ignore rather than mislabel it
        shot, tick, _ = self._pending.popleft()
        return shot, tick

    def _mux(self, enc: Encoder | Remuxer, unit: bytes) -> None:
        got = self._shot(enc)
        if got is None:
            return
        shot, tick = got
        key = is_keyframe(unit, enc.codec)
        if self._fresh or (key and self._segment_age(tick) >= 0.5 * self.s.segment_s):
            if not key:
                return  # a segment must start with a keyframe
            self._fresh = False
            try:
                self.ring.start_segment(self._muxer.tables())
            except OSError as err:
                self._write_failed(err)
                return
        pose = self._pose_at(shot.t_mono)
        target = self._target()
        meta: bytes | None = None
        info: dict[str, Any] = {"t_utc": shot.t_utc, "seq": shot.seq}
        if pose is not None:
            meta = klv.encode(sample(pose, shot.t_utc, shot.width, shot.height, self._view, target))
            yaw, pitch, roll = camera_attitude(pose, self._mounting)
            info["pose"] = {
                "lat": pose.lat,
                "lon": pose.lon,
                "alt": pose.alt,
                "yaw_deg": _deg(pose.yaw),
                "pitch_deg": _deg(pose.pitch),
                "roll_deg": _deg(pose.roll),
                "cam_yaw_deg": _deg(yaw),
                "cam_pitch_deg": _deg(pitch),
                "cam_roll_deg": _deg(roll),
            }
            if target is not None:
                info["target"] = list(target)
        pts = round(tick * CLOCK_HZ)  # presentation at the tick: a repeated frame keeps its capture time in the KLV
        try:
            self.ring.add_frame(tick, self._muxer.frame(unit, meta, pts), info)
        except OSError as err:
            self._write_failed(err)
            return
        self.ring.evict(tick)
        with self._lock:
            self.units += 1

    def _write_failed(self, err: OSError) -> None:
        """The ring cannot be written (a full disk): say so, free the oldest segments, start again at a keyframe."""
        gone = self.ring.shrink()
        self._fresh = True
        with self._lock:
            self.write_errors += 1
            self.last_error = f"ring {self.ring.folder}: {err.strerror or err}"
        log.error("%s: %s; %d oldest segments deleted to make room", self.name, self.last_error, gone)

    def _segment_age(self, t: float) -> float:
        frames = self.ring.segments[-1].frames
        return t - frames[0][0] if frames else 0.0

    def _target(self) -> tuple[float, float, float] | None:
        """The open clip's newest known target position (lat, lon, alt), if any."""
        return next(reversed(self._targets.values())) if self._targets else None

    def _take_alerts(self) -> None:
        while True:
            try:
                batch = self._alerts.get_nowait()
            except queue.Empty:
                return
            for ev in batch.events:
                if self._open is not None and ev.track_id in self._open.tracks and ev.lat is not None:
                    self._targets.pop(ev.track_id, None)
                    self._targets[ev.track_id] = (ev.lat, ev.lon or 0.0, ev.alt or 0.0)
                if ev.kind != EventKind.NEW or (self._classes and ev.class_name not in self._classes):
                    continue
                self._alert(batch, ev.track_id, ev.class_name, ev.confidence, ev.lat, ev.lon, ev.alt)

    def _alert(self, batch: FrameEvents, track: int, cls: str, conf: float, *fix: float | None) -> None:
        t = self._frame_time(batch.frame_seq, batch.t_utc)
        record = {"t_utc": batch.t_utc, "track_id": track, "class": cls, "confidence": round(conf, 3)}
        if fix[0] is not None:
            record |= {"lat": fix[0], "lon": fix[1], "alt": fix[2]}
            self._targets[track] = (fix[0], fix[1] or 0.0, fix[2] or 0.0)
        clip = self._open
        if clip is not None and t - self.s.pre_s <= clip.t1:  # overlaps the open clip: extend it
            clip.t1 = min(max(clip.t1, t + self.s.post_s), clip.t0 + self.s.max_clip_s)
        else:
            if clip is not None:
                self._cut(clip)
            stamp = datetime.fromtimestamp(batch.t_utc, timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")[:-4] + "Z"
            name = f"{stamp}-{self.camera_id}-{cls}-track{track}"
            clip = self._open = _Clip(t - self.s.pre_s, t + self.s.post_s, name)
        clip.alerts.append(record)
        clip.tracks.add(track)

    def _frame_time(self, seq: int, t_utc: float) -> float:
        """t_mono of the alert's frame: of the recorded frame nearest to camera frame ``seq``, else from its age
        by the UTC clock (a remuxed stream's units are not the detector's frames)."""
        best = min(self._seq_t, key=lambda st: abs(st[0] - seq), default=None)
        if best is not None and abs(best[0] - seq) <= 2 * self.s.fps:
            return best[1]
        now = time.monotonic()
        return now - max(0.0, self._to_utc(now) - t_utc)

    def _cut_due(self, now: float) -> None:
        newest = self.ring.newest()
        clip = self._open
        if clip is not None and newest is not None and (newest >= clip.t1 or now > clip.t1 + 5.0):
            self._cut(clip)

    def _cut(self, clip: _Clip, truncated: bool = False) -> None:
        self._open = None
        self._targets.clear()
        path = self.folder / f"{clip.name}.ts"
        try:
            held = self.ring.extract(clip.t0, clip.t1, path)
            frames = [info for _, info in held]
            if frames:
                path.with_suffix(".json").write_text(json.dumps(self._sidecar(clip, held, truncated)))
        except OSError as err:  # a full disk, a ring segment gone
            path.unlink(missing_ok=True)
            path.with_suffix(".json").unlink(missing_ok=True)
            with self._lock:
                self.clip_errors += 1
                self.last_error = f"clip {path}: {err.strerror or err}"
            log.error("%s: %s", self.name, self.last_error)
            return
        if not frames:
            log.warning("%s: no video for clip %s", self.name, clip.name)
            return
        with self._lock:
            self.clips += 1
            self.last_clip = path.name
        log.info("%s: clip %s (%d frames, %.1f s)", self.name, path.name, len(frames), _span(frames))

    def _sidecar(self, clip: _Clip, held: list[tuple[float, dict[str, Any]]], truncated: bool) -> dict[str, Any]:
        """The clip's ``.json``: its alerts, window and each frame's pose."""
        frames = [info for _, info in held]
        return {
            "camera": self.camera_id,
            "alerts": clip.alerts,
            "pre_s": self.s.pre_s,
            "post_s": self.s.post_s,
            "window_s": round(clip.t1 - clip.t0, 3),  # what was asked for: pre_s + post_s, or more (alerts)
            "start_missing_s": round(max(0.0, held[0][0] - clip.t0), 3),  # the ring did not reach back so far
            "lead_s": round(max(0.0, clip.t0 - held[0][0]), 3),  # video before the window: from the keyframe before
            "truncated": truncated,  # the daemon stopped before the end of the window
            "frames": frames,
        }


def _deg(rad: float) -> float:
    return round(rad * 57.29577951308232, 6)


def _span(frames: list[dict[str, Any]]) -> float:
    return float(frames[-1]["t_utc"] - frames[0]["t_utc"]) if frames else 0.0
