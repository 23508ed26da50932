"""Start-up check of the spool database: find damage, move a damaged spool aside, salvage what can be read.

Checked before SQLite opens the file (opening and closing a damaged spool would checkpoint over the evidence):
the 100-byte header, the size against the page size and the header's page count, the WAL's header and frame
checksums (SQLite silently drops every commit after a bad frame), and a WAL that vanished after an unclean stop
(a marker file ``<spool>-open`` exists while a spool is open). Then ``PRAGMA quick_check`` on a read-only
connection. A damaged spool (file, ``-wal``, ``-shm``) is renamed ``<spool>.damaged-<UTC time>`` and kept for
recovery; rows are read from a patched copy (header and WAL checksums repaired) in rowid ranges, halving a range
that fails down to single rows, and written into a fresh spool. The caller never has to stop for it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from edge.types import Priority

MAGIC = b"SQLite format 3\x00"
WAL_MAGIC = (0x377F0682, 0x377F0683)  # little- / big-endian checksums
WAL_HDR, FRAME_HDR = 32, 24
DEFAULT_PAGE = 4096  # SQLite's default; the spool never changes it
MAX_FAILED_READS = 20_000  # failed range reads before salvage gives up on a table
FALLBACK_MAX_ID = 10_000_000  # ids searched when neither the table, its index nor the counters say more
_QUEUE_COLS = "id, prio, t_created, t_expire, size, payload"
_DEAD_COLS = "id, prio, t_created, t_dead, destination, reason, payload"
_DEAD_COLS_V1 = "id, prio, t_created, t_dead, 'mqtt:' || topic, reason_text || printf(' (0x%02X)', reason), payload"
_GONE = ("acked", "dead_letter", "superseded_health")  # counters of rows that left the queue, beside evicted_*


@dataclass(frozen=True, slots=True)
class Damage:
    """What was wrong with the spool at start and what became of it.

    ``moved_to``: the damaged file's new name (None when the file itself was sound, e.g. a lost WAL);
    ``salvaged``: queued rows carried into the new spool; ``lost``: rows known to be lost, None when unknown.
    """

    problems: tuple[str, ...]
    moved_to: Path | None = None
    salvaged: int = 0
    lost: int | None = None

    def text(self) -> str:
        """One line for the log, health and the ground."""
        what = "; ".join(self.problems)
        lost = "unknown number of rows lost" if self.lost is None else f"{self.lost} rows lost"
        if self.moved_to is None:
            return f"spool damaged: {what}; {lost}"
        return f"spool damaged: {what}; moved to {self.moved_to.name}; {self.salvaged} rows salvaged, {lost}"


def _wal_checksum(data: bytes, big: bool, s0: int, s1: int) -> tuple[int, int]:
    """SQLite's WAL checksum over ``data`` (length a multiple of 8), continuing from (s0, s1)."""
    words = struct.unpack(f"{'>' if big else '<'}{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


@dataclass(frozen=True, slots=True)
class WalReport:
    """A WAL file read frame by frame: ``bad_frame`` is the first frame SQLite would stop at (None: all good)
    and ``frames_after`` how many frames of the same generation follow it (lost commits when > 0); ``salts``
    mark that generation (the header's, or the first frame's when the header is damaged)."""

    page_size: int
    frames: int
    bad_frame: int | None
    frames_after: int
    header_ok: bool
    salts: tuple[int, int]


def read_wal(data: bytes) -> WalReport | None:
    """Check a WAL image; None when it holds no frames (empty or header only)."""
    if len(data) < WAL_HDR + FRAME_HDR:
        return None
    magic, _, page, _, salt1, salt2, c0, c1 = struct.unpack(">8I", data[:WAL_HDR])
    page_ok = 512 <= page <= 65536 and page & (page - 1) == 0
    big = magic == WAL_MAGIC[1]
    header_ok = magic in WAL_MAGIC and page_ok and _wal_checksum(data[:24], big, 0, 0) == (c0, c1)
    if not page_ok:
        page = DEFAULT_PAGE
    size = FRAME_HDR + page
    n = (len(data) - WAL_HDR) // size
    if n == 0:
        return None
    s = _wal_checksum(data[:24], big, 0, 0)
    gen = (salt1, salt2) if header_ok else struct.unpack(">2I", data[WAL_HDR + 8 : WAL_HDR + 16])
    bad: int | None = None if header_ok else 0
    after = 0
    for k in range(n):
        off = WAL_HDR + k * size
        hdr = data[off : off + FRAME_HDR]
        same_gen = struct.unpack(">2I", hdr[8:16]) == gen
        if bad is not None:
            after += same_gen and k > bad
            continue
        s = _wal_checksum(hdr[:8] + data[off + FRAME_HDR : off + size], big, *s)
        if not same_gen or s != struct.unpack(">2I", hdr[16:24]):
            bad = k
    return WalReport(page, n, bad, after, header_ok, gen)


def repair_wal(data: bytes) -> bytes:
    """The WAL with its header checksum and every frame's salts and checksums rewritten, so that SQLite replays
    all frames of the current generation (a damaged page stays damaged; its neighbours become readable). Frames
    of older generations (the stale tail SQLite leaves after a restart of the log) are left out."""
    rep = read_wal(data)
    if rep is None:
        return data
    magic, version, _, ckpt, _, _, _, _ = struct.unpack(">8I", data[:WAL_HDR])
    salt1, salt2 = rep.salts
    if magic not in WAL_MAGIC:
        magic = WAL_MAGIC[0]
    big = magic == WAL_MAGIC[1]
    head = struct.pack(">6I", magic, version, rep.page_size, ckpt, salt1, salt2)
    s = _wal_checksum(head, big, 0, 0)
    out = bytearray(head + struct.pack(">2I", *s))
    size = FRAME_HDR + rep.page_size
    if rep.bad_frame is None:
        keep = rep.frames
    else:  # the bad frame only when frames of its generation follow it (else it is the start of the stale tail)
        keep = rep.bad_frame + 1 + rep.frames_after if rep.frames_after else rep.bad_frame
    last_commit = WAL_HDR
    for k in range(keep):
        off = WAL_HDR + k * size
        (commit,) = struct.unpack(">I", data[off + 4 : off + 8])
        page = data[off + FRAME_HDR : off + size]
        s = _wal_checksum(data[off : off + 8] + page, big, *s)
        out += data[off : off + 8] + struct.pack(">4I", salt1, salt2, *s) + page
        if commit:
            last_commit = len(out)
    return bytes(out[:last_commit])


def _header(page_size: int, pages: int) -> bytes:
    """A plain WAL-mode database header for ``pages`` pages (freelist forgotten: fine for reading)."""
    counter = 1
    return (
        MAGIC
        + struct.pack(">HBBBBBB", 1 if page_size == 65536 else page_size, 2, 2, 0, 64, 32, 32)
        + struct.pack(">IIIIIIIIIIII", counter, pages, 0, 0, 1, 4, 0, 0, 1, 0, 0, 0)
        + bytes(20)
        + struct.pack(">II", counter, sqlite3.sqlite_version_info[0] * 1_000_000 + 40_000)
    )


def inspect_file(path: Path) -> list[str]:
    """Problems visible in the file bytes before SQLite opens it (an empty or absent file is a new spool)."""
    problems: list[str] = []
    size = path.stat().st_size if path.exists() else 0
    if size:
        with path.open("rb") as f:
            head = f.read(100)
        if len(head) < 100 or head[:16] != MAGIC:
            problems.append("the database header is not SQLite's")
        else:
            (raw,) = struct.unpack(">H", head[16:18])
            page = 65536 if raw == 1 else raw
            pages, valid_for, counter = struct.unpack(">I", head[28:32])[0], head[92:96], head[24:28]
            if page < 512 or page & (page - 1) or size % page:
                problems.append(f"the database is truncated mid-page ({size} bytes, page {page})")
            elif valid_for == counter and pages * page > size and not _wal_size(path):  # else the WAL has them
                problems.append(f"the database is truncated ({size // page} of {pages} pages)")
    wal = Path(f"{path}-wal")
    if wal.exists():
        rep = read_wal(wal.read_bytes())
        if rep is not None and rep.bad_frame is not None and (rep.frames_after or not rep.header_ok):
            problems.append(
                f"the WAL is damaged at frame {rep.bad_frame + 1} of {rep.frames} "
                f"(SQLite would drop the commits from there)"
            )
    elif size and _unclean_stop(path):
        problems.append("the WAL is missing after an unclean stop (commits since the last checkpoint are gone)")
    return problems


def _wal_size(path: Path) -> int:
    try:
        return Path(f"{path}-wal").stat().st_size
    except OSError:
        return 0


def _marker(path: Path) -> Path:
    return Path(f"{path}-open")


def _unclean_stop(path: Path) -> bool:
    """True when the marker of another process's open spool is still there (it did not close the spool)."""
    try:
        pid = int(_marker(path).read_text().strip() or 0)
    except (OSError, ValueError):
        return False
    return pid != os.getpid()


def mark_open(path: Path) -> None:
    """Write the open-spool marker (our pid); ``mark_closed`` removes it after a clean close."""
    with contextlib.suppress(OSError):
        _marker(path).write_text(f"{os.getpid()}\n")


def mark_closed(path: Path) -> None:
    with contextlib.suppress(OSError):
        _marker(path).unlink()


def quick_check(path: Path) -> str | None:
    """SQLite's own verdict on a read-only connection (so closing it checkpoints nothing); None when sound."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            rows = db.execute("PRAGMA quick_check(5)").fetchall()
        finally:
            db.close()
    except sqlite3.Error as err:
        return f"SQLite cannot read it ({err})"
    found = [str(r[0]) for r in rows]
    return None if found == ["ok"] else "SQLite's quick_check: " + "; ".join(found)


def move_aside(path: Path, now: float | None = None) -> Path:
    """Rename the spool and its ``-wal``/``-shm`` to ``<name>.damaged-<UTC>`` (same suffixes, so SQLite opens them
    together); returns the new database path."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    dest = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while dest.exists():
        n += 1
        dest = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{path}{suffix}")
        if src.exists():
            src.rename(f"{dest}{suffix}")
    mark_closed(path)
    return dest


def _read_ranges(db: sqlite3.Connection, sql: str, lo: int, hi: int) -> list[tuple[object, ...]]:
    """Rows of ``sql`` (with ``id BETWEEN ? AND ?``) over [lo, hi], halving ranges that fail to read (at most
    MAX_FAILED_READS failures: a damaged spool must not hold up the start for long)."""
    out: list[tuple[object, ...]] = []
    todo = [(lo, hi)]
    failed = 0
    while todo and failed < MAX_FAILED_READS:
        a, b = todo.pop()
        try:
            out += db.execute(sql, (a, b)).fetchall()
        except sqlite3.DatabaseError:
            failed += 1
            if a < b:
                mid = (a + b) // 2
                todo += [(mid + 1, b), (a, mid)]
    return sorted(out, key=lambda r: int(r[0]))  # type: ignore[call-overload]


def _max_id(db: sqlite3.Connection, queries: tuple[str, ...], bound: int | None) -> int:
    """The largest id: from the table or an index if they read, else ``bound`` (rowids never exceed the number
    of rows ever inserted), else FALLBACK_MAX_ID."""
    for sql in queries:
        try:
            (hi,) = db.execute(sql).fetchone()
            return int(hi or 0)
        except sqlite3.DatabaseError:
            continue
    return bound if bound is not None else FALLBACK_MAX_ID


@dataclass
class Salvage:
    """What could be read from a damaged spool; ``expected`` = rows its own counters say it held (None: unread)."""

    queue: list[tuple[object, ...]]
    dead: list[tuple[object, ...]]
    counters: dict[str, int]
    expected: int | None


def salvage(damaged: Path) -> Salvage:
    """Read rows from a scratch copy of ``damaged`` (and its WAL) with the header and WAL checksums repaired."""
    with tempfile.TemporaryDirectory(prefix="salvage-", dir=damaged.parent) as tmp:
        copy = Path(tmp) / "spool.sqlite"
        wal = Path(f"{damaged}-wal")
        wal_data = wal.read_bytes() if wal.exists() else b""
        rep = read_wal(wal_data)
        if rep is not None:
            Path(f"{copy}-wal").write_bytes(repair_wal(wal_data))
        shutil.copyfile(damaged, copy)
        _patch_copy(copy, rep.page_size if rep is not None else DEFAULT_PAGE)
        try:
            db = sqlite3.connect(str(copy), isolation_level=None, timeout=5)
            db.execute("PRAGMA writable_schema=ON")  # read a file shorter than its header says
        except sqlite3.Error:
            return Salvage([], [], {}, None)
        try:
            return _read_all(db)
        finally:
            db.close()


def _patch_copy(copy: Path, wal_page: int) -> None:
    """Give a copy a plain header when its own is not SQLite's, and pad it with zeros to whole pages."""
    size = copy.stat().st_size
    with copy.open("r+b") as f:
        head = f.read(100)
        if len(head) < 100 or head[:16] != MAGIC:
            page = wal_page
            f.seek(0)
            f.write(_header(page, max(1, -(-size // page))))
        else:
            (raw,) = struct.unpack(">H", head[16:18])
            page = 65536 if raw == 1 else raw
            if page < 512 or page & (page - 1):
                return
        f.truncate(max(1, -(-size // page)) * page)


def _read_all(db: sqlite3.Connection) -> Salvage:
    try:
        db.execute("PRAGMA journal_mode").fetchone()
    except sqlite3.DatabaseError:
        return Salvage([], [], {}, None)
    try:
        counters = {str(k): int(v) for k, v in db.execute("SELECT name, value FROM counters").fetchall()}
    except (sqlite3.DatabaseError, ValueError, TypeError):
        counters = {}
    hi = _max_id(
        db,
        ("SELECT max(id) FROM queue", "SELECT max(id) FROM queue INDEXED BY queue_prio_id"),
        counters.get("inserted"),
    )
    queue = _read_ranges(db, f"SELECT {_QUEUE_COLS} FROM queue WHERE id BETWEEN ? AND ?", 0, hi)
    prios = {int(p) for p in Priority}
    queue = [
        r
        for r in queue
        if r[1] in prios and isinstance(r[5], bytes) and r[4] == len(r[5]) and isinstance(r[2], float | int)
    ]
    hi = _max_id(db, ("SELECT max(id) FROM dead_letter",), counters.get("dead_letter"))
    try:  # a spool from before transports were separated keeps an MQTT topic and reason code
        v1 = "topic" in {r[1] for r in db.execute("PRAGMA table_info(dead_letter)").fetchall()}
    except sqlite3.Error:
        v1 = False
    cols = _DEAD_COLS_V1 if v1 else _DEAD_COLS
    dead = _read_ranges(db, f"SELECT {cols} FROM dead_letter WHERE id BETWEEN ? AND ?", 0, hi)
    expected = None
    if "inserted" in counters:
        gone = sum(v for k, v in counters.items() if k in _GONE or k.startswith("evicted_"))
        expected = counters["inserted"] - gone
    return Salvage(queue, dead, counters, expected)


def check_and_recover(path: Path, now: float | None = None) -> tuple[Damage | None, Salvage | None]:
    """Inspect the spool at ``path``; when damaged, move it aside and read what can be read.

    Returns (None, None) for a sound spool; (damage, None) when the file is sound but something was lost (a
    missing WAL); (damage, salvage) when the spool was moved aside: the caller writes ``salvage`` into the fresh
    spool it creates at ``path``.
    """
    problems = inspect_file(path)
    wal_lost = any("WAL is missing" in p for p in problems)
    if not problems or wal_lost:
        verdict = quick_check(path)
        if verdict:
            problems.append(verdict)
    if not problems:
        return None, None
    if wal_lost and len(problems) == 1:
        mark_closed(path)
        return Damage(tuple(problems)), None
    moved = move_aside(path, now)
    got = salvage(moved)
    lost = None
    if got.expected is not None and not wal_lost:
        lost = max(0, got.expected - len(got.queue))
    return Damage(tuple(problems), moved, len(got.queue), lost), got
