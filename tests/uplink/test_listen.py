"""The receiver's pure parts: sequence bookkeeping, dedup, and the three output formats."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from edge.types import EventKind, FrameEvents, GeoEvent, Pose
from edge.uplink.codec import encode, mark_historical
from edge.uplink.formats import SeqSet
from edge.uplink.listen import Receiver


@pytest.mark.parametrize(
    "seqs, missing",
    [
        ([], (0, 0)),
        ([0, 1, 2], (0, 0)),
        ([2], (2, 1)),  # 0 and 1 not seen yet
        ([0, 5, 3], (3, 2)),  # 1, 2 and 4
        ([0, 5, 3, 4, 1, 2], (0, 0)),
        ([10, 12, 11, 0], (9, 1)),
    ],
)
def test_seqset_missing(seqs: list[int], missing: tuple[int, int]) -> None:
    s = SeqSet()
    assert all(s.add(q) for q in seqs)
    assert s.missing() == missing


def test_seqset_merges_intervals_and_spots_duplicates() -> None:
    s = SeqSet()
    for q in (5, 7, 6, 1, 3, 2):
        s.add(q)
    assert (s.lo, s.hi) == ([1, 5], [3, 7])
    assert not s.add(6) and not s.add(1) and s.add(4)
    assert (s.lo, s.hi) == ([1], [7])


def _payload(seq: int, boot: int = 9, n: int = 2, pose: bool = True) -> bytes:
    evs = tuple(
        GeoEvent(100 + k, k % 3, "x", 0.5, EventKind(k % 3), (0.1, 0.2, 0.3, 0.4), 42.01, 19.02, 300.0, 7.0)
        for k in range(n)
    )
    p = Pose(0.0, 42.0, 19.0, 400.0) if pose else None
    return encode(FrameEvents("cam0", 0, 1_700_000_000.5, p, evs), boot, seq)


def test_receiver_dedups_per_vehicle_and_boot_and_reports_gaps() -> None:
    r = Receiver("json")
    lines = r.handle("edge/v1/detections", _payload(0))
    assert len(lines) == 2
    obj = json.loads(lines[0])
    assert {k: obj[k] for k in ("vehicle", "boot", "seq", "class", "event", "track", "lat", "lon", "alt", "error_m")} == {
        "vehicle": "v1", "boot": 9, "seq": 0, "class": "person", "event": "new", "track": 100,
        "lat": 42.01, "lon": 19.02, "alt": 300.0, "error_m": 7.0,
    }  # fmt: skip
    assert obj["time"] == "2023-11-14T22:13:20.500Z" and obj["historical"] is False
    assert r.handle("edge/v1/detections", mark_historical(_payload(0))) == []  # same (vehicle, boot, seq)
    assert len(r.handle("edge/v2/detections", _payload(0))) == 2  # another vehicle
    assert len(r.handle("edge/v1/detections", _payload(0, boot=10))) == 2  # another boot
    r.handle("edge/v1/detections", _payload(3))
    r.handle("edge/v1/detections", b"\x00garbage")
    assert (r.records, r.duplicates, r.detections, r.bad) == (4, 1, 8, 1)
    assert "1 duplicates dropped" in r.summary() and "v1 boot 00000009: 2 missing in 1 gaps" in r.summary()


def test_geojson_feature_collection_per_record() -> None:
    (line,) = Receiver("geojson").handle("edge/v1/detections", _payload(1))
    fc = json.loads(line)
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 2
    f = fc["features"][0]
    assert f["geometry"] == {"type": "Point", "coordinates": [19.02, 42.01, 300.0]}
    assert f["properties"]["track"] == 100 and f["properties"]["vehicle"] == "v1"


def test_cot_event_per_located_detection() -> None:
    lines = Receiver("cot").handle("edge/v1/detections", _payload(1, n=3))
    assert len(lines) == 3
    ev = ET.fromstring(lines[2])  # a lost track: stale at once
    assert ev.tag == "event" and ev.get("version") == "2.0" and ev.get("type") == "a-u-S"
    assert ev.get("uid") == "edge-v1-9-102" and ev.get("stale") == ev.get("time")
    pt = ev.find("point")
    assert pt is not None and (pt.get("lat"), pt.get("lon"), pt.get("hae"), pt.get("ce")) == (
        "42.01",
        "19.02",
        "300.0",
        "7.0",
    )
    first = ET.fromstring(lines[0])
    assert first.get("type") == "a-u-G-U" and first.get("stale") == "2023-11-14T22:14:20.500Z"


def test_the_cameras_of_one_object_print_its_id_and_share_one_cot_marker() -> None:
    """Record v3: the day and thermal tracks of one object print "object"; CoT gives them one uid (a lost track of a
    shared object does not end the marker); another camera's unjoined track gets a uid of its own."""
    p = Pose(0.0, 42.0, 19.0, 400.0)

    def ev(track: int, kind: EventKind, obj: int | None) -> GeoEvent:
        return GeoEvent(track, 0, "x", 0.5, kind, (0.1, 0.2, 0.3, 0.4), 42.01, 19.02, 300.0, 7.0, object_id=obj)

    day = encode(FrameEvents("cam0", 0, 1_700_000_000.5, p, (ev(4, EventKind.NEW, 3),)), 9, 0)
    ir = encode(FrameEvents("ir", 0, 1_700_000_000.6, p, (ev(7, EventKind.LOST, 3), ev(8, EventKind.NEW, None))), 9, 1)
    r = Receiver("json")
    objs = [json.loads(line) for line in r.handle("edge/v1/detections", day) + r.handle("edge/v1/detections", ir)]
    assert [(o["camera"], o["track"], o.get("object")) for o in objs] == [("cam0", 4, 3), ("ir", 7, 3), ("ir", 8, None)]
    cot = Receiver("cot")
    events = [ET.fromstring(x) for x in cot.handle("edge/v1/detections", day) + cot.handle("edge/v1/detections", ir)]
    assert [e.get("uid") for e in events] == ["edge-v1-9-o3", "edge-v1-9-o3", "edge-v1-9-ir-8"]
    assert events[1].get("stale") != events[1].get("time")


