"""Done-when of the telemetry-radio uplink: with the IP uplink black-holed, every new-track alert reaches
`edge listen --mavlink` through the real firmware bridge and a real MAVProxy forward, the radio's bytes stay within
5 % of its budget over a minute, and once the IP link returns (both paths on) nothing arrives twice.

Real parts: the simulator's autopilot (UDP), `edge-bridge` (fwbridge), MAVProxy, Mosquitto, the black-hole TCP
proxy, and the uplink driver process (spool writer, MQTT and radio drainers, MAVLink link, GCS alerter).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ["MAVLINK20"] = "1"
from pymavlink import mavutil

from bench.localbroker import LocalBroker
from edge.gcs.settings import GcsSettings
from sim.autopilot import Autopilot
from sim.scenario import load_scenario
from sim.world import World

sys.path.insert(0, str(Path(__file__).parent))
from uplink_helpers import Proxy

MAVPROXY = shutil.which("mavproxy.py", path=str(Path(sys.executable).parent))
SCEN = Path(__file__).resolve().parents[2] / "sim" / "scenarios" / "drone-border.toml"
DRIVER = Path(__file__).with_name("uplink_driver.py")
RATE = 6.0  # events/s, every 4th a new track: ~830 B/s wanted on the radio, more than its 600 B/s
TOTAL = 480  # 80 s of production
BUDGETED = {  # what the radio budget covers: the GCS alerts and the records
    "TUNNEL",
    "STATUSTEXT",
    "CAMERA_TRACKING_GEO_STATUS",
    "CAMERA_TRACKING_IMAGE_STATUS",
    "NAMED_VALUE_FLOAT",
    "NAMED_VALUE_INT",
}

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(MAVPROXY is None, reason="MAVProxy not installed (pip install --no-deps MAVProxy)"),
]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _tracks(out: Path) -> list[int]:
    return [json.loads(line)["track"] for line in out.read_text().splitlines() if line.strip()]


@pytest.mark.timeout(400)
def test_alerts_reach_the_ground_over_the_radio_while_the_ip_link_is_dead(tmp_path: Path) -> None:
    assert MAVPROXY is not None
    ap_port, daemon_port, gcs_port, listen_port = (free_udp_port() for _ in range(4))
    cfg = tmp_path / "bridge.toml"
    cfg.write_text(
        f'[[endpoint]]\nname = "ap"\nport = {ap_port}\n'
        f'[[endpoint]]\nname = "daemon"\nport = {daemon_port}\n'
        f'[[endpoint]]\nname = "gcs"\nmode = "udp-client"\nport = {gcs_port}\nbytes_per_s = 5760.0\n'
    )
    broker = LocalBroker(tmp_path / "broker")
    proxy = Proxy(broker.port)
    proxy.blackhole(True)  # the IP uplink is dead from the start
    world = World(load_scenario(SCEN))
    autopilot = Autopilot(world, [f"udpout:127.0.0.1:{ap_port}"])
    procs: list[subprocess.Popen[bytes]] = []
    logs = {n: (tmp_path / f"{n}.log").open("wb") for n in ("bridge", "mavproxy", "driver")}
    rx_out, rx_err = tmp_path / "rx.out", tmp_path / "rx.err"
    state = tmp_path / "state"
    state.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(DRIVER.parent), os.environ.get("PYTHONPATH", "")])}
    try:
        autopilot.start()
        procs.append(subprocess.Popen([sys.executable, "-m", "fwbridge.cli", "-c", str(cfg)],
                                      stdout=logs["bridge"], stderr=logs["bridge"]))  # fmt: skip
        procs.append(subprocess.Popen(
            [sys.executable, MAVPROXY, f"--master=udpin:127.0.0.1:{gcs_port}", f"--out=udp:127.0.0.1:{listen_port}",
             "--daemon", "--non-interactive", f"--state-basedir={tmp_path}", "--default-modules=link",
             "--cmd=set flushlogs 1"],
            stdout=logs["mavproxy"], stderr=logs["mavproxy"], cwd=tmp_path))  # fmt: skip
        listener = subprocess.Popen(
            [sys.executable, "-m", "edge", "listen", "--mavlink", f"udp:127.0.0.1:{listen_port}", "--broker",
             f"mqtt://127.0.0.1:{broker.port}", "--client-id", "radio-rx", "--vehicle", "chaos",
             "--count", str(TOTAL), "--timeout", "360", "--report-s", "5"],
            stdout=rx_out.open("wb"), stderr=rx_err.open("wb"))  # fmt: skip
        procs.append(listener)
        _wait_for(lambda: b"connected" in rx_err.read_bytes(), 20, "the receiver to connect to the broker")
        driver = subprocess.Popen(
            [sys.executable, str(DRIVER), str(state), f"mqtt://127.0.0.1:{proxy.port}", str(TOTAL), str(RATE),
             f"udpout:127.0.0.1:{daemon_port}"],
            stdout=logs["driver"], stderr=logs["driver"], env=env)  # fmt: skip
        procs.append(driver)
        alerts = set(range(0, TOTAL, 4))
        # Production takes 80 s; the radio has all alerts soon after (they never wait for updates).
        _wait_for(lambda: alerts <= set(_tracks(rx_out)), 200, "every new-track alert over the radio")
        over_radio = len(_tracks(rx_out))
        assert over_radio < TOTAL  # the radio alone could not carry every update: they were thinned
        proxy.blackhole(False)  # the IP link returns; both paths on at once
        assert listener.wait(200) == 0, "the receiver did not get every record once the IP link returned"
        driver.send_signal(signal.SIGTERM)
        driver.wait(10)
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGINT if p is procs[1] else signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        autopilot.stop()
        proxy.close()
        broker.stop()
        for f in logs.values():
            f.close()
    tracks = _tracks(rx_out)
    assert sorted(tracks) == list(range(TOTAL))  # each record printed once
    summary = rx_err.read_text().strip().splitlines()[-1]
    m = re.search(r"(\d+) detections in (\d+) records; (\d+) duplicates dropped", summary)
    assert m is not None, summary
    assert int(m.group(3)) == 0, summary  # nothing was sent twice (over either link) after the IP link returned
    # The radio's bytes over a minute, as the ground station logged them (MAVProxy's telemetry log).
    log = mavutil.mavlink_connection(str(tmp_path / "mav.tlog"))
    stamped: list[tuple[float, int]] = []
    while (msg := log.recv_match()) is not None:
        if msg.get_srcComponent() == 191 and msg.get_type() in BUDGETED:
            stamped.append((msg._timestamp, len(msg.get_msgbuf())))
    first_tunnel = stamped[0][0]
    t0 = first_tunnel + 10.0  # past the bucket's first burst
    window = sum(n for t, n in stamped if t0 <= t < t0 + 60.0)
    budget = GcsSettings().bytes_per_s * 60.0
    print(f"radio: {window} B in 60 s, budget {budget:.0f} B ({window / budget:.3f}); {over_radio} records by radio")
    assert abs(window / budget - 1.0) <= 0.05
