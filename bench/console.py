"""``edge bench`` part "console": what the field console costs the pipeline.

The daemon's Pipeline runs the default model on simulator frames (a camera faster than the detector) in short
segments, alternately without the console and with it: the hub as a sink and the frame observer, the server on a
loopback port, a health snapshot each second, and one browser-like client that holds the event stream open with
the live view on and fetches every JPEG it is told of (as the page does). Off and on are interleaved in one process
so both halves of a pair see the same load on a shared machine; ``console_fps_ratio`` is the median of on / off.
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from bench.vision import DEFAULT_MODEL, sim_frames
from bench.vision_parts import LookingDown, MemoryCamera, make_standin_model
from edge.console.hub import ConsoleHub
from edge.console.server import ConsoleServer
from edge.console.settings import ConsoleSettings
from edge.detect.engine import OnnxDetector
from edge.detect.settings import DetectorSettings
from edge.geo.locator import GroundGeolocator
from edge.geo.settings import GeoSettings
from edge.pipeline import Pipeline
from edge.track.settings import TrackerSettings
from edge.track.tracker import ByteTracker
from edge.types import EventKind, Frame, FrameEvents, GeoEvent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _segment(
    det: OnnxDetector, images: list[np.ndarray], seconds: float, console: bool, out_dir: Path
) -> tuple[float, float, int]:
    """Pipeline fps over ``seconds``, this process's CPU s per frame, and the JPEGs the client fetched; with or
    without the console."""
    frames = [0]
    hub = ConsoleHub() if console else None

    def observe(frame: Frame, t_infer: float) -> None:
        frames[0] += 1
        if hub is not None:
            hub.observe(frame, t_infer)

    geo = GroundGeolocator(GeoSettings())
    camera = MemoryCamera(images, fps=60.0)
    pipe = Pipeline(
        camera, det, ByteTracker(TrackerSettings(min_hits=2)), geo, LookingDown(), [hub] if hub else [], observe
    )
    server: ConsoleServer | None = None
    client: subprocess.Popen[str] | None = None
    stop_health = threading.Event()
    if hub is not None:
        settings = ConsoleSettings(enabled=True, port=_free_port())
        server = ConsoleServer(settings, hub, out_dir, {}, geo.view, 5000.0, LookingDown().pose_at)
        server.start()
        client = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"from bench.console_client import main; main({settings.port}, {seconds + 1.5})",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )

        def health() -> None:  # as the daemon does, every status interval
            while not stop_health.wait(1.0):
                hub.report_health({"t_utc": time.time(), "stages": {"pipeline": pipe.health()}})

        threading.Thread(target=health, daemon=True).start()
    camera.start()
    camera.latest(10.0)
    if server is not None:  # the client is there before the count starts
        deadline = time.monotonic() + 10
        while not server.clients and time.monotonic() < deadline:
            time.sleep(0.05)
    pipe.start()
    time.sleep(0.5)  # let the stream settle: count from here
    n0, t0, c0 = frames[0], time.monotonic(), time.process_time()
    time.sleep(seconds)
    n = frames[0] - n0
    fps, cpu = n / (time.monotonic() - t0), (time.process_time() - c0) / max(n, 1)
    pipe.stop()
    camera.stop()
    stop_health.set()
    fetched = 0
    if client is not None and server is not None:
        out, _ = client.communicate(timeout=10)
        server.stop()
        fetched = int(out.strip() or 0)
    return fps, cpu, fetched


def _own_cost(images: list[np.ndarray], out_dir: Path, seconds: float, fps: float = 7.0) -> float:
    """The console's own CPU (ms per s) without the pipeline: frames and 5 track events each at ``fps`` handed to
    it as the pipeline does, one live client (its own process, not counted). Robust to other loads."""
    geo = GroundGeolocator(GeoSettings())
    hub = ConsoleHub()
    settings = ConsoleSettings(enabled=True, port=_free_port())
    server = ConsoleServer(settings, hub, out_dir, {}, geo.view, 5000.0, LookingDown().pose_at)
    server.start()
    code = f"from bench.console_client import main; main({settings.port}, {seconds + 5})"
    client = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while not server.clients and time.monotonic() < deadline:
        time.sleep(0.05)
    pose = LookingDown().pose_at(0.0)
    c0, t0, n = time.process_time(), time.monotonic(), 0
    while time.monotonic() - t0 < seconds:
        n += 1
        ev = [
            GeoEvent(i, 0, "person", 0.8, EventKind.UPDATE, (0.1, 0.1, 0.2, 0.2), 42.6, 19.9, 0.0, 5.0, 170.0)
            for i in range(5)
        ]
        hub.submit(FrameEvents("cam0", n, time.time(), pose, tuple(ev)))
        hub.observe(Frame(images[n % len(images)], time.monotonic(), time.time(), n), time.monotonic())
        time.sleep(max(0.0, t0 + n / fps - time.monotonic()))
    cpu = time.process_time() - c0
    client.kill()
    client.wait()
    server.stop()
    return cpu / seconds * 1e3


def run_bench(out_dir: Path, quick: bool) -> dict[str, float]:
    """Keys: console_fps_ratio (median of paired on / off pipeline fps), console_fps_on, console_fps_off,
    console_cpu_ratio (median of paired on / off CPU time per frame of this process; the client's CPU is not in
    it, as a browser runs on the crew's laptop), console_client_fps (JPEGs the client fetched per second), and
    console_cpu_ms_per_s (the console's own CPU, ms per s, at 7 fps with 5 events a frame and one live client,
    without the pipeline: the figure least moved by other loads on a shared machine)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model = DEFAULT_MODEL if DEFAULT_MODEL.is_file() else make_standin_model(out_dir / "standin.onnx")
    det = OnnxDetector(DetectorSettings(model=str(model), providers=["cpu"], warmup_runs=3))
    images, _ = sim_frames(6 if quick else 12)
    seg = 3.0
    ratios, cpu, on, off, fetched = [], [], [], [], []
    for i in range(3 if quick else 10):
        order = (False, True) if i % 2 == 0 else (True, False)  # alternate, so that a drifting load cancels
        got = {flag: _segment(det, images, seg, flag, out_dir) for flag in order}
        off.append(got[False][0])
        on.append(got[True][0])
        ratios.append(got[True][0] / got[False][0] if got[False][0] else 0.0)
        cpu.append(got[True][1] / got[False][1] if got[False][1] else 0.0)
        fetched.append(got[True][2] / (seg + 1.5))  # the client runs 1.5 s longer than the count
    return {
        "console_cpu_ms_per_s": _own_cost(images, out_dir, 5.0 if quick else 10.0),
        "console_fps_ratio": statistics.median(ratios),
        "console_fps_on": statistics.median(on),
        "console_fps_off": statistics.median(off),
        "console_cpu_ratio": statistics.median(cpu),
        "console_client_fps": statistics.median(fetched),
    }
