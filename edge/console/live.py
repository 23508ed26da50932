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
from edge.console.hub import ConsoleHub, pose_json
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
    """The newest JPEG per camera and the message that announces it.

    ``pose_at(t_mono)`` is the daemon's pose store: the grid and the footprint are drawn for the pose at the frame's
    capture, as the geolocator locates its boxes, also when nothing is detected (when a crew aims the camera).
    Without it (``edge console`` alone) the pose the last events were located with is used.
    """

    def __init__(
        self,
        settings: ConsoleSettings,
        hub: ConsoleHub,
        view: ViewFn | None,
        max_range_m: float,
        pose_at: Callable[[float], Pose | None] | None = None,
    ) -> None:
        self.settings = settings
        self.hub = hub
        self.view = view
        self.pose_at = pose_at
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

    def pose(self, frame: Frame) -> Pose | None:
        """The platform's pose when ``frame`` was captured."""
        if self.pose_at is not None:
            return self.pose_at(frame.t_mono)
        return self.hub.pose_objs.get(frame.camera_id)

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
            "grid": self.grid(frame),
        }

    def grid(self, frame: Frame) -> dict[str, Any] | None:
        """The ground grid for the frame's pose (recomputed when the pose or the image size changes)."""
        pose = self.pose(frame)
        if pose is None or self.view is None:
            return None
        cam_id, key = frame.camera_id, (pose.t_mono, frame.width, frame.height)
        if self._grid_key.get(cam_id) != key:
            cam, r, terrain = self.view(pose, frame.width, frame.height)
            self._grids[cam_id] = ground_grid(cam, r, terrain, pose, self.max_range_m)
            self._grid_key[cam_id] = key
        return self._grids[cam_id]

    def platform(self, camera: str) -> dict[str, Any] | None:
        """The map's view of the platform at the camera's newest frame: pose_json plus the camera's footprint."""
        frame = self.hub.latest_frame(camera)
        pose = None if frame is None else self.pose(frame)
        out = pose_json(pose)
        if out is None or frame is None or pose is None:
            return None
        if self.view is not None:
            cam, r, terrain = self.view(pose, frame.width, frame.height)
            out["footprint"] = footprint(cam, r, terrain, pose, min(self.max_range_m, FOOTPRINT_MAX_M))
        return out
