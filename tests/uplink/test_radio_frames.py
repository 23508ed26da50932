"""TUNNEL framing of records: split, reassemble (any order, across senders), acks; packed with real pymavlink."""

from __future__ import annotations

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edge.uplink import radio_frames as rf


def test_a_record_is_split_into_payloads_that_fit_and_joined_again_in_any_order() -> None:
    data = rf.body("edge-07", bytes(range(256)) * 2)  # 1 + 7 + 512 = 520 bytes -> 5 chunks of <= 119
    parts = rf.fragments(0xBEEF, 2**32 + 5, data)
    assert len(parts) == 5 and all(len(p) <= rf.PAYLOAD_MAX for p in parts)
    r = rf.Reassembler()
    got = [r.add((1, 191), p, now=0.0) for p in reversed(parts)]
    assert got[:-1] == [None] * 4
    assert got[-1] == (0xBEEF, 5, data)  # xfer is the row id mod 2**32
    assert rf.split_body(data) == ("edge-07", bytes(range(256)) * 2)


def test_fragments_of_two_senders_with_the_same_xfer_do_not_mix() -> None:
    a, b = rf.fragments(1, 9, b"a" * 200), rf.fragments(1, 9, b"b" * 200)
    r = rf.Reassembler()
    assert r.add((1, 191), a[0]) is None and r.add((2, 191), b[0]) is None
    assert r.add((2, 191), b[1]) == (1, 9, b"b" * 200)
    assert r.add((1, 191), a[1]) == (1, 9, b"a" * 200)


def test_a_partial_transfer_expires() -> None:
    r = rf.Reassembler(max_age_s=30.0)
    p = rf.fragments(1, 1, b"x" * 300)
    r.add("s", p[0], now=0.0)
    r.add("s", rf.fragments(1, 2, b"y" * 300)[0], now=31.0)  # a new transfer sweeps the old one out
    assert r.expired == 1 and r.add("s", p[1], now=31.0) is None


def test_too_large_a_record_is_refused() -> None:
    with pytest.raises(rf.FrameError):
        rf.fragments(1, 1, b"x" * (rf.CHUNK * 255 + 1))


def test_acks_round_trip_31_to_a_payload_and_other_payloads_are_not_acks() -> None:
    xfers = list(range(40))
    payloads = rf.acks(7, xfers)
    assert len(payloads) == 2 and all(len(p) <= rf.PAYLOAD_MAX for p in payloads)
    assert [x for p in payloads for x in rf.parse_ack(p)[1]] == xfers  # type: ignore[index]
    assert rf.parse_ack(rf.fragments(7, 1, b"data")[0]) is None


def test_payloads_survive_a_real_tunnel_message() -> None:
    """MAVLink 2 cuts trailing zeros off the wire; payload_length keeps a chunk that ends in zeros whole."""
    data = b"\x01\x00\x00" * 50
    mav = mavlink.MAVLink(None, 1, 191)
    r = rf.Reassembler()
    out = None
    for p in rf.fragments(3, 4, data):
        msg = mavlink.MAVLink_tunnel_message(0, 0, rf.PAYLOAD_TYPE, len(p), p.ljust(rf.PAYLOAD_MAX, b"\0"))
        (got,) = mavlink.MAVLink(None).parse_buffer(msg.pack(mav))
        assert got.payload_type == rf.PAYLOAD_TYPE
        out = r.add((got.get_srcSystem(), got.get_srcComponent()), bytes(got.payload[: got.payload_length]))
    assert out == (3, 4, data)
