"""Exports of a time window for reports: CSV and GeoPackage (OGC 12-128r18, written with sqlite3).

The GeoPackage holds one point layer ``detections`` (EPSG:4326) with the same columns as the CSV; GIS tools
(QGIS, ogr2ogr) open it as is.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import struct
import time
from pathlib import Path

from centre.store.rows import Detection

FIELDS = ("vehicle", "boot", "seq", "idx", "t", "time_utc", "camera", "class", "confidence", "track", "lat", "lon",
          "alt", "error_m")  # fmt: skip


def _values(d: Detection) -> tuple[object, ...]:
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(d.t)) + f".{int(d.t * 1000) % 1000:03d}Z"
    return (d.vehicle, d.boot, d.seq, d.idx, d.t, iso, d.camera, d.class_name, d.confidence, d.track, d.lat, d.lon,
            d.alt, d.error_m)  # fmt: skip


def to_csv(dets: list[Detection]) -> str:
    """A header line and one line per detection."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(FIELDS)
    for d in dets:
        w.writerow(_values(d))
    return buf.getvalue()


def gpkg_point(lon: float, lat: float, srs_id: int = 4326) -> bytes:
    """A GeoPackage geometry blob: header 'GP', version 0, flags (little endian, no envelope), srs id, WKB point."""
    return b"GP" + bytes([0, 0x01]) + struct.pack("<i", srs_id) + struct.pack("<BIdd", 1, 1, lon, lat)


def to_gpkg(dets: list[Detection], path: Path) -> None:
    """Write ``path`` (replaced) with a ``detections`` layer; detections without a position are left out."""
    path.unlink(missing_ok=True)
    located = [d for d in dets if d.lat is not None and d.lon is not None]
    con = sqlite3.connect(path)
    con.executescript(
        f"""
        PRAGMA application_id = {0x47504B47};
        PRAGMA user_version = 10300;
        CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY,
          organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL,
          description TEXT);
        CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL,
          identifier TEXT UNIQUE, description TEXT DEFAULT '', last_change DATETIME NOT NULL
          DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE,
          srs_id INTEGER, CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
        CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
          geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
          CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name));
        CREATE TABLE detections (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom POINT, vehicle TEXT, boot INTEGER,
          seq INTEGER, idx INTEGER, t DOUBLE, time_utc TEXT, camera TEXT, class TEXT, confidence DOUBLE,
          track INTEGER, lat DOUBLE, lon DOUBLE, alt DOUBLE, error_m DOUBLE);
        """
    )
    wgs84 = (
        'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],PRIMEM["Greenwich",0],'
        'UNIT["degree",0.0174532925199433],AUTHORITY["EPSG","4326"]]'
    )
    con.executemany(
        "INSERT INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)",
        [
            ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", None),
            ("Undefined geographic SRS", 0, "NONE", 0, "undefined", None),
            ("WGS 84 geodetic", 4326, "EPSG", 4326, wgs84, None),
        ],
    )
    lons = [d.lon for d in located if d.lon is not None]
    lats = [d.lat for d in located if d.lat is not None]
    box = (min(lons), min(lats), max(lons), max(lats)) if located else (None, None, None, None)
    con.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, min_x, min_y, max_x, max_y, "
        "srs_id) VALUES ('detections', 'features', 'detections', 'edge-centre export', ?, ?, ?, ?, 4326)",
        box,
    )
    con.execute("INSERT INTO gpkg_geometry_columns VALUES ('detections', 'geom', 'POINT', 4326, 0, 0)")
    con.executemany(
        f"INSERT INTO detections (geom, {', '.join(FIELDS)}) VALUES (?{', ?' * len(FIELDS)})",
        [(gpkg_point(d.lon, d.lat), *_values(d)) for d in located if d.lon is not None and d.lat is not None],
    )
    con.commit()
    con.close()
