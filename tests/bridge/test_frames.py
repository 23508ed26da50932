"""Frame splitting and the CRC, against pymavlink's own packing."""

from __future__ import annotations

import pytest
from fwbridge.frames import FrameParser, load_dialect, x25crc
from fwbridge.stats import seq_gap
from pymavlink.dialects.v20 import ardupilotmega as mavlink

TABLE = load_dialect()


@pytest.mark.parametrize(
    ("data", "crc"),
    [
        (b"", 0xFFFF),
        (b"123456789", 0x6F91),  # CRC-16/MCRF4XX check value
        (b"\x00", 0x0F87),
    ],
)
def test_x25crc_known_values(data, crc):
    assert x25crc(data) == crc


def _packed(msg, v1: bool = False) -> bytes:
    mav = mavlink.MAVLink(None, srcSystem=7, srcComponent=9)
    return bytes(msg.pack(mav, force_mavlink1=v1))


@pytest.mark.parametrize("v1", [False, True])
def test_targets_and_header_fields(v1):
    raw = _packed(mavlink.MAVLink_command_long_message(3, 4, 400, 0, 1, 0, 0, 0, 0, 0, 0), v1)
    (f,) = FrameParser(TABLE).feed(raw)
    assert (f.msgid, f.sysid, f.compid, f.seq, f.target_sys, f.target_comp, f.signed) == (76, 7, 9, 0, 3, 4, False)
    assert f.raw == raw


def test_truncated_zero_target_reads_as_broadcast():
    # MAVLink 2 trims trailing zero bytes of the payload: a PARAM_REQUEST_LIST for 0/0 keeps no target bytes
    raw = _packed(mavlink.MAVLink_param_request_list_message(0, 0))
    assert raw[1] == 1  # payload length after trimming (at least one byte is always kept)
    (f,) = FrameParser(TABLE).feed(raw)
    assert (f.target_sys, f.target_comp) == (0, 0)


def test_stream_split_anywhere_junk_and_bad_crc():
    hb = _packed(mavlink.MAVLink_heartbeat_message(2, 3, 0, 0, 4, 3))
    pos = _packed(mavlink.MAVLink_global_position_int_message(1, 2, 3, 4, 5, 6, 7, 8, 9))
    bad = bytearray(hb)
    bad[-1] ^= 0xFF
    stream = b"\x00junk" + hb + bytes(bad) + pos + hb[:5]
    p = FrameParser(TABLE)
    got = []
    for i in range(0, len(stream), 7):  # arbitrary chunking, as a serial port delivers it
        got += p.feed(stream[i : i + 7])
    assert [f.msgid for f in got] == [0, 33]
    assert p.counters.crc_errors == 1 and p.counters.junk_bytes >= 5
    assert [f.msgid for f in p.feed(hb[5:])] == [0]  # the partial frame completes on the next read


@pytest.mark.parametrize(("last", "seq", "lost"), [(0, 1, 0), (10, 13, 2), (255, 0, 0), (250, 4, 9), (5, 5, 0)])
def test_seq_gap(last, seq, lost):
    assert seq_gap(last, seq) == lost
