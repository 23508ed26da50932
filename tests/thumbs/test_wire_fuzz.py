"""Garbage on the thumbnail links: requests the service reads, chunks the receiver reassembles. Seeded fuzzing
(random bytes and mutations of valid messages): nothing escapes, the counters count, memory stays bounded."""

from __future__ import annotations

import hashlib
import json
import random
import time
from pathlib import Path

import cbor2
import pytest

from edge.thumbs import wire
from edge.thumbs.service import ThumbnailService
from edge.thumbs.settings import ThumbnailSettings
from edge.thumbs.store import CropStore
from edge.types import Priority
from edge.uplink.settings import SpoolSettings
from edge.uplink.spool import Spool
from tests.cbor_fuzz import mutate

IMAGE = bytes(range(256)) * 8
ODD: list[object] = [float("nan"), float("inf"), -1, 2**70, -(2**70), "x", b"\x00", None, [1], {"a": 1}, True, 1.5]


def _image_messages(req_id: str = "r1") -> list[bytes]:
    meta = {"bytes": len(IMAGE), "sha256": hashlib.sha256(IMAGE).hexdigest(), "chunks": 4, "format": "jpeg"}
    return [wire.answer(req_id, "centre", "ok", "4 chunks", **meta), *wire.chunks(req_id, "centre", IMAGE, 512)]


def _mutate(rnd: random.Random, payload: bytes) -> bytes:
    return mutate(rnd, payload, ODD, ("n", "chunks", "bytes", "sha256", "data", "id", "requester"))


def test_fuzzed_chunks_and_answers_never_raise_and_are_counted() -> None:
    rnd = random.Random(21)
    asm = wire.Reassembler()
    valid = _image_messages()
    for _ in range(4000):
        payload = _mutate(rnd, rnd.choice(valid)) if rnd.random() < 0.8 else rnd.randbytes(rnd.randrange(60))
        asm.add("v1", payload)  # raises nothing
    assert asm.bad > 500
    got = [asm.add("v1", m) for m in _image_messages("after")]
    assert isinstance(got[-1], wire.Image) and got[-1].data == IMAGE  # still works after the garbage


def test_chunks_of_a_never_announced_image_and_huge_counts_stay_bounded() -> None:
    asm = wire.Reassembler()
    blob = bytes(4096)
    for i in range(3 * wire.MAX_PENDING_BYTES // len(blob)):  # 48 MiB of chunks nobody announced, on 8 keys
        asm.add("v1", cbor2.dumps({"t": "chunk", "id": f"x{i % 8}", "requester": "c", "n": i, "data": blob}))
    assert asm._held <= wire.MAX_PENDING_BYTES and asm.dropped > 0
    huge = {"bytes": 10**12, "sha256": "0" * 64, "chunks": 2**40}
    assert asm.add("v1", wire.answer("h", "c", "ok", "", **huge)) is None and asm.bad == 1
    for n in (-1, 2**40, 1.0, True):
        assert asm.add("v1", cbor2.dumps({"t": "chunk", "id": "h", "requester": "c", "n": n, "data": b"x"})) is None
    assert asm.bad == 5
    for m in _image_messages():
        got = asm.add("v1", m)
    assert isinstance(got, wire.Image)


def test_a_wrong_sha256_or_a_chunk_beyond_the_count_is_bad_not_an_image() -> None:
    asm = wire.Reassembler()
    msgs = _image_messages()
    answer = cbor2.loads(msgs[0])
    answer["sha256"] = "0" * 64
    assert [asm.add("v1", m) for m in [cbor2.dumps(answer), *msgs[1:]]] == [None] * 5 and asm.bad == 1
    extra = cbor2.dumps({"t": "chunk", "id": "r2", "requester": "centre", "n": 9, "data": b"garbage"})
    got = [asm.add("v1", m) for m in [extra, *_image_messages("r2")]]
    assert isinstance(got[-1], wire.Image) and got[-1].data == IMAGE and asm.bad == 2


@pytest.mark.parametrize(
    "payload",
    [b"[" * 100_000, b'{"track": 1e999, "max_bytes": 900}', b'{"track": NaN, "max_bytes": 900}',
     b'{"track": 100000000000000000000000000000, "max_bytes": 900}', b"\xff\xfe", b'{"track": -1, "max_bytes": 1}'],
)  # fmt: skip
def test_garbage_requests_are_answered_bad_request_and_audited(tmp_path: Path, payload: bytes) -> None:
    settings = ThumbnailSettings(enabled=True)
    spool = Spool(tmp_path / "spool.sqlite", SpoolSettings())
    svc = ThumbnailService(settings, CropStore(tmp_path / "c.sqlite", bytes(32), 1 << 20, 3600), spool, 7, tmp_path)
    assert svc.handle(time.time(), "mqtt", "centre", payload) == "bad-request"
    rows = spool.head(10)
    assert [cbor2.loads(r.payload)["status"] for r in rows if r.prio == Priority.IMAGE] == ["bad-request"]
    (line,) = (tmp_path / "thumbnail-audit.jsonl").read_text().splitlines()
    assert json.loads(line)["status"] == "bad-request"


def test_fuzzed_requests_are_all_answered(tmp_path: Path) -> None:
    rnd = random.Random(17)
    spool = Spool(tmp_path / "spool.sqlite", SpoolSettings())
    store = CropStore(tmp_path / "c.sqlite", bytes(32), 1 << 20, 3600)
    svc = ThumbnailService(ThumbnailSettings(enabled=True), store, spool, 7, tmp_path)
    valid = {"id": "r", "boot": 7, "camera": "cam0", "track": 3, "frame": "best", "max_bytes": 900, "format": "jpeg"}
    for _ in range(1500):
        req: dict[str, object] = dict(valid)
        req[rnd.choice(list(valid))] = rnd.choice([*(o for o in ODD if not isinstance(o, bytes)), 10**30, "a\x00b"])
        text = json.dumps(req).encode()
        if rnd.random() < 0.3:
            text = text[: rnd.randrange(len(text))]
        assert svc.handle(time.time(), "mqtt", "c", text) in ("bad-request", "unknown")
    assert svc.stats["requests"] == 1500


def test_an_oversized_request_is_refused_and_not_held_in_full(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite", SpoolSettings())
    svc = ThumbnailService(ThumbnailSettings(enabled=True), CropStore(tmp_path / "c.sqlite", bytes(32), 1 << 20, 3600),
                           spool, 7, tmp_path)  # fmt: skip
    huge = json.dumps({"track": 1, "max_bytes": 900, "id": "x" * 10}).encode() + b" " * 5_000_000
    for _ in range(10):
        svc.submit("mqtt", "centre", huge)
    assert sum(len(job[3]) for job in svc._queue if isinstance(job[3], bytes)) <= 10 * (wire.MAX_REQUEST_BYTES + 1)
    assert svc.handle(*svc._queue.popleft()) == "bad-request"
    (answer,) = [cbor2.loads(r.payload) for r in spool.head(10) if r.prio == Priority.IMAGE]
    assert answer["text"] == f"longer than {wire.MAX_REQUEST_BYTES} bytes"
