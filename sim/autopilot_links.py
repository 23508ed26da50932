"""The simulated vehicle's side of its links: a serial pseudo-terminal, UDP (send or listen) and a TCP server.

Every link is non-blocking: ``write`` drops what cannot go now (a real UART overruns the same way) and
``read`` returns whatever arrived, as ``(peer_key, bytes)`` pairs so each peer gets its own MAVLink parser.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import tty
from typing import Protocol


class Link(Protocol):
    name: str

    def fds(self) -> list[int]: ...

    def read(self) -> list[tuple[object, bytes]]: ...

    def write(self, buf: bytes) -> None: ...

    def close(self) -> None: ...


class PtyLink:
    """A pseudo-terminal in raw mode; the other side opens ``path`` (e.g. /dev/pts/7) like a serial port.

    We keep the slave end open too, so the terminal lives while readers come and go.
    """

    def __init__(self) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self._slave)
        self.name = f"pty {self.path}"
        self.dropped_bytes = 0

    def fds(self) -> list[int]:
        return [self.master]

    def read(self) -> list[tuple[object, bytes]]:
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return []
        except OSError as err:  # EIO: no reader has the slave open (cannot happen while we hold it)
            if err.errno == errno.EIO:
                return []
            raise
        return [(self.path, data)] if data else []

    def write(self, buf: bytes) -> None:
        try:
            n = os.write(self.master, buf)
        except BlockingIOError:
            n = 0
        self.dropped_bytes += len(buf) - n

    def close(self) -> None:
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class UdpLink:
    """``udpout:HOST:PORT`` sends there (and reads replies); ``udpin:HOST:PORT`` listens and answers every peer."""

    def __init__(self, host: str, port: int, listen: bool) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.peers: set[tuple[str, int]] = set()
        if listen:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((host, port))
        else:
            self.peers.add((socket.gethostbyname(host), port))
        self.listen = listen
        self.name = f"{'udpin' if listen else 'udpout'}:{host}:{port}"

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def fds(self) -> list[int]:
        return [self.sock.fileno()]

    def read(self) -> list[tuple[object, bytes]]:
        out: list[tuple[object, bytes]] = []
        while True:
            try:
                data, addr = self.sock.recvfrom(65535)
            except (BlockingIOError, ConnectionRefusedError):
                return out
            if self.listen:
                self.peers.add(addr)
            out.append((addr, data))

    def write(self, buf: bytes) -> None:
        for peer in list(self.peers):
            with contextlib.suppress(OSError):
                self.sock.sendto(buf, peer)

    def close(self) -> None:
        self.sock.close()


class TcpServerLink:
    """``tcpin:HOST:PORT``: a TCP server like SITL's 5760; every connected client gets every message."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(4)
        self.sock.setblocking(False)
        self.clients: list[socket.socket] = []
        self.name = f"tcpin:{host}:{self.port}"

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def fds(self) -> list[int]:
        return [self.sock.fileno()] + [c.fileno() for c in self.clients]

    def read(self) -> list[tuple[object, bytes]]:
        with contextlib.suppress(BlockingIOError):
            conn, _ = self.sock.accept()
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.clients.append(conn)
        out: list[tuple[object, bytes]] = []
        for c in list(self.clients):
            try:
                data = c.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data:
                out.append((c.fileno(), data))
            else:
                self._drop(c)
        return out

    def write(self, buf: bytes) -> None:
        for c in list(self.clients):
            try:
                c.send(buf)  # a client that cannot keep up loses messages (and resyncs on the next magic byte)
            except BlockingIOError:
                continue
            except OSError:
                self._drop(c)

    def _drop(self, c: socket.socket) -> None:
        self.clients.remove(c)
        c.close()

    def close(self) -> None:
        for c in self.clients:
            c.close()
        self.clients.clear()
        self.sock.close()


def open_link(url: str) -> Link:
    """``pty``, ``udpout:HOST:PORT``, ``udpin:HOST:PORT`` or ``tcpin:HOST:PORT`` -> a link; ValueError otherwise."""
    if url == "pty":
        return PtyLink()
    kind, _, rest = url.partition(":")
    host, _, port = rest.rpartition(":")
    if kind in ("udpout", "udpin", "tcpin") and host and port.isdigit():
        if kind == "tcpin":
            return TcpServerLink(host, int(port))
        return UdpLink(host, int(port), listen=kind == "udpin")
    raise ValueError(f"autopilot link {url!r}: expected pty, udpout:HOST:PORT, udpin:HOST:PORT or tcpin:HOST:PORT")
