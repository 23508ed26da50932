"""A real ground station: MAVProxy (from PyPI, headless) behind `edge-bridge` receives the daemon's alerts."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
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
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    autopilot = mavutil.mavlink_connection(f"udpout:127.0.0.1:{ap_port}", source_system=1, source_component=1)
    daemon = mavutil.mavlink_connection(f"udpout:127.0.0.1:{daemon_port}", source_system=1, source_component=191)
    alerter = GcsAlerter(GcsSettings(msgs_per_s=10.0), _PymavlinkSender(daemon))
    ev = GeoEvent(7, 0, "person", 0.9, EventKind.NEW, (0.4, 0.4, 0.45, 0.5), 42.61234, 19.94512, 1000.0, 6.0, 150.0)
    try:
        alerter.start()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 8.0:  # MAVProxy needs a few seconds to start and see the vehicle
            autopilot.mav.heartbeat_send(2, 3, 0, 0, 4)
            daemon.mav.heartbeat_send(18, 8, 0, 0, 4)
            alerter.submit(FrameEvents("cam0", 1, time.time(), None, (ev,)))
            time.sleep(0.5)
            ev = GeoEvent(
                ev.track_id + 1,
                *[
                    getattr(ev, f)
                    for f in (
                        "class_id",
                        "class_name",
                        "confidence",
                        "kind",
                        "bbox_norm",
                        "lat",
                        "lon",
                        "alt",
                        "error_m",
                        "range_m",
                    )
                ],
            )
    finally:
        alerter.stop()
        gcs.send_signal(signal.SIGINT)
        try:
            out, _ = gcs.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            gcs.kill()
            out, _ = gcs.communicate()
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
