"""The daemon's one TOML config: composed of the sections each stage package owns, validated on load.

Errors name the file and the dotted key: ``/etc/edge/edge.toml: mqtt.port: Input should be ...``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from edge.cameras import CameraEntry, merge_detectors
from edge.clips.settings import ClipSettings
from edge.console.settings import ConsoleSettings
from edge.detect.settings import DetectorSettings
from edge.gcs.settings import GcsSettings
from edge.geo.settings import GeoSettings
from edge.ops.settings import LogSettings, OpsSettings
from edge.settings_base import CHECK_FILES, CONFIG_DIR, Section
from edge.sources.camera_settings import CameraSettings
from edge.sources.clock_settings import ClockSettings
from edge.sources.settings import GpsSettings, MavlinkSettings, PoseSettings
from edge.thumbs.settings import ThumbnailSettings
from edge.track.settings import AssociationSettings, TrackerSettings
from edge.uplink.settings import MqttSettings, RadioSettings, SpoolSettings

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
    cameras: list[CameraEntry] = Field(
        [],
        title="Cameras",
        description="Several cameras: one [[cameras]] table each (every [camera] key, plus priority, max_fps, "
        "[cameras.geo] and [cameras.detector]); replaces [camera].",
    )
    mavlink: MavlinkSettings = Field(default_factory=MavlinkSettings, title="MAVLink")
    gps: GpsSettings = Field(default_factory=GpsSettings, title="gpsd")
    pose: PoseSettings = Field(default_factory=PoseSettings, title="Pose store")
    clock: ClockSettings = Field(default_factory=ClockSettings, title="UTC clock")
    detector: DetectorSettings = Field(default_factory=DetectorSettings, title="Detector")
    tracker: TrackerSettings = Field(default_factory=TrackerSettings, title="Tracker")
    association: AssociationSettings = Field(default_factory=AssociationSettings, title="Cross-camera association")
    geo: GeoSettings = Field(default_factory=GeoSettings, title="Geolocation")
    spool: SpoolSettings = Field(default_factory=SpoolSettings, title="Spool")
    mqtt: MqttSettings = Field(default_factory=MqttSettings, title="MQTT")
    gcs: GcsSettings = Field(default_factory=GcsSettings, title="Ground station")
    radio: RadioSettings = Field(default_factory=RadioSettings, title="Records over the telemetry radio")
    console: ConsoleSettings = Field(default_factory=ConsoleSettings, title="Field console")
    thumbnails: ThumbnailSettings = Field(default_factory=ThumbnailSettings, title="Thumbnails on request")
    clips: ClipSettings = Field(default_factory=ClipSettings, title="Evidence clips")

    @model_validator(mode="before")
    @classmethod
    def _merge_camera_detectors(cls, data: Any) -> Any:
        return merge_detectors(data)

    @model_validator(mode="after")
    def _cameras_consistent(self) -> Config:
        if self.cameras and self.camera.url.strip():
            raise PydanticCustomError(
                "keyed",
                "set [camera] url or [[cameras]], not both (move [camera] into [[cameras]])",
                {"field": "camera.url"},
            )
        seen: dict[str, int] = {}
        for i, cam in enumerate(self.cameras):
            if not cam.url.strip():
                raise PydanticCustomError(
                    "keyed",
                    "every [[cameras]] table needs a source (url); remove the table to drop the camera",
                    {"field": f"cameras[{i}].url"},
                )
            if cam.id in seen:
                raise PydanticCustomError(
                    "keyed",
                    "'{id}' is already the id of cameras[{j}]: camera ids must be unique",
                    {"field": f"cameras[{i}].id", "id": cam.id, "j": seen[cam.id]},
                )
            seen[cam.id] = i
        return self


def state_dir(cfg: Config) -> Path:
    """systemd's ``$STATE_DIRECTORY`` (StateDirectory=edge) wins over ``vehicle.state_dir``."""
    return Path(os.environ.get("STATE_DIRECTORY", "").split(":")[0] or cfg.vehicle.state_dir)


