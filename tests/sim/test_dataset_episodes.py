"""Training episodes: scenario turns by weight, thermal share, held-out seeds; bad weights named."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.dataset import build_samples, draw_episodes

SCENARIOS = Path(__file__).resolve().parents[2] / "sim" / "scenarios"


def test_weights_give_each_scenario_its_turns_and_seeds_stay_out_of_the_held_out_range() -> None:
    eps = draw_episodes([2, 1, 1], 400, seed=0, thermal_share=0.3)
    assert [e.scenario for e in eps[:8]] == [0, 0, 1, 2, 0, 0, 1, 2]
    assert [e.scenario for e in eps].count(0) == 200
    assert all(e.seed >= 1000 for e in eps), "seeds 0-999 are for evaluation"
    thermal = sum(e.mode == "thermal" for e in eps) / len(eps)
    assert 0.22 < thermal < 0.38
    assert draw_episodes([2, 1, 1], 50, seed=0) == draw_episodes([2, 1, 1], 50, seed=0)


def test_bad_weights_are_refused_before_any_render(tmp_path: Path) -> None:
    paths = [SCENARIOS / "drone-border.toml", SCENARIOS / "coast.toml"]
    with pytest.raises(ValueError, match="scenario weights"):
        build_samples(paths, 4, 0, (480, 640), tmp_path, weights=[1])
    with pytest.raises(ValueError, match="scenario weights"):
        build_samples(paths, 4, 0, (480, 640), tmp_path, weights=[1, 0])
    assert not any(tmp_path.iterdir())
