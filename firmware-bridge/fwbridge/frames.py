"""MAVLink 1/2 frame splitting with CRC checks, fast enough for a router (no message decoding).

A frame's bytes are kept as received so the router forwards them unchanged (signatures stay valid).
CRC_EXTRA values and the byte offsets of ``target_system``/``target_component`` come from a pymavlink
dialect module. The X.25 (CRC-16/MCRF4XX) checksum is computed in C by ``binascii.crc_hqx`` on
bit-reversed bytes: the reflected CRC of ``data`` equals the bit-reversed CCITT CRC of the bit-reversed data.
"""

from __future__ import annotations

import binascii
import importlib
import re
import struct
from dataclasses import dataclass, field

MAGIC_V1 = 0xFE
MAGIC_V2 = 0xFD
SIGNED_FLAG = 0x01  # incompat_flags bit of a MAVLink 2 frame that carries a 13-byte signature
SIGNATURE_LEN = 13
_REV8 = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))
_REV16 = [int(f"{i:016b}"[::-1], 2) for i in range(65536)]
_FMT_TOKEN = re.compile(r"(\d*)([a-zA-Z])")


def x25crc(data: bytes, extra: int | None = None) -> int:
    """MAVLink checksum (CRC-16/MCRF4XX, init 0xFFFF) of ``data`` followed by the optional CRC_EXTRA byte."""
    reg = binascii.crc_hqx(data.translate(_REV8), 0xFFFF)
    if extra is not None:
        reg = binascii.crc_hqx(_REV8[extra : extra + 1], reg)
    return _REV16[reg]


@dataclass(frozen=True, slots=True)
class MsgInfo:
    """What the router needs to know about one message id: CRC_EXTRA and target field offsets (or -1)."""

    crc_extra: int
    target_sys_ofs: int
    target_comp_ofs: int


def load_dialect(name: str = "ardupilotmega") -> dict[int, MsgInfo]:
    """Message table of the pymavlink v2 dialect ``name``; ValueError when there is no such dialect."""
    try:
        mod = importlib.import_module(f"pymavlink.dialects.v20.{name}")
    except ImportError:
        raise ValueError(f"unknown MAVLink dialect {name!r} (a module of pymavlink.dialects.v20)") from None
    table: dict[int, MsgInfo] = {}
    for msgid, cls in mod.mavlink_map.items():
        offsets: dict[str, int] = {}
        pos = 0
        tokens = _FMT_TOKEN.findall(cls.unpacker.format.lstrip("<"))
        for fname, (count, code) in zip(cls.ordered_fieldnames, tokens, strict=True):
            offsets[fname] = pos
            pos += struct.calcsize(f"<{count}{code}")
        table[msgid] = MsgInfo(cls.crc_extra, offsets.get("target_system", -1), offsets.get("target_component", -1))
    return table


@dataclass(slots=True)
class Frame:
    """One MAVLink frame as received. ``target_sys``/``target_comp`` are -1 when the message has none."""

    raw: bytes
    msgid: int
    sysid: int
    compid: int
    seq: int
    signed: bool
    target_sys: int = -1
    target_comp: int = -1

    @property
    def header_len(self) -> int:
        return 10 if self.raw[0] == MAGIC_V2 else 6

    @property
    def payload(self) -> bytes:
        return self.raw[self.header_len : self.header_len + self.raw[1]]


@dataclass(slots=True)
class ParseCounters:
    """What a parser threw away: frames with a bad checksum, unknown ids, bytes skipped while resyncing."""

    crc_errors: int = 0
    unknown_ids: int = 0
    junk_bytes: int = 0


@dataclass
class FrameParser:
    """Splits a byte stream (serial, TCP) or datagrams (UDP) into checked frames.

    Call ``feed`` with whatever bytes arrived; it returns the complete, CRC-valid frames and keeps a partial
    frame for the next call. ``reset`` drops the partial frame (after a reconnect).
    """

    table: dict[int, MsgInfo]
    counters: ParseCounters = field(default_factory=ParseCounters)
    _buf: bytearray = field(default_factory=bytearray)

    def reset(self) -> None:
        self._buf.clear()

    def feed(self, data: bytes) -> list[Frame]:
        buf = self._buf
        buf += data
        out: list[Frame] = []
        pos = 0
        n = len(buf)
        table = self.table
        while pos < n:
            magic = buf[pos]
            if magic != MAGIC_V2 and magic != MAGIC_V1:
                nxt = _next_magic(buf, pos + 1)
                self.counters.junk_bytes += nxt - pos
                pos = nxt
                continue
            if n - pos < 3:
                break
            plen = buf[pos + 1]
            signed = magic == MAGIC_V2 and bool(buf[pos + 2] & SIGNED_FLAG)
            hlen = 10 if magic == MAGIC_V2 else 6
            total = hlen + plen + 2 + (SIGNATURE_LEN if signed else 0)
            if n - pos < total:
                break
            if magic == MAGIC_V2:
                msgid = buf[pos + 7] | (buf[pos + 8] << 8) | (buf[pos + 9] << 16)
                seq, sysid, compid = buf[pos + 4], buf[pos + 5], buf[pos + 6]
            else:
                msgid = buf[pos + 5]
                seq, sysid, compid = buf[pos + 2], buf[pos + 3], buf[pos + 4]
            info = table.get(msgid)
            end = pos + hlen + plen
            if info is None:
                self.counters.unknown_ids += 1
                pos += 1  # cannot check the CRC, so it may be junk: resync from the next byte
                continue
            if x25crc(bytes(buf[pos + 1 : end]), info.crc_extra) != buf[end] | (buf[end + 1] << 8):
                self.counters.crc_errors += 1
                pos += 1
                continue
            frame = Frame(bytes(buf[pos : pos + total]), msgid, sysid, compid, seq, signed)
            base = pos + hlen
            if info.target_sys_ofs >= 0:
                frame.target_sys = buf[base + info.target_sys_ofs] if info.target_sys_ofs < plen else 0
            if info.target_comp_ofs >= 0:
                frame.target_comp = buf[base + info.target_comp_ofs] if info.target_comp_ofs < plen else 0
            out.append(frame)
            pos += total
        del buf[:pos]
        return out


def _next_magic(buf: bytearray, start: int) -> int:
    """Index of the next MAVLink start byte at or after ``start`` (len(buf) when none)."""
    a = buf.find(MAGIC_V2, start)
    b = buf.find(MAGIC_V1, start)
    if a < 0:
        return b if b >= 0 else len(buf)
    return a if b < 0 else min(a, b)
