"""gpsd as a pose source for vehicles without an autopilot (MSS): position, altitude, heading, error estimates.

We read gpsd's JSON stream (``?WATCH={"enable":true,"json":true}`` on TCP 2947) ourselves rather than through
gpsd-py3: gpsd-py3 keeps one connection in module globals, polls (``?POLL;``) instead of streaming, has no socket
timeouts (a hung gpsd hangs the caller), fails with IndexError when gpsd has no SKY report (NMEA without GSV), and
drops the ATT heading, the GST error ellipse and the fix time we need.

* Only 3D fixes (TPV mode 3 with an altitude) become positions; 2D fixes are counted and skipped (their altitude
  is stale). gpsd 3.22 reports mode 3 for an RMC-only cycle after a 2D GGA, without altitude: that is 2D too.
* Position of the camera = antenna position with altitude ``- antenna_height_m + camera_height_m``; the ground
  under the vehicle (``alt - antenna_height_m``) is the store's ground hint.
* Errors (1 sigma): GST's lat/lon/alt deviations when fresh, else TPV ``eph``/2.45 and ``epv``/1.96 (gpsd's are
  95 % figures), else 10 m / 20 m.
* Heading: ATT ``heading`` (a dual-antenna receiver's HDT) when present; else the course over ground while faster
  than ``min_speed_for_track_mps``; else the last heading is held (a vehicle does not turn standing still). Roll and
  pitch come from the pose settings (``body_roll_deg``/``body_pitch_deg``: a level vehicle).
* Fix times (UTC) are mapped onto our clock with the same sliding-minimum filter as the autopilot's boot time; the
  3D fixes' times also go to the UTC clock (``utc_clock``, "gpsd") that stamps records.
* gpsd silent for ``timeout_s`` or gone: reconnect with backoff.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import socket
import time
from datetime import datetime
from typing import Any

from edge.sources.clock import UtcClock
from edge.sources.mavlink_time import ClockMap
from edge.sources.pose import PoseStore
from edge.sources.settings import GpsSettings
from edge.sources.worker import Worker
from edge.stages import Health
from edge.types import PoseSource

log = logging.getLogger(__name__)
WATCH = b'?WATCH={"enable":true,"json":true};\n'
GST_MAX_AGE_S = 2.0
ATT_MAX_AGE_S = 3.0


def parse_time(text: str | None) -> float | None:
    """gpsd's ISO 8601 UTC time ("2026-11-22T14:12:16.230Z") -> POSIX seconds; None if absent or malformed."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class GpsdSource(Worker):
    """A ``Stage``: one thread reading gpsd and feeding the pose store."""

    def __init__(self, settings: GpsSettings, store: PoseStore, utc_clock: UtcClock | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.store = store
        self.utc_clock = utc_clock
        self.name = "gpsd"
        self._sock: socket.socket | None = None
        self._clock = ClockMap(window_s=60.0)
        self.state = "stopped"
        self.last_error = ""
        self.mode = 0
        self.stats = dict.fromkeys(("fixes", "fix_2d_skipped", "no_fix", "reconnects", "bad_lines"), 0)
        self.heading: float | None = None  # rad
        self.heading_source = ""
        self._att_t = -math.inf  # monotonic receipt time of the last ATT heading
        self._gst: tuple[float, float, float] | None = None  # (horizontal, vertical 1-sigma m, t_recv)
        self._fix_t: float | None = None

    # -- Stage ----------------------------------------------------------------------------------------------------
    def _interrupt(self) -> None:
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def health(self) -> Health:
        return {
            "name": self.name,
            "address": f"{self.settings.host}:{self.settings.port}",
            "state": self.state,
            "mode": self.mode,
            "heading_deg": round(math.degrees(self.heading) % 360, 1) if self.heading is not None else None,
            "heading_source": self.heading_source,
            **self.stats,
            "last_error": self.last_error,
        }

    # -- reader thread --------------------------------------------------------------------------------------------
    def _run(self) -> None:
        s = self.settings
        backoff = s.reconnect_min_s
        while not self._stop.is_set():
            got = False
            try:
                with socket.create_connection((s.host, s.port), timeout=2.0) as sock:
                    self._sock = sock
                    sock.sendall(WATCH)
                    sock.settimeout(0.2)
                    got = self._pump(sock)
                    why = f"no report for {s.timeout_s:g} s" if not self._stop.is_set() else ""
            except OSError as err:
                why = f"{err.strerror or err}"
            finally:
                self._sock = None
            if self._stop.is_set():
                break
            self.state = "reconnecting"
            self.last_error = why
            self.stats["reconnects"] += 1
            log.warning("gpsd %s:%d: %s; retrying", s.host, s.port, why)
            if got:
                backoff = s.reconnect_min_s
            self._stop.wait(backoff)
            backoff = min(backoff * 2, s.reconnect_max_s)

    def _pump(self, sock: socket.socket) -> bool:
        """Read JSON lines until silence, EOF or stop; True when a report came. EOF raises ConnectionResetError."""
        buf = b""
        last = time.monotonic()
        got = False
        while not self._stop.is_set():
            try:
                data = sock.recv(65536)
            except TimeoutError:
                data = None
            if data == b"":
                raise ConnectionResetError("gpsd closed the connection")
            now = time.monotonic()
            if data:
                buf += data
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    if line.strip() and self._line(line, now):
                        last, got = now, True
            if now - last > self.settings.timeout_s:
                return got
        return got

    def _line(self, line: bytes, t_recv: float) -> bool:
        """Handle one JSON report; True for a TPV/ATT/GST (a sign of life)."""
        try:
            rep = json.loads(line)
            cls = rep.get("class")
        except (ValueError, AttributeError):
            self.stats["bad_lines"] += 1
            return False
        if cls == "TPV":
            self._tpv(rep, t_recv)
        elif cls == "ATT" and isinstance(rep.get("heading"), int | float):
            self._att_t = t_recv
            self._set_heading(math.radians(rep["heading"]), "true heading", self._fix_t or t_recv)
        elif cls == "GST":
            lat, lon, alt = rep.get("lat"), rep.get("lon"), rep.get("alt")
            if isinstance(lat, int | float) and isinstance(lon, int | float):
                self._gst = (max(lat, lon), alt if isinstance(alt, int | float) else 2 * max(lat, lon), t_recv)
        else:
            return False
        return True

    def _tpv(self, rep: dict[str, Any], t_recv: float) -> None:
        s = self.settings
        self.mode = int(rep.get("mode", 0))
        utc = parse_time(rep.get("time"))
        if utc is not None:
            self._clock.add_one_way(t_recv, utc)
        t = (self._clock.to_mono(utc) if utc is not None else None) or t_recv
        if self.mode < 2:
            self.stats["no_fix"] += 1
            self.state = "no fix"
            return
        lat, lon, alt = rep.get("lat"), rep.get("lon"), rep.get("altMSL", rep.get("alt"))
        if not (isinstance(lat, int | float) and isinstance(lon, int | float)):
            self.stats["no_fix"] += 1
            return
        if self.mode == 2 or not isinstance(alt, int | float):  # gpsd 3.22 says mode 3 on RMC without altitude
            self.stats["fix_2d_skipped"] += 1
            self.state = "2D fix (not used)"
            return
        h_err, v_err = self._errors(rep, t_recv)
        ground = float(alt) - s.antenna_height_m
        self.store.add_position(t, float(lat), float(lon), ground + s.camera_height_m, h_err, v_err, PoseSource.GPSD)
        self.store.set_ground_alt(ground)
        self.stats["fixes"] += 1
        self.state = "3D fix"
        if self.utc_clock is not None and utc is not None:
            self.utc_clock.add("gpsd", t_recv, utc)
        self.last_error = ""
        self._fix_t = t
        speed, track = rep.get("speed"), rep.get("track")
        att_fresh = t_recv - self._att_t <= ATT_MAX_AGE_S
        moving = isinstance(speed, int | float) and speed >= s.min_speed_for_track_mps
        if not att_fresh and moving and isinstance(track, int | float):
            self._set_heading(math.radians(track), "course over ground", t)
            return
        if not att_fresh and self.heading is not None:
            self._set_heading(self.heading, "held", t)

    def _errors(self, rep: dict[str, Any], t_recv: float) -> tuple[float, float]:
        if self._gst is not None and t_recv - self._gst[2] <= GST_MAX_AGE_S:
            return self._gst[0], self._gst[1]
        eph, epv = rep.get("eph"), rep.get("epv")
        h = eph / 2.45 if isinstance(eph, int | float) and eph > 0 else 10.0
        v = epv / 1.96 if isinstance(epv, int | float) and epv > 0 else 2 * h
        return h, v

    def _set_heading(self, heading: float, source: str, t: float) -> None:
        ps = self.store.settings
        self.heading, self.heading_source = heading, source
        err = math.radians(ps.static_att_err_deg)
        self.store.add_attitude(
            t, math.radians(ps.body_roll_deg), math.radians(ps.body_pitch_deg), heading, err, source=f"gpsd {source}"
        )
