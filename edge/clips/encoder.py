"""One ffmpeg (libx264) session: raw frames in on stdin, H.264 access units out, one per frame, in order.

Low CPU: ``ultrafast``/``zerolatency`` (no B-frames, no lookahead: a frame's unit comes out as soon as it is
encoded), a keyframe every ``gop`` frames, scaled down to ``max_width``. Access unit delimiters are inserted so the
output can be split per frame (``edge.clips.ts.AccessUnits``). ffmpeg's own messages go to ``log_path``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import numpy as np

from edge.clips.settings import ClipSettings
from edge.clips.ts import AccessUnits

PIX_FMT = {(3, np.dtype(np.uint8)): "bgr24", (1, np.dtype(np.uint8)): "gray", (1, np.dtype(np.uint16)): "gray16le"}


class EncoderError(Exception):
    """ffmpeg could not be started for these frames."""


def pixel_format(image: np.ndarray) -> str:
    """ffmpeg's name of ``image``'s layout: (H, W, 3) uint8 BGR, (H, W) uint8 or uint16 grey."""
    channels = image.shape[2] if image.ndim == 3 else 1
    fmt = PIX_FMT.get((channels, image.dtype))
    if fmt is None:
        raise EncoderError(f"frames of shape {image.shape} {image.dtype} cannot be recorded")
    return fmt


def command(s: ClipSettings, width: int, height: int, pix_fmt: str) -> list[str]:
    """The ffmpeg command line for ``width`` x ``height`` frames of ``pix_fmt``."""
    gop = max(1, round(s.fps * s.segment_s))
    scale = ["-vf", f"scale={s.max_width}:-2"] if width > s.max_width else []
    return [
        s.ffmpeg, "-hide_banner", "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", f"{width}x{height}", "-framerate", f"{s.fps:g}", "-i", "pipe:0",
        *scale, "-c:v", "libx264", "-preset", s.preset, "-tune", "zerolatency", "-crf", str(s.crf),
        "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0", "-pix_fmt", "yuv420p",
        "-fps_mode", "passthrough", "-bsf:v", "h264_metadata=aud=insert", "-flush_packets", "1",
        "-f", "h264", "pipe:1",
    ]  # fmt: skip


class Encoder:
    """A running ffmpeg; ``write`` a frame's pixels, ``read`` the units that came out (blocking), ``close``."""

    def __init__(self, s: ClipSettings, width: int, height: int, pix_fmt: str, log_path: Path) -> None:
        self.size = (width, height, pix_fmt)
        self._log = log_path.open("ab")
        try:
            self.proc = subprocess.Popen(
                command(s, width, height, pix_fmt), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log
            )
        except OSError as err:
            self._log.close()
            raise EncoderError(f"clips.ffmpeg: cannot run {s.ffmpeg!r}: {err.strerror}") from None
        self._units = AccessUnits()

    def write(self, image: np.ndarray) -> bool:
        """Hand one frame to ffmpeg (blocks while it is busy); False once it has gone."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(np.ascontiguousarray(image).data)
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            return False
        return True

    def read(self) -> list[bytes] | None:
        """The access units completed by the next chunk of output; None at the end (the last unit was returned)."""
        assert self.proc.stdout is not None
        data = os.read(self.proc.stdout.fileno(), 1 << 16)
        if not data:
            last = self._units.flush()
            return [last] if last else None
        return self._units.feed(data)

    def finish_input(self) -> None:
        """No more frames: ffmpeg encodes what it holds and ends its output."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()

    def cpu_s(self) -> float:
        """User + system CPU seconds ffmpeg used so far (Linux /proc; 0 where unreadable)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self, timeout: float = 1.0) -> None:
        self.finish_input()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdout, self._log):
            if f is not None:
                f.close()
