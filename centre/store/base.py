"""What both backends share: the schema's meaning, the queries, gaps, retention, users and the audit log.

Tables (same names and columns in SQLite and PostgreSQL):

* ``records``    one row per wire record, primary key (vehicle, boot, seq): gaps and vehicles' positions.
* ``detections`` one row per detection, UNIQUE (vehicle, boot, seq, idx); t POSIX s UTC; lat/lon WGS-84 deg;
  PostGIS adds ``geom geometry(Point, 4326)`` with a GiST index, SQLite an index on (lat, lon).
* ``sightings``  fused objects (centre.fusion), one row per sighting, updated in place.
* ``vehicle_state`` per vehicle: the last status (online/offline, retained on the broker) and health snapshot.
* ``users``      name, role (operator | analyst | admin), scrypt salt and hash.
* ``audit``      t, user, action, detail: every query, export and acknowledgement; the vehicles' own audit
  records (who asked them for imagery, what they sent) as user ``<vehicle>:<requester>``.
* ``thumbnails`` the answers (n = -1) and image chunks (n >= 0) vehicles sent on request, as sent (CBOR maps,
  edge.thumbs.wire), key (vehicle, requester, id, n); put together when read.

A batch is written in one transaction with ``INSERT ... ON CONFLICT DO NOTHING``, so a redelivered record is
ignored and a batch is stored whole or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from centre.store.rows import DET_COLUMNS, Detection, DetRow, Gap, RecordRow

ROLES = ("operator", "analyst", "admin")
SIGHTING_COLUMNS = ("id", "t_first", "t_last", "class", "lat", "lon", "error_m", "n_sensors", "members", "acked_by")

GAPS_SQL = """
SELECT vehicle, boot, seq + 1, next_seq - 1 FROM (
  SELECT vehicle, boot, seq, LEAD(seq) OVER (PARTITION BY vehicle, boot ORDER BY seq) AS next_seq FROM records
  WHERE ({where})
) AS s WHERE next_seq > seq + 1
UNION ALL
SELECT vehicle, boot, 0, MIN(seq) - 1 FROM records WHERE ({where}) GROUP BY vehicle, boot HAVING MIN(seq) > 0
ORDER BY 1, 2, 3
"""


class Store:
    """Base of both backends. ``ph`` is the driver's placeholder; subclasses give ``conn`` and the dialect parts."""

    ph = "?"
    conn: Any

    # --- dialect parts -------------------------------------------------------------------------------------------
    def _write_rows(self, recs: list[RecordRow], dets: list[DetRow]) -> None:
        raise NotImplementedError

    def _bbox_clause(self) -> str:
        """A WHERE fragment for west, south, east, north (4 placeholders)."""
        raise NotImplementedError

    # --- writing -------------------------------------------------------------------------------------------------
    def write(self, recs: list[RecordRow], dets: list[DetRow]) -> None:
        """Store one batch in one transaction; rows already there are skipped. Returns after the commit."""
        try:
            if recs or dets:
                self._write_rows(recs, dets)
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise

    def _q(self, sql: str) -> str:
        return sql.replace("?", self.ph)

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self.conn.cursor()
        cur.execute(self._q(sql), args)
        rows = list(cur.fetchall())
        self.conn.commit()
        return rows

    def _exec(self, sql: str, args: Sequence[Any] = ()) -> int:
        cur = self.conn.cursor()
        cur.execute(self._q(sql), args)
        n = cur.rowcount
        self.conn.commit()
        return int(n)

    # --- reading -------------------------------------------------------------------------------------------------
    def detections(
        self,
        t0: float,
        t1: float,
        bbox: tuple[float, float, float, float] | None = None,
        classes: Iterable[str] = (),
        vehicles: Iterable[str] = (),
        cameras: Iterable[str] = (),
        limit: int = 100_000,
    ) -> list[Detection]:
        """Detections with t0 <= t < t1 (POSIX s), inside bbox (west, south, east, north; deg), oldest first."""
        where = ["t >= ?", "t < ?"]
        args: list[Any] = [t0, t1]
        if bbox is not None:
            where.append(self._bbox_clause())
            args += list(bbox)
        for col, values in (("class", list(classes)), ("vehicle", list(vehicles)), ("camera", list(cameras))):
            if values:
                where.append(f"{col} IN ({', '.join('?' * len(values))})")
                args += values
        cols = ", ".join(DET_COLUMNS)
        sql = f"SELECT {cols} FROM detections WHERE {' AND '.join(where)} ORDER BY t LIMIT {int(limit)}"
        return [Detection(*r) for r in self._rows(sql, args)]

    def count(self, table: str = "detections") -> int:
        if table not in ("detections", "records", "sightings", "audit"):
            raise ValueError(table)
        return int(self._rows(f"SELECT COUNT(*) FROM {table}")[0][0])

    def gaps(self, vehicle: str | None = None) -> list[Gap]:
        """Missing sequence numbers per (vehicle, boot), between 0 and the highest received."""
        where, args = ("vehicle = ?", [vehicle, vehicle]) if vehicle else ("1 = 1", [])
        return [Gap(*r) for r in self._rows(GAPS_SQL.format(where=where), args)]

    def vehicles(self) -> list[dict[str, Any]]:
        """Each vehicle's newest record (time, camera, position of the camera) and its status (online/offline)."""
        sql = (
            "SELECT r.vehicle, r.t, r.camera, r.lat, r.lon, r.alt, r.boot FROM records r JOIN ("
            "SELECT vehicle, MAX(t) AS t FROM records GROUP BY vehicle) m ON r.vehicle = m.vehicle AND r.t = m.t"
        )
        out: dict[str, dict[str, Any]] = {}
        for v, t, cam, lat, lon, alt, boot in self._rows(sql):
            out[v] = {"vehicle": v, "t": t, "camera": cam, "lat": lat, "lon": lon, "alt": alt, "boot": boot}
        for v, st in self.states().items():
            base = out.setdefault(v, {"vehicle": v, "t": None, "camera": None, "lat": None, "lon": None, "alt": None,
                                      "boot": None})  # fmt: skip
            base["status"] = st["status"]
            base["health_t"] = st["health_t"]
        return [out[k] for k in sorted(out)]

    def put_state(self, vehicle: str, t: float, status: str | None = None, health: str | None = None) -> None:
        """Remember a vehicle's status (text) or health (JSON text) received at t (POSIX s); committed by ``write``
        or here when called alone."""
        col = "status" if status is not None else "health"
        value = status if status is not None else health
        cur = self.conn.cursor()
        cur.execute(self._q("INSERT INTO vehicle_state (vehicle) VALUES (?) ON CONFLICT DO NOTHING"), [vehicle])
        cur.execute(self._q(f"UPDATE vehicle_state SET {col} = ?, {col}_t = ? WHERE vehicle = ?"), [value, t, vehicle])

    def states(self) -> dict[str, dict[str, Any]]:
        """vehicle -> {status, status_t, health (dict or None), health_t}."""
        out = {}
        for v, st, st_t, h, h_t in self._rows("SELECT vehicle, status, status_t, health, health_t FROM vehicle_state"):
            out[v] = {"status": st, "status_t": st_t, "health": json.loads(h) if h else None, "health_t": h_t}
        return out

    # --- sightings -----------------------------------------------------------------------------------------------
    def save_sightings(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert or update sightings; rows in SIGHTING_COLUMNS order without acked_by."""
        if not rows:
            return
        cur = self.conn.cursor()
        cur.executemany(self._q(UPSERT_SIGHTING), rows)
        self.conn.commit()

    def sightings(self, t0: float, t1: float, open_only: bool = False) -> list[dict[str, Any]]:
        where = "t_last >= ? AND t_first < ?" + (" AND acked_by IS NULL" if open_only else "")
        rows = self._rows(f"SELECT {', '.join(SIGHTING_COLUMNS)} FROM sightings WHERE {where} ORDER BY id", [t0, t1])
        out = []
        for r in rows:
            d = dict(zip(SIGHTING_COLUMNS, r, strict=True))
            d["members"] = json.loads(d["members"])
            out.append(d)
        return out

    def delete_sightings(self, ids: Iterable[str]) -> int:
        """Delete sightings by id (ones fusion merged into another)."""
        ids = list(ids)
        return self._exec(f"DELETE FROM sightings WHERE id IN ({', '.join('?' * len(ids))})", ids) if ids else 0

    def ack_sighting(self, sighting_id: str, user: str) -> bool:
        return (
            self._exec("UPDATE sightings SET acked_by = ? WHERE id = ? AND acked_by IS NULL", [user, sighting_id]) > 0
        )

    # --- retention, users, audit ---------------------------------------------------------------------------------
    def delete_before(
        self,
        before_t: float,
        classes: Iterable[str] = (),
        except_classes: Iterable[str] = (),
        table: str = "detections",
    ) -> int:
        """Delete detections (or sightings, by their last time) older than before_t (POSIX s) of these classes (or
        of every class not excepted)."""
        if table not in ("detections", "sightings"):
            raise ValueError(table)
        inc, exc = list(classes), list(except_classes)
        where = "t < ?" if table == "detections" else "t_last < ?"
        args: list[Any] = [before_t]
        if inc:
            where += f" AND class IN ({', '.join('?' * len(inc))})"
            args += inc
        if exc:
            where += f" AND class NOT IN ({', '.join('?' * len(exc))})"
            args += exc
        return self._exec(f"DELETE FROM {table} WHERE {where}", args)

    def delete_old_records(self, before_t: float) -> int:
        """Records (no personal data: the vehicle's own pose) older than before_t, once their detections are gone."""
        return self._exec(
            "DELETE FROM records WHERE t < ? AND NOT EXISTS (SELECT 1 FROM detections d WHERE d.vehicle = "
            "records.vehicle AND d.boot = records.boot AND d.seq = records.seq)",
            [before_t],
        )

    def put_user(self, name: str, role: str, salt: bytes, digest: bytes) -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        self._exec("DELETE FROM users WHERE name = ?", [name])
        self._exec("INSERT INTO users (name, role, salt, hash) VALUES (?, ?, ?, ?)", [name, role, salt, digest])

    def get_user(self, name: str) -> tuple[str, bytes, bytes] | None:
        rows = self._rows("SELECT role, salt, hash FROM users WHERE name = ?", [name])
        return (rows[0][0], bytes(rows[0][1]), bytes(rows[0][2])) if rows else None

    def audit(self, t: float, user: str, action: str, detail: dict[str, Any]) -> None:
        self._exec(
            "INSERT INTO audit (t, username, action, detail) VALUES (?, ?, ?, ?)",
            [t, user, action, json.dumps(detail, sort_keys=True)],
        )

    def audit_log(self, t0: float = 0.0) -> list[tuple[float, str, str, str]]:
        return [
            (float(t), str(u), str(a), str(d))
            for t, u, a, d in self._rows("SELECT t, username, action, detail FROM audit WHERE t >= ? ORDER BY t", [t0])
        ]

    def delete_audit_before(self, before_t: float) -> int:
        return self._exec("DELETE FROM audit WHERE t < ?", [before_t])

    # --- thumbnails and the vehicles' audit records (committed by ``write`` with their batch) ---------------------
    def put_vehicle_audit(self, t: float, user: str, action: str, detail: dict[str, Any]) -> None:
        cur = self.conn.cursor()
        cur.execute(
            self._q("INSERT INTO audit (t, username, action, detail) VALUES (?, ?, ?, ?)"),
            [t, user, action, json.dumps(detail, sort_keys=True, default=str)],
        )

    def put_thumbnail_part(self, vehicle: str, requester: str, req_id: str, n: int, t: float, payload: bytes) -> None:
        cur = self.conn.cursor()
        cur.execute(
            self._q(
                "INSERT INTO thumbnails (vehicle, requester, id, n, t, payload) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING"
            ),
            [vehicle, requester, req_id, n, t, payload],
        )

    def thumbnail_parts(
        self, vehicle: str | None = None, t0: float = 0.0, answers_only: bool = False
    ) -> list[tuple[str, bytes]]:
        """(vehicle, payload) of the thumbnail messages received since ``t0`` (of ``vehicle``), in order."""
        where = "t >= ?"
        args: list[Any] = [t0]
        if vehicle:
            where, args = where + " AND vehicle = ?", [*args, vehicle]
        if answers_only:
            where += " AND n = -1"
        rows = self._rows(f"SELECT vehicle, payload FROM thumbnails WHERE {where} ORDER BY t, n", args)
        return [(str(v), bytes(p)) for v, p in rows]

    def delete_thumbnails_before(self, before_t: float) -> int:
        return self._exec("DELETE FROM thumbnails WHERE t < ?", [before_t])

    def close(self) -> None:
        self.conn.close()


def insert_sql(table: str, columns: Sequence[str], source: str = "") -> str:
    """``INSERT ... ON CONFLICT DO NOTHING`` of ``columns``: the rows of table ``source`` (same columns), or one row
    of ``?`` placeholders."""
    cols = ", ".join(columns)
    rows = f"SELECT {cols} FROM {source}" if source else f"VALUES ({', '.join('?' * len(columns))})"
    return f"INSERT INTO {table} ({cols}) {rows} ON CONFLICT DO NOTHING"


_SET = ", ".join(f"{c} = excluded.{c}" for c in SIGHTING_COLUMNS[1:-1])
UPSERT_SIGHTING = (
    f"INSERT INTO sightings ({', '.join(SIGHTING_COLUMNS[:-1])}) VALUES ({', '.join('?' * (len(SIGHTING_COLUMNS) - 1))})"
    f" ON CONFLICT (id) DO UPDATE SET {_SET}"
)
