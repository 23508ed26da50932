"""Config sections of the uplink: spool and MQTT. (Owned by the uplink work.)"""

from __future__ import annotations

from pydantic import Field

from edge.settings_base import Section


class SpoolSettings(Section):
    """The durable store-and-forward queue."""

    max_bytes: int = Field(256 * 1024 * 1024, title="Spool size limit", description="Bytes.", gt=0)


class MqttSettings(Section):
    """The MQTT uplink."""

    url: str = Field("", title="Broker URL", description="mqtt://HOST:PORT or mqtts://HOST:PORT; empty disables.")
