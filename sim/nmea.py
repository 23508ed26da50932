"""NMEA 0183 from the simulated vehicle's GPS, written to a pseudo-terminal that a real gpsd reads.

Sentences, with valid checksums, at ``rate_hz``: GGA (fix, altitude), GSA (fix mode: 3D, or 2D with no altitude
in GGA), RMC (speed, course, date), HDT (true heading, as a dual-antenna receiver gives it) and GST (1-sigma error
ellipse, which gpsd turns into its error estimates). The antenna is ``antenna_height_m`` above the ground under the
vehicle: the world's camera position minus the mast (``platform.mast_height_m``) plus the antenna height. Noise as
the autopilot's (scenario ``noise``: GPS error as a Gauss-Markov process, ``time_offset_s`` makes fixes late).

``start_gpsd(device)`` runs a real gpsd on it (``gpsd -N -n -b -S PORT -F SOCKET DEVICE``) on a free port.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sim.autopilot import GaussMarkov
from sim.autopilot_links import PtyLink
from sim.world import World


def checksum(body: str) -> str:
    """XOR of the characters between '$' and '*', as two upper-case hex digits."""
    c = 0
    for ch in body:
        c ^= ord(ch)
    return f"{c:02X}"


def sentence(body: str) -> bytes:
    """``$BODY*CS\\r\\n`` as ASCII bytes."""
    return f"${body}*{checksum(body)}\r\n".encode("ascii")


def _lat(lat: float) -> str:
    a = abs(lat)
    d = int(a)
    return f"{d:02d}{(a - d) * 60:08.5f},{'N' if lat >= 0 else 'S'}"


def _lon(lon: float) -> str:
    a = abs(lon)
    d = int(a)
    return f"{d:03d}{(a - d) * 60:08.5f},{'E' if lon >= 0 else 'W'}"


def fix_sentences(
    utc: float,
    lat: float,
    lon: float,
    alt: float | None,
    speed_mps: float,
    course_deg: float,
    heading_deg: float | None,
    err_m: tuple[float, float, float],
) -> list[bytes]:
    """One epoch's GGA, GSA, RMC, (HDT), GST. ``alt`` None = a 2D fix; ``err_m`` = 1-sigma (north, east, up) m."""
    tm = time.gmtime(utc)
    hms = time.strftime("%H%M%S", tm) + f".{int(utc * 100) % 100:02d}"
    dmy = time.strftime("%d%m%y", tm)
    alt_field = f"{alt:.2f},M,0.0,M" if alt is not None else ",M,,M"
    mode = 3 if alt is not None else 2
    out = [
        f"GPGGA,{hms},{_lat(lat)},{_lon(lon)},1,12,0.8,{alt_field},,",
        f"GPGSA,A,{mode},02,05,07,09,13,15,18,20,21,26,29,30,1.4,0.8,{'1.2' if mode == 3 else ''}",
        f"GPRMC,{hms},A,{_lat(lat)},{_lon(lon)},{speed_mps / 0.514444:.2f},{course_deg % 360:.1f},{dmy},,,A",
    ]
    if heading_deg is not None:
        out.append(f"GPHDT,{heading_deg % 360:.2f},T")
    en, ee, eu = err_m
    out.append(
        f"GPGST,{hms},{math.hypot(en, ee):.2f},{max(en, ee):.2f},{min(en, ee):.2f},0.0,{en:.2f},{ee:.2f},{eu:.2f}"
    )
    return [sentence(b) for b in out]


