"""Third-party models on a folder of real photos through the real daemon, a real Mosquitto and `edge listen`.

Independent tests found a folder of photos reporting nothing, silently (the new-track threshold sat above the
detector's and tracks needed three frames), and class names lost on the way (ids 0-2 printed as the demo model's
person/vehicle/boat whatever the model was). Here every detection of every photo reaches the receiver with its
model's own class name and its box in the photo's pixels, with only the keys the model card's tables name.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bench.localbroker import LocalBroker

REPO = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, photos: Path, detector_toml: str, expect: int, broker: LocalBroker) -> list[dict]:
    """`edge run` over ``photos`` with ``detector_toml``; the JSON lines `edge listen` printed for ``expect``
    detections."""
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
[mqtt]
url = "mqtt://127.0.0.1:{broker.port}"
{detector_toml}
"""
    )
    env = {**os.environ, "NOTIFY_SOCKET": ""}
    listen = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge",
            "listen",
            "--broker",
            f"mqtt://127.0.0.1:{broker.port}",
            "--client-id",
            f"t-{tmp_path.name}",
            "--count",
            str(expect),
            "--timeout",
            "90",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )
    time.sleep(1.0)  # subscribed before the first record
    daemon = subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--config", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
        env=env,
    )
    try:
        out, err = listen.communicate(timeout=120)
    finally:
        daemon.send_signal(signal.SIGTERM)
        log = daemon.communicate(timeout=30)[0]
    lines = [json.loads(ln) for ln in out.splitlines() if ln.startswith("{")]
    assert listen.returncode == 0 and len(lines) == expect, (err[-2000:], log[-3000:])
    return lines


@pytest.fixture
def broker(tmp_path: Path):  # type: ignore[no-untyped-def]
    with LocalBroker(tmp_path / "broker") as b:
        yield b


def test_nhwc_model_with_several_outputs_names_its_classes(
    tmp_path: Path, make_const: Callable[..., Path], broker: LocalBroker, real_photos: Path
) -> None:
    photos = real_photos
    # a CenterNet-like export: NHWC float input, [1, K, 6] detections among three outputs, classes by config
    dets = np.zeros((1, 100, 6), np.float32)
    dets[0, 0] = [50, 60, 250, 300, 0.5, 0]  # between the detector's 0.35 and the old new-track 0.6
    dets[0, 1] = [300, 100, 400, 200, 0.9, 2]
    outs = {"num_detections": np.asarray([2.0], np.float32), "detections": dets, "heat": np.zeros((1, 8), np.float32)}
    model = make_const(outs, input_shape=(1, 512, 512, 3))
    toml = f"""[detector]
model = "{model}"
labels = ["FACE_FEMALE", "FACE_MALE", "HAND"]
[detector.preprocess]
scale = 1.0
resize = "stretch"
"""
    lines = _run(tmp_path, photos, toml, 10, broker)
    assert sorted(o["class"] for o in lines) == ["FACE_FEMALE"] * 5 + ["HAND"] * 5
    assert {o["event"] for o in lines} == {"new"} and {o["model"] for o in lines} == {model.name}
    hand = [o for o in lines if o["class"] == "HAND"]
    # stretch: a 512 x 512 input; box 300,100,400,200 -> x * w / 512, y * h / 512 in each photo's own pixels
    sizes = {(o["bbox_px"][2] - o["bbox_px"][0], o["bbox_px"][3] - o["bbox_px"][1]) for o in hand}
    assert len(sizes) >= 3  # the photos differ in size, and the boxes are in each one's pixels
    for o in hand:
        w = (o["bbox_px"][2] - o["bbox_px"][0]) * 512 / 100
        assert o["bbox_px"][0] == pytest.approx(300 * w / 512, abs=2)


def test_yolov8_export_names_its_classes_from_its_metadata(
    tmp_path: Path, make_const: Callable[..., Path], broker: LocalBroker, real_photos: Path
) -> None:
    photos = real_photos
    out = np.zeros((1, 6, 3), np.float32)  # [1, 4 + 2, 3]
    out[0, :, 0] = [320, 320, 100, 50, 0.1, 0.7]
    out[0, :, 2] = [100, 200, 40, 40, 0.8, 0.0]
    meta = {"names": "{0: 'drone', 1: 'bird'}", "imgsz": "[640, 640]", "stride": "32", "task": "detect"}
    model = make_const({"output0": out}, metadata=meta)
    lines = _run(tmp_path, photos, f'[detector]\nmodel = "{model}"\n', 10, broker)
    assert sorted(o["class"] for o in lines) == ["bird"] * 5 + ["drone"] * 5
