"""`edge run`: the pose sources connect while the model loads (seconds on a small computer), not after it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "edge-default.onnx"
pytestmark = pytest.mark.integration


def test_gpsd_is_connected_before_the_model_has_loaded(tmp_path: Path) -> None:
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(30.0)
    cfg = tmp_path / "edge.toml"
    cfg.write_text(
        f'[vehicle]\nid = "t1"\nstate_dir = "{tmp_path / "state"}"\n[log]\nlevel = "INFO"\n'
        f'[detector]\nmodel = "{MODEL}"\n[gps]\nenabled = true\nport = {srv.getsockname()[1]}\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--config", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[tuple[float, str]] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.monotonic(), line))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        conn, _ = srv.accept()
        t_connect = time.monotonic()
        conn.close()
        deadline = time.monotonic() + 60
        while not any("edge running" in ln for _, ln in lines) and time.monotonic() < deadline:
            time.sleep(0.05)
        started = [t for t, ln in lines if "starting " in ln]
        assert started, "".join(ln for _, ln in lines)
        assert t_connect < started[0], "".join(ln for _, ln in lines)  # before the stages start: while loading
    finally:
        proc.terminate()
        proc.wait(10)
        srv.close()
