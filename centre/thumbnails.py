"""Thumbnails at the centre: the answers and chunks vehicles sent on request, put together for the API and the map."""

from __future__ import annotations

import math
from typing import Any

import cbor2

from edge.thumbs.wire import Image, Reassembler

MEDIA = {"jpeg": "image/jpeg", "webp": "image/webp"}
Key = tuple[str, str, str]  # (vehicle, requester, request id)


def assemble(parts: list[tuple[str, bytes]]) -> tuple[list[dict[str, Any]], dict[Key, Image]]:
    """Every answer among ``parts`` ((vehicle, payload) as stored) as a dict (``complete``: its image is all
    there; ``url``: where the API serves it), and the complete images by key."""
    asm = Reassembler()
    answers: dict[Key, dict[str, Any]] = {}
    images: dict[Key, Image] = {}
    for vehicle, payload in parts:
        msg = cbor2.loads(payload)
        key = (vehicle, str(msg.get("requester")), str(msg.get("id")))
        if msg.get("t") == "answer":
            answers[key] = {"vehicle": vehicle, **msg, "complete": False}
        got = asm.add(vehicle, payload)
        if isinstance(got, Image):
            images[key] = got
            answers[key] = {**got.meta, "complete": True, "url": "/api/thumbnails/{}/{}/{}".format(*key)}
    out = [{str(k): plain(v) for k, v in a.items() if k != "t"} for a in answers.values()]
    return out, images


def plain(value: Any) -> Any:
    """``value`` as plain JSON (what a vehicle sent may hold bytes, NaN or odd keys): text for what JSON lacks."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value if value is None or isinstance(value, (str, int, float)) else repr(value)
