"""The bridge: builds the links from config and runs the single-threaded routing loop.

Health: the flight-controller link's state goes to systemd (STATUS=) and, as STATUSTEXT, to every link;
WATCHDOG=1 is sent from the loop itself, so a stuck loop gets the service restarted.
"""

from __future__ import annotations

import functools
import json
import logging
import socket
import threading
import time
from pathlib import Path

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edge.ops.notify import notify, watchdog_interval
from fwbridge.config import BridgeConfig, EndpointSettings, LinkSettings
from fwbridge.frames import load_dialect
from fwbridge.links import Link, TcpClientLink, TcpConnectLink, TcpServer, UdpLink
from fwbridge.loop import Loop
from fwbridge.rates import RateHold
from fwbridge.router import Router
from fwbridge.serial_link import PortFinder, SerialLink
from fwbridge.signing import Signer, Verifier, load_key
from fwbridge.stats import write_json_atomic

log = logging.getLogger("fwbridge")
POLL_S = 0.1  # how often links are checked and reopened


class Bridge:
    """A MAVLink router between a flight controller's serial port and network endpoints.

    ``run`` blocks until ``stop`` is called (from another thread or a signal handler). ``finder`` overrides
    how the serial port is found (tests drive it). Bad keys raise ``SigningKeyError`` here, at construction.
    """

    def __init__(self, cfg: BridgeConfig, finder: PortFinder | None = None, env: dict[str, str] | None = None) -> None:
        self.cfg = cfg
        self.env = env
        self.table = load_dialect(cfg.bridge.dialect)
        self.loop = Loop()
        self.router = Router(self.table, RateHold(self._pack), (cfg.bridge.system_id, cfg.bridge.component_id))
        self.servers: list[TcpServer] = []
        self._keys: dict[tuple[str, str], bytes] = {}
        self._stop = threading.Event()
        self._mav = mavlink.MAVLink(None, srcSystem=cfg.bridge.system_id, srcComponent=cfg.bridge.component_id)
        self.serial: SerialLink | None = None
        if cfg.serial.configured:
            self.serial = SerialLink(cfg.serial, self.loop, self.table, self.router.handle, finder)
            self._add(self.serial, cfg.serial)
        for es in cfg.endpoint:
            if es.mode == "tcp-server":
                self._key(es)  # a bad key must stop the start, not the first client
                self.servers.append(TcpServer(es, self.loop, functools.partial(self._tcp_client, es)))
            elif es.mode == "tcp-client":
                self._add(TcpConnectLink(es, self.loop, self.table, self.router.handle), es)
            else:
                self._add(UdpLink(es, self.loop, self.table, self.router.handle), es)
        self._stats_sock: socket.socket | None = None

    def _key(self, s: LinkSettings) -> bytes | None:
        """The link's signing key (loaded once per credential/file), None when it does not sign."""
        if s.signing == "off":
            return None
        ident = (s.key_credential, s.key_file)
        if ident not in self._keys:
            self._keys[ident] = load_key(s.key_credential, s.key_file, self.env)
        return self._keys[ident]

    def _add(self, link: Link, s: LinkSettings) -> None:
        key = self._key(s)
        if key is not None:
            link.verifier = Verifier(key)
            link.signer = Signer(key, s.link_id)
        self.router.add(link)

    def _tcp_client(self, es: EndpointSettings, sock: socket.socket, name: str) -> None:
        self._add(TcpClientLink(es, self.loop, self.table, self.router.handle, sock, name), es)
        log.info("%s: client connected", name)

    # the loop ------------------------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        b = self.cfg.bridge
        wd = watchdog_interval(self.env)
        if b.stats_port:
            self._open_stats_port(b.stats_port)
        self._poll(time.monotonic())
        notify("READY=1\nSTATUS=" + self._status(), self.env)
        log.info("bridge ready: %s", self._status())
        now = time.monotonic()
        next_hb = now
        next_stats = now + b.stats_interval_s
        next_log = now + b.log_stats_s if b.log_stats_s else float("inf")
        next_wd = now
        serial_up = self.serial.up if self.serial else False
        next_poll = now + POLL_S
        try:
            while not self._stop.is_set():
                self.loop.run_once(0.05)
                now = time.monotonic()
                if now >= next_poll:
                    self._poll(now)
                    next_poll = now + POLL_S
                    if self.serial is not None and self.serial.up != serial_up:
                        serial_up = self.serial.up
                        self._serial_changed(serial_up)
                if b.heartbeat_s and now >= next_hb:
                    next_hb = now + b.heartbeat_s
                    self._send_own(
                        mavlink.MAVLink_heartbeat_message(
                            mavlink.MAV_TYPE_ONBOARD_CONTROLLER,
                            mavlink.MAV_AUTOPILOT_INVALID,
                            0,
                            0,
                            mavlink.MAV_STATE_ACTIVE,
                            3,
                        )
                    )
                if now >= next_stats:
                    next_stats = now + b.stats_interval_s
                    self._write_stats()
                if now >= next_log:
                    next_log = now + b.log_stats_s
                    log.info("stats %s", json.dumps(self.snapshot()["links"], separators=(",", ":")))
                if wd is not None and now >= next_wd:
                    next_wd = now + wd
                    notify("WATCHDOG=1", self.env)
        finally:
            notify("STOPPING=1", self.env)
            self._write_stats()
            for link in list(self.router.links):
                link.close()
            for server in self.servers:
                server.close()
            if self._stats_sock is not None:
                self._stats_sock.close()
            self.loop.close()

    def _poll(self, now: float) -> None:
        for link in list(self.router.links):
            if not link.up and not link.reopens:
                self.router.remove(link)
                continue
            link.poll(now)
            link.periodic(now)
        for server in self.servers:
            server.poll(now)

    def _status(self) -> str:
        if self.serial is None:
            return "no serial port configured"
        return f"flight controller on {self.serial.path}" if self.serial.up else "waiting for the flight controller"

    def _serial_changed(self, up: bool) -> None:
        notify("STATUS=" + self._status(), self.env)
        text = f"bridge: FC link {'up' if up else 'lost'}"
        self._send_own(
            mavlink.MAVLink_statustext_message(
                mavlink.MAV_SEVERITY_INFO if up else mavlink.MAV_SEVERITY_WARNING, text.encode()
            )
        )

    def _pack(self, msg: mavlink.MAVLink_message) -> bytes:
        """``msg`` as a frame from the bridge (its system/component id, next sequence number), unsigned."""
        raw = bytes(msg.pack(self._mav))
        self._mav.seq = (self._mav.seq + 1) % 256  # pack() does not advance the sequence number
        return raw

    def _send_own(self, msg: mavlink.MAVLink_message) -> None:
        self.router.originate(self._pack(msg), msg.get_msgId(), self.cfg.bridge.component_id, msg.crc_extra)

    # statistics -----------------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, object]:
        """Statistics of every link (parse counters folded in) and the learned routes, JSON-able.

        Safe to call from another thread (tests do): it only reads, and copies containers before iterating.
        """
        links: dict[str, object] = {}
        for link in list(self.router.links):
            link.stats.crc_errors = link.parser.counters.crc_errors
            link.stats.unknown_ids = link.parser.counters.unknown_ids
            d = link.stats.as_dict()
            if isinstance(link, UdpLink):
                now = time.monotonic()
                d["peers"] = sum(1 for seen in list(link.peers.values()) if now - seen <= link.es.peer_timeout_s)
            links[link.name] = d
        return {
            "t_utc": time.time(),
            "serial": self.serial.path if self.serial is not None and self.serial.up else None,
            "links": links,
            "routes": self.router.routes(),
            "tcp_servers": {
                s.settings.name: {"listening": s.sock is not None, "last_error": s.last_error} for s in self.servers
            },
        }

    def _write_stats(self) -> None:
        if not self.cfg.bridge.stats_file:
            return
        try:
            write_json_atomic(Path(self.cfg.bridge.stats_file), self.snapshot())
        except OSError as err:
            log.warning("cannot write stats file %s: %s", self.cfg.bridge.stats_file, err)

    def _open_stats_port(self, port: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as err:
            sock.close()
            log.warning("stats port %d: %s (statistics query disabled)", port, err)
            return
        sock.setblocking(False)
        self._stats_sock = sock
        self.loop.watch(sock, self._answer_stats)

    def _answer_stats(self) -> None:
        assert self._stats_sock is not None
        try:
            _, addr = self._stats_sock.recvfrom(512)
            self._stats_sock.sendto(json.dumps(self.snapshot()).encode(), addr)
        except OSError:
            pass
