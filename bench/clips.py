"""``edge bench`` part "clips": what the evidence recorder costs while the pipeline runs, in one run.

A real run as `make demo` does it (the simulator's camera and autopilot, Mosquitto, `edge run` with the default
model) with ``[clips]`` on. Between two of the daemon's health snapshots (after a warm-up) the recorder's CPU
seconds (its ffmpeg child and its two threads, from ``edge status``'s ``clips:cam0``) are set against the daemon's
own (its process, read from /proc at each snapshot, plus the ffmpeg child, which is not counted in it):
``clip_cpu_share`` = recorder / (daemon + ffmpeg); ``clip_cpu_cores``: the recorder's CPU seconds per second.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from sim.demo import REPO, Demo

TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _next_snapshot(health: Path, after: float, pid: int, timeout: float = 20.0) -> tuple[dict[str, Any], float]:
    """The first health snapshot written after ``after`` (file time), and the daemon's CPU s read right then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if health.stat().st_mtime > after:
                cpu = _proc_cpu_s(pid)
                return json.loads(health.read_text()), cpu
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    raise RuntimeError(f"no health snapshot in {health} for {timeout} s")


def run_bench(out_dir: Path, quick: bool) -> dict[str, float]:
    """Keys: clip_cpu_share, clip_cpu_cores, clip_pipeline_fps, clip_frames_per_s."""
    out_dir.mkdir(parents=True, exist_ok=True)
    seconds, warmup = (15.0, 8.0) if quick else (40.0, 10.0)
    clips = {"enabled": True, "pre_s": 5.0, "post_s": 5.0}
    demo = Demo(str(REPO / "sim" / "scenarios" / "drone-border.toml"), out_dir, extra={"clips": clips})
    try:
        demo.follow(demo.start(), echo=False)
        pid = next(p.pid for name, p in demo.procs if name == "daemon")
        health = out_dir / "state" / "health.json"
        time.sleep(warmup)
        first, cpu0 = _next_snapshot(health, time.time(), pid)
        time.sleep(seconds)
        last, cpu1 = _next_snapshot(health, time.time(), pid)
    finally:
        demo.stop()
    a, b = first["stages"]["clips:cam0"], last["stages"]["clips:cam0"]
    wall = float(last["t_utc"]) - float(first["t_utc"])
    rec = b["cpu_s"] - a["cpu_s"]
    total = (cpu1 - cpu0) + (b["ffmpeg_cpu_s"] - a["ffmpeg_cpu_s"])
    return {
        "clip_cpu_share": round(rec / total, 4) if total > 0 else float("nan"),
        "clip_cpu_cores": round(rec / wall, 4),
        "clip_pipeline_fps": float(last["stages"]["pipeline"]["fps"]),
        "clip_frames_per_s": round((b["frames"] - a["frames"]) / wall, 2),
    }