def test_receiver_names_classes_from_the_sensor_description_and_says_when_cot_leaves_records_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from edge.types import SensorInfo
    from edge.uplink.codec import encode_description

    info = SensorInfo("cam0", "faces.onnx", ("FACE_FEMALE", "FACE_MALE"), (1000, 500))
    ev = GeoEvent(4, 1, "FACE_MALE", 0.8, EventKind.NEW, (0.1, 0.2, 0.3, 0.4))  # no position: no pose
    rec = encode(FrameEvents("cam0", 1, 1700000000.0, None, (ev,), info), 9, 1)
    r = Receiver("json")
    assert r.handle("edge/v1/detections", encode_description(info, 9, 0, 1700000000.0)) == []
    (line,) = r.handle("edge/v1/detections", rec)
    obj = json.loads(line)
    assert obj["class"] == "FACE_MALE" and obj["bbox_px"] == [100, 100, 300, 200] and obj["model"] == "faces.onnx"
    cot = Receiver("cot")
    cot.handle("edge/v1/detections", encode_description(info, 9, 0, 1700000000.0))
    with caplog.at_level("WARNING"):
        assert cot.handle("edge/v1/detections", rec) == []
        assert cot.handle("edge/v1/detections", encode(FrameEvents("cam0", 2, 1.0, None, (ev,), info), 9, 2)) == []
    assert sum("without a position" in m for m in caplog.messages) == 1  # said once
    assert "2 without a position left out of CoT" in cot.summary()


def test_duplicates_across_radio_and_mqtt_are_told_apart() -> None:
    r = Receiver("json")
    one, two = (encode(FrameEvents("cam0", i, 1.7e9, None, ()), 9, i) for i in (0, 1))
    assert r.record("v1", one, radio=True) is not None
    assert r.record("v1", one) is None  # the same record again, by MQTT
    assert r.record("v1", two) is not None
    assert r.record("v1", two) is None  # MQTT twice (a resend after a lost connection)
    assert r.record("v1", two, radio=True) is None
    assert (r.duplicates, r.cross_path) == (3, 2)
    assert "3 duplicates dropped (2 across radio and MQTT)" in r.summary()
