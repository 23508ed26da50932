"""Camera source: one grabber thread per camera feeding a one-slot, latest-wins buffer.

The consumer (the detector) always gets the newest frame; frames it never took are counted as dropped.
A stalled or ended stream is reopened (``edge.ops.backoff``: a quick first retry after a healthy session, no wait
longer than ``reconnect_max_s``); the thread never dies on a bad stream.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from edge.ops.backoff import Backoff
from edge.sources.camera_open import CameraError, Reader, open_reader, redact, resolve_backend
from edge.sources.camera_settings import CameraSettings
from edge.sources.clock import host_utc
from edge.sources.worker import Worker
from edge.stages import Health
from edge.types import Frame

__all__ = ["Camera", "CameraError", "LatestSlot"]

log = logging.getLogger(__name__)


class LatestSlot:
    """A one-frame buffer: ``put`` overwrites, ``get`` waits for a frame newer than the caller's last one."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._taken = True

    def put(self, frame: Frame) -> bool:
        """Store ``frame``; True when it overwrote a frame nobody took (a drop)."""
        with self._cond:
            dropped = not self._taken
            self._frame, self._taken = frame, False
            self._cond.notify_all()
        return dropped

    def get(self, timeout: float, after_seq: int = -1) -> Frame | None:
        """The newest frame with ``seq > after_seq``, waiting up to ``timeout`` s; None if none came."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._frame is None or self._frame.seq <= after_seq:
                left = deadline - time.monotonic()
                if left <= 0 or not self._cond.wait(left):
                    if self._frame is not None and self._frame.seq > after_seq:
                        break
                    return None
            self._taken = True
            self._cond.notify_all()
            return self._frame

    def peek(self) -> Frame | None:
        """The newest frame, without taking it (another reader's view: no drop or hand-over is counted)."""
        with self._cond:
            return self._frame

    def wait_taken(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s until the frame in the slot was taken (or there is none); True if it was."""
        with self._cond:
            return self._cond.wait_for(lambda: self._taken, timeout)


class Camera(Worker):
    """``edge.stages.CameraSource`` over OpenCV (V4L2, FFmpeg URLs, GStreamer, video files, image folders).

    Raises CameraError at construction for a config that can never work (e.g. GStreamer missing). ``to_utc`` turns
    a capture's monotonic time into its UTC (s; the daemon's ``UtcClock.to_utc``, default the host clock).
    """

    _start_state = "starting"

    def __init__(self, settings: CameraSettings, to_utc: Callable[[float], float] = host_utc) -> None:
        if not settings.url.strip():
            raise CameraError("camera.url is empty: set it to a device, URL, pipeline, video file or image folder")
        super().__init__()
        self.settings = settings
        self.to_utc = to_utc
        self.kind = resolve_backend(settings)
        self.name = f"camera:{settings.id}"
        self._slot = LatestSlot()
        self._lock = threading.Lock()
        self._seq = 0
        self.state = "stopped"
        self.last_error = ""
        self.received = 0
        self.dropped = 0
        self.handed = 0
        self.reconnects = 0
        self._age_last = 0.0
        self._age_max = 0.0
        self._grabs: deque[float] = deque(maxlen=30)  # recent grab times (s, monotonic) for the frame rate

    # -- Stage -------------------------------------------------------------------------------------------------
    def health(self) -> Health:
        with self._lock:
            return {
                "name": self.name,
                "source": redact(self.settings.url),
                "backend": self.kind,
                "state": self.state,
                "frames_received": self.received,
                "frames_dropped": self.dropped,
                "frames_handed": self.handed,
                "reconnects": self.reconnects,
                "fps": round(self._rate(), 2),
                "age_at_handover_ms": round(self._age_last * 1e3, 1),
                "max_age_at_handover_ms": round(self._age_max * 1e3, 1),
                "last_error": self.last_error,
                **self.thread_health(),
            }

    def _rate(self) -> float:
        """Frames/s over the last 30 grabs (0 when fewer than 2 or none for 5 s)."""
        g = self._grabs
        if len(g) < 2 or time.monotonic() - g[-1] > 5.0 or g[-1] <= g[0]:
            return 0.0
        return (len(g) - 1) / (g[-1] - g[0])

    # -- CameraSource ------------------------------------------------------------------------------------------
    def latest(self, timeout: float, after_seq: int = -1) -> Frame | None:
        """The newest frame with ``seq > after_seq``, waiting up to ``timeout`` s; None if none came."""
        frame = self._slot.get(timeout, after_seq)
        if frame is not None:
            age = time.monotonic() - frame.t_mono
            with self._lock:
                self.handed += 1
                self._age_last = age
                self._age_max = max(self._age_max, age)
        return frame

    def peek(self) -> Frame | None:
        """The newest frame without taking it from the detector (the evidence recorder's view), or None."""
        return self._slot.peek()

    # -- grabber thread ----------------------------------------------------------------------------------------
    def _run(self) -> None:
        s = self.settings
        backoff = Backoff(s.reconnect_min_s, s.reconnect_max_s)
        first = True
        while not self._stop.is_set():
            try:
                reader = open_reader(s, self.kind)
            except (OSError, ValueError, RuntimeError) as err:
                self._fail(f"open failed: {err}")
                backoff.wait(self._stop)
                continue
            if not first:
                log.info("%s: reopened %s", self.name, redact(s.url))
            first = False
            self.state = "streaming"
            try:
                got = self._pump(reader)
            except Exception as err:  # a decoder exception must not kill the grabber
                self._fail(f"read failed: {err!r}")
                got = 0
            finally:
                reader.close()
            if self._stop.is_set():
                break
            if reader.fps and got and s.loop:
                continue  # replay: start the file again at once
            if reader.fps and not s.loop and self.kind in ("file", "folder"):
                self.state = "ended"
                log.info("%s: end of %s", self.name, redact(s.url))
                return
            if got:
                backoff.reset()
            self._fail("stream ended or stalled")
            backoff.wait(self._stop)

    def _fail(self, why: str) -> None:
        with self._lock:
            self.state = "reconnecting"
            self.last_error = why
            self.reconnects += 1
        log.warning("%s: %s; retrying", self.name, why)

    def _pump(self, reader: Reader) -> int:
        """Read frames until the stream ends, stalls or we are stopped; return how many came."""
        s = self.settings
        offset = s.latency_offset_ms / 1e3
        paced = s.realtime and reader.fps > 0
        # a file or folder read as fast as it decodes is read no faster than the pipeline takes frames: a frame
        # decoded only to be overwritten unseen would be wasted work (and a photo never looked at)
        held = not paced and self.kind in ("file", "folder")
        t0 = time.monotonic()
        n = 0
        while not self._stop.is_set():
            if paced:
                wait = t0 + n / reader.fps - time.monotonic()
                if wait > 0 and self._stop.wait(wait):
                    break
            while held and not self._slot.wait_taken(0.2):
                if self._stop.is_set():
                    return n
            got = reader.read()
            if got is None:
                break
            image, t_grab = got
            n += 1
            t_utc = self.to_utc(t_grab)
            self._seq += 1
            frame = Frame(image, t_grab - offset, t_utc - offset, self._seq, s.id)
            dropped = self._slot.put(frame)
            with self._lock:
                self.received += 1
                self.dropped += int(dropped)
                self._grabs.append(t_grab)
        return n
