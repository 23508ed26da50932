"""An autopilot on a real UDP socket that answers as ArduPilot 4.7 does (libraries/GCS_MAVLink/GCS_Common.cpp).

It sends from its own socket to the daemon's ``udpin`` port (ArduPilot's ``--serial udpclient:``): HEARTBEAT at
1 Hz and each message at its current rate, every frame in its own datagram. SET_MESSAGE_INTERVAL for a message it
has sets that message's rate (ACK accepted); for one it has not (MOUNT_STATUS, 158) it broadcasts the STATUSTEXT
"No ap_message for mavlink id (158)" and ACKs failed. MAV_CMD_REQUEST_MESSAGE for one it has not ACKs failed
without a word. REQUEST_DATA_STREAM sets a stream group's rate (a ground station's request overrides the intervals
of the messages in it). TIMESYNC requests are answered. ``garbage`` random datagrams (1-280 bytes) go out between
frames from the same socket, as from a noisy radio.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

HAS = {  # message id -> builder (boot ms -> message); GIMBAL_DEVICE_ATTITUDE_STATUS is known but no gimbal is fitted
    mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: lambda ms: mavlink.MAVLink_global_position_int_message(
        ms, 473_977_000, 85_000_000, 500_000, 50_000, 0, 0, 0, 9000
    ),
    mavlink.MAVLINK_MSG_ID_ATTITUDE: lambda ms: mavlink.MAVLink_attitude_message(ms, 0.01, 0.02, 1.0, 0, 0, 0),
    mavlink.MAVLINK_MSG_ID_GPS_RAW_INT: lambda ms: mavlink.MAVLink_gps_raw_int_message(
        ms * 1000, 3, 473_977_000, 85_000_000, 500_000, 80, 120, 0, 0, 12
    ),
    mavlink.MAVLINK_MSG_ID_SYSTEM_TIME: lambda ms: mavlink.MAVLink_system_time_message(int(time.time() * 1e6), ms),
    mavlink.MAVLINK_MSG_ID_GIMBAL_DEVICE_ATTITUDE_STATUS: None,
}
STREAMS = {  # REQUEST_DATA_STREAM groups (ArduPilot's SRx_ parameters)
    mavlink.MAV_DATA_STREAM_POSITION: (mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT,),
    mavlink.MAV_DATA_STREAM_EXTRA1: (mavlink.MAVLINK_MSG_ID_ATTITUDE,),
    mavlink.MAV_DATA_STREAM_EXTENDED_STATUS: (mavlink.MAVLINK_MSG_ID_GPS_RAW_INT,),
    mavlink.MAV_DATA_STREAM_EXTRA3: (mavlink.MAVLINK_MSG_ID_SYSTEM_TIME,),
}


class ArduPilotStub:
    """``ArduPilotStub(port).start()`` ... ``stop()``; ``sent`` counts frames by message id, ``texts`` what it said."""

    def __init__(
        self,
        port: int,
        rates: dict[int, float] | None = None,
        garbage: int = 0,
        system: int = 1,
        timesync_first: bool = False,
        seed: int = 1,
        unknown: tuple[int, ...] = (),
    ) -> None:
        """``unknown``: message ids this firmware does not have (besides MOUNT_STATUS)."""
        self.dest = ("127.0.0.1", port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.002)
        self.mav = mavlink.MAVLink(None, system, 1)
        self.parser = mavlink.MAVLink(None, 0, 0)
        self.parser.robust_parsing = True
        self.rates = dict(rates or {})
        self.has = {mid: b for mid, b in HAS.items() if mid not in unknown}
        self.garbage = garbage
        self.timesync_first = timesync_first
        self.rng = random.Random(seed)
        self.sent: dict[int, int] = {}
        self.garbage_sent = 0
        self.garbage_bytes = 0
        self.texts: list[str] = []
        self.received: list[Any] = []
        self.timesync_replies: list[Any] = []
        self.beating = True
        self._boot = time.monotonic()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", int(self.sock.getsockname()[1]))

    def start(self) -> ArduPilotStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
        self.sock.close()

    def set_stream(self, stream: int, hz: float) -> None:
        """What a ground station's REQUEST_DATA_STREAM on the same link does."""
        with self._lock:
            for mid in STREAMS[stream]:
                self.rates[mid] = hz

    def commands(self, command: int) -> list[Any]:
        with self._lock:
            return [m for m in self.received if m.get_type() == "COMMAND_LONG" and m.command == command]

    def intervals(self) -> set[int]:
        """The message ids a SET_MESSAGE_INTERVAL was received for."""
        return {int(m.param1) for m in self.commands(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL)}

    def send(self, msg: Any) -> None:
        buf = bytes(msg.pack(self.mav))
        self.mav.seq = (self.mav.seq + 1) % 256
        self.sock.sendto(buf, self.dest)
        self.sent[msg.get_msgId()] = self.sent.get(msg.get_msgId(), 0) + 1
        for _ in range(self.garbage):
            self.garbage_bytes += self.sock.sendto(self.rng.randbytes(self.rng.randint(1, 280)), self.dest)
            self.garbage_sent += 1

    def _run(self) -> None:
        if self.timesync_first:
            self.send(mavlink.MAVLink_timesync_message(0, 123_456_789))
        due: dict[int, float] = {}
        next_hb = time.monotonic() + (0.5 if self.timesync_first else 0.0)
        while not self._stop.is_set():
            now = time.monotonic()
            ms = int((now - self._boot) * 1000)
            if now >= next_hb and self.beating:
                next_hb = now + 1.0
                self.send(
                    mavlink.MAVLink_heartbeat_message(
                        mavlink.MAV_TYPE_QUADROTOR, mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, 0, 0, 4, 3
                    )
                )
            with self._lock:
                rates = dict(self.rates)
            for mid, hz in rates.items():
                build = self.has.get(mid)
                if hz <= 0 or build is None or not self.beating:
                    continue
                if now >= due.setdefault(mid, now):
                    due[mid] = max(due[mid] + 1.0 / hz, now - 0.2)
                    self.send(build(ms))
            try:
                data = self.sock.recv(65535)
            except (TimeoutError, ConnectionRefusedError):
                continue
            for msg in self.parser.parse_buffer(data) or []:
                if msg.get_type() != "BAD_DATA":
                    self._handle(msg)

    def _handle(self, msg: Any) -> None:
        with self._lock:
            self.received.append(msg)
        mtype = msg.get_type()
        if mtype == "TIMESYNC":
            if msg.tc1 == 0:
                self.send(mavlink.MAVLink_timesync_message(time.monotonic_ns(), msg.ts1))
            else:
                self.timesync_replies.append(msg)
        elif mtype == "REQUEST_DATA_STREAM" and msg.req_stream_id in STREAMS:
            self.set_stream(msg.req_stream_id, float(msg.req_message_rate) if msg.start_stop else 0.0)
        elif mtype == "COMMAND_LONG":
            mid = int(msg.param1)
            result = mavlink.MAV_RESULT_UNSUPPORTED
            if msg.command == mavlink.MAV_CMD_SET_MESSAGE_INTERVAL:
                if mid in self.has:
                    with self._lock:
                        self.rates[mid] = 1e6 / msg.param2 if msg.param2 > 0 else 0.0
                    result = mavlink.MAV_RESULT_ACCEPTED
                else:
                    text = f"No ap_message for mavlink id ({mid})"
                    self.texts.append(text)
                    self.send(mavlink.MAVLink_statustext_message(mavlink.MAV_SEVERITY_INFO, text.encode()))
                    result = mavlink.MAV_RESULT_FAILED
            elif msg.command == mavlink.MAV_CMD_REQUEST_MESSAGE:
                build = self.has.get(mid)
                result = mavlink.MAV_RESULT_ACCEPTED if mid in self.has else mavlink.MAV_RESULT_FAILED
                if build is not None:
                    self.send(build(int((time.monotonic() - self._boot) * 1000)))
            ack = mavlink.MAVLink_command_ack_message(
                msg.command, result, 0, 0, msg.get_srcSystem(), msg.get_srcComponent()
            )
            self.send(ack)  # addressed to the sender, as ArduPilot does
