"""The crop store: JPEG crops of tracks of interest in SQLite, encrypted at rest (AES-256-GCM), bounded by bytes and age.

One row per (boot, camera, track, which) where ``which`` is "best" (highest score x box area so far) or "latest".
The image is encrypted with a key from a systemd credential; the row's identity is the GCM associated data, so a
blob moved to another row does not decrypt. What is deleted (aged out, evicted for room) is remembered as expired
(up to ``EXPIRED_KEEP`` tracks), so a request for it gets "expired" rather than "unknown".
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from edge.secrets import read_secret

log = logging.getLogger("edge.thumbs.store")
EXPIRED_KEEP = 100_000  # tracks remembered as expired at most
_SCHEMA = """
CREATE TABLE IF NOT EXISTS crops (
    boot INTEGER NOT NULL, camera TEXT NOT NULL, track INTEGER NOT NULL, which TEXT NOT NULL,
    t_utc REAL NOT NULL, t_saved REAL NOT NULL, class TEXT NOT NULL, score REAL NOT NULL,
    x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
    rx1 REAL NOT NULL, ry1 REAL NOT NULL, rx2 REAL NOT NULL, ry2 REAL NOT NULL,
    size INTEGER NOT NULL, nonce BLOB NOT NULL, blob BLOB NOT NULL,
    PRIMARY KEY (boot, camera, track, which));
CREATE INDEX IF NOT EXISTS crops_saved ON crops (t_saved);
CREATE TABLE IF NOT EXISTS expired (
    boot INTEGER NOT NULL, camera TEXT NOT NULL, track INTEGER NOT NULL, t_expired REAL NOT NULL,
    PRIMARY KEY (boot, camera, track));
