"""`edge run` on a damaged spool, with a real Mosquitto and a real MAVLink socket: the daemon keeps running, the
salvaged records reach the broker, and the damage is said in the log, `edge status`, the health record on the
uplink and a STATUSTEXT to the ground station. Also: `edge status` right after a restart shows the previous
run's snapshot as such."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cbor2
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from bench.localbroker import LocalBroker, free_port
from edge.uplink.settings import MqttSettings, SpoolSettings
from edge.uplink.spool import Spool
from edge.uplink.transports.mqtt import mqtt_uplink

sys.path.insert(0, str(Path(__file__).parents[1] / "uplink"))
from spool_damage import delete_wal, fill, flip_wal, garbage_header, truncate_mid_page

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "edge-default.onnx"
VEHICLE = "test-01"
N = 120


class Inbox:
    """Every message on edge/<vehicle>/# from a real subscriber."""

    def __init__(self, port: int) -> None:
        self.msgs: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = lambda _c, _u, m: self._add(m.topic, m.payload)
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(f"edge/{VEHICLE}/#", qos=1)
        self.client.loop_start()

    def _add(self, topic: str, payload: bytes) -> None:
        with self._lock:
            self.msgs.append((topic, payload))

    def on(self, suffix: str) -> list[bytes]:
        with self._lock:
            return [p for t, p in self.msgs if t.endswith(suffix)]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalBroker]:
    with LocalBroker(tmp_path / "broker") as b:
        yield b


def _config(tmp_path: Path, broker_port: int, gcs_port: int, interval: float = 0.5) -> Path:
    cfg = tmp_path / "edge.toml"
    cfg.write_text(
        f"""
[vehicle]
id = "{VEHICLE}"
state_dir = "{tmp_path / "state"}"
[ops]
status_interval_s = {interval}
[mavlink]
url = "udpout:127.0.0.1:{gcs_port}"
[detector]
model = "{MODEL}"
[mqtt]
url = "mqtt://127.0.0.1:{broker_port}"
"""
    )
    return cfg


def _start(cfg: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--config", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


def _status(cfg: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "edge", "status", "--config", str(cfg)], capture_output=True, text=True, timeout=60
    )
    return out.stdout + out.stderr


def _wait(pred: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"the daemon exited ({proc.returncode}) before {what}:\n{out}")
        time.sleep(0.2)
    raise AssertionError(f"no {what} within {timeout} s")


def _stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.stdout.read() if proc.stdout else ""


def _statustexts(sock: socket.socket) -> list[str]:
    mav = mavlink.MAVLink(None)
    texts = []
    sock.settimeout(0.05)
    while True:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return texts
        for msg in mav.parse_buffer(data) or []:
            if msg.get_type() == "STATUSTEXT":
                texts.append(msg.text)


@pytest.mark.parametrize(("clean", "damage"), [(True, garbage_header), (False, delete_wal)])
def test_daemon_runs_on_a_damaged_spool_salvages_and_reports(
    tmp_path: Path, broker: LocalBroker, clean: bool, damage: Callable[[Path], None]
) -> None:
    spool = tmp_path / "state" / "spool.sqlite"
    fill(spool, N, clean)
    damage(spool)
    gcs = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    gcs.bind(("127.0.0.1", 0))
    cfg = _config(tmp_path, broker.port, gcs.getsockname()[1])
    inbox = Inbox(broker.port)
    proc = _start(cfg)
    texts: list[str] = []
    try:

        def damage_in_health() -> bool:
            for payload in inbox.on("/health"):
                spool_health = cbor2.loads(payload).get("stages", {}).get("spool", {})
                if "damage" in spool_health:
                    return True
            return False

        _wait(damage_in_health, 90, "a health record with the damage", proc)
        status = _status(cfg)
        if clean:  # everything was on the main file: every record is salvaged and arrives
            _wait(lambda: len(inbox.on("/detections")) >= N, 30, f"{N} salvaged detections", proc)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any("spool damaged" in t for t in texts):
            texts += _statustexts(gcs)
        assert proc.poll() is None
    finally:
        out = _stop(proc)
        inbox.close()
        gcs.close()
    assert proc.returncode == 0, out
    assert "spool damaged" in out
    assert "damage=spool damaged" in status, status
    assert any("spool damaged" in t for t in texts), texts
    if clean:
        assert "moved to spool.sqlite.damaged-" in out and f"{N} rows salvaged, 0 rows lost" in out
        assert list(spool.parent.glob("spool.sqlite.damaged-*"))
    else:
        assert "WAL is missing" in out and "unknown number of rows lost" in out


def test_status_after_a_restart_tells_the_earlier_runs_snapshot(tmp_path: Path, broker: LocalBroker) -> None:
    gcs_port = free_port()
    cfg = _config(tmp_path, broker.port, gcs_port)
    health = tmp_path / "state" / "health.json"
    proc = _start(cfg)
    try:
        _wait(
            lambda: health.exists() and json.loads(health.read_text())["stages"]["mqtt"]["state"] == "connected",
            90,
            "a snapshot with the uplink connected",
            proc,
        )
    finally:
        _stop(proc)
    old_boot = json.loads(health.read_text())["boot_id"]
    # The next run reports every 60 s: its first seconds show the earlier snapshot.
    cfg = _config(tmp_path, broker.port, gcs_port, interval=60)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(90)
    proc = _start(cfg, {"NOTIFY_SOCKET": str(tmp_path / "notify.sock")})
    try:
        while "READY=1" not in notify.recv(4096).decode():  # the new run is up (and has not reported yet)
            pass
        status = _status(cfg)
        js = json.loads(
            subprocess.run(
                [sys.executable, "-m", "edge", "status", "--json", "--config", str(cfg)],
                capture_output=True, text=True, timeout=60,
            ).stdout
        )  # fmt: skip
    finally:
        _stop(proc)
        notify.close()
    assert f"boot {old_boot:08x}" in status and "EARLIER RUN" in status, status
    assert "state=connected (stale)" in status, status
    assert js["boot_id"] == old_boot and js["current"] is False and js["stale"] is True and js["running"] is True
    assert js["running_boot_id"] != old_boot


@pytest.mark.parametrize(
    ("clean", "damage"), [(False, flip_wal), (False, truncate_mid_page), (True, truncate_mid_page)]
)
def test_salvaged_records_reach_the_broker(
    tmp_path: Path, broker: LocalBroker, clean: bool, damage: Callable[[Path], None]
) -> None:
    """The spool and the uplink on a WAL with a bad frame, or a database cut mid-page (after a kill or a clean
    stop): every salvaged record arrives; a WAL's bad frame costs nothing (its commits are replayed)."""
    path = tmp_path / "state" / "spool.sqlite"
    fill(path, N, clean)
    damage(path)
    spool = Spool(path, SpoolSettings())
    assert spool.damage is not None and spool.rows == spool.damage.salvaged > 0
    if damage is flip_wal:
        assert spool.damage.salvaged == N and spool.damage.lost == 0
    inbox = Inbox(broker.port)
    uplink = mqtt_uplink(MqttSettings(url=f"mqtt://127.0.0.1:{broker.port}"), spool, VEHICLE)
    uplink.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (spool.rows or len(inbox.on("/detections")) < spool.damage.salvaged):
            time.sleep(0.1)
    finally:
        uplink.stop()
        inbox.close()
    assert spool.rows == 0 and len(inbox.on("/detections")) == spool.damage.salvaged
