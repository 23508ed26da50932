"""`edge status` on snapshot files: which run a snapshot belongs to, its age, stale link states, the pose lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.ops import status


def _state(tmp_path: Path, snap_boot: int, snap_pid: int, run: dict[str, object] | None) -> Path:
    state = tmp_path / "state"
    state.mkdir()
    cfg = tmp_path / "edge.toml"
    cfg.write_text(f'[vehicle]\nid = "v1"\nstate_dir = "{state}"\n')
    pose = {
        "last_position": {"lat": 42.6, "lon": 19.94, "alt_m": 1100.0, "err_m": 2.0, "age_s": 0.2, "source": "gpsd"},
        "last_attitude": {"roll_deg": 0.0, "pitch_deg": 0.0, "yaw_deg": 90.0, "age_s": None, "source": "static"},
    }
    snap = {"vehicle": "v1", "boot_id": snap_boot, "pid": snap_pid, "t_utc": time.time(),
            "stages": {"mqtt": {"state": "connected"}, "pose": pose}}  # fmt: skip
    (state / "health.json").write_text(json.dumps(snap))
    if run is not None:
        (state / "run.json").write_text(json.dumps(run))
    return cfg


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_current_runs_snapshot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _state(tmp_path, 0xABC, os.getpid(), {"boot_id": 0xABC, "pid": os.getpid(), "t_start": time.time()})
    assert status.main(["--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "boot 00000abc  running" in out and "(stale)" not in out
    assert "42.6 19.94  1100.0 m  ±2.0 m  (gpsd, 0.2 s old)" in out
    assert "yaw 90.0 deg  (static, configured)" in out


def test_an_earlier_runs_snapshot_while_a_new_run_starts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _state(tmp_path, 0xABC, _dead_pid(), {"boot_id": 0xDEF, "pid": os.getpid(), "t_start": time.time()})
    assert status.main(["--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "snapshot of an EARLIER RUN" in out and "boot 00000def" in out and "state=connected (stale)" in out


def test_a_daemon_that_no_longer_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pid = _dead_pid()
    cfg = _state(tmp_path, 0xABC, pid, {"boot_id": 0xABC, "pid": pid, "t_start": time.time()})
    assert status.main(["--config", str(cfg), "--json"]) == 1
    js = json.loads(capsys.readouterr().out)
    assert js["running"] is False and js["current"] is False and js["stale"] is True
