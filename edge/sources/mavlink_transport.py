"""Byte transports under the MAVLink link: serial (by path or USB identity), UDP listen/send, TCP client, tlog replay.

We open sockets and ports ourselves instead of through ``pymavlink.mavutil``: mavutil's TCP connect sleeps and
prints while retrying, its serial writes block without a timeout (a stalled UART would hang ``send``), it mutates
``os.environ`` and a global dialect, and its tlog reader cannot pace a replay. pymavlink still does every byte of
MAVLink (framing, CRC, packing). Every ``read`` waits at most ``timeout`` s and returns ``(bytes, t_recv)`` with
``t_recv`` on the monotonic clock (for a tlog: the log's time mapped onto it); a dead peer raises ``OSError``
(``EOFError`` for a finished log). A datagram transport (``datagrams``) returns one whole datagram per read and
its sender in ``source``; byte streams have ``source`` None.
"""

from __future__ import annotations

import select
import socket
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import serial

from edge.sources.serial_find import UsbId, find_port, usb_ports


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A parsed ``mavlink.url``: kind in tcp, udpin, udpout, serial, usb, tlog."""

    kind: str
    address: str
    port: int = 0
    baud: int = 0

    def __str__(self) -> str:
        if self.kind in ("tcp", "udpin", "udpout"):
            return f"{self.kind}:{self.address}:{self.port}"
        return f"{self.kind}:{self.address}" + (f" @ {self.baud} baud" if self.baud else "")


def parse_url(url: str, baud: int) -> Endpoint:
    """``mavlink.url`` -> Endpoint; ValueError with what to write instead for anything else."""
    u = url.strip()
    if not u:
        raise ValueError("mavlink.url is empty")
    kind, _, rest = u.partition(":")
    if kind in ("tcp", "udpin", "udpout", "udp"):
        host, _, port = rest.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"mavlink.url {u!r}: expected {kind}:HOST:PORT")
        return Endpoint("udpin" if kind == "udp" else kind, host, int(port))
    if kind == "usb":
        UsbId.parse(rest)
        return Endpoint("usb", rest, baud=baud)
    if u.lower().endswith(".tlog"):
        path = rest if kind == "tlog" else u
        return Endpoint("tlog", path)
    if kind == "serial" or u.startswith("/"):
        path = rest if kind == "serial" else u
        head, _, tail = path.rpartition(":")
        if head and tail.isdigit():
            path, baud = head, int(tail)
        if not path:
            raise ValueError(f"mavlink.url {u!r}: expected serial:/dev/PATH[:BAUD]")
        return Endpoint("serial", path, baud=baud)
    raise ValueError(
        f"mavlink.url {u!r}: expected tcp:HOST:PORT, udpin:HOST:PORT, udpout:HOST:PORT, serial:/dev/PATH[:BAUD], "
        "usb:VID:PID[:SERIAL] or a .tlog file"
    )


class Transport(Protocol):
    datagrams: bool  # True: each read is one datagram, a unit of whole frames
    source: tuple[str, int] | None  # the sender of the last datagram read (None for byte streams)

    def read(self, timeout: float) -> tuple[bytes, float]: ...

    def write(self, buf: bytes) -> bool: ...

    def answer(self, addr: tuple[str, int]) -> None:
        """Send to ``addr`` from now on (a listening UDP socket; others have one peer and ignore it)."""

    def close(self) -> None: ...


def _wait_readable(fd: int, timeout: float) -> bool:
    return bool(select.select([fd], [], [], max(0.0, timeout))[0])


class SerialTransport:
    """A serial port (pyserial), raw 8N1; writes give up after 0.2 s."""

    datagrams = False
    source: tuple[str, int] | None = None

    def __init__(self, path: str, baud: int) -> None:
        try:
            self.port = serial.Serial(path, baud, timeout=0, write_timeout=0.2, exclusive=True)
        except (serial.SerialException, ValueError) as err:
            raise OSError(f"cannot open {path}: {err}") from None

    def read(self, timeout: float) -> tuple[bytes, float]:
        try:
            if not _wait_readable(self.port.fileno(), timeout):
                return b"", time.monotonic()
            data = self.port.read(max(1, self.port.in_waiting))
        except serial.SerialException as err:
            raise OSError(str(err)) from None
        return bytes(data), time.monotonic()

    def write(self, buf: bytes) -> bool:
        try:
            return self.port.write(buf) == len(buf)
        except serial.SerialException:  # includes SerialTimeoutException
            return False

    def answer(self, addr: tuple[str, int]) -> None:
        pass

    def close(self) -> None:
        self.port.close()


class UdpTransport:
    """``udpin``: bind and listen; ``udpout``: send to a fixed address and read what comes back.

    One read is one datagram; ``source`` is its sender. Replies go to ``peer``: for ``udpout`` the configured
    address, for ``udpin`` whichever address the link sets (it picks the autopilot; nobody before that).
    """

    datagrams = True

    def __init__(self, host: str, port: int, listen: bool) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.peer: tuple[str, int] | None = None
        self.source: tuple[str, int] | None = None
        try:
            if listen:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                self.sock.bind((host, port))
            else:
                self.peer = (socket.gethostbyname(host), port)
        except OSError:
            self.sock.close()
            raise
        self.listen = listen
        self.sock.setblocking(False)

    def read(self, timeout: float) -> tuple[bytes, float]:
        if not _wait_readable(self.sock.fileno(), timeout):
            return b"", time.monotonic()
        try:
            data, addr = self.sock.recvfrom(65535)
        except (BlockingIOError, ConnectionRefusedError):  # nobody listens at udpout's address yet
            return b"", time.monotonic()
        self.source = (str(addr[0]), int(addr[1]))
        return data, time.monotonic()

    def write(self, buf: bytes) -> bool:
        if self.peer is None:
            return False
        try:
            return self.sock.sendto(buf, self.peer) == len(buf)
        except OSError:
            return False

    def answer(self, addr: tuple[str, int]) -> None:
        if self.listen:
            self.peer = addr

    def close(self) -> None:
        self.sock.close()


class TcpTransport:
    """A TCP client (ArduPilot SITL's 5760, a telemetry server); connect waits at most 2 s."""

    datagrams = False
    source: tuple[str, int] | None = None

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=2.0)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(0.2)

    def read(self, timeout: float) -> tuple[bytes, float]:
        if not _wait_readable(self.sock.fileno(), timeout):
            return b"", time.monotonic()
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionResetError("peer closed the connection")
        return data, time.monotonic()

    def write(self, buf: bytes) -> bool:
        try:
            self.sock.sendall(buf)
        except OSError:
            return False
        return True

    def answer(self, addr: tuple[str, int]) -> None:
        pass

    def close(self) -> None:
        self.sock.close()


