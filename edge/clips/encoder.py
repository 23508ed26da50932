"""ffmpeg sessions that give the recorder H.264/H.265 access units, one per frame, in order.

``Encoder``: raw frames in on stdin, libx264 out. Low CPU: ``ultrafast``/``zerolatency`` (no B-frames, no lookahead:
a frame's unit comes out as soon as it is encoded), a keyframe every ``gop`` frames, scaled down to ``max_width``.
``Remuxer``: the camera's own H.264/H.265 stream copied, not decoded (``-c copy``). Both insert access unit
delimiters so the output splits per frame (``edge.clips.ts.AccessUnits``); ffmpeg's own messages go to
``log_path``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
from pathlib import Path

import numpy as np

from edge.clips.settings import ClipSettings
from edge.clips.ts import AccessUnits

PIX_FMT = {(3, np.dtype(np.uint8)): "bgr24", (1, np.dtype(np.uint8)): "gray", (1, np.dtype(np.uint16)): "gray16le"}
CODECS = ("h264", "hevc")


class EncoderError(Exception):
    """ffmpeg could not be started for these frames or this stream."""


def pixel_format(image: np.ndarray) -> str:
    """ffmpeg's name of ``image``'s layout: (H, W, 3) uint8 BGR, (H, W) uint8 or uint16 grey."""
    channels = image.shape[2] if image.ndim == 3 else 1
    fmt = PIX_FMT.get((channels, image.dtype))
    if fmt is None:
        raise EncoderError(f"frames of shape {image.shape} {image.dtype} cannot be recorded")
    return fmt


def command(s: ClipSettings, width: int, height: int, pix_fmt: str) -> list[str]:
    """The ffmpeg command line that encodes ``width`` x ``height`` frames of ``pix_fmt``."""
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


def _input_args(url: str, file_rate: bool, loop: bool) -> list[str]:
    """How ffmpeg opens ``url``: RTSP over TCP; a file read at its own rate (like the camera replays it)."""
    args = ["-rtsp_transport", "tcp"] if url.startswith(("rtsp://", "rtsps://")) else []
    if file_rate:
        args += ["-re"] + (["-stream_loop", "-1"] if loop else [])
    return [*args, "-i", url]


def probe(s: ClipSettings, url: str, timeout: float = 15.0) -> tuple[str, int, int]:
    """(codec, width, height) of the first video stream at ``url``; EncoderError when it is not H.264/H.265."""
    ffprobe = str(Path(s.ffmpeg).with_name("ffprobe")) if "/" in s.ffmpeg else "ffprobe"
    cmd = [ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name,width,height"]
    cmd += ["-of", "csv=p=0", *_input_args(url, False, False)[:-2], url]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise EncoderError(f"cannot probe the stream to remux: {err}") from None
    lines = [line for line in out.stdout.splitlines() if line.strip()]  # MPEG-TS lists the stream twice
    fields = lines[0].split(",") if lines else []
    if out.returncode != 0 or len(fields) != 3:
        raise EncoderError(f"cannot probe the stream to remux: {out.stderr.strip()[-200:] or 'no video stream'}")
    if fields[0] not in CODECS:
        raise EncoderError(f'the stream is {fields[0]}, not H.264/H.265: set clips.source = "encode"')
    return fields[0], int(fields[1]), int(fields[2])


class _Session:
    """A running ffmpeg whose stdout carries Annex B ``codec``; ``serial`` tells sessions apart, in start order."""

    _serials = itertools.count()

    def __init__(self, cmd: list[str], codec: str, log_path: Path, stdin: int) -> None:
        self.codec = codec
        self.serial = next(self._serials)
        self._log = log_path.open("ab")
        try:
            self.proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=self._log)
        except OSError as err:
            self._log.close()
            raise EncoderError(f"clips.ffmpeg: cannot run {cmd[0]!r}: {err.strerror}") from None
        self._units = AccessUnits(codec)

    def read(self) -> list[bytes] | None:
        """The access units completed by the next chunk of output; None at the end (the last unit was returned)."""
        assert self.proc.stdout is not None
        data = os.read(self.proc.stdout.fileno(), 1 << 16)
        if not data:
            last = self._units.flush()
            return [last] if last else None
        return self._units.feed(data)

    def finish_input(self) -> None:
        """No more input: ffmpeg writes what it holds and ends its output."""
        self.proc.terminate()

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


class Encoder(_Session):
    """libx264 on raw frames: ``write`` a frame's pixels, ``read`` the units that came out, ``close``."""

    def __init__(self, s: ClipSettings, width: int, height: int, pix_fmt: str, log_path: Path) -> None:
        self.size = (width, height, pix_fmt)
        super().__init__(command(s, width, height, pix_fmt), "h264", log_path, subprocess.PIPE)

    def write(self, image: np.ndarray) -> bool:
        """Hand one frame to ffmpeg (blocks while it is busy); False once it has gone."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(np.ascontiguousarray(image).data)
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            return False
        return True

    def finish_input(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()


class Remuxer(_Session):
    """The stream at ``url`` (``codec``, ``width`` x ``height`` px) copied into access units."""

    def __init__(
        self, s: ClipSettings, url: str, codec: str, size: tuple[int, int], file_rate: bool, loop: bool, log_path: Path
    ) -> None:
        self.size = size
        cmd = [s.ffmpeg, "-hide_banner", "-loglevel", "error", *_input_args(url, file_rate, loop)]
        cmd += ["-map", "0:v:0", "-c:v", "copy", "-bsf:v", f"{codec}_mp4toannexb,{codec}_metadata=aud=insert"]
        cmd += ["-flush_packets", "1", "-f", codec, "pipe:1"]
        super().__init__(cmd, codec, log_path, subprocess.DEVNULL)
