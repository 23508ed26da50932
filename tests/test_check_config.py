"""Malformed configs: `edge check-config` and `edge run` (real processes) both refuse them, exit 2, with
``FILE: key: reason`` on stderr and no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "models" / "edge-default.onnx"


def _edge(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("STATE_DIRECTORY", "NOTIFY_SOCKET")}
    return subprocess.run(
        [sys.executable, "-m", "edge", *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO
    )


def _config(tmp_path: Path, extra: str, state_dir: str | None = None) -> Path:
    """A runnable config (the repo's model, a state directory in tmp) plus ``extra`` top-level dotted keys."""
    sdir = state_dir if state_dir is not None else str(tmp_path / "state")
    path = tmp_path / "edge.toml"
    path.write_text(f'vehicle.state_dir = "{sdir}"\ndetector.model = "{MODEL}"\n{extra}\n')
    return path


def _refused(path: Path, key: str) -> None:
    """Both commands exit 2 with a line ``FILE: key...: reason`` and no traceback."""
    for args in (("check-config", str(path)), ("run", "--config", str(path))):
        res = _edge(*args)
        out = res.stdout + res.stderr
        assert res.returncode == 2, f"{args[0]}: exit {res.returncode}\n{out}"
        assert "Traceback" not in out, out
        assert any(line.startswith(f"{path}: {key}") for line in res.stderr.splitlines()), f"{args[0]}: {out}"


FAULTS = [
    ("mavlink_scheme", 'mavlink.url = "bogus:foo"', "mavlink.url"),
    ("mavlink_no_port", 'mavlink.url = "udpin:127.0.0.1"', "mavlink.url"),
    ("std_zero", "detector.preprocess.std = [0, 0, 0]", "detector.preprocess.std"),
    ("mask_two_points", "detector.exclusion_masks = [[[1, 2], [3, 4]]]", "detector.exclusion_masks"),
    ("mask_ragged", "detector.exclusion_masks = [[[1, 2, 3], [4, 5], [6, 7]]]", "detector.exclusion_masks"),
    ("dem_missing", 'geo.dem_path = "/nonexistent/dem.hgt"', "geo.dem_path"),
    ("calibration_missing", 'geo.calibration_file = "/nonexistent/cal.yaml"', "geo.calibration_file"),
    ("threshold_above_1", "detector.class_thresholds = {person = 2.0}", "detector.class_thresholds.person"),
    ("mean_two_channels", "detector.preprocess.mean = [0, 0]", "detector.preprocess.mean"),
    ("stall_inf", "camera.stall_timeout_s = inf", "camera.stall_timeout_s"),
    ("nan_in_list", "detector.preprocess.mean = [nan, 0, 0]", "detector.preprocess.mean"),
    ("cafile_missing", 'mqtt.url = "mqtts://127.0.0.1:8883"\nmqtt.cafile = "pki/ca.pem"', "mqtt.cafile"),
    ("input_size_one", "detector.preprocess.input_size = [640]", "detector.preprocess.input_size"),
    ("input_size_negative", "detector.preprocess.input_size = [-5, 0]", "detector.preprocess.input_size"),
    ("unknown_class", "detector.class_thresholds = {persn = 0.5}", "detector.class_thresholds"),
    ("nul_in_string", 'camera.url = "/dev/video\\u0000"', "camera.url"),
    ("clips_no_ffmpeg", 'clips.enabled = true\nclips.ffmpeg = "/nonexistent/ffmpeg"', "clips.ffmpeg"),
    ("clips_ring_too_short", "clips.enabled = true\nclips.ring_s = 5.0", "clips.ring_s"),
    ("clips_folder_unwritable", 'clips.enabled = true\nclips.folder = "/proc/clips"', "clips.folder"),
]


@pytest.mark.parametrize(("extra", "key"), [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_fault_refused_by_check_config_and_run(tmp_path: Path, extra: str, key: str) -> None:
    _refused(_config(tmp_path, extra), key)


def test_missing_model(tmp_path: Path) -> None:
    path = _config(tmp_path, "")
    path.write_text(path.read_text().replace(str(MODEL), "missing.onnx"))
    _refused(path, "detector.model")


def test_nul_byte_in_state_dir(tmp_path: Path) -> None:
    _refused(_config(tmp_path, "", state_dir=str(tmp_path / "a\\u0000b")), "vehicle.state_dir")


def test_state_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    _refused(_config(tmp_path, "", state_dir=str(tmp_path / "afile")), "vehicle.state_dir")


def test_unreadable_calibration_file(tmp_path: Path) -> None:
    cal = tmp_path / "cal.yaml"
    cal.write_text("not: [a calibration")
    _refused(_config(tmp_path, f'geo.calibration_file = "{cal}"'), "geo.calibration_file")


def test_cafile_that_is_not_pem(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    _refused(_config(tmp_path, 'mqtt.url = "mqtts://127.0.0.1:8883"\nmqtt.cafile = "ca.pem"'), "mqtt.cafile")


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("deep", b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply"),
        ("binary", b"\x00\xff\xfe garbage", "not UTF-8 text: byte 0xff at line 1, column 2"),
        ("latin1", b'[vehicle]\nid = "caf\xe9"\n', "not UTF-8 text: byte 0xe9 at line 2, column 10"),
        ("huge", b"# " + b"x" * (2 << 20) + b"\n", "too large"),
    ],
)
def test_unusable_file_refused(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    path = tmp_path / f"{name}.toml"
    path.write_bytes(content)
    for args in (("check-config", str(path)), ("run", "--config", str(path))):
        res = _edge(*args)
        assert res.returncode == 2, res.stdout + res.stderr
        assert "Traceback" not in res.stderr
        assert res.stderr.startswith(f"{path}: ") and expected in res.stderr, res.stderr


def test_folder_as_config(tmp_path: Path) -> None:
    res = _edge("check-config", str(tmp_path))
    assert res.returncode == 2 and f"{tmp_path}: is a folder" in res.stderr, res.stderr


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("mqtt.reconnect_min_s = 30.0\nmqtt.reconnect_max_s = 5.0", "mqtt.reconnect_min_s"),
        ("tracker.low_threshold = 0.9\ntracker.high_threshold = 0.5", "tracker.low_threshold"),
        ("detector.thermal.low_pct = 99.0\ndetector.thermal.high_pct = 1.0", "detector.thermal.low_pct"),
        ('camera.url = "/nonexistent/flight.mp4"', "camera.url"),
    ],
    ids=["reconnect_min_above_max", "low_above_high_threshold", "percentiles_reversed", "video_file_missing"],
)
def test_bounds_out_of_order_and_missing_video(tmp_path: Path, extra: str, key: str) -> None:
    _refused(_config(tmp_path, extra), key)


@pytest.mark.parametrize(
    ("content", "reason"), [(b"abc\n", "expected 64 hex"), (bytes(range(200, 232)), "not text")], ids=["short", "raw"]
)
def test_a_malformed_thumbnail_key_is_refused_by_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes, reason: str
) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "thumbnail-key").write_bytes(content)  # short, or the raw 32 bytes instead of hex digits
    path = _config(tmp_path, "thumbnails.enabled = true")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    _refused(path, "thumbnails.key_credential: thumbnail-key: ")
    assert reason in _edge("check-config", str(path)).stderr
