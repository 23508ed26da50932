"""Config section of the UTC clock (``[clock]``). (Owned by the clock work.)"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edge.settings_base import Section


class ClockSettings(Section):
    """Where the UTC of records comes from: GPS time (a field computer often has no RTC and no NTP) or the host."""

    source: Literal["auto", "host"] = Field(
        "auto",
        title="UTC source",
        description="auto: UTC = monotonic time + the offset measured from GPS time (the autopilot's SYSTEM_TIME / "
        "GPS_RAW_INT with a 3D fix, else gpsd's 3D fixes), the host clock until GPS time came; host: always the "
        "host clock (a computer disciplined by NTP/PTP), GPS time only measured against it.",
    )
    window_s: float = Field(
        60.0,
        title="Offset window",
        description="Seconds of GPS time samples the offset is estimated over (the median of each 5 s's least-delayed "
        "sample).",
        ge=5,
        le=3600,
    )
    max_host_error_s: float = Field(
        1.0,
        title="Host clock tolerance",
        description="The host clock is reported wrong (health, a log warning) when it differs from GPS time by more "
        "than this many seconds; smaller differences may be the GPS time's own latency.",
        gt=0,
    )
