"""Thumbnail requests, answers, image chunks and audit records on the wire; the receiver's reassembly.

A request (JSON, from the centre on ``edge/<vehicle>/cmd/thumbnail/<user>``; the broker's ACL lets a user publish
only under its own name)::

    {"id": "r1", "boot": 305419896, "camera": "cam0", "track": 7, "frame": "best", "max_bytes": 4000,
     "format": "jpeg"}

Replies are CBOR maps on ``edge/<vehicle>/thumbnail``: one ``answer`` per request (``status`` "ok", or "expired",
"unknown", "refused", "too-small", "bad-request", "busy" with a ``text`` in words), then for "ok" ``chunks`` messages
``{"t": "chunk", "id", "requester", "n", "data"}`` that together are the image (``bytes`` long, ``sha256``).
Audit records (``{"t": "audit", ...}``) go to ``edge/<vehicle>/audit``. docs/thumbnails.md has every field.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Literal

import cbor2
from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_PENDING = 64  # images being reassembled at most per receiver
MAX_REQUEST_BYTES = 4096  # a request is a few hundred bytes; longer ones are refused (and not held in full)
MAX_PENDING_BYTES = 16 * 2**20  # chunk bytes held for images not yet complete, all together
MAX_CHUNKS = 2**16  # chunks of one image at most
PART_COST = 64  # bytes counted per held chunk beside its data (an empty chunk is not free)


class Request(BaseModel):
    """What a requester asks for. ``boot`` None: the daemon's current boot."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field("", max_length=64)
    boot: int | None = Field(None, ge=0, lt=2**32)
    camera: str = Field("cam0", max_length=64)
    track: int = Field(ge=0, lt=2**63)
    frame: Literal["best", "latest"] = "best"
    max_bytes: int = Field(gt=0)
    format: Literal["jpeg", "webp"] = "jpeg"


class BadRequest(ValueError):
    """A request that cannot be read; the message says what is wrong, in one line."""


def parse_request(payload: bytes) -> Request:
    """The request in ``payload`` (JSON); BadRequest naming the field otherwise."""
    if len(payload) > MAX_REQUEST_BYTES:
        raise BadRequest(f"longer than {MAX_REQUEST_BYTES} bytes")
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as err:
        raise BadRequest(f"not JSON: {err}") from None
    except RecursionError:
        raise BadRequest("not JSON: nested too deeply") from None
    try:
        return Request.model_validate(data)
    except ValidationError as err:
        raise BadRequest(
            "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'request'}: {e['msg']}" for e in err.errors())
        ) from None


def answer(req_id: str, requester: str, status: str, text: str, **meta: Any) -> bytes:
    """The answer to a request (CBOR map); ``meta`` adds the image's description to an "ok"."""
    return cbor2.dumps({"t": "answer", "id": req_id, "requester": requester, "status": status, "text": text, **meta})


def chunks(req_id: str, requester: str, data: bytes, size: int) -> list[bytes]:
    """``data`` cut into messages of ``size`` bytes of image each."""
    parts = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
    return [
        cbor2.dumps({"t": "chunk", "id": req_id, "requester": requester, "n": n, "data": p})
        for n, p in enumerate(parts)
    ]


def audit(record: dict[str, Any]) -> bytes:
    """An audit record (CBOR map with ``"t": "audit"``)."""
    return cbor2.dumps({"t": "audit", **record})


@dataclass
class Image:
    """A reassembled image and its answer's description (``meta``: vehicle, boot, camera, track, frame, format...)."""

    meta: dict[str, Any]
    data: bytes


@dataclass
class _Pending:
    meta: dict[str, Any] | None = None
    parts: dict[int, bytes] = field(default_factory=dict)
    t: float = 0.0
    held: int = 0  # bytes counted against MAX_PENDING_BYTES


def _chunk_count(meta: dict[str, Any]) -> int | None:
    """The ``chunks`` an "ok" answer announces, None unless it is a sane count with ``bytes`` and ``sha256``."""
    n, size, digest = meta.get("chunks"), meta.get("bytes"), meta.get("sha256")
    if type(n) is not int or type(size) is not int or not isinstance(digest, str):
        return None
    return n if 0 <= n <= MAX_CHUNKS and 0 <= size <= MAX_PENDING_BYTES else None


class Reassembler:
    """Puts chunks and answers back together, in any order; duplicates are harmless. Bounded: ``MAX_PENDING``
    images and ``MAX_PENDING_BYTES`` held at once (the oldest go first, counted in ``dropped``); messages that
    cannot be read or do not fit their answer are counted in ``bad``."""

    def __init__(self) -> None:
        self._pending: OrderedDict[tuple[str, str, str], _Pending] = OrderedDict()
        self._held = 0
        self.bad = 0
        self.dropped = 0

    def add(self, vehicle: str, payload: bytes) -> Image | dict[str, Any] | None:
        """Take one message from ``vehicle``'s thumbnail topic: a complete Image, an answer that is not "ok"
        (the map), or None (waiting for more, a duplicate, or not readable: counted in ``bad``)."""
        try:
            msg = cbor2.loads(payload)
        except Exception:  # cbor2 raises several types for garbage
            self.bad += 1
            return None
        if not isinstance(msg, dict) or msg.get("t") not in ("answer", "chunk"):
            self.bad += 1
            return None
        key = (vehicle, str(msg.get("requester", "")), str(msg.get("id", "")))
        if msg["t"] == "answer" and msg.get("status") != "ok":
            return {"vehicle": vehicle, **msg}
        if msg["t"] == "answer" and _chunk_count(msg) is None:
            self.bad += 1
            self._forget(key)
            return None
        n, data = msg.get("n"), msg.get("data")
        if msg["t"] == "chunk" and (type(n) is not int or not 0 <= n < MAX_CHUNKS or not isinstance(data, bytes)):
            self.bad += 1
            return None
        p = self._pending.get(key)
        if p is None:
            p = self._pending[key] = _Pending(t=time.monotonic())
        if msg["t"] == "answer":
            p.meta = {"vehicle": vehicle, **msg}
        elif isinstance(n, int) and isinstance(data, bytes) and n not in p.parts:
            p.parts[n] = data
            p.held += len(data) + PART_COST
            self._held += len(data) + PART_COST
        if p.meta is not None:
            count = int(p.meta["chunks"])
            for extra in [i for i in p.parts if i >= count]:  # beyond what the answer announced
                self.bad += 1
                self._held -= len(p.parts[extra]) + PART_COST
                p.held -= len(p.parts.pop(extra)) + PART_COST
        self._bound()
        if key not in self._pending or p.meta is None or len(p.parts) < int(p.meta["chunks"]):
            return None
        self._forget(key)
        data = b"".join(p.parts[i] for i in sorted(p.parts))
        if len(data) != p.meta.get("bytes") or hashlib.sha256(data).hexdigest() != p.meta.get("sha256"):
            self.bad += 1
            return None
        return Image(p.meta, data)

    def _forget(self, key: tuple[str, str, str]) -> None:
        p = self._pending.pop(key, None)
        if p is not None:
            self._held -= p.held

    def _bound(self) -> None:
        while self._pending and (len(self._pending) > MAX_PENDING or self._held > MAX_PENDING_BYTES):
            self._forget(next(iter(self._pending)))
            self.dropped += 1
