"""Collector -> crop store -> service -> spool rows -> reassembly, with a real spool, store and images."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cbor2
import cv2
import numpy as np
import pytest

from edge.thumbs import wire
from edge.thumbs.collector import CropCollector, crop_region
from edge.thumbs.service import FLOOD, QUEUE, ThumbnailService
from edge.thumbs.settings import ThumbnailSettings
from edge.thumbs.store import Crop, CropKey, CropStore
from edge.types import EventKind, Frame, FrameEvents, GeoEvent, Priority
from edge.uplink.settings import SpoolSettings
from edge.uplink.spool import Spool

BOOT = 77


def _frame(seq: int) -> Frame:
    img = np.full((480, 640, 3), 90, np.uint8)
    cv2.rectangle(img, (300, 200), (340, 300), (20, 20, 220), -1)  # the "person"
    return Frame(img, time.monotonic(), 1_700_000_000.0 + seq, seq)


def _event(track: int, cls: str = "person", score: float = 0.8, kind: EventKind = EventKind.NEW) -> GeoEvent:
    return GeoEvent(track, 0, cls, score, kind, (300 / 640, 200 / 480, 340 / 640, 300 / 480))


def _feed(col: CropCollector, seq: int, *events: GeoEvent) -> None:
    frame = _frame(seq)
    col.submit(FrameEvents("cam0", seq, frame.t_utc, None, events))
    col.observe(frame, 0.0)


@pytest.fixture
def parts(tmp_path: Path) -> tuple[CropCollector, ThumbnailService, Spool]:
    settings = ThumbnailSettings(enabled=True, chunk_bytes=256)
    store = CropStore(tmp_path / "crops.sqlite", bytes(32), 1 << 20, 3600)
    spool = Spool(tmp_path / "spool.sqlite", SpoolSettings())
    return CropCollector(settings, store, BOOT), ThumbnailService(settings, store, spool, BOOT, tmp_path), spool


def test_crop_region() -> None:
    assert crop_region((0.25, 0.25, 0.5, 0.5), 400, 200, 0.5) == (50, 25, 250, 125)
    assert crop_region((0.0, 0.0, 0.1, 0.1), 100, 100, 1.0) == (0, 0, 20, 20)  # clipped to the frame


def test_collector_keeps_tracks_of_interest_only(parts: tuple[CropCollector, ThumbnailService, Spool]) -> None:
    col, _, _ = parts
    col.start()
    try:
        _feed(col, 1, _event(1), _event(2, cls="boat"), _event(3, score=0.1))
        deadline = time.monotonic() + 5
        while col.store.count() < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)
        # best + latest of track 1; the boat and the weak one are not kept
        assert col.store.count() == 2 and col.health()["saved"] == 2
    finally:
        col.stop()


def test_a_second_batch_of_one_frame_adds_to_its_crops_and_an_older_frames_takes_none(
    parts: tuple[CropCollector, ThumbnailService, Spool],
) -> None:
    """The association re-sends a track's newest event with a new object id in a batch of that track's frame, from
    another camera's thread, between this camera's batch and its frame: the crops this frame's batch asked for stay,
    and a batch of an older frame asks for none (its frame is gone)."""
    col, _, _ = parts
    col.start()
    try:
        frame = _frame(3)
        col.submit(FrameEvents("cam0", 3, frame.t_utc, None, (_event(1),)))
        col.submit(FrameEvents("cam0", 3, frame.t_utc, None, (_event(2, kind=EventKind.UPDATE),)))
        col.submit(FrameEvents("cam0", 2, frame.t_utc - 1, None, (_event(4, kind=EventKind.UPDATE),)))
        col.observe(frame, 0.0)
        deadline = time.monotonic() + 5
        while col.store.count() < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)
        kept = {
            (t, w)
            for t in (1, 2, 4)
            for w in ("best", "latest")
            if not isinstance(col.store.get(CropKey(BOOT, "cam0", t, w)), str)
        }
        assert kept == {(1, "best"), (1, "latest"), (2, "best"), (2, "latest")}
    finally:
        col.stop()


def test_request_answer_chunks_and_audit(parts: tuple[CropCollector, ThumbnailService, Spool], tmp_path: Path) -> None:
    col, svc, spool = parts
    col.start()
    _feed(col, 1, _event(5))
    deadline = time.monotonic() + 5
    while col.store.count() < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    req = {"id": "r1", "camera": "cam0", "track": 5, "frame": "best", "max_bytes": 1200}
    assert svc.handle(time.time(), "mqtt", "centre", json.dumps(req).encode()) == "ok"
    rows = spool.head(100)
    assert {r.prio for r in rows} == {Priority.IMAGE, Priority.AUDIT}
    asm = wire.Reassembler()
    got = [asm.add("v1", r.payload) for r in reversed(rows) if r.prio == Priority.IMAGE]  # any order will do
    (image,) = [g for g in got if isinstance(g, wire.Image)]
    assert len(image.data) <= 1200 and image.meta["track"] == 5 and image.meta["boot"] == BOOT
    img = cv2.imdecode(np.frombuffer(image.data, np.uint8), cv2.IMREAD_COLOR)
    x1, y1, x2, y2 = image.meta["box"]
    h, w = img.shape[:2]
    centre = img[int((y1 + y2) / 2 * h), int((x1 + x2) / 2 * w)]
    assert centre[2] > 150 and centre[0] < 80  # the red target is where the box says
    rx1, ry1, rx2, ry2 = image.meta["region"]
    assert rx1 <= 300 / 640 <= 340 / 640 <= rx2 and ry1 <= 200 / 480 <= 300 / 480 <= ry2
    (audit,) = [cbor2.loads(r.payload) for r in rows if r.prio == Priority.AUDIT]
    assert audit["requester"] == "centre" and audit["status"] == "ok" and audit["sent"]["bytes"] == len(image.data)
    line = json.loads((tmp_path / "thumbnail-audit.jsonl").read_text().splitlines()[-1])
    assert line["sent"]["sha256"] == image.meta["sha256"] and line["via"] == "mqtt"
    col.stop()


@pytest.mark.parametrize(
    ("request_", "status", "text"),
    [
        ({"track": 99, "max_bytes": 900}, "unknown", "no crop of track 99"),
        ({"track": 4, "max_bytes": 900}, "expired", "have expired"),
        ({"track": 4}, "bad-request", "max_bytes: Field required"),
        ({"track": 5, "max_bytes": 40}, "too-small", "fits in 40 bytes"),
    ],
)
def test_clear_answers(
    parts: tuple[CropCollector, ThumbnailService, Spool], request_: dict[str, object], status: str, text: str
) -> None:
    _, svc, spool = parts
    jpeg = cv2.imencode(".jpg", _frame(0).image[150:350, 250:390])[1].tobytes()
    svc.store.put(Crop(CropKey(BOOT, "cam0", 5, "best"), jpeg, 1.0, "person", 0.9, (0, 0, 1, 1), (0, 0, 1, 1)))
    old = Crop(CropKey(BOOT, "cam0", 4, "best"), jpeg, 1.0, "person", 0.9, (0, 0, 1, 1), (0, 0, 1, 1))
    svc.store.put(old, now=time.time() - 7200)  # kept two hours ago: past the store's hour
    assert svc.handle(time.time(), "mqtt", "centre", json.dumps(request_).encode()) == status
    answers = [cbor2.loads(r.payload) for r in spool.head(10) if r.prio == Priority.IMAGE]
    assert len(answers) == 1 and answers[0]["status"] == status and text in answers[0]["text"]
    (audit,) = [cbor2.loads(r.payload) for r in spool.head(10) if r.prio == Priority.AUDIT]
    assert audit["status"] == status and (audit["request"].get("track") or json.loads(audit["request"]["raw"])["track"])


def test_a_flood_of_requests_is_answered_busy_then_dropped(
    parts: tuple[CropCollector, ThumbnailService, Spool],
) -> None:
    _, svc, spool = parts
    for i in range(100):  # the service's thread is not started: everything waits
        svc.submit("mqtt", "centre", json.dumps({"id": str(i), "track": 1, "max_bytes": 900}).encode())
    assert svc.stats["dropped"] == 100 - FLOOD
    svc.start()
    deadline = time.monotonic() + 10
    while svc.stats["requests"] < FLOOD and time.monotonic() < deadline:
        time.sleep(0.05)
    svc.stop()
    answers = [cbor2.loads(r.payload)["status"] for r in spool.head(1000) if r.prio == Priority.IMAGE]
    assert answers.count("busy") == FLOOD - QUEUE and answers.count("unknown") == QUEUE


def test_requesters_list_refuses_others(tmp_path: Path) -> None:
    settings = ThumbnailSettings(enabled=True, requesters=["centre"])
    spool = Spool(tmp_path / "spool.sqlite", SpoolSettings())
    svc = ThumbnailService(settings, CropStore(tmp_path / "c.sqlite", bytes(32), 1 << 20, 60), spool, 1, tmp_path)
    svc.on_mqtt("edge/v1/cmd/thumbnail/intruder", b'{"track": 1, "max_bytes": 900}')
    svc.start()
    deadline = time.monotonic() + 5
    while not spool.rows and time.monotonic() < deadline:
        time.sleep(0.02)
    svc.stop()
    (audit,) = [cbor2.loads(r.payload) for r in spool.head(10) if r.prio == Priority.AUDIT]
    assert audit["status"] == "refused" and audit["requester"] == "intruder"


def test_best_is_replaced_only_by_a_clearly_better_view(parts: tuple[CropCollector, ThumbnailService, Spool]) -> None:
    col, _, _ = parts
    ev = _event(1, score=0.5)
    _feed(col, 1, ev)
    assert [k.which for k in col._jobs[-1].keys] == ["best", "latest"]
    weaker = GeoEvent(1, 0, "person", 0.52, EventKind.UPDATE, ev.bbox_norm)  # +4 %: not "best", too soon for "latest"
    _feed(col, 2, weaker)
    assert len(col._jobs) == 1
    better = GeoEvent(1, 0, "person", 0.9, EventKind.UPDATE, ev.bbox_norm)
    _feed(col, 3, better)
    assert [k.which for k in col._jobs[-1].keys] == ["best"] and col._jobs[-1].event.confidence == 0.9


def test_thermal_crops_are_stretched_to_8_bits(tmp_path: Path) -> None:
    store = CropStore(tmp_path / "c.sqlite", bytes(32), 1 << 20, 3600)
    col = CropCollector(ThumbnailSettings(enabled=True), store, BOOT)
    img = np.full((480, 640), 29_000, np.uint16)
    img[200:300, 300:340] = 31_000  # a warm person
    frame = Frame(img, time.monotonic(), 1_700_000_000.0, 5)
    col.submit(FrameEvents("cam0", 5, frame.t_utc, None, (_event(2),)))
    col.observe(frame)
    col._store(col._jobs.popleft())
    got = store.get(CropKey(BOOT, "cam0", 2, "best"))
    assert isinstance(got, Crop)
    crop = cv2.imdecode(np.frombuffer(got.jpeg, np.uint8), cv2.IMREAD_UNCHANGED)
    assert crop.dtype == np.uint8 and crop.max() > 200 and crop.min() < 50
