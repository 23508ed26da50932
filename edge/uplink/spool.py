"""The durable store-and-forward spool: SQLite (WAL) in the state directory, the seam between seeing and sending.

Rows are encoded records with a priority (edge.types.Priority) and an expiry time. A row leaves the queue only
when a transport's far end acknowledged it (``ack``; several transports may drain one spool, each skipping what
another has in flight, see ``claim``), when it expired or was evicted to respect the size limits (counted), or
when a far end refused it for good (moved to the ``dead_letter`` table, with a destination and a reason). Counters live in the same database and
are updated in the same transactions, so they survive crashes and agree with the rows.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from edge.types import FrameEvents, Priority
from edge.uplink import codec
from edge.uplink.settings import SpoolSettings
from edge.uplink.spool_repair import Salvage, check_and_recover, mark_closed, mark_open

log = logging.getLogger("edge.uplink.spool")

DESCRIBE_EVERY_S = 600.0  # a sensor description is spooled again after this long (s), for receivers that start late

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY, prio INTEGER NOT NULL, t_created REAL NOT NULL, t_expire REAL NOT NULL,
    size INTEGER NOT NULL, payload BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS queue_prio_id ON queue (prio, id);
CREATE INDEX IF NOT EXISTS queue_expire ON queue (t_expire);
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY, prio INTEGER NOT NULL, t_created REAL NOT NULL, t_dead REAL NOT NULL,
    destination TEXT NOT NULL, reason TEXT NOT NULL, payload BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
# Spools written before transports were separated kept an MQTT topic and a PUBACK reason code per dead letter.
_MIGRATE_DEAD_LETTER = """
ALTER TABLE dead_letter RENAME TO dead_letter_v1;
CREATE TABLE dead_letter (
    id INTEGER PRIMARY KEY, prio INTEGER NOT NULL, t_created REAL NOT NULL, t_dead REAL NOT NULL,
    destination TEXT NOT NULL, reason TEXT NOT NULL, payload BLOB NOT NULL);
INSERT INTO dead_letter (id, prio, t_created, t_dead, destination, reason, payload)
    SELECT id, prio, t_created, t_dead, 'mqtt:' || topic, reason_text || printf(' (0x%02X)', reason), payload
    FROM dead_letter_v1;
DROP TABLE dead_letter_v1;
"""
_PRIO_NAME = {p: p.name.lower() for p in Priority}
EVICTION_LOG_S = 30.0  # at most one log line about evictions per this many seconds


@dataclass(frozen=True, slots=True)
class Row:
    """One queued message. Times are POSIX s; prio is a Priority value."""

    id: int
    prio: int
    t_created: float
    t_expire: float
    payload: bytes


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message a transport's far end refused for good: where it was going and why, in words."""

    id: int
    prio: int
    destination: str
    reason: str
    payload: bytes


class SpoolError(Exception):
    """The spool database cannot be opened or used (message names the file)."""


