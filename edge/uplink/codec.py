"""The compact wire record for one frame's events (CBOR arrays, integers only); docs/uplink-schema.md.

Record v1 (a CBOR array)::

    [head, boot, seq, t_ms, pose, det, det, ...]       camera "cam0"
    [head, boot, seq, t_ms, pose, camera, det, ...]    other cameras (flag bit 1 set)
    head = version | flags << 4   (version 1; flag bit 0: historical, bit 1: camera present)
    pose = [lat_e7, lon_e7, alt_dm, yaw_cd, pitch_cd, roll_cd] of the camera in NED, or null (the orientation
           the fixes were made with: ``edge.geo.orientation.camera_attitude`` of the geolocator's pose)
    det  = [class_kind, conf_pct, track, bbox]     (no fix) or
           [class_kind, conf_pct, track, bbox, dlat_e6, dlon_e6, alt_dm, err_m]
    class_kind = class_id * 4 + kind;  bbox = 8 bytes, x1 y1 x2 y2 as big-endian uint16 fractions of 65535
    dlat/dlon: target minus sensor position (or minus 0, 0 without a pose) in 1e-6 degrees

Record v2 (a frame that names its sensor description; what the daemon sends)::

    [head, boot, seq, t_ms, pose, (camera,) sensor, det, det, ...]     sensor = 16-bit key of a description
    [head, boot, seq, t_ms, null, (camera,) sensor, {model, labels, frame}]   flag bit 2: the description itself

The description (the model's file name, its class names, the frame size in px) is sent once per boot and sensor,
in the sequence like any record, before the first record that names it; receivers name classes and turn bboxes into
pixels from it.

Record v3 (a frame with a detection whose track is joined to another camera's: cross-camera association)::

    [head, boot, seq, t_ms, pose, (camera,) sensor or null, det, det, ...]
    det = a v1 det, followed by object (the shared object id) when its track is in one: 4, 5, 8 or 9 items

A frame none of whose tracks is joined stays v2 (v1 without a sensor), so one camera's records do not grow. Decoders accept every version listed in ``DECODERS``; a new layout gets a new version, old ones stay.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, replace

import cbor2

from edge.geo.orientation import camera_attitude
from edge.types import EventKind, FrameEvents, SensorInfo

VERSION = 1
VERSION_SENSOR = 2
VERSION_OBJECTS = 3
FLAG_HISTORICAL = 1
FLAG_CAMERA = 2
FLAG_DESCRIPTION = 4
DEFAULT_CAMERA = "cam0"
_BOX = struct.Struct(">4H")
_KINDS = {k.value: k for k in EventKind}


class CodecError(ValueError):
    """A payload that is not a record this decoder knows."""


@dataclass(frozen=True, slots=True)
class SensorPose:
    """Where the camera was and where it looked: lat/lon (deg), alt (m AMSL), yaw/pitch/roll (deg) in NED."""

    lat: float
    lon: float
    alt: float
    yaw: float
    pitch: float
    roll: float


@dataclass(frozen=True, slots=True)
class WireDetection:
    """One decoded detection; position fields None without a fix. bbox: normalised x1, y1, x2, y2."""

    class_id: int
    kind: EventKind
    confidence: float
    track_id: int
    bbox: tuple[float, float, float, float]
    lat: float | None = None
    lon: float | None = None
    alt: float | None = None
    error_m: float | None = None
    object_id: int | None = None  # shared by the tracks of several cameras that see this object


@dataclass(frozen=True, slots=True)
class Record:
    """One decoded frame record. t_utc: POSIX s (ms resolution)."""

    version: int
    historical: bool
    boot: int
    seq: int
    t_utc: float
    camera: str
    pose: SensorPose | None
    detections: tuple[WireDetection, ...]
    sensor: int | None = None  # key of the sensor description the record names (v2)
    description: SensorInfo | None = None  # set on a description record (v2, flag bit 2; no detections)


def _cdeg(rad: float) -> int:
    return round(math.degrees(rad) * 100)


def _clip16(x: float) -> int:
    return min(65535, max(0, round(x * 65535)))


def encode(batch: FrameEvents, boot: int, seq: int, historical: bool = False) -> bytes:
    """Encode one frame's events as a v1 record. boot: 0..2^32-1; seq: >= 0 (per boot)."""
    if not 0 <= boot < 2**32 or seq < 0:
        raise ValueError(f"boot must be uint32 and seq >= 0, got {boot}, {seq}")
    ref_lat = ref_lon = 0.0
    pose: list[int] | None = None
    if batch.pose is not None:
        p = batch.pose
        yaw, pitch, roll = camera_attitude(p)
        pose = [
            round(p.lat * 1e7),
            round(p.lon * 1e7),
            round(p.alt * 10),
            _cdeg(yaw) % 36000,
            _cdeg(pitch),
            _cdeg(roll),
        ]
        ref_lat, ref_lon = pose[0] / 1e7, pose[1] / 1e7
    dets: list[list[object]] = []
    for e in batch.events:
        box = _BOX.pack(*(_clip16(v) for v in e.bbox_norm))
        det: list[object] = [e.class_id * 4 + int(e.kind), min(100, max(0, round(e.confidence * 100))), e.track_id, box]
        if e.lat is not None and e.lon is not None:
            det += [
                round((e.lat - ref_lat) * 1e6),
                round((e.lon - ref_lon) * 1e6),
                None if e.alt is None else round(e.alt * 10),
                None if e.error_m is None else math.ceil(e.error_m - 1e-9),
            ]
        if e.object_id is not None:
            det.append(e.object_id)
        dets.append(det)
    flags = (FLAG_HISTORICAL if historical else 0) | (FLAG_CAMERA if batch.camera_id != DEFAULT_CAMERA else 0)
    objects = any(e.object_id is not None for e in batch.events)
    version = VERSION_OBJECTS if objects else VERSION if batch.sensor is None else VERSION_SENSOR
    rec: list[object] = [version | flags << 4, boot, seq, round(batch.t_utc * 1000), pose]
    if flags & FLAG_CAMERA:
        rec.append(batch.camera_id)
    if objects:
        rec.append(None if batch.sensor is None else batch.sensor.key)
    elif batch.sensor is not None:
        rec.append(batch.sensor.key)
    return cbor2.dumps(rec + dets)