class NmeaFeeder:
    """Writes the simulated GPS to a pty (``pty_path`` once started); ``fix`` "3d" or "2d"; ``start()``/``stop()``."""

    def __init__(
        self,
        world: World,
        rate_hz: float = 2.0,
        antenna_height_m: float = 2.0,
        fix: str = "3d",
        heading: bool = True,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if fix not in ("3d", "2d"):
            raise ValueError(f"fix must be '3d' or '2d', not {fix!r}")
        if not 0 < rate_hz <= 10:
            raise ValueError("rate_hz must be in (0, 10]")
        self.world = world
        self.rate_hz = rate_hz
        self.antenna_height_m = antenna_height_m
        self.fix = fix
        self.heading = heading
        self._clock = clock
        self._t0 = 0.0
        noise = world.scenario.noise
        rng = np.random.default_rng(world.seed + 2000 + noise.seed_offset)
        self._gps = GaussMarkov(rng, noise.gps_m, noise.gps_tau_s, 2)
        self._alt = GaussMarkov(rng, noise.alt_m, noise.gps_tau_s, 1)
        self._hdg = GaussMarkov(rng, math.radians(noise.att_deg), 5.0, 1)
        self._link: PtyLink | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.epochs = 0

    @property
    def pty_path(self) -> str | None:
        return self._link.path if self._link is not None else None

    def now(self) -> float:
        """Sim time (s)."""
        return self._clock() if self._clock is not None else time.monotonic() - self._t0

    def start(self) -> None:
        if self._thread is not None:
            return
        self._link = PtyLink()
        self._t0 = time.monotonic()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sim-nmea", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None
        if self._link is not None:
            self._link.close()
            self._link = None

    def _run(self) -> None:
        assert self._link is not None
        period = 1.0 / self.rate_hz
        nxt = time.monotonic()
        while not self._stop.wait(max(0.0, nxt - time.monotonic())):
            nxt += period
            self._link.read()  # discard anything gpsd writes
            for line in self.epoch(self.now(), time.time()):
                self._link.write(line)
            self.epochs += 1

    def epoch(self, t: float, utc: float) -> list[bytes]:
        """The sentences for sim time ``t`` (s) stamped ``utc`` (POSIX s)."""
        noise = self.world.scenario.noise
        truth_t = max(0.0, t - noise.time_offset_s)
        p = self.world.platform(truth_t)
        plat = self.world.scenario.platform
        mast = plat.mast_height_m if plat.kind == "mss" else 0.0
        f = self.world.frame
        n, e, d = f.to_ned(p.lat, p.lon, p.alt - mast + self.antenna_height_m)
        dn, de = self._gps.at(t)
        lat, lon, alt = f.to_geodetic(float(n) + dn, float(e) + de, float(d) - float(self._alt.at(t)[0]))
        vn, ve, _ = self.world.velocity_ned(truth_t)
        course = math.degrees(math.atan2(ve, vn)) if math.hypot(vn, ve) > 0.1 else math.degrees(p.yaw)
        heading = math.degrees(p.yaw + float(self._hdg.at(t)[0])) if self.heading else None
        err = (max(noise.gps_m, 0.05),) * 2 + (max(noise.alt_m, 0.05),)
        return fix_sentences(
            utc,
            float(lat),
            float(lon),
            float(alt) if self.fix == "3d" else None,
            math.hypot(vn, ve),
            course,
            heading,
            (err[0], err[1], err[2]),
        )


def free_port() -> int:
    """A TCP port nobody listens on now (bound to port 0 and released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gpsd:
    """A real gpsd reading ``device``, listening on 127.0.0.1:``port``; ``stop()`` ends it."""

    def __init__(self, device: str, port: int | None = None, timeout: float = 10.0) -> None:
        exe = shutil.which("gpsd") or next((p for p in ("/usr/sbin/gpsd", "/sbin/gpsd") if Path(p).exists()), None)
        if exe is None:
            raise FileNotFoundError("gpsd is not installed (apt install gpsd)")
        self.port = port or free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="sim-gpsd-")
        sock = str(Path(self._dir.name) / "gpsd.sock")
        self.proc = subprocess.Popen(
            [exe, "-N", "-n", "-b", "-S", str(self.port), "-F", sock, device],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                self._dir.cleanup()
                raise RuntimeError(f"gpsd exited with {self.proc.returncode}: {err.strip()[-500:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"gpsd did not listen on port {self.port} within {timeout:g} s")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(3.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(3.0)
        if self.proc.stderr:
            self.proc.stderr.close()
        self._dir.cleanup()


def start_gpsd(device: str, port: int | None = None) -> Gpsd:
    """Start a real gpsd on ``device`` (e.g. ``NmeaFeeder.pty_path``); FileNotFoundError when gpsd is missing."""
    return Gpsd(device, port)
