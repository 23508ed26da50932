"""Config section ``[geo]``: the camera model, the ground model and the error budget of geolocation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edge.settings_base import FileOrDir, FilePath, Section


class SizePrior(Section):
    """What a class of object usually measures (for the size-based range and the ground-contact point).

    The footprint is taken to vary in proportion with the height (relative 1-sigma height_sigma_m / height_m)."""

    height_m: float = Field(1.7, title="Height", description="Typical height, m.", gt=0)
    height_sigma_m: float = Field(0.15, title="Height spread", description="1-sigma of the height, m.", ge=0)
    length_m: float = Field(0.5, title="Length", description="Footprint length, m.", ge=0)
    width_m: float = Field(0.5, title="Width", description="Footprint width, m.", ge=0)


def _default_priors() -> dict[str, SizePrior]:
    return {
        "person": SizePrior(height_m=1.7, height_sigma_m=0.12, length_m=0.5, width_m=0.5),
        "vehicle": SizePrior(height_m=1.8, height_sigma_m=0.45, length_m=4.5, width_m=1.9),
        "boat": SizePrior(height_m=2.0, height_sigma_m=0.8, length_m=8.0, width_m=2.8),
    }


class GeoSettings(Section):
    """Camera model and ground model."""

    hfov_deg: float = Field(60.0, title="Horizontal field of view", description="Degrees.", gt=0, lt=180)
    calibration_file: FilePath | None = Field(
        None,
        title="Calibration file",
        description="OpenCV calibration (YAML/XML/JSON: camera_matrix, dist_coeffs, image_width, image_height); "
        "replaces hfov_deg when set. Scaled to the stream's resolution.",
    )
    gimbal_mode: Literal["body", "stabilised", "earth"] = Field(
        "body",
        title="Camera holder",
        description="How the camera is held when no gimbal or mast reports its angles: body (fixed to the "
        "airframe or vehicle), stabilised (roll and pitch held to the horizon, yaw following the heading) or earth "
        "(roll, pitch and yaw held; yaw 0 = north). A gimbal that reports (GIMBAL_DEVICE_ATTITUDE_STATUS, "
        "MOUNT_STATUS) overrides it.",
    )
    mount_roll_deg: float = Field(
        0.0, title="Mount roll", description="Camera roll relative to its holder (see gimbal_mode), degrees."
    )
    mount_pitch_deg: float = Field(
        0.0,
        title="Mount pitch",
        description="Camera pitch relative to its holder, degrees (negative looks down, -90 = straight down). With "
        "a gimbal that reports angles relative to the body: the gimbal base's pitch on the body.",
    )
    mount_yaw_deg: float = Field(
        0.0,
        title="Mount yaw",
        description="Camera yaw relative to its holder, degrees: from the nose (body, stabilised) or from north "
        "(earth).",
    )
    offset_forward_m: float = Field(
        0.0,
        title="Camera offset forward",
        description="The camera's position from the point the pose sources report (after pose.camera_height_m / "
        "gps.camera_height_m), along the body's forward axis, m (the lever arm: rotated with the body's attitude).",
    )
    offset_right_m: float = Field(0.0, title="Camera offset right", description="Along the body's right axis, m.")
    offset_down_m: float = Field(0.0, title="Camera offset down", description="Along the body's down axis, m.")
    gimbal_err_deg: float = Field(
        0.5,
        title="Reported gimbal error",
        description="1-sigma error per axis of the angles a gimbal or mast reports, degrees.",
        ge=0,
    )
    stabilised_err_deg: float = Field(
        1.5,
        title="Silent stabiliser error",
        description="1-sigma roll/pitch (and, in earth mode, yaw) error of a stabilised camera that reports no "
        "angles, degrees: how well it holds the configured angles while the airframe pitches and rolls.",
        ge=0,
    )
    ground_alt_m: float | None = Field(
        None,
        title="Ground altitude",
        description="Metres AMSL of flat ground where the targets are; unset: the ground the pose sources report "
        "(a drone's home, the ground under a vehicle: set this or dem_path for a mast on a ridge).",
    )
    dem_path: FileOrDir | None = Field(
        None,
        title="Elevation model",
        description="SRTM .hgt tile, a folder of them, or a geographic GeoTIFF; replaces flat ground when set.",
    )
    dem_step_m: float = Field(10.0, title="DEM march step", description="Step along the ray, m.", gt=0)
    max_range_m: float = Field(5000.0, title="Maximum range", description="Slant range beyond which no fix, m.", gt=0)
    earth_curvature: bool = Field(
        True, title="Earth curvature", description="Lower distant ground by the refracted earth curvature."
    )
    ground_sigma_m: float = Field(
        1.0, title="Ground height error", description="1-sigma error of the ground model's height, m.", ge=0
    )
    pixel_sigma_px: float = Field(
        2.0, title="Pixel error", description="1-sigma error of the ground-contact pixel, px.", ge=0
    )
    box_sigma_px: float = Field(1.5, title="Box height error", description="1-sigma error of a box's height, px.", gt=0)
    timing_sigma_s: float = Field(
        0.03, title="Timing error", description="1-sigma error of frame vs pose time stamps, s.", ge=0
    )
    fusion: bool = Field(
        True, title="Size fusion", description="Fuse the ground intersection with the range from the box size."
    )
    min_box_px: float = Field(
        4.0, title="Smallest box for size", description="Boxes shorter than this give no size range, px.", gt=0
    )
    size_priors: dict[str, SizePrior] = Field(
        default_factory=_default_priors,
        title="Size priors",
        description="Per class name: height (and its 1-sigma) and footprint length/width, m.",
    )


class CameraGeoSettings(Section):
    """``[cameras.geo]``: one camera's own geometry; every key left unset is taken from ``[geo]``."""

    hfov_deg: float | None = Field(None, title="Horizontal field of view", description="Degrees.", gt=0, lt=180)
    calibration_file: FilePath | None = Field(None, title="Calibration file", description="See geo.calibration_file.")
    gimbal_mode: Literal["body", "stabilised", "earth"] | None = Field(
        None, title="Camera holder", description="See geo.gimbal_mode."
    )
    mount_roll_deg: float | None = Field(None, title="Mount roll", description="Degrees; see geo.mount_roll_deg.")
    mount_pitch_deg: float | None = Field(None, title="Mount pitch", description="Degrees; see geo.mount_pitch_deg.")
    mount_yaw_deg: float | None = Field(None, title="Mount yaw", description="Degrees; see geo.mount_yaw_deg.")
    offset_forward_m: float | None = Field(
        None, title="Camera offset forward", description="m; see geo.offset_forward_m."
    )
    offset_right_m: float | None = Field(None, title="Camera offset right", description="m; see geo.offset_right_m.")
    offset_down_m: float | None = Field(None, title="Camera offset down", description="m; see geo.offset_down_m.")

    def over(self, base: GeoSettings) -> GeoSettings:
        """``base`` with the keys this camera sets replaced."""
        return base.model_copy(update={k: v for k, v in self.model_dump().items() if v is not None})
