"""Thumbnails sent on request show on the console: pushed to pages, listed in the state, served (bounded)."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path

from edge.console.hub import MAX_THUMBNAILS, ConsoleHub
from edge.console.server import ConsoleServer
from edge.console.settings import ConsoleSettings

JPEG = b"\xff\xd8" + b"x" * 100 + b"\xff\xd9"


def _get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path)
    r = conn.getresponse()
    return r.status, r.read()


def test_hub_pushes_and_keeps_the_newest() -> None:
    hub = ConsoleHub()
    for track in range(MAX_THUMBNAILS + 3):
        hub.thumbnail({"camera": "cam0", "track": track, "requester": "centre", "bytes": len(JPEG)}, JPEG)
    out = [d for kind, d in hub.drain() if kind == "thumbnail"]  # the inbox is bounded too: the newest
    assert [d["track"] for d in out] == list(range(3, MAX_THUMBNAILS + 3)) and out[0]["url"] == "/api/thumbnail/1"
    hub.thumbnail({"camera": "cam0", "track": 99}, JPEG)
    hub.drain()
    assert len(hub.thumbnails) == MAX_THUMBNAILS and min(hub.thumbnails) == 2  # the oldest went


def test_served_and_in_the_state(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    hub = ConsoleHub()
    srv = ConsoleServer(ConsoleSettings(enabled=True, port=port), hub, tmp_path, {})
    srv.start()
    try:
        hub.thumbnail({"camera": "cam0", "track": 7, "requester": "centre", "bytes": len(JPEG)}, JPEG)
        hub.drain()
        _, body = _get(port, "/api/state")
        (thumb,) = json.loads(body)["thumbnails"]
        assert thumb["track"] == 7 and thumb["requester"] == "centre"
        assert _get(port, thumb["url"]) == (200, JPEG)
        assert _get(port, "/api/thumbnail/99")[0] == 404
    finally:
        srv.stop()
