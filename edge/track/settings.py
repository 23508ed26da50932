"""Config section of the tracker. (Owned by the vision work.)"""

from __future__ import annotations

from pydantic import Field

from edge.settings_base import Section


class TrackerSettings(Section):
    """Multi-object tracker."""

    min_hits: int = Field(3, title="Confirmation hits", description="Frames before a track is reported.", ge=1)
