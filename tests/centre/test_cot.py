"""CoT events built with pytak, read back by takproto; the TCP sender reconnects after the server went away."""

from __future__ import annotations

import socket

import pytest
import takproto

from centre.cot import CotSender, is_cot, parse_url, sighting_cot

SIGHTING = {
    "id": "mss-a-0000abcd-cam0-7",
    "class": "person",
    "lat": 48.1234567,
    "lon": 17.7654321,
    "error_m": 4.25,
    "n_sensors": 2,
    "members": ["mss-a/0000abcd/cam0/7", "mss-b/00001234/cam0/3"],
}


def test_a_sighting_becomes_a_cot_event_tak_can_read() -> None:
    ev = sighting_cot(SIGHTING, stale_s=60)
    root = is_cot(ev)
    assert root.get("uid") == "edge-centre-mss-a-0000abcd-cam0-7" and root.get("type") == "a-u-G-U"
    msg = takproto.parse_proto(ev).cotEvent
    assert (msg.lat, msg.lon, msg.ce) == (pytest.approx(48.1234567), pytest.approx(17.7654321), pytest.approx(4.2))
    assert "seen by 2 sensor(s): mss-a, mss-b" in ev.decode()


def test_bad_urls_are_refused() -> None:
    with pytest.raises(ValueError, match="udp://HOST:PORT or tcp://HOST:PORT"):
        parse_url("http://x:1")


def test_tcp_sender_reconnects_after_the_server_went_away() -> None:
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    sender = CotSender(f"tcp://127.0.0.1:{port}")
    assert sender.send(sighting_cot(SIGHTING, 60))
    conn, _ = srv.accept()
    conn.settimeout(5)
    assert b"<event" in conn.recv(65536)
    conn.close()
    srv.close()
    for _ in range(3):  # the first send after a close may still be buffered by the kernel
        sender.send(sighting_cot(SIGHTING, 60))
    assert sender.dropped >= 1
    srv = socket.create_server(("127.0.0.1", port))
    assert sender.send(sighting_cot(SIGHTING, 60))
    conn, _ = srv.accept()
    conn.settimeout(5)
    assert b"edge-centre-mss-a" in conn.recv(65536)
    conn.close()
    srv.close()
    sender.close()
