"""Only trusted senders hear the flight controller: fuzzing ports get nothing, strangers cannot command it."""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path

from fwbridge.config import BridgeConfig
from fwbridge.signing import now_timestamp
from pymavlink.dialects.v20 import ardupilotmega as mavlink

KEY = bytes(range(32))


def _frames(rng: random.Random, signed_key: bytes | None, whole: bool) -> list[bytes]:
    """What a fuzzer sends: random bytes, frames with one byte changed, a start byte and junk, and with
    ``whole`` the frame itself (unsigned or signed with ``signed_key``), which a ``require`` link must not trust."""
    mav = mavlink.MAVLink(None, srcSystem=rng.randrange(2, 250), srcComponent=190)
    if signed_key is not None:
        mav.signing.secret_key = signed_key
        mav.signing.sign_outgoing = True
        mav.signing.timestamp = now_timestamp()
    hb = bytes(mavlink.MAVLink_heartbeat_message(6, 8, 0, 0, 0, 3).pack(mav))
    out = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))]
    broken = bytearray(hb)
    i = rng.randrange(1, len(broken))
    broken[i] ^= rng.randrange(1, 256)
    out.append(bytes(broken))
    out.append(b"\xfd" + bytes(rng.randrange(256) for _ in range(40)))
    if whole:
        out.append(hb)
    return out


def test_fuzzing_ports_get_no_telemetry_and_a_real_peer_does(tmp_path: Path, fc_factory, gcs_factory, kit):
    keyfile = tmp_path / "mav.key"
    keyfile.write_text(KEY.hex())
    keyfile.chmod(0o600)
    fc = fc_factory(pos_hz=20).start()
    fc.link_to(tmp_path / "fc")
    signed_port, open_port = kit.free_port(), kit.free_port()
    cfg = BridgeConfig.model_validate(
        {
            "serial": {"path": str(tmp_path / "fc")},
            "endpoint": [
                {"name": "gcs", "port": signed_port, "signing": "require", "key_file": str(keyfile)},
                {"name": "open", "port": open_port},
            ],
        }
    )
    good = gcs_factory(f"udpout:127.0.0.1:{signed_port}", source_system=250)
    good.setup_signing(KEY, sign_outgoing=True, allow_unsigned_callback=lambda _mav, _msgid: True)
    plain = gcs_factory(f"udpout:127.0.0.1:{open_port}", source_system=251)
    rng = random.Random(14)
    fuzzers = []
    for i in range(200):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        # on the require link: garbage, unsigned and wrongly signed frames; on the open link: garbage only
        fuzzers.append((s, signed_port if i % 2 else open_port, bytes(32) if i % 4 == 1 else None))
    try:
        with kit.BridgeThread(cfg) as bridge:
            kit.wait_for(lambda: bridge.serial is not None and bridge.serial.up, 5, "serial open")
            end = time.monotonic() + 2.0
            sent = 0
            while time.monotonic() < end:
                for s, port, key in fuzzers:
                    for data in _frames(rng, key, whole=port == signed_port):
                        s.sendto(data, ("127.0.0.1", port))
                        sent += 1
                time.sleep(0.05)
            got_good = kit.collect(good, 1.0)
            got_plain = kit.collect(plain, 1.0)
            links = bridge.snapshot()["links"]
        heard = {}
        for s, _, _ in fuzzers:
            n = 0
            while True:
                try:
                    s.recv(65535)
                except BlockingIOError:
                    break
                n += 1
            if n:
                heard[s.getsockname()[1]] = n
    finally:
        for s, _, _ in fuzzers:
            s.close()
    assert sent > 2000
    assert heard == {}, f"{sum(heard.values())} datagrams went to {len(heard)} fuzzing ports"
    for got in (got_good, got_plain):
        assert [m for m in got if m.get_type() == "GLOBAL_POSITION_INT"], "a real peer gets telemetry"
    assert links["gcs"]["peers"] == 1 and links["open"]["peers"] == 1
    assert links["gcs"]["signing_rejected"] > 100 and links["open"]["crc_errors"] > 100


def test_udp_client_binds_the_route_and_takes_only_its_peer(tmp_path: Path, fc_factory, gcs_factory, kit):
    fc = fc_factory().start()
    fc.link_to(tmp_path / "fc")
    gcs_port = kit.free_port()
    cfg = BridgeConfig.model_validate(
        {
            "serial": {"path": str(tmp_path / "fc")},
            "endpoint": [{"name": "radio", "mode": "udp-client", "address": "127.0.0.1", "port": gcs_port}],
        }
    )
    gcs = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    gcs.bind(("127.0.0.1", gcs_port))
    gcs.settimeout(3)
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger.bind(("127.0.0.1", 0))
    gcs_mav = mavlink.MAVLink(None, srcSystem=255, srcComponent=190)
    evil_mav = mavlink.MAVLink(None, srcSystem=254, srcComponent=190)
    try:
        with kit.BridgeThread(cfg) as bridge:
            kit.wait_for(lambda: "1/1" in bridge.snapshot()["routes"].get("fc", []), 5, "autopilot seen")
            _, bridge_addr = gcs.recvfrom(65535)  # the bridge's telemetry tells anyone on the path its port
            link = next(lk for lk in bridge.router.links if lk.name == "radio")
            bound = link.sock.getsockname()
            for _ in range(5):
                evil = mavlink.MAVLink_command_long_message(1, 1, 400, 0, 666, 0, 0, 0, 0, 0, 0).pack(evil_mav)
                stranger.sendto(bytes(evil), bridge_addr)
            gcs.sendto(
                bytes(mavlink.MAVLink_command_long_message(1, 1, 400, 0, 250, 0, 0, 0, 0, 0, 0).pack(gcs_mav)),
                bridge_addr,
            )
            kit.wait_for(lambda: fc.got("COMMAND_LONG"), 3, "the peer's command at the FC")
            time.sleep(0.3)
            stats = bridge.snapshot()["links"]["radio"]
    finally:
        gcs.close()
        stranger.close()
    assert bound[0] == "127.0.0.1", bound  # the interface that routes to the peer, not 0.0.0.0
    assert [int(c.param1) for c in fc.got("COMMAND_LONG")] == [250]
    assert stats["drop_stranger"] == 5
