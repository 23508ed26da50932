"""``[[cameras]]``: per-camera geo and detector overrides, unique ids, errors by path; the old ``[camera]`` unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.cameras import camera_setups
from edge.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "models" / "edge-default.onnx"

TWO = f"""
vehicle.state_dir = "state"
[detector]
model = "{MODEL}"
conf_threshold = 0.4
tiling.cols = 2
[geo]
hfov_deg = 50
mount_pitch_deg = -10
[[cameras]]
id = "day"
url = "frames"
priority = 1
[cameras.geo]
offset_right_m = 0.3
[[cameras]]
id = "ir"
url = "frames"
raw = true
max_fps = 5
[cameras.geo]
hfov_deg = 24
[cameras.detector]
conf_threshold = 0.2
tiling.rows = 3
thermal.gain = "fixed"
"""


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "frames").mkdir(exist_ok=True)
    path = tmp_path / "edge.toml"
    path.write_text(text.replace('"frames"', f'"{tmp_path / "frames"}"'))
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_config(path)
    return err.value.problems


def _edge(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("STATE_DIRECTORY", "NOTIFY_SOCKET")}
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, timeout=120, env=env)


def test_each_camera_gets_its_overrides_over_the_shared_sections(tmp_path: Path) -> None:
    day, ir = camera_setups(load_config(_write(tmp_path, TWO)))
    assert (day.camera.id, day.key, day.priority, day.max_fps) == ("day", "cameras[0]", 1, 0.0)
    assert (ir.camera.id, ir.camera.raw, ir.key, ir.priority, ir.max_fps) == ("ir", True, "cameras[1]", 0, 5.0)
    # geo: what the camera sets, the rest from [geo]
    assert (day.geo.hfov_deg, day.geo.mount_pitch_deg, day.geo.offset_right_m) == (50.0, -10.0, 0.3)
    assert (ir.geo.hfov_deg, ir.geo.mount_pitch_deg, ir.geo.offset_right_m) == (24.0, -10.0, 0.0)
    # detector: merged key by key, sub-tables too; a camera without a table has [detector] itself
    assert day.detector.conf_threshold == 0.4 and day.detector.tiling.cols == 2
    assert ir.detector.conf_threshold == 0.2 and (ir.detector.tiling.cols, ir.detector.tiling.rows) == (2, 3)
    assert ir.detector.thermal.gain == "fixed" and ir.detector.model == str(MODEL)


def test_the_old_single_camera_is_one_camera_and_check_config_says_how_to_move_on(tmp_path: Path) -> None:
    path = _write(tmp_path, f'vehicle.state_dir = "state"\ndetector.model = "{MODEL}"\ncamera.url = "frames"\n')
    cfg = load_config(path)
    (only,) = camera_setups(cfg)
    assert (only.camera, only.geo, only.detector, only.key) == (cfg.camera, cfg.geo, cfg.detector, "camera")
    res = _edge("check-config", str(path))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == f"{path}: ok" and "[[cameras]]" in lines[1], res.stdout
    res = _edge("check-config", str(_write(tmp_path, TWO)))
    assert res.returncode == 0 and "hint" not in res.stdout, res.stdout + res.stderr


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (("conf_threshold = 0.2", "conf_threshold = 2.0"), "cameras[1].detector.conf_threshold: "),
        (("tiling.rows = 3", "tiling.rowz = 3"), "cameras[1].detector.tiling.rowz: unknown key"),
        (("hfov_deg = 24", "dem_path = 'dem.hgt'"), "cameras[1].geo.dem_path: unknown key"),
        (("max_fps = 5", "max_fps = -1"), "cameras[1].max_fps: "),
        (("max_fps = 5", 'fourcc = "YUYV16"'), "cameras[1].fourcc: String should match pattern"),
        (('id = "ir"', 'id = "i/r#"'), "cameras[1].id: String should match pattern"),
        (('id = "ir"', 'id = ""'), "cameras[1].id: String should match pattern"),
        (('url = "frames"\npriority = 1', "priority = 1"), "cameras[0].url: every [[cameras]] table needs a source"),
        (('id = "ir"', 'id = "day"'), "cameras[1].id: 'day' is already the id of cameras[0]"),
        (
            ('vehicle.state_dir = "state"', 'camera.url = "frames"'),
            "camera.url: set [camera] url or [[cameras]], not both",
        ),
    ],
)
def test_bad_camera_keys_are_named_by_path(tmp_path: Path, change: tuple[str, str], key: str) -> None:
    path = _write(tmp_path, TWO.replace(*change, 1))
    problems = _problems(path)
    assert any(p.startswith(f"{path}: {key}") for p in problems), problems


def test_a_bad_shared_detector_key_is_named_once(tmp_path: Path) -> None:
    path = _write(tmp_path, TWO.replace("conf_threshold = 0.4", "conf_threshold = 4.0"))
    assert [p.split(": ")[1] for p in _problems(path)] == ["detector.conf_threshold"]


def test_check_config_names_the_camera_whose_model_or_video_is_missing(tmp_path: Path) -> None:
    for text, key in (
        (TWO.replace("conf_threshold = 0.2", f'model = "{tmp_path}/gone.onnx"'), "cameras[1].detector.model"),
        (TWO.replace('"frames"', f'"{tmp_path}/gone.mp4"', 1), "cameras[0].url"),
    ):
        path = _write(tmp_path, text)
        res = _edge("check-config", str(path))
        assert res.returncode == 2, res.stdout
        assert any(line.startswith(f"{path}: {key}: ") for line in res.stderr.splitlines()), res.stderr
