"""A damaged spool found at start: moved aside, salvaged into a fresh one, reported; never an exception."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.uplink.settings import SpoolSettings
from edge.uplink.spool import Spool, SpoolWriter
from edge.uplink.spool_repair import read_wal, repair_wal

sys.path.insert(0, str(Path(__file__).parent))
from spool_damage import delete_wal, fill, flip_wal, garbage_header, truncate_mid_page

N = 300


def _open(path: Path, caplog: pytest.LogCaptureFixture) -> Spool:
    with caplog.at_level(logging.ERROR, "edge.uplink.spool"):
        return Spool(path, SpoolSettings())


@pytest.mark.parametrize(
    ("clean", "damage", "all_salvaged"),
    [(True, garbage_header, True), (False, garbage_header, True), (False, flip_wal, True),
     (True, truncate_mid_page, False), (False, truncate_mid_page, False)],
)  # fmt: skip
def test_damaged_spool_is_moved_aside_and_salvaged(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    clean: bool,
    damage: Callable[[Path], None],
    all_salvaged: bool,
) -> None:
    path = tmp_path / "spool.sqlite"
    fill(path, N, clean)
    damage(path)
    spool = _open(path, caplog)
    d = spool.damage
    assert d is not None and d.moved_to is not None
    assert d.moved_to.exists() and d.moved_to.name.startswith("spool.sqlite.damaged-")
    assert spool.rows == d.salvaged
    if all_salvaged:
        assert d.salvaged == N and d.lost == 0
    else:  # a cut file loses what was on the missing pages, and says how many when its counters could be read
        assert 0 < d.salvaged < N and d.lost in (None, N - d.salvaged)
    assert "spool damaged" in caplog.text and d.moved_to.name in caplog.text
    health = SpoolWriter(spool, "v1", 1).health()
    assert health["damage"] == d.text()
    # The salvaged rows are in their old order, and the fresh spool takes new rows after them.
    spool.insert([(1, 0.0, b"new")])
    assert [r.payload for r in spool.head(N + 1)][-1] == b"new"
    spool.close()
    assert Spool(path, SpoolSettings()).damage is None  # the fresh spool is sound on the next start


def test_wal_deleted_after_an_unclean_stop_is_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "spool.sqlite"
    fill(path, N, clean=False)
    delete_wal(path)
    spool = _open(path, caplog)
    d = spool.damage
    assert d is not None and d.lost is None and "WAL is missing" in d.text()
    assert "unknown number of rows lost" in caplog.text
    assert spool.rows < N  # what the WAL held is gone: reported, not silent


def test_clean_and_killed_spools_are_not_damaged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    for clean in (True, False):
        path = tmp_path / f"{clean}" / "spool.sqlite"
        fill(path, 50, clean)
        spool = _open(path, caplog)
        assert spool.damage is None and spool.rows == 50
        spool.close()
    assert not caplog.text


def test_wal_repair_makes_every_frame_valid_again(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"
    fill(path, 40, clean=False)
    flip_wal(path, frame=2)
    data = Path(f"{path}-wal").read_bytes()
    rep = read_wal(data)
    assert rep is not None and rep.bad_frame == 2 and rep.frames_after > 0
    fixed = read_wal(repair_wal(data))
    assert fixed is not None and fixed.bad_frame is None


def test_wal_with_a_damaged_header_is_replayed_from_its_first_frames_salts(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"
    fill(path, N, clean=False)
    wal = Path(f"{path}-wal")
    data = bytearray(wal.read_bytes())
    data[16:24] = bytes(b ^ 0x5A for b in data[16:24])  # the header's salts: SQLite would ignore the whole WAL
    wal.write_bytes(bytes(data))
    spool = Spool(path, SpoolSettings())
    assert spool.damage is not None and "WAL is damaged at frame 1" in spool.damage.text()
    assert spool.damage.salvaged == N and spool.damage.lost == 0


def test_evictions_are_logged_rate_limited_and_in_health(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(tmp_path / "spool.sqlite", SpoolSettings(max_rows=10))
    with caplog.at_level(logging.WARNING, "edge.uplink.spool"):
        for i in range(30):
            spool.insert([(1 if i % 2 else 0, float(i), b"x" * 10)], now=float(i))
    lines = [r.getMessage() for r in caplog.records if "evicted" in r.getMessage()]
    assert len(lines) == 1 and "full_update 1" in lines[0] and "spool.max_rows 10" in lines[0]
    evicted = SpoolWriter(spool, "v1", 1).health()["evicted_this_run"]
    assert evicted == {"full_alert": 6, "full_update": 14}  # updates go first; then the oldest alerts
