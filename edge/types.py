"""Values that pass between the daemon's stages.

Conventions used everywhere in the package:

* time: ``t_mono`` is ``time.monotonic()`` seconds on this computer (the clock every stage shares);
  ``t_utc`` is POSIX seconds (UTC) from ``edge.sources.clock.UtcClock`` (GPS time, not the host clock).
  Sources convert foreign clocks (autopilot boot time, GPS time) to ``t_mono`` before anything leaves them.
* angles: radians inside the code, degrees only in config files and on the wire.
* attitude: aerospace Z-Y-X Euler angles (yaw, then pitch, then roll) of the body in the local
  NED frame (x north, y east, z down); yaw 0 = north, positive clockwise seen from above.
* positions: WGS-84 latitude/longitude in degrees, altitude in metres above mean sea level (AMSL).
* boxes: pixels, ``x1, y1, x2, y2`` with the origin at the image's top-left corner.
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Frame:
    """One camera image and when it was captured.

    image: (H, W, 3) uint8 BGR for day cameras, (H, W) uint16 or uint8 for thermal cameras.
    """

    image: np.ndarray
    t_mono: float
    t_utc: float
    seq: int
    camera_id: str = "cam0"

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


class PoseSource(str, enum.Enum):
    """Where a pose came from."""

    MAVLINK = "mavlink"
    GPSD = "gpsd"
    STATIC = "static"
    SIM = "sim"


@dataclass(frozen=True, slots=True)
class Pose:
    """Where the platform is and how it (and its camera) is oriented at ``t_mono``.

    roll/pitch/yaw: body attitude in NED (rad). The camera's orientation relative to the body is
    ``cam_roll/cam_pitch/cam_yaw`` (rad; gimbal or mast angles, pitch negative looking down);
    ``cam_frame`` says whether those angles are relative to the body ("body"), already in the
    earth frame ("earth", as gimbals that stabilise report them), or that nothing reports the camera
    ("mount": angles 0, the configured mounting holds it; ``edge.geo.orientation``).
    Errors are 1-sigma: ``pos_err_m`` horizontal, ``alt_err_m`` vertical, ``att_err_rad`` per axis.
    ``age_s`` is how far the pose was extrapolated beyond the newest sample (0 when interpolated).
    """

    t_mono: float
    lat: float
    lon: float
    alt: float
    roll: float = 0.0
    pitch: float = 0.0
    yaw: float = 0.0
    cam_roll: float = 0.0
    cam_pitch: float = 0.0
    cam_yaw: float = 0.0
    cam_frame: str = "body"
    pos_err_m: float = 5.0
    alt_err_m: float = 10.0
    att_err_rad: float = 0.02
    age_s: float = 0.0
    source: PoseSource = PoseSource.MAVLINK

    def __post_init__(self) -> None:
        if not -90.0 <= self.lat <= 90.0 or not -180.0 <= self.lon <= 180.0:
            raise ValueError(f"pose lat/lon out of range: {self.lat}, {self.lon}")
        if self.cam_frame not in ("body", "earth", "mount"):
            raise ValueError(f"cam_frame must be 'body', 'earth' or 'mount', not {self.cam_frame!r}")


@dataclass(frozen=True, slots=True)
class Detections:
    """Struct of arrays for N boxes found in one frame (like supervision's Detections).

    xyxy: (N, 4) float32 pixels; score: (N,) float32 in [0, 1]; class_id: (N,) int64;
    track_id: (N,) int64, -1 where no track was assigned yet.
    """

    xyxy: FloatArray
    score: FloatArray
    class_id: IntArray
    track_id: IntArray = field(default_factory=lambda: np.empty(0, np.int64))

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, np.float32).reshape(-1, 4)
        n = len(xyxy)
        score = np.asarray(self.score, np.float32).reshape(-1)
        class_id = np.asarray(self.class_id, np.int64).reshape(-1)
        track_id = np.asarray(self.track_id, np.int64).reshape(-1)
        if len(track_id) == 0 and n:
            track_id = np.full(n, -1, np.int64)
        for name, arr in (("score", score), ("class_id", class_id), ("track_id", track_id)):
            if len(arr) != n:
                raise ValueError(f"Detections.{name} has {len(arr)} entries for {n} boxes")
        if n and not np.all(np.isfinite(xyxy)):
            raise ValueError("Detections.xyxy holds non-finite coordinates")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "score", score)
        object.__setattr__(self, "class_id", class_id)
        object.__setattr__(self, "track_id", track_id)

    @classmethod
    def empty(cls) -> Detections:
        f32, i64 = np.float32, np.int64
        return cls.trusted(np.empty((0, 4), f32), np.empty(0, f32), np.empty(0, i64), np.empty(0, i64))

    @classmethod
    def trusted(cls, xyxy: FloatArray, score: FloatArray, class_id: IntArray, track_id: IntArray) -> Detections:
        """Detections from arrays known to be valid (the dtypes and shapes above, finite boxes, e.g. indexed out of
        valid Detections), without the checks and copies: they cost ~10 us, which counts on the per-frame path."""
        d = object.__new__(cls)
        for name, arr in (("xyxy", xyxy), ("score", score), ("class_id", class_id), ("track_id", track_id)):
            object.__setattr__(d, name, arr)
        return d

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: slice | npt.NDArray[np.bool_] | npt.NDArray[np.integer]) -> Detections:
        return Detections.trusted(self.xyxy[index], self.score[index], self.class_id[index], self.track_id[index])

    @classmethod
    def concat(cls, parts: list[Detections]) -> Detections:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls.trusted(
            np.concatenate([p.xyxy for p in parts]),
            np.concatenate([p.score for p in parts]),
            np.concatenate([p.class_id for p in parts]),
            np.concatenate([p.track_id for p in parts]),
        )


class EventKind(enum.IntEnum):
    """What happened to a track in this frame (values are wire values)."""

    NEW = 0
    UPDATE = 1
    LOST = 2


class Priority(enum.IntEnum):
    """Uplink priority; lower value is sent first (values are stored in the spool)."""

    ALERT = 0  # a new confirmed track
    UPDATE = 1
    HEALTH = 2
    AUDIT = 3  # who asked for imagery and what was sent (edge.thumbs)
    IMAGE = 4  # thumbnails on request: answers and image chunks (edge.thumbs)


@dataclass(frozen=True, slots=True)
class GeoEvent:
    """One tracked object's event with where it is on the earth.

    bbox_norm: (x1, y1, x2, y2) as fractions of image width/height in [0, 1].
    lat/lon (deg), alt (m AMSL), error_m (90 % horizontal radius, m) and range_m (slant range, m)
    are None when the object could not be located; ``no_fix_reason`` then says why. ``sight``: the line of sight
    from the camera through the box's ground-contact pixel in NED, azimuth (rad, 0 = north, + east) and depression
    (rad, + below the horizontal), as measured (before the size prior moves the fix along it); None without a fix.
    Not sent: the association compares two cameras' lines of sight, which share the platform's pose error.
    """

    track_id: int
    class_id: int
    class_name: str
    confidence: float
    kind: EventKind
    bbox_norm: tuple[float, float, float, float]
    lat: float | None = None
    lon: float | None = None
    alt: float | None = None
    error_m: float | None = None
    range_m: float | None = None
    no_fix_reason: str | None = None
    object_id: int | None = None  # shared with another camera's track that sees the same object (association)
    sight: tuple[float, float] | None = None  # the box's contact ray from the camera: azimuth, depression (rad)


@dataclass(frozen=True, slots=True)
class SensorInfo:
    """What a receiver needs to read a camera's records: the model's file name and class names (index = class id),
    the frame size (width, height) px that bboxes are fractions of. ``key``: its 16-bit id on the wire."""

    camera_id: str
    model: str
    labels: tuple[str, ...]
    frame_wh: tuple[int, int]

    @property
    def key(self) -> int:
        text = json.dumps([self.camera_id, self.model, list(self.labels), list(self.frame_wh)], separators=(",", ":"))
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:2], "big")


@dataclass(frozen=True, slots=True)
class FrameEvents:
    """The events of one frame, the unit the uplink encodes, spools and sends.

    pose is the sensor pose used for geolocation (None when no pose was available).
    """

    camera_id: str
    frame_seq: int
    t_utc: float
    pose: Pose | None
    events: tuple[GeoEvent, ...]
    sensor: SensorInfo | None = None  # the camera's description (model, class names, frame size), when known
    # fixes of tracks seen in this frame without an event (TrackEvents.seen), for the cross-camera association only:
    # it drops them before the sinks, so they are never spooled or sent
    seen: tuple[GeoEvent, ...] = ()

    @property
    def priority(self) -> Priority:
        return Priority.ALERT if any(e.kind == EventKind.NEW for e in self.events) else Priority.UPDATE


@dataclass(frozen=True, slots=True)
class TrackEvents:
    """What the tracker reports for one frame: only tracks with something to say.

    dets: boxes (for LOST events the last known box) with ``track_id`` set;
    kinds: (N,) int8 EventKind values aligned with ``dets``;
    seen: the other confirmed tracks matched in this frame (filtered boxes, ``track_id`` set), only from a tracker
    asked for them (the cross-camera association needs every frame's fixes, not only the events').
    """

    dets: Detections
    kinds: npt.NDArray[np.int8]
    seen: Detections = field(default_factory=Detections.empty)

    def __post_init__(self) -> None:
        kinds = np.asarray(self.kinds, np.int8).reshape(-1)
        if len(kinds) != len(self.dets):
            raise ValueError(f"TrackEvents has {len(kinds)} kinds for {len(self.dets)} boxes")
        object.__setattr__(self, "kinds", kinds)

    def __len__(self) -> int:
        return len(self.dets)
