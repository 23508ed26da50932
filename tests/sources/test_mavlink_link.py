"""MavlinkLink over real ptys and sockets against a scripted autopilot: garbage, bad CRCs and sequence gaps counted,
silence noticed and the link reopened, our HEARTBEAT and rate requests sent, boot time mapped onto our clock."""

from __future__ import annotations

import hashlib
import os
import socket
import time
import tty
from collections.abc import Iterator
from typing import Any

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from bench.waits import wait_for
from edge.sources.mavlink import MavlinkLink, signing_key
from edge.sources.settings import MavlinkSettings

FAST = {"heartbeat_timeout_s": 0.6, "reconnect_min_s": 0.1, "reconnect_max_s": 0.2}


class Packer:
    """Packs messages as an ArduPilot autopilot (system 1, component 1) with its own sequence numbers."""

    def __init__(self) -> None:
        self.mav = mavlink.MAVLink(None, 1, 1)

    def __call__(self, msg: Any) -> bytes:
        buf = bytes(msg.pack(self.mav))
        self.mav.seq = (self.mav.seq + 1) % 256
        return buf

    def heartbeat(self) -> bytes:
        return self(
            mavlink.MAVLink_heartbeat_message(
                mavlink.MAV_TYPE_QUADROTOR, mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, 0, 0, mavlink.MAV_STATE_ACTIVE, 3
            )
        )


@pytest.fixture
def started() -> Iterator[list[MavlinkLink]]:
    links: list[MavlinkLink] = []
    yield links
    for link in links:
        link.stop()


def test_garbage_bad_crc_and_gaps_on_a_serial_pty(started: list[MavlinkLink]) -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        link = MavlinkLink(MavlinkSettings(url=f"serial:{os.ttyname(slave)}:57600"))
        started.append(link)
        link.start()
        ap = Packer()
        assert wait_for(lambda: os.write(master, ap.heartbeat()) and link.connected), link.health()
        time.sleep(0.3)  # let the link take every heartbeat written so far
        before = dict(link.stats)
        garbage1, garbage2 = b"NOISE\x00\x11\x22", bytes(range(1, 40))  # no 0xFD/0xFE magic bytes inside
        good0 = ap.heartbeat()
        bad = bytearray(ap.heartbeat())
        bad[12] ^= 0xFF  # a payload byte: the CRC no longer matches
        good2 = ap.heartbeat()
        ap.mav.seq = (ap.mav.seq + 3) % 256  # three messages never sent
        good6 = ap.heartbeat()
        os.write(master, garbage1 + good0 + garbage2 + bytes(bad) + good2 + good6)
        assert wait_for(lambda: link.stats["messages"] - before["messages"] >= 3), link.health()
        time.sleep(0.2)
        delta = {k: link.stats[k] - before[k] for k in ("messages", "garbage_bytes", "bad_crc", "seq_lost")}
        assert delta == {"messages": 3, "garbage_bytes": len(garbage1) + len(garbage2), "bad_crc": 1, "seq_lost": 4}
        assert link.connected and link.target_system == 1
    finally:
        os.close(master)
        os.close(slave)


def test_silence_is_noticed_and_the_link_reopened(udp_port: int, started: list[MavlinkLink]) -> None:
    link = MavlinkLink(MavlinkSettings(url=f"udpin:127.0.0.1:{udp_port}", **FAST))
    started.append(link)

    def broken_listener(msg: Any, t: float) -> None:
        raise RuntimeError("a listener bug must not kill the link")

    link.add_listener(broken_listener)
    link.start()
    ap = Packer()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:

        def beat() -> bool:
            s.sendto(ap.heartbeat(), ("127.0.0.1", udp_port))
            return link.connected

        assert wait_for(beat), link.health()
        assert link.stats["listener_errors"] >= 1
        assert wait_for(lambda: link.state == "reconnecting", 5.0), link.health()  # we stopped beating
        assert link.stats["reconnects"] >= 1 and "HEARTBEAT" in link.last_error
        assert not link.send(mavlink.MAVLink_statustext_message(6, b"x")) or link.state != "connected"
        assert wait_for(beat), link.health()  # beating again: connected again
        assert link.health()["state"] == "connected"


