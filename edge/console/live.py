"""The live view's frames: JPEG-encoded only while a page watches, at most ``console.fps`` a second per camera.

Each tick encodes the newest frame of a watched camera (off the event loop, in a worker thread: OpenCV frees the
GIL), keeps that one JPEG for the pages to fetch, and yields the message that tells them: the frame's sequence,
the current tracked boxes, and the camera's ground grid for the pose the frame's events were located with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from edge.console.grid import footprint, ground_grid
from edge.console.hub import ConsoleHub
from edge.console.settings import ConsoleSettings
from edge.geo.camera_model import CameraModel
from edge.geo.terrain import Terrain
from edge.types import Frame, Pose

FOOTPRINT_MAX_M = 3000.0  # rays above the horizon end this far out on the map

# (pose, width, height) -> (camera model, camera-to-NED rotation, ground): GroundGeolocator.view
ViewFn = Callable[[Pose, int, int], tuple[CameraModel, Any, Terrain | None]]


@dataclass(frozen=True)
class Jpeg:
    """One encoded frame: its camera, sequence number and bytes."""

    camera: str
    seq: int
    data: bytes


def encode(frame: Frame, max_width: int, quality: int) -> Jpeg:
    """The frame as a JPEG no wider than ``max_width`` px; thermal (one channel, 8 or 16 bit) stretched to 8 bit."""
    img = frame.image
    if img.ndim == 2 and img.dtype != np.uint8:
        img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if img.shape[1] > max_width:
        h = round(img.shape[0] * max_width / img.shape[1])
        img = cv2.resize(img, (max_width, h), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"JPEG encoding of frame {frame.seq} failed")
    return Jpeg(frame.camera_id, frame.seq, buf.tobytes())


class LiveFrames:
    """The newest JPEG per camera and the message that announces it."""

    def __init__(self, settings: ConsoleSettings, hub: ConsoleHub, view: ViewFn | None, max_range_m: float) -> None:
        self.settings = settings
        self.hub = hub
        self.view = view
        self.max_range_m = max_range_m
        self.jpegs: dict[str, Jpeg] = {}
        self._grid_key: dict[str, tuple[float, int, int]] = {}
        self._grids: dict[str, dict[str, Any]] = {}
        self.encoded = 0

    def due(self, camera: str) -> Frame | None:
        """The camera's newest frame when it is newer than the one last encoded, else None."""
        frame = self.hub.latest_frame(camera)
        last = self.jpegs.get(camera)
        if frame is None or (last is not None and last.seq == frame.seq):
            return None
        return frame

    def encode(self, frame: Frame) -> Jpeg:
        """Encode (call from a worker thread) and keep it as the camera's current JPEG."""
        jpeg = encode(frame, self.settings.max_width_px, self.settings.jpeg_quality)
        self.jpegs[frame.camera_id] = jpeg
        self.encoded += 1
        return jpeg

    def message(self, frame: Frame) -> dict[str, Any]:
        cam = frame.camera_id
        return {
            "camera": cam,
            "seq": frame.seq,
            "t_utc": round(frame.t_utc, 3),
            "w": frame.width,
            "h": frame.height,
            "url": f"/api/frame/{cam}.jpg?seq={frame.seq}",
            "boxes": self.hub.boxes(cam),
            "grid": self.grid(cam, frame.width, frame.height),
        }

    def grid(self, camera: str, width: int, height: int) -> dict[str, Any] | None:
        """The ground grid for the camera's last pose (recomputed when the pose or the image size changes)."""
        pose = self.hub.pose_objs.get(camera)
        if pose is None or self.view is None:
            return None
        key = (pose.t_mono, width, height)
        if self._grid_key.get(camera) != key:
            cam, r, terrain = self.view(pose, width, height)
            self._grids[camera] = ground_grid(cam, r, terrain, pose, self.max_range_m)
            self._grid_key[camera] = key
        return self._grids[camera]

    def footprint(self, camera: str) -> list[list[float]]:
        """The camera's ground footprint [[lat, lon], ...] for its last pose and image size (empty if unknown)."""
        pose, frame = self.hub.pose_objs.get(camera), self.hub.latest_frame(camera)
        if pose is None or frame is None or self.view is None:
            return []
        cam, r, terrain = self.view(pose, frame.width, frame.height)
        return footprint(cam, r, terrain, pose, min(self.max_range_m, FOOTPRINT_MAX_M))
