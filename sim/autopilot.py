"""A simulated flight controller: speaks MAVLink 2 (pymavlink) like ArduPilot over UDP, TCP and a serial pty.

System 1, component 1, MAV_AUTOPILOT_ARDUPILOTMEGA quadrotor. It sends HEARTBEAT, GLOBAL_POSITION_INT, ATTITUDE,
GPS_RAW_INT, SYSTEM_TIME, GIMBAL_DEVICE_ATTITUDE_STATUS and SYS_STATUS from the world's true pose with the
scenario's noise, honours SET_MESSAGE_INTERVAL, REQUEST_MESSAGE and REQUEST_DATA_STREAM (answering with
COMMAND_ACK), answers TIMESYNC, and records everything the companion sends in ``received``.

Noise (``world.scenario.noise``): GPS north/east and altitude errors are Gauss-Markov processes (1-sigma ``gps_m``,
``alt_m``, correlation time ``gps_tau_s``, default 60 s, as GPS errors wander); attitude and gimbal errors likewise (``att_deg``, 5 s).
``time_offset_s`` > 0 makes the telemetry late: a message stamped ``t`` describes the truth at ``t - offset``.
The autopilot "booted" ``BOOT_S`` before sim time 0: ``time_boot_ms = (t + BOOT_S) * 1000``.

The gimbal reports like gimbal protocol v2: roll/pitch relative to the horizon; yaw relative to the heading
(YAW_IN_VEHICLE_FRAME) when the scenario's camera follows the body, else relative to north (YAW_IN_EARTH_FRAME);
not at all when the scenario's ``camera.reports_angles`` is false (ArduPilot SITL without a gimbal).
"""

from __future__ import annotations

import math
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edge.sources import quat
from sim.autopilot_links import Link, PtyLink, open_link
from sim.world import World

BOOT_S = 42.0
SYSTEM_ID = 1
COMPONENTS = {"autopilot": mavlink.MAV_COMP_ID_AUTOPILOT1, "gimbal": mavlink.MAV_COMP_ID_GIMBAL}
DEFAULT_RATES = {
    "HEARTBEAT": 1.0,
    "GLOBAL_POSITION_INT": 10.0,
    "ATTITUDE": 10.0,
    "GPS_RAW_INT": 5.0,
    "SYSTEM_TIME": 1.0,
    "GIMBAL_DEVICE_ATTITUDE_STATUS": 10.0,
    "SYS_STATUS": 1.0,
}
STREAMS = {  # REQUEST_DATA_STREAM groups, as ArduPilot's SRx_ parameters group them
    mavlink.MAV_DATA_STREAM_EXTENDED_STATUS: ("SYS_STATUS", "GPS_RAW_INT"),
    mavlink.MAV_DATA_STREAM_POSITION: ("GLOBAL_POSITION_INT",),
    mavlink.MAV_DATA_STREAM_EXTRA1: ("ATTITUDE",),
    mavlink.MAV_DATA_STREAM_EXTRA3: ("SYSTEM_TIME", "GIMBAL_DEVICE_ATTITUDE_STATUS"),
}
GIMBAL_LOCKS = mavlink.GIMBAL_DEVICE_FLAGS_ROLL_LOCK | mavlink.GIMBAL_DEVICE_FLAGS_PITCH_LOCK


class GaussMarkov:
    """First-order Gauss-Markov noise: stationary 1-sigma ``sigma``, correlation time ``tau`` (s)."""

    def __init__(self, rng: np.random.Generator, sigma: float, tau: float, n: int) -> None:
        self.rng, self.sigma, self.tau = rng, sigma, tau
        self.x = rng.normal(0.0, sigma, n) if sigma > 0 else np.zeros(n)
        self.t: float | None = None

    def at(self, t: float) -> np.ndarray:
        """The noise vector at time ``t`` (s); times must not go backwards."""
        if self.sigma > 0 and self.t is not None and t > self.t:
            a = math.exp(-(t - self.t) / self.tau)
            self.x = a * self.x + self.sigma * math.sqrt(1 - a * a) * self.rng.normal(0.0, 1.0, len(self.x))
        self.t = t if self.t is None else max(t, self.t)
        return self.x


