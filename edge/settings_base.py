"""Base class for every config section: unknown keys are errors, every field has a title and a default.

Each stage package owns its section model (``edge/<stage>/settings.py``); ``edge.config`` composes them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A config section. Subclasses declare fields as ``name: T = Field(default, title=..., description=...)``."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
