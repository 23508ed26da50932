"""[clips] config: defaults (off), and refusals that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import ConfigError, parse_config


def test_off_by_default() -> None:
    assert parse_config({}, Path("edge.toml")).clips.enabled is False


@pytest.mark.parametrize(
    ("clips", "key"),
    [
        ({"ring_s": 20.0}, "clips.ring_s: 20.0 s cannot hold a clip: at least pre_s + post_s + 2 segment_s = 22.0 s"),
        ({"pre_s": 50.0}, "clips.ring_s: 60.0 s cannot hold a clip"),
        ({"post_s": 0}, "clips.post_s: Input should be greater than 0"),
        ({"preset": "placebo"}, "clips.preset: String should match pattern"),
        ({"crf": 60}, "clips.crf: Input should be less than or equal to 51"),
        ({"keep": 3}, "clips.keep: unknown key"),
        ({"classes": "person"}, "clips.classes: Input should be a valid list"),
    ],
)
def test_bad_values_name_the_key(clips: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"clips": clips}, Path("edge.toml"))
    assert any(line.startswith(f"edge.toml: {key}") for line in err.value.problems), err.value.problems