def test_heartbeat_rate_requests_send_and_clock(udp_port: int, started: list[MavlinkLink]) -> None:
    link = MavlinkLink(MavlinkSettings(url=f"udpout:127.0.0.1:{udp_port}", attitude_hz=25.0))
    assert not link.send(mavlink.MAVLink_statustext_message(6, b"not yet")), "no connection before start"
    started.append(link)
    ap = Packer()
    parser = mavlink.MAVLink(None, 0, 0)
    got: list[Any] = []
    boot0 = time.monotonic() - 42.0  # the autopilot booted 42 s ago
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", udp_port))
        s.settimeout(0.05)
        link.start()
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and not any(m.get_type() == "STATUSTEXT" for m in got):
            try:
                data, peer = s.recvfrom(65535)
            except TimeoutError:
                continue
            for msg in parser.parse_buffer(data) or []:
                got.append(msg)
                if msg.get_type() == "TIMESYNC" and msg.tc1 == 0:  # answer like ArduPilot: boot time in ns
                    s.sendto(
                        ap(mavlink.MAVLink_timesync_message(time.monotonic_ns() - int(boot0 * 1e9), msg.ts1)), peer
                    )
            now = time.monotonic()
            boot_ms = int((now - boot0) * 1000)
            s.sendto(ap.heartbeat() + ap(mavlink.MAVLink_attitude_message(boot_ms, 0, 0, 0, 0, 0, 0)), peer)
            if len([m for m in got if m.get_type() == "TIMESYNC"]) >= 2:
                assert link.send(mavlink.MAVLink_statustext_message(6, b"hello"))
    types = {m.get_type() for m in got}
    assert {"HEARTBEAT", "COMMAND_LONG", "REQUEST_DATA_STREAM", "TIMESYNC", "STATUSTEXT"} <= types
    hb = next(m for m in got if m.get_type() == "HEARTBEAT")
    assert (hb.type, hb.get_srcComponent()) == (mavlink.MAV_TYPE_ONBOARD_CONTROLLER, 191)
    intervals = {
        int(m.param1): m.param2
        for m in got
        if m.get_type() == "COMMAND_LONG" and m.command == mavlink.MAV_CMD_SET_MESSAGE_INTERVAL
    }
    assert intervals[mavlink.MAVLINK_MSG_ID_ATTITUDE] == pytest.approx(40_000)  # 25 Hz
    assert mavlink.MAVLINK_MSG_ID_GIMBAL_DEVICE_ATTITUDE_STATUS not in intervals, "optional: asked only once offered"
    probes = {int(m.param1) for m in got if m.get_type() == "COMMAND_LONG" and m.command == 512}
    assert mavlink.MAVLINK_MSG_ID_GIMBAL_DEVICE_ATTITUDE_STATUS in probes  # MAV_CMD_REQUEST_MESSAGE, refused silently
    mapped = link.to_mono(100_000)
    assert mapped is not None and mapped == pytest.approx(boot0 + 100.0, abs=0.05)
    assert link.health()["clock_offset_s"] == pytest.approx(boot0, abs=0.05)


def test_tcp_peer_that_hangs_up_is_reconnected(started: list[MavlinkLink]) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(2)
        server.settimeout(10.0)
        port = server.getsockname()[1]
        link = MavlinkLink(MavlinkSettings(url=f"tcp:127.0.0.1:{port}", **FAST))
        started.append(link)
        link.start()
        ap = Packer()
        conn, _ = server.accept()
        conn.sendall(ap.heartbeat())
        assert wait_for(lambda: link.connected), link.health()
        conn.close()  # the autopilot side goes away
        conn2, _ = server.accept()  # ... and the link comes back on its own
        with conn2:

            def beat() -> bool:
                conn2.sendall(ap.heartbeat())
                return link.connected

            assert wait_for(beat), link.health()
        assert link.stats["reconnects"] >= 1


