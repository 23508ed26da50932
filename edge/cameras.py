"""Several cameras in one daemon: the ``[[cameras]]`` config list, and each camera's settings resolved from it.

Each ``[[cameras]]`` table takes every key of ``[camera]`` plus ``priority`` and ``max_fps``, and two optional
sub-tables: ``[cameras.geo]`` (the camera's own field of view or calibration, mounting and offset; the rest from
``[geo]``) and ``[cameras.detector]`` (any ``[detector]`` key, merged key by key, sub-tables too, over ``[detector]``).
A config with the old single ``[camera]`` (and a url) is one camera, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import Field

from edge.detect.settings import DetectorSettings
from edge.geo.settings import CameraGeoSettings, GeoSettings
from edge.sources.camera_settings import CameraSettings

if TYPE_CHECKING:
    from edge.config import Config


class CameraEntry(CameraSettings):
    """One camera of ``[[cameras]]``."""

    priority: int = Field(
        0,
        title="Priority",
        description="When several cameras have a frame waiting for the model, the higher priority is served first "
        "(e.g. the thermal camera at night); a camera passed over gains one step per turn it waited, so none "
        "starves (README: Several cameras).",
    )
    max_fps: float = Field(
        0.0, title="Frame rate cap", description="Most model runs per second for this camera; 0 = no cap.", ge=0.0
    )
    geo: CameraGeoSettings = Field(default_factory=CameraGeoSettings, title="This camera's geometry")
    detector: DetectorSettings | None = Field(
        None,
        title="This camera's detector",
        description="Any [detector] key (model, thresholds, tiling, gating, thermal gain...), merged key by key over "
        "[detector]; unset = [detector] as it is.",
    )


def merge_tables(base: object, over: object) -> object:
    """``over`` merged key by key (recursively into sub-tables) over ``base``; non-tables: ``over`` wins."""
    if not isinstance(base, dict) or not isinstance(over, dict):
        return over
    out = dict(base)
    for k, v in over.items():
        out[k] = merge_tables(base[k], v) if k in base else v
    return out


def merge_detectors(data: Any) -> Any:
    """The raw config ``data`` with each ``[cameras.detector]`` table merged over the raw ``[detector]`` (a
    validator's ``mode="before"`` step: the merged table is then validated as a whole, errors at its own path)."""
    if not isinstance(data, dict) or not isinstance(data.get("cameras"), list):
        return data
    base = data.get("detector", {})
    cams = [
        {**c, "detector": merge_tables(base, c["detector"])} if isinstance(c, dict) and "detector" in c else c
        for c in data["cameras"]
    ]
    return {**data, "cameras": cams}


@dataclass(frozen=True)
class CameraSetup:
    """What one camera runs with: its source, geometry and detector settings, priority and frame rate cap."""

    camera: CameraSettings
    geo: GeoSettings
    detector: DetectorSettings
    priority: int = 0
    max_fps: float = 0.0
    key: str = "camera"  # the config key that names it in messages: "camera" or "cameras[1]"


def camera_setups(cfg: Config) -> list[CameraSetup]:
    """Every camera of ``cfg``: the ``[[cameras]]`` list, else the one ``[camera]`` when it has a url."""
    if not cfg.cameras:
        return [CameraSetup(cfg.camera, cfg.geo, cfg.detector)] if cfg.camera.url.strip() else []
    out = []
    for i, c in enumerate(cfg.cameras):
        cam = CameraSettings.model_validate(c.model_dump(include=set(CameraSettings.model_fields)))
        out.append(
            CameraSetup(cam, c.geo.over(cfg.geo), c.detector or cfg.detector, c.priority, c.max_fps, f"cameras[{i}]")
        )
    return out
