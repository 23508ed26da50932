"""Every reconnecting reader is back within 2 s of the other side's return, however long it was away and however
often it went before: an ffmpeg camera stream and a Mosquitto broker, each restarted several times."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bench.localbroker import LocalBroker, free_port
from bench.waits import wait_for
from edge.sources.camera import Camera
from edge.sources.camera_settings import CameraSettings
from edge.types import Priority
from edge.uplink.settings import MqttSettings, SpoolSettings
from edge.uplink.spool import Spool
from edge.uplink.transports.mqtt import mqtt_uplink

pytestmark = pytest.mark.integration


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_camera_stream_back_within_two_seconds_after_each_outage() -> None:
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    cmd = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=20",
        "-c:v", "mjpeg", "-q:v", "5", "-f", "mjpeg", f"{url}?listen=1",
    ]  # fmt: skip

    def serve() -> subprocess.Popen[bytes]:
        # ffmpeg serves one client: no probing whether it listens; its start-up counts against the 2 s
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    procs = [serve()]
    cam = Camera(CameraSettings(url=url, stall_timeout_s=1.0))  # the default reconnect schedule
    cam.start()
    took = []
    try:
        assert cam.latest(15.0) is not None
        for _ in range(3):
            procs[-1].kill()
            procs[-1].wait(5)
            assert wait_for(lambda: cam.state == "reconnecting", 10.0), cam.health()
            time.sleep(4.0)  # away long enough for several failed reopenings
            n = cam.received
            t0 = time.monotonic()
            procs.append(serve())
            assert wait_for(lambda n=n: cam.received > n, 15.0), cam.health()
            took.append(time.monotonic() - t0)
        assert max(took) < 2.0, took
    finally:
        cam.stop()
        for p in procs:
            p.kill()
            p.wait(5)


@pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed")
def test_mqtt_uplink_back_within_two_seconds_after_each_broker_restart(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path / "broker")
    spool = Spool(tmp_path / "spool.sqlite", SpoolSettings())
    up = mqtt_uplink(MqttSettings(url=f"mqtt://127.0.0.1:{broker.port}"), spool, "v1")  # default schedule
    up.start()
    took = []
    try:
        assert wait_for(lambda: up.health()["state"] == "connected"), up.health()
        for i in range(4):
            broker.stop()
            assert wait_for(lambda: up.health()["state"] != "connected", 10.0), up.health()
            time.sleep(4.0)  # away long enough for several refused connects
            connects = up.health()["connects"]
            broker.start()
            t0 = time.monotonic()
            assert wait_for(lambda c=connects: up.health()["connects"] > c and up.health()["state"] == "connected"), (
                up.health()
            )
            took.append(time.monotonic() - t0)
            spool.insert([(Priority.ALERT, time.time(), b"after restart %d" % i)])
            assert wait_for(lambda: spool.rows == 0, 10.0), up.health()  # and it sends again
        assert max(took) < 2.0, took
    finally:
        up.stop()
        broker.stop()


@pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed")
def test_edge_listen_back_within_two_seconds_after_each_broker_restart(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path / "broker")
    listen = subprocess.Popen(
        [sys.executable, "-m", "edge", "listen", "--broker", f"mqtt://127.0.0.1:{broker.port}", "--report-s", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    connected: list[float] = []

    def read() -> None:
        assert listen.stderr is not None
        for line in listen.stderr:
            if "connected to" in line:
                connected.append(time.monotonic())

    threading.Thread(target=read, daemon=True).start()
    took = []
    try:
        assert wait_for(lambda: len(connected) == 1), "edge listen never connected"
        for i in range(3):
            broker.stop()
            time.sleep(4.0)  # away long enough for several failed reconnects
            broker.start()
            t0 = time.monotonic()
            assert wait_for(lambda n=i + 2: len(connected) >= n), "edge listen did not reconnect"
            took.append(connected[-1] - t0)
        assert max(took) < 2.0, took
    finally:
        listen.terminate()
        listen.wait(10)
        broker.stop()
