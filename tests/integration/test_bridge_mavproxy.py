"""A real ground station: MAVProxy (from PyPI, headless) behind `edge-bridge` receives the daemon's alerts."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

os.environ["MAVLINK20"] = "1"
from pymavlink import mavutil

from edge.gcs.alerts import GcsAlerter
from edge.gcs.settings import GcsSettings
from edge.types import EventKind, FrameEvents, GeoEvent

MAVPROXY = shutil.which("mavproxy.py", path=str(Path(sys.executable).parent))
pytestmark = pytest.mark.skipif(MAVPROXY is None, reason="MAVProxy not installed (pip install --no-deps MAVProxy)")


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _PymavlinkSender:
    """The daemon's side of the link as GcsAlerter sees it: ``send(msg) -> bool`` over a pymavlink connection."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def send(self, msg: Any) -> bool:
        self.conn.mav.send(msg)
        return True


def test_mavproxy_shows_daemon_alert_through_bridge(tmp_path: Path):
    os.environ["MAVLINK20"] = "1"  # pymavlink's connections pick the wire version from the environment
    mavutil.set_dialect("ardupilotmega")
    ap_port, daemon_port, gcs_port = _free_udp_port(), _free_udp_port(), _free_udp_port()
    cfg = tmp_path / "bridge.toml"
    cfg.write_text(
        f'[[endpoint]]\nname = "ap"\nport = {ap_port}\n'
        f'[[endpoint]]\nname = "daemon"\nport = {daemon_port}\n'
        f'[[endpoint]]\nname = "gcs"\nmode = "udp-client"\nport = {gcs_port}\n'
    )
    bridge = subprocess.Popen([sys.executable, "-m", "fwbridge.cli", "-c", str(cfg)], stderr=subprocess.DEVNULL)
    assert MAVPROXY is not None
    gcs = subprocess.Popen(
        [
            sys.executable,
            MAVPROXY,
            f"--master=udpin:127.0.0.1:{gcs_port}",
            "--daemon",
            "--non-interactive",
            f"--state-basedir={tmp_path}",
            "--default-modules=link",
            "--cmd=set flushlogs 1",  # write the telemetry log as it comes, not at exit
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    autopilot = mavutil.mavlink_connection(f"udpout:127.0.0.1:{ap_port}", source_system=1, source_component=1)
    daemon = mavutil.mavlink_connection(f"udpout:127.0.0.1:{daemon_port}", source_system=1, source_component=191)
    alerter = GcsAlerter(GcsSettings(msgs_per_s=10.0), _PymavlinkSender(daemon))
    out_lines: list[str] = []
    assert gcs.stdout is not None
    stdout = gcs.stdout
    reader = threading.Thread(target=lambda: out_lines.extend(iter(stdout.readline, "")), daemon=True)
    reader.start()
    track = 7
    try:
        alerter.start()
        t0 = time.monotonic()
        t_seen = None  # MAVProxy takes seconds to start; then it must hear 3 s of alerts
        while time.monotonic() - t0 < 30.0 and (t_seen is None or time.monotonic() - t_seen < 3.0):
            if t_seen is None and any("Detected vehicle 1:1" in line for line in list(out_lines)):
                t_seen = time.monotonic()
            autopilot.mav.heartbeat_send(2, 3, 0, 0, 4)
            daemon.mav.heartbeat_send(18, 8, 0, 0, 4)
            ev = GeoEvent(
                track, 0, "person", 0.9, EventKind.NEW, (0.4, 0.4, 0.45, 0.5), 42.61234, 19.94512, 1000.0, 6.0, 150.0
            )
            alerter.submit(FrameEvents("cam0", 1, time.time(), None, (ev,)))
            track += 1
            time.sleep(0.5)
    finally:
        alerter.stop()
        gcs.send_signal(signal.SIGINT)
        try:
            gcs.wait(timeout=10)
        except subprocess.TimeoutExpired:
            gcs.kill()
            gcs.wait()
        reader.join(timeout=5)
        out = "".join(out_lines)
        bridge.send_signal(signal.SIGTERM)
        bridge.wait(timeout=5)
        autopilot.close()
        daemon.close()
    assert "Detected vehicle 1:1" in out, out[-2000:]
    # MAVProxy's console prints STATUSTEXT of the autopilot's own component only; its telemetry log has everything
    log = mavutil.mavlink_connection(str(tmp_path / "mav.tlog"))
    texts, geo = [], []
    while (m := log.recv_match()) is not None:
        if m.get_srcComponent() == 191 and m.get_type() == "STATUSTEXT":
            texts.append(m.text)
        elif m.get_type() == "CAMERA_TRACKING_GEO_STATUS":
            geo.append((m.lat, m.lon))
    assert any(t.startswith("person 90% 42.61234 19.94512 +/-6 m #") for t in texts), texts
    assert (426123400, 199451200) in geo
