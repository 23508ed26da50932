"""Config section ``[thumbnails]``: which crops are kept on the vehicle, for how long, and who may ask for them."""

from __future__ import annotations

from pydantic import Field

from edge.settings_base import Section


class ThumbnailSettings(Section):
    """Crops of tracks of interest, kept encrypted on the vehicle and sent only on request. Off by default."""

    enabled: bool = Field(
        False,
        title="Enabled",
        description="Keep crops of tracks of interest and answer thumbnail requests (imagery stays on the vehicle "
        "unless someone asks).",
    )
    classes: list[str] = Field(
        default_factory=lambda: ["person", "car", "truck"],
        title="Classes of interest",
        description="Class names whose tracks get crops kept; empty: every class.",
    )
    min_score: float = Field(
        0.4, title="Minimum score", description="Detections below this confidence are not kept.", ge=0, le=1
    )
    margin: float = Field(
        0.25,
        title="Crop margin",
        description="Context around the box, as a fraction of its width/height on each side.",
        ge=0,
        le=2,
    )
    max_crop_px: int = Field(
        320, title="Crop size limit", description="A crop's longer side is scaled down to this (px).", ge=32
    )
    store_quality: int = Field(
        90,
        title="Stored JPEG quality",
        description="1-100: quality crops are kept at (before encryption).",
        ge=1,
        le=100,
    )
    latest_every_s: float = Field(
        1.0, title="Latest-frame interval", description="A track's latest crop is renewed at most this often (s).", gt=0
    )
    max_age_s: float = Field(3600.0, title="Crop lifetime", description="Crops older than this are deleted (s).", gt=0)
    max_bytes: int = Field(
        64 * 1024 * 1024,
        title="Crop store size",
        description="Encrypted bytes kept at most; the oldest go first.",
        gt=0,
    )
    key_credential: str = Field(
        "thumbnail-key",
        title="Key credential",
        description="systemd credential ($CREDENTIALS_DIRECTORY/<name>) or env EDGE_THUMBNAIL_KEY: 64 hex digits "
        "(AES-256); missing: a random key per run (crops of earlier runs cannot be read).",
    )
    requesters: list[str] = Field(
        default_factory=list,
        title="Allowed requesters",
        description="MQTT user names whose requests are answered (others get 'refused'); empty: whoever the "
        "broker's ACL lets publish on edge/<vehicle>/cmd/thumbnail/<user>.",
    )
    gcs_requests: bool = Field(
        True,
        title="Ground-station requests",
        description="Answer thumbnail requests (COMMAND_LONG 31010) that come over the [mavlink] link.",
    )
    max_request_bytes: int = Field(
        65536, title="Largest image", description="A request's byte limit is capped at this.", ge=256
    )
    chunk_bytes: int = Field(
        512, title="Chunk size", description="Image bytes per uplink message (small chunks keep alerts quick).", ge=64
    )
