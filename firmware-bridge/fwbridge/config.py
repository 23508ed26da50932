"""The bridge's TOML config (``bridge.toml``): ``[bridge]``, ``[serial]`` and one ``[[endpoint]]`` per link.

Every key has a default; unknown keys are errors that name the file and the dotted key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from edge.settings_base import Section, load_toml

# HEARTBEAT, SYS_STATUS, GPS_RAW_INT, ATTITUDE, GLOBAL_POSITION_INT, VFR_HUD, COMMAND_INT/LONG/ACK
HIGH_PRIORITY_IDS = [0, 1, 24, 30, 33, 74, 75, 76, 77]
# CAMERA_TRACKING_IMAGE/GEO_STATUS, NAMED_VALUE_FLOAT/INT: detection and health traffic of the daemon
LOW_PRIORITY_IDS = [275, 276, 251, 252]


class LinkSettings(Section):
    """What every link (the serial port and each endpoint) shares: filters, rate limit, signing."""

    name: str = Field(
        "link", title="Name", description="Used in logs and statistics.", pattern=r"^[A-Za-z0-9_.-]{1,32}$"
    )
    allow_out_ids: list[int] = Field([], title="Send only these ids", description="Empty: every message id.")
    block_out_ids: list[int] = Field([], title="Never send these ids", description="Applied after allow_out_ids.")
    allow_in_ids: list[int] = Field([], title="Accept only these ids", description="Empty: every message id.")
    block_in_ids: list[int] = Field([], title="Refuse these ids", description="Applied after allow_in_ids.")
    msgs_per_s: float = Field(
        0.0, title="Message rate limit", description="Messages/s sent to this link; 0: none.", ge=0
    )
    bytes_per_s: float = Field(
        0.0, title="Byte rate limit", description="Bytes/s sent to this link (57600 baud ≈ 5760); 0: none.", ge=0
    )
    burst_s: float = Field(1.0, title="Burst", description="Token bucket depth in seconds of the rate limits.", gt=0)
    high_priority_ids: list[int] = Field(
        HIGH_PRIORITY_IDS,
        title="High priority ids",
        description="May use the whole bucket (autopilot heartbeat, position, attitude, commands).",
    )
    low_priority_ids: list[int] = Field(
        LOW_PRIORITY_IDS, title="Low priority ids", description="Sent only while the bucket is over half full."
    )
    low_priority_components: list[int] = Field(
        [191],
        title="Low priority components",
        description="Source component ids whose traffic (not heartbeat) is shed first; 191 = onboard computer.",
    )
    alert_ids: list[int] = Field(
        [276],
        title="Alert ids",
        description="Outrank all other traffic under the rate limit: held and sent first rather than dropped "
        "(276 = CAMERA_TRACKING_GEO_STATUS).",
    )
    alert_severity: int = Field(
        4,
        title="Alert severity",
        description="STATUSTEXT at this MAV_SEVERITY or more severe (0 emergency ... 4 warning ... 7 debug) is an "
        "alert too; -1: none.",
        ge=-1,
        le=7,
    )
    signing: Literal["off", "sign", "require"] = Field(
        "off",
        title="MAVLink 2 signing",
        description="off; sign: sign what the bridge originates and drop badly signed frames; "
        "require: also refuse unsigned frames from this link.",
    )
    key_credential: str = Field(
        "", title="Key credential", description="Name of the key in $CREDENTIALS_DIRECTORY (systemd LoadCredential=)."
    )
    key_file: str = Field("", title="Key file", description="32-byte key (64 hex chars or raw); mode 0600 or stricter.")
    link_id: int = Field(
        0, title="Signing link id", description="link_id in signatures the bridge makes.", ge=0, le=255
    )
    unsigned_ids: list[int] = Field(
        [109], title="Unsigned ids accepted", description="Accepted unsigned on a require link (109 = RADIO_STATUS)."
    )
    reconnect_min_s: float = Field(0.2, title="First retry", description="Seconds before reopening a lost link.", gt=0)
    reconnect_max_s: float = Field(2.0, title="Longest retry", description="Backoff cap, seconds.", gt=0)

    @model_validator(mode="after")
    def _key_given(self) -> LinkSettings:
        if self.signing != "off" and not (self.key_credential or self.key_file):
            raise ValueError(f"link {self.name}: signing = {self.signing!r} needs key_credential or key_file")
        return self


class SerialSettings(LinkSettings):
    """The flight controller's serial port. With none of path, glob, usb_* set the bridge runs without one."""

    name: str = Field("fc", title="Name", description="Used in logs and statistics.", pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    path: str = Field("", title="Device path", description="e.g. /dev/serial/by-id/usb-ArduPilot_...-if00.")
    glob: str = Field("", title="Device glob", description="Newest match is used, e.g. /dev/ttyACM*.")
    usb_vid: int | None = Field(None, title="USB vendor id", description="e.g. 0x1209; matched with pyserial.")
    usb_pid: int | None = Field(None, title="USB product id", description="e.g. 0x5741.")
    usb_serial: str = Field("", title="USB serial number", description="Empty: any.")
    baud: int = Field(921600, title="Baud rate", description="bits/s.", gt=0)
    reconnect_max_s: float = Field(1.0, title="Longest retry", description="Backoff cap, seconds.", gt=0)

    @property
    def configured(self) -> bool:
        return bool(self.path or self.glob or self.usb_vid is not None)


class EndpointSettings(LinkSettings):
    """A network endpoint: a UDP server (learns its peers), a UDP client, a TCP server (one link per client),
    or a TCP client (connects to address:port, e.g. ArduPilot SITL's 5760, and reconnects)."""

    mode: Literal["udp-server", "udp-client", "tcp-server", "tcp-client"] = Field(
        "udp-server", title="Mode", description="udp-server, udp-client, tcp-server or tcp-client."
    )
    address: str = Field("127.0.0.1", title="Address", description="Bind address (servers) or peer address (clients).")
    port: int = Field(14550, title="Port", description="UDP/TCP port.", ge=1, le=65535)
    peer_timeout_s: float = Field(
        10.0, title="Peer timeout", description="udp-server: stop sending to a peer silent this long (s).", gt=0
    )


class BridgeSettings(Section):
    """The bridge itself."""

    dialect: str = Field("ardupilotmega", title="Dialect", description="pymavlink v2 dialect for CRC_EXTRA.")
    system_id: int = Field(1, title="System id", description="Of the frames the bridge originates.", ge=1, le=255)
    component_id: int = Field(241, title="Component id", description="241 = MAV_COMP_ID_UART_BRIDGE.", ge=1, le=255)
    heartbeat_s: float = Field(1.0, title="Heartbeat period", description="Own HEARTBEAT every N s; 0: none.", ge=0)
    stats_file: str = Field(
        "", title="Statistics file", description="JSON written every stats_interval_s (atomically); empty: none."
    )
    stats_interval_s: float = Field(2.0, title="Statistics period", description="Seconds.", gt=0)
    log_stats_s: float = Field(60.0, title="Log statistics", description="Log a summary every N s; 0: never.", ge=0)
    stats_port: int = Field(
        0,
        title="Statistics query port",
        description="UDP port on 127.0.0.1 answering any datagram with the JSON; 0: off.",
        ge=0,
        le=65535,
    )


class BridgeConfig(Section):
    """The whole bridge config."""

    bridge: BridgeSettings = Field(default_factory=BridgeSettings, title="Bridge")
    serial: SerialSettings = Field(default_factory=SerialSettings, title="Flight controller serial port")
    endpoint: list[EndpointSettings] = Field([], title="Endpoints")

    @model_validator(mode="after")
    def _unique_names(self) -> BridgeConfig:
        seen: dict[str, str] = {self.serial.name: "serial.name"} if self.serial.configured else {}
        for i, e in enumerate(self.endpoint):
            key = f"endpoint.{i}.name"
            if e.name in seen:
                raise ValueError(f"{key}: link name {e.name!r} is already used by {seen[e.name]}; names must be unique")
            seen[e.name] = key
        return self


class BridgeConfigError(Exception):
    """A config that cannot be used; the message names the file and key."""


def load_bridge_config(path: str | Path) -> BridgeConfig:
    """Read and validate ``path``; BridgeConfigError with ``FILE: key: problem`` lines when it is not usable."""
    return load_toml(path, BridgeConfig, BridgeConfigError)
