"""Records over a MAVLink telemetry radio: how one record rides in TUNNEL payloads, and how the ground acks it.

Pure functions shared by the vehicle (``uplink.transports.mavlink_radio``) and the ground (``edge listen
--mavlink``). TUNNEL (id 385) is a common-dialect message that routers and ground stations forward untouched; our
``payload_type`` is above 32767, the range MAVLink leaves to local use. Every payload (at most 128 bytes) starts
with a kind byte and the sender's 16-bit session (random per daemon start, so fragments and acks of an earlier
run never mix with this one's)::

    data: kind=1, session u16, xfer u32, index u8, count u8, chunk (<= 119 bytes)      little-endian
    ack:  kind=2, session u16, xfer u32 * n (n <= 31)

A record's body is ``len(vehicle) u8, vehicle (UTF-8), record`` cut into ``count`` chunks (at most 255, so a body
holds at most 30,345 bytes). ``xfer`` is the spool row id (mod 2**32). The ground acks every whole body it got,
duplicates included; the vehicle deletes a row only when its ack arrives.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass

PAYLOAD_TYPE = 0xED6E  # MAV_TUNNEL_PAYLOAD_TYPE: > 32767 is a local experiment, never registered
PAYLOAD_MAX = 128
KIND_DATA, KIND_ACK = 1, 2
_DATA = struct.Struct("<BHIBB")
_ACK = struct.Struct("<BH")
CHUNK = PAYLOAD_MAX - _DATA.size  # 119
MAX_FRAGMENTS = 255
ACKS_PER_PAYLOAD = (PAYLOAD_MAX - _ACK.size) // 4  # 31


class FrameError(ValueError):
    """A payload that is not one of ours, or a body too large for one transfer."""


def body(vehicle: str, record: bytes) -> bytes:
    """What one transfer carries: the vehicle id (so the ground can dedup by vehicle, boot, seq) and the record."""
    vid = vehicle.encode()
    if len(vid) > 255:
        raise FrameError(f"vehicle id {vehicle!r} is longer than 255 bytes")
    return bytes([len(vid)]) + vid + record


def split_body(raw: bytes) -> tuple[str, bytes]:
    """``body`` undone: (vehicle, record)."""
    if not raw or len(raw) < 1 + raw[0]:
        raise FrameError("transfer shorter than its vehicle id")
    n = raw[0]
    return raw[1 : 1 + n].decode(errors="replace"), raw[1 + n :]


def fragments(session: int, xfer: int, data: bytes) -> list[bytes]:
    """``data`` cut into TUNNEL payloads (each <= 128 bytes); FrameError if it needs more than 255."""
    count = max(1, -(-len(data) // CHUNK))
    if count > MAX_FRAGMENTS:
        raise FrameError(f"{len(data)} bytes need {count} TUNNEL payloads, at most {MAX_FRAGMENTS}")
    xfer &= 0xFFFFFFFF
    return [_DATA.pack(KIND_DATA, session, xfer, i, count) + data[i * CHUNK : (i + 1) * CHUNK] for i in range(count)]


def acks(session: int, xfers: list[int]) -> list[bytes]:
    """Ack payloads for ``xfers``, 31 to a payload."""
    out = []
    for i in range(0, len(xfers), ACKS_PER_PAYLOAD):
        part = xfers[i : i + ACKS_PER_PAYLOAD]
        out.append(_ACK.pack(KIND_ACK, session) + struct.pack(f"<{len(part)}I", *part))
    return out


def parse_ack(payload: bytes) -> tuple[int, list[int]] | None:
    """(session, xfers) of an ack payload; None for anything else."""
    if len(payload) < _ACK.size or payload[0] != KIND_ACK or (len(payload) - _ACK.size) % 4:
        return None
    _, session = _ACK.unpack_from(payload)
    n = (len(payload) - _ACK.size) // 4
    return session, list(struct.unpack_from(f"<{n}I", payload, _ACK.size))


@dataclass
class _Partial:
    count: int
    chunks: dict[int, bytes]
    t: float


class Reassembler:
    """Joins data payloads into whole transfers per (sender, session, xfer); partial ones expire after ``max_age_s``."""

    def __init__(self, max_age_s: float = 30.0, max_partial: int = 1024) -> None:
        self.max_age_s = max_age_s
        self.max_partial = max_partial
        self._parts: dict[tuple[object, int, int], _Partial] = {}
        self.expired = 0

    def add(self, sender: object, payload: bytes, now: float | None = None) -> tuple[int, int, bytes] | None:
        """Take one data payload from ``sender``; (session, xfer, data) when it completes a transfer, else None."""
        if len(payload) < _DATA.size or payload[0] != KIND_DATA:
            return None
        now = time.monotonic() if now is None else now
        _, session, xfer, index, count = _DATA.unpack_from(payload)
        if count == 0 or index >= count:
            return None
        chunk = payload[_DATA.size :]
        if count == 1:
            return session, xfer, chunk
        key = (sender, session, xfer)
        part = self._parts.get(key)
        if part is None or part.count != count:
            self._expire(now)
            part = self._parts[key] = _Partial(count, {}, now)
        part.chunks[index] = chunk
        if len(part.chunks) < count:
            return None
        del self._parts[key]
        return session, xfer, b"".join(part.chunks[i] for i in range(count))

    def _expire(self, now: float) -> None:
        old = [k for k, p in self._parts.items() if now - p.t > self.max_age_s]
        if len(self._parts) - len(old) >= self.max_partial:
            old = list(self._parts)[: len(self._parts) // 2]
        for k in old:
            del self._parts[k]
        self.expired += len(old)
