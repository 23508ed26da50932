"""Config section ``[console]``: the crew's web page served by the daemon (or by ``edge console``)."""

from __future__ import annotations

from pydantic import Field, field_validator

from edge.settings_base import FilePath, Section

LOOPBACK = ("127.0.0.1", "::1", "localhost")


class ConsoleSettings(Section):
    """Where the console listens, how much it sends, and who may see it."""

    enabled: bool = Field(False, title="Enabled", description="Serve the console from `edge run`.")
    bind: str = Field(
        "127.0.0.1",
        title="Bind address",
        description="Listen address. Any address other than 127.0.0.1, ::1 or localhost (0.0.0.0, a LAN address) "
        "requires a login.",
    )
    port: int = Field(8088, title="Port", description="TCP port.", ge=1, le=65535)
    fps: float = Field(4.0, title="Live frame rate", description="Most frames/s sent to a watching page.", gt=0, le=30)
    jpeg_quality: int = Field(70, title="JPEG quality", description="1-100, for the live view.", ge=1, le=100)
    max_width_px: int = Field(
        960, title="Live image width", description="Frames wider than this are scaled down before encoding, px.", ge=64
    )
    basemap: FilePath | None = Field(
        None,
        title="Basemap",
        description="Offline map: an .mbtiles file (raster tiles) or a PNG/JPEG orthophoto with basemap_bounds; "
        "unset: a plain grid with a scale bar.",
    )
    basemap_bounds: tuple[float, float, float, float] | None = Field(
        None,
        title="Basemap bounds",
        description="South, west, north, east (deg) of a PNG/JPEG orthophoto's edges.",
    )
    password_credential: str = Field(
        "console-password",
        title="Password credential",
        description="systemd credential holding the login password ($CREDENTIALS_DIRECTORY/<name>); never the TOML.",
    )
    password_env: str = Field(
        "EDGE_CONSOLE_PASSWORD", title="Password variable", description="Environment variable read when no credential."
    )
    tls_cert: FilePath | None = Field(
        None, title="TLS certificate", description="PEM certificate file; set with tls_key."
    )
    tls_key: FilePath | None = Field(None, title="TLS key", description="PEM private key file; set with tls_cert.")
    session_hours: float = Field(12.0, title="Session lifetime", description="Hours a login lasts.", gt=0)

    @field_validator("basemap_bounds")
    @classmethod
    def _bounds(cls, v: tuple[float, float, float, float] | None) -> tuple[float, float, float, float] | None:
        if v is not None and not (-90 <= v[0] < v[2] <= 90 and -180 <= v[1] < v[3] <= 180):
            raise ValueError("must be south < north within +-90 and west < east within +-180 (deg)")
        return v

    @property
    def needs_login(self) -> bool:
        """True on any bind other than loopback 127.0.0.1, ::1 or localhost."""
        return self.bind not in LOOPBACK
