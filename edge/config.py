"""The daemon's one TOML config: composed of the sections each stage package owns, validated on load.

Errors name the file and the dotted key: ``/etc/edge/edge.toml: mqtt.port: Input should be ...``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from edge.console.settings import ConsoleSettings
from edge.detect.settings import DetectorSettings
from edge.gcs.settings import GcsSettings
from edge.geo.settings import GeoSettings
from edge.ops.settings import LogSettings, OpsSettings
from edge.settings_base import Section
from edge.sources.camera_settings import CameraSettings
from edge.sources.clock_settings import ClockSettings
from edge.sources.settings import GpsSettings, MavlinkSettings, PoseSettings
from edge.track.settings import TrackerSettings
from edge.uplink.settings import MqttSettings, SpoolSettings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class VehicleSettings(Section):
    """Who we are."""

    id: str = Field(
        "edge-01",
        title="Vehicle id",
        description="Unique per vehicle; used in MQTT topics (edge/<id>/...).",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
    )
    kind: Literal["drone", "mss"] = Field("drone", title="Platform kind", description="drone or mss.")
    state_dir: str = Field(
        "/var/lib/edge",
        title="State directory",
        description="Spool and state live here; systemd's $STATE_DIRECTORY overrides it when set.",
    )


class Config(Section):
    """The whole daemon config."""

    vehicle: VehicleSettings = Field(default_factory=VehicleSettings, title="Vehicle")
    log: LogSettings = Field(default_factory=LogSettings, title="Logging")
    ops: OpsSettings = Field(default_factory=OpsSettings, title="Operations")
    camera: CameraSettings = Field(default_factory=CameraSettings, title="Camera")
    mavlink: MavlinkSettings = Field(default_factory=MavlinkSettings, title="MAVLink")
    gps: GpsSettings = Field(default_factory=GpsSettings, title="gpsd")
    pose: PoseSettings = Field(default_factory=PoseSettings, title="Pose store")
    clock: ClockSettings = Field(default_factory=ClockSettings, title="UTC clock")
    detector: DetectorSettings = Field(default_factory=DetectorSettings, title="Detector")
    tracker: TrackerSettings = Field(default_factory=TrackerSettings, title="Tracker")
    geo: GeoSettings = Field(default_factory=GeoSettings, title="Geolocation")
    spool: SpoolSettings = Field(default_factory=SpoolSettings, title="Spool")
    mqtt: MqttSettings = Field(default_factory=MqttSettings, title="MQTT")
    gcs: GcsSettings = Field(default_factory=GcsSettings, title="Ground station")
    console: ConsoleSettings = Field(default_factory=ConsoleSettings, title="Field console")


class ConfigError(Exception):
    """A config that cannot be used; ``problems`` holds one ``FILE: key.path: message`` line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _format_errors(path: Path, err: ValidationError) -> list[str]:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"{path}: {key}: {msg}")
    return lines


def parse_config(data: dict[str, object], path: Path) -> Config:
    """Validate an already-parsed TOML document; ``path`` is only used in error messages."""
    try:
        return Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_errors(path, err)) from None


def load_config(path: str | Path) -> Config:
    """Read and validate the TOML file at ``path``; raise ConfigError naming the file and keys."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{p}: file not found"]) from None
    except OSError as err:
        raise ConfigError([f"{p}: cannot read: {err.strerror}"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError([f"{p}: not valid TOML: {err}"]) from None
    return anchor_paths(parse_config(data, p), p.resolve().parent)


# (section, key) of every file path in the config; a relative one is relative to the config file's folder
FILE_KEYS = (
    ("detector", "model"),
    ("geo", "dem_path"),
    ("geo", "calibration_file"),
    ("mqtt", "cafile"),
    ("mqtt", "certfile"),
    ("mqtt", "keyfile"),
    ("console", "basemap"),
    ("console", "tls_cert"),
    ("console", "tls_key"),
)


def anchor_paths(cfg: Config, base: Path) -> Config:
    """``cfg`` with each relative file path of FILE_KEYS made absolute under ``base`` (the config's folder)."""
    for section, key in FILE_KEYS:
        sec = getattr(cfg, section)
        value = getattr(sec, key)
        if value and not Path(value).is_absolute():
            cfg = cfg.model_copy(update={section: sec.model_copy(update={key: str(base / value)})})
    return cfg
