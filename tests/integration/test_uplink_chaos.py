"""Done-when of the uplink: 10,000 events arrive exactly once (after dedup) through daemon SIGKILLs, broker
restarts and a 60 s black-holed link. Real mosquitto, real subprocesses, a real TCP proxy; with "radio" also the
telemetry-radio transport at once (the simulator's autopilot, a real `edge-bridge`, `edge listen --mavlink`)."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.localbroker import LocalBroker

sys.path.insert(0, str(Path(__file__).parent))
from uplink_helpers import Proxy

from sim.autopilot import Autopilot
from sim.scenario import load_scenario
from sim.world import World

TOTAL = 10_000
RATE = 100.0  # events/s: production takes ~100 s
DRIVER = Path(__file__).with_name("uplink_driver.py")
SCEN = Path(__file__).resolve().parents[2] / "sim" / "scenarios" / "drone-border.toml"

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _wait_for(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.timeout(400)
@pytest.mark.parametrize("transports", ["mqtt", "mqtt+radio"])
def test_every_event_arrives_through_kills_restarts_and_blackhole(tmp_path: Path, transports: str) -> None:
    rng = random.Random(7)
    broker = LocalBroker(tmp_path / "broker")
    proxy = Proxy(broker.port)
    state = tmp_path / "state"
    state.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(DRIVER.parent), os.environ.get("PYTHONPATH", "")])}
    rx_out, rx_err = (tmp_path / "rx.out").open("wb"), (tmp_path / "rx.err").open("wb")
    drv_log = (tmp_path / "driver.log").open("ab")
    radio: list[str] = []
    extras: list[subprocess.Popen[bytes]] = []
    autopilot = None
    if transports == "mqtt+radio":  # autopilot -> bridge <- driver; bridge -> listener (a ground station's forward)
        ap_port, daemon_port, gcs_port = _udp_port(), _udp_port(), _udp_port()
        cfg = tmp_path / "bridge.toml"
        cfg.write_text(
            f'[[endpoint]]\nname = "ap"\nport = {ap_port}\n[[endpoint]]\nname = "daemon"\nport = {daemon_port}\n'
            f'[[endpoint]]\nname = "gcs"\nmode = "udp-client"\nport = {gcs_port}\n'
        )
        extras.append(subprocess.Popen([sys.executable, "-m", "fwbridge.cli", "-c", str(cfg)], stderr=drv_log))
        autopilot = Autopilot(World(load_scenario(SCEN)), [f"udpout:127.0.0.1:{ap_port}"])
        autopilot.start()
        radio = [f"udpout:127.0.0.1:{daemon_port}"]
        listen_radio = ["--mavlink", f"udp:127.0.0.1:{gcs_port}"]
    else:
        listen_radio = []
    listener = subprocess.Popen(
        [sys.executable, "-m", "edge", "listen", "--broker", f"mqtt://127.0.0.1:{broker.port}", "--client-id",
         "chaos-rx", "--vehicle", "chaos", "--count", str(TOTAL), "--timeout", "330", "--report-s", "5",
         *listen_radio],
        stdout=rx_out, stderr=rx_err,
    )  # fmt: skip

    def start_driver() -> subprocess.Popen[bytes]:
        cmd = [sys.executable, str(DRIVER), str(state), f"mqtt://127.0.0.1:{proxy.port}", str(TOTAL), str(RATE)]
        return subprocess.Popen([*cmd, *radio], stdout=drv_log, stderr=drv_log, env=env)

    driver: subprocess.Popen[bytes] | None = None
    try:
        _wait_for(lambda: b"connected" in (tmp_path / "rx.err").read_bytes(), 20, "the receiver to connect")
        driver = start_driver()
        t0 = time.monotonic()
        # Production takes ~100 s. Kills and restarts fall at random moments before (0-35 s), during (35-95 s)
        # and after (95-105 s) the black hole, so some hit a flowing link and some a dead one.
        windows = [(2, 34), (2, 34), (2, 34), (36, 94), (96, 104)]
        kills = sorted(rng.uniform(a, b) for a, b in windows)
        restarts = sorted(rng.uniform(a, b) for a, b in windows)
        hole_on, hole_off = 35.0, 95.0
        log: list[str] = []
        while kills or restarts or hole_off:
            now = time.monotonic() - t0
            if kills and now >= kills[0]:
                kills.pop(0)
                driver.send_signal(signal.SIGKILL)
                driver.wait(10)
                driver = start_driver()
                log.append(f"{now:.1f} kill")
            if restarts and now >= restarts[0]:
                restarts.pop(0)
                broker.restart()
                log.append(f"{now:.1f} broker restart")
            if hole_on and now >= hole_on:
                proxy.blackhole(True)
                hole_on = 0.0
                log.append(f"{now:.1f} black hole on")
            if not hole_on and hole_off and now >= hole_off:
                proxy.blackhole(False)
                hole_off = 0.0
                log.append(f"{now:.1f} black hole off")
            time.sleep(0.05)
        assert listener.wait(240) == 0, f"receiver did not get {TOTAL} events; chaos: {log}"
    finally:
        for p in (driver, listener, *extras):
            if p is not None and p.poll() is None:
                p.terminate()
                p.wait(10)
        if autopilot is not None:
            autopilot.stop()
        proxy.close()
        broker.stop()
        rx_out.close()
        rx_err.close()
        drv_log.close()
    lines = (tmp_path / "rx.out").read_text().splitlines()
    tracks = [json.loads(line)["track"] for line in lines]
    assert len(tracks) == TOTAL  # the receiver printed each event once
    assert sorted(tracks) == list(range(TOTAL))
    summary = (tmp_path / "rx.err").read_text().strip().splitlines()[-1]
    m = re.search(
        r"(\d+) detections in (\d+) records; (\d+) duplicates dropped \((\d+) across radio and MQTT\); (\d+) historical",
        summary,
    )
    assert m is not None, summary
    assert int(m.group(1)) == TOTAL
    assert int(m.group(3)) >= 0  # reported; how many depends on where the kills fell
    assert transports != "mqtt" or int(m.group(4)) == 0
    assert int(m.group(5)) > 0  # the backlog after the black hole was flagged historical
    boots = set(re.findall(r"boot ([0-9a-f]{8}) starts", (tmp_path / "driver.log").read_text()))
    assert len(boots) == 6  # the first process and five restarts after SIGKILL
    if transports == "mqtt+radio":
        radio_stats = re.search(r"listen: radio .*'acks_out': (\d+)", (tmp_path / "rx.err").read_text())
        assert radio_stats is not None and int(radio_stats.group(1)) > 0  # records did come by radio too
    print(f"chaos ({transports}): {log}; receiver: {summary}")
