"""Base class for every config section: unknown keys are errors, every field has a title and a default.

Each stage package owns its section model (``edge/<stage>/settings.py``); ``edge.config`` composes them.
Rules every section gets without asking: floats are finite (no inf/nan), no string holds a NUL byte, and a
field typed ``FilePath`` / ``FileOrDir`` (optionally ``| None``; "" and None mean unset) is, when the config is
loaded from a file (validation context ``{CONFIG_DIR: folder}``), made absolute under the config's folder and
must name something that exists, of the right kind, that this process can read.

``load_toml`` reads a TOML file into a section model for the programs with their own config file (``edge-bridge``,
``edge-centre``): every problem is one ``FILE: dotted.key: reason`` line.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PAIRS = (("min", "max"), ("low", "high"))  # name words of a lower bound and its upper bound
CONFIG_DIR = "config_dir"  # validation-context key: the folder relative paths are anchored to
CHECK_FILES = "check_files"  # validation-context key: False anchors paths without checking them


def _no_nul(value: object) -> None:
    """Raise ValueError when ``value`` (or a string inside it) holds a NUL byte."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain a NUL byte")
    elif isinstance(value, list | tuple):
        for v in value:
            _no_nul(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            _no_nul(k)
            _no_nul(v)


def _path_check(kind: str) -> Any:
    def check(value: str, info: ValidationInfo) -> str:
        _no_nul(value)
        ctx = info.context if isinstance(info.context, dict) else {}
        base = ctx.get(CONFIG_DIR)
        if not value or base is None:
            return value
        p = Path(value) if Path(value).is_absolute() else Path(base) / value
        if not ctx.get(CHECK_FILES, True):
            return str(p)
        if not p.exists():
            raise ValueError(f"{p}: no such file" + (" or folder" if kind == "any" else ""))
        if kind == "file" and not p.is_file():
            raise ValueError(f"{p}: not a file")
        if not os.access(p, os.R_OK | (os.X_OK if p.is_dir() else 0)):
            raise ValueError(f"{p}: not readable by this user")
        return str(p)

    return AfterValidator(check)


FilePath = Annotated[str, _path_check("file")]
"""A file this config needs; relative to the config file's folder unless absolute."""
FileOrDir = Annotated[str, _path_check("any")]
"""A file or a folder this config needs; relative to the config file's folder unless absolute."""


class Section(BaseModel):
    """A config section. Subclasses declare fields as ``name: T = Field(default, title=..., description=...)``."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False, revalidate_instances="always"
    )

    @field_validator("*", mode="after")
    @classmethod
    def _strings_without_nul(cls, value: object) -> object:
        _no_nul(value)
        return value

    @model_validator(mode="after")
    def _bounds_in_order(self) -> Section:
        """A ``*min*`` / ``*low*`` field is not above its ``*max*`` / ``*high*`` partner (reconnect_min_s and
        reconnect_max_s, low_threshold and high_threshold, ...)."""
        for name in type(self).model_fields:
            words = name.split("_")
            for lo, hi in PAIRS:
                if lo in words:
                    partner = "_".join(hi if w == lo else w for w in words)
                    a, b = getattr(self, name), getattr(self, partner, None)
                    if isinstance(a, int | float) and isinstance(b, int | float) and a > b:
                        raise PydanticCustomError(
                            "bounds_order",
                            "{value} is above {partner} ({bound})",
                            {"field": name, "value": a, "partner": partner, "bound": b},
                        )
        return self


S = TypeVar("S", bound=Section)


def load_toml(path: str | Path, model: type[S], error: type[Exception]) -> S:
    """Read ``path`` (TOML) and validate it as ``model``; raise ``error`` whose message has one
    ``FILE: dotted.key: reason`` line per problem (a whole-config check's message names its keys itself)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as err:
        raise error(f"{p}: cannot read: {err.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise error(f"{p}: not valid TOML: {err}") from None
    try:
        return model.model_validate(data)
    except ValidationError as err:
        lines = []
        for e in err.errors():
            if not e["loc"] and e["type"] == "value_error":
                lines.append(f"{p}: {e['ctx']['error']}")
                continue
            key = ".".join(str(x) for x in e["loc"]) or "(top level)"
            lines.append(f"{p}: {key}: {'unknown key' if e['type'] == 'extra_forbidden' else e['msg']}")
        raise error("\n".join(lines)) from None
