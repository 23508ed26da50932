"""The MPEG-TS muxer and the access-unit splitter on real H.264 from ffmpeg; the result read by ffprobe and ffmpeg
(independent readers): a video stream, a KLV data stream whose packets decode back, the duration the PTS say."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from edge.clips import klv
from edge.clips.ts import TS_SIZE, AccessUnits, TsMuxer, is_keyframe, nal_units

pytestmark = [pytest.mark.integration, pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")]


def h264(tmp_path: Path, frames: int, gop: int) -> bytes:
    out = tmp_path / "v.h264"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-frames:v", str(frames),
         "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", str(gop),
         "-bsf:v", "h264_metadata=aud=insert", "-f", "h264", str(out)],
        check=True,
    )  # fmt: skip
    return out.read_bytes()


def test_nal_units_finds_three_and_four_byte_start_codes() -> None:
    data = b"\x00\x00\x00\x01\x09\xf0" + b"\x00\x00\x01\x65\x88" + b"\x00\x00\x01\x41\x9a"
    assert nal_units(data) == [(0, 9), (6, 5), (11, 1)]


def test_units_split_per_frame_whatever_the_chunking(tmp_path: Path) -> None:
    data = h264(tmp_path, 25, 10)
    for chunk in (7, 1000, len(data)):
        au = AccessUnits()
        units = [u for i in range(0, len(data), chunk) for u in au.feed(data[i : i + chunk])] + [au.flush()]
        assert len(units) == 25 and b"".join(units) == data
        assert [i for i, u in enumerate(units) if is_keyframe(u)] == [0, 10, 20]


def test_ffprobe_sees_video_and_klv_and_the_klv_decodes(tmp_path: Path) -> None:
    au = AccessUnits()
    data = h264(tmp_path, 30, 10)
    units = [*au.feed(data), au.flush()]
    mux = TsMuxer()
    ts = mux.tables()
    samples = []
    for i, unit in enumerate(units):
        s = klv.Sample(1.8e9 + i / 10, 42.6 + i * 1e-5, 19.9, 1100.0 + i, 90.0, 1.0, -2.0, 10.0, -45.0, 0.0, 60, 45)
        samples.append(s)
        ts += mux.frame(unit, klv.encode(s), 90_000 + i * 9_000)
    assert len(ts) % TS_SIZE == 0 and ts[::TS_SIZE] == b"\x47" * (len(ts) // TS_SIZE)
    path = tmp_path / "c.ts"
    path.write_bytes(ts)
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    info = json.loads(probe.stdout)
    assert [(s["codec_type"], s["codec_name"]) for s in info["streams"]] == [("video", "h264"), ("data", "klv")]
    assert float(info["format"]["duration"]) == pytest.approx(3.0, abs=0.01)
    decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True)
    assert decoded.returncode == 0 and not decoded.stderr, decoded.stderr
    dump = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:d", "-c", "copy", "-f", "data", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    assert dump == b"".join(klv.encode(s) for s in samples)
