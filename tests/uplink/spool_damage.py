"""Real spool files damaged the ways a field disk damages them (for the spool repair tests).

``fill`` writes ``n`` detection records through a SpoolWriter in a separate process, one commit each, and then
either closes the spool (clean stop: no WAL left) or exits without closing (like SIGKILL: the WAL holds the
newest commits). The damage functions change bytes on disk the way a bad disk, a bad card or a careless hand does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from edge.uplink.spool_repair import FRAME_HDR, WAL_HDR, read_wal

_FILL = """
import os, sys, time
from pathlib import Path
from edge.types import EventKind, FrameEvents, GeoEvent, Pose
from edge.uplink.settings import SpoolSettings
from edge.uplink.spool import Spool, SpoolWriter
path, n, clean = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "clean"
spool = Spool(path, SpoolSettings())
writer = SpoolWriter(spool, "test-01", 7)
pose = Pose(0.0, 42.5, 19.3, 1200.0)
for i in range(n):
    ev = GeoEvent(i, 0, "person", 0.9, EventKind.NEW, (0.1, 0.2, 0.3, 0.4), 42.51, 19.31, 1000.0, 15.0)
    writer.submit(FrameEvents("cam0", i, time.time(), pose, (ev,)))
    writer.commit_pending()
if clean:
    spool.close()
else:
    os._exit(0)
"""


def fill(path: Path, n: int, clean: bool) -> None:
    """``n`` records in the spool at ``path``, committed one by one by another process."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-c", _FILL, str(path), str(n), "clean" if clean else "kill"], check=True, timeout=120
    )


def garbage_header(path: Path) -> None:
    """The first 100 bytes (SQLite's header) overwritten with garbage."""
    with path.open("r+b") as f:
        f.write(bytes((i * 37 + 11) % 256 for i in range(100)))


def truncate_mid_page(path: Path) -> None:
    """The database cut to about three quarters of its size, in the middle of a page."""
    os.truncate(path, path.stat().st_size * 3 // 4 + 1000)


def delete_wal(path: Path) -> None:
    Path(f"{path}-wal").unlink()


def flip_wal(path: Path, frame: int = 3) -> None:
    """Eight bytes inverted inside frame ``frame`` of the WAL's live generation (a bad sector)."""
    wal = Path(f"{path}-wal")
    data = bytearray(wal.read_bytes())
    rep = read_wal(bytes(data))
    live = None if rep is None else rep.frames if rep.bad_frame is None else rep.bad_frame  # then older frames
    assert live is not None and live > frame + 1, rep
    at = WAL_HDR + frame * (FRAME_HDR + rep.page_size) + FRAME_HDR + 100
    data[at : at + 8] = bytes(b ^ 0xFF for b in data[at : at + 8])
    wal.write_bytes(bytes(data))