class Spool:
    """The SQLite queue. Thread-safe (one connection behind a lock); every method is one transaction.

    At open the file is checked (edge.uplink.spool_repair): a damaged spool is moved aside, what could be read is
    carried into a fresh one, and ``damage`` says what happened (None for a sound spool).
    """

    def __init__(self, path: Path, settings: SpoolSettings) -> None:
        self.path = Path(path)
        self.settings = settings
        self._lock = threading.Lock()
        try:
            self.damage, salvaged = check_and_recover(self.path)
        except OSError as err:
            raise SpoolError(f"spool {self.path}: cannot check or move aside: {err}") from None
        if self.damage is not None:
            log.error("%s", self.damage.text())
        self._evicted: dict[str, int] = {}  # since the last eviction log line
        self._evicted_total: dict[str, int] = {}  # since this process opened the spool
        self._evict_logged = 0.0
        try:
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={settings.synchronous}")
            self._migrate()
            self._db.executescript(_SCHEMA)
            if salvaged is not None:
                self._restore(salvaged)
            self._counters: dict[str, int] = dict(self._db.execute("SELECT name, value FROM counters").fetchall())
            n, b, top = self._db.execute(
                "SELECT count(*), coalesce(sum(size), 0), coalesce(max(id), 0) FROM queue"
            ).fetchone()
        except sqlite3.Error as err:
            raise SpoolError(f"spool {self.path}: cannot open: {err}") from None
        mark_open(self.path)
        self.rows, self.bytes = int(n), int(b)
        # Row ids are never reused (SQLite would reuse the highest after it was deleted): a late acknowledgement
        # of a deleted row, e.g. from the other transport, must never delete a new row that took its id.
        self._next_id = max(int(top), self._counters.get("inserted", 0)) + 1
        self._ttl = {
            Priority.ALERT: settings.ttl_alert_s,
            Priority.UPDATE: settings.ttl_update_s,
            Priority.HEALTH: settings.ttl_health_s,
            Priority.AUDIT: settings.ttl_alert_s,
            Priority.IMAGE: settings.ttl_image_s,
        }
        self._claims: dict[int, tuple[str, float]] = {}  # row id -> (transport, t_mono) while in flight

    def _restore(self, got: Salvage) -> None:
        """Write rows salvaged from a damaged spool into this (new, empty) one, in their old order."""
        self._db.execute("BEGIN IMMEDIATE")
        self._db.executemany(
            "INSERT INTO queue (prio, t_created, t_expire, size, payload) VALUES (?, ?, ?, ?, ?)",
            [r[1:] for r in got.queue],
        )
        self._db.executemany(
            "INSERT INTO dead_letter (prio, t_created, t_dead, destination, reason, payload) VALUES (?, ?, ?, ?, ?, ?)",
            [r[1:] for r in got.dead],
        )
        self._db.executemany("INSERT INTO counters (name, value) VALUES (?, ?)", list(got.counters.items()))
        self._db.execute("COMMIT")

    def _migrate(self) -> None:
        """Bring an older spool's tables up to this schema in place, keeping every row."""
        cols = {r[1] for r in self._db.execute("PRAGMA table_info(dead_letter)").fetchall()}
        if "topic" in cols:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for stmt in _MIGRATE_DEAD_LETTER.split(";"):
                    if stmt.strip():
                        self._db.execute(stmt)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            log.info("spool %s: dead-letter table migrated to destinations and reasons", self.path)

    def close(self) -> None:
        """Close the database (SQLite checkpoints the WAL) and remove the open-spool marker."""
        with self._lock:
            self._db.close()
        mark_closed(self.path)

    # -- evictions --------------------------------------------------------------------------------------------
    def _note_evicted(self, name: str, n: int) -> None:
        """Count an eviction for the log (one line per EVICTION_LOG_S with counts by reason and priority)."""
        self._evicted[name] = self._evicted.get(name, 0) + n
        self._evicted_total[name] = self._evicted_total.get(name, 0) + n
        mono = time.monotonic()
        if mono - self._evict_logged >= EVICTION_LOG_S:
            self._evict_logged = mono
            counts = ", ".join(f"{k.removeprefix('evicted_')} {v}" for k, v in sorted(self._evicted.items()))
            log.warning(
                "spool %s: evicted rows (%s) to stay within spool.max_rows %d / spool.max_bytes %d",
                self.path.name,
                counts,
                self.settings.max_rows,
                self.settings.max_bytes,
            )
            self._evicted.clear()

    def evictions(self) -> dict[str, int]:
        """Rows evicted since this process opened the spool, by reason and priority (``full_update``...)."""
        with self._lock:
            return {k.removeprefix("evicted_"): v for k, v in sorted(self._evicted_total.items())}

    # -- claims: which transport has which row in flight (several transports drain one spool) ----------------
    def claim(self, owner: str, row_id: int, now: float) -> None:
        """``owner`` sent ``row_id`` at ``now`` (s, monotonic) and waits for its acknowledgement."""
        with self._lock:
            self._claims[row_id] = (owner, now)

    def release(self, owner: str, ids: list[int]) -> None:
        """``owner`` no longer waits for ``ids`` (lost with its connection, or timed out)."""
        with self._lock:
            for rid in ids:
                if self._claims.get(rid, ("", 0.0))[0] == owner:
                    del self._claims[rid]

    def busy(self, owner: str, hold_s: float, now: float) -> set[int]:
        """Rows ``owner`` should not send now: its own in flight, and others' sent less than ``hold_s`` s ago."""
        with self._lock:
            return {rid for rid, (who, t) in self._claims.items() if who == owner or now - t < hold_s}

    # -- counters -------------------------------------------------------------------------------------------
    def counters(self) -> dict[str, int]:
        """Everything counted since the spool was created (persisted): inserted, acked, evicted_*, dead_letter..."""
        with self._lock:
            return dict(self._counters)

    def _count(self, changes: dict[str, int]) -> None:
        """Add to counters inside the caller's transaction."""
        for name, delta in changes.items():
            if delta:
                self._counters[name] = self._counters.get(name, 0) + delta
                self._db.execute(
                    "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = ?",
                    (name, self._counters[name], self._counters[name]),
                )

    def _set(self, values: dict[str, int]) -> None:
        self._count({k: v - self._counters.get(k, 0) for k, v in values.items()})

    # -- writing --------------------------------------------------------------------------------------------
    def ttl(self, prio: int) -> float:
        return self._ttl[Priority(prio)]

    def insert(
        self, items: list[tuple[int, float, bytes]], values: dict[str, int] | None = None, now: float | None = None
    ) -> None:
        """Insert ``(prio, t_created, payload)`` rows in one transaction, evicting by policy to make room.

        ``values`` sets named persistent values (e.g. the writer's next sequence number) in the same transaction.
        """
        now = time.time() if now is None else now
        add_bytes = sum(len(p) for _, _, p in items)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._make_room(len(items), add_bytes, now)
                first = self._next_id
                self._db.executemany(
                    "INSERT INTO queue (id, prio, t_created, t_expire, size, payload) VALUES (?, ?, ?, ?, ?, ?)",
                    [(first + i, prio, t, t + self.ttl(prio), len(p), p) for i, (prio, t, p) in enumerate(items)],
                )
                self._count({"inserted": len(items), "inserted_bytes": add_bytes})
                if values:
                    self._set(values)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._next_id = first + len(items)
            self.rows += len(items)
            self.bytes += add_bytes

    def replace_health(self, payload: bytes, now: float | None = None) -> None:
        """Queue a health message in place of any older one still waiting (only the newest health matters)."""
        now = time.time() if now is None else now
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            n, b = self._db.execute(
                "SELECT count(*), coalesce(sum(size), 0) FROM queue WHERE prio = ?", (Priority.HEALTH,)
            ).fetchone()
            self._db.execute("DELETE FROM queue WHERE prio = ?", (Priority.HEALTH,))
            self._count({"superseded_health": n})
            self.rows -= n
            self.bytes -= b
            self._db.execute("COMMIT")
        self.insert([(Priority.HEALTH, now, payload)], now=now)

    def _make_room(self, add_rows: int, add_bytes: int, now: float) -> None:
        """Expired rows first, then the oldest rows of the lowest priority, until the new rows fit."""
        s = self.settings
        if self.rows + add_rows <= s.max_rows and self.bytes + add_bytes <= s.max_bytes:
            return
        self._purge_expired(now)
        while self.rows and (self.rows + add_rows > s.max_rows or self.bytes + add_bytes > s.max_bytes):
            (prio,) = self._db.execute("SELECT max(prio) FROM queue").fetchone()
            victims = self._db.execute(
                "SELECT id, size FROM queue WHERE prio = ? ORDER BY id LIMIT 256", (prio,)
            ).fetchall()
            ids = []
            for rid, size in victims:
                if self.rows + add_rows <= s.max_rows and self.bytes + add_bytes <= s.max_bytes:
                    break
                ids.append((rid,))
                self.rows -= 1
                self.bytes -= size
            self._db.executemany("DELETE FROM queue WHERE id = ?", ids)
            name = f"evicted_full_{_PRIO_NAME[Priority(prio)]}"
            self._count({name: len(ids)})
            self._note_evicted(name, len(ids))

    def _purge_expired(self, now: float) -> None:
        groups = self._db.execute(
            "SELECT prio, count(*), sum(size) FROM queue WHERE t_expire < ? GROUP BY prio", (now,)
        ).fetchall()
        if not groups:
            return
        self._db.execute("DELETE FROM queue WHERE t_expire < ?", (now,))
        for prio, n, size in groups:
            self.rows -= n
            self.bytes -= size
            name = f"evicted_expired_{_PRIO_NAME[Priority(prio)]}"
            self._count({name: n})
            self._note_evicted(name, n)

    def purge_expired(self, now: float | None = None) -> None:
        """Drop (and count) every row past its time-to-live."""
        now = time.time() if now is None else now
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._purge_expired(now)
            self._db.execute("COMMIT")

    # -- reading and acknowledging ----------------------------------------------------------------------------
    def head(
        self, limit: int, exclude: set[int] | frozenset[int] = frozenset(), since: dict[int, float] | None = None
    ) -> list[Row]:
        """Up to ``limit`` rows to send next: by priority, oldest first, skipping ``exclude`` (in flight).

        ``since`` (priority -> oldest ``t_created`` wanted, POSIX s) keeps only those priorities and ages.
        """
        where, args = "", []
        if since is not None:
            where = "WHERE " + " OR ".join("(prio = ? AND t_created >= ?)" for _ in since) if since else "WHERE 0"
            args = [x for p, t in since.items() for x in (p, t)]
        with self._lock:
            rows = self._db.execute(
                f"SELECT id, prio, t_created, t_expire, payload FROM queue {where} ORDER BY prio, id LIMIT ?",
                (*args, limit + len(exclude)),
            ).fetchall()
        return [Row(*r) for r in rows if r[0] not in exclude][:limit]

    def ack(self, ids: list[int]) -> int:
        """Delete acknowledged rows in one transaction; returns how many were still there."""
        if not ids:
            return 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            placeholders = ",".join("?" * len(ids))
            n, b = self._db.execute(
                f"SELECT count(*), coalesce(sum(size), 0) FROM queue WHERE id IN ({placeholders})", ids
            ).fetchone()
            self._db.execute(f"DELETE FROM queue WHERE id IN ({placeholders})", ids)
            self._count({"acked": n})
            self._db.execute("COMMIT")
            for rid in ids:
                self._claims.pop(rid, None)
            self.rows -= n
            self.bytes -= b
            return int(n)

    def dead_letter(self, row_id: int, destination: str, reason: str) -> None:
        """Move a refused row to the dead_letter table (kept for an operator; never retried)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            got = self._db.execute(
                "SELECT prio, t_created, size, payload FROM queue WHERE id = ?", (row_id,)
            ).fetchone()
            if got is not None:
                prio, t_created, size, payload = got
                self._db.execute(
                    "INSERT INTO dead_letter (prio, t_created, t_dead, destination, reason, payload) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (prio, t_created, time.time(), destination, reason, payload),
                )
                self._db.execute("DELETE FROM queue WHERE id = ?", (row_id,))
                self._count({"dead_letter": 1})
                self.rows -= 1
                self.bytes -= size
            self._db.execute("COMMIT")

    def dead_letters(self) -> list[DeadLetter]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, prio, destination, reason, payload FROM dead_letter ORDER BY id"
            ).fetchall()
        return [DeadLetter(*r) for r in rows]

    def value(self, name: str, default: int = 0) -> int:
        """A named persistent value (see ``insert(values=...)``)."""
        with self._lock:
            return self._counters.get(name, default)

    def oldest_age_s(self, now: float | None = None) -> float:
        """Age (s) of the first queued row (the oldest insert; cheap: no table scan); 0 when empty."""
        now = time.time() if now is None else now
        with self._lock:
            got = self._db.execute("SELECT t_created FROM queue ORDER BY id LIMIT 1").fetchone()
        return 0.0 if got is None else max(0.0, now - got[0])


class SpoolWriter:
    """The spool's EventSink: ``submit`` queues a frame and returns at once; a thread encodes and commits.

    Frames waiting when the thread wakes are committed in one transaction (group commit), so the spool keeps up
    with any frame rate at full durability. Sequence numbers count records of this ``boot_id`` from 0 and are
    persisted with the rows, so a writer that reuses a boot id (same process restarting its stages) goes on
    where it stopped. A frame is durable once committed (normally within a few ms of ``submit``).
    """

    name = "spool"

    def __init__(self, spool: Spool, vehicle_id: str, boot_id: int) -> None:
        self.spool = spool
        self.vehicle_id = vehicle_id
        self.boot_id = boot_id
        self._seq = spool.value("writer_next_seq") if spool.value("writer_boot", -1) == boot_id else 0
        self._pending: deque[FrameEvents] = deque()
        self._described: dict[int, float] = {}  # key of each sensor description spooled -> when (s, monotonic)
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._dropped = 0
        self._errors = 0
        self._last_error = ""

    def submit(self, batch: FrameEvents) -> None:
        """Queue one frame's events (frames without events are skipped); never blocks on disk or network."""
        if not batch.events:
            return
        with self._cond:
            if len(self._pending) >= self.spool.settings.queue_frames:
                self._pending.popleft()
                self._dropped += 1
            self._pending.append(batch)
            self._cond.notify()

    def commit_pending(self) -> int:
        """Encode and commit every queued frame in one transaction; returns how many (the thread calls this)."""
        with self._cond:
            batches = list(self._pending)
            self._pending.clear()
        if not batches:
            return 0
        items = []
        seq = self._seq
        described = dict(self._described)
        now = time.monotonic()
        for b in batches:
            # a sensor's description goes first in the sequence, and again now and then for receivers that start late
            if b.sensor is not None and now - described.get(b.sensor.key, -DESCRIBE_EVERY_S) >= DESCRIBE_EVERY_S:
                described[b.sensor.key] = now
                items.append(
                    (int(Priority.ALERT), b.t_utc, codec.encode_description(b.sensor, self.boot_id, seq, b.t_utc))
                )
                seq += 1
            items.append((int(b.priority), b.t_utc, codec.encode(b, self.boot_id, seq)))
            seq += 1
        try:
            self.spool.insert(items, {"writer_boot": self.boot_id, "writer_next_seq": seq})
        except sqlite3.Error as err:
            with self._cond:  # keep the frames for the next try; the seq numbers were not used
                self._pending.extendleft(reversed(batches))
            self._errors += 1
            self._last_error = str(err)
            log.error("spool %s: cannot write: %s", self.spool.path, err)
            time.sleep(0.5)
            return 0
        self._seq = seq
        self._described = described
        self._last_error = ""
        return len(batches)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait(1.0)
                if self._stopping and not self._pending:
                    return
            self.commit_pending()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="spool-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Commit what is queued (at most ~1.5 s) and stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(1.5)

    def health(self) -> dict[str, object]:
        c = self.spool.counters()
        for k in ("writer_boot", "writer_next_seq"):
            c.pop(k, None)
        return {
            "state": "error" if self._last_error else "ok",
            "rows": self.spool.rows,
            "bytes": self.spool.bytes,
            "oldest_age_s": round(self.spool.oldest_age_s(), 1),
            "queued_frames": len(self._pending),
            "dropped_frames": self._dropped,
            "write_errors": self._errors,
            "next_seq": self._seq,
            "evicted_this_run": self.spool.evictions(),
            **({"damage": self.spool.damage.text()} if self.spool.damage else {}),
            **c,
        }
