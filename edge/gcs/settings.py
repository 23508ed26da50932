"""Config section of the ground-station alerts. (Owned by the gcs/bridge work.)"""

from __future__ import annotations

from pydantic import Field

from edge.settings_base import Section


class GcsSettings(Section):
    """Alerts and health to the pilot's ground station over MAVLink."""

    enabled: bool = Field(True, title="Send alerts to the GCS", description="Needs [mavlink] url.")