class TlogTransport:
    """Replays a pymavlink tlog (8-byte big-endian microseconds before each message) at ``speed`` x real time.

    ``t_recv`` of a message is the replay's start time plus its log time since the first message, whatever the
    speed (0 = as fast as possible), so stamps keep the log's spacing.
    """

    datagrams = False
    source: tuple[str, int] | None = None

    def __init__(self, path: str, speed: float) -> None:
        try:
            self.f: BinaryIO = Path(path).open("rb")  # noqa: SIM115 - closed by close()
        except OSError as err:
            raise OSError(f"cannot open tlog {path}: {err.strerror}") from None
        self.speed = speed
        self.t_start = time.monotonic()
        self.ts0: float | None = None
        self._pending: tuple[bytes, float, float] | None = None

    def read(self, timeout: float) -> tuple[bytes, float]:
        if self._pending is None:
            self._pending = self._next()
        data, t_recv, due = self._pending
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(min(wait, timeout))
            if wait > timeout:
                return b"", time.monotonic()
        self._pending = None
        return data, t_recv

    def _next(self) -> tuple[bytes, float, float]:
        """The next record: (message bytes, t_recv, when to hand it over) on the monotonic clock."""
        head = self.f.read(8)
        start = self.f.read(3)
        if len(head) < 8 or len(start) < 3:
            raise EOFError("end of log")
        ts = struct.unpack(">Q", head)[0] * 1e-6
        if start[0] == 0xFD:
            body = self.f.read(7 + start[1] + 2 + (13 if start[2] & 0x01 else 0))
        elif start[0] == 0xFE:
            body = self.f.read(3 + start[1] + 2)
        else:  # not a message: hand the bytes on, the parser counts them as garbage
            body = b""
        if self.ts0 is None:
            self.ts0 = ts
        t_recv = self.t_start + (ts - self.ts0)
        due = self.t_start + (ts - self.ts0) / self.speed if self.speed > 0 else 0.0
        return start + body, t_recv, due

    def write(self, buf: bytes) -> bool:
        return False

    def answer(self, addr: tuple[str, int]) -> None:
        pass

    def close(self) -> None:
        self.f.close()


def open_transport(ep: Endpoint, replay_speed: float) -> Transport:
    """Open the endpoint; OSError with a readable reason when it cannot be opened now."""
    if ep.kind == "tcp":
        return TcpTransport(ep.address, ep.port)
    if ep.kind in ("udpin", "udpout"):
        return UdpTransport(ep.address, ep.port, listen=ep.kind == "udpin")
    if ep.kind == "serial":
        return SerialTransport(ep.address, ep.baud)
    if ep.kind == "usb":
        usb = UsbId.parse(ep.address)
        path = find_port(usb)
        if path is None:
            present = "; ".join(usb_ports()) or "none"
            raise OSError(f"no USB serial port {usb} (USB serial ports present: {present})")
        return SerialTransport(path, ep.baud)
    if ep.kind == "tlog":
        return TlogTransport(ep.address, replay_speed)
    raise ValueError(f"unknown endpoint kind {ep.kind}")
