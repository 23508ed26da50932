"""Renderer speed for ``edge bench``: frames per second on this machine (one process, no threads of our own)."""

from __future__ import annotations

import time
from pathlib import Path

from sim.render import Renderer
from sim.scenario import load_scenario
from sim.world import World

SCENARIOS = Path(__file__).resolve().parent / "scenarios"


def _fps(renderer: Renderer, frames: int) -> float:
    renderer.render(0.0)  # textures are built on the first frame
    t0 = time.perf_counter()
    for i in range(frames):
        renderer.render(0.1 * (i + 1))
    return frames / (time.perf_counter() - t0)


def run_bench(out_dir: Path, quick: bool) -> dict[str, float]:
    """sim_render_{day,thermal,random}_fps at 640x480 (drone-border) and sim_render_mss_day_fps at 1280x720."""
    frames = 10 if quick else 60
    border = World(load_scenario(SCENARIOS / "drone-border.toml"))
    ridge = World(load_scenario(SCENARIOS / "mss-ridge.toml"))
    return {
        "sim_render_day_fps": round(_fps(Renderer(border), frames), 1),
        "sim_render_thermal_fps": round(_fps(Renderer(border, mode="thermal"), frames), 1),
        "sim_render_random_fps": round(_fps(Renderer(border, randomize=True, rng_seed=1), frames), 1),
        "sim_render_mss_day_fps": round(_fps(Renderer(ridge), frames // 2), 1),
    }
