"""``edge model inspect``: the report, and exit 2 naming the config key for bad models or configs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.detect.inspect import main

MODEL = Path(__file__).with_name("data") / "tiny_grid_yolov8.onnx"


def test_inspect_reports_layout_labels_and_preprocessing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(MODEL)]) == 0
    out = capsys.readouterr().out
    assert "layout:    yolov8 (recognised from outputs and metadata)" in out
    assert "labels:    2 from model metadata 'names': red, blue" in out
    assert "preprocess: NCHW float32 320x320, RGB, scale 0.00392157, letterbox (pad 114)" in out
    assert "input:     images [1, 3, 320, 320] tensor(float)" in out
    assert "output:    output0 [1, 6, 100] tensor(float)" in out


def test_inspect_applies_config_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "edge.toml"
    cfg.write_text(
        '[detector]\nlabels = ["r", "b"]\n[detector.preprocess]\nchannel_order = "bgr"\nresize = "stretch"\n'
    )
    assert main([str(MODEL), "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "from config detector.labels: r, b" in out and "BGR" in out and "stretch" in out


def test_inspect_bad_model_exit_2_naming_the_key(
    tmp_path: Path, make_const: object, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x01garbage")
    assert main([str(bad)]) == 2
    assert "detector.model" in capsys.readouterr().err
    odd = make_const({"out": np.zeros((1, 2, 2, 2), np.float32)})  # type: ignore[operator]
    assert main([str(odd)]) == 2
    assert "set detector.layout to one of yolov5, yolov8, end2end, tf" in capsys.readouterr().err
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[detector]\nlayuot = 'tf'\n")
    assert main([str(MODEL), "--config", str(cfg)]) == 2
    assert "detector.layuot: unknown key" in capsys.readouterr().err