def encode_description(info: SensorInfo, boot: int, seq: int, t_utc: float) -> bytes:
    """The v2 description record of ``info`` (its place ``seq`` in the boot's sequence, sent at ``t_utc``)."""
    flags = FLAG_DESCRIPTION | (FLAG_CAMERA if info.camera_id != DEFAULT_CAMERA else 0)
    rec: list[object] = [VERSION_SENSOR | flags << 4, boot, seq, round(t_utc * 1000), None]
    if flags & FLAG_CAMERA:
        rec.append(info.camera_id)
    body = {"model": info.model, "labels": list(info.labels), "frame": list(info.frame_wh)}
    return cbor2.dumps([*rec, info.key, body])


def mark_historical(payload: bytes) -> bytes:
    """The same record with the historical flag set; patched in place when the head is one byte (the usual case)."""
    # A CBOR array header is 1 byte below 24 items (0x80..0x97), else 0x98 + 1 length byte (0x99: 2 bytes).
    start = {0x98: 2, 0x99: 3}.get(payload[0], 1) if payload else 0
    if 0 < start < len(payload) and payload[0] & 0xE0 == 0x80 and (payload[start] | FLAG_HISTORICAL << 4) < 24:
        return payload[:start] + bytes([payload[start] | FLAG_HISTORICAL << 4]) + payload[start + 1 :]
    decode(payload)  # raises CodecError for anything that is not a record
    rec = cbor2.loads(payload)
    rec[0] |= FLAG_HISTORICAL << 4
    return cbor2.dumps(rec)


def _decode_v2(rec: list[object], flags: int) -> Record:
    n_head = 6 if flags & FLAG_CAMERA else 5
    sensor = rec[n_head] if len(rec) > n_head else None
    if not isinstance(sensor, int) or not 0 <= sensor < 2**16:
        raise CodecError("v2 record: no 16-bit sensor key after the head")
    items = rec[n_head + 1 :] if not flags & FLAG_DESCRIPTION else []
    base = _decode_v1([*rec[:n_head], *items], flags & ~FLAG_DESCRIPTION)
    if not flags & FLAG_DESCRIPTION:
        return replace(base, version=2, sensor=sensor)
    body = rec[n_head + 1] if len(rec) == n_head + 2 else None
    if not isinstance(body, dict):
        raise CodecError("v2 description: expected one map after the sensor key")
    labels, frame, model = body.get("labels"), body.get("frame"), body.get("model", "")
    if not isinstance(labels, list) or not all(isinstance(n, str) for n in labels) or not isinstance(model, str):
        raise CodecError("v2 description: labels must be a list of text, model text")
    if not isinstance(frame, list) or len(frame) != 2 or not all(isinstance(v, int) and v >= 0 for v in frame):
        raise CodecError("v2 description: frame must be [width, height] in px")
    info = SensorInfo(base.camera, model, tuple(labels), (frame[0], frame[1]))
    if info.key != sensor:
        raise CodecError(f"v2 description: key {sensor} does not match its content ({info.key})")
    return replace(base, version=2, sensor=sensor, description=info)


