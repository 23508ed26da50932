"""What the receiver prints: flat JSON objects per detection, GeoJSON FeatureCollections, Cursor-on-Target XML."""

from __future__ import annotations

import bisect
import json
from datetime import datetime, timezone
from xml.sax.saxutils import escape, quoteattr

from edge.types import SensorInfo
from edge.uplink.codec import Record

DEFAULT_LABELS = ("person", "vehicle", "boat")
EVENT_NAMES = ("new", "update", "lost")
# CoT types (MIL-STD-2525 via CoT): unknown ground unit / ground vehicle / surface vessel.
COT_TYPES = {"person": "a-u-G-U", "vehicle": "a-u-G-E-V", "boat": "a-u-S"}
COT_STALE_S = 60.0


class SeqSet:
    """Which sequence numbers of one boot were seen, as sorted disjoint inclusive intervals."""

    def __init__(self) -> None:
        self.lo: list[int] = []
        self.hi: list[int] = []

    def add(self, seq: int) -> bool:
        """Record ``seq``; False if it was already there (a duplicate)."""
        i = bisect.bisect_right(self.lo, seq) - 1
        if i >= 0 and seq <= self.hi[i]:
            return False
        joins_left = i >= 0 and self.hi[i] == seq - 1
        joins_right = i + 1 < len(self.lo) and self.lo[i + 1] == seq + 1
        if joins_left and joins_right:
            self.hi[i] = self.hi[i + 1]
            del self.lo[i + 1], self.hi[i + 1]
        elif joins_left:
            self.hi[i] = seq
        elif joins_right:
            self.lo[i + 1] = seq
        else:
            self.lo.insert(i + 1, seq)
            self.hi.insert(i + 1, seq)
        return True

    def missing(self) -> tuple[int, int]:
        """(sequence numbers missing between 0 and the highest seen, number of gaps)."""
        if not self.lo:
            return 0, 0
        gaps = [
            (lo - prev_hi - 1) for prev_hi, lo in zip([-1, *self.hi[:-1]], self.lo, strict=True) if lo > prev_hi + 1
        ]
        return sum(gaps), len(gaps)


def iso_time(t_utc: float) -> str:
    return datetime.fromtimestamp(t_utc, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def detection_objects(
    vehicle: str, rec: Record, labels: tuple[str, ...] = DEFAULT_LABELS, described: SensorInfo | None = None
) -> list[dict[str, object]]:
    """One flat dict per detection of ``rec`` (the JSON the receiver prints); class names and pixel boxes from the
    vehicle's ``described`` sensor when its description came, else class names from ``labels``."""
    if described is not None:
        labels = described.labels
    sensor = None
    if rec.pose is not None:
        p = rec.pose
        sensor = {"lat": p.lat, "lon": p.lon, "alt": p.alt, "yaw": p.yaw, "pitch": p.pitch, "roll": p.roll}
    out: list[dict[str, object]] = []
    for d in rec.detections:
        out.append(
            {
                "vehicle": vehicle,
                "boot": rec.boot,
                "seq": rec.seq,
                "time": iso_time(rec.t_utc),
                "t_utc": rec.t_utc,
                "camera": rec.camera,
                "class": labels[d.class_id] if d.class_id < len(labels) else str(d.class_id),
                "class_id": d.class_id,
                "confidence": d.confidence,
                "track": d.track_id,
                **({"object": d.object_id} if d.object_id is not None else {}),
                "event": EVENT_NAMES[d.kind],
                "lat": d.lat,
                "lon": d.lon,
                "alt": d.alt,
                "error_m": d.error_m,
                "bbox": [round(v, 5) for v in d.bbox],
                **({"bbox_px": _pixels(d.bbox, described.frame_wh), "model": described.model} if described else {}),
                "historical": rec.historical,
                "sensor": sensor,
            }
        )
    return out


def _pixels(bbox: tuple[float, float, float, float], frame_wh: tuple[int, int]) -> list[int]:
    w, h = frame_wh
    return [round(bbox[0] * w), round(bbox[1] * h), round(bbox[2] * w), round(bbox[3] * h)]


def to_json(objs: list[dict[str, object]]) -> list[str]:
    return [json.dumps(o, separators=(",", ":")) for o in objs]


def to_geojson(objs: list[dict[str, object]]) -> list[str]:
    """One FeatureCollection (one line) per record; detections without a fix have a null geometry."""
    if not objs:
        return []
    feats = []
    for o in objs:
        geom = None
        if o["lat"] is not None:
            coords = [o["lon"], o["lat"]] + ([o["alt"]] if o["alt"] is not None else [])
            geom = {"type": "Point", "coordinates": coords}
        props = {k: v for k, v in o.items() if k not in ("lat", "lon", "alt")}
        feats.append(
            {
                "type": "Feature",
                "id": f"{o['vehicle']}-{o['boot']}-{o['seq']}-{o['track']}",
                "geometry": geom,
                "properties": props,
            }
        )
    return [json.dumps({"type": "FeatureCollection", "features": feats}, separators=(",", ":"))]


def to_cot(objs: list[dict[str, object]]) -> list[str]:
    """One CoT 2.0 <event> per located detection; uid per track (per object when cameras share one: one marker
    for the object the cameras see), so TAK moves the marker; lost tracks go stale now (not a shared object's)."""
    lines = []
    for o in objs:
        if o["lat"] is None:
            continue
        t = float(o["t_utc"])  # type: ignore[arg-type]
        shared = o.get("object") is not None
        stale = t if o["event"] == "lost" and not shared else t + COT_STALE_S
        uid = f"edge-{o['vehicle']}-{o['boot']}-" + (
            f"o{o['object']}" if shared else f"{o['track']}" if o["camera"] == "cam0" else f"{o['camera']}-{o['track']}"
        )
        remarks = (
            f"{o['class']} {round(float(o['confidence']) * 100)}% track {o['track']} ({o['event']}) by {o['vehicle']}"  # type: ignore[arg-type]
        )
        ce = o["error_m"] if o["error_m"] is not None else 9999999.0
        hae = o["alt"] if o["alt"] is not None else 9999999.0
        lines.append(
            f'<event version="2.0" uid={quoteattr(uid)} type={quoteattr(COT_TYPES.get(str(o["class"]), "a-u-G"))} '
            f'how="m-p" time="{iso_time(t)}" start="{iso_time(t)}" stale="{iso_time(stale)}">'
            f'<point lat="{o["lat"]}" lon="{o["lon"]}" hae="{hae}" ce="{ce}" le="9999999.0"/>'
            f"<detail><remarks>{escape(remarks)}</remarks></detail></event>"
        )
    return lines


FORMATTERS = {"json": to_json, "geojson": to_geojson, "cot": to_cot}
