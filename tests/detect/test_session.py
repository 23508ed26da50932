"""Execution providers: preference order, short names, fallback to CPU, and the log line naming the one that runs."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.detect.engine import OnnxDetector
from edge.detect.session import open_session, resolve_providers
from edge.detect.settings import DetectorSettings

MODEL = Path(__file__).with_name("data") / "tiny_grid_yolov8.onnx"


@pytest.mark.parametrize(
    ("wanted", "available", "expect"),
    [
        (
            ["tensorrt", "cuda", "cpu"],
            ["CUDAExecutionProvider", "CPUExecutionProvider"],
            ["CUDAExecutionProvider", "CPUExecutionProvider"],
        ),
        (["OpenVINOExecutionProvider"], ["CPUExecutionProvider"], ["CPUExecutionProvider"]),
        (
            ["cpu", "cuda"],
            ["CUDAExecutionProvider", "CPUExecutionProvider"],
            ["CPUExecutionProvider", "CUDAExecutionProvider"],
        ),
        ([], ["CPUExecutionProvider"], ["CPUExecutionProvider"]),
    ],
)
def test_resolve_providers(wanted: list[str], available: list[str], expect: list[str]) -> None:
    assert resolve_providers(wanted, available) == expect


def test_session_falls_back_and_logs_what_runs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="edge.detect.session"):
        sess = open_session(MODEL, ["TensorrtExecutionProvider", "cuda", "cpu"], intra=1, inter=1)
    assert sess.get_providers() == ["CPUExecutionProvider"]
    line = caplog.records[-1].getMessage()
    assert "runs on CPUExecutionProvider" in line and "not available here: TensorrtExecutionProvider, cuda" in line


def test_session_without_spinning_runs() -> None:
    sess = open_session(MODEL, ["cpu"], intra=2, inter=1, spin=False)
    out = sess.run(None, {"images": np.zeros((1, 3, 320, 320), np.float32)})[0]
    assert out.shape == (1, 6, 100)


@pytest.mark.parametrize(
    ("spin", "between", "entries"),
    [
        (True, False, {"session.force_spinning_stop": "1", "session.intra_op.allow_spinning": ""}),
        (True, True, {"session.force_spinning_stop": "", "session.intra_op.allow_spinning": ""}),
        (False, False, {"session.force_spinning_stop": "", "session.intra_op.allow_spinning": "0"}),
    ],
)
def test_spinning_settings_reach_the_session(spin: bool, between: bool, entries: dict[str, str]) -> None:
    sess = open_session(MODEL, ["cpu"], intra=2, inter=1, spin=spin, spin_between_runs=between)
    opts = sess.get_session_options()

    def entry(key: str) -> str:
        try:
            return str(opts.get_session_config_entry(key))
        except RuntimeError:  # not set
            return ""

    assert {k: entry(k) for k in entries} == entries
    assert sess.run(None, {"images": np.zeros((1, 3, 320, 320), np.float32)})[0].shape == (1, 6, 100)


def test_opencv_threads_setting_is_applied_process_wide() -> None:
    base = DetectorSettings(model=str(MODEL), providers=["cpu"], warmup_runs=0)
    try:
        OnnxDetector(base.model_copy(update={"opencv_threads": 0}))
        assert cv2.getNumThreads() == cv2.getNumberOfCPUs()  # 0: OpenCV's default, one per core
        OnnxDetector(base)  # the default: no OpenCV workers beside the model's threads
        assert cv2.getNumThreads() == 1
    finally:
        cv2.setNumThreads(1)
