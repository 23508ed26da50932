"""Scenario files (TOML): where the platform flies or stands, what its camera is, which targets move where.

``load_scenario(path)`` validates a file against the pydantic models below (unknown keys are errors) and raises
``ScenarioError`` naming the file and the dotted key of every problem. Angles are degrees, distances metres,
speeds m/s, times seconds; positions are either ``lat``/``lon`` (deg) or ``north_m``/``east_m`` from home.
A point may also be written as a two-number list ``[north_m, east_m]``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CLASS_LITERAL = Literal["person", "vehicle", "boat"]


class ScenarioError(ValueError):
    """A scenario file that cannot be read or does not validate; the message names file and key."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _pair_to_point(value: Any) -> Any:
    """Accept ``[north_m, east_m]`` as shorthand for a point table."""
    if isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(x, int | float) for x in value):
        return {"north_m": float(value[0]), "east_m": float(value[1])}
    return value


class Point(_Model):
    """A position given either as lat/lon (deg) or as north/east offsets from home (m)."""

    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    north_m: float | None = None
    east_m: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return _pair_to_point(value)

    @model_validator(mode="after")
    def _one_pair(self) -> Point:
        geo = self.lat is not None or self.lon is not None
        local = self.north_m is not None or self.east_m is not None
        if geo and local:
            raise ValueError("give either lat/lon or north_m/east_m, not both")
        if geo and (self.lat is None or self.lon is None):
            raise ValueError("lat and lon must be given together")
        return self


