"""Config section of the camera source. (Owned by the vision work.)"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edge.settings_base import Section


class CameraSettings(Section):
    """Where frames come from and how the grabber thread behaves."""

    id: str = Field(
        "cam0",
        title="Camera id",
        description="Name carried in every frame and event, and in clip file names: 1-32 letters, digits, '_', "
        "'.', '-'.",
        pattern=r"^[A-Za-z0-9_.-]{1,32}$",
    )
    url: str = Field(
        "",
        title="Camera source",
        description="V4L2 index (0) or path (/dev/video0), rtsp:// http:// https:// udp:// tcp:// URL, GStreamer "
        "pipeline (anything containing '!', must end in appsink), video file or image folder. "
        "Empty disables the camera.",
    )
    backend: Literal["auto", "v4l2", "ffmpeg", "gstreamer", "file", "folder"] = Field(
        "auto",
        title="Capture backend",
        description="auto: inferred from url (index or /dev/* -> v4l2, URL -> ffmpeg, '!' -> gstreamer, "
        "directory -> folder, other path -> file).",
    )
    width: int = Field(
        0, title="Requested width", description="Pixels asked of a V4L2 device; 0 keeps its default.", ge=0
    )
    height: int = Field(
        0, title="Requested height", description="Pixels asked of a V4L2 device; 0 keeps its default.", ge=0
    )
    fps: float = Field(
        0.0,
        title="Frame rate",
        description="Frames/s asked of a V4L2 device; for image folders the replay rate (0 -> 10 fps); for video "
        "files 0 replays at the file's own rate.",
        ge=0.0,
    )
    fourcc: str = Field(
        "",
        title="V4L2 pixel format",
        description="FOURCC asked of a V4L2 device (up to 4 ASCII characters), e.g. MJPG or Y16; empty keeps its "
        "default.",
        pattern=r"^[!-~]{0,4}$",
    )
    raw: bool = Field(
        False,
        title="Raw frames (thermal)",
        description="Keep frames as the device gives them (e.g. 16-bit single channel from a radiometric thermal "
        "camera); image folders are read unchanged. The detector's [detector.thermal] gain maps them to the model.",
    )
    realtime: bool = Field(
        True,
        title="Replay in real time",
        description="Files and folders: pace frames at their frame rate (true) or as fast as the pipeline takes "
        "them (false: each frame is read once the previous one was taken, so none is dropped).",
    )
    still_images: Literal["auto", "yes", "no"] = Field(
        "auto",
        title="Still images",
        description="Each frame is a scene of its own (photos): every detection is reported at once, no track is "
        "carried from one image to the next. auto: yes for image folders, no otherwise.",
    )
    loop: bool = Field(False, title="Loop replay", description="Files and folders: start again at the end.")
    latency_offset_ms: float = Field(
        0.0,
        title="Capture latency offset",
        description="Fixed delay (ms) between exposure and the frame reaching us; subtracted from capture timestamps.",
        ge=0.0,
    )
    stall_timeout_s: float = Field(
        5.0,
        title="Stall timeout",
        description="Seconds without a frame (or to open the source) before the stream is reopened.",
        gt=0.0,
    )
    probe_s: float = Field(
        0.5,
        title="Stream probe time",
        description="Seconds of a network stream FFmpeg reads to learn its format when it opens it (FFmpeg's "
        "default is 5: a stream would be back that much later); longer for streams whose parameters come late.",
        gt=0.0,
    )
    reconnect_min_s: float = Field(
        0.25,
        title="Reconnect backoff start",
        description="Retry delay (s); the first retry after a healthy stream is quicker.",
        gt=0.0,
    )
    reconnect_max_s: float = Field(
        0.5,
        title="Reconnect backoff cap",
        description="Longest retry delay (s): a stream's return is noticed within this.",
        gt=0.0,
    )
