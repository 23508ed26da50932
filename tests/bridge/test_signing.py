"""MAVLink 2 signing: our signatures match pymavlink's, bad keys are refused, a require link refuses unsigned."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fwbridge.config import BridgeConfig
from fwbridge.frames import FrameParser, load_dialect
from fwbridge.signing import SigningKeyError, Verifier, load_key, now_timestamp, sign_frame
from pymavlink.dialects.v20 import ardupilotmega as mavlink

KEY = bytes(range(32))
TABLE = load_dialect()


def _frame(key: bytes | None, ts: int | None = None, sysid: int = 255):
    mav = mavlink.MAVLink(None, srcSystem=sysid, srcComponent=190)
    if key is not None:
        mav.signing.secret_key = key
        mav.signing.sign_outgoing = True
        mav.signing.timestamp = ts if ts is not None else now_timestamp()
    raw = mavlink.MAVLink_command_long_message(1, 1, 400, 0, 1, 0, 0, 0, 0, 0, 0).pack(mav)
    (frame,) = FrameParser(TABLE).feed(bytes(raw))
    return frame


@pytest.mark.parametrize(
    ("key", "ts_offset_s", "reason"),
    [
        (KEY, 0, None),
        (None, 0, "unsigned"),
        (bytes(32), 0, "bad signature"),
        (KEY, -120, "stale timestamp"),
        (KEY, 59, None),
        (KEY, 3600, "timestamp ahead"),
    ],
)
def test_verifier_table(key, ts_offset_s, reason):
    ts = now_timestamp() + int(ts_offset_s * 100_000)
    assert Verifier(KEY).check(_frame(key, ts)) == reason


def test_future_dated_frame_moves_nothing_and_new_streams_follow_the_spec():
    v = Verifier(KEY)
    now = now_timestamp()
    assert v.check(_frame(KEY, now + 3600 * 100_000, sysid=250)) == "timestamp ahead"
    assert v.check(_frame(KEY, now, sysid=251)) is None  # a new stream at the right time is not "stale"
    assert v.check(_frame(KEY, now - 30 * 100_000, sysid=252)) is None  # 30 s behind the link: a new stream
    assert v.check(_frame(KEY, now + 40 * 100_000, sysid=253)) is None  # a clock 40 s fast advances the link
    assert v.check(_frame(KEY, now - 30 * 100_000, sysid=254)) == "stale timestamp"  # 70 s behind it
    assert v.check(_frame(KEY, now - 10 * 100_000, sysid=251)) == "replayed timestamp"  # per stream: no going back


def test_replayed_frame_is_refused():
    v = Verifier(KEY)
    f = _frame(KEY)
    assert v.check(f) is None
    assert v.check(f) == "replayed timestamp"


def test_our_signature_is_accepted_by_pymavlink():
    unsigned = _frame(None).raw
    signed = sign_frame(unsigned, TABLE[76].crc_extra, KEY, 7, now_timestamp())
    rx = mavlink.MAVLink(None)
    rx.signing.secret_key = KEY
    msg = rx.decode(bytearray(signed))
    assert msg.get_type() == "COMMAND_LONG" and rx.signing.goodsig_count == 1
    assert Verifier(KEY).check(FrameParser(TABLE).feed(signed)[0]) is None


def test_future_dated_sender_locks_out_no_new_stream(tmp_path: Path, fc_factory, gcs_factory, kit):
    keyfile = tmp_path / "mav.key"
    keyfile.write_text(KEY.hex())
    keyfile.chmod(0o600)
    port = kit.free_port()
    fc = fc_factory().start()
    fc.link_to(tmp_path / "fc")
    cfg = BridgeConfig.model_validate(
        {
            "serial": {"path": str(tmp_path / "fc")},
            "endpoint": [{"name": "gcs", "port": port, "signing": "require", "key_file": str(keyfile)}],
        }
    )
    fast = gcs_factory(f"udpout:127.0.0.1:{port}", source_system=250)  # a ground station whose clock is an hour fast
    fast.setup_signing(KEY, sign_outgoing=True, initial_timestamp=now_timestamp() + 3600 * 100_000)
    later = gcs_factory(f"udpout:127.0.0.1:{port}", source_system=251)
    later.setup_signing(KEY, sign_outgoing=True)
    with kit.BridgeThread(cfg) as bridge:
        kit.wait_for(lambda: "1/1" in bridge.snapshot()["routes"].get("fc", []), 5, "autopilot seen on the serial link")
        fast.mav.command_long_send(1, 1, 400, 0, 250, 0, 0, 0, 0, 0, 0)
        kit.wait_for(lambda: bridge.snapshot()["links"]["gcs"]["signing_rejected"] == 1, 3, "future frame refused")
        later.mav.command_long_send(1, 1, 400, 0, 251, 0, 0, 0, 0, 0, 0)
        kit.wait_for(lambda: fc.got("COMMAND_LONG"), 3, "the new stream's command at the FC")
    assert [int(c.param1) for c in fc.got("COMMAND_LONG")] == [251]


def test_key_file_permissions_and_formats(tmp_path: Path):
    f = tmp_path / "key"
    f.write_text(KEY.hex() + "\n")
    os.chmod(f, 0o644)
    with pytest.raises(SigningKeyError, match=r"accessible by group/others.*chmod 600"):
        load_key(key_file=str(f))
    os.chmod(f, 0o600)
    assert load_key(key_file=str(f)) == KEY
    f.write_bytes(b"short")
    with pytest.raises(SigningKeyError, match="64 hex characters or 32 raw bytes"):
        load_key(key_file=str(f))
    cred = tmp_path / "creds"
    cred.mkdir()
    (cred / "mavkey").write_bytes(KEY)
    assert load_key(credential="mavkey", env={"CREDENTIALS_DIRECTORY": str(cred)}) == KEY
    with pytest.raises(SigningKeyError, match="credential 'other' not found"):
        load_key(credential="other", env={"CREDENTIALS_DIRECTORY": str(cred)})


def test_require_link_refuses_unsigned_and_wrong_key_sign_link_only_wrong_key(
    tmp_path: Path, fc_factory, gcs_factory, kit
):
    keyfile = tmp_path / "mav.key"
    keyfile.write_text(KEY.hex())
    keyfile.chmod(0o600)
    port, sign_port = kit.free_port(), kit.free_port()
    fc = fc_factory().start()
    fc.link_to(tmp_path / "fc")
    cfg = BridgeConfig.model_validate(
        {
            "serial": {"path": str(tmp_path / "fc")},
            "endpoint": [
                {"name": "gcs", "mode": "udp-server", "port": port, "signing": "require", "key_file": str(keyfile)},
                {"name": "lax", "mode": "udp-server", "port": sign_port, "signing": "sign", "key_file": str(keyfile)},
            ],
        }
    )
    good = gcs_factory(f"udpout:127.0.0.1:{port}", source_system=250)
    good.setup_signing(KEY, sign_outgoing=True, allow_unsigned_callback=lambda _mav, _msgid: True)
    plain = gcs_factory(f"udpout:127.0.0.1:{port}", source_system=251)
    wrong = gcs_factory(f"udpout:127.0.0.1:{port}", source_system=252)
    wrong.setup_signing(bytes(32), sign_outgoing=True)
    # on a "sign" link unsigned frames pass, badly signed ones do not
    lax_plain = gcs_factory(f"udpout:127.0.0.1:{sign_port}", source_system=253)
    lax_wrong = gcs_factory(f"udpout:127.0.0.1:{sign_port}", source_system=254)
    lax_wrong.setup_signing(bytes(32), sign_outgoing=True)
    with kit.BridgeThread(cfg) as bridge:
        kit.wait_for(lambda: "1/1" in bridge.snapshot()["routes"].get("fc", []), 5, "autopilot seen on the serial link")
        for conn in (good, plain, wrong, lax_plain, lax_wrong):
            conn.mav.heartbeat_send(6, 8, 0, 0, 0)
            conn.mav.command_long_send(1, 1, 400, 0, conn.source_system, 0, 0, 0, 0, 0, 0)
        kit.wait_for(lambda: len(fc.got("COMMAND_LONG")) >= 2, 3, "two commands at the FC")
        got = kit.collect(good, 1.2)
        links = bridge.snapshot()["links"]
    cmds = fc.got("COMMAND_LONG")
    assert sorted(int(c.param1) for c in cmds) == [250, 253]
    assert links["gcs"]["signing_rejected"] == 4  # heartbeat + command from each of the two bad senders
    assert links["lax"]["signing_rejected"] == 2  # heartbeat + command of the wrong key
    # what the bridge originates on this link is signed and verifies with the key; telemetry passes unchanged
    own = [m for m in got if m.get_srcComponent() == 241]
    assert own and all(m.get_signed() for m in own)
    assert any(m.get_type() == "GLOBAL_POSITION_INT" and not m.get_signed() for m in got)
