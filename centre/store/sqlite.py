"""The embedded backend: one SQLite file (WAL, so several ingest processes and a reader share it)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from centre.store.base import Store, insert_sql
from centre.store.rows import DET_COLUMNS, RECORD_COLUMNS, DetRow, RecordRow

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
  vehicle TEXT NOT NULL, boot INTEGER NOT NULL, seq INTEGER NOT NULL, t REAL NOT NULL, camera TEXT NOT NULL,
  lat REAL, lon REAL, alt REAL, historical INTEGER NOT NULL, received REAL NOT NULL,
  PRIMARY KEY (vehicle, boot, seq));
CREATE INDEX IF NOT EXISTS records_vehicle_t ON records (vehicle, t);
CREATE TABLE IF NOT EXISTS detections (
  id INTEGER PRIMARY KEY, vehicle TEXT NOT NULL, boot INTEGER NOT NULL, seq INTEGER NOT NULL, idx INTEGER NOT NULL,
  t REAL NOT NULL, camera TEXT NOT NULL, class_id INTEGER NOT NULL, class TEXT NOT NULL, kind INTEGER NOT NULL,
  confidence REAL NOT NULL, track INTEGER NOT NULL, lat REAL, lon REAL, alt REAL, error_m REAL,
  UNIQUE (vehicle, boot, seq, idx));
CREATE INDEX IF NOT EXISTS detections_t ON detections (t);
CREATE INDEX IF NOT EXISTS detections_lat_lon ON detections (lat, lon);
CREATE TABLE IF NOT EXISTS sightings (
  id TEXT PRIMARY KEY, t_first REAL NOT NULL, t_last REAL NOT NULL, class TEXT NOT NULL, lat REAL NOT NULL,
  lon REAL NOT NULL, error_m REAL NOT NULL, n_sensors INTEGER NOT NULL, members TEXT NOT NULL, acked_by TEXT);
CREATE INDEX IF NOT EXISTS sightings_t ON sightings (t_last);
CREATE TABLE IF NOT EXISTS vehicle_state (
  vehicle TEXT PRIMARY KEY, status TEXT, status_t REAL, health TEXT, health_t REAL);
CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, role TEXT NOT NULL, salt BLOB NOT NULL, hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS audit (t REAL NOT NULL, username TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_t ON audit (t);
CREATE TABLE IF NOT EXISTS thumbnails (
  vehicle TEXT NOT NULL, requester TEXT NOT NULL, id TEXT NOT NULL, n INTEGER NOT NULL, t REAL NOT NULL,
  payload BLOB NOT NULL, PRIMARY KEY (vehicle, requester, id, n));
"""

RECORD_INSERT = insert_sql("records", RECORD_COLUMNS)
DET_INSERT = insert_sql("detections", DET_COLUMNS)


class SqliteStore(Store):
    """``path``: the database file (created with its folder)."""

    def __init__(self, path: str | Path) -> None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(p, timeout=30.0, isolation_level="DEFERRED", check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a commit survives a killed process
        self.conn.executescript(SCHEMA)
        self.conn.commit()

    def _write_rows(self, recs: list[RecordRow], dets: list[DetRow]) -> None:
        if not self.conn.in_transaction:  # (vehicle states may have begun it)
            self.conn.execute("BEGIN IMMEDIATE")
        self.conn.executemany(RECORD_INSERT, recs)
        self.conn.executemany(DET_INSERT, dets)

    def _bbox_clause(self) -> str:
        return "lon >= ? AND lat >= ? AND lon <= ? AND lat <= ?"
