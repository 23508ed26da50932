"""`edge sim --mavlink ...` as a process: a plain pymavlink client reads CRC-checked telemetry from the simulated
autopilot over UDP, TCP and the serial pty, and the daemon's own reader does too."""

from __future__ import annotations

import json
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymavlink import mavutil

from edge.sources.mavlink import MavlinkLink
from edge.sources.settings import MavlinkSettings

REPO = Path(__file__).resolve().parents[2]
WANTED = {"HEARTBEAT", "GLOBAL_POSITION_INT", "ATTITUDE", "GPS_RAW_INT", "GIMBAL_DEVICE_ATTITUDE_STATUS"}


def _port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def sim() -> Iterator[dict[str, Any]]:
    udp, tcp = _port(socket.SOCK_DGRAM), _port(socket.SOCK_STREAM)
    args = ["sim", "--scenario", str(REPO / "sim/scenarios/drone-border.toml"), "--duration", "20"]
    args += ["--http-port", "0", "--status-json", "--mavlink", f"udpout:127.0.0.1:{udp}"]
    args += ["--mavlink", f"tcpin:127.0.0.1:{tcp}", "--mavlink", "pty"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        ready = select.select([proc.stdout], [], [], 30.0)[0]
        assert ready, "edge sim printed no status within 30 s"
        status = json.loads(proc.stdout.readline())
        pty = next(a.split(" ", 1)[1] for a in status["mavlink"] if a.startswith("pty "))
        yield {"udp": f"udpin:127.0.0.1:{udp}", "tcp": f"tcp:127.0.0.1:{tcp}", "pty": pty, "status": status}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5.0)


@pytest.mark.parametrize("kind", ["udp", "tcp", "pty"])
def test_pymavlink_client_reads_valid_telemetry(
    sim: dict[str, Any], kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAVLINK20", "1")
    mavutil.set_dialect("ardupilotmega")
    conn = mavutil.mavlink_connection(sim[kind], baud=115200, source_system=255)
    seen: dict[str, int] = {}
    try:
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline and not set(seen) >= WANTED:
            msg = conn.recv_match(blocking=True, timeout=0.5)
            if msg is not None:
                seen[msg.get_type()] = seen.get(msg.get_type(), 0) + 1
        errors = conn.mav.total_receive_errors
    finally:
        conn.close()
    assert set(seen) >= WANTED, seen
    assert "BAD_DATA" not in seen and errors == 0  # every message passed its CRC


@pytest.mark.parametrize("kind", ["udp", "tcp", "pty"])
def test_daemon_reader_connects_to_edge_sim(sim: dict[str, Any], kind: str) -> None:
    url = f"serial:{sim[kind]}" if kind == "pty" else sim[kind]
    link = MavlinkLink(MavlinkSettings(url=url))
    link.start()
    try:
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline and not (link.connected and link.to_mono(0) is not None):
            time.sleep(0.05)
        h = link.health()
    finally:
        link.stop()
    assert h["state"] == "connected" and h["target_system"] == 1, h
    assert h["bad_crc"] == 0 and link.stats["messages"] > 0