def _decode_v3(rec: list[object], flags: int) -> Record:
    n_head = 6 if flags & FLAG_CAMERA else 5
    sensor = rec[n_head] if len(rec) > n_head else -1
    if flags & FLAG_DESCRIPTION or not (sensor is None or (isinstance(sensor, int) and 0 <= sensor < 2**16)):
        raise CodecError("v3 record: no 16-bit sensor key (or null) after the head")
    base = _decode_v1([*rec[:n_head], *rec[n_head + 1 :]], flags, objects=True)
    return replace(base, version=3, sensor=sensor)


def _decode_v1(rec: list[object], flags: int, objects: bool = False) -> Record:
    n_head = 6 if flags & FLAG_CAMERA else 5
    if len(rec) < n_head:
        raise CodecError(f"v1 record has {len(rec)} fields, expected at least {n_head}")
    boot, seq, t_ms, pose_raw = rec[1:5]
    camera = rec[5] if flags & FLAG_CAMERA else DEFAULT_CAMERA
    dets_raw = rec[n_head:]
    if (
        not isinstance(boot, int)
        or not isinstance(seq, int)
        or not isinstance(t_ms, int)
        or not isinstance(camera, str)
    ):
        raise CodecError("v1 record: boot, seq and time must be integers, camera text")
    pose = None
    ref_lat = ref_lon = 0.0
    if pose_raw is not None:
        if not isinstance(pose_raw, list) or len(pose_raw) != 6:
            raise CodecError("v1 record: pose must be an array of 6 integers or null")
        lat, lon, alt, yaw, pitch, roll = pose_raw
        pose = SensorPose(lat / 1e7, lon / 1e7, alt / 10, yaw / 100, pitch / 100, roll / 100)
        ref_lat, ref_lon = lat / 1e7, lon / 1e7
    dets = []
    sizes = (4, 5, 8, 9) if objects else (4, 8)
    for d in dets_raw:  # the hot loop of the centre's ingest: no generators, dicts or enum calls per detection
        if not isinstance(d, list) or len(d) not in sizes or not isinstance(d[3], bytes) or len(d[3]) != 8:
            raise CodecError(f"v1 record: bad detection {d!r}")
        object_id = d.pop() if len(d) in (5, 9) else None
        if object_id is not None and (not isinstance(object_id, int) or object_id < 0):
            raise CodecError(f"v1 record: bad object id {object_id!r}")
        ck, conf, track = d[0], d[1], d[2]
        kind = _KINDS.get(ck % 4)
        if kind is None:
            kind = EventKind(ck % 4)  # raises ValueError: not a kind
        x1, y1, x2, y2 = _BOX.unpack(d[3])
        box = (x1 / 65535, y1 / 65535, x2 / 65535, y2 / 65535)
        if len(d) == 8:
            alt, err = d[6], d[7]
            lat, lon = round(ref_lat + d[4] / 1e6, 7), round(ref_lon + d[5] / 1e6, 7)
            alt_m = None if alt is None else alt / 10
            dets.append(
                WireDetection(
                    ck // 4,
                    kind,
                    conf / 100,
                    track,
                    box,
                    lat,
                    lon,
                    alt_m,
                    None if err is None else float(err),
                    object_id,
                )
            )
        else:
            dets.append(WireDetection(ck // 4, kind, conf / 100, track, box, object_id=object_id))
    return Record(1, bool(flags & FLAG_HISTORICAL), boot, seq, t_ms / 1000, camera, pose, tuple(dets))


DECODERS = {1: _decode_v1, 2: _decode_v2, 3: _decode_v3}


def decode(payload: bytes) -> Record:
    """Decode any known version; raise CodecError (never anything else) for a payload we cannot read."""
    try:
        rec = cbor2.loads(payload)
    except Exception as err:  # cbor2 raises several types for garbage
        raise CodecError(f"not CBOR: {err}") from None
    if not isinstance(rec, list) or not rec or not isinstance(rec[0], int):
        raise CodecError("not a record: expected a CBOR array starting with the version")
    version, flags = rec[0] & 0x0F, rec[0] >> 4
    decoder = DECODERS.get(version)
    if decoder is None:
        raise CodecError(f"record version {version} is newer than this decoder (knows {sorted(DECODERS)})")
    try:
        return decoder(rec, flags)
    except CodecError:
        raise
    except (TypeError, ValueError, IndexError) as err:
        raise CodecError(f"bad v{version} record: {err}") from None
