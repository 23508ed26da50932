"""The ring of short MPEG-TS segments the clips are cut from, and the retention of the kept clips.

Each segment starts with PAT/PMT and a keyframe; the ring remembers, per segment, each frame's capture time
(``t_mono`` s), where its bytes start in the file and what was known of it (``info``: its pose, for the clip's
sidecar). Segments go oldest first when the ring is older than ``max_s`` or larger than ``max_bytes``; the segment
being written always stays.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class Segment:
    """One segment file: ``frames`` holds (t_mono s, byte offset, info) in order."""

    path: Path
    frames: list[tuple[float, int, dict[str, Any]]] = field(default_factory=list)
    size: int = 0


class Ring:
    """Segments in ``folder`` (emptied at start: the ring is a buffer, never evidence)."""

    def __init__(self, folder: Path, max_s: float, max_bytes: int) -> None:
        self.folder = folder
        self.max_s, self.max_bytes = max_s, max_bytes
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self.segments: list[Segment] = []
        self.evicted = 0
        self._n = 0
        self._file: Any = None

    @property
    def size(self) -> int:
        return sum(s.size for s in self.segments)

    def span_s(self) -> float:
        """Seconds of video between the oldest and the newest frame held."""
        frames = [s.frames for s in self.segments if s.frames]
        return frames[-1][-1][0] - frames[0][0][0] if frames else 0.0

    def start_segment(self, head: bytes) -> None:
        """Close the segment being written and open the next, which begins with ``head`` (PAT/PMT)."""
        self.close()
        self._n += 1
        seg = Segment(self.folder / f"seg-{self._n:08d}.ts")
        self._file = seg.path.open("wb")
        self.segments.append(seg)
        self._write(seg, head)

    def add_frame(self, t_mono: float, data: bytes, info: dict[str, Any]) -> None:
        """Append one frame's TS packets to the open segment (``start_segment`` first). OSError (a full disk):
        the frame is not in the ring (bytes of it that reached the file lie beyond the segment's size)."""
        seg = self.segments[-1]
        offset = seg.size
        self._write(seg, data)
        seg.frames.append((t_mono, offset, info))

    def shrink(self) -> int:
        """Close the segment being written and delete the oldest segments until half the ring's bytes are left
        (never the newest): room on a full disk. The number deleted."""
        self.close()
        total, half, gone = self.size, self.size // 2, 0
        while len(self.segments) > 1 and total > half:
            seg = self.segments.pop(0)
            total -= seg.size
            seg.path.unlink(missing_ok=True)
            gone += 1
        self.evicted += gone
        return gone

    def _write(self, seg: Segment, data: bytes) -> None:
        self._file.write(data)
        self._file.flush()  # a clip may be cut from the open segment
        seg.size += len(data)

    def evict(self, now: float) -> None:
        """Delete the oldest closed segments while the ring is older than ``max_s`` (by its newest frame's time
        against ``now``, t_mono s) or larger than ``max_bytes``."""
        total = self.size
        while len(self.segments) > 1:
            seg = self.segments[0]
            newest = seg.frames[-1][0] if seg.frames else now
            if now - newest <= self.max_s and total <= self.max_bytes:
                break
            self.segments.pop(0)
            total -= seg.size
            seg.path.unlink(missing_ok=True)
            self.evicted += 1

    def newest(self) -> float | None:
        """t_mono of the newest frame held."""
        for seg in reversed(self.segments):
            if seg.frames:
                return seg.frames[-1][0]
        return None

    def extract(self, t0: float, t1: float, dest: Path) -> list[tuple[float, dict[str, Any]]]:
        """Write the frames from the keyframe at or before ``t0`` through the last at or before ``t1`` (t_mono s) to
        ``dest``; (t_mono, info) of each frame written (empty, and no file, when the ring holds none of them)."""
        newest = self.newest()
        if newest is None or newest < t0:
            return []
        # the last segment starting at or before t0 (the first one, when the ring holds nothing so early)
        first = max((i for i, seg in enumerate(self.segments) if seg.frames and seg.frames[0][0] <= t0), default=0)
        infos: list[tuple[float, dict[str, Any]]] = []
        with dest.open("wb") as out:
            for seg in self.segments[first:]:
                kept = [f for f in seg.frames if f[0] <= t1]
                if not kept:
                    break
                end = seg.frames[len(kept)][1] if len(kept) < len(seg.frames) else seg.size
                with seg.path.open("rb") as f:
                    out.write(f.read(end))
                infos += [(f[0], f[2]) for f in kept]
                if len(kept) < len(seg.frames):
                    break
        if not infos:
            dest.unlink(missing_ok=True)
        return infos

    def close(self) -> None:
        """Close the segment being written (what a full disk kept it from writing is given up)."""
        if self._file is not None:
            file, self._file = self._file, None
            with contextlib.suppress(OSError):  # the file is closed all the same
                file.close()


def prune(folder: Path, keep_s: float, keep_bytes: int, now: float | None = None) -> int:
    """Delete kept clips (``*.ts`` with their ``.json``) older than ``keep_s`` by their file time, then the oldest
    while they take more than ``keep_bytes``; the number deleted."""
    now = time.time() if now is None else now
    stats = {}
    for p in folder.glob("*.ts"):
        with contextlib.suppress(OSError):  # gone meanwhile, or a link to nothing: not a clip
            st = p.stat()
            if p.is_file():
                stats[p] = st
    clips = sorted(stats, key=lambda p: stats[p].st_mtime)
    total = sum(st.st_size for st in stats.values())
    gone = 0
    for p in clips:
        if now - stats[p].st_mtime <= keep_s and total <= keep_bytes:
            continue
        total -= stats[p].st_size
        try:
            p.unlink(missing_ok=True)
            p.with_suffix(".json").unlink(missing_ok=True)
        except OSError as err:
            log.warning("clips: cannot delete %s: %s", p, err.strerror)
            continue
        gone += 1
    return gone
