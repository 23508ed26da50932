"""Camera against real network streams: an HTTP MJPEG server (stdlib, like the simulator's) that dies, stalls
and comes back, and ffmpeg serving MJPEG over HTTP; the grabber reconnects and the detector only sees fresh frames."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.waits import wait_for
from edge.detect.engine import OnnxDetector
from edge.detect.settings import DetectorSettings
from edge.sources.camera import Camera
from edge.sources.camera_settings import CameraSettings
from edge.track.settings import TrackerSettings
from edge.track.tracker import ByteTracker

pytestmark = pytest.mark.integration
MODEL = Path(__file__).parents[1] / "detect" / "data" / "tiny_grid_yolov8.onnx"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MjpegServer:
    """multipart/x-mixed-replace JPEG stream at /stream.mjpg; ``stall`` pauses sending, ``stop`` kills it."""

    def __init__(self, port: int, fps: float = 30.0) -> None:
        self.port, self.fps = port, fps
        self.stall = threading.Event()
        self.dead = threading.Event()
        self.sent = 0
        img = np.zeros((240, 320, 3), np.uint8)
        img[88:120, 64:96] = (0, 0, 255)  # a red square filling one cell of the test model's grid
        self.jpeg = cv2.imencode(".jpg", img)[1].tobytes()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    while not server.dead.is_set():
                        if not server.stall.is_set():
                            part = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(
                                server.jpeg
                            )
                            self.wfile.write(part + server.jpeg + b"\r\n")
                            server.sent += 1
                        time.sleep(1 / server.fps)
                except OSError:
                    pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.dead.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server_factory() -> Iterator[Callable[[int], MjpegServer]]:
    made: list[MjpegServer] = []

    def make(port: int) -> MjpegServer:
        made.append(MjpegServer(port))
        return made[-1]

    yield make
    for s in made:
        if not s.dead.is_set():
            s.stop()


def settings(port: int) -> CameraSettings:
    return CameraSettings(
        url=f"http://127.0.0.1:{port}/stream.mjpg", stall_timeout_s=1.0, reconnect_min_s=0.2, reconnect_max_s=0.5
    )


def test_stream_that_dies_and_comes_back_is_reconnected(server_factory: Callable[[int], MjpegServer]) -> None:
    port = free_port()
    srv = server_factory(port)
    cam = Camera(settings(port))
    cam.start()
    try:
        f = cam.latest(10.0)
        assert f is not None and f.image.shape == (240, 320, 3)
        srv.stop()  # the stream dies
        assert wait_for(lambda: cam.state == "reconnecting"), cam.health()
        time.sleep(1.0)  # stays down a while: retries fail with backoff, nothing crashes
        assert cam.reconnects >= 2
        before = cam.received
        server_factory(port)  # and comes back on the same address
        assert wait_for(lambda: cam.received > before + 5), cam.health()
        assert cam.state == "streaming"
        g = cam.latest(5.0, f.seq)
        assert g is not None and g.seq > f.seq and time.monotonic() - g.t_mono < 1.0
    finally:
        cam.stop()


def test_stalled_stream_is_reopened(server_factory: Callable[[int], MjpegServer]) -> None:
    port = free_port()
    srv = server_factory(port)
    cam = Camera(settings(port))
    cam.start()
    try:
        assert cam.latest(10.0) is not None
        srv.stall.set()  # connection stays open but no frames come
        assert wait_for(lambda: cam.reconnects >= 1, 10.0), cam.health()
        srv.stall.clear()
        n = cam.received
        assert wait_for(lambda: cam.received > n + 5), cam.health()
    finally:
        cam.stop()


def test_slow_detector_gets_fresh_frames_from_a_live_stream(server_factory: Callable[[int], MjpegServer]) -> None:
    """A detector slower than the 30 fps camera: every frame it works on is younger than one inference period."""
    port = free_port()
    server_factory(port)
    cam = Camera(settings(port))
    det = OnnxDetector(DetectorSettings(model=str(MODEL), providers=["cpu"]))
    tracker = ByteTracker(TrackerSettings(min_hits=2))
    period = 0.15
    cam.start()
    try:
        assert cam.latest(10.0) is not None
        ages, seqs, kinds, boxes = [], [], [], []
        seq = -1
        t_end = time.monotonic() + 2.0
        while time.monotonic() < t_end:
            f = cam.latest(2.0, seq)
            assert f is not None
            t0 = time.monotonic()
            ages.append(t0 - f.t_mono)
            seqs.append(f.seq)
            seq = f.seq
            ev = tracker.update(det.detect(f), f.t_mono)
            kinds += ev.kinds.tolist()
            boxes += ev.dets.xyxy.tolist()
            time.sleep(max(0.0, period - (time.monotonic() - t0)))  # the slow part of a slow detector
        assert max(ages) < period, ages
        assert np.diff(seqs).min() >= 1 and cam.dropped > 10
        assert kinds == [0]  # the red square: NEW once, then nothing to say
        np.testing.assert_allclose(boxes[0], [64, 88, 96, 120], atol=1.5)
    finally:
        cam.stop()


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_ffmpeg_http_stream_killed_and_restarted(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/live.mjpg"
    cmd = [
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=160x120:rate=20",
        "-f",
        "mpjpeg",
        "-q:v",
        "5",
        "-listen",
        "1",
        url,
    ]

    def serve() -> subprocess.Popen[bytes]:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    procs = [serve()]
    cam = Camera(CameraSettings(url=url, stall_timeout_s=1.0, reconnect_min_s=0.2, reconnect_max_s=0.5))
    cam.start()
    try:
        f = cam.latest(15.0)
        assert f is not None and f.image.shape == (120, 160, 3)
        procs[0].kill()
        procs[0].wait(5)
        assert wait_for(lambda: cam.state == "reconnecting"), cam.health()
        n = cam.received
        procs.append(serve())  # ffmpeg -listen serves one client: a fresh one for the reconnect
        assert wait_for(lambda: cam.received > n + 5, 20.0), cam.health()
    finally:
        cam.stop()
        for p in procs:
            p.kill()
            p.wait(5)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_ffmpeg_udp_mpegts_stream_stops_and_resumes() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    cmd = [
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=160x120:rate=20",
        "-c:v",
        "mpeg1video",
        "-f",
        "mpegts",
        f"udp://127.0.0.1:{port}?pkt_size=1316",
    ]

    def send() -> subprocess.Popen[bytes]:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    procs = [send()]
    cam = Camera(
        CameraSettings(url=f"udp://127.0.0.1:{port}", stall_timeout_s=1.0, reconnect_min_s=0.2, reconnect_max_s=0.5)
    )
    cam.start()
    try:
        f = cam.latest(15.0)
        assert f is not None and f.image.shape == (120, 160, 3)
        procs[0].kill()
        procs[0].wait(5)
        assert wait_for(lambda: cam.reconnects >= 1, 10.0), cam.health()  # no packets: a stall
        n = cam.received
        procs.append(send())
        assert wait_for(lambda: cam.received > n + 10, 20.0), cam.health()
        assert cam.state == "streaming"
    finally:
        cam.stop()
        for p in procs:
            p.kill()
            p.wait(5)