def test_signing_key_forms_and_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    assert signing_key("00" * 31 + "ff") == bytes(31) + b"\xff"
    assert signing_key("correct horse") == hashlib.sha256(b"correct horse").digest()
    monkeypatch.delenv("EDGE_MAVLINK_KEY", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    with pytest.raises(ValueError, match="EDGE_MAVLINK_KEY"):
        MavlinkLink(MavlinkSettings(url="udpin:127.0.0.1:14550", signing=True))


def test_signed_link_refuses_unsigned_and_signs_its_own(
    udp_port: int, started: list[MavlinkLink], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGE_MAVLINK_KEY", "border patrol passphrase")
    key = hashlib.sha256(b"border patrol passphrase").digest()
    link = MavlinkLink(MavlinkSettings(url=f"udpout:127.0.0.1:{udp_port}", signing=True))
    started.append(link)
    signed, unsigned, wrong = Packer(), Packer(), Packer()
    for p, k in ((signed, key), (wrong, bytes(32))):
        p.mav.signing.secret_key, p.mav.signing.sign_outgoing = k, True
        p.mav.signing.timestamp = int((time.time() - 1420070400) * 100_000)
    reader = mavlink.MAVLink(None, 0, 0)
    reader.signing.secret_key = key
    ours: list[Any] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", udp_port))
        s.settimeout(5.0)
        link.start()
        data, peer = s.recvfrom(65535)  # our first heartbeat tells the autopilot where we are
        s.settimeout(0.05)
        for _ in range(5):
            s.sendto(unsigned.heartbeat() + wrong.heartbeat(), peer)
        time.sleep(0.5)
        assert not link.connected
        assert link.stats["bad_signature"] == 10 and link.stats["messages"] == 0
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and not (link.connected and ours):
            s.sendto(signed.heartbeat(), peer)
            try:
                data, _ = s.recvfrom(65535)
            except TimeoutError:
                continue
            ours += reader.parse_buffer(data) or []  # raises on a bad signature; unsigned ones are refused too
    assert link.connected and ours and all(m.get_signed() for m in ours)


def signed_packer(key: bytes, ts: int | None = None) -> Packer:
    p = Packer()
    p.mav.signing.secret_key, p.mav.signing.sign_outgoing = key, True
    p.mav.signing.timestamp = ts if ts is not None else int((time.time() - 1420070400) * 100_000)
    return p


def test_a_forged_frame_dated_in_the_future_does_not_lock_the_autopilot_out(
    udp_port: int, started: list[MavlinkLink], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGE_MAVLINK_KEY", "border patrol passphrase")
    key = hashlib.sha256(b"border patrol passphrase").digest()
    link = MavlinkLink(MavlinkSettings(url=f"udpin:127.0.0.1:{udp_port}", signing=True))
    started.append(link)
    link.start()
    day = 24 * 3600 * 100_000
    forger = signed_packer(bytes(32), int((time.time() - 1420070400) * 100_000) + day)  # no key, a day ahead
    autopilot = signed_packer(key)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        # same system, component and link id as the autopilot's; sent until the link (starting up) has read one
        assert wait_for(lambda: s.sendto(forger.heartbeat(), ("127.0.0.1", udp_port)) and link.stats["bad_signature"])

        def beat() -> bool:
            s.sendto(autopilot.heartbeat(), ("127.0.0.1", udp_port))
            return link.connected

        assert wait_for(beat, 5.0), link.health()


def test_sign_mode_takes_unsigned_but_not_badly_signed_and_the_key_file(
    udp_port: int, started: list[MavlinkLink], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.delenv("EDGE_MAVLINK_KEY", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    key_file = tmp_path / "mavlink.key"
    key_file.write_text("ab" * 32 + "\n")
    key_file.chmod(0o644)
    url = f"udpin:127.0.0.1:{udp_port}"
    with pytest.raises(ValueError, match=r"mavlink.signing_key_file: .*chmod 600"):
        MavlinkLink(MavlinkSettings(url=url, signing="sign", signing_key_file=str(key_file)))
    key_file.chmod(0o600)
    link = MavlinkLink(MavlinkSettings(url=url, signing="sign", signing_key_file=str(key_file)))
    started.append(link)
    link.start()
    wrong, unsigned = signed_packer(bytes(32)), Packer()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        assert wait_for(lambda: s.sendto(wrong.heartbeat(), ("127.0.0.1", udp_port)) and link.stats["bad_signature"])
        time.sleep(0.3)
        assert not link.connected and link.stats["messages"] == 0

        def beat() -> bool:
            s.sendto(unsigned.heartbeat(), ("127.0.0.1", udp_port))
            return link.connected

        assert wait_for(beat, 5.0), link.health()
        s.settimeout(2.0)
        reader = mavlink.MAVLink(None, 0, 0)
        reader.signing.secret_key = bytes.fromhex("ab" * 32)
        msgs: list[Any] = []
        while not msgs:
            msgs = reader.parse_buffer(s.recv(65535)) or []  # raises on a bad signature, refuses unsigned
        assert msgs[0].get_signed()
