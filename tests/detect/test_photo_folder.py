"""A folder of photos through the real daemon: every detection the detector reports reaches the spool, one NEW event
per detection per photo, with the raw detection count in health (independent tests found a folder of photos
reporting nothing, silently: the new-track threshold sat above the detector's and tracks needed three frames)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from edge.uplink.codec import decode

REPO = Path(__file__).resolve().parents[2]


def test_each_photo_reports_its_detections(tmp_path: Path, make_const: Callable[..., Path]) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(1)
    for i in range(4):
        cv2.imwrite(str(photos / f"img{i}.jpg"), rng.integers(0, 255, (480, 640, 3), np.uint8))
    out = np.zeros((1, 10, 6), np.float32)  # end2end: one box per image at 0.5, between 0.35 and the old 0.6
    out[0, 0] = [100, 100, 200, 300, 0.5, 0]
    model = make_const({"output0": out})
    cfg = tmp_path / "edge.toml"
    cfg.write_text(
        f"""
[vehicle]
id = "photos"
state_dir = "{tmp_path / "state"}"
[ops]
status_interval_s = 0.3
[camera]
url = "{photos}"
realtime = false
[detector]
model = "{model}"
labels = ["person"]
"""
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--config", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
        env={**os.environ, "NOTIFY_SOCKET": ""},
    )
    health: dict = {}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                health = json.loads((tmp_path / "state" / "health.json").read_text())
            except (OSError, ValueError):
                health = {}
            pipe = health.get("stages", {}).get("pipeline", health.get("pipeline", {}))
            if isinstance(pipe, dict) and pipe.get("frames") == 4:
                break
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        log = proc.communicate(timeout=30)[0]
    text = json.dumps(health)
    assert '"detections": 4' in text and '"events": 4' in text, log[-3000:] + text[:3000]
    with sqlite3.connect(tmp_path / "state" / "spool.sqlite") as db:
        records = [decode(row[0]) for row in db.execute("SELECT payload FROM queue")]
    spooled = [d for r in records for d in r.detections]
    assert len(spooled) == 4 and {d.track_id for d in spooled} == {1, 2, 3, 4}
