"""MavlinkLink on a UDP input, real sockets: a datagram is parsed by itself (random datagrams beside the autopilot
lose none of its frames), the link locks onto the first autopilot's address (a spoofer with valid CRCs from
another port is ignored, counted and logged, and gets nothing back) until that autopilot falls silent, and a
TIMESYNC request that comes before the autopilot's HEARTBEAT is answered."""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edge.sources.mavlink import MavlinkLink
from edge.sources.settings import MavlinkSettings

sys.path.insert(0, str(Path(__file__).parent))
from ardupilot_stub import ArduPilotStub

from bench.waits import wait_for

POS = mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT


def positions(link: MavlinkLink) -> list[Any]:
    got: list[Any] = []
    link.add_listener(lambda msg, t: got.append(msg) if msg.get_type() == "GLOBAL_POSITION_INT" else None)
    return got


def test_random_datagrams_beside_the_autopilot_lose_none_of_its_frames(udp_port: int, cleanup: list[Any]) -> None:
    link = MavlinkLink(MavlinkSettings(url=f"udpin:127.0.0.1:{udp_port}", position_hz=40.0, attitude_hz=20.0))
    got = positions(link)
    cleanup.append(link)
    link.start()
    # four random datagrams (1-280 bytes) after every autopilot frame, from the autopilot's own socket: ~250
    # datagrams and ~35 kB a second, a million random bytes in half a minute
    ap = ArduPilotStub(udp_port, rates={POS: 40.0, mavlink.MAVLINK_MSG_ID_ATTITUDE: 20.0}, garbage=4)
    cleanup.append(ap.start())
    assert wait_for(lambda: link.connected), link.health()
    # the link hands the autopilot's messages on from its first HEARTBEAT (until then it knows no target): the
    # positions sent before it are not counted (CI, 4 Dec: the link heard the second HEARTBEAT, 1 s in, and 400 of
    # 440 counted from the stub's start were read)
    before = ap.sent.get(POS, 0)
    time.sleep(10.0)
    ap.beating = False  # stop sending, then let the link read what is queued
    time.sleep(0.5)
    sent = ap.sent[POS] - before
    health = link.health()
    assert ap.garbage_sent > 2000
    print(f"{len(got)} of {sent} positions read beside {ap.garbage_sent} random datagrams ({ap.garbage_bytes} B)")
    assert health["reconnects"] == 0 and link.connected, health
    assert len(got) >= 0.99 * sent, f"{len(got)} of {sent} positions read; {health}"


def test_a_spoofer_on_another_port_is_ignored_until_the_autopilot_falls_silent(
    udp_port: int, cleanup: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    link = MavlinkLink(MavlinkSettings(url=f"udpin:127.0.0.1:{udp_port}", heartbeat_timeout_s=1.5, reconnect_min_s=0.1))
    got = positions(link)
    cleanup.append(link)
    link.start()
    ap = ArduPilotStub(udp_port, rates={POS: 10.0})
    cleanup.append(ap.start())
    assert wait_for(lambda: link.connected and len(got) > 3), link.health()
    # the spoofer: same system and component, valid CRCs, its own port; a position 1 km away; also system 7
    spoof, spoof7 = mavlink.MAVLink(None, 1, 1), mavlink.MAVLink(None, 7, 1)
    fake = mavlink.MAVLink_global_position_int_message(1, 474_067_000, 85_000_000, 500_000, 50_000, 0, 0, 0, 0)
    hb = mavlink.MAVLink_heartbeat_message(2, 3, 0, 0, 4, 3)
    with caplog.at_level(logging.WARNING), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.01)
        replies = 0
        for _ in range(100):
            for packer in (spoof, spoof7):
                s.sendto(bytes(hb.pack(packer)) + bytes(fake.pack(packer)), ("127.0.0.1", udp_port))
                s.sendto(bytes(fake.pack(packer)), ("127.0.0.1", udp_port))
            with contextlib.suppress(TimeoutError):
                replies += len(s.recv(65535)) > 0
        assert all(m.lat == 473_977_000 for m in got), "a spoofed position reached the pose"
        assert replies == 0, "we answered the spoofer"
        health = link.health()
        assert health["peer"] == "{}:{}".format(*ap.address)
        assert health["foreign_datagrams"] == 400 and health["reconnects"] == 0, health
        warnings = [r.getMessage() for r in caplog.records if "ignoring datagrams from" in r.getMessage()]
        assert 1 <= len(warnings) <= 2, warnings  # said, not once per datagram
        assert str(s.getsockname()[1]) in warnings[0]
        # the autopilot falls silent: after the timeout the link may lock onto whoever beats now
        ap.beating = False

        def spoofer_beats() -> bool:
            s.sendto(bytes(hb.pack(spoof)), ("127.0.0.1", udp_port))
            return link.connected and link.health()["peer"] == "{}:{}".format(*s.getsockname())

        assert wait_for(spoofer_beats, 10.0), link.health()
    assert link.stats["reconnects"] >= 1


def test_timesync_request_before_the_heartbeat_is_answered(udp_port: int, cleanup: list[Any]) -> None:
    link = MavlinkLink(MavlinkSettings(url=f"udpin:127.0.0.1:{udp_port}"))
    cleanup.append(link)
    link.start()
    time.sleep(0.2)
    ap = ArduPilotStub(udp_port, timesync_first=True)  # ArduPilot asks for our time before its first HEARTBEAT
    cleanup.append(ap.start())
    assert wait_for(lambda: any(m.ts1 == 123_456_789 for m in ap.timesync_replies), 3.0), ap.received
    reply = next(m for m in ap.timesync_replies if m.ts1 == 123_456_789)
    assert reply.tc1 > 0
