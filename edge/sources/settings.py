"""Config sections of the sources: MAVLink, gpsd, pose store. (Owned by the MAVLink/gpsd/pose work.)"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from edge.settings_base import FilePath, Section


class MavlinkSettings(Section):
    """The link to the autopilot (or to a pan-tilt head that speaks MAVLink)."""

    url: str = Field(
        "",
        title="MAVLink connection",
        description="tcp:HOST:PORT (ArduPilot SITL: tcp:127.0.0.1:5760), udpin:HOST:PORT (listen), "
        "udpout:HOST:PORT (send first), serial:/dev/PATH[:BAUD], usb:VID:PID[:SERIAL] (hex USB ids; the port is "
        "looked up at every connect so it survives re-enumeration) or a .tlog file to replay. Empty disables MAVLink.",
    )
    baud: int = Field(115200, title="Serial baud rate", description="Bits per second for serial and usb links.", gt=0)
    system_id: int = Field(
        1, title="Our system id", description="MAVLink system id we send with (the vehicle's own).", ge=1, le=255
    )
    heartbeat_timeout_s: float = Field(
        3.0,
        title="Silence timeout",
        description="Seconds without the autopilot's HEARTBEAT after which the link is reopened.",
        gt=0,
    )
    reconnect_min_s: float = Field(
        0.5, title="Reconnect delay", description="Seconds; the first retry after a healthy session is quicker.", gt=0
    )
    reconnect_max_s: float = Field(
        1.0,
        title="Longest reconnect delay",
        description="Seconds (backoff cap): the autopilot's return is noticed within this.",
        gt=0,
    )
    position_hz: float = Field(
        10.0, title="Position rate", description="GLOBAL_POSITION_INT rate we ask for, 1/s.", gt=0, le=100
    )
    attitude_hz: float = Field(20.0, title="Attitude rate", description="ATTITUDE rate we ask for, 1/s.", gt=0, le=200)
    gimbal_hz: float = Field(
        10.0,
        title="Gimbal rate",
        description="GIMBAL_DEVICE_ATTITUDE_STATUS and MOUNT_STATUS rate we ask for, 1/s.",
        gt=0,
        le=100,
    )
    gps_hz: float = Field(2.0, title="GPS status rate", description="GPS_RAW_INT rate we ask for, 1/s.", gt=0, le=50)
    signing: Literal["off", "sign", "require"] = Field(
        "off",
        title="MAVLink 2 signing",
        description="off; sign: sign what we send, accept unsigned messages but refuse badly signed ones; "
        "require: also refuse unsigned ones (true = require, false = off). The key comes from the systemd "
        "credential mavlink-signing-key, signing_key_file or $EDGE_MAVLINK_KEY: 64 hex digits (32 bytes) or a "
        "passphrase (its SHA-256, as MAVProxy's `signing setup`).",
    )
    signing_key_file: FilePath = Field(
        "",
        title="Signing key file",
        description="A file holding the signing key (mode 0600 or stricter), when no systemd credential gives it.",
    )
    replay_speed: float = Field(
        1.0,
        title="tlog replay speed",
        description="For a .tlog url: 1 = real time, 2 = twice as fast, 0 = as fast as possible.",
        ge=0,
    )

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        """The same parse the link makes when it opens, so a bad url is refused at load."""
        if v.strip():
            from edge.sources.mavlink_transport import parse_url

            try:
                parse_url(v, 115200)
            except ValueError as err:
                raise ValueError(str(err).removeprefix("mavlink.url ")) from None
        return v

    @field_validator("signing", mode="before")
    @classmethod
    def _signing_bool(cls, v: object) -> object:
        """``signing = true/false`` (the older form) means require/off."""
        if isinstance(v, bool):
            return "require" if v else "off"
        return v


class GpsSettings(Section):
    """gpsd, for vehicles without an autopilot (MSS)."""

    enabled: bool = Field(False, title="Use gpsd", description="Read position from gpsd.")
    host: str = Field("127.0.0.1", title="gpsd host", description="Host name or address of gpsd.")
    port: int = Field(2947, title="gpsd port", description="gpsd's TCP port.", ge=1, le=65535)
    antenna_height_m: float = Field(
        2.0,
        title="Antenna height",
        description="GPS antenna height above the ground under the vehicle, m.",
        ge=0,
    )
    camera_height_m: float = Field(
        6.0,
        title="Camera height",
        description="Camera optical centre above the ground under the vehicle (mast height), m.",
        ge=0,
    )
    heading_sources: list[Literal["gnss", "mavlink", "course", "calibrated"]] = Field(
        ["gnss", "mavlink", "course", "calibrated"],
        title="Heading sources",
        description="Where the vehicle's heading comes from, best first: gnss (a true heading gpsd reports: "
        "dual-antenna receiver or an NMEA compass on gpsd), mavlink (ATTITUDE from a compass/AHRS on [mavlink]), "
        "course (course over ground while moving, the last one held when stopped), calibrated (`edge calibrate "
        "heading`, in the state directory). None usable: [pose] body_yaw_deg.",
    )
    min_speed_for_track_mps: float = Field(
        2.0,
        title="Speed for course as heading",
        description="Above this ground speed (m/s) the course over ground is taken as the vehicle's heading; "
        "below it the last such course is held.",
        ge=0,
    )
    course_err_deg: float = Field(
        5.0, title="Course heading error", description="1-sigma error of the course over ground as heading, deg.", ge=0
    )
    held_err_growth_deg_per_min: float = Field(
        0.5,
        title="Held course error growth",
        description="How fast the error of a held course grows while the vehicle stands, deg per minute.",
        ge=0,
    )
    timeout_s: float = Field(
        5.0, title="Silence timeout", description="Seconds without a report after which gpsd is reconnected.", gt=0
    )
    reconnect_min_s: float = Field(
        0.5, title="Reconnect delay", description="Seconds; the first retry after a healthy session is quicker.", gt=0
    )
    reconnect_max_s: float = Field(
        1.0,
        title="Longest reconnect delay",
        description="Seconds (backoff cap): gpsd's return is noticed within this.",
        gt=0,
    )


class PoseSettings(Section):
    """The time-indexed pose store, and the angles used when nothing reports them."""

    history_s: float = Field(30.0, title="History", description="Seconds of samples kept per source.", gt=0)
    max_extrapolation_s: float = Field(
        2.0,
        title="Longest extrapolation",
        description="Beyond this many seconds from the nearest sample no pose is given, s.",
        ge=0,
    )
    max_gap_s: float = Field(
        1.5,
        title="Longest interpolation gap",
        description="Two samples further apart than this (s) are not interpolated between.",
        gt=0,
    )
    extrapolation_err_mps: float = Field(
        3.0,
        title="Extrapolation position error",
        description="Horizontal and vertical error added per second of extrapolation, m/s.",
        ge=0,
    )
    att_err_deg: float = Field(
        1.0, title="Attitude error", description="1-sigma attitude error per axis from the autopilot, deg.", ge=0
    )
    static_att_err_deg: float = Field(
        3.0,
        title="Static attitude error",
        description="1-sigma error of the configured body attitude (vehicles without an autopilot), deg.",
        ge=0,
    )
    body_roll_deg: float = Field(
        0.0, title="Body roll", description="Body roll when nothing reports attitude (level vehicle), deg."
    )
    body_pitch_deg: float = Field(
        0.0, title="Body pitch", description="Body pitch when nothing reports attitude, deg (+ nose up)."
    )
    body_yaw_deg: float | None = Field(
        None,
        title="Fixed heading",
        description="Vehicle heading when nothing reports one (deg, 0 = north, 90 = east); unset = no pose "
        "until a heading is known.",
    )
    camera_height_m: float = Field(
        0.0,
        title="Camera above the autopilot",
        description="Height of the camera's optical centre above the position the autopilot reports, m: a mast "
        "on a rover (negative: a camera under a drone). gpsd positions use gps.camera_height_m (above the ground).",
    )
