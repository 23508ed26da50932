"""`edge sim` as a real process: headless run, stream read by OpenCV, SIGTERM, record + replay, bad input."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
BORDER = ROOT / "sim" / "scenarios" / "drone-border.toml"


class SimProcess:
    """`python -m edge sim ...` with its stdout lines available through a queue."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge", "sim", "--http-port", "0", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None
        threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True).start()

    def _pump(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.put(line.rstrip("\n"))

    def line(self, timeout: float = 30.0) -> str:
        return self.lines.get(timeout=timeout)

    def wait(self, timeout: float) -> tuple[int, str]:
        _, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)


@pytest.fixture
def run() -> Iterator[list[SimProcess]]:
    started: list[SimProcess] = []
    yield started
    for p in started:
        p.kill()


def _frames(url: str, n: int, timeout: float = 15.0, shape: tuple[int, int] = (480, 640)) -> int:
    cap = cv2.VideoCapture(url)
    got = 0
    deadline = time.monotonic() + timeout
    try:
        while got < n and time.monotonic() < deadline:
            ok, frame = cap.read()
            if ok:
                assert frame.shape[:2] == shape
                got += 1
    finally:
        cap.release()
    return got


def test_runs_headless_for_its_duration_and_serves_the_camera(run: list[SimProcess]) -> None:
    sim = SimProcess("--scenario", str(BORDER), "--duration", "5")
    run.append(sim)
    first = sim.line()
    assert first.startswith("camera http://127.0.0.1:") and first.endswith("/stream.mjpg")
    assert _frames(first.split()[1], 3) == 3
    rc, err = sim.wait(timeout=60)
    assert rc == 0, err
    assert "stopped after" in err


def test_sigterm_stops_it_cleanly(run: list[SimProcess]) -> None:
    sim = SimProcess("--scenario", str(BORDER), "--mode", "thermal", "--status-json")
    run.append(sim)
    status = json.loads(sim.line())
    assert _frames(status["camera"], 1) == 1
    sim.proc.send_signal(signal.SIGTERM)
    rc, err = sim.wait(timeout=20)
    assert rc == 0, err


def test_record_then_replay_through_the_stream(run: list[SimProcess], tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    sim = SimProcess("--scenario", str(BORDER), "--duration", "4", "--record", str(rec))
    run.append(sim)
    assert sim.line().startswith("camera ")
    assert sim.line() == f"record {rec}"
    rc, err = sim.wait(timeout=60)
    assert rc == 0, err
    meta = json.loads((rec / "meta.json").read_text())
    lines = (rec / "truth.jsonl").read_text().splitlines()
    assert meta["frames"] == len(lines) >= 10
    assert all((rec / json.loads(x)["file"]).is_file() for x in lines)

    replay = SimProcess("--replay", str(rec), "--status-json")
    run.append(replay)
    status = json.loads(replay.line())
    assert _frames(status["camera"], 3) == 3
    rc, err = replay.wait(timeout=60)
    assert rc == 0, err


def test_each_camera_of_a_pair_has_its_own_stream_and_truth(run: list[SimProcess], tmp_path: Path) -> None:
    """drone-border-pair: the EO and IR cameras served apart; the person under the trees is in the IR's truth only."""
    rec = tmp_path / "rec"
    pair = ROOT / "sim" / "scenarios" / "drone-border-pair.toml"
    sim = SimProcess("--scenario", str(pair), "--duration", "6", "--record", str(rec), "--status-json")
    run.append(sim)
    status = json.loads(sim.line())
    assert status["camera"] == status["cameras"]["eo"] != status["cameras"]["ir"]
    assert _frames(status["cameras"]["eo"], 2) == 2
    assert _frames(status["cameras"]["ir"], 2, shape=(512, 640)) == 2
    rc, err = sim.wait(timeout=60)
    assert rc == 0, err
    eo = [json.loads(x) for x in (rec / "truth.jsonl").read_text().splitlines()]
    ir = [json.loads(x) for x in (rec / "cameras" / "ir" / "truth.jsonl").read_text().splitlines()]
    assert json.loads((rec / "cameras" / "ir" / "meta.json").read_text())["mode"] == "thermal"
    assert len(eo) >= 10 and len(ir) >= 10
    hidden = 5  # the sixth target of the file: the person under the trees
    assert not any(hidden in f["target_ids"] for f in eo)
    assert any(hidden in f["target_ids"] for f in ir)
    assert {i for f in eo for i in f["target_ids"]} & {i for f in ir for i in f["target_ids"]}  # seen by both


def test_bad_scenario_exits_2_naming_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(BORDER.read_text().replace("hfov_deg = 22.0", "hfov_deg = -5.0"))
    proc = subprocess.run(
        [sys.executable, "-m", "edge", "sim", "--scenario", str(bad), "--duration", "1", "--http-port", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert f"{bad}: camera.hfov_deg" in proc.stderr


def test_mast_gimbal_reports_the_pan_over_mavlink(run: list[SimProcess]) -> None:
    pytest.importorskip("sim.autopilot")
    import math
    import socket

    from pymavlink import mavutil

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    listener = mavutil.mavlink_connection(f"udpin:127.0.0.1:{port}")
    try:
        ridge = ROOT / "sim" / "scenarios" / "mss-ridge.toml"
        sim = SimProcess("--scenario", str(ridge), "--duration", "6", "--gimbal", f"udpout:127.0.0.1:{port}")
        run.append(sim)
        assert sim.line().startswith("camera ")
        assert sim.line() == f"gimbal udpout:127.0.0.1:{port}"
        yaws: list[float] = []
        deadline = time.monotonic() + 20
        while len(yaws) < 10 and time.monotonic() < deadline:
            m = listener.recv_match(type="GIMBAL_DEVICE_ATTITUDE_STATUS", blocking=True, timeout=1)
            if m is not None:
                w, x, y, z = m.q
                yaws.append(math.degrees(math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))))
        assert len(yaws) == 10
        assert all(abs(v) <= 62.0 for v in yaws)  # the mast pans +-60 deg (plus attitude noise)
        assert max(yaws) - min(yaws) > 1.0  # and it is moving
        rc, err = sim.wait(timeout=60)
        assert rc == 0, err
    finally:
        listener.close()
