"""The ground end of the telemetry-radio uplink: a UDP MAVLink endpoint that reassembles records and acks them.

Point a MAVLink forward at it (MAVProxy ``--out udp:HOST:PORT``, mavlink-router, the firmware bridge): every
datagram is parsed by itself, TUNNEL payloads of our type (``uplink.radio_frames``) are joined into records, and
each whole record is acked with TUNNEL back to its sender (the vehicle's system and component) once the caller
has handled it. We speak as system ``system_id``, component 240 (MAV_COMP_ID_UDP_BRIDGE).
"""

from __future__ import annotations

import logging
import select
import socket
from dataclasses import dataclass
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edge.uplink import radio_frames as rf

log = logging.getLogger("edge.listen.radio")
COMPONENT = 240


@dataclass(frozen=True, slots=True)
class RadioRecord:
    """One whole record off the radio: who sent it (vehicle id, MAVLink system/component, UDP address)."""

    vehicle: str
    payload: bytes
    system: int
    component: int
    session: int
    xfer: int
    addr: tuple[str, int]


def parse_udp(url: str) -> tuple[str, int]:
    """``udp:HOST:PORT`` (or udpin:) -> (host, port); ValueError naming the option otherwise."""
    kind, _, rest = url.partition(":")
    host, _, port = rest.rpartition(":")
    if kind not in ("udp", "udpin") or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--mavlink {url!r}: expected udp:HOST:PORT (the address to listen on)")
    return host, int(port)


class RadioGround:
    """Bound UDP socket; ``read`` returns the records completed by the next datagram, ``ack`` answers one."""

    def __init__(self, url: str, system_id: int = 255) -> None:
        self.host, self.port = parse_udp(url)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.host, self.port))
        self._mav = mavlink.MAVLink(None, system_id, COMPONENT)
        self._parts = rf.Reassembler()
        self.stats = {"datagrams": 0, "frames": 0, "bytes_in": 0, "acks_out": 0, "bad": 0}

    def close(self) -> None:
        self.sock.close()

    def read(self, timeout: float) -> list[RadioRecord]:
        if not select.select([self.sock], [], [], timeout)[0]:
            return []
        data, addr = self.sock.recvfrom(65536)
        self.stats["datagrams"] += 1
        self.stats["bytes_in"] += len(data)
        parser = mavlink.MAVLink(None)  # a datagram is a unit: nothing carries over
        parser.robust_parsing = True
        out = []
        for msg in parser.parse_buffer(data) or []:
            got = self._on_message(msg, addr)
            if got is not None:
                out.append(got)
        return out

    def _on_message(self, msg: Any, addr: tuple[str, int]) -> RadioRecord | None:
        if msg.get_type() != "TUNNEL" or msg.payload_type != rf.PAYLOAD_TYPE:
            return None
        self.stats["frames"] += 1
        src = (msg.get_srcSystem(), msg.get_srcComponent())
        done = self._parts.add(src, bytes(msg.payload[: msg.payload_length]))
        if done is None:
            return None
        session, xfer, data = done
        try:
            vehicle, record = rf.split_body(data)
        except rf.FrameError as err:
            self.stats["bad"] += 1
            log.warning("radio transfer %d from system %d: %s", xfer, src[0], err)
            return None
        return RadioRecord(vehicle, record, src[0], src[1], session, xfer, addr)

    def ack(self, rec: RadioRecord) -> None:
        """Tell the vehicle we have ``rec`` (TUNNEL back through the forward it came by)."""
        for p in rf.acks(rec.session, [rec.xfer]):
            msg = mavlink.MAVLink_tunnel_message(
                rec.system, rec.component, rf.PAYLOAD_TYPE, len(p), p.ljust(rf.PAYLOAD_MAX, b"\0")
            )
            try:
                self.sock.sendto(msg.pack(self._mav), rec.addr)
                self._mav.seq = (self._mav.seq + 1) % 256
                self.stats["acks_out"] += 1
            except OSError as err:
                log.warning("radio ack to %s:%d: %s", *rec.addr, err)
