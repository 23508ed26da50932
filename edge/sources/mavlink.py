"""The MAVLink link to the autopilot: one connection, one thread, reconnect with backoff, clock mapping.

We are an onboard computer (component 191, HEARTBEAT of MAV_TYPE_ONBOARD_CONTROLLER at 1 Hz, MAVLink 2). Once the
autopilot's HEARTBEAT arrives we ask for the messages the pose needs with SET_MESSAGE_INTERVAL (and
REQUEST_DATA_STREAM for firmwares that only know stream rates), measure the rates that arrive and ask again while
one is short (``mavlink_rates``: with backoff, without a limit on tries, never for a message the autopilot does not
offer). Silence (no HEARTBEAT for ``heartbeat_timeout_s``) or an error closes the connection and opens it again
after a growing delay. Bad CRCs, sequence gaps and garbage bytes are counted.

On UDP every datagram is parsed by itself (a datagram holds whole frames; garbage in one never swallows a frame in
the next), and the link locks onto the address of the first autopilot heard (its HEARTBEAT): datagrams from any
other address are counted in ``foreign_datagrams``, logged (rate limited) and otherwise ignored, and we send only
to the locked address. The lock ends with the connection, i.e. after ``heartbeat_timeout_s`` of the autopilot's
silence. With ``signing`` we sign what we send and check what we receive (``mavlink_signing``).

The autopilot's ``time_boot_ms`` is mapped onto ``time.monotonic()`` per component (``mavlink_time.ClockMap``),
from every stamped message and TIMESYNC round trips; TIMESYNC requests are answered whenever they come.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edge.ops.backoff import Backoff
from edge.sources.mavlink_pose import attach_pose_feed
from edge.sources.mavlink_rates import RateKeeper, Request
from edge.sources.mavlink_signing import Verifier, load_key, now_timestamp, signing_key
from edge.sources.mavlink_time import ClockMap
from edge.sources.mavlink_transport import Endpoint, Transport, open_transport, parse_url
from edge.sources.settings import MavlinkSettings
from edge.sources.worker import Worker
from edge.stages import Health

__all__ = ["MavlinkLink", "attach_pose_feed", "mavlink", "signing_key"]

log = logging.getLogger(__name__)
Listener = Callable[[Any, float], None]
TIMESYNC_S = 2.0
FOREIGN_LOG_S = 30.0  # at most one log line per this many seconds about datagrams from other addresses
# stream groups for REQUEST_DATA_STREAM (ArduPilot's SRx_ parameters)
_STREAMS = {
    mavlink.MAV_DATA_STREAM_POSITION: mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT,
    mavlink.MAV_DATA_STREAM_EXTRA1: mavlink.MAVLINK_MSG_ID_ATTITUDE,
    mavlink.MAV_DATA_STREAM_EXTENDED_STATUS: mavlink.MAVLINK_MSG_ID_GPS_RAW_INT,
    mavlink.MAV_DATA_STREAM_EXTRA3: mavlink.MAVLINK_MSG_ID_SYSTEM_TIME,
}
_NOT_VEHICLES = {
    mavlink.MAV_TYPE_GCS,
    mavlink.MAV_TYPE_ONBOARD_CONTROLLER,
    mavlink.MAV_TYPE_GIMBAL,
    mavlink.MAV_TYPE_CAMERA,
    mavlink.MAV_TYPE_ADSB,
}


class MavlinkLink(Worker):
    """A ``Stage`` owning one MAVLink connection; listeners get ``(msg, t_recv_mono)`` on the link thread."""

    def __init__(self, settings: MavlinkSettings, source_system: int | None = None, source_component: int = 191):
        super().__init__()
        self.settings = settings
        self.endpoint: Endpoint = parse_url(settings.url, settings.baud)  # ValueError: bad config
        self.name = "mavlink"
        self.source_system = settings.system_id if source_system is None else source_system
        self.source_component = source_component
        self._mav = mavlink.MAVLink(None, self.source_system, source_component)  # packs what we send
        self._parser = self._new_parser()
        self._verifier: Verifier | None = None
        if settings.signing != "off":
            key = load_key(settings.signing_key_file)  # ValueError: no key
            self._verifier = Verifier(key, require=settings.signing == "require")
            self._mav.signing.secret_key = key
            self._mav.signing.sign_outgoing = True
        self._listeners: list[Listener] = []
        self._any_listeners: list[Listener] = []
        self._send_lock = threading.Lock()
        self._lock = threading.Lock()
        self._transport: Transport | None = None
        self._clocks: dict[tuple[int, int], ClockMap] = {}
        self._timesync_sent: dict[int, float] = {}
        self._last_seq: dict[tuple[int, int], int] = {}
        self._wanted = {
            mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: settings.position_hz,
            mavlink.MAVLINK_MSG_ID_ATTITUDE: settings.attitude_hz,
            mavlink.MAVLINK_MSG_ID_GPS_RAW_INT: settings.gps_hz,
            mavlink.MAVLINK_MSG_ID_SYSTEM_TIME: 1.0,
            mavlink.MAVLINK_MSG_ID_GIMBAL_DEVICE_ATTITUDE_STATUS: settings.gimbal_hz,
            mavlink.MAVLINK_MSG_ID_MOUNT_STATUS: settings.gimbal_hz,
        }
        self._rates: RateKeeper | None = None
        self._lock_addr: tuple[str, int] | None = None
        self._foreign: dict[tuple[str, int], int] = {}
        self._foreign_logged = 0.0
        self.target_system: int | None = None
        self.target_component: int | None = None
        self._target_is_vehicle = False
        self.state = "stopped"
        self.last_error = ""
        self.stats = dict.fromkeys(
            (
                "messages",
                "bad_crc",
                "bad_signature",
                "bad_other",
                "garbage_bytes",
                "seq_lost",
                "reconnects",
                "listener_errors",
                "foreign_datagrams",
                "truncated_frames",
            ),
            0,
        )
        self._last_hb = 0.0

    # -- public API -----------------------------------------------------------------------------------------------
    def add_listener(self, callback: Listener, any_system: bool = False) -> None:
        """Call ``callback(msg, t_recv_mono)`` for every message of the autopilot's system received (on the link
        thread; keep it quick); ``any_system``: of every system (a ground station's replies, e.g. radio acks)."""
        (self._any_listeners if any_system else self._listeners).append(callback)

    def send(self, msg: Any) -> bool:
        """Pack and send a MAVLink message as us; False when not connected or the write failed. Thread-safe."""
        with self._send_lock:
            tr = self._transport
            if tr is None:
                return False
            if self._mav.signing.sign_outgoing:  # timestamps follow the clock, never go back
                self._mav.signing.timestamp = max(self._mav.signing.timestamp, now_timestamp())
            try:
                buf = msg.pack(self._mav)
            except Exception as err:  # a malformed message is the caller's bug; report, don't kill the link
                log.warning("mavlink: cannot pack %s: %s", msg.get_type(), err)
                return False
            self._mav.seq = (self._mav.seq + 1) % 256
            return tr.write(bytes(buf))

    def to_mono(self, time_boot_ms: int, component: int | None = None) -> float | None:
        """The autopilot's (or ``component``'s) boot time in ms -> our monotonic s; None before we know."""
        if self.target_system is None:
            return None
        comp = self.target_component if component is None else component
        with self._lock:
            clock = self._clocks.get((self.target_system, comp or 0))
            return None if clock is None else clock.to_mono(time_boot_ms / 1000.0)

    @property
    def connected(self) -> bool:
        return self.state == "connected"

    # -- Stage ----------------------------------------------------------------------------------------------------
    def health(self) -> Health:
        now = time.monotonic()
        with self._lock:
            clock = self._clocks.get((self.target_system or 0, self.target_component or 0))
            offset = None if clock is None else clock.offset()
            rates = self._rates
            return {
                "name": self.name,
                "url": str(self.endpoint),
                "state": self.state,
                "target_system": self.target_system,
                "heartbeat_age_s": round(now - self._last_hb, 2) if self._last_hb else None,
                "clock_offset_s": round(offset, 4) if offset is not None else None,
                "clock_resets": clock.resets if clock else 0,
                "peer": "{}:{}".format(*self._lock_addr) if self._lock_addr else None,
                "signing": self.settings.signing,
                "rates_hz": rates.rates() if rates else {},
                "rate_requests": rates.asks() if rates else {},
                "refused": rates.refused_names() if rates else [],
                **self.stats,
                "last_error": self.last_error,
                **self.thread_health(),
            }

    # -- link thread ------------------------------------------------------------------------------------------
    def _run(self) -> None:
        s = self.settings
        backoff = Backoff(s.reconnect_min_s, s.reconnect_max_s)
        while not self._stop.is_set():
            try:
                tr = open_transport(self.endpoint, s.replay_speed)
            except OSError as err:
                self._fail(f"open failed: {err}")
                backoff.wait(self._stop)
                continue
            with self._send_lock:
                self._transport = tr
            got = False
            opened = time.monotonic()
            try:
                got = self._session(tr)
            except EOFError:
                self.state = "ended"
                log.info("mavlink: end of %s", self.endpoint)
                return
            except OSError as err:
                self._fail(f"link error: {err}")
            finally:
                with self._send_lock:
                    self._transport = None
                tr.close()
            if self._stop.is_set():
                break
            if got or self._last_hb > opened:  # heard, even if the session ended in an error
                backoff.reset()
            backoff.wait(self._stop)

    def _fail(self, why: str) -> None:
        with self._lock:
            self.state = "reconnecting"
            self.last_error = why
            self.stats["reconnects"] += 1
        log.warning("mavlink %s: %s; retrying", self.endpoint, why)

    def _session(self, tr: Transport) -> bool:
        """Pump one connection until silence, error or stop; True when the autopilot was heard."""
        s = self.settings
        replay = self.endpoint.kind == "tlog"
        self.target_system = self.target_component = None
        self._target_is_vehicle = False
        self._last_seq.clear()
        self._lock_addr = None
        self._foreign.clear()
        self._parser = self._new_parser()
        self.state = "connecting"
        opened = time.monotonic()
        self._rates = None
        next_hb = next_sync = opened
        heard = False
        while not self._stop.is_set():
            data, t_recv = tr.read(0.1)
            if data:
                heard |= self._receive(tr, data, t_recv)
            now = time.monotonic()
            if replay:
                continue
            if now >= next_hb:
                next_hb = now + 1.0
                self.send(self._heartbeat())
            if self.target_system is not None and now >= next_sync:
                next_sync = now + TIMESYNC_S
                self._send_timesync()
            if self._rates is not None:
                self._request(self._rates.due(now))
            silent_since = self._last_hb if self._last_hb > opened else opened
            if now - silent_since > s.heartbeat_timeout_s:
                self._fail(f"no HEARTBEAT for {s.heartbeat_timeout_s:g} s")
                return heard
        return heard

    @staticmethod
    def _new_parser() -> Any:
        parser = mavlink.MAVLink(None, 0, 0)
        parser.robust_parsing = True
        return parser

    def _receive(self, tr: Transport, data: bytes, t_recv: float) -> bool:
        """Parse what one read gave; a datagram by itself, from the locked address only. True: target heard."""
        if tr.datagrams:
            addr = tr.source
            if self._lock_addr is not None and addr != self._lock_addr:
                self._on_foreign(addr)
                return False
            self._parser = self._new_parser()  # a datagram is a unit: nothing carries over
        heard = False
        for msg in self._parser.parse_buffer(data) or []:
            heard |= self._handle(msg, t_recv, tr)
        if tr.datagrams and self._parser.buf_len():  # a frame cut short by the datagram's end
            self.stats["truncated_frames"] += 1
        return heard

    def _on_foreign(self, addr: tuple[str, int] | None) -> None:
        """A datagram from an address other than the locked autopilot's: count, log now and then, drop."""
        self.stats["foreign_datagrams"] += 1
        if addr is None:
            return
        new = addr not in self._foreign
        if new and len(self._foreign) >= 64:
            self._foreign.pop(next(iter(self._foreign)))
        self._foreign[addr] = self._foreign.get(addr, 0) + 1
        now = time.monotonic()
        if (new and now - self._foreign_logged > 1.0) or now - self._foreign_logged > FOREIGN_LOG_S:
            self._foreign_logged = now
            log.warning(
                "mavlink %s: ignoring datagrams from %s:%d (locked to the autopilot at %s:%d; %d ignored so far)",
                self.endpoint,
                *addr,
                *(self._lock_addr or ("?", 0)),
                self.stats["foreign_datagrams"],
            )

    def _heartbeat(self) -> Any:
        return mavlink.MAVLink_heartbeat_message(
            mavlink.MAV_TYPE_ONBOARD_CONTROLLER, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, mavlink.MAV_STATE_ACTIVE, 3
        )

    def _send_timesync(self) -> None:
        ts1 = time.monotonic_ns()
        self._timesync_sent[ts1] = ts1 / 1e9
        while len(self._timesync_sent) > 8:
            del self._timesync_sent[next(iter(self._timesync_sent))]
        self.send(mavlink.MAVLink_timesync_message(0, ts1))

    def _request(self, requests: list[Request]) -> None:
        """Send what the rate keeper asks for: REQUEST_MESSAGE probes, REQUEST_DATA_STREAM + SET_MESSAGE_INTERVAL."""
        ts, tc = self.target_system or 0, self.target_component or 0
        for r in requests:
            if r.kind == "probe":
                cmd, p2 = mavlink.MAV_CMD_REQUEST_MESSAGE, 0.0
            else:
                stream = next((st for st, mid in _STREAMS.items() if mid == r.msg_id), None)
                if stream is not None:
                    self.send(mavlink.MAVLink_request_data_stream_message(ts, tc, stream, max(1, round(r.hz)), 1))
                cmd, p2 = mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, 1e6 / r.hz
            self.send(mavlink.MAVLink_command_long_message(ts, tc, cmd, 0, r.msg_id, p2, 0, 0, 0, 0, 0))

    def _handle(self, msg: Any, t_recv: float, tr: Transport) -> bool:
        """Count, track the clock and the target, hand on to listeners; True for a HEARTBEAT from the target."""
        mtype = msg.get_type()
        st = self.stats
        if mtype == "BAD_DATA":
            reason = str(getattr(msg, "reason", ""))
            if reason == "Bad prefix":
                st["garbage_bytes"] += len(msg.data)
            elif "CRC" in reason:
                st["bad_crc"] += 1
            elif "signature" in reason:
                st["bad_signature"] += 1
            else:
                st["bad_other"] += 1
            return False
        if self._verifier is not None and self._verifier.check(msg) is not None:
            st["bad_signature"] += 1
            return False
        src = (msg.get_srcSystem(), msg.get_srcComponent())
        if src == (self.source_system, self.source_component):
            return False  # our own message echoed by a router
        st["messages"] += 1
        self._count_seq(src, msg.get_seq())
        if tr.datagrams and self._lock_addr is None and tr.source is not None:
            tr.answer(tr.source)  # before the lock we answer whoever sent valid MAVLink last
        heard = False
        if mtype == "HEARTBEAT":
            heard = self._on_heartbeat(msg, src, tr)
        if mtype == "TIMESYNC" and msg.tc1 == 0:  # a request (ArduPilot, PX4): answer, even before its HEARTBEAT
            self.send(mavlink.MAVLink_timesync_message(time.monotonic_ns(), msg.ts1))
        if src[0] != self.target_system:
            self._tell(self._any_listeners, msg, t_recv)
            return heard
        if self._rates is not None:
            self._rates.seen(msg.get_msgId())
            if mtype == "COMMAND_ACK" and self._for_us(msg):
                self._rates.on_ack(msg.command, msg.result, time.monotonic())
            elif mtype == "STATUSTEXT":
                self._rates.on_text(str(msg.text))
        if mtype == "TIMESYNC":
            if msg.tc1 != 0:
                self._on_timesync(msg, src, t_recv)
        elif hasattr(msg, "time_boot_ms") and msg.time_boot_ms:
            with self._lock:
                self._clocks.setdefault(src, ClockMap()).add_one_way(t_recv, msg.time_boot_ms / 1000.0)
        self._tell(self._listeners + self._any_listeners, msg, t_recv)
        return heard

    def _tell(self, listeners: list[Listener], msg: Any, t_recv: float) -> None:
        st = self.stats
        for cb in listeners:
            try:
                cb(msg, t_recv)
            except Exception:
                st["listener_errors"] += 1
                if st["listener_errors"] in (1, 10, 100, 1000):
                    log.exception("mavlink listener failed on %s (%d failures)", msg.get_type(), st["listener_errors"])

    def _for_us(self, msg: Any) -> bool:
        """False for a message addressed to another system or component (a ground station's COMMAND_ACK)."""
        ts, tc = getattr(msg, "target_system", 0), getattr(msg, "target_component", 0)
        return ts in (0, self.source_system) and tc in (0, self.source_component)

    def _count_seq(self, src: tuple[int, int], seq: int) -> None:
        last = self._last_seq.get(src)
        if last is not None:
            self.stats["seq_lost"] += (seq - last - 1) % 256
        self._last_seq[src] = seq

    def _on_heartbeat(self, msg: Any, src: tuple[int, int], tr: Transport) -> bool:
        """Pick the target: the first vehicle (autopilot) heard, else a pan-tilt head until a vehicle speaks."""
        vehicle = msg.autopilot != mavlink.MAV_AUTOPILOT_INVALID and msg.type not in _NOT_VEHICLES
        head = msg.type == mavlink.MAV_TYPE_GIMBAL
        if (self.target_system is None and (vehicle or head)) or (vehicle and not self._target_is_vehicle):
            self.target_system, self.target_component = src
            self._target_is_vehicle = vehicle
            self._rates = RateKeeper(self._wanted, time.monotonic())
            if tr.datagrams and tr.source is not None:
                self._lock_addr = tr.source
                tr.answer(tr.source)
            where = " at {}:{}".format(*tr.source) if tr.datagrams and tr.source else ""
            log.info("mavlink %s: talking to system %d component %d%s", self.endpoint, *src, where)
        if src == (self.target_system, self.target_component):
            self._last_hb = time.monotonic()
            if self.state != "connected":
                self.state = "connected"
                self.last_error = ""
            return True
        return False

    def _on_timesync(self, msg: Any, src: tuple[int, int], t_recv: float) -> None:
        t_send = self._timesync_sent.pop(msg.ts1, None)
        if t_send is not None:
            with self._lock:
                self._clocks.setdefault(src, ClockMap()).add_round_trip(t_send, t_recv, msg.tc1 / 1e9)
