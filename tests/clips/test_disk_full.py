"""The recorder on a full disk (a real 1 MB tmpfs; needs root to mount it): the ring's writes fail with ENOSPC,
the recorder says so in health, frees its own oldest segments and keeps recording; a clip that cannot be written
is reported, not fatal."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.clips.recorder import ClipRecorder
from tests.clips.test_recorder import alert, recorder, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)]).returncode:
        pytest.skip("mounting a tmpfs needs root")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_disk_is_reported_and_recording_goes_on(tmp_path: Path, small_disk: Path) -> None:
    src = tmp_path / "camera.ts"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=10", "-t", "30", "-c:v", "libx264",
         "-preset", "ultrafast", "-g", "10", "-f", "mpegts", str(src)],
        check=True,
    )  # fmt: skip
    rec: ClipRecorder = recorder(small_disk, str(src))
    rec.start()
    try:
        assert wait_for(lambda: "No space left on device" in str(rec.health()["last_error"]), 30), rec.health()
        units = int(rec.health()["units"])  # type: ignore[call-overload]
        assert wait_for(lambda: rec.health()["units"] >= units + 30, 20), rec.health()  # still recording
        assert all(t.is_alive() for t in rec._threads)
        rec.submit(alert(3))
        assert wait_for(lambda: rec.health()["clips"] + rec.health()["clip_errors"] >= 1, 20), rec.health()
    finally:
        rec.stop()
