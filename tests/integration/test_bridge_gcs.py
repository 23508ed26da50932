"""Done-when of the pilot's view: the simulator's autopilot on a serial pty behind `edge-bridge` (a real process),
a ground station (pymavlink) on UDP and the daemon's link on the local endpoint both get telemetry; the GCS gets
the daemon's STATUSTEXT and CAMERA_TRACKING_GEO_STATUS for simulated targets; the pty pulled away and back
under a new name resumes routing within 5 s; systemd READY/WATCHDOG over a real notify socket."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pymavlink import mavutil

from edge.gcs.alerts import GcsAlerter
from edge.gcs.settings import GcsSettings
from edge.sources.mavlink import MavlinkLink
from edge.sources.settings import MavlinkSettings
from edge.types import EventKind, FrameEvents, GeoEvent
from sim.autopilot import Autopilot
from sim.scenario import load_scenario
from sim.world import World

REPO = Path(__file__).resolve().parents[2]


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _collect(conn: Any, seconds: float) -> list[Any]:
    """What the GCS receives in ``seconds``, sending its own heartbeat every 0.5 s as a ground station does."""
    out: list[Any] = []
    end = time.monotonic() + seconds
    next_hb = 0.0
    while (now := time.monotonic()) < end:
        if now >= next_hb:
            next_hb = now + 0.5
            conn.mav.heartbeat_send(6, 8, 0, 0, 0)
        m = conn.recv_match(blocking=True, timeout=0.05)
        if m is not None and m.get_type() != "BAD_DATA":
            out.append(m)
    return out


def _stats(port: int) -> str:
    """The bridge's statistics JSON, asked over UDP (for failure messages)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as q:
        q.settimeout(2)
        q.sendto(b"?", ("127.0.0.1", port))
        return q.recv(65535).decode()


def _events(world: World, t: float, kind: EventKind) -> FrameEvents:
    evs = tuple(
        GeoEvent(
            tt.id, tt.class_id, tt.class_name, 0.9, kind, (0.4, 0.4, 0.45, 0.5), tt.lat, tt.lon, tt.alt, 6.0, 150.0
        )
        for tt in world.targets(t)
    )
    return FrameEvents("cam0", 1, time.time(), None, evs)


@pytest.fixture
def notify_socket(tmp_path: Path):
    """A systemd-like notify socket read continuously (an unread one blocks the sender after 10 datagrams)."""
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.1)
    states: list[str] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                states.append(sock.recv(4096).decode())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    yield path, states
    stop.set()
    reader.join(timeout=2)
    sock.close()


def test_autopilot_behind_bridge_gcs_and_daemon(tmp_path: Path, notify_socket):
    os.environ["MAVLINK20"] = "1"  # pymavlink's connections pick the wire version from the environment
    mavutil.set_dialect("ardupilotmega")
    world = World(load_scenario(REPO / "sim" / "scenarios" / "drone-border.toml"))
    gcs_port, daemon_port, stats_port = _free_udp_port(), _free_udp_port(), _free_udp_port()
    cfg = tmp_path / "bridge.toml"
    cfg.write_text(
        f"[bridge]\nstats_port = {stats_port}\n"
        f'[serial]\nglob = "{tmp_path}/usb-fc-*"\n'
        f'[[endpoint]]\nname = "gcs"\nmode = "udp-server"\nport = {gcs_port}\n'
        f'[[endpoint]]\nname = "daemon"\nmode = "udp-server"\nport = {daemon_port}\n'
    )
    ap = Autopilot(world, urls=["pty"])
    ap.start()
    (tmp_path / "usb-fc-A").symlink_to(str(ap.pty_path))
    notify_path, notify_states = notify_socket
    env = {**os.environ, "NOTIFY_SOCKET": notify_path, "WATCHDOG_USEC": "1000000"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fwbridge.cli", "-c", str(cfg)], env=env, stderr=subprocess.PIPE, text=True
    )
    gcs = mavutil.mavlink_connection(f"udpout:127.0.0.1:{gcs_port}", source_system=255, source_component=190)
    link = MavlinkLink(MavlinkSettings(url=f"udpout:127.0.0.1:{daemon_port}"))
    daemon_got: list[str] = []
    link.add_listener(lambda msg, _t: daemon_got.append(msg.get_type()))
    alerter = GcsAlerter(GcsSettings(msgs_per_s=20.0, bytes_per_s=2000.0), link)
    ap2 = None
    try:
        link.start()
        alerter.start()
        first: list[Any] = []
        deadline = time.monotonic() + 10.0  # the bridge process starts, then learns the GCS from its heartbeat
        while time.monotonic() < deadline and not (
            {"HEARTBEAT", "GLOBAL_POSITION_INT"} <= {m.get_type() for m in first if m.get_srcComponent() == 1}
            and "GLOBAL_POSITION_INT" in daemon_got
        ):
            first += _collect(gcs, 0.5)
        assert any(m.get_type() == "HEARTBEAT" and m.get_srcComponent() == 1 for m in first), "autopilot heartbeat"
        assert any(m.get_type() == "GLOBAL_POSITION_INT" for m in first), "autopilot position"
        assert "GLOBAL_POSITION_INT" in daemon_got, "daemon side gets telemetry"
        # the daemon alerts on the simulated targets; the GCS hears them through the bridge
        alerter.submit(_events(world, 10.0, EventKind.NEW))
        got = _collect(gcs, 2.0)
        truth = {(round(t.lat * 1e7), round(t.lon * 1e7)) for t in world.targets(10.0)}
        texts = [m.text for m in got if m.get_type() == "STATUSTEXT" and m.get_srcComponent() == 191]
        geo = [m for m in got if m.get_type() == "CAMERA_TRACKING_GEO_STATUS"]
        assert texts and all(len(t.encode()) <= 50 for t in texts)
        assert any(t.startswith(("person 90% ", "vehicle 90% ")) for t in texts), texts
        assert geo and {(m.lat, m.lon) for m in geo} <= truth
        # pull the serial port away and bring it back under a new name: routing resumes within 5 s
        ap.stop()
        (tmp_path / "usb-fc-A").unlink()
        time.sleep(0.5)
        ap2 = Autopilot(world, urls=["pty"])
        ap2.start()
        (tmp_path / "usb-fc-B").symlink_to(str(ap2.pty_path))
        t_back = time.monotonic()
        resumed = False
        while not resumed and time.monotonic() - t_back < 5.0:
            resumed = any(m.get_type() == "GLOBAL_POSITION_INT" for m in _collect(gcs, 0.1))
        assert resumed, f"routing did not resume within 5 s of the port coming back: {_stats(stats_port)}"
        states = "".join(notify_states)
        assert "READY=1" in states and "WATCHDOG=1" in states and "waiting for the flight controller" in states
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        alerter.stop()
        link.stop()
        gcs.close()
        ap.stop()
        if ap2 is not None:
            ap2.stop()
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate(timeout=5)
        print(err[-3000:])
