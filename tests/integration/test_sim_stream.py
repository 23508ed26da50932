"""The simulator's MJPEG stream opened by OpenCV (FFmpeg backend) over real HTTP; stop and restart."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from sim.render import Renderer
from sim.scenario import load_scenario
from sim.stream import MjpegServer, Pacer
from sim.world import World

pytestmark = pytest.mark.integration
SCENARIO = Path(__file__).resolve().parents[2] / "sim" / "scenarios" / "drone-border.toml"


@pytest.fixture
def live() -> Iterator[tuple[MjpegServer, Pacer]]:
    renderer = Renderer(World(load_scenario(SCENARIO)))
    server = MjpegServer(port=0)
    server.start()
    pacer = Pacer(10.0, lambda i, t: server.publish(renderer.render(t)[0]))
    pacer.start()
    try:
        yield server, pacer
    finally:
        pacer.stop()
        server.stop()


def _read(cap: cv2.VideoCapture, n: int, timeout: float = 10.0) -> list[np.ndarray]:
    frames: list[np.ndarray] = []
    deadline = time.monotonic() + timeout
    while len(frames) < n and time.monotonic() < deadline:
        ok, frame = cap.read()
        if ok:
            frames.append(frame)
    return frames


def test_opencv_opens_the_stream_by_url(live: tuple[MjpegServer, Pacer]) -> None:
    server, _ = live
    cap = cv2.VideoCapture(server.url)
    try:
        assert cap.isOpened()
        frames = _read(cap, 5)
        assert len(frames) == 5
        assert frames[0].shape == (480, 640, 3) and frames[0].dtype == np.uint8
        assert not np.array_equal(frames[0], frames[-1])  # the scene moves
    finally:
        cap.release()
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/snapshot.jpg", timeout=5) as resp:
        jpeg = resp.read()
    snap = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert snap is not None and snap.shape == (480, 640, 3)


def test_stream_stops_and_restarts_on_the_same_port(live: tuple[MjpegServer, Pacer]) -> None:
    server, _ = live
    port = server.port
    cap = cv2.VideoCapture(server.url)
    try:
        assert len(_read(cap, 2)) == 2
        server.stop()
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and cap.read()[0]:
            pass
        assert time.monotonic() < deadline, "the client saw the stream end"
    finally:
        cap.release()
    server.start()
    assert server.port == port
    cap = cv2.VideoCapture(server.url)
    try:
        assert cap.isOpened() and len(_read(cap, 2)) == 2
    finally:
        cap.release()


def test_thermal_frames_are_stretched_to_8_bit() -> None:
    renderer = Renderer(World(load_scenario(SCENARIO)), mode="thermal")
    server = MjpegServer(port=0)
    server.start()
    try:
        server.publish(renderer.render(0.0)[0])
        cap = cv2.VideoCapture(server.url)
        server.publish(renderer.render(0.1)[0])
        frames = _read(cap, 1)
        cap.release()
    finally:
        server.stop()
    assert len(frames) == 1 and frames[0].shape[:2] == (480, 640)
    assert frames[0].std() > 5  # a real picture, not a flat grey
