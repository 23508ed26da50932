"""Decoded wire records to table rows, and the row types the store gives back."""

from __future__ import annotations

import time
from dataclasses import dataclass

from edge.uplink.codec import Record

# records: one row per wire record (gaps and vehicles' last positions are read from here)
RecordRow = tuple[str, int, int, float, str, float | None, float | None, float | None, bool, float]
# detections: the unique key is (vehicle, boot, seq, idx); idx = position of the detection within its record
DetRow = tuple[
    str, int, int, int, float, str, int, str, int, float, int, float | None, float | None, float | None, float | None
]

RECORD_COLUMNS = ("vehicle", "boot", "seq", "t", "camera", "lat", "lon", "alt", "historical", "received")
DET_COLUMNS = (
    "vehicle",
    "boot",
    "seq",
    "idx",
    "t",
    "camera",
    "class_id",
    "class",
    "kind",
    "confidence",
    "track",
    "lat",
    "lon",
    "alt",
    "error_m",
)


def to_rows(
    batch: list[tuple[str, Record]], labels: tuple[str, ...], received: float | None = None
) -> tuple[list[RecordRow], list[DetRow]]:
    """Rows for ``batch`` of (vehicle, record); times are POSIX seconds UTC."""
    now = time.time() if received is None else received
    recs: list[RecordRow] = []
    dets: list[DetRow] = []
    for vehicle, r in batch:
        p = r.pose
        recs.append(
            (
                vehicle,
                r.boot,
                r.seq,
                r.t_utc,
                r.camera,
                p.lat if p else None,
                p.lon if p else None,
                p.alt if p else None,
                r.historical,
                now,
            )
        )
        for i, d in enumerate(r.detections):
            name = labels[d.class_id] if d.class_id < len(labels) else str(d.class_id)
            dets.append(
                (
                    vehicle,
                    r.boot,
                    r.seq,
                    i,
                    r.t_utc,
                    r.camera,
                    d.class_id,
                    name,
                    int(d.kind),
                    d.confidence,
                    d.track_id,
                    d.lat,
                    d.lon,
                    d.alt,
                    d.error_m,
                )
            )
    return recs, dets


@dataclass(frozen=True, slots=True)
class Detection:
    """One stored detection. t: POSIX s; lat/lon deg (None without a fix); error_m: 90 % radius (m)."""

    vehicle: str
    boot: int
    seq: int
    idx: int
    t: float
    camera: str
    class_id: int
    class_name: str
    kind: int
    confidence: float
    track: int
    lat: float | None
    lon: float | None
    alt: float | None
    error_m: float | None


@dataclass(frozen=True, slots=True)
class Gap:
    """Sequence numbers first..last (inclusive) of one vehicle's boot that never arrived."""

    vehicle: str
    boot: int
    first: int
    last: int
