"""The wire record: sizes, quantisation worked by hand, round trips with generated data, old versions."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.types import EventKind, FrameEvents, GeoEvent, Pose, SensorInfo
from edge.uplink.codec import CodecError, camera_attitude, decode, encode, encode_description, mark_historical

# A v1 record as the first release wrote it (boot 0x01020304, seq 5, t 1 700 000 000.123 s, one person, new,
# track 12, 87 %, box (0.25, 0.5, 0.5, 0.75), at the sensor + (0.001, -0.002) deg, 812.3 m, 15 m; sensor at
# 42.5 N 19.25 E 1000.0 m, camera yaw 90 deg, pitch -30 deg, roll 0). Must stay decodable forever.
V1_FIXTURE = bytes.fromhex(
    "8601" "1a01020304" "05" "1b0000018bcfe5687b" "86" "1a1954fc40" "1a0b795120" "192710" "192328" "390bb7" "00"
    "84" "00" "1857" "0c" "48" "4000" "8000" "8000" "bfff"
)  # fmt: skip
V1_FIXTURE_WITH_FIX = bytes.fromhex(
    "8601" "1a01020304" "05" "1b0000018bcfe5687b" "86" "1a1954fc40" "1a0b795120" "192710" "192328" "390bb7" "00"
    "88" "00" "1857" "0c" "48" "4000" "8000" "8000" "bfff" "1903e8" "3907cf" "191fbb" "0f"
)  # fmt: skip


def _pose(**kw: Any) -> Pose:
    base: dict[str, Any] = {"t_mono": 0.0, "lat": 42.5, "lon": 19.25, "alt": 1000.0}
    base.update(kw)
    return Pose(**base)


def _event(track: int = 12, **kw: object) -> GeoEvent:
    base: dict[str, object] = {
        "track_id": track, "class_id": 0, "class_name": "person", "confidence": 0.87, "kind": EventKind.NEW,
        "bbox_norm": (0.25, 0.5, 0.5, 0.75), "lat": 42.501, "lon": 19.248, "alt": 812.3, "error_m": 15.0,
    }  # fmt: skip
    base.update(kw)
    return GeoEvent(**base)  # type: ignore[arg-type]


def test_v1_fixture_still_decodes() -> None:
    rec = decode(V1_FIXTURE_WITH_FIX)
    assert (rec.version, rec.boot, rec.seq, rec.t_utc, rec.camera) == (1, 0x01020304, 5, 1700000000.123, "cam0")
    assert rec.pose is not None
    assert (rec.pose.lat, rec.pose.lon, rec.pose.alt) == (42.5, 19.25, 1000.0)
    assert (rec.pose.yaw, rec.pose.pitch, rec.pose.roll) == (90.0, -30.0, 0.0)
    (d,) = rec.detections
    assert (d.class_id, d.kind, d.confidence, d.track_id) == (0, EventKind.NEW, 0.87, 12)
    assert d.bbox == pytest.approx((0.25, 0.5, 0.5, 0.75), abs=1 / 65535)
    assert (d.lat, d.lon, d.alt, d.error_m) == (42.501, 19.248, 812.3, 15.0)
    assert decode(V1_FIXTURE).detections[0].lat is None


def test_encoder_writes_the_fixture_bytes() -> None:
    batch = FrameEvents(
        "cam0", 1, 1700000000.123, _pose(yaw=math.radians(90), cam_pitch=math.radians(-30)), (_event(),)
    )
    assert encode(batch, 0x01020304, 5) == V1_FIXTURE_WITH_FIX


def test_sizes_within_budget_for_large_counters() -> None:
    """Worst realistic case: 32-bit boot and seq, track 65535, roll not 0, targets ~6 km away, 255 m error.

    (A track id above 65535 costs 2 bytes more; docs/uplink-schema.md lists where the bound holds.)"""
    pose = _pose(lat=-33.8688197, lon=151.2092955, alt=6000.0, yaw=math.radians(-179.9), roll=0.3, cam_pitch=-0.7)
    ev = [_event(track=65535 - i, class_id=2, confidence=0.99, lat=-33.92, lon=151.27, alt=5000.0, error_m=255.0)
          for i in range(3)]  # fmt: skip
    sizes = [
        len(encode(FrameEvents("cam0", 2**40, 1.9e9, pose, tuple(ev[:n])), 2**32 - 1, 2**32 - 1)) for n in (1, 2, 3)
    ]
    assert sizes[0] <= 72
    assert sizes[1] - sizes[0] <= 36 and sizes[2] - sizes[1] <= 36


def test_object_id_costs_bytes_only_when_cameras_share_an_object() -> None:
    """v3: the shared object id is the detection's last item, only when set; a single camera's record is unchanged."""
    batch = FrameEvents(
        "cam0", 1, 1700000000.123, _pose(yaw=math.radians(90), cam_pitch=math.radians(-30)), (_event(),)
    )
    assert encode(batch, 0x01020304, 5) == V1_FIXTURE_WITH_FIX  # no object id: the fixture's bytes
    info = SensorInfo("thermal", "m.onnx", ("person",), (640, 512))
    evs = (_event(object_id=7), _event(track=3, lat=None, object_id=300), _event(track=4))
    payload = encode(FrameEvents("thermal", 1, 1.0, None, evs, info), 1, 2)
    raw = cbor2.loads(payload)
    assert raw[0] == 3 | 2 << 4 and raw[6] == info.key
    assert [len(d) for d in raw[7:]] == [9, 5, 8] and (raw[7][-1], raw[8][-1]) == (7, 300)
    plain = encode(FrameEvents("thermal", 1, 1.0, None, tuple(replace(e, object_id=None) for e in evs), info), 1, 2)
    assert cbor2.loads(plain)[0] == 2 | 2 << 4
    assert len(payload) - len(plain) == 1 + 3  # 7 fits the item head; 300 takes a 2-byte integer
    rec = decode(payload)
    assert (rec.version, rec.sensor, [d.object_id for d in rec.detections]) == (3, info.key, [7, 300, None])
    assert [d.object_id for d in decode(plain).detections] == [None, None, None]
    bare = decode(encode(FrameEvents("thermal", 1, 1.0, None, evs[:1]), 1, 2))  # without a sensor: null
    assert (bare.version, bare.sensor, bare.detections[0].object_id) == (3, None, 7)


def test_quantisation_by_hand() -> None:
    # 1e-7 deg lat/lon, dm altitude, centidegree angles (yaw wrapped to 0..360), percent, whole metres up.
    batch = FrameEvents("cam7", 0, 12.3456, _pose(lat=-0.00000004, lon=-179.99999996, alt=-12.34, yaw=math.radians(-90)),
                        (_event(confidence=0.004, error_m=3.2, bbox_norm=(0.0, 0.0, 1.0, 1.2)),))  # fmt: skip
    raw = cbor2.loads(encode(batch, 1, 2))
    assert raw[0] == 1 | 2 << 4  # version 1, camera present
    assert raw[3] == 12346  # ms
    assert raw[4] == [0, -1800000000, -123, 27000, 0, 0]
    assert raw[5] == "cam7"
    assert raw[6][1] == 0 and raw[6][7] == 4
    assert raw[6][3] == bytes.fromhex("00000000ffffffff")  # box clipped to [0, 1]


def test_camera_attitude_composes_body_and_gimbal() -> None:
    # Body yawed east, gimbal pitched 30 deg down in the body frame -> camera looks east, 30 deg down.
    yaw, pitch, roll = camera_attitude(_pose(yaw=math.radians(90), cam_pitch=math.radians(-30)))
    assert (math.degrees(yaw), math.degrees(pitch), roll) == pytest.approx((90, -30, 0))
    # Nose 10 deg up, gimbal 40 deg down: the camera looks 30 deg down along the body's heading.
    yaw, pitch, roll = camera_attitude(
        _pose(yaw=math.radians(200), pitch=math.radians(10), cam_pitch=math.radians(-40))
    )
    assert (math.degrees(yaw), math.degrees(pitch), roll) == pytest.approx((-160, -30, 0))
    # Body rolled 90 deg right, camera straight ahead: the camera's roll is the body's.
    assert camera_attitude(_pose(roll=math.radians(90))) == pytest.approx((0, 0, math.radians(90)))
    # Earth-frame gimbal ignores the body attitude.
    p = _pose(yaw=1.0, roll=0.2, cam_yaw=math.radians(45), cam_pitch=math.radians(-90), cam_frame="earth")
    yaw, pitch, roll = camera_attitude(p)
    assert (math.degrees(yaw), math.degrees(pitch), roll) == pytest.approx((45, -90, 0))


def test_historical_flag_in_place_and_with_camera() -> None:
    b = encode(FrameEvents("cam0", 0, 1.0, None, (_event(),)), 3, 4)
    h = mark_historical(b)
    assert len(h) == len(b) and decode(h).historical and not decode(b).historical
    b2 = encode(FrameEvents("nose", 0, 1.0, None, (_event(),)), 3, 4)
    assert decode(mark_historical(b2)).historical and decode(mark_historical(b2)).camera == "nose"


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"", "not CBOR"),
        (b"\xff\x00", "not CBOR"),
        (cbor2.dumps({"a": 1}), "not a record"),
        (cbor2.dumps([9, 1, 2, 3, None]), "newer than this decoder"),
        (cbor2.dumps([1, 1, 2]), "fields"),
        (cbor2.dumps([1, 1, 2, 3, None, [1, 2, 3, b"short"]]), "bad detection"),
        (cbor2.dumps([1, "x", 2, 3, None]), "integers"),
        (cbor2.dumps([1, 1, 2, 3, None, [1, 2, 3, b"\0" * 8, 7]]), "bad detection"),  # an object id is v3's
        (cbor2.dumps([3, 1, 2, 3, None, None, [1, 2, 3, b"\0" * 8, "obj"]]), "bad object id"),
        (cbor2.dumps([3, 1, 2, 3, None, None, [1, 2, 3, b"\0" * 8, 1, 2]]), "bad detection"),
        (cbor2.dumps([3, 1, 2, 3, None, "s"]), "sensor key"),
    ],
)
def test_bad_payloads_raise_codec_error(payload: bytes, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        decode(payload)


lat = st.floats(-89.9, 89.9)
lon = st.floats(-179.9, 179.9)
frac = st.floats(0.0, 1.0)
events = st.builds(
    GeoEvent,
    track_id=st.integers(0, 2**40),
    class_id=st.integers(0, 50),
    class_name=st.just("x"),
    confidence=st.floats(0.0, 1.0),
    kind=st.sampled_from(EventKind),
    bbox_norm=st.tuples(frac, frac, frac, frac),
    lat=st.one_of(st.none(), lat),
    lon=lon,
    alt=st.one_of(st.none(), st.floats(-500, 9000)),
    error_m=st.one_of(st.none(), st.floats(0, 10000)),
    object_id=st.one_of(st.none(), st.integers(0, 2**32)),
)
poses = st.one_of(
    st.none(),
    st.builds(_pose, lat=lat, lon=lon, alt=st.floats(-500, 9000), yaw=st.floats(-3.1, 3.1),
              pitch=st.floats(-1.5, 1.5), cam_pitch=st.floats(-1.5, 0.5)),
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    poses,
    st.lists(events, min_size=1, max_size=6),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**63),
    st.floats(0, 4e9),
    st.text(min_size=1, max_size=10),
)
def test_round_trip(pose: Pose | None, evs: list[GeoEvent], boot: int, seq: int, t: float, cam: str) -> None:
    rec = decode(encode(FrameEvents(cam, 0, t, pose, tuple(evs)), boot, seq))
    assert (rec.boot, rec.seq, rec.camera, rec.historical) == (boot, seq, cam, False)
    assert rec.t_utc == pytest.approx(t, abs=0.0005 + 1e-12 * t)
    if pose is None:
        assert rec.pose is None
    else:
        assert rec.pose is not None
        assert (rec.pose.lat, rec.pose.lon, rec.pose.alt) == pytest.approx((pose.lat, pose.lon, pose.alt), abs=0.051)
    for e, d in zip(evs, rec.detections, strict=True):
        assert (d.class_id, d.kind, d.track_id) == (e.class_id, e.kind, e.track_id)
        assert d.confidence == pytest.approx(e.confidence, abs=0.005 + 1e-9)  # 0.01 steps: at most half a step off
        assert d.bbox == pytest.approx(e.bbox_norm, abs=0.5 / 65535 + 1e-12)
        assert d.object_id == e.object_id
        if e.lat is None:
            assert d.lat is None
            continue
        assert (d.lat, d.lon) == pytest.approx((e.lat, e.lon), abs=1e-6)  # target lat/lon: 1e-6 deg (11 cm)
        assert d.alt == (None if e.alt is None else pytest.approx(e.alt, abs=0.051))
        if e.error_m is None:
            assert d.error_m is None
        else:
            assert d.error_m is not None and e.error_m - 1e-6 <= d.error_m < e.error_m + 1


def test_v2_names_its_sensor_description_and_the_description_round_trips() -> None:
    info = SensorInfo("thermal", "faces.onnx", ("FACE_FEMALE", "FACE_MALE"), (1280, 720))
    desc = decode(encode_description(info, 7, 0, 1700000000.5))
    assert desc.description == info and desc.sensor == info.key and desc.seq == 0 and desc.detections == ()
    ev = GeoEvent(3, 1, "FACE_MALE", 0.8, EventKind.NEW, (0.1, 0.2, 0.3, 0.4))
    rec = decode(encode(FrameEvents("thermal", 1, 1700000000.6, None, (ev,), info), 7, 1))
    assert rec.version == 2 and rec.sensor == info.key and rec.camera == "thermal" and rec.description is None
    assert rec.detections[0].class_id == 1 and rec.seq == 1
    assert decode(encode(FrameEvents("cam0", 1, 1.0, None, (ev,)), 7, 1)).version == 1  # no sensor: v1 as before


def test_v2_description_whose_key_does_not_match_is_refused() -> None:
    rec = cbor2.loads(encode_description(SensorInfo("cam0", "m.onnx", ("a",), (64, 48)), 1, 0, 1.0))
    rec[-1]["labels"] = ["b"]
    with pytest.raises(CodecError, match="does not match"):
        decode(cbor2.dumps(rec))
