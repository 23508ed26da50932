"""``edge model inspect``: the report, and exit 2 naming the config key for bad models or configs."""

from __future__ import annotations

from collections.abc import Callable
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


def test_inspect_marks_what_is_guessed(
    tmp_path: Path, make_const: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # an NHWC float model with a [1, K, 6] output among three and no metadata: only shape and type are the model's
    outs = {
        "num": np.zeros((1,), np.float32),
        "dets": np.zeros((1, 100, 6), np.float32),
        "aux": np.zeros((1, 8), np.float32),
    }
    model = make_const(outs, input_shape=(1, 512, 512, 3))
    assert main([model.as_posix()]) == 0
    out = capsys.readouterr().out
    assert "layout:    end2end (recognised from outputs and metadata); reads dets" in out
    for aspect in ("channel_order", "scale", "resize"):
        assert f"{aspect}: guess:" in out and "GUESSED" in out
    assert "layout: model: input shape" in out and "dtype: model: input type" in out
    cfg = tmp_path / "edge.toml"
    cfg.write_text('[detector.preprocess]\nscale = 1.0\nresize = "stretch"\nchannel_order = "rgb"\n')
    assert main([model.as_posix(), "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "scale: config" in out and "resize: config" in out and "channel_order: config" in out
    assert "channel_order: model" not in out


def test_inspect_trusts_ultralytics_conventions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(MODEL)]) == 0
    out = capsys.readouterr().out
    assert "scale: model: Ultralytics export convention" in out and "GUESSED" not in out
