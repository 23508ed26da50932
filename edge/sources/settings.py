"""Config sections of the sources: MAVLink, gpsd, pose store. (Owned by the MAVLink/gpsd/pose work.)"""

from __future__ import annotations

from pydantic import Field

from edge.settings_base import Section


class MavlinkSettings(Section):
    """The link to the autopilot."""

    url: str = Field(
        "",
        title="MAVLink connection",
        description="tcp:HOST:PORT, udpin:HOST:PORT, udpout:HOST:PORT, serial:/dev/PATH[:BAUD] or a .tlog file. "
        "Empty disables MAVLink.",
    )


class GpsSettings(Section):
    """gpsd, for vehicles without an autopilot."""

    enabled: bool = Field(False, title="Use gpsd", description="Read position from gpsd.")
    host: str = Field("127.0.0.1", title="gpsd host")
    port: int = Field(2947, title="gpsd port", ge=1, le=65535)