"""


class CropKeyError(ValueError):
    """The crop key credential is not 64 hex digits (the message names the credential)."""


def load_key(credential: str) -> bytes:
    """The 32-byte AES key from credential ``credential`` or $EDGE_THUMBNAIL_KEY (64 hex digits); a random key
    (this run only) when neither is set. Raises CropKeyError for a malformed key."""
    try:
        text = read_secret(credential, "EDGE_THUMBNAIL_KEY")
    except (OSError, UnicodeDecodeError) as err:  # unreadable, or raw bytes instead of hex digits
        reason = err.strerror if isinstance(err, OSError) else "not text"
        raise CropKeyError(f"thumbnails.key_credential: {credential}: {reason}: expected 64 hex digits") from None
    if text is None:
        log.warning(
            "thumbnails: no key (credential %s or $EDGE_THUMBNAIL_KEY): crops are readable this run only", credential
        )
        return AESGCM.generate_key(256)
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) != 32:
        raise CropKeyError(f"thumbnails.key_credential: {credential}: expected 64 hex digits (a 256-bit key)")
    return key


@dataclass(frozen=True, slots=True)
class CropKey:
    """Which crop: the track (boot id, camera id, track id) and ``which`` ("best" or "latest")."""

    boot: int
    camera: str
    track: int
    which: str

    def aad(self) -> bytes:
        return f"{self.boot}/{self.camera}/{self.track}/{self.which}".encode()


@dataclass(frozen=True, slots=True)
class Crop:
    """A stored crop: JPEG bytes, capture time (POSIX s), class, score, the target's box in the crop (x1, y1, x2,
    y2 as fractions of the crop's width/height) and the crop's region in the frame (fractions of the frame's)."""

    key: CropKey
    jpeg: bytes
    t_utc: float
    class_name: str
    score: float
    box: tuple[float, float, float, float]
    region: tuple[float, float, float, float]


class CropStore:
    """Thread-safe (one connection behind a lock). ``max_bytes``: encrypted bytes at most; ``max_age_s``: lifetime."""

    def __init__(self, path: Path, key: bytes, max_bytes: int, max_age_s: float) -> None:
        self.path = Path(path)
        self._aead = AESGCM(key)
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as err:  # damaged: the crops are a cache, set it aside and start empty
            aside = self.path.with_name(f"{self.path.name}.damaged-{int(time.time())}")
            for suffix in ("", "-wal", "-shm"):
                src = Path(f"{self.path}{suffix}")
                if src.exists():
                    src.rename(f"{aside}{suffix}")
            log.error("thumbnails: crop store %s is damaged (%s): moved to %s, starting empty", self.path, err, aside)
            self._db = self._open()
        self.bytes = int(self._db.execute("SELECT coalesce(sum(size), 0) FROM crops").fetchone()[0])
        self.stats = {"saved": 0, "expired": 0, "evicted": 0, "undecryptable": 0}

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            db.execute("SELECT count(*) FROM crops").fetchone()
        except sqlite3.DatabaseError:
            db.close()
            raise
        os.chmod(self.path, 0o600)
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def put(self, crop: Crop, now: float | None = None) -> None:
        """Store (replace) ``crop``, then delete what is too old and the oldest until the store fits."""
        now = time.time() if now is None else now
        nonce = os.urandom(12)
        blob = self._aead.encrypt(nonce, crop.jpeg, crop.key.aad())
        k = crop.key
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                old = self._db.execute(
                    "SELECT size FROM crops WHERE boot=? AND camera=? AND track=? AND which=?",
                    (k.boot, k.camera, k.track, k.which),
                ).fetchone()
                self._db.execute(
                    "INSERT OR REPLACE INTO crops VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        k.boot,
                        k.camera,
                        k.track,
                        k.which,
                        crop.t_utc,
                        now,
                        crop.class_name,
                        crop.score,
                        *crop.box,
                        *crop.region,
                        len(blob),
                        nonce,
                        blob,
                    ),
                )
                self.bytes += len(blob) - (old[0] if old else 0)
                self._expire(now)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        self.stats["saved"] += 1

    def get(self, key: CropKey, now: float | None = None) -> Crop | str:
        """The crop of ``key``, or why not: "expired" (it was kept and is gone) or "unknown" (never kept)."""
        now = time.time() if now is None else now
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._expire(now)
            self._db.execute("COMMIT")
            row = self._db.execute(
                "SELECT t_utc, class, score, x1, y1, x2, y2, rx1, ry1, rx2, ry2, nonce, blob FROM crops "
                "WHERE boot=? AND camera=? AND track=? AND which=?",
                (key.boot, key.camera, key.track, key.which),
            ).fetchone()
            gone = (
                row is None
                and self._db.execute(
                    "SELECT 1 FROM expired WHERE boot=? AND camera=? AND track=?", (key.boot, key.camera, key.track)
                ).fetchone()
            )
        if row is None:
            return "expired" if gone else "unknown"
        t_utc, cls, score, x1, y1, x2, y2, rx1, ry1, rx2, ry2, nonce, blob = row
        try:
            jpeg = self._aead.decrypt(nonce, blob, key.aad())
        except Exception:  # cryptography's InvalidTag: another key (an earlier run's) or a damaged row
            self.stats["undecryptable"] += 1
            return "expired"
        return Crop(key, jpeg, t_utc, cls, score, (x1, y1, x2, y2), (rx1, ry1, rx2, ry2))

    def _delete(self, where: str, args: tuple[object, ...], now: float) -> int:
        rows = self._db.execute(f"SELECT boot, camera, track, size FROM crops WHERE {where}", args).fetchall()
        if not rows:
            return 0
        self._db.execute(f"DELETE FROM crops WHERE {where}", args)
        self._db.executemany(
            "INSERT OR REPLACE INTO expired VALUES (?, ?, ?, ?)", [(b, c, t, now) for b, c, t, _ in rows]
        )
        self.bytes -= sum(r[3] for r in rows)
        return len(rows)

    def _expire(self, now: float) -> None:
        """Inside a transaction: age limit first, then the oldest rows until the byte limit holds."""
        self.stats["expired"] += self._delete("t_saved < ?", (now - self.max_age_s,), now)
        while self.bytes > self.max_bytes:
            (t,) = self._db.execute("SELECT min(t_saved) FROM crops").fetchone()
            if t is None:
                break
            self.stats["evicted"] += self._delete("t_saved <= ?", (t,), now)
        (n,) = self._db.execute("SELECT count(*) FROM expired").fetchone()
        if n > EXPIRED_KEEP:
            self._db.execute(
                "DELETE FROM expired WHERE rowid IN (SELECT rowid FROM expired ORDER BY t_expired LIMIT ?)",
                (n - EXPIRED_KEEP,),
            )

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM crops").fetchone()[0])
