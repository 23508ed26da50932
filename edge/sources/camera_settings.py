"""Config section of the camera source. (Owned by the vision work.)"""

from __future__ import annotations

from pydantic import Field

from edge.settings_base import Section


class CameraSettings(Section):
    """Where frames come from."""

    id: str = Field("cam0", title="Camera id", description="Name carried in every frame and event.")
    url: str = Field(
        "",
        title="Camera source",
        description="V4L2 index or path, rtsp:// http:// udp:// URL, GStreamer pipeline, video file or image folder. "
        "Empty disables the camera.",
    )
