"""The camera as a network video stream: MJPEG over HTTP (multipart/x-mixed-replace), which
``cv2.VideoCapture("http://HOST:PORT/stream.mjpg")`` opens through its FFmpeg backend.

``MjpegServer`` serves whatever ``publish(image)`` last received (thermal uint16 is stretched to 8-bit);
it can be stopped and started again on the same port. ``Pacer`` calls a function once per frame period
in real time (late frames are skipped, never queued).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from sim.render import thermal_to_8bit

log = logging.getLogger(__name__)
BOUNDARY = "edgesimframe"
STREAM_PATH = "/stream.mjpg"
SNAPSHOT_PATH = "/snapshot.jpg"


def encode_jpeg(image: npt.NDArray[Any], quality: int = 85) -> bytes:
    """JPEG bytes of a BGR uint8 (H, W, 3) or grey/thermal (H, W) image (uint16 is stretched to 8-bit)."""
    if image.dtype == np.uint16:
        image = thermal_to_8bit(image)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"cannot encode image of shape {image.shape} {image.dtype} as JPEG")
    return bytes(buf.tobytes())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: MjpegServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http %s", format % args)

    def do_GET(self) -> None:
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        if path == SNAPSHOT_PATH:
            jpeg, _ = owner.wait_frame(-1, 2.0)
            if jpeg is None:
                self.send_error(503, "no frame yet")
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(jpeg)))
            self.end_headers()
            self.wfile.write(jpeg)
            return
        if path != STREAM_PATH:
            self.send_error(404, f"try {STREAM_PATH} or {SNAPSHOT_PATH}")
            return
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Pragma", "no-cache")
        self.end_headers()
        owner._add_client(self.connection)
        seq = -1
        try:
            while not owner.stopping:
                jpeg, new_seq = owner.wait_frame(seq, 0.2)
                if jpeg is None or new_seq == seq:
                    continue
                seq = new_seq
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                self.wfile.write(head.encode("ascii") + jpeg + b"\r\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass  # the client went away
        finally:
            owner._remove_client(self.connection)


class MjpegServer:
    """MJPEG-over-HTTP server on ``host:port`` (port 0 picks a free one; ``port`` then holds it)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, quality: int = 85):
        self.host, self.port, self.quality = host, port, quality
        self.stopping = False
        self._cond = threading.Condition()
        self._jpeg: bytes | None = None
        self._seq = 0
        self._clients: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{STREAM_PATH}"

    @property
    def clients(self) -> int:
        with self._cond:
            return len(self._clients)

    def start(self) -> None:
        """Listen and serve in a background thread (again after ``stop`` on the same port)."""
        if self._server is not None:
            return
        self.stopping = False
        server = _Server((self.host, self.port), _Handler)
        server.owner = self
        self.port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="mjpeg", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and drop every client connection (returns within ~1 s)."""
        server, self._server = self._server, None
        if server is None:
            return
        self.stopping = True
        with self._cond:
            self._cond.notify_all()
            clients = list(self._clients)
        for conn in clients:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def publish(self, image: npt.NDArray[Any]) -> None:
        """Make ``image`` the current frame for every client."""
        self.publish_jpeg(encode_jpeg(image, self.quality))

    def publish_jpeg(self, jpeg: bytes) -> None:
        """Make already-encoded JPEG bytes the current frame."""
        with self._cond:
            self._jpeg = jpeg
            self._seq += 1
            self._cond.notify_all()

    def wait_frame(self, after_seq: int, timeout: float) -> tuple[bytes | None, int]:
        """The current frame once its sequence number is past ``after_seq`` (or whatever is there at timeout)."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq != after_seq or self.stopping, timeout=timeout)
            return self._jpeg, self._seq

    def _add_client(self, conn: socket.socket) -> None:
        with self._cond:
            self._clients.add(conn)

    def _remove_client(self, conn: socket.socket) -> None:
        with self._cond:
            self._clients.discard(conn)


class Pacer:
    """Calls ``tick(index, t)`` at ``fps`` in real time on its own thread; t = index / fps (s of sim time).

    ``t0`` is the ``time.monotonic()`` of sim time 0 (default: when the thread starts).
    When a tick runs late, the frames it overran are skipped. ``stop()`` returns within one tick.
    ``on_error`` receives any exception from ``tick`` (which then stops the pacer).
    """

    def __init__(
        self,
        fps: float,
        tick: Callable[[int, float], None],
        duration_s: float | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        t0: float | None = None,
    ):
        if fps <= 0:
            raise ValueError(f"fps must be > 0, not {fps}")
        self.fps, self.tick, self.duration_s, self.on_error = fps, tick, duration_s, on_error
        self.t0 = t0
        self.frames = 0
        self.skipped = 0
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self.done.clear()
        self._thread = threading.Thread(target=self._run, name="pacer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)

    def _run(self) -> None:
        period = 1.0 / self.fps
        t0 = time.monotonic() if self.t0 is None else self.t0
        index = max(0, int((time.monotonic() - t0) / period))
        try:
            while not self._stop.is_set():
                t = index * period
                if self.duration_s is not None and t >= self.duration_s:
                    break
                self.tick(index, t)
                self.frames += 1
                now = time.monotonic() - t0
                nxt = index + 1
                if now > nxt * period:  # late: skip to the current frame slot
                    late = int(now / period)
                    self.skipped += late - nxt
                    nxt = late
                index = nxt
                self._stop.wait(max(0.0, index * period - (time.monotonic() - t0)))
        except BaseException as err:  # reported, never swallowed silently
            if self.on_error is None:
                raise
            self.on_error(err)
        finally:
            self.done.set()
