"""Checking gpsd's reports, and what the receiver itself says about its fix (beside gpsd's TPV label).

* ``number``: a report field that is absent (None) or a finite number within bounds; anything else (a string, NaN,
  latitude 91) raises ``BadReport`` naming the field, so that one bad report is skipped, not believed.
* ``FixQuality``: gpsd 3.22 labels some cycles mode 3 while the receiver's own GSA says 2D (2-4 satellites). We
  keep the satellites used (SKY ``uSat`` / the ``used`` flags, or the raw GGA's count) and the receiver's fix mode
  (the raw GSA's mode field; we ask gpsd for the raw NMEA beside its JSON) and grade a TPV by all three.
* ``nmea_heading``: the true headings gpsd 3.22 reads but does not report ($GNTHS of dual-antenna receivers, an
  NMEA compass's $HCHDG with its variation) from the same raw lines.
"""

from __future__ import annotations

import math
from typing import Any

MIN_SATS_3D = 4  # a position and an altitude need four satellites
QUALITY_MAX_AGE_S = 3.0  # older satellite counts / GSA modes do not speak for a new fix


class BadReport(ValueError):
    """A gpsd report with a field of the wrong type or out of range; the message names the field."""


def number(rep: dict[str, Any], key: str, lo: float = -math.inf, hi: float = math.inf) -> float | None:
    """``rep[key]`` as a float; None when absent; BadReport when not a finite number in [lo, hi]."""
    v = rep.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not lo <= v <= hi:
        raise BadReport(f"{rep.get('class', '?')} {key}={v!r}")
    return float(v)


def tpv_mode(rep: dict[str, Any]) -> int:
    """The TPV's fix mode 0-3 (absent: 0); BadReport for anything else."""
    mode = rep.get("mode", 0)
    if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 3:
        raise BadReport(f"TPV mode={mode!r}")
    return mode


def nmea_fields(line: str) -> list[str] | None:
    """The comma-separated fields of a ``$..*CS`` sentence with a valid checksum; None otherwise."""
    if not line.startswith("$") or len(line) < 4 or line[-3] != "*":
        return None
    body = line[1:-3]
    cs = 0
    for ch in body:
        cs ^= ord(ch)
    try:
        if cs != int(line[-2:], 16):
            return None
    except ValueError:
        return None
    return body.split(",")


def nmea_heading(line: str) -> float | None:
    """A true heading (deg) from a raw sentence gpsd 3.22 does not turn into ATT: $--THS (dual-antenna, mode A),
    $--HDT, or $--HDG (magnetic compass) when it carries the variation (and deviation) to make it true."""
    f = nmea_fields(line)
    if f is None or len(f[0]) != 5 or len(f) < 2:
        return None
    kind = f[0][2:]
    try:
        if f[1] and ((kind == "THS" and len(f) > 2 and f[2] == "A") or kind == "HDT"):
            deg = float(f[1])
        elif kind == "HDG" and len(f) > 5 and f[1] and f[4] and f[5] in ("E", "W"):
            dev = float(f[2]) * (1 if f[3] == "E" else -1) if len(f) > 3 and f[2] else 0.0
            deg = float(f[1]) + dev + float(f[4]) * (1 if f[5] == "E" else -1)
        else:
            return None
    except ValueError:
        return None
    return deg % 360.0 if math.isfinite(deg) else None


class FixQuality:
    """The receiver's own word on its fix: satellites used and its GSA fix mode, each with its receipt time (s)."""

    def __init__(self) -> None:
        self.sats: int | None = None
        self._sats_t = -math.inf
        self.rx_mode: int | None = None
        self._rx_t = -math.inf

    def sky(self, rep: dict[str, Any], t_recv: float) -> None:
        """A SKY report: ``uSat``, else the count of satellites flagged ``used``."""
        used = number(rep, "uSat", 0, 1000)
        sats = rep.get("satellites")
        if used is None and isinstance(sats, list) and sats:
            used = float(sum(1 for s in sats if isinstance(s, dict) and s.get("used") is True))
        if used is not None:
            self.sats, self._sats_t = int(used), t_recv

    def nmea(self, line: str, t_recv: float) -> None:
        """A raw NMEA sentence from gpsd: GSA gives the receiver's fix mode, GGA the satellites in use."""
        f = nmea_fields(line)
        if f is None or len(f[0]) != 5:
            return
        kind = f[0][2:]
        if kind == "GSA" and len(f) > 2 and f[2] in ("1", "2", "3"):
            self.rx_mode, self._rx_t = int(f[2]), t_recv
        elif kind == "GGA" and len(f) > 7 and f[7].isdigit():
            self.sats, self._sats_t = int(f[7]), t_recv

    def grade(self, mode: int, t_recv: float) -> tuple[int, str]:
        """(mode, why): gpsd's TPV ``mode`` lowered to 2 when the receiver says 2D or uses < 4 satellites."""
        if mode < 3:
            return mode, ""
        if self.rx_mode is not None and t_recv - self._rx_t <= QUALITY_MAX_AGE_S and self.rx_mode < 3:
            return 2, f"the receiver's GSA says {self.rx_mode}D"
        if self.sats is not None and t_recv - self._sats_t <= QUALITY_MAX_AGE_S and self.sats < MIN_SATS_3D:
            return 2, f"{self.sats} satellites used"
        return mode, ""
