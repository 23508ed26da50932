"""`edge sim --record --mavlink`: the autopilot's MAVLink goes into the recording's tlog, and it agrees with the
recorded ground-truth poses (real process, real UDP, CRC-checked parsing)."""

from __future__ import annotations

import bisect
import importlib.util
import json
import math
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from pymavlink import mavutil

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("sim.autopilot") is None, reason="sim/autopilot.py not written yet"),
]
ROOT = Path(__file__).resolve().parents[2]
BORDER = ROOT / "sim" / "scenarios" / "drone-border.toml"


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_recording_holds_the_autopilots_mavlink(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    url = f"udpout:127.0.0.1:{_free_udp_port()}"  # nobody listens there; the recorder gets its own copy
    proc = subprocess.run(
        [sys.executable, "-m", "edge", "sim", "--scenario", str(BORDER), "--duration", "4", "--http-port", "0",
         "--record", str(rec), "--mavlink", url],
        cwd=ROOT, capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"mavlink {url}" in proc.stdout.splitlines()
    log = mavutil.mavlink_connection(str(rec / "mavlink.tlog"))
    positions = []
    types = set()
    while (m := log.recv_match(blocking=False)) is not None:
        types.add(m.get_type())
        if m.get_type() == "GLOBAL_POSITION_INT":
            positions.append((m._timestamp, m.lat / 1e7, m.lon / 1e7, m.alt / 1e3))
    assert {"HEARTBEAT", "GLOBAL_POSITION_INT", "ATTITUDE"} <= types
    assert len(positions) >= 4
    truth = [json.loads(x) for x in (rec / "truth.jsonl").read_text().splitlines()]
    walls = [t["t_wall"] for t in truth]
    for stamp, lat, lon, alt in positions:
        i = min(max(bisect.bisect_left(walls, stamp), 0), len(truth) - 1)
        pose = truth[i]["pose"]
        north = (lat - pose["lat"]) * 111_080.0
        east = (lon - pose["lon"]) * 111_080.0 * math.cos(math.radians(lat))
        # GPS noise is 1.5 m 1-sigma; the drone flies 7 m/s, the frame is at most ~0.2 s away
        assert math.hypot(north, east) < 15.0
        assert abs(alt - pose["alt"]) < 20.0
