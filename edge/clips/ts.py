"""A small MPEG-TS muxer for one H.264 video stream and one KLV metadata stream, and an Annex B access-unit splitter.

Layout: PAT (PID 0) -> program 1, PMT on PID 0x1000; video PID 0x100 (stream type 0x1B H.264 or 0x24 H.265, the
PCR PID); KLV PID
0x101 (stream type 0x06 with the registration descriptor 'KLVA', as FFmpeg writes SMPTE KLV; PES private_stream_1
with a PTS equal to its frame's). Each frame is written as its video PES then its KLV PES, so a file cut at a frame
boundary is whole; ``tables()`` starts each segment so every segment is readable alone. Times: 90 kHz, mod 2**33.
"""

from __future__ import annotations

import itertools

PAT_PID, PMT_PID, VIDEO_PID, KLV_PID = 0x0000, 0x1000, 0x0100, 0x0101
TS_SIZE = 188
CLOCK_HZ = 90_000
PCR_LEAD = 9_000  # the PCR runs 0.1 s ahead of presentation: the decoder's buffering delay
STREAM_TYPE = {"h264": 0x1B, "hevc": 0x24}
AUD = {"h264": 9, "hevc": 35}  # access unit delimiter NAL types


def _crc32_mpeg(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
    return crc


def _section(table_id: int, ext: int, body: bytes) -> bytes:
    """A PSI section with its header and CRC (section_syntax_indicator 1, version 0, current)."""
    length = 5 + len(body) + 4
    head = bytes([table_id, 0xB0 | (length >> 8), length & 0xFF, ext >> 8, ext & 0xFF, 0xC1, 0, 0])
    sec = head + body
    return sec + _crc32_mpeg(sec).to_bytes(4, "big")


def _pts_bytes(marker: int, pts: int) -> bytes:
    pts &= (1 << 33) - 1
    return bytes(
        [
            (marker << 4) | ((pts >> 29) & 0x0E) | 1,
            (pts >> 22) & 0xFF,
            ((pts >> 14) & 0xFE) | 1,
            (pts >> 7) & 0xFF,
            ((pts << 1) & 0xFE) | 1,
        ]
    )


def _pcr_bytes(pcr_base: int) -> bytes:
    base = pcr_base & ((1 << 33) - 1)
    return bytes([base >> 25 & 0xFF, base >> 17 & 0xFF, base >> 9 & 0xFF, base >> 1 & 0xFF, (base & 1) << 7 | 0x7E, 0])


class TsMuxer:
    """Turns frames (an H.264 access unit, its KLV packet, its PTS) into 188-byte TS packets; keeps the continuity
    counters across calls, so consecutive segments concatenate into one stream."""

    def __init__(self, codec: str = "h264") -> None:
        self._cc: dict[int, int] = {}
        self.codec = codec

    def tables(self) -> bytes:
        """PAT and PMT (two TS packets)."""
        pat = _section(0x00, 1, bytes([0x00, 0x01, 0xE0 | (PMT_PID >> 8), PMT_PID & 0xFF]))
        klva = bytes([0x05, 4]) + b"KLVA"  # registration descriptor
        streams = bytes([STREAM_TYPE[self.codec], 0xE0 | (VIDEO_PID >> 8), VIDEO_PID & 0xFF, 0xF0, 0x00])
        streams += bytes([0x06, 0xE0 | (KLV_PID >> 8), KLV_PID & 0xFF, 0xF0, len(klva)]) + klva
        pmt_body = bytes([0xE0 | (VIDEO_PID >> 8), VIDEO_PID & 0xFF, 0xF0, 0x00]) + streams
        pmt = _section(0x02, 1, pmt_body)
        return self._packets(PAT_PID, b"\x00" + pat, None) + self._packets(PMT_PID, b"\x00" + pmt, None)

    def frame(self, access_unit: bytes, klv: bytes | None, pts: int) -> bytes:
        """TS packets of one frame: the video PES (PCR in its first packet) and, when given, the KLV PES."""
        video = b"\x00\x00\x01\xe0\x00\x00\x80\x80\x05" + _pts_bytes(2, pts) + access_unit  # length 0: unbounded
        out = self._packets(VIDEO_PID, video, pts - PCR_LEAD)
        if klv:
            head = b"\x80\x80\x05" + _pts_bytes(2, pts)
            size = len(head) + len(klv)
            out += self._packets(KLV_PID, b"\x00\x00\x01\xbd" + size.to_bytes(2, "big") + head + klv, None)
        return out

    def _packets(self, pid: int, payload: bytes, pcr: int | None) -> bytes:
        """``payload`` (a PES or a pointer field + section) cut into TS packets, the last one stuffed through its
        adaptation field; ``pcr`` (90 kHz) goes in the first packet's adaptation field."""
        out = bytearray()
        pos = 0
        while pos < len(payload):
            cc = self._cc.get(pid, 0)
            self._cc[pid] = (cc + 1) & 0x0F
            left = len(payload) - pos
            if pos == 0 and pcr is not None:
                fields = b"\x10" + _pcr_bytes(pcr)  # flags: PCR present
                take = min(TS_SIZE - 5 - len(fields), left)
                stuffing = TS_SIZE - 5 - len(fields) - take
                adapt = bytes([len(fields) + stuffing]) + fields + b"\xff" * stuffing
            elif left >= TS_SIZE - 4:
                take, adapt = TS_SIZE - 4, b""
            else:
                take, space = left, TS_SIZE - 4 - left
                adapt = b"\x00" if space == 1 else bytes([space - 1, 0]) + b"\xff" * (space - 2)
            control = 0x30 if adapt else 0x10
            head = bytes([0x47, (0x40 if pos == 0 else 0) | (pid >> 8), pid & 0xFF, control | cc])
            out += head + adapt + payload[pos : pos + take]
            pos += take
        return bytes(out)


def nal_units(data: bytes, codec: str = "h264") -> list[tuple[int, int]]:
    """(start, nal type) of each NAL unit in Annex B ``data``; start is the offset of its start code."""
    found = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0 and i + 3 < len(data):
        start = i - 1 if i > 0 and data[i - 1] == 0 else i
        head = data[i + 3]
        found.append((start, head & 0x1F if codec == "h264" else (head >> 1) & 0x3F))
        i = data.find(b"\x00\x00\x01", i + 3)
    return found


class AccessUnits:
    """Splits an H.264 or H.265 Annex B byte stream with access unit delimiters (FFmpeg's ``h264_metadata=aud=insert``,
    ``hevc_metadata=aud=insert``) into access units: ``feed`` returns the units completed so far, ``flush`` the last
    one."""

    def __init__(self, codec: str = "h264") -> None:
        self._buf = b""
        self.codec = codec

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        starts = [pos for pos, kind in nal_units(self._buf, self.codec) if kind == AUD[self.codec]]
        units = [self._buf[a:b] for a, b in itertools.pairwise(starts)]
        if len(starts) >= 2:
            self._buf = self._buf[starts[-1] :]
        return units

    def flush(self) -> bytes:
        unit, self._buf = self._buf, b""
        return unit


def is_keyframe(unit: bytes, codec: str = "h264") -> bool:
    """True when the access unit can start a segment: an H.264 IDR slice (type 5), an H.265 IRAP picture (16-23)."""
    kinds = [kind for _, kind in nal_units(unit, codec)]
    return 5 in kinds if codec == "h264" else any(16 <= k <= 23 for k in kinds)
