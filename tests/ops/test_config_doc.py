"""The example config documents every key and stays in step with the models."""

from __future__ import annotations

from pathlib import Path

from edge.config import Config, parse_config
from edge.ops.config_doc import render, toml_value

REPO = Path(__file__).resolve().parents[2]


def test_committed_example_is_current() -> None:
    committed = (REPO / "systemd" / "edge.toml").read_text()
    assert committed == render(), "run `make config-doc` to regenerate systemd/edge.toml"


def test_example_parses_to_defaults() -> None:
    import tomllib

    data = tomllib.loads(render())
    assert parse_config(data, Path("x.toml")) == Config()


def test_toml_values() -> None:
    assert toml_value(True) == "true"
    assert toml_value(3) == "3"
    assert toml_value(0.5) == "0.5"
    assert toml_value('a"b') == '"a\\"b"'
    assert toml_value([1, "x"]) == '[1, "x"]'
    assert toml_value({"person": 1.7}) == "{ person = 1.7 }"
