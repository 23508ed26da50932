"""The interfaces between stages; ``edge.app`` wires concrete classes that satisfy them.

Data flow: CameraSource -> Detector -> Tracker -> Geolocator -> EventSink(s) (spool, GCS);
PoseFeeders (MAVLink, gpsd) -> PoseStore -> Geolocator; Uplink drains the spool to MQTT.
"""

from __future__ import annotations

from collections.abc import Callable
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


class PoseStore(Protocol):
    """Time-indexed poses from every source."""

    def pose_at(self, t_mono: float) -> Pose | None:
        """Pose interpolated at ``t_mono`` (s, monotonic); None when no usable pose is near enough."""
        ...


class Detector(Protocol):
    """An ONNX detector: frame in, boxes in original-image pixels out."""

    class_names: list[str]

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