class Home(_Model):
    """Origin of the local NED frame; ``alt_m`` (m AMSL) is the ground height there unless ground says otherwise."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    alt_m: float = 0.0


class Road(_Model):
    """A road drawn on the ground along a polyline (at least two points)."""

    points: list[Point] = Field(min_length=2)
    width_m: float = Field(6.0, gt=0)


class Coast(_Model):
    """Sea covers the half-plane beyond a straight shore ``distance_m`` from home towards ``bearing_deg``."""

    bearing_deg: float = 90.0
    distance_m: float = 0.0
    wobble_m: float = Field(15.0, ge=0, description="amplitude of the shore's meander, m")


class Ground(_Model):
    """Ground height: flat ``alt_m`` (default: home.alt_m) or an SRTM ``.hgt`` tile (path relative to the file)."""

    alt_m: float | None = None
    dem: Path | None = None
    surface: Literal["grass", "rock", "sand", "snow", "road", "sea"] = "grass"
    roads: list[Road] = []
    coast: Coast | None = None

    @model_validator(mode="after")
    def _one_height(self) -> Ground:
        if self.alt_m is not None and self.dem is not None:
            raise ValueError("give either alt_m or dem, not both")
        return self


class Sweep(_Model):
    """An angle that swings sinusoidally: ``centre_deg + amplitude_deg * sin(2 pi t / period_s)``."""

    centre_deg: float = 0.0
    amplitude_deg: float = Field(0.0, ge=0)
    period_s: float = Field(20.0, gt=0)

    def at(self, t: float) -> float:
        """Angle in degrees at time ``t`` (s)."""
        return self.centre_deg + self.amplitude_deg * math.sin(2.0 * math.pi * t / self.period_s)


class Orbit(Point):
    """Circle around a centre point; starts at ``start_bearing_deg`` from the centre."""

    radius_m: float = Field(gt=0)
    clockwise: bool = True
    start_bearing_deg: float = 0.0


class Platform(_Model):
    """The drone (route, orbit or hover at ``height_m`` above ground) or MSS vehicle (parked or driving, mast)."""

    kind: Literal["drone", "mss"]
    route: list[Point] = []
    orbit: Orbit | None = None
    loop: Literal["cycle", "pingpong", "stop"] = "cycle"
    speed_mps: float = Field(0.0, ge=0)
    height_m: float = Field(100.0, gt=0, description="drone: height above the ground below it, m")
    yaw_deg: float | None = Field(None, description="fixed heading; None = along the direction of travel")
    mast_height_m: float = Field(6.0, ge=0, description="mss: camera height above the ground, m")
    base_alt_m: float | None = Field(
        None,
        description="mss: ground height under the vehicle, m AMSL (a ridge above the plain); None = the ground there",
    )
    pan: Sweep = Sweep()
    tilt_deg: float = 0.0
    lean_deg_per_mps: float = Field(0.6, ge=0, description="drone: how far it leans into its travel per m/s, deg")
    max_lean_deg: float = Field(15.0, ge=0, lt=90, description="drone: the most it leans, deg")

    @model_validator(mode="after")
    def _consistent(self) -> Platform:
        if self.orbit is not None and self.route:
            raise ValueError("give either route or orbit, not both")
        if self.kind == "mss" and self.orbit is not None:
            raise ValueError("an mss vehicle cannot orbit; give a route or nothing (parked)")
        return self


class Camera(_Model):
    """The camera and its mount: angles relative to the body (``frame="body"``) or the earth (stabilised gimbal)."""

    width: int = Field(640, gt=0, le=8192)
    height: int = Field(480, gt=0, le=8192)
    hfov_deg: float = Field(60.0, gt=0, lt=180)
    fps: float = Field(10.0, gt=0, le=120)
    mode: Literal["day", "thermal"] = "day"
    frame: Literal["body", "earth"] = "body"
    yaw_follows_body: bool = Field(True, description="earth frame only: cam yaw = body yaw + yaw_deg")
    roll_deg: float = 0.0
    pitch_deg: float = 0.0
    yaw_deg: float = 0.0
    pitch_sweep: Sweep | None = None
    yaw_sweep: Sweep | None = None
    reports_angles: bool = Field(
        True, description="the gimbal reports its angles over MAVLink; false: a camera that reports nothing"
    )


class CameraEntry(Camera):
    """One of several cameras on the platform (``[[cameras]]``): a camera with its own name, how bright its day
    picture is, and where it sits from the platform's reference point (the position the autopilot or GPS reports)
    in the body frame (forward, right, down; m)."""

    id: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")
    brightness: float = Field(1.0, gt=0, le=2, description="day: exposure, 1 = full daylight (dusk: ~0.5)")
    offset_forward_m: float = Field(0.0, ge=-10, le=10)
    offset_right_m: float = Field(0.0, ge=-10, le=10)
    offset_down_m: float = Field(0.0, ge=-10, le=10)

    def as_camera(self) -> Camera:
        """The plain camera part (what a single-camera scenario's ``[camera]`` holds)."""
        return Camera(**self.model_dump(include=set(Camera.model_fields)))


class TargetSpec(Point):
    """One target (or ``count`` of them in file, ``spacing_m`` apart) that starts at a point and follows a path."""

    class_name: CLASS_LITERAL = Field(alias="class")
    path: list[Point] = []
    speed_mps: float = Field(0.0, ge=0)
    loop: Literal["cycle", "pingpong", "stop"] = "pingpong"
    heading_deg: float | None = Field(None, description="heading when standing still")
    length_m: float | None = Field(None, gt=0)
    width_m: float | None = Field(None, gt=0)
    height_m: float | None = Field(None, gt=0)
    scatter_m: float = Field(0.0, ge=0, description="1-sigma random offset of start and path, drawn from the seed")
    count: int = Field(1, ge=1, le=100)
    spacing_m: float = Field(3.0, ge=0)
    start_s: float = Field(0.0, ge=0, description="delay before it starts moving, s")
    thermal_only: bool = Field(
        False, description="unseen by day cameras (deep shade at dusk, camouflage) yet warm to a thermal one"
    )

    @model_validator(mode="after")
    def _has_start(self) -> TargetSpec:
        if self.lat is None and self.north_m is None and self.east_m is None:
            raise ValueError("a target needs a start: lat/lon or north_m/east_m")
        return self


class Noise(_Model):
    """Sensor noise the autopilot / NMEA feeders add (1-sigma)."""

    gps_m: float = Field(1.5, ge=0)
    alt_m: float = Field(3.0, ge=0)
    att_deg: float = Field(0.3, ge=0)
    time_offset_s: float = 0.0
    gps_tau_s: float = Field(60.0, gt=0, description="correlation time of the GPS and altitude errors, s")
    seed_offset: int = Field(0, ge=0, description="added to the scenario's seed for this noise (one per vehicle)")


class Scene(_Model):
    """Lighting and atmosphere."""

    sun_azimuth_deg: float = 135.0
    sun_elevation_deg: float = Field(45.0, gt=0, le=90)
    visibility_m: float = Field(8000.0, gt=0)
    ambient_c: float = Field(15.0, description="air temperature for thermal mode, deg C")


class Vehicle(_Model):
    """One of several platforms watching the same world (``[[vehicles]]``); ``edge sim --vehicle NAME`` runs it.

    ``noise`` defaults to the scenario's, with ``seed_offset`` = the vehicle's index (each its own sensor errors).
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    platform: Platform
    camera: Camera = Camera()
    noise: Noise | None = None


class Scenario(_Model):
    """A whole scenario file: one platform, or several ``vehicles`` (the first one is ``platform``/``camera``)."""

    name: str
    seed: int = 0
    duration_s: float = Field(60.0, gt=0)
    home: Home
    ground: Ground = Ground()
    platform: Platform
    camera: Camera = Camera()
    cameras: list[CameraEntry] = Field([], max_length=8)
    targets: list[TargetSpec] = []
    noise: Noise = Noise()
    scene: Scene = Scene()
    vehicles: list[Vehicle] = []

    @model_validator(mode="before")
    @classmethod
    def _first_vehicle(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("vehicles") and "platform" not in data and "camera" not in data:
            first = data["vehicles"][0]
            if isinstance(first, dict):
                data = {**data, "platform": first.get("platform"), "camera": first.get("camera", {})}
        return data

    @model_validator(mode="after")
    def _unique_vehicles(self) -> Scenario:
        names = [v.name for v in self.vehicles]
        if len(set(names)) != len(names):
            raise ValueError(f"vehicles: names must be unique ({', '.join(names)})")
        return self

    @model_validator(mode="before")
    @classmethod
    def _first_camera(cls, data: Any) -> Any:
        """With ``[[cameras]]``, ``camera`` is the first of them (the one the platform's gimbal reports)."""
        if isinstance(data, dict) and data.get("cameras"):
            if "camera" in data:
                raise ValueError("give either [camera] or [[cameras]], not both")
            first = data["cameras"][0]
            if isinstance(first, dict):
                data = {**data, "camera": {k: v for k, v in first.items() if k in Camera.model_fields}}
        return data

    @model_validator(mode="after")
    def _unique_ids(self) -> Scenario:
        ids = [c.id for c in self.cameras]
        if len(set(ids)) != len(ids):
            raise ValueError(f"cameras: ids must differ, got {ids}")
        return self


def for_vehicle(scenario: Scenario, name: str) -> Scenario:
    """The scenario as vehicle ``name`` of its ``vehicles`` sees it (its platform, camera and noise); ScenarioError
    if there is no such vehicle."""
    for i, v in enumerate(scenario.vehicles):
        if v.name == name:
            noise = v.noise or scenario.noise.model_copy(update={"seed_offset": i})
            update = {"platform": v.platform, "camera": v.camera, "cameras": [], "noise": noise}
            return scenario.model_copy(update=update)
    have = ", ".join(v.name for v in scenario.vehicles) or "none"
    raise ScenarioError(f"{scenario.name}: vehicles: no vehicle named {name!r} (have: {have})")


def _format_errors(path: Path, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"{path}: {key}: {e['msg']}")
    return "\n".join(lines)


def parse_scenario(data: dict[str, Any], path: str | Path = "<scenario>") -> Scenario:
    """Validate an already-parsed TOML mapping; relative DEM paths resolve against ``path``'s folder."""
    path = Path(path)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(_format_errors(path, err)) from None
    dem = scenario.ground.dem
    if dem is not None and not dem.is_absolute():
        ground = scenario.ground.model_copy(update={"dem": (path.parent / dem).resolve()})
        scenario = scenario.model_copy(update={"ground": ground})
    if scenario.ground.dem is not None and not scenario.ground.dem.is_file():
        raise ScenarioError(f"{path}: ground.dem: no such file {scenario.ground.dem}")
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file; raise ScenarioError naming the file and the dotted key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ScenarioError(f"{path}: cannot read: {err.strerror or err}") from None
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"{path}: not valid TOML: {err}") from None
    return parse_scenario(data, path)
