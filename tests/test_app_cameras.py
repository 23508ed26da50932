"""The daemon built from [[cameras]]: a model file used by two cameras is loaded once (one onnxruntime session),
each camera keeps its own thresholds; a different model file is a session of its own."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np

from edge.app import Daemon, status_line
from edge.config import load_config

MODEL = Path(__file__).resolve().parent / "detect" / "data" / "tiny_grid_yolov8.onnx"


def _daemon(tmp_path: Path, ir_model: Path, extra: str = "") -> Daemon:
    frames = tmp_path / "frames"
    frames.mkdir(exist_ok=True)
    cv2.imwrite(str(frames / "0.png"), np.zeros((48, 64, 3), np.uint8))
    cfg = tmp_path / "edge.toml"
    cfg.write_text(
        f'vehicle.state_dir = "{tmp_path / "state"}"\ndetector.model = "{MODEL}"\n'
        f'[[cameras]]\nid = "day"\nurl = "{frames}"\n'
        f'[[cameras]]\nid = "ir"\nurl = "{frames}"\npriority = 1\n'
        f'[cameras.detector]\nmodel = "{ir_model}"\nconf_threshold = 0.8\n' + extra
    )
    return Daemon(load_config(cfg))


def test_a_model_used_by_two_cameras_is_loaded_once(tmp_path: Path) -> None:
    daemon = _daemon(tmp_path, MODEL)
    try:
        day, ir = (p.detector for p in daemon.pipelines)
        assert daemon.models.loads == 1
        assert day.session is ir.session  # type: ignore[attr-defined]
        assert (day.settings.conf_threshold, ir.settings.conf_threshold) == (0.35, 0.8)  # type: ignore[attr-defined]
        assert [p.name for p in daemon.pipelines] == ["pipeline:day", "pipeline:ir"]
    finally:
        daemon.stop()


def test_another_model_file_is_a_session_of_its_own(tmp_path: Path) -> None:
    other = tmp_path / "thermal.onnx"
    shutil.copy(MODEL, other)
    daemon = _daemon(tmp_path, other)
    try:
        day, ir = (p.detector for p in daemon.pipelines)
        assert daemon.models.loads == 2 and day.session is not ir.session  # type: ignore[attr-defined]
    finally:
        daemon.stop()


def test_status_line_gives_each_cameras_rate() -> None:
    stages = {
        "pipeline:day": {"fps": 4.0, "events": 10},
        "camera:day": {"state": "streaming"},
        "pipeline:ir": {"fps": 2.5, "events": 3},
        "camera:ir": {"state": "reconnecting"},
    }
    assert status_line({"stages": stages}) == (
        "day 4.0 fps, 10 events; ir 2.5 fps, 3 events; camera:day streaming; camera:ir reconnecting"
    )
    assert status_line({"stages": {"pipeline": {"fps": 3.0, "events": 1}}}) == "3.0 fps, 1 events"


def test_the_crop_collector_takes_each_frame_before_the_association_can_hold_it(tmp_path: Path) -> None:
    """The associator may hold a frame's events for capture order; the crop collector must see them before the
    frame itself (its pipeline calls observe right after the sinks), so it is the pipelines' own sink."""
    daemon = _daemon(tmp_path, MODEL, "[thumbnails]\nenabled = true\n")
    try:
        assert daemon.cfg.thumbnails.enabled
        for pipeline in daemon.pipelines:
            names = [type(s).__name__ for s in pipeline._sinks]
            assert names == ["Associator", "CropCollector"]
            assoc = pipeline._sinks[0]
            assert "CropCollector" not in [type(s).__name__ for s in assoc._sinks]  # type: ignore[attr-defined]
    finally:
        daemon.stop()
