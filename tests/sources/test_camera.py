"""Camera source on local replays (image folders, video files): latest-wins, pacing, loop/end, raw 16-bit, errors."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.waits import wait_for
from edge.sources.camera import Camera, CameraError, LatestSlot
from edge.sources.camera_open import redact, resolve_backend
from edge.sources.camera_settings import CameraSettings
from edge.types import Frame


def write_folder(folder: Path, n: int, raw16: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = np.full((24, 32), 1000 * (i + 1), np.uint16) if raw16 else np.full((24, 32, 3), i, np.uint8)
        cv2.imwrite(str(folder / f"f{i:04d}.png"), img)
    return folder


def test_latest_slot_overwrites_and_counts_drops() -> None:
    slot = LatestSlot()
    f = [Frame(np.zeros((1, 1, 3), np.uint8), 0.0, 0.0, i) for i in range(4)]
    assert slot.get(0.01) is None
    assert slot.put(f[1]) is False
    assert slot.put(f[2]) is True  # f[1] was never taken: dropped
    assert slot.get(0.01) is f[2]
    assert slot.get(0.01, after_seq=2) is None  # nothing newer
    assert slot.put(f[3]) is False  # f[2] was taken: no drop
    got: list[Frame | None] = []
    t = threading.Thread(target=lambda: got.append(slot.get(2.0, after_seq=3)))
    t.start()
    time.sleep(0.05)
    slot.put(Frame(np.zeros((1, 1, 3), np.uint8), 0.0, 0.0, 7))
    t.join(3)
    assert got and got[0] is not None and got[0].seq == 7


@pytest.mark.parametrize(
    ("url", "backend", "kind"),
    [
        ("0", "auto", "v4l2"),
        ("/dev/video2", "auto", "v4l2"),
        ("rtsp://cam/x", "auto", "ffmpeg"),
        ("http://127.0.0.1:8080/stream.mjpg", "auto", "ffmpeg"),
        ("udp://@:5000", "auto", "ffmpeg"),
        ("clip.mp4", "auto", "file"),
        ("clip.mp4", "ffmpeg", "ffmpeg"),
    ],
)
def test_backend_from_url(url: str, backend: str, kind: str) -> None:
    assert resolve_backend(CameraSettings(url=url, backend=backend)) == kind


def test_gstreamer_without_support_and_empty_url_are_config_errors() -> None:
    if "GStreamer:                   NO" not in cv2.getBuildInformation():
        pytest.skip("this OpenCV has GStreamer")
    with pytest.raises(CameraError, match=r"camera\.url: .* no GStreamer"):
        Camera(CameraSettings(url="videotestsrc ! videoconvert ! appsink"))
    with pytest.raises(CameraError, match=r"camera\.url is empty"):
        Camera(CameraSettings(url=""))


def test_redact_password() -> None:
    assert redact("rtsp://admin:s3cret@10.0.0.5/live") == "rtsp://admin:***@10.0.0.5/live"


def test_folder_replay_paced_ends_and_timestamps(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "imgs", 10)
    cam = Camera(CameraSettings(url=str(folder), fps=50.0, latency_offset_ms=30.0))
    cam.start()
    try:
        seen = []
        seq = -1
        while (f := cam.latest(1.0, seq)) is not None:
            now = time.monotonic()
            seen.append(f)
            seq = f.seq
            assert now - f.t_mono >= 0.03  # the offset moves the capture time back
            assert abs(time.time() - f.t_utc - (now - f.t_mono)) < 0.1
        assert wait_for(lambda: cam.state == "ended")
        assert cam.received == 10 and cam.handed + cam.dropped == 10
        assert [int(f.image[0, 0, 0]) for f in seen] == sorted(int(f.image[0, 0, 0]) for f in seen)
        assert seen[-1].image.shape == (24, 32, 3) and seen[-1].camera_id == "cam0"
    finally:
        cam.stop()


def test_folder_loop_and_raw_16bit(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "thermal", 3, raw16=True)
    cam = Camera(CameraSettings(url=str(folder), raw=True, loop=True, realtime=False))
    cam.start()
    try:
        f = cam.latest(2.0)
        assert f is not None and f.image.dtype == np.uint16 and f.image.shape == (24, 32)
        for _ in range(9):  # looped past the 3 files
            f = cam.latest(2.0, after_seq=f.seq)
            assert f is not None
        assert cam.received >= 10 and cam.state == "streaming"
    finally:
        cam.stop()
    assert cam.state == "stopped"


def test_unpaced_folder_is_read_no_faster_than_frames_are_taken(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "photos", 8)
    cam = Camera(CameraSettings(url=str(folder), realtime=False))
    cam.start()
    try:
        seen = []
        f = cam.latest(2.0)
        while f is not None:
            seen.append(f)
            time.sleep(0.05)  # a slow detector
            f = cam.latest(1.0, after_seq=f.seq)
        assert len(seen) == 8 and cam.dropped == 0 and cam.received == 8
    finally:
        cam.stop()


def test_video_file_replay_at_file_rate(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 40.0, (64, 48))
    for i in range(20):
        vw.write(np.full((48, 64, 3), i * 10, np.uint8))
    vw.release()
    cam = Camera(CameraSettings(url=str(path)))
    t0 = time.monotonic()
    cam.start()
    try:
        assert wait_for(lambda: cam.state == "ended")
        took = time.monotonic() - t0
        assert cam.received == 20
        assert took >= 19 / 40 - 0.05  # paced at the file's 40 fps, not as fast as it decodes
    finally:
        cam.stop()


@pytest.mark.parametrize(("url", "error"), [("nope.mp4", "no such file"), ("/dev/video99", "cannot open /dev/video99")])
def test_missing_source_keeps_retrying_without_crashing(tmp_path: Path, url: str, error: str) -> None:
    path = url if url.startswith("/dev/") else str(tmp_path / url)
    cam = Camera(CameraSettings(url=path, reconnect_min_s=0.05, reconnect_max_s=0.1))
    cam.start()
    try:
        assert wait_for(lambda: cam.reconnects >= 3)
        h = cam.health()
        assert h["state"] == "reconnecting" and error in str(h["last_error"])
        assert cam.latest(0.05) is None
    finally:
        cam.stop()


def test_slow_consumer_gets_only_fresh_frames(tmp_path: Path) -> None:
    """Stale-frame guarantee: a consumer 4x slower than the camera never gets a frame older than its period."""
    folder = write_folder(tmp_path / "imgs", 60)
    cam = Camera(CameraSettings(url=str(folder), fps=40.0))
    period = 0.15
    cam.start()
    try:
        seqs, ages = [], []
        seq = -1
        while (f := cam.latest(1.0, seq)) is not None:
            ages.append(time.monotonic() - f.t_mono)
            seqs.append(f.seq)
            seq = f.seq
            time.sleep(period)  # the "inference"
        assert max(ages) < period, ages
        assert min(np.diff(seqs)) >= 1 and max(np.diff(seqs)) >= 3  # frames skipped, never repeated
        h = cam.health()
        assert cam.dropped > 20 and float(h["max_age_at_handover_ms"]) < period * 1e3  # type: ignore[arg-type]
    finally:
        cam.stop()
