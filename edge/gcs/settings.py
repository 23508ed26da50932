"""Config section of the ground-station alerts. (Owned by the gcs/bridge work.)"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edge.settings_base import Section

SeverityName = Literal["emergency", "alert", "critical", "error", "warning", "notice", "info", "debug"]
SEVERITY = {"emergency": 0, "alert": 1, "critical": 2, "error": 3, "warning": 4, "notice": 5, "info": 6, "debug": 7}


class GcsSettings(Section):
    """Alerts and health to the pilot's ground station over MAVLink (through the daemon's [mavlink] link)."""

    enabled: bool = Field(True, title="Send alerts to the GCS", description="Needs [mavlink] url.")
    severity: dict[str, SeverityName] = Field(
        {"person": "critical", "vehicle": "warning", "boat": "warning"},
        title="Alert severity by class",
        description="STATUSTEXT severity of a new track's alert, by class name; a table in the config replaces this "
        "default as a whole (ground stations speak the urgent ones).",
    )
    default_severity: SeverityName = Field(
        "notice", title="Severity of other classes", description="For classes not in [gcs.severity]."
    )
    update_severity: SeverityName = Field("info", title="Severity of updates", description="For repeated alerts.")
    min_confidence: float = Field(
        0.0, title="Alert threshold", description="Confidence (0-1) below which no alert.", ge=0, le=1
    )
    update_interval_s: float = Field(
        0.0,
        title="Update interval",
        description="Repeat a track's alert with its new position at most every N s while it is seen; 0: only new tracks.",
        ge=0,
    )
    tracking_status: bool = Field(
        True,
        title="Send CAMERA_TRACKING_*_STATUS",
        description="CAMERA_TRACKING_GEO_STATUS (position) and CAMERA_TRACKING_IMAGE_STATUS (box) with each alert.",
    )
    ascii_only: bool = Field(
        True,
        title="ASCII text",
        description="Write '+/-' rather than '±': pymavlink, MAVProxy and Mission Planner read STATUSTEXT as ASCII; "
        "QGroundControl reads UTF-8, so false suits it.",
    )
    msgs_per_s: float = Field(
        4.0, title="Message budget", description="MAVLink messages/s the alerter may send; 0: unlimited.", ge=0
    )
    bytes_per_s: float = Field(
        600.0,
        title="Byte budget",
        description="Bytes/s the alerter and the radio uplink ([radio]) may send together: the radio's budget (a "
        "57,600-baud radio carries ~5760 B/s in all); 0: unlimited.",
        ge=0,
    )
    burst_s: float = Field(2.0, title="Budget burst", description="Token bucket depth in seconds of the budget.", gt=0)
    max_age_s: float = Field(
        10.0,
        title="Alert lifetime",
        description="Queued messages older than this are dropped, not sent late (s).",
        gt=0,
    )
    queue_size: int = Field(
        64, title="Queue size", description="Messages waiting for budget; oldest least urgent go first.", ge=1
    )
    health_interval_s: float = Field(
        5.0, title="Health period", description="NAMED_VALUE_FLOAT/INT health values every N s; 0: never.", ge=0
    )
    health_text: bool = Field(
        True, title="Health changes as text", description="STATUSTEXT when a health flag changes (camera, uplink)."
    )