@dataclass
class _Peer:
    link: Link
    parser: Any


class Autopilot:
    """The simulated flight controller; ``start()`` opens the links (``pty_path`` is then set), ``stop()``."""

    def __init__(
        self,
        world: World,
        urls: list[str],
        rates: dict[str, float] | None = None,
        clock: Callable[[], float] | None = None,
        role: str = "autopilot",
    ) -> None:
        """``rates``: Hz by message name over DEFAULT_RATES; ``clock``: sim time (s), default s since start();
        ``role``: "autopilot", or "gimbal" for a pan-tilt head that sends only HEARTBEAT and gimbal status."""
        if not urls:
            raise ValueError("the autopilot needs at least one link url")
        if role not in ("autopilot", "gimbal"):
            raise ValueError(f"role must be 'autopilot' or 'gimbal', not {role!r}")
        self.world = world
        self.urls = list(urls)
        self.role = role
        self.rates = {**DEFAULT_RATES, **(rates or {})}
        self.default_rates = dict(self.rates)
        if role == "gimbal":
            self.rates = {k: v for k, v in self.rates.items() if k in ("HEARTBEAT", "GIMBAL_DEVICE_ATTITUDE_STATUS")}
        if not world.scenario.camera.reports_angles:  # a camera that says nothing about where it points
            self.rates.pop("GIMBAL_DEVICE_ATTITUDE_STATUS", None)
            self.default_rates.pop("GIMBAL_DEVICE_ATTITUDE_STATUS", None)
        unknown = set(self.rates) - set(DEFAULT_RATES)
        if unknown:
            raise ValueError(f"unknown messages in rates: {sorted(unknown)}")
        self._clock = clock
        self._t0 = 0.0
        self.mav = mavlink.MAVLink(None, SYSTEM_ID, COMPONENTS[role])
        noise = world.scenario.noise
        rng = np.random.default_rng(world.seed + 1000 + noise.seed_offset)
        self._gps = GaussMarkov(rng, noise.gps_m, noise.gps_tau_s, 2)
        self._alt = GaussMarkov(rng, noise.alt_m, noise.gps_tau_s, 1)
        self._att = GaussMarkov(rng, math.radians(noise.att_deg), 5.0, 3)
        self._gim = GaussMarkov(rng, math.radians(noise.att_deg), 5.0, 3)
        self.time_offset_s = noise.time_offset_s
        self.links: list[Link] = []
        self._peers: dict[tuple[int, object], _Peer] = {}
        self._due: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.received: list[Any] = []
        self.sent = 0
        self.errors: list[str] = []

    # -- lifecycle ----------------------------------------------------------------------------------------------
    @property
    def pty_path(self) -> str | None:
        """The serial pseudo-terminal the companion opens (the first ``pty`` link), once started."""
        return next((lk.path for lk in self.links if isinstance(lk, PtyLink)), None)

    def now(self) -> float:
        """Sim time (s)."""
        return self._clock() if self._clock is not None else time.monotonic() - self._t0

    def start(self) -> None:
        if self._thread is not None:
            return
        try:
            for url in self.urls:
                self.links.append(open_link(url))
        except (OSError, ValueError):
            self.stop()
            raise
        self._t0 = time.monotonic()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sim-autopilot", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None
        for lk in self.links:
            lk.close()
        self.links.clear()

    def messages(self, mtype: str) -> list[Any]:
        """What the companion sent of one type (e.g. "STATUSTEXT")."""
        with self._lock:
            return [m for m in self.received if m.get_type() == mtype]

    # -- the loop -------------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for name, hz in list(self.rates.items()):
                if hz <= 0:
                    continue
                due = self._due.setdefault(name, now)
                if now >= due:
                    self._due[name] = max(due + 1.0 / hz, now - 0.5)
                    self._emit(name)
            wait = min([d for n, d in self._due.items() if self.rates.get(n, 0) > 0] + [now + 0.05]) - now
            fds = [fd for lk in self.links for fd in lk.fds()]
            try:
                ready = select.select(fds, [], [], max(0.0, min(wait, 0.05)))[0]
            except (OSError, ValueError):
                ready = fds
            if ready:
                self._receive()

    def _emit(self, name: str) -> None:
        try:
            msg = self._build(name, self.now())
        except Exception as err:  # a bug in a generator must not silence the other messages
            self.errors.append(f"{name}: {err!r}")
            return
        if msg is not None:
            self._send(msg)

    def _send(self, msg: Any) -> None:
        buf = bytes(msg.pack(self.mav))
        self.mav.seq = (self.mav.seq + 1) % 256
        self.sent += 1
        for lk in self.links:
            try:
                lk.write(buf)
            except OSError as err:
                self.errors.append(f"{lk.name}: {err}")

    def _receive(self) -> None:
        for lk in self.links:
            try:
                chunks = lk.read()
            except OSError as err:
                self.errors.append(f"{lk.name}: {err}")
                continue
            for key, data in chunks:
                peer = self._peers.get((id(lk), key))
                if peer is None:
                    parser = mavlink.MAVLink(None, 0, 0)
                    parser.robust_parsing = True
                    peer = self._peers[(id(lk), key)] = _Peer(lk, parser)
                for msg in peer.parser.parse_buffer(data) or []:
                    if msg.get_type() != "BAD_DATA":
                        self._handle(msg)

    # -- what the companion asks ----------------------------------------------------------------------------------
    def _handle(self, msg: Any) -> None:
        with self._lock:
            if len(self.received) < 100_000:
                self.received.append(msg)
        mtype = msg.get_type()
        if mtype == "TIMESYNC" and msg.tc1 == 0:
            self._send(mavlink.MAVLink_timesync_message(int((self.now() + BOOT_S) * 1e9), msg.ts1))
        elif mtype == "COMMAND_LONG" and msg.target_system in (0, 1):
            self._command(msg)
        elif mtype == "REQUEST_DATA_STREAM" and msg.target_system in (0, 1):
            names = [
                n for s, ns in STREAMS.items() if msg.req_stream_id in (s, mavlink.MAV_DATA_STREAM_ALL) for n in ns
            ]
            for n in names:
                if n in self.default_rates and (self.role == "autopilot" or n.startswith("GIMBAL")):
                    self.rates[n] = float(msg.req_message_rate) if msg.start_stop else 0.0

    def _command(self, msg: Any) -> None:
        result = mavlink.MAV_RESULT_UNSUPPORTED
        if msg.command in (mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, mavlink.MAV_CMD_REQUEST_MESSAGE):
            cls = mavlink.mavlink_map.get(int(msg.param1))
            name = cls.msgname if cls is not None else None
            if name in self.rates or (name in self.default_rates and self.role == "autopilot"):
                result = mavlink.MAV_RESULT_ACCEPTED
                if msg.command == mavlink.MAV_CMD_REQUEST_MESSAGE:
                    self._emit(name)
                elif msg.param2 < 0:
                    self.rates[name] = 0.0
                elif msg.param2 == 0:
                    self.rates[name] = self.default_rates[name]
                else:
                    self.rates[name] = 1e6 / msg.param2
            else:
                result = mavlink.MAV_RESULT_DENIED
        self._send(mavlink.MAVLink_command_ack_message(msg.command, result))

    # -- what it says -----------------------------------------------------------------------------------------
    def _truth(self, t: float) -> Any:
        return self.world.platform(max(0.0, t - self.time_offset_s))

    def _noisy_position(self, t: float) -> tuple[float, float, float]:
        """Lat/lon (deg) and alt (m AMSL) of the truth plus the GPS error at sim time ``t``."""
        p = self._truth(t)
        f = self.world.frame
        n, e, d = f.to_ned(p.lat, p.lon, p.alt)
        dn, de = self._gps.at(t)
        lat, lon, alt = f.to_geodetic(float(n) + dn, float(e) + de, float(d) - float(self._alt.at(t)[0]))
        return float(lat), float(lon), float(alt)

    def _build(self, name: str, t: float) -> Any:
        boot_ms = int((t + BOOT_S) * 1000) & 0xFFFFFFFF
        if name == "HEARTBEAT":
            if self.role == "gimbal":
                return mavlink.MAVLink_heartbeat_message(
                    mavlink.MAV_TYPE_GIMBAL, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, mavlink.MAV_STATE_ACTIVE, 3
                )
            mode = mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | mavlink.MAV_MODE_FLAG_SAFETY_ARMED
            return mavlink.MAVLink_heartbeat_message(
                mavlink.MAV_TYPE_QUADROTOR, mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, mode, 4, mavlink.MAV_STATE_ACTIVE, 3
            )
        if name == "GLOBAL_POSITION_INT":
            lat, lon, alt = self._noisy_position(t)
            vn, ve, vd = self.world.velocity_ned(max(0.0, t - self.time_offset_s))
            yaw = self._truth(t).yaw
            return mavlink.MAVLink_global_position_int_message(
                boot_ms,
                round(lat * 1e7),
                round(lon * 1e7),
                round(alt * 1000),
                round((alt - self.world.home[2]) * 1000),
                round(vn * 100),
                round(ve * 100),
                round(vd * 100),
                round(math.degrees(yaw) * 100) % 36000,
            )
        if name == "ATTITUDE":
            p = self._truth(t)
            dr, dp, dy = self._att.at(t)
            return mavlink.MAVLink_attitude_message(
                boot_ms, p.roll + dr, p.pitch + dp, quat.wrap(p.yaw + dy), 0.0, 0.0, 0.0
            )
        if name == "GPS_RAW_INT":
            return self._gps_raw(t)
        if name == "SYSTEM_TIME":
            return mavlink.MAVLink_system_time_message(int(time.time() * 1e6), boot_ms)
        if name == "SYS_STATUS":
            sensors = 0x0020FC2F
            return mavlink.MAVLink_sys_status_message(sensors, sensors, sensors, 250, 16000, 1200, 80, 0, 0, 0, 0, 0, 0)
        if name == "GIMBAL_DEVICE_ATTITUDE_STATUS":
            return self._gimbal(t, boot_ms)
        return None

    def _gps_raw(self, t: float) -> Any:
        lat, lon, alt = self._noisy_position(t)
        noise = self.world.scenario.noise
        vn, ve, _ = self.world.velocity_ned(max(0.0, t - self.time_offset_s))
        speed = math.hypot(vn, ve)
        cog = round(math.degrees(math.atan2(ve, vn)) * 100) % 36000 if speed > 0.5 else 65535
        return mavlink.MAVLink_gps_raw_int_message(
            int(time.time() * 1e6),
            mavlink.GPS_FIX_TYPE_3D_FIX,
            round(lat * 1e7),
            round(lon * 1e7),
            round(alt * 1000),
            80,  # HDOP 0.8
            120,  # VDOP 1.2
            round(speed * 100),
            cog,
            14,
            round(alt * 1000),
            round(max(noise.gps_m, 0.05) * 1000),  # h_acc, mm (1 sigma)
            round(max(noise.alt_m, 0.05) * 1000),  # v_acc, mm
            30,
            0,
            0,
        )

    def _gimbal(self, t: float, boot_ms: int) -> Any:
        p = self._truth(t)
        q_cam = quat.from_euler(p.cam_roll, p.cam_pitch, p.cam_yaw)
        if p.cam_frame == "body":
            q_cam = quat.multiply(quat.from_euler(p.roll, p.pitch, p.yaw), q_cam)
        roll, pitch, yaw = quat.to_euler(q_cam)  # earth frame
        dr, dp, dy = self._gim.at(t)
        cam = self.world.scenario.camera
        follows = p.cam_frame == "body" or cam.yaw_follows_body
        if follows:
            flags = GIMBAL_LOCKS | mavlink.GIMBAL_DEVICE_FLAGS_YAW_IN_VEHICLE_FRAME
            yaw -= p.yaw
        else:
            flags = GIMBAL_LOCKS | mavlink.GIMBAL_DEVICE_FLAGS_YAW_LOCK | mavlink.GIMBAL_DEVICE_FLAGS_YAW_IN_EARTH_FRAME
        q = quat.from_euler(roll + dr, pitch + dp, quat.wrap(yaw + dy))
        nan = float("nan")
        return mavlink.MAVLink_gimbal_device_attitude_status_message(
            0, 0, boot_ms, flags, list(q), nan, nan, nan, 0, p.yaw if follows else nan, nan, 0
        )
