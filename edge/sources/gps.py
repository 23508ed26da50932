"""gpsd as a pose source for vehicles without an autopilot (MSS): position, altitude, heading, error estimates.

We read gpsd's JSON stream (``?WATCH={"enable":true,"json":true,"raw":1}`` on TCP 2947) ourselves rather than
through gpsd-py3: gpsd-py3 keeps one connection in module globals, polls (``?POLL;``) instead of streaming, has no
socket timeouts (a hung gpsd hangs the caller), fails with IndexError when gpsd has no SKY report (NMEA without
GSV), and drops the ATT heading, the GST error ellipse and the fix time we need. ``raw`` adds the receiver's own
NMEA lines, whose GSA says what fix the receiver really has.

* Only 3D fixes become positions, graded by gpsd's TPV mode, the satellites in use and the receiver's GSA mode
  (``edge.sources.gps_reports``): gpsd 3.22 says mode 3 for cycles the receiver calls 2D (2-4 satellites), with a
  held altitude. 2D fixes are counted and skipped (health says why); so is an RMC-only "mode 3" without altitude.
* A report with a bad value (mode "x", NaN altitude, latitude 91) is counted (``bad_reports``) and skipped.
* Position of the camera = antenna position with altitude ``- antenna_height_m + camera_height_m``; the ground
  under the vehicle (``alt - antenna_height_m``) is the store's ground hint.
* Errors (1 sigma): GST's lat/lon/alt deviations when fresh, else TPV ``eph``/2.45 and ``epv``/1.96 (gpsd's are
  95 % figures), else 10 m / 20 m.
* Heading: the best of ``heading_sources`` (``edge.sources.heading``); roll and pitch come from the pose settings
  (``body_roll_deg``/``body_pitch_deg``: a level vehicle).
* Fix times (UTC) are mapped onto our clock with the same sliding-minimum filter as the autopilot's boot time; the
  3D fixes' times also go to the UTC clock (``utc_clock``, "gpsd") that stamps records.
* gpsd silent for ``timeout_s`` or gone: reconnect (``edge.ops.backoff``; the first retry is quick after a healthy
  session, and no wait exceeds ``reconnect_max_s``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import socket
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from edge.ops.backoff import Backoff
from edge.sources.clock import UtcClock
from edge.sources.gps_reports import BadReport, FixQuality, nmea_heading, number, tpv_mode
from edge.sources.heading import CALIBRATION_FILE, FRESH_S, HeadingChooser, read_calibration
from edge.sources.mavlink_time import ClockMap
from edge.sources.pose import PoseStore
from edge.sources.settings import GpsSettings
from edge.sources.worker import Worker
from edge.stages import Health
from edge.types import PoseSource

log = logging.getLogger(__name__)
WATCH = b'?WATCH={"enable":true,"json":true,"raw":1};\n'
GST_MAX_AGE_S = 2.0
CALIBRATION_CHECK_S = 2.0


def parse_time(text: object) -> float | None:
    """gpsd's ISO 8601 UTC time ("2026-11-22T14:12:16.230Z") -> POSIX seconds; None if absent or malformed."""
    if not text or not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class GpsdSource(Worker):
    """A ``Stage``: one thread reading gpsd and feeding the pose store.

    ``state_dir``: where ``edge calibrate heading`` writes the crew's heading (``heading.json``); re-read when it
    changes.
    """

    def __init__(
        self,
        settings: GpsSettings,
        store: PoseStore,
        utc_clock: UtcClock | None = None,
        state_dir: Path | None = None,
    ) -> None:
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
        self.fix_note = ""
        self.stats = dict.fromkeys(("fixes", "fix_2d_skipped", "no_fix", "reconnects", "bad_lines", "bad_reports"), 0)
        self.heading: float | None = None  # rad
        self.heading_source = ""
        self._quality = FixQuality()
        self._headings = HeadingChooser(
            list(settings.heading_sources), settings.course_err_deg, settings.held_err_growth_deg_per_min
        )
        self._cal_path = state_dir / CALIBRATION_FILE if state_dir is not None else None
        self._cal_mtime: float | None = None
        self._cal_checked = -math.inf
        self._gst: tuple[float, float, float] | None = None  # (horizontal, vertical 1-sigma m, t_recv)
        self._fix_t: float | None = None
        self._heard = False

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
            "fix_note": self.fix_note,
            "satellites_used": self._quality.sats,
            "receiver_mode": self._quality.rx_mode,
            "heading_deg": round(math.degrees(self.heading) % 360, 1) if self.heading is not None else None,
            "heading_source": self.heading_source,
            **self.stats,
            "last_error": self.last_error,
            **self.thread_health(),
        }

    # -- reader thread --------------------------------------------------------------------------------------------
    def _run(self) -> None:
        s = self.settings
        backoff = Backoff(s.reconnect_min_s, s.reconnect_max_s)
        while not self._stop.is_set():
            self._heard = False
            try:
                with socket.create_connection((s.host, s.port), timeout=2.0) as sock:
                    self._sock = sock
                    sock.sendall(WATCH)
                    sock.settimeout(0.2)
                    why = self._pump(sock)
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
            if self._heard:
                backoff.reset()
            backoff.wait(self._stop)

    def _pump(self, sock: socket.socket) -> str:
        """Read lines until silence, EOF or stop; returns why it ended. Sets ``_heard`` when a report came."""
        buf = b""
        last = time.monotonic()
        while not self._stop.is_set():
            try:
                data = sock.recv(65536)
            except TimeoutError:
                data = None
            if data == b"":
                return "gpsd closed the connection"
            now = time.monotonic()
            if data:
                buf += data
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    if line.strip() and self._line(line.strip(), now):
                        last = now
                        self._heard = True
            if now - last > self.settings.timeout_s:
                return f"no report for {self.settings.timeout_s:g} s"
        return ""

    def _line(self, line: bytes, t_recv: float) -> bool:
        """Handle one line (a JSON report or a raw NMEA sentence); True for a TPV/ATT/GST (a sign of life)."""
        if line.startswith(b"$"):
            text = line.decode("ascii", "replace")
            self._quality.nmea(text, t_recv)
            heading = nmea_heading(text)
            if heading is not None:
                self._headings.true_heading(math.radians(heading), t_recv)
            return False
        if not line.startswith(b"{"):
            return False  # gpsd's raw dump of a binary receiver
        try:
            rep = json.loads(line)
            cls = rep.get("class")
        except (ValueError, AttributeError):
            self.stats["bad_lines"] += 1
            return False
        try:
            return self._report(cls, rep, t_recv)
        except BadReport as err:
            self.stats["bad_reports"] += 1
            self.last_error = f"bad report skipped: {err}"
            self.state = "bad reports"
            log.debug("gpsd: %s", self.last_error)
            return True

    def _report(self, cls: object, rep: dict[str, Any], t_recv: float) -> bool:
        if cls == "TPV":
            self._tpv(rep, t_recv)
        elif cls == "SKY":
            self._quality.sky(rep, t_recv)
            return False
        elif cls == "ATT":
            heading = number(rep, "heading", 0.0, 360.0)
            if heading is not None:
                self._headings.true_heading(math.radians(heading), t_recv)
        elif cls == "GST":
            lat, lon, alt = number(rep, "lat", 0.0), number(rep, "lon", 0.0), number(rep, "alt", 0.0)
            if lat is not None and lon is not None:
                self._gst = (max(lat, lon), alt if alt is not None else 2 * max(lat, lon), t_recv)
        else:
            return False
        return True

    def _tpv(self, rep: dict[str, Any], t_recv: float) -> None:
        s = self.settings
        mode = tpv_mode(rep)
        lat, lon = number(rep, "lat", -90.0, 90.0), number(rep, "lon", -180.0, 180.0)
        alt = number(rep, "altMSL", -1000.0, 100000.0)
        if alt is None:
            alt = number(rep, "alt", -1000.0, 100000.0)
        speed, track = number(rep, "speed", 0.0), number(rep, "track", 0.0, 360.0)
        utc = parse_time(rep.get("time"))
        if utc is not None:
            self._clock.add_one_way(t_recv, utc)
        t = (self._clock.to_mono(utc) if utc is not None else None) or t_recv
        self.mode, self.fix_note = self._quality.grade(mode, t_recv)
        if self.mode < 2:
            self.stats["no_fix"] += 1
            self.state = "no fix"
            return
        if lat is None or lon is None:
            self.stats["no_fix"] += 1
            return
        track_rad = math.radians(track) if track is not None else None
        self._headings.fix(t_recv, lat, lon, speed, track_rad, s.min_speed_for_track_mps)
        if self.mode == 2 or alt is None:  # gpsd 3.22 says mode 3 on RMC without altitude
            self.mode = 2
            self.stats["fix_2d_skipped"] += 1
            self.state = "2D fix (not used)"
            self.fix_note = self.fix_note or "no altitude"
            return
        h_err, v_err = self._errors(rep, t_recv)
        ground = alt - s.antenna_height_m
        self.store.add_position(t, lat, lon, ground + s.camera_height_m, h_err, v_err, PoseSource.GPSD)
        self.store.set_ground_alt(ground)
        self.stats["fixes"] += 1
        self.state = "3D fix"
        if self.utc_clock is not None and utc is not None:
            self.utc_clock.add("gpsd", t_recv, utc)
        self.last_error = ""
        self._fix_t = t
        self._update_heading(t, t_recv)

    def _errors(self, rep: dict[str, Any], t_recv: float) -> tuple[float, float]:
        if self._gst is not None and t_recv - self._gst[2] <= GST_MAX_AGE_S:
            return self._gst[0], self._gst[1]
        eph, epv = number(rep, "eph", 0.0), number(rep, "epv", 0.0)
        h = eph / 2.45 if eph else 10.0
        v = epv / 1.96 if epv else 2 * h
        return h, v

    def _update_heading(self, t: float, t_recv: float) -> None:
        """Write the best heading for the fix at ``t`` (our clock) into the store."""
        self._reload_calibration(t_recv)
        ps = self.store.settings
        other = self.store.last_attitude_t("mavlink")
        fresh = other is not None and t_recv - other <= FRESH_S
        h = self._headings.choose(t_recv, fresh, math.radians(ps.static_att_err_deg))
        if h is None:
            self.heading, self.heading_source = (
                None,
                ("fixed [pose] body_yaw_deg" if ps.body_yaw_deg is not None else ""),
            )
            return
        self.heading_source = h.source
        if h.source == "mavlink":
            self.heading = None
            return
        self.heading = h.yaw
        self.store.add_attitude(
            t, math.radians(ps.body_roll_deg), math.radians(ps.body_pitch_deg), h.yaw, h.err, source=f"gpsd {h.source}"
        )

    def _reload_calibration(self, now: float) -> None:
        """Read ``heading.json`` again when it appeared or changed (checked every few seconds)."""
        if self._cal_path is None or now - self._cal_checked < CALIBRATION_CHECK_S:
            return
        self._cal_checked = now
        try:
            mtime: float | None = self._cal_path.stat().st_mtime
        except OSError:
            mtime = None
        if mtime == self._cal_mtime:
            return
        self._cal_mtime = mtime
        try:
            cal = read_calibration(self._cal_path)
        except ValueError as err:
            log.error("%s", err)
            cal = None
        if cal is not None:
            log.info("heading calibration %.1f deg from %s", cal.heading_deg, self._cal_path)
        self._headings.set_calibration(cal, now)