class ConfigError(Exception):
    """A config that cannot be used; ``problems`` holds one ``FILE: key.path: message`` line each."""

    def __init__(self, problems: list[str]) -> None:
        problems = [_one_line(p) for p in problems]
        super().__init__("\n".join(problems))
        self.problems = problems


def _one_line(text: str) -> str:
    """``text`` with control characters (a newline in a file name...) written as escapes: one problem, one line."""
    return "".join(c if c.isprintable() or c == " " else ascii(c)[1:-1] for c in text)


MAX_BYTES = 1 << 20  # a config larger than this is not a config


def _key(loc: tuple[int | str, ...] | list[int | str]) -> str:
    """A pydantic error location as a config key: ``cameras[1].detector.model``."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def _format_errors(path: Path, err: ValidationError) -> list[str]:
    lines = []
    for e in err.errors():
        loc = [*e["loc"], e["ctx"]["field"]] if e["type"] in ("bounds_order", "keyed") else e["loc"]  # names the field
        key = _key(loc) or "(top level)"
        if key.startswith("cameras[") and ".detector." in key:  # merged from [detector]: said once, there
            own = "detector." + key.split(".detector.", 1)[1]
            if any(_key(o["loc"]) == own and o["msg"] == e["msg"] for o in err.errors()):
                continue
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        elif e["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        lines.append(f"{path}: {key}: {msg}")
    return lines


def parse_config(
    data: dict[str, object], path: Path, config_dir: Path | None = None, check_files: bool = True
) -> Config:
    """Validate an already-parsed TOML document; ``path`` is only used in error messages. With ``config_dir``,
    file paths are anchored there and (``check_files``) must exist (see ``edge.settings_base``)."""
    context = {CONFIG_DIR: config_dir, CHECK_FILES: check_files} if config_dir else None
    try:
        return Config.model_validate(data, context=context)
    except ValidationError as err:
        raise ConfigError(_format_errors(path, err)) from None
    except RecursionError:
        raise ConfigError([f"{path}: (top level): nested too deeply"]) from None


def _decode(p: Path, raw: bytes) -> dict[str, object]:
    """The TOML document in ``raw``; ConfigError with the line and column of what is wrong."""
    if len(raw) > MAX_BYTES:
        raise ConfigError([f"{p}: too large: a config file is at most {MAX_BYTES} bytes"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        col = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise ConfigError([f"{p}: not UTF-8 text: byte 0x{raw[err.start]:02x} at line {line}, column {col}"]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError([f"{p}: not valid TOML: {err}"]) from None
    except RecursionError:
        raise ConfigError([f"{p}: not valid TOML: arrays or tables nested too deeply"]) from None


def load_config(path: str | Path, check_files: bool = True) -> Config:
    """Read and validate the TOML file at ``path``; raise ConfigError naming the file and keys.

    Relative file paths are made absolute under the config's folder; with ``check_files`` each must exist and be
    readable (``edge status`` does without)."""
    p = Path(path)
    try:
        if p.is_dir():
            raise ConfigError([f"{p}: is a folder, not a config file"])
        with p.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError([f"{p}: file not found"]) from None
    except (OSError, ValueError) as err:  # ValueError: a NUL byte in the path
        raise ConfigError([f"{p}: cannot read: {getattr(err, 'strerror', None) or err}"]) from None
    return parse_config(_decode(p, raw), p, p.resolve().parent, check_files)


def detector_settings(config: str | None, model: str | None = None) -> DetectorSettings:
    """The ``[detector]`` section of the config file ``config`` (the defaults without one), with ``model`` in place of
    its model when given: what the model tools (inspect, eval, quantize, bench) run. Raises ConfigError."""
    settings = load_config(config, check_files=False).detector if config else DetectorSettings()
    return settings.model_copy(update={"model": model}) if model else settings
