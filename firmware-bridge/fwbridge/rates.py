"""Stream rates shared by several clients of one autopilot: the highest rate any client asked for wins.

An autopilot keeps one rate per stream (REQUEST_DATA_STREAM) and per message (MAV_CMD_SET_MESSAGE_INTERVAL) on
its serial link, and the last request wins: a ground station asking 4 Hz would undo the daemon's 20 Hz. The
bridge remembers every client's request (client = link, system, component) and forwards each request with the
highest rate (shortest interval) any client holds. ArduPilot resets the message intervals of a stream when that
stream's rate is set, so after a stream request the bridge asks again, in its own name, for the held streams
faster than an ALL request and for every held message interval. A client's stop (start_stop 0, interval 0 or
-1) withdraws its request; the others' remain.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from fwbridge.frames import MAGIC_V2, SIGNED_FLAG, Frame, x25crc

REQUEST_DATA_STREAM = mavlink.MAVLINK_MSG_ID_REQUEST_DATA_STREAM  # 66
COMMAND_LONG = mavlink.MAVLINK_MSG_ID_COMMAND_LONG  # 76
SET_MESSAGE_INTERVAL = mavlink.MAV_CMD_SET_MESSAGE_INTERVAL  # 511
STREAM_ALL = mavlink.MAV_DATA_STREAM_ALL  # 0
AUTOPILOT = mavlink.MAV_COMP_ID_AUTOPILOT1  # 1
RATE_MSG_IDS = frozenset({REQUEST_DATA_STREAM, COMMAND_LONG})
Client = tuple[str, int, int]  # link name, system id, component id of whoever asked
Pack = Callable[[mavlink.MAVLink_message], bytes]  # packs a message the bridge sends in its own name


def rewrite(raw: bytes, crc_extra: int, fmt: str, offset: int, value: float) -> bytes:
    """``raw`` with the payload field at ``offset`` (struct ``fmt``) set to ``value``; CRC redone, unsigned.

    A MAVLink 2 payload truncated of its trailing zeros is padded to reach the field and truncated again.
    """
    hlen = 10 if raw[0] == MAGIC_V2 else 6
    payload = bytearray(raw[hlen : hlen + raw[1]])
    end = offset + struct.calcsize(fmt)
    if len(payload) < end:
        payload += bytes(end - len(payload))
    struct.pack_into(fmt, payload, offset, value)
    header = bytearray(raw[:hlen])
    if raw[0] == MAGIC_V2:
        payload = bytearray(payload.rstrip(b"\0") or b"\0")
        header[2] &= ~SIGNED_FLAG
    header[1] = len(payload)
    body = bytes(header + payload)
    return body + struct.pack("<H", x25crc(body[1:], crc_extra))


class RateHold:
    """Per autopilot (target system, component): every client's stream rates (Hz) and message intervals (µs)."""

    def __init__(self, pack: Pack) -> None:
        self.pack = pack
        self._streams: dict[tuple[int, int, int], dict[Client, float]] = {}
        self._intervals: dict[tuple[int, int, int], dict[Client, float]] = {}

    def forward(self, link: str, f: Frame, crc_extra: int) -> list[tuple[bytes, int]] | None:
        """The frames (raw bytes, message id) to send where ``f`` goes, in order, when ``f`` is a rate request;
        None for anything else. The first is ``f.raw`` itself when no other client holds a higher rate, else ``f``
        rewritten (unsigned)."""
        p = f.payload
        if f.msgid == REQUEST_DATA_STREAM:
            p = p.ljust(6, b"\0")
            rate, ts, tc, stream, start = struct.unpack_from("<HBBBB", p)
            tc = tc or AUTOPILOT  # "any component" and the autopilot's own id ask the same autopilot
            held = self._hold(self._streams, (ts, tc, stream), (link, f.sysid, f.compid), rate if start else 0)
            best = int(max(held.values(), default=0))
            first = f.raw
            if best and (not start or rate != best):
                first = rewrite(rewrite(f.raw, crc_extra, "<H", 0, best), crc_extra, "<B", 5, 1)
            return [(first, f.msgid), *self._reassert(ts, tc, best if stream == STREAM_ALL else None)]
        if f.msgid == COMMAND_LONG:
            p = p.ljust(33, b"\0")
            msg_id, interval = struct.unpack_from("<ff", p)
            command, ts, tc = struct.unpack_from("<HBB", p, 28)
            if command != SET_MESSAGE_INTERVAL:
                return None
            tc = tc or AUTOPILOT
            key = (ts, tc, int(msg_id))
            held_iv = self._hold(self._intervals, key, (link, f.sysid, f.compid), interval if interval > 0 else 0)
            if not held_iv or (interval > 0 and interval <= min(held_iv.values())):
                return [(f.raw, f.msgid)]
            return [(rewrite(f.raw, crc_extra, "<f", 4, min(held_iv.values())), f.msgid)]
        return None

    @staticmethod
    def _hold(
        table: dict[tuple[int, int, int], dict[Client, float]], key: tuple[int, int, int], client: Client, value: float
    ) -> dict[Client, float]:
        """Record (value > 0) or withdraw (otherwise) ``client``'s request under ``key``; what is held now."""
        held = table.setdefault(key, {})
        if value > 0:
            held[client] = value
        else:
            held.pop(client, None)
        return held

    def _reassert(self, ts: int, tc: int, all_rate: int | None) -> list[tuple[bytes, int]]:
        """Requests in the bridge's name that a stream request just undid on the autopilot: the streams held
        faster than an ALL request's rate (``all_rate``; None for a single stream) and every held interval."""
        out: list[tuple[bytes, int]] = []
        if all_rate is not None:
            for (s, c, stream), held in self._streams.items():
                rate = int(max(held.values(), default=0))
                if (s, c) == (ts, tc) and stream != STREAM_ALL and rate > all_rate:
                    msg = mavlink.MAVLink_request_data_stream_message(ts, tc, stream, rate, 1)
                    out.append((self.pack(msg), REQUEST_DATA_STREAM))
        for (s, c, msg_id), held_iv in self._intervals.items():
            if (s, c) == (ts, tc) and held_iv:
                cmd = mavlink.MAVLink_command_long_message(
                    ts, tc, SET_MESSAGE_INTERVAL, 0, msg_id, min(held_iv.values()), 0, 0, 0, 0, 0
                )
                out.append((self.pack(cmd), COMMAND_LONG))
        return out
