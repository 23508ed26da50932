"""Thumbnail requests from the ground station: COMMAND_LONG 31010 over a real MAVLink UDP link, real bytes back."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cbor2
import cv2
import numpy as np
import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edge.sources.mavlink import MavlinkLink
from edge.sources.settings import MavlinkSettings
from edge.thumbs.gcs import THUMBNAIL_COMMAND, attach_gcs_requests
from edge.thumbs.service import ThumbnailService
from edge.thumbs.settings import ThumbnailSettings
from edge.thumbs.store import Crop, CropKey, CropStore
from edge.types import Priority
from edge.uplink.settings import SpoolSettings
from edge.uplink.spool import Spool


@pytest.fixture
def router() -> Iterator[socket.socket]:
    """One UDP socket that speaks for the autopilot (system 1) and routes the ground station (system 255)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.05)
        yield s


def _ask(s: socket.socket, port: int, track: float, limit: float, which: int = 0) -> dict[str, Any]:
    """Send the request (with autopilot heartbeats) until the daemon's COMMAND_ACK and STATUSTEXT came back."""
    ap, gcs, rx = mavlink.MAVLink(None, 1, 1), mavlink.MAVLink(None, 255, 190), mavlink.MAVLink(None)
    hb = mavlink.MAVLink_heartbeat_message(mavlink.MAV_TYPE_QUADROTOR, 3, 0, 0, 4, 3)
    cmd = mavlink.MAVLink_command_long_message(1, 191, THUMBNAIL_COMMAND, 0, track, which, limit, 0, 0, 0, 0)
    got: dict[str, Any] = {}
    sent = False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not ("COMMAND_ACK" in got and "STATUSTEXT" in got):
        s.sendto(bytes(hb.pack(ap)), ("127.0.0.1", port))
        if not sent and got.get("HEARTBEAT"):  # the link answers us: it locked onto this address
            s.sendto(bytes(cmd.pack(gcs)), ("127.0.0.1", port))
            sent = True
        try:
            data = s.recv(65535)
        except TimeoutError:
            continue
        for msg in rx.parse_buffer(data) or []:
            if msg.get_type() != "STATUSTEXT" or msg.text.startswith("thumb"):
                got[msg.get_type()] = msg
    return got


def test_ground_station_request(tmp_path: Path, router: socket.socket) -> None:
    store = CropStore(tmp_path / "crops.sqlite", bytes(32), 1 << 20, 3600)
    img = np.full((120, 80, 3), 60, np.uint8)
    cv2.circle(img, (40, 60), 20, (0, 0, 255), -1)
    jpeg = cv2.imencode(".jpg", img)[1].tobytes()
    store.put(Crop(CropKey(9, "cam0", 3, "best"), jpeg, 1.0, "person", 0.9, (0.2, 0.2, 0.8, 0.8), (0, 0, 0.1, 0.2)))
    spool = Spool(tmp_path / "spool.sqlite", SpoolSettings())
    service = ThumbnailService(ThumbnailSettings(enabled=True), store, spool, 9, tmp_path)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as free:
        free.bind(("127.0.0.1", 0))
        udp_port = free.getsockname()[1]
    link = MavlinkLink(MavlinkSettings(url=f"udpin:127.0.0.1:{udp_port}"))
    attach_gcs_requests(link, service, ["cam0"])
    link.start()
    service.start()
    try:
        _requests(router, udp_port, spool)
    finally:
        service.stop()
        link.stop()


def _requests(router: socket.socket, udp_port: int, spool: Spool) -> None:
    got = _ask(router, udp_port, 3, 1500)
    ack = got["COMMAND_ACK"]
    assert ack.command == THUMBNAIL_COMMAND and ack.result == mavlink.MAV_RESULT_ACCEPTED
    assert (ack.target_system, ack.target_component) == (255, 190) and got["STATUSTEXT"].text.startswith("thumb: ok")
    audit = [cbor2.loads(r.payload) for r in spool.head(100) if r.prio == Priority.AUDIT]
    assert audit[0]["requester"] == "gcs:255/190" and audit[0]["via"] == "mavlink" and audit[0]["sent"]["bytes"] <= 1500
    assert sum(r.prio == Priority.IMAGE for r in spool.head(100)) >= 2  # the answer and the image's chunks

    got = _ask(router, udp_port, 4, 1500)
    assert got["COMMAND_ACK"].result == mavlink.MAV_RESULT_FAILED
    assert got["STATUSTEXT"].text.startswith("thumb: unknown")
    got = _ask(router, udp_port, float("nan"), 1500, which=5)
    assert got["COMMAND_ACK"].result == mavlink.MAV_RESULT_FAILED
    assert got["STATUSTEXT"].text.startswith("thumb: bad-request: track")
    for track, limit, field in ((1e30, 1500, "track"), (3, -5, "max_bytes"), (3, float("inf"), "max_bytes")):
        got = _ask(router, udp_port, track, limit)  # a track beyond 2^63, a negative or infinite limit
        assert got["COMMAND_ACK"].result == mavlink.MAV_RESULT_FAILED
        assert got["STATUSTEXT"].text.startswith(f"thumb: bad-request: {field}")
    statuses = [cbor2.loads(r.payload)["status"] for r in spool.head(100) if r.prio == Priority.AUDIT]
    assert statuses == ["ok", "unknown", "bad-request", "bad-request", "bad-request", "bad-request"]  # all audited
