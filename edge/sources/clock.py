"""UTC for the daemon's records: our monotonic clock plus an offset measured from GPS time.

A companion computer in the field often has no RTC and no NTP, so its clock may be hours off. Every stage keeps
``time.monotonic()``; a UTC is ``t_mono + offset`` with ``offset`` (s) estimated from GPS time (docs/CONVENTIONS.md):

* A sample is a GPS-derived UTC and the monotonic time it was true at: the sender's own stamp mapped onto our clock
  where the message has one (SYSTEM_TIME's ``time_boot_ms`` through the link's TIMESYNC-backed map), else our
  receive time, which is late by the message's latency (``utc - t_recv`` then underestimates the offset).
* Per ``BIN_S`` of monotonic time the largest ``utc - t_mono`` is kept (the least-delayed sample: gpsd and SYSTEM_TIME
  come once a second), and the offset is the median of those over the last ``window_s``: a few late bins or a glitch
  in GPS time move nothing.
* Sources, in order of preference: "gps-mavlink" (the autopilot's GPS time), "gpsd" (3D fixes only). The first with
  a sample in the last ``window_s`` is used; when all go quiet the last offset is held (monotonic time does not
  jump; the host's crystal drifts by tens of ppm, a few seconds a day). Before any GPS time, and with
  ``source = "host"``, UTC is the host clock.
"""

from __future__ import annotations

import logging
import math
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from edge.sources.clock_settings import ClockSettings
from edge.stages import Health

log = logging.getLogger(__name__)
SOURCES = ("gps-mavlink", "gpsd")
BIN_S = 5.0
MIN_UTC = 1_500_000_000.0  # 2017-07-14: anything earlier is a time since boot or an unset clock, not UTC


def host_utc(t_mono: float) -> float:
    """The host clock's UTC (POSIX s) at monotonic time ``t_mono`` (s)."""
    return time.time() - (time.monotonic() - t_mono)


def estimate_offset(samples: Iterable[tuple[float, float]], bin_s: float = BIN_S) -> float | None:
    """``utc - t_mono`` (s) from ``(t_mono, utc)`` samples: the median over ``bin_s`` bins of t_mono of each bin's
    largest ``utc - t_mono`` (its least-delayed sample); None without samples."""
    best: dict[int, float] = {}
    for t_mono, utc in samples:
        key = math.floor(t_mono / bin_s)
        off = utc - t_mono
        if off > best.get(key, -math.inf):
            best[key] = off
    return statistics.median(best.values()) if best else None


class _Window:
    """The samples of one source over the last ``window_s`` (by t_mono) and their offset."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.samples: deque[tuple[float, float]] = deque()
        self.newest = -math.inf
        self.count = 0
        self._offset: float | None = None
        self._dirty = False

    def add(self, t_mono: float, utc: float) -> None:
        self.samples.append((t_mono, utc))
        self.newest = max(self.newest, t_mono)
        while self.samples and self.samples[0][0] < self.newest - self.window_s:
            self.samples.popleft()
        self.count += 1
        self._dirty = True

    def offset(self) -> float | None:
        if self._dirty:
            self._offset, self._dirty = estimate_offset(self.samples), False
        return self._offset


class UtcClock:
    """Thread-safe UTC for records: ``add`` GPS time samples from the source threads, ``to_utc`` anywhere."""

    def __init__(
        self,
        settings: ClockSettings | None = None,
        host: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or ClockSettings()
        self._host, self._mono = host, mono
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}
        self._gps: str | None = None  # the GPS source in use (or held)
        self._host_ok: bool | None = None

    def add(self, source: str, t_mono: float, utc: float) -> None:
        """GPS time ``utc`` (POSIX s) that was true at ``t_mono`` (our monotonic s); implausible UTCs are ignored."""
        if source not in SOURCES:
            raise ValueError(f"unknown clock source {source!r}")
        if not utc >= MIN_UTC:
            return
        with self._lock:
            self._windows.setdefault(source, _Window(self.settings.window_s)).add(t_mono, utc)
            changed = self._choose()
            err = self._host_error()
            ok = err is not None and abs(err) <= self.settings.max_host_error_s
            warn, self._host_ok = err is not None and not ok and ok != self._host_ok, ok
        if changed and err is not None:
            use = "host" if self.settings.source == "host" else self._gps
            log.info(
                "clock: GPS time from %s; the host clock is %+.3f s off it; records stamped from %s",
                self._gps,
                err,
                use,
            )
        if warn:
            log.warning("clock: the host clock is %+.3f s off GPS time (%s)", err, self._gps)

    def _choose(self) -> bool:
        """Pick the preferred GPS source with a fresh sample (else hold the last); True when it changed."""
        now = self._mono()
        fresh = [s for s in SOURCES if s in self._windows and now - self._windows[s].newest <= self.settings.window_s]
        pick = fresh[0] if fresh else self._gps
        changed, self._gps = pick != self._gps, pick
        return changed

    def _gps_offset(self) -> float | None:
        return self._windows[self._gps].offset() if self._gps is not None else None

    def _host_error(self) -> float | None:
        """Host clock minus GPS time (s), None before GPS time."""
        off = self._gps_offset()
        return None if off is None else self._host() - self._mono() - off

    @property
    def source(self) -> str:
        """The clock records are stamped from: "host", "gps-mavlink" or "gpsd"."""
        with self._lock:
            self._choose()
            return "host" if self.settings.source == "host" or self._gps is None else self._gps

    def to_utc(self, t_mono: float) -> float:
        """UTC (POSIX s) of monotonic time ``t_mono`` (s)."""
        with self._lock:
            self._choose()
            off = None if self.settings.source == "host" else self._gps_offset()
        if off is None:
            return self._host() - (self._mono() - t_mono)
        return t_mono + off

    def now(self) -> float:
        """UTC now (POSIX s)."""
        return self.to_utc(self._mono())

    def health(self) -> Health:
        """Which clock stamps records, how far the host clock is off GPS time (s), how old the GPS time is (s)."""
        source = self.source
        with self._lock:
            err = self._host_error()
            w = self._windows.get(self._gps) if self._gps is not None else None
            return {
                "name": "clock",
                "source": source,
                "host_offset_s": round(err, 3) if err is not None else None,
                "host_ok": None if err is None else abs(err) <= self.settings.max_host_error_s,
                "gps_age_s": round(self._mono() - w.newest, 1) if w is not None else None,
                "samples": w.count if w is not None else 0,
            }
