"""Config section ``[clips]``: the evidence recorder (off by default: imagery is personal data)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from edge.settings_base import Section


class ClipSettings(Section):
    """A ring of encoded video; the seconds around a new-track alert are kept as an MPEG-TS clip with ST 0601 KLV."""

    enabled: bool = Field(
        False,
        title="Record evidence clips",
        description="Off by default: while on, the last ring_s seconds of video are on the device at all times.",
    )
    source: Literal["auto", "encode", "remux"] = Field(
        "auto",
        title="Video source",
        description="encode: the camera's frames encoded by ffmpeg (libx264); remux: the camera's own H.264/H.265 "
        "stream copied as it is (remux_url, else camera.url: an IP camera's RTSP stream, a video file), no "
        "decoding or encoding, keyframes where the camera puts them; auto: remux where ffprobe finds the stream "
        "or file to be H.264/H.265, else encode (a V4L2 device or a GStreamer pipeline is always encoded).",
    )
    remux_url: str = Field(
        "",
        title="Stream to remux",
        description="source = remux: the H.264/H.265 stream to record (e.g. the camera's RTSP stream when the "
        "detector reads another); empty: camera.url.",
    )
    classes: list[str] = Field(
        ["person", "vehicle", "boat"],
        title="Alert classes",
        description="Class names whose new-track alerts keep a clip; empty: every class.",
    )
    pre_s: float = Field(10.0, title="Seconds before", description="Video kept before the alert, s.", ge=0, le=600)
    post_s: float = Field(10.0, title="Seconds after", description="Video kept after the alert, s.", gt=0, le=600)
    max_clip_s: float = Field(
        120.0,
        title="Longest clip",
        description="Alerts while a clip is open extend it by post_s, up to this length, s.",
        gt=0,
    )
    fps: float = Field(
        10.0, title="Recorded frame rate", description="Frames/s taken from the camera at most.", gt=0, le=60
    )
    segment_s: float = Field(
        1.0,
        title="Segment length",
        description="Seconds between keyframes; a clip starts at a keyframe, so up to this much before pre_s.",
        gt=0,
        le=10,
    )
    ring_s: float = Field(
        60.0,
        title="Ring age",
        description="Video older than this is deleted from the ring, s; at least pre_s + post_s + 2 segment_s.",
        gt=0,
    )
    ring_mb: float = Field(
        200.0, title="Ring size", description="Each camera's ring's size limit, MB (oldest go first).", gt=0
    )
    keep_days: float = Field(30.0, title="Clip retention", description="Clips older than this are deleted, days.", gt=0)
    keep_mb: float = Field(
        2000.0, title="Clip store size", description="Size limit of the kept clips, MB (oldest go first).", gt=0
    )
    folder: str = Field(
        "", title="Clip folder", description="Where clips and the ring live; empty: clips/ in the state directory."
    )
    max_width: int = Field(
        1280, title="Largest width", description="Frames wider than this are scaled down before encoding, px.", ge=64
    )
    crf: int = Field(
        28, title="Quality (CRF)", description="libx264 constant rate factor: lower is better and larger.", ge=0, le=51
    )
    preset: str = Field(
        "ultrafast",
        title="Encoder preset",
        description="libx264 preset: ultrafast costs least CPU.",
        pattern=r"^(ultrafast|superfast|veryfast|faster|fast|medium)$",
    )
    ffmpeg: str = Field(
        "ffmpeg", title="ffmpeg program", description="The ffmpeg executable (a name on PATH or a path)."
    )

    @model_validator(mode="after")
    def _ring_holds_a_clip(self) -> ClipSettings:
        need = self.pre_s + self.post_s + 2 * self.segment_s
        if self.ring_s < need:
            raise PydanticCustomError(
                "bounds_order",
                "{value} s cannot hold a clip: at least pre_s + post_s + 2 segment_s = {bound} s",
                {"field": "ring_s", "value": self.ring_s, "bound": need},
            )
        return self
