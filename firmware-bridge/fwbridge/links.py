"""Links the router sends to and receives from: the base class and the network endpoints.

A link owns its socket(s), parses what arrives into frames and hands them to ``deliver``; ``output`` applies
the link's filters and rate limit before writing. Links that fail are reopened with exponential backoff by
``poll``; a failing link never stops the bridge.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable

from edge.ops.backoff import Backoff
from edge.ops.budget import HIGH, LOW, NORMAL, LinkBudget
from fwbridge.config import EndpointSettings, LinkSettings
from fwbridge.frames import MAGIC_V2, Frame, FrameParser, MsgInfo
from fwbridge.loop import Loop
from fwbridge.signing import Signer, Verifier
from fwbridge.stats import LinkStats

log = logging.getLogger("fwbridge")
Deliver = Callable[["Link", list[Frame]], int]  # returns how many frames were trusted (valid and, where needed, signed)
MAX_PENDING = 256 * 1024  # bytes queued for a stream link before new frames are dropped
UDP_BATCH = 64  # datagrams read per readiness event, for fairness between links
MAX_HELD = 64  # alerts held for a rate-limited link (about 0.7 s of a 57,600-baud radio); more are dropped
STATUSTEXT_ID = 253


def link_backoff(s: LinkSettings) -> Backoff:
    """The house reconnect schedule (``edge.ops.backoff``) on a link's keys: the first retry after
    ``reconnect_min_s`` (jittered), doubling up to ``reconnect_max_s``."""
    return Backoff(min(s.reconnect_min_s, s.reconnect_max_s), s.reconnect_max_s, first_s=s.reconnect_min_s)


class Link:
    """One routable link. Subclasses implement ``_open``, ``_close`` and ``_write``."""

    reopens = True  # False for links that live once (an accepted TCP client)

    def __init__(
        self, settings: LinkSettings, loop: Loop, table: dict[int, MsgInfo], deliver: Deliver, name: str = ""
    ) -> None:
        s = settings
        self.settings = s
        self.name = name or s.name
        self.loop = loop
        self.deliver = deliver
        self.parser = FrameParser(table)
        self.stats = LinkStats()
        self.budget = LinkBudget(s.msgs_per_s, s.bytes_per_s, s.burst_s, time.monotonic())
        self._allow_out, self._block_out = frozenset(s.allow_out_ids), frozenset(s.block_out_ids)
        self._allow_in, self._block_in = frozenset(s.allow_in_ids), frozenset(s.block_in_ids)
        self._high, self._low = frozenset(s.high_priority_ids), frozenset(s.low_priority_ids)
        self._low_comp = frozenset(s.low_priority_components)
        self._alert_ids = frozenset(s.alert_ids)
        self._held: deque[bytes] = deque()  # alerts waiting for the rate limit's tokens, oldest first
        self.verifier: Verifier | None = None
        self.signer: Signer | None = None
        self.last_seq: dict[tuple[int, int], int] = {}
        self.up = False
        self._backoff = link_backoff(s)
        self._next_open = 0.0

    # lifecycle -------------------------------------------------------------------------------------------
    def poll(self, now: float) -> None:
        """Open the link if it is down and its backoff has passed."""
        if self.up or not self.reopens or now < self._next_open:
            return
        try:
            self._open()
        except OSError as err:
            self._retry_later(str(err), now)
            return
        self.up = True
        self.parser.reset()
        if self._established():
            self._connected()

    def _established(self) -> bool:
        """Whether an opened link carries data already (False while a TCP connect is in progress)."""
        return True

    def _connected(self) -> None:
        """The link carries data: a healthy session resets the backoff."""
        self._backoff.reset()
        self.stats.state = "up"
        self.stats.opens += 1
        self.stats.last_error = ""
        log.info("%s: up", self.name)

    def _retry_later(self, reason: str, now: float) -> None:
        """Opening failed: try again after the next backoff delay (doubling up to reconnect_max_s)."""
        if reason != self.stats.last_error:
            log.warning("%s: cannot open: %s (retrying)", self.name, reason)
        self.stats.last_error = reason
        self.stats.state = "down"
        self._next_open = now + self._backoff.delay()

    def fail(self, reason: str) -> None:
        """The link broke: close it and let ``poll`` reopen it after the first backoff step."""
        if not self.up:
            return
        log.warning("%s: lost: %s", self.name, reason)
        self.stats.last_error = reason
        self.stats.state = "down"
        self.up = False
        self._close()
        self._next_open = time.monotonic() + self._backoff.delay()

    def close(self) -> None:
        if self.up:
            self.up = False
            self._close()
        self.stats.state = "closed"

    def periodic(self, now: float) -> None:
        """Called about every 0.1 s while the bridge runs: sends held alerts the budget now allows.

        Subclasses add health checks of the link (and call this).
        """
        if self._held:
            self._flush_held(now)

    # data ------------------------------------------------------------------------------------------------
    def accepts_in(self, msgid: int) -> bool:
        return (not self._allow_in or msgid in self._allow_in) and msgid not in self._block_in

    def priority(self, msgid: int, compid: int) -> int:
        if msgid in self._high:
            return HIGH
        if msgid in self._low or compid in self._low_comp:
            return LOW
        return NORMAL

    def is_alert(self, raw: bytes, msgid: int) -> bool:
        """An alert for the pilot: an ``alert_ids`` message, or STATUSTEXT at ``alert_severity`` or more severe."""
        if msgid in self._alert_ids:
            return True
        if msgid == STATUSTEXT_ID:  # severity is the payload's first byte (never truncated away)
            return raw[10 if raw[0] == MAGIC_V2 else 6] <= self.settings.alert_severity
        return False

    def output(self, raw: bytes, msgid: int, compid: int, now: float) -> None:
        """Send one frame through filters and the rate limit; every outcome is counted.

        Under a rate limit an alert that does not fit is held (up to ``MAX_HELD`` frames) and sent first as the
        budget refills; while alerts are held every other frame is refused, so bulk telemetry is thinned first.
        """
        st = self.stats
        if not self.up:
            st.drop_io += 1
            return
        if (self._allow_out and msgid not in self._allow_out) or msgid in self._block_out:
            st.drop_filter += 1
            return
        if self.budget.limited:
            if self._held:
                self._flush_held(now)
            if self.is_alert(raw, msgid):
                if self._held or not self.budget.admit(len(raw), HIGH, now):
                    if len(self._held) < MAX_HELD:
                        self._held.append(raw)
                    else:
                        st.drop_rate += 1
                    return
            elif self._held or not self.budget.admit(len(raw), self.priority(msgid, compid), now):
                st.drop_rate += 1
                return
        self._send(raw)

    def _send(self, raw: bytes) -> None:
        if self._write(raw):
            self.stats.tx_msgs += 1
            self.stats.tx_bytes += len(raw)
        else:
            self.stats.drop_io += 1

    def _flush_held(self, now: float) -> None:
        held = self._held
        while held and self.budget.admit(len(held[0]), HIGH, now):
            self._send(held.popleft())

    def _received(self, data: bytes) -> int:
        """Parse and route ``data``; the number of trusted frames in it."""
        frames = self.parser.feed(data)
        return self.deliver(self, frames) if frames else 0

    def _open(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    def _write(self, raw: bytes) -> bool:
        raise NotImplementedError


class UdpLink(Link):
    """UDP server or client.

    Server: binds address:port and sends to every peer heard within peer_timeout_s; a sender becomes a peer only
    with a trusted frame (CRC-valid, and correctly signed on a ``require`` link), so garbage and unsigned frames
    never earn telemetry. Client: binds the local address of the interface that routes to the peer (never
    0.0.0.0) on a free port, and accepts datagrams only from that peer's address and port; others are dropped
    and counted in ``drop_stranger``.
    """

    def __init__(self, settings: EndpointSettings, loop: Loop, table: dict[int, MsgInfo], deliver: Deliver) -> None:
        super().__init__(settings, loop, table, deliver)
        self.es = settings
        self.sock: socket.socket | None = None
        self.peers: dict[tuple[str, int], float] = {}
        self._server = settings.mode == "udp-server"
        self._peer: tuple[str, int] | None = None  # udp-client: the one address datagrams are taken from

    def _open(self) -> None:
        if self._server:
            bind: tuple[str, int] = (self.es.address, self.es.port)
        else:
            self._peer = (resolve_ipv4(self.es.address, self.es.port), self.es.port)
            bind = (route_source(self._peer), 0)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)  # bursts while we are not scheduled
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)  # loopback peers that read late
            sock.bind(bind)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self.sock = sock
        if self._peer is not None:
            self.peers = {self._peer: float("inf")}
        self.loop.watch(sock, self._readable)

    def _close(self) -> None:
        if self.sock is not None:
            self.loop.unwatch(self.sock)
            self.sock.close()
            self.sock = None

    def _readable(self) -> None:
        sock = self.sock
        for _ in range(UDP_BATCH):
            if sock is None:
                return
            try:
                data, addr = sock.recvfrom(65535)
            except BlockingIOError:
                return
            except OSError as err:
                if err.errno == errno.ECONNREFUSED:  # ICMP from a client peer that is not listening yet
                    continue
                self.fail(str(err))
                return
            if self._peer is not None and addr != self._peer:
                self.stats.drop_stranger += 1
                continue
            self.parser.reset()  # a datagram holds whole frames; never join two datagrams
            if self._received(data) and self._server:
                self.peers[addr] = time.monotonic()

    def _write(self, raw: bytes) -> bool:
        if self.sock is None or not self.peers:
            return False
        ok = False
        now = time.monotonic()
        for addr, seen in list(self.peers.items()):
            if now - seen > self.es.peer_timeout_s:
                del self.peers[addr]
                continue
            try:
                self.sock.sendto(raw, addr)
                ok = True
            except (BlockingIOError, ConnectionRefusedError):
                pass
            except OSError as err:
                if not self._server:  # the route to the peer changed or its interface went: bind again
                    self.fail(str(err))
                    return False
                log.debug("%s: send to %s: %s", self.name, addr, err)
        return ok


def resolve_ipv4(host: str, port: int) -> str:
    """The IPv4 address of ``host`` (a name or an address); OSError when it does not resolve."""
    try:
        info = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_DGRAM)
    except socket.gaierror as err:
        raise OSError(f"{host}: {err.strerror}") from None
    return str(info[0][4][0])


def route_source(peer: tuple[str, int]) -> str:
    """The local address the kernel would send from to reach ``peer`` (connecting a UDP socket sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(peer)
        return str(probe.getsockname()[0])


class StreamLink(Link):
    """A link over a byte stream with an output buffer (TCP client connections, serial ports)."""

    def __init__(
        self, settings: LinkSettings, loop: Loop, table: dict[int, MsgInfo], deliver: Deliver, name: str = ""
    ) -> None:
        super().__init__(settings, loop, table, deliver, name)
        self._pending = bytearray()
        self._fileobj: object = None

    def _send_now(self, data: bytes | bytearray) -> int:
        raise NotImplementedError

    def _write(self, raw: bytes) -> bool:
        if self._pending:
            if len(self._pending) + len(raw) > MAX_PENDING:
                return False
            self._pending += raw
            return True
        try:
            n = self._send_now(raw)
        except BlockingIOError:
            n = 0
        except OSError as err:
            self.fail(str(err))
            return False
        if n < len(raw):
            self._pending += raw[n:]
            self.loop.want_write(self._fileobj, True)
        return True

    def _writable(self) -> None:
        try:
            n = self._send_now(self._pending)
        except BlockingIOError:
            return
        except OSError as err:
            self.fail(str(err))
            return
        del self._pending[:n]
        if not self._pending:
            self.loop.want_write(self._fileobj, False)


class TcpClientLink(StreamLink):
    """One accepted TCP connection; it is removed from the router when it closes."""

    reopens = False

    def __init__(
        self,
        settings: EndpointSettings,
        loop: Loop,
        table: dict[int, MsgInfo],
        deliver: Deliver,
        sock: socket.socket,
        name: str,
    ) -> None:
        super().__init__(settings, loop, table, deliver, name)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self._fileobj = sock
        self.up = True
        self.stats.state = "up"
        loop.watch(sock, self._readable, self._writable)

    def _send_now(self, data: bytes | bytearray) -> int:
        return self.sock.send(data)

    def _readable(self) -> None:
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as err:
            self.fail(str(err))
            return
        if not data:
            self.fail("closed by peer")
            return
        self._received(data)

    def _close(self) -> None:
        self.loop.unwatch(self.sock)
        self.sock.close()
        self._pending.clear()


class TcpConnectLink(StreamLink):
    """A tcp-client endpoint: connects to address:port (ArduPilot SITL's 5760, a network serial server).

    The connect does not block the loop: the link counts as up (state "connecting", frames to it dropped) until
    the socket turns writable. A refused or lost connection is retried with the link's backoff, which a
    completed connection resets, so the link is back within reconnect_max_s of the other side's return.
    """

    def __init__(self, settings: EndpointSettings, loop: Loop, table: dict[int, MsgInfo], deliver: Deliver) -> None:
        super().__init__(settings, loop, table, deliver)
        self.es = settings
        self.sock: socket.socket | None = None
        self._connecting = False

    def _open(self) -> None:
        peer = (resolve_ipv4(self.es.address, self.es.port), self.es.port)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rc = sock.connect_ex(peer)
        if rc not in (0, errno.EINPROGRESS):
            sock.close()
            raise OSError(rc, f"connect to {peer[0]}:{peer[1]}: {os.strerror(rc)}")
        self.sock = sock
        self._fileobj = sock
        self._pending.clear()
        self._connecting = True
        self.stats.state = "connecting"
        self.loop.watch(sock, self._readable, self._writable)
        self.loop.want_write(sock, True)

    def _established(self) -> bool:
        return not self._connecting

    def _close(self) -> None:
        if self.sock is not None:
            self.loop.unwatch(self.sock)
            self.sock.close()
            self.sock = None
        self._pending.clear()
        self._connecting = False

    def _send_now(self, data: bytes | bytearray) -> int:
        assert self.sock is not None
        return self.sock.send(data)

    def _write(self, raw: bytes) -> bool:
        return False if self._connecting else super()._write(raw)

    def _writable(self) -> None:
        if not self._connecting:
            super()._writable()
            return
        assert self.sock is not None
        rc = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if rc:
            self._connect_failed(os.strerror(rc))
            return
        self._connecting = False
        self.loop.want_write(self.sock, False)
        self._connected()

    def _connect_failed(self, reason: str) -> None:
        self.up = False
        self._close()
        self._retry_later(f"connect to {self.es.address}:{self.es.port}: {reason}", time.monotonic())

    def _readable(self) -> None:
        if self.sock is None:
            return
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as err:
            if self._connecting:
                self._connect_failed(err.strerror or str(err))
            else:
                self.fail(str(err))
            return
        if not data:
            self.fail("closed by peer")
            return
        self._received(data)


class TcpServer:
    """Listens for TCP clients; each accepted client becomes its own TcpClientLink (given to ``on_client``)."""

    def __init__(self, settings: EndpointSettings, loop: Loop, on_client: Callable[[socket.socket, str], None]) -> None:
        self.settings = settings
        self.loop = loop
        self.on_client = on_client
        self.sock: socket.socket | None = None
        self._next_open = 0.0
        self._backoff = link_backoff(settings)
        self._count = 0
        self.last_error = ""

    def poll(self, now: float) -> None:
        if self.sock is not None or now < self._next_open:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.settings.address, self.settings.port))
            sock.listen(8)
        except OSError as err:
            sock.close()
            if str(err) != self.last_error:
                log.warning("%s: cannot listen: %s (retrying)", self.settings.name, err)
            self.last_error = str(err)
            self._next_open = now + self._backoff.delay()
            return
        sock.setblocking(False)
        self.sock = sock
        self.last_error = ""
        self.loop.watch(sock, self._accept)
        log.info("%s: listening on tcp %s:%d", self.settings.name, self.settings.address, self.settings.port)

    def _accept(self) -> None:
        assert self.sock is not None
        try:
            conn, _addr = self.sock.accept()
        except BlockingIOError:
            return
        except OSError as err:
            log.warning("%s: accept: %s", self.settings.name, err)
            return
        self._count += 1
        self.on_client(conn, f"{self.settings.name}-{self._count}")

    def close(self) -> None:
        if self.sock is not None:
            self.loop.unwatch(self.sock)
            self.sock.close()
            self.sock = None
