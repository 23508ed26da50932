"""The interfaces between stages; ``edge.app`` wires concrete classes that satisfy them.

Data flow: CameraSource -> Detector -> Tracker -> Geolocator -> EventSink(s) (spool, GCS);
PoseFeeders (MAVLink, gpsd) -> PoseStore -> Geolocator; a Drainer per Transport (MQTT, the telemetry radio)
sends the spool's records; HealthSinks take the daemon's health snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from edge.types import Detections, Frame, FrameEvents, Pose, TrackEvents

Health = dict[str, object]


@runtime_checkable
class Stage(Protocol):
    """Something long-lived with its own thread(s). ``stop`` returns within 2 s; ``health`` is JSON-able."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def health(self) -> Health: ...


class CameraSource(Stage, Protocol):
    """A grabber thread that keeps only the newest frame (one-slot, latest wins)."""

    def latest(self, timeout: float, after_seq: int = -1) -> Frame | None:
        """The newest frame with ``seq > after_seq``, waiting up to ``timeout`` s; None if none came."""
        ...

    def peek(self) -> Frame | None:
        """The newest frame without waiting and without taking it (None before the first)."""
        ...


class PoseStore(Protocol):
    """Time-indexed poses from every source."""

    def pose_at(self, t_mono: float) -> Pose | None:
        """Pose interpolated at ``t_mono`` (s, monotonic); None when no usable pose is near enough."""
        ...


class Detector(Protocol):
    """An ONNX detector: frame in, boxes in original-image pixels out."""

    class_names: list[str]
    model_name: str  # the model's file name, as receivers are told it

    def detect(self, frame: Frame) -> Detections: ...

    def infer(self, frame: Frame, ready: Callable[[], None] | None = None) -> Callable[[], Detections]:
        """Run the model on ``frame``; the returned call finishes the job (decoding): ``detect = infer(f)()``.
        The halves of consecutive frames may overlap, called in frame order. ``ready`` (optional) is called once,
        just before the model starts to run."""
        ...


class Tracker(Protocol):
    """Multi-object tracker: associates detections across frames and says new/update/lost."""

    def update(self, dets: Detections, t_mono: float) -> TrackEvents: ...


class Geolocator(Protocol):
    """Turns tracked boxes into positions on the earth."""

    def locate(self, frame: Frame, tracks: TrackEvents, pose: Pose | None, class_names: list[str]) -> FrameEvents: ...


class EventSink(Protocol):
    """Takes a frame's events without blocking on the network (the spool writer, the GCS alerter)."""

    def submit(self, batch: FrameEvents) -> None: ...


class HealthSink(Protocol):
    """Takes the daemon's health snapshot (``{"vehicle", "boot_id", "t_utc", "stages": {...}}``) without blocking."""

    def report_health(self, snapshot: dict[str, object]) -> None: ...


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One spooled record handed to a transport. Times are POSIX s; ``payload`` is already marked historical."""

    row_id: int
    prio: int
    t_created: float
    t_expire: float
    payload: bytes
    historical: bool


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the far end said about one record: ``ok``, or a refusal (``final``: never retry; ``pause_s``: wait
    this long before sending again; ``counted``: counts toward the drainer's attempt limit)."""

    row_id: int
    ok: bool = True
    final: bool = False
    pause_s: float = 0.0
    counted: bool = True
    reason: str = ""


class Transport(Protocol):
    """One link that carries spooled records (MQTT, the telemetry radio); the uplink ``Drainer`` drives it from
    its own thread and owns everything transports share (spool, priorities, budget, window, retry, dead letter).

    ``carries`` maps each priority the link takes to the oldest record (s) it still sends; older ones are left to
    other transports. ``session`` changes whenever records in flight were lost (a new connection).
    """

    name: str
    carries: dict[int, float]
    session: int

    def poll(self, timeout: float) -> list[Delivery]:
        """Run the link for up to ``timeout`` s (connect, reconnect, read); the deliveries that arrived."""
        ...

    def window(self) -> int:
        """Records that may be in flight now; 0 while the link cannot take any."""
        ...

    def cost(self, rec: Outgoing) -> int:
        """Bytes ``rec`` takes on the link, framing included (for the byte budget)."""
        ...

    def send(self, rec: Outgoing) -> bool:
        """Hand ``rec`` to the link; False when it could not (it stays in the spool)."""
        ...

    def destination(self, prio: int) -> str:
        """Where records of ``prio`` go, in words (kept with dead letters), e.g. ``mqtt:edge/v1/detections``."""
        ...

    def close(self, timeout: float) -> None:
        """Say goodbye and release the link (at most ``timeout`` s)."""
        ...

    def health(self) -> Health: ...
