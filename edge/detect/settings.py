"""Config section of the detector. (Owned by the vision work.)"""

from __future__ import annotations

from pydantic import Field

from edge.settings_base import Section


class DetectorSettings(Section):
    """The ONNX detector."""

    model: str = Field("models/edge-default.onnx", title="Model path", description="ONNX file.")
    conf_threshold: float = Field(0.35, title="Confidence threshold", ge=0.0, le=1.0)
