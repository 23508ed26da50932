"""Config sections of operations: logging, systemd notify, health. (Owned by the foundation.)"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edge.settings_base import Section


class LogSettings(Section):
    """Logging (journald-friendly: no timestamps when running under systemd)."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", title="Log level")


class OpsSettings(Section):
    """Process health."""

    status_interval_s: float = Field(
        5.0, title="Status interval", description="Seconds between STATUS= updates and health snapshots.", gt=0
    )
