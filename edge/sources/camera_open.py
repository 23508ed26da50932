"""Opening camera sources: which backend a URL means, and readers that yield (image, grab time).

A reader's ``read()`` returns ``(image, t_mono_grab)`` or None at the end of the stream / on a stall.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from edge.sources.camera_settings import CameraSettings

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm", ".ppm", ".webp"}
URL_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://", "rtp://")

FFMPEG_OPTIONS = "OPENCV_FFMPEG_CAPTURE_OPTIONS"  # set by the user: used as it is (probe_s is not applied)


class CameraError(Exception):
    """A camera config that can never work (the message says which key to change)."""


def has_gstreamer() -> bool:
    """Whether this OpenCV build was compiled with GStreamer (per ``cv2.getBuildInformation()``)."""
    m = re.search(r"GStreamer:\s*(\S+)", cv2.getBuildInformation())
    return bool(m and m.group(1).upper().startswith("YES"))


def resolve_backend(s: CameraSettings) -> str:
    """The backend ``s.url`` means: v4l2, ffmpeg, gstreamer, file or folder; raise CameraError if unusable."""
    url = s.url.strip()
    kind = s.backend
    if kind == "auto":
        if re.fullmatch(r"\d+", url) or url.startswith("/dev/"):
            kind = "v4l2"
        elif url.lower().startswith(URL_SCHEMES):
            kind = "ffmpeg"
        elif "!" in url:
            kind = "gstreamer"
        elif os.path.isdir(url):
            kind = "folder"
        else:
            kind = "file"
    if kind == "gstreamer" and not has_gstreamer():
        raise CameraError(
            f"camera.url: {url!r} is a GStreamer pipeline but this OpenCV build has no GStreamer "
            "(cv2.getBuildInformation() says 'GStreamer: NO'); install an OpenCV built with GStreamer, "
            "or give camera.url as an rtsp:// / http:// URL (FFmpeg backend) or a V4L2 device"
        )
    return kind


def redact(url: str) -> str:
    """``url`` without a password (rtsp://user:secret@host -> rtsp://user:***@host)."""
    return re.sub(r"(://[^/:@]+):[^/@]*@", r"\1:***@", url)


class Reader(Protocol):
    fps: float  # nominal frames/s of a replayed source, 0 for live sources

    def read(self) -> tuple[np.ndarray, float] | None: ...

    def close(self) -> None: ...


class CvReader:
    """A ``cv2.VideoCapture`` (V4L2, FFmpeg, GStreamer, video file); the grab time is taken right after grab()."""

    def __init__(self, cap: cv2.VideoCapture, fps: float, raw: bool) -> None:
        self._cap = cap
        self.fps = fps
        self._raw = raw

    def read(self) -> tuple[np.ndarray, float] | None:
        if not self._cap.grab():
            return None
        t = time.monotonic()
        ok, img = self._cap.retrieve()
        if not ok or img is None or img.size == 0:
            return None
        return _raw_y16(img, self._cap) if self._raw else img, t

    def close(self) -> None:
        self._cap.release()


def _raw_y16(img: np.ndarray, cap: cv2.VideoCapture) -> np.ndarray:
    """V4L2 Y16 buffers arrive as one row of bytes with CONVERT_RGB off: view them as (H, W) uint16."""
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if img.dtype == np.uint8 and img.ndim == 2 and img.shape[0] == 1 and w * h * 2 == img.size:
        return img.reshape(-1).view(np.uint16).reshape(h, w)
    return img


class FolderReader:
    """Images of a folder in name order (16-bit images kept as they are when ``raw``)."""

    def __init__(self, folder: Path, fps: float, raw: bool) -> None:
        self._files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self._files:
            raise FileNotFoundError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
        self._i = 0
        self._flag = cv2.IMREAD_UNCHANGED if raw else cv2.IMREAD_COLOR
        self.fps = fps

    def read(self) -> tuple[np.ndarray, float] | None:
        while self._i < len(self._files):
            path = self._files[self._i]
            self._i += 1
            img = cv2.imread(str(path), self._flag)
            if img is not None:
                return img, time.monotonic()
        return None

    def close(self) -> None:
        self._files = []


def open_reader(s: CameraSettings, kind: str) -> Reader:
    """Open the source; raise OSError (retried with backoff by the grabber) when it cannot be opened now."""
    url = s.url.strip()
    timeout_ms = int(s.stall_timeout_s * 1000)
    if kind == "folder":
        return FolderReader(Path(url), s.fps or 10.0, s.raw)
    if kind == "v4l2":
        cap = cv2.VideoCapture(int(url) if url.isdigit() else url, cv2.CAP_V4L2)
        if cap.isOpened():
            if s.fourcc:
                cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*s.fourcc.ljust(4)[:4]))
            for prop, val in ((cv2.CAP_PROP_FRAME_WIDTH, s.width), (cv2.CAP_PROP_FRAME_HEIGHT, s.height)):
                if val:
                    cap.set(prop, val)
            if s.fps:
                cap.set(cv2.CAP_PROP_FPS, s.fps)
            if s.raw:
                cap.set(cv2.CAP_PROP_CONVERT_RGB, 0)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    elif kind == "gstreamer":
        cap = cv2.VideoCapture(url, cv2.CAP_GSTREAMER)
    else:
        if kind == "file" and not os.path.isfile(url):
            raise FileNotFoundError(f"camera.url: no such file {url!r}")
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
        if kind == "ffmpeg" and FFMPEG_OPTIONS not in os.environ:
            # FFmpeg's default probe reads 5 s of a live stream (or until the open timeout) before the first frame
            os.environ[FFMPEG_OPTIONS] = f"analyzeduration;{int(s.probe_s * 1e6)}"
            try:
                cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
            finally:
                del os.environ[FFMPEG_OPTIONS]
        else:
            cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    if not cap.isOpened():
        cap.release()
        raise ConnectionError(f"cannot open {redact(url)} ({kind})")
    fps = 0.0
    if kind == "file":
        fps = s.fps or float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or 25.0
    return CvReader(cap, fps, s.raw)
