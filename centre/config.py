"""The centre's TOML config (``centre.toml``): ``[mqtt]``, ``[store]``, ``[fusion]``, ``[tak]``, ``[api]``,
``[retention]``. Every key has a default; unknown keys are errors naming the file and the dotted key.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator

from edge.settings_base import Section, load_toml
from edge.uplink.conn import parse_url


class MqttSettings(Section):
    """The broker the fleet publishes to (or a centre broker bridged from vehicle brokers)."""

    url: str = Field("mqtt://127.0.0.1:1883", title="Broker URL", description="mqtt://HOST:PORT or mqtts://HOST:PORT.")
    client_id: str = Field(
        "edge-centre-1",
        title="Client id",
        description="Stable per ingest process: the broker keeps this session's unacknowledged messages.",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
    )
    group: str = Field(
        "centre",
        title="Shared subscription group",
        description="Ingest processes with the same group share the stream ($share/GROUP/edge/+/...).",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
    )
    session_expiry_s: int = Field(
        86400, title="Session expiry", description="Seconds the broker keeps a stopped worker's session.", ge=0
    )
    receive_maximum: int = Field(
        1000,
        title="Receive maximum",
        description="Unacknowledged messages the broker may send at once.",
        ge=1,
        le=65535,
    )
    batch_max: int = Field(
        500, title="Batch size", description="Records written in one transaction before their PUBACKs.", ge=1
    )
    username: str = Field(
        "",
        title="User name",
        description="Login; password from the systemd credential mqtt-password or $EDGE_CENTRE_MQTT_PASSWORD.",
    )
    cafile: str = Field("", title="CA file", description="PEM bundle for mqtts:// (empty: system CAs).")

    @field_validator("url")
    @classmethod
    def _broker(cls, v: str) -> str:
        parse_url(v)  # ValueError with the reason
        return v

    @field_validator("username")
    @classmethod
    def _topic_level(cls, v: str) -> str:
        if any(c in v for c in "/+#\x00"):
            raise ValueError(
                f"{v!r}: no '/', '+' or '#': it is one level of the request topic edge/<v>/cmd/thumbnail/<user>"
            )
        return v


class StoreSettings(Section):
    """Where detections are kept."""

    url: str = Field(
        "sqlite:///var/lib/edge-centre/centre.db",
        title="Database URL",
        description="sqlite:///PATH (embedded, a laptop in a command post) or postgresql://USER@HOST:PORT/DB "
        "(PostGIS; the password from $PGPASSWORD or ~/.pgpass).",
    )

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        if not v.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError(f"must start with sqlite:/// or postgresql://, not {v!r}")
        return v


class FusionSettings(Section):
    """When detections of different vehicles or cameras are one object (docs in centre/fusion.py)."""

    gate_sigma: float = Field(
        2.0,
        title="Distance gate",
        description="Two tracks may pair while their running RMS distance is within this many combined sigmas.",
        gt=0,
    )
    window_s: float = Field(2.0, title="Time window", description="Detections this close in time may join (s).", gt=0)
    memory_s: float = Field(
        3.0,
        title="Pair memory",
        description="How long two tracks' agreement remembers (s): the time constant of their running mean distance.",
        gt=0,
    )
    offset_s: float = Field(
        10.0,
        title="Offset memory",
        description="How long the estimate of two sensors' relative offset remembers (s); 0 would be off.",
        gt=0,
    )
    stale_s: float = Field(10.0, title="Stale after", description="A sighting not seen for this long ends (s).", gt=0)
    error_correlation: float = Field(
        0.3,
        title="Error correlation",
        description="How alike two vehicles' position errors are (0: independent, 1: the same); a shared bias "
        "(one geolocation model, one map) that fusion cannot average out, kept in the fused radius.",
        ge=0,
        le=1,
    )
    default_error_m: float = Field(
        25.0, title="Default error", description="90 % radius assumed when a detection has none (m).", gt=0
    )


class TakSettings(Section):
    """Cursor-on-Target for each sighting (pytak)."""

    url: str = Field(
        "", title="TAK URL", description="udp://239.2.3.1:6969 (multicast SA), tcp://HOST:8087; empty: off."
    )
    stale_s: int = Field(60, title="Stale", description="CoT stale time after the last update (s).", ge=1)

    @field_validator("url")
    @classmethod
    def _tak(cls, v: str) -> str:
        if v and not re.fullmatch(r"(udp|tcp)://[^/:]+:\d{1,5}", v):
            raise ValueError(f"must look like udp://HOST:PORT or tcp://HOST:PORT, or be empty, not {v!r}")
        return v


class ApiSettings(Section):
    """The GeoJSON API and map page."""

    bind: str = Field("127.0.0.1", title="Bind address", description="Where the web server listens.")
    port: int = Field(8090, title="Port", description="TCP port.", ge=0, le=65535)
    session_hours: float = Field(12.0, title="Session lifetime", description="Hours a login lasts.", gt=0)
    basemap: str | None = Field(
        None,
        title="Basemap",
        description="Offline map as in the vehicle console: an .mbtiles file or a PNG/JPEG orthophoto with "
        "basemap_bounds; unset: a plain grid.",
    )
    basemap_bounds: tuple[float, float, float, float] | None = Field(
        None, title="Basemap bounds", description="South, west, north, east (deg) of a PNG/JPEG orthophoto."
    )
    thumbnail_max_bytes: int = Field(
        4000,
        title="Thumbnail byte limit",
        description="Bytes at most of an image the map's *Ask for image* requests (the uplink's budget pays it).",
        ge=256,
        le=1_000_000,
    )


class RetentionSettings(Section):
    """How long detections are kept, per class name (people are personal data)."""

    days: dict[str, float] = Field(
        {"person": 30.0, "vehicle": 90.0, "boat": 90.0},
        title="Days per class",
        description="Detections older than this are deleted by `edge-centre retention`.",
    )
    default_days: float = Field(30.0, title="Other classes", description="Days for a class not listed.", gt=0)
    audit_days: float = Field(365.0, title="Audit log", description="Days the audit log is kept.", gt=0)


class CentreConfig(Section):
    """The whole centre config."""

    mqtt: MqttSettings = Field(MqttSettings(), title="MQTT ingest")
    store: StoreSettings = Field(StoreSettings(), title="Store")
    fusion: FusionSettings = Field(FusionSettings(), title="Fusion")
    tak: TakSettings = Field(TakSettings(), title="TAK")
    api: ApiSettings = Field(ApiSettings(), title="API")
    retention: RetentionSettings = Field(RetentionSettings(), title="Retention")
    labels: list[str] = Field(["person", "vehicle", "boat"], title="Class names", description="Class names by id.")


class CentreConfigError(Exception):
    """A config that cannot be used; the message names the file and key."""


def load_centre_config(path: str | Path) -> CentreConfig:
    """Read and validate ``path``; CentreConfigError with ``FILE: key: problem`` lines when it is not usable."""
    return load_toml(path, CentreConfig, CentreConfigError)
