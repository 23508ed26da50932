"""Config section of geolocation and the camera model. (Owned by the sources/geo work.)"""

from __future__ import annotations

from pydantic import Field

from edge.settings_base import Section


class GeoSettings(Section):
    """Camera model and ground model."""

    hfov_deg: float = Field(60.0, title="Horizontal field of view", description="Degrees.", gt=0, lt=180)
    ground_alt_m: float | None = Field(
        None, title="Ground altitude", description="Metres AMSL of flat ground; None = home altitude."
    )
