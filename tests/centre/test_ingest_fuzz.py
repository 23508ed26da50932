"""Garbage on every topic the centre's ingest subscribes to (seeded random bytes and mutations of valid messages):
nothing escapes ``Ingest.handle``, the undecodable are counted, the valid still land, the API's answers stay JSON."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import cbor2

from centre.fleet import FleetPlan, make_payloads
from centre.ingest import Ingest
from centre.store import open_store
from centre.thumbnails import assemble
from edge.thumbs import wire
from tests.cbor_fuzz import mutate

KINDS = ("detections", "status", "health", "thumbnail", "audit")
ODD: list[object] = [float("nan"), float("inf"), -1, 2**70, -(2**70), "x", b"\x00", None, [1], {1: 2, "a": 3}, 1.5]
IMAGE = bytes(range(256)) * 4


def _valid() -> list[bytes]:
    meta = {"bytes": len(IMAGE), "sha256": hashlib.sha256(IMAGE).hexdigest(), "chunks": 2, "format": "jpeg"}
    return [
        *make_payloads(FleetPlan(vehicles=1, records=3))["veh-00"],
        wire.answer("r1", "centre", "ok", "2 chunks", **meta),
        *wire.chunks("r1", "centre", IMAGE, 512),
        wire.audit({"t_utc": 6.0, "requester": "centre", "status": "ok", "sent": {}}),
        cbor2.dumps({"state": "ok", "camera": {"fps": 9.5}}),
    ]


def _mutate(rnd: random.Random, payload: bytes) -> bytes:
    return mutate(rnd, payload, ODD, ("n", "t_utc", "requester", "id"))


def test_fuzzed_payloads_on_every_topic_never_raise(tmp_path: Path) -> None:
    rnd = random.Random(20)
    ingest = Ingest(open_store(f"sqlite://{tmp_path}/c.db"), ("person", "vehicle", "boat"))
    valid = _valid()
    for i in range(3000):
        payload = _mutate(rnd, rnd.choice(valid)) if rnd.random() < 0.8 else rnd.randbytes(rnd.randrange(60))
        ingest.handle([(f"edge/v{i % 3}/{rnd.choice(KINDS)}", payload)])  # raises nothing
    assert ingest.counters.bad > 300
    answers, _ = assemble(ingest.store.thumbnail_parts())
    json.dumps(answers, allow_nan=False)  # what /api/thumbnails sends
    fresh = make_payloads(FleetPlan(vehicles=1, records=5))["veh-00"]
    before = ingest.store.count("records")
    ingest.handle([("edge/later/detections", p) for p in fresh])
    assert ingest.store.count("records") == before + 5


def test_odd_values_the_database_cannot_hold_are_counted_not_raised(tmp_path: Path) -> None:
    ingest = Ingest(open_store(f"sqlite://{tmp_path}/c.db"), ("person",))
    rec = cbor2.loads(make_payloads(FleetPlan(vehicles=1, records=1))["veh-00"][0])
    huge_track = [*rec[:-1], [*rec[-1][:2], 2**70, *rec[-1][3:]]]
    msgs = [
        ("edge/v/detections", cbor2.dumps(huge_track)),
        ("edge/v/thumbnail", cbor2.dumps({"t": "chunk", "id": "r", "requester": "c", "n": 2**40, "data": b""})),
        ("edge/v/thumbnail", cbor2.dumps({"t": "chunk", "id": "r", "requester": "c", "n": "1", "data": b""})),
        ("edge/v/audit", cbor2.dumps({"t": "audit", "t_utc": "x", "requester": "c", b"k": 1, "k": 2})),
        ("edge/v/audit", cbor2.dumps({"t": "audit", "t_utc": float("nan"), "requester": "c"})),
        ("edge/v/status", b"on\x00line"),
    ]
    ingest.handle(msgs)
    assert ingest.counters.bad == 3
    assert len(ingest.store.audit_log()) == 2 and ingest.store.states()["v"]["status"] == "on\ufffdline"
