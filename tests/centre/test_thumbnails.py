"""Thumbnails and the vehicles' audit records at the centre: ingest (any order, duplicates), the API, the audit log."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from centre.api import CentreApi
from centre.auth import add_user
from centre.ingest import Ingest, topics
from centre.store import open_store
from edge.thumbs import wire

IMAGE = b"\xff\xd8" + bytes(range(256)) * 5 + b"\xff\xd9"


def _messages() -> list[tuple[str, bytes]]:
    meta = {"boot": 7, "camera": "cam0", "track": 12, "frame": "best", "format": "jpeg", "bytes": len(IMAGE),
            "sha256": hashlib.sha256(IMAGE).hexdigest(), "chunks": 3, "class": "person", "score": 0.8, "t_utc": 5.0}  # fmt: skip
    topic = "edge/v1/thumbnail"
    msgs = [(topic, wire.answer("r1", "centre", "ok", "3 chunks", **meta))]
    msgs += [(topic, c) for c in wire.chunks("r1", "centre", IMAGE, 520)]
    msgs.append((topic, wire.answer("r2", "centre", "expired", "the crops of track 3 have expired")))
    msgs.append(("edge/v1/audit", wire.audit({"t_utc": 6.0, "requester": "centre", "status": "ok", "sent": {}})))
    return msgs


def test_ingest_api_and_audit(tmp_path: Path) -> None:
    assert ("$share/g/edge/+/thumbnail", 1) in topics("g") and ("$share/g/edge/+/audit", 1) in topics("g")
    store = open_store(f"sqlite://{tmp_path}/c.db")
    ingest = Ingest(store, ("person",))
    msgs = _messages()
    ingest.handle(msgs[1:])  # chunks first, the answer later (several workers share the stream), one twice
    ingest.handle([msgs[0], msgs[2]])
    add_user(store, "olga", "operator", "op-pass")
    log = store.audit_log()
    assert any(u == "v1:centre" and a == "vehicle thumbnail request: ok" for _, u, a, _ in log)

    async def main() -> None:
        async with TestClient(TestServer(CentreApi(store).app())) as c:
            await c.post("/api/login", data={"user": "olga", "password": "op-pass"})
            answers = await (await c.get("/api/thumbnails")).json()
            by_id = {a["id"]: a for a in answers}
            assert by_id["r2"]["status"] == "expired" and not by_id["r2"]["complete"]
            assert by_id["r1"]["complete"] and by_id["r1"]["track"] == 12
            r = await c.get(by_id["r1"]["url"])
            assert r.status == 200 and r.content_type == "image/jpeg" and await r.read() == IMAGE
            assert (await c.get("/api/thumbnails/v1/centre/nope")).status == 404

    asyncio.run(main())
    viewed = [json.loads(d) for _, u, a, d in store.audit_log() if a == "view thumbnail"]
    assert viewed[0] == {"found": True, "key": ["v1", "centre", "r1"]}  # who looked at imagery is written down
