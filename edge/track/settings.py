"""Config section of the tracker. (Owned by the vision work.)"""

from __future__ import annotations

from pydantic import Field

from edge.settings_base import Section


class TrackerSettings(Section):
    """ByteTrack-style multi-object tracker."""

    high_threshold: float = Field(
        0.5, title="High confidence", description="Detections at or above this are matched first.", ge=0.0, le=1.0
    )
    low_threshold: float = Field(
        0.1, title="Low confidence", description="Detections below this are ignored.", ge=0.0, le=1.0
    )
    new_track_threshold: float = Field(
        0.0,
        title="New-track confidence",
        description="Unmatched detections at or above this start tracks; 0 (default): every detection the detector "
        "reports (at or above its conf_threshold / class_thresholds) may, so the detector's thresholds alone decide "
        "what is reported. Above the detector's threshold, objects scoring between the two are never reported.",
        ge=0.0,
        le=1.0,
    )
    match_iou: float = Field(
        0.2,
        title="Match IoU",
        description="Minimum IoU with the predicted box for a high-confidence match.",
        ge=0.0,
        le=1.0,
    )
    low_match_iou: float = Field(
        0.5,
        title="Low-confidence match IoU",
        description="Minimum IoU for the second (low-confidence) stage.",
        ge=0.0,
        le=1.0,
    )
    min_hits: int = Field(3, title="Confirmation hits", description="Frames before a track is reported.", ge=1)
    lost_after_s: float = Field(
        1.0, title="Lost after", description="Seconds without a match before a track is reported LOST.", gt=0.0
    )
    tentative_max_age_s: float = Field(
        0.3, title="Tentative timeout", description="An unconfirmed track is dropped silently after this (s).", gt=0.0
    )
    update_move: float = Field(
        0.25,
        title="Update on move",
        description="Report UPDATE when the box centre moved by this fraction of its size since the last report.",
        gt=0.0,
    )
    update_interval_s: float = Field(
        5.0,
        title="Update interval",
        description="Report UPDATE at least this often (s) while a track lives; 0 = never.",
        ge=0.0,
    )
