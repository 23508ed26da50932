"""`edge run` as a process: READY/WATCHDOG over a real notify socket, SIGTERM within 5 s, exit codes, and
the daemon surviving sources that are not there (camera, autopilot, broker)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "edge-default.onnx"


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp_path: Path, model: Path = MODEL) -> Path:
    """Every source points at something that is not there: the daemon must run anyway."""
    cfg = tmp_path / "edge.toml"
    cfg.write_text(
        f"""
[vehicle]
id = "test-01"
state_dir = "{tmp_path / "state"}"
[ops]
status_interval_s = 0.5
[camera]
url = "http://127.0.0.1:{_free_port()}/stream.mjpg"
[mavlink]
url = "udpin:127.0.0.1:{_free_port(socket.SOCK_DGRAM)}"
[detector]
model = "{model}"
[mqtt]
url = "mqtt://127.0.0.1:{_free_port()}"
"""
    )
    return cfg


def _start(cfg: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--config", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **env},
        cwd=REPO,
    )


@pytest.fixture
def notify_sock(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(60)
    yield sock, path
    sock.close()


def _drain(sock: socket.socket) -> None:
    """Read every datagram waiting on ``sock``."""
    sock.setblocking(False)
    try:
        while True:
            sock.recv(4096)
    except BlockingIOError:
        pass


def _recv_until(sock: socket.socket, predicate: str, timeout: float) -> list[str]:
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            msg = sock.recv(4096).decode()
        except TimeoutError:
            break
        got.append(msg)
        if predicate in msg:
            return got
    raise AssertionError(f"no {predicate!r} within {timeout} s; got {got}")


@pytest.mark.integration
def test_ready_watchdog_status_and_sigterm(tmp_path: Path, notify_sock) -> None:  # type: ignore[no-untyped-def]
    sock, path = notify_sock
    proc = _start(_config(tmp_path), {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"})
    try:
        _recv_until(sock, "READY=1", 60)
        t_ready = time.monotonic()
        msgs = _recv_until(sock, "WATCHDOG=1", 5)  # every 1 s = half of WATCHDOG_USEC
        assert time.monotonic() - t_ready < 2.5, msgs
        _recv_until(sock, "STATUS=", 5)
        health = json.loads((tmp_path / "state" / "health.json").read_text())
        assert health["pid"] == proc.pid
        assert {"pipeline", "camera:cam0", "mavlink", "mqtt", "spool"} <= set(health["stages"])
        status = subprocess.run(
            [sys.executable, "-m", "edge", "status", "--config", str(tmp_path / "edge.toml")],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert status.returncode == 0, status.stderr
        assert "running" in status.stdout
        time.sleep(2)  # the camera, the autopilot and the broker are all absent: it must keep running
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        _drain(sock)  # a full datagram queue would drop STOPPING=1
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=10)
        elapsed = time.monotonic() - t0
        _recv_until(sock, "STOPPING=1", 1)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = proc.stdout.read() if proc.stdout else ""
    assert rc == 0, out
    assert elapsed < 5.0, f"SIGTERM took {elapsed:.1f} s"


@pytest.mark.integration
@pytest.mark.parametrize("content", [b"", b"this is not an onnx model"])
def test_unusable_model_exits_2_naming_the_key(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(content)
    proc = _start(_config(tmp_path, bad), {})
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out
    assert "detector.model" in out, out


@pytest.mark.integration
def test_bad_config_exits_2(tmp_path: Path) -> None:
    cfg = tmp_path / "edge.toml"
    cfg.write_text("[camera]\nurl = 5\n")
    proc = _start(cfg, {})
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert f"{cfg}: camera.url:" in out


@pytest.mark.integration
def test_unusable_state_dir_exits_2(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    blocker = tmp_path / "state"
    blocker.write_text("a file where the state directory should be")
    proc = _start(cfg, {})
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out
    assert "vehicle.state_dir" in out, out


@pytest.mark.integration
def test_camera_that_can_never_work_exits_2(tmp_path: Path) -> None:
    import cv2

    if "GStreamer:                   YES" in cv2.getBuildInformation():
        pytest.skip("this OpenCV has GStreamer, so a pipeline string is a usable camera")
    cfg = _config(tmp_path)
    text = cfg.read_text().replace('[camera]\nurl = "http', '[camera]\nurl = "videotestsrc ! appsink"\n# "http')
    cfg.write_text(text)
    proc = _start(cfg, {})
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out
    assert "camera.url" in out, out


@pytest.mark.integration
def test_mavlink_signing_without_a_key_exits_2_naming_the_key(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    cfg.write_text(cfg.read_text().replace("[mavlink]\n", '[mavlink]\nsigning = "require"\n'))
    env = {k: v for k, v in os.environ.items() if k not in ("EDGE_MAVLINK_KEY", "CREDENTIALS_DIRECTORY")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--config", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=REPO,
    )
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out
    assert "mavlink.signing_key_file" in out and "Traceback" not in out, out
