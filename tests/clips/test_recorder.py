"""The recorder with real ffmpeg, outside the daemon: remuxing a camera's own H.264 stream (not re-encoded: the
clip keeps the source's 4:4:4 profile, which our encoder never writes), an alert's clip with its KLV, and a missing
stream reported in health while the recorder keeps trying."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from edge.clips.recorder import ClipRecorder
from edge.clips.settings import ClipSettings
from edge.geo.locator import GroundGeolocator
from edge.geo.settings import GeoSettings
from edge.sources.camera_settings import CameraSettings
from edge.sources.clock import host_utc
from edge.types import EventKind, FrameEvents, GeoEvent, Pose

klvdata = pytest.importorskip("klvdata")
pytestmark = [pytest.mark.integration, pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")]

POSE = Pose(0.0, 42.6, 19.9, 1100.0, roll=math.radians(1), pitch=math.radians(-2), yaw=math.radians(30),
            cam_pitch=math.radians(-45))  # fmt: skip


def wait_for(what: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():
            return True
        time.sleep(0.1)
    return False


def recorder(tmp_path: Path, url: str, **keys: object) -> ClipRecorder:
    settings = ClipSettings(enabled=True, pre_s=2.0, post_s=2.0, segment_s=1.0, ring_s=10.0, **keys)
    geo = GroundGeolocator(GeoSettings(ground_alt_m=1000.0))
    cam = CameraSettings(id="cam0", url=url, loop=True)
    return ClipRecorder(
        settings, tmp_path / "clips", cam, lambda: None, lambda t: replace(POSE, t_mono=t), geo.view, geo.mounting,
        host_utc,
    )  # fmt: skip


def alert(track: int) -> FrameEvents:
    event = GeoEvent(track, 0, "person", 0.9, EventKind.NEW, (0.4, 0.4, 0.5, 0.6), 42.601, 19.901, 1000.0)
    return FrameEvents("cam0", 1, host_utc(time.monotonic()), None, (event,))


def test_remux_keeps_the_cameras_stream_and_adds_klv(tmp_path: Path) -> None:
    src = tmp_path / "camera.ts"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10", "-t", "30", "-c:v", "libx264",
         "-preset", "ultrafast", "-pix_fmt", "yuv444p", "-g", "10", "-f", "mpegts", str(src)],
        check=True,
    )  # fmt: skip
    rec = recorder(tmp_path, str(src))  # source "auto": ffprobe finds H.264
    rec.start()
    try:
        assert wait_for(lambda: rec.health()["units"] >= 30, 20), rec.health()  # 3 s in the ring
        assert rec.health()["source"] == "remux"
        rec.submit(alert(7))
        assert wait_for(lambda: rec.health()["clips"] == 1, 15), rec.health()
    finally:
        rec.stop()
    (clip,) = (tmp_path / "clips").glob("*-person-track7.ts")
    assert (tmp_path / "clips").stat().st_mode & 0o777 == 0o700
    info = json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(clip)],
            capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip
    video, data = info["streams"]
    assert (video["codec_name"], video["profile"], video["width"]) == ("h264", "High 4:4:4 Predictive", 320)
    assert data["codec_name"] == "klv"
    assert 4.0 - 0.3 <= float(info["format"]["duration"]) <= 4.0 + 1.0 + 0.3
    dump = subprocess.run(
        ["ffmpeg", "-v", "quiet", "-i", str(clip), "-map", "0:d", "-c", "copy", "-f", "data", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    packets = [{type(i).__name__: i.value.value for i in p.items.values()} for p in klvdata.StreamParser(dump)]
    assert len(packets) >= 35
    for k in packets:
        assert k["SensorLatitude"] == pytest.approx(42.6, abs=1e-6)
        assert k["SensorTrueAltitude"] == pytest.approx(1100.0, abs=0.5)
        assert k["PlatformHeadingAngle"] == pytest.approx(30.0, abs=0.01)
        assert k["SensorRelativeElevationAngle"] == pytest.approx(-45.0, abs=0.01)
    assert any(k.get("TargetLocationLatitude") == pytest.approx(42.601, abs=1e-6) for k in packets)


def test_a_stream_that_is_not_there_is_reported_and_retried(tmp_path: Path) -> None:
    rec = recorder(tmp_path, str(tmp_path / "missing.ts"), source="remux")
    rec.start()
    try:
        assert wait_for(lambda: rec.health()["ffmpeg_restarts"] >= 2, 15), rec.health()
        health = rec.health()
        assert health["state"] == "restarting" and "cannot probe the stream to remux" in str(health["last_error"])
    finally:
        t0 = time.monotonic()
        rec.stop()
        assert time.monotonic() - t0 < 3.0


def test_encoder_killed_is_restarted_and_recording_goes_on(tmp_path: Path) -> None:
    import numpy as np

    from edge.types import Frame

    seq = [0]

    def peek() -> Frame:  # a camera at the recorder's rate: a new frame at every look
        seq[0] += 1
        t = time.monotonic()
        image = np.full((120, 160, 3), seq[0] % 256, np.uint8)
        return Frame(image, t, host_utc(t), seq[0], "cam0")

    settings = ClipSettings(enabled=True, pre_s=1.0, post_s=1.0, segment_s=0.5, ring_s=5.0)
    geo = GroundGeolocator(GeoSettings(ground_alt_m=1000.0))
    rec = ClipRecorder(
        settings, tmp_path / "clips", CameraSettings(id="cam0"), peek, lambda t: replace(POSE, t_mono=t), geo.view,
        geo.mounting, host_utc,
    )  # fmt: skip
    rec.start()
    try:
        assert wait_for(lambda: rec.health()["units"] >= 10, 20), rec.health()
        first = rec._encoder
        assert first is not None
        first.proc.kill()
        assert wait_for(lambda: rec._encoder is not None and rec._encoder is not first, 10), rec.health()
        units = int(rec.health()["units"])  # type: ignore[call-overload]
        assert wait_for(lambda: rec.health()["units"] >= units + 10, 20), rec.health()
        health = rec.health()
        assert health["ffmpeg_restarts"] == 1 and health["state"] == "recording", health
        assert "ffmpeg stopped taking frames" in str(health["last_error"])
        rec.submit(alert(3))
        assert wait_for(lambda: rec.health()["clips"] == 1, 15), rec.health()
    finally:
        rec.stop()
    (clip,) = (tmp_path / "clips").glob("*-cam0-person-track3.ts")
    played = subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-f", "null", "-"], capture_output=True)
    assert played.returncode == 0 and not played.stderr, played.stderr


def test_a_ring_segment_gone_fails_the_clip_not_the_recorder(tmp_path: Path) -> None:
    from edge.clips.recorder import _Clip

    rec = recorder(tmp_path, "unused.ts")  # not started: the cut alone, on a ring filled by hand
    for i in range(40):
        if i % 10 == 0:
            rec.ring.start_segment(b"H" * 188)
        rec.ring.add_frame(i / 10, b"f" * 188, {"t_utc": 1000.0 + i / 10, "seq": i})
    rec.ring.segments[1].path.unlink()  # deleted behind the recorder's back
    rec._cut(_Clip(0.5, 3.5, "gone"))
    health = rec.health()
    assert health["clip_errors"] == 1 and health["clips"] == 0 and "gone.ts" in str(health["last_error"])
    assert not list((tmp_path / "clips").glob("gone*"))
    rec._cut(_Clip(2.0, 3.5, "later"))  # from the segments still there
    assert rec.health()["clips"] == 1
