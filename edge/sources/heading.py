"""Which heading a vehicle without an autopilot uses, best first (``gps.heading_sources``).

* ``gnss``: a true heading through gpsd: its ATT ``heading`` (a dual-antenna receiver's $GPHDT or UBX
  RELPOSNED), or the raw $--THS / $--HDT / $--HDG (with variation) it passes on (a dual-antenna receiver, or an
  NMEA compass given to gpsd as a second device). Fresh for ``FRESH_S``.
* ``mavlink``: a compass / AHRS on the MAVLink link: its ATTITUDE goes to the pose store directly; while it is
  fresh we write no heading of our own.
* ``course``: the course over ground while faster than ``min_speed_for_track_mps``; when the vehicle stops the last
  such course is held, its error growing by ``held_err_growth_deg_per_min`` (a parked vehicle rarely turns).
* ``calibrated``: the crew's landmark calibration (``edge calibrate heading``), valid while the vehicle stays
  within ``CALIBRATION_RADIUS_M`` of where it was made. One made after the vehicle stopped beats the held course.
Nothing: the configured ``[pose] body_yaw_deg`` (the pose store's own fallback), else no pose.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

FRESH_S = 3.0
CALIBRATION_RADIUS_M = 25.0
CALIBRATION_FILE = "heading.json"
SOURCES = ("gnss", "mavlink", "course", "calibrated")


@dataclass(frozen=True, slots=True)
class Heading:
    """A heading (rad, 0 = north, + towards east), its 1-sigma error (rad) and where it came from."""

    yaw: float
    err: float
    source: str


@dataclass(frozen=True, slots=True)
class Calibration:
    """A heading set by the crew from a landmark: deg, where the vehicle stood (deg), and when (POSIX s)."""

    heading_deg: float
    lat: float
    lon: float
    err_deg: float
    t_utc: float

    def to_json(self) -> str:
        return json.dumps({k: getattr(self, k) for k in self.__slots__}, indent=1)


def read_calibration(path: Path) -> Calibration | None:
    """The calibration in ``path``; None when absent; ValueError naming the file when unreadable."""
    try:
        raw = json.loads(path.read_text())
        cal = Calibration(*(float(raw[k]) for k in Calibration.__slots__))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: not a heading calibration ({err})") from None
    if not all(math.isfinite(v) for v in (cal.heading_deg, cal.lat, cal.lon, cal.err_deg)):
        raise ValueError(f"{path}: not a heading calibration (non-finite values)")
    return cal


def distance_m(lat0: float, lon0: float, lat1: float, lon1: float) -> float:
    """Ground distance (m) between two nearby points (equirectangular; enough for tens of metres)."""
    dn = math.radians(lat1 - lat0) * 6371000.0
    de = math.radians((lon1 - lon0 + 540.0) % 360.0 - 180.0) * 6371000.0 * math.cos(math.radians(lat0))
    return math.hypot(dn, de)


class HeadingChooser:
    """Keeps what each heading source said last and picks the best usable one at a time ``t`` (s, monotonic)."""

    def __init__(self, order: list[str], course_err_deg: float, held_err_growth_deg_per_min: float) -> None:
        self.order = order
        self.course_err = math.radians(course_err_deg)
        self.growth = math.radians(held_err_growth_deg_per_min) / 60.0
        self.calibration: Calibration | None = None
        self._cal_t = -math.inf  # when the calibration was set (s, monotonic)
        self._true: tuple[float, float] | None = None  # (yaw rad, t)
        self._course: tuple[float, float] | None = None  # (yaw rad, t of the last moving fix)
        self._pos: tuple[float, float] | None = None

    def set_calibration(self, calibration: Calibration | None, t: float) -> None:
        """The crew's calibration, read at ``t`` (s, monotonic); None: withdrawn."""
        self.calibration, self._cal_t = calibration, t

    def true_heading(self, yaw: float, t: float) -> None:
        self._true = (yaw, t)

    def fix(self, t: float, lat: float, lon: float, speed: float | None, track: float | None, min_speed: float) -> None:
        """A position fix with its ground speed (m/s) and course (rad): a course is remembered while moving."""
        self._pos = (lat, lon)
        if speed is not None and track is not None and speed >= min_speed:
            self._course = (track, t)

    def choose(self, t: float, mavlink_fresh: bool, true_err: float) -> Heading | None:
        """The best heading at ``t``; source "mavlink" means: the autopilot's attitude is in the store already."""
        for src in self.order:
            if src == "gnss" and self._true is not None and t - self._true[1] <= FRESH_S:
                return Heading(self._true[0], true_err, "true heading")
            if src == "mavlink" and mavlink_fresh:
                return Heading(0.0, 0.0, "mavlink")
            if src == "course" and self._course is not None:
                yaw, t_moving = self._course
                stopped = max(0.0, t - t_moving)
                if stopped <= FRESH_S:
                    return Heading(yaw, self.course_err, "course over ground")
                if self._cal_t > t_moving and self._calibration_here():
                    continue  # the crew calibrated after the vehicle stopped
                return Heading(yaw, self.course_err + self.growth * stopped, "last course (held)")
            if src == "calibrated" and self.calibration is not None and self._calibration_here():
                c = self.calibration
                return Heading(math.radians(c.heading_deg), math.radians(c.err_deg), "calibrated")
        return None

    def _calibration_here(self) -> bool:
        c = self.calibration
        if c is None or self._pos is None:
            return False
        return distance_m(c.lat, c.lon, *self._pos) <= CALIBRATION_RADIUS_M
