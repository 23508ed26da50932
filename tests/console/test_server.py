"""The console's server on a real loopback socket: it never holds the pipeline up, drops for a page that does not
read, and encodes frames only while a page watches, at most ``console.fps`` a second."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edge.console.hub import ConsoleHub
from edge.console.server import QUEUE, ConsoleServer
from edge.console.settings import ConsoleSettings
from edge.types import EventKind, Frame, FrameEvents, GeoEvent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ConsoleServer]:
    srv = ConsoleServer(ConsoleSettings(enabled=True, port=_port(), fps=4.0), ConsoleHub(), tmp_path, {})
    srv.start()
    assert srv.health()["state"] == "ok"
    yield srv
    srv.stop()


def _batch(i: int) -> FrameEvents:
    ev = GeoEvent(i, 0, "person", 0.9, EventKind.NEW, (0.1, 0.1, 0.2, 0.2), 42.6, 19.9, 100.0, 5.0, 50.0)
    return FrameEvents("cam0", i, time.time(), None, (ev,))


def _stream(port: int, query: str = "") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(f"GET /api/stream{query} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return sock


def _wait(cond, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return False


def test_a_page_that_never_reads_is_dropped_for_and_holds_nothing_up(server: ConsoleServer) -> None:
    sock = _stream(server.settings.port)  # connected, never read
    try:
        assert _wait(lambda: len(server.clients) == 1)
        worst = 0.0
        for i in range(5000):
            t0 = time.perf_counter()
            server.hub.submit(_batch(i))
            worst = max(worst, time.perf_counter() - t0)
            if i % 500 == 0:
                time.sleep(0.05)  # let the server drain
        assert _wait(lambda: server.dropped > 0)
        assert worst < 0.05, f"submit took {worst * 1e3:.1f} ms"
        client = next(iter(server.clients))
        assert client.queue.qsize() <= QUEUE
        assert len(server.hub.alerts) <= 200
    finally:
        sock.close()


def test_frames_are_encoded_only_while_a_page_watches_at_most_fps(server: ConsoleServer) -> None:
    hub = server.hub
    img = np.random.default_rng(0).integers(0, 255, (240, 320, 3), np.uint8)

    def feed(seconds: float) -> None:
        t_end = time.monotonic() + seconds
        seq = 0
        while time.monotonic() < t_end:
            seq += 1
            hub.observe(Frame(img, time.monotonic(), time.time(), seq), time.monotonic())
            time.sleep(0.01)  # ~100 frames/s

    feed(1.0)
    assert server.live.encoded == 0  # nobody watching
    events = _stream(server.settings.port)  # a page, but not on the live view
    try:
        assert _wait(lambda: len(server.clients) == 1)
        feed(1.0)
        assert server.live.encoded == 0
    finally:
        events.close()
    conn = http.client.HTTPConnection("127.0.0.1", server.settings.port, timeout=5)
    conn.request("GET", "/api/stream?live=cam0")
    resp = conn.getresponse()
    try:
        assert _wait(lambda: any(c.live == "cam0" for c in server.clients))
        t0 = time.monotonic()
        feed(2.0)
        took = time.monotonic() - t0
        assert 2 <= server.live.encoded <= server.settings.fps * took + 2, server.live.encoded
        line = b""
        while not line.startswith(b"data: {") or b'"url"' not in line:
            line = resp.fp.readline()
        url = line.split(b'"url": "')[1].split(b'"')[0].decode()
        fetch = http.client.HTTPConnection("127.0.0.1", server.settings.port, timeout=5)
        fetch.request("GET", url)
        jpeg = fetch.getresponse()
        assert jpeg.status == 200 and jpeg.getheader("Content-Type") == "image/jpeg"
        assert jpeg.read()[:2] == b"\xff\xd8"
    finally:
        conn.close()


def test_grid_and_footprint_come_from_the_pose_store_even_when_nothing_is_detected(tmp_path: Path) -> None:
    import json
    import math

    from edge.geo.locator import GroundGeolocator
    from edge.geo.settings import GeoSettings
    from edge.types import Pose

    geo = GroundGeolocator(GeoSettings(ground_alt_m=500.0))

    def pose_at(t_mono: float) -> Pose:
        return Pose(t_mono, 42.6, 19.9, 530.0, cam_pitch=math.radians(-10.0))

    settings = ConsoleSettings(enabled=True, port=_port(), fps=10.0)
    srv = ConsoleServer(settings, ConsoleHub(), tmp_path, {}, geo.view, 5000.0, pose_at)
    srv.start()
    conn = http.client.HTTPConnection("127.0.0.1", settings.port, timeout=5)
    try:
        conn.request("GET", "/api/stream?live=cam0")
        resp = conn.getresponse()
        assert _wait(lambda: len(srv.clients) == 1)
        img = np.zeros((480, 640, 3), np.uint8)
        got: dict[str, dict] = {}  # type: ignore[type-arg]
        kind = ""
        seq = 0
        deadline = time.monotonic() + 15
        while not {"frame", "pose"} <= set(got) and time.monotonic() < deadline:
            seq += 1
            srv.hub.observe(Frame(img, time.monotonic(), time.time(), seq), time.monotonic())  # no events at all
            line = resp.fp.readline().decode()
            if line.startswith("event: "):
                kind = line[7:].strip()
            elif line.startswith("data: "):
                got[kind] = json.loads(line[6:])
        assert {"frame", "pose"} <= set(got), got
        labels = {ln["label"] for ln in got["frame"]["grid"]["lines"] if ln["kind"] == "range"}
        assert {"100 m", "200 m"} <= labels, labels  # 30 m up, 10 deg down: the centre sees 170 m
        assert len(got["pose"]["pose"]["footprint"]) == 32 and got["pose"]["pose"]["lat"] == 42.6
    finally:
        conn.close()
        srv.stop()
