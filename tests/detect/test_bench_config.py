"""``edge bench --config FILE --images DIR``: raw and pipeline frame rates of the user's own model and settings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODEL = Path(__file__).with_name("data") / "tiny_grid_yolov8.onnx"


def test_bench_measures_the_users_model_on_their_frames(tmp_path: Path, real_photos: Path) -> None:
    cfg = tmp_path / "edge.toml"
    cfg.write_text(f'[detector]\nmodel = "{MODEL}"\nconf_threshold = 0.3\n[detector.preprocess]\nresize = "stretch"\n')
    out = tmp_path / "bench"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge",
            "bench",
            "--config",
            str(cfg),
            "--images",
            str(real_photos),
            "--quick",
            "--json",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    fig = json.loads(proc.stdout.splitlines()[-1])
    assert fig["raw_fps"] > 0 and fig["pipeline_fps"] > 0 and 0 < fig["pipeline_over_raw"] < 2
    assert fig["vision_default_model"] == 0 and "uplink_inserts_per_s" not in json.dumps(fig)  # vision part only
    note = json.loads((out / "vision" / "vision.json").read_text())
    assert note["model"] == str(MODEL) and str(real_photos) in note["note"]
