"""Resident memory of `edge run` with the default model on the demo set-up, sampled over time.

``run_bench(out_dir, quick)`` (part "memory" of `edge bench`) starts broker + simulator + daemon like
`make demo`, samples the daemon's RSS once a second after a warm-up, and reports the start, end and peak RSS
and the growth rate. ``python -m sim.membench --seconds 3600`` is the one-hour soak; ``--cameras 2`` runs the
daemon with two ``[[cameras]]`` reading the simulator's stream (two clients, two pipelines, one shared model);
``--log FILE`` appends each sample (``t_s rss_mb``) to FILE as it is taken.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tomllib

from sim.demo import Demo


class MultiCameraDemo(Demo):
    """The demo with its daemon's one ``[camera]`` turned into ``cameras`` ``[[cameras]]`` on the same stream."""

    def __init__(self, scenario: str, workdir: Path, cameras: int) -> None:
        super().__init__(scenario, workdir)
        self.cameras = cameras

    def _spawn(
        self, name: str, args: list[str], stdout: int | None = None, module: list[str] | None = None
    ) -> subprocess.Popen[bytes]:
        if name == "daemon":
            path = Path(args[-1])
            text = path.read_text()
            url = tomllib.loads(text)["camera"]["url"]
            text = re.sub(r"(?ms)^\[camera\]\n.*?(?=^\[)", "", text)
            text += "".join(f'[[cameras]]\nid = "cam{i}"\nurl = "{url}"\n' for i in range(self.cameras))
            path.write_text(text)
        return super()._spawn(name, args, stdout, module)


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for pid {pid}")


def measure(
    seconds: float,
    warmup_s: float,
    scenario: str,
    out_dir: Path,
    cameras: int = 1,
    log: Path | None = None,
    interval_s: float = 1.0,
) -> dict[str, float]:
    out_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="edge-membench-"))
    demo = Demo(scenario, workdir) if cameras == 1 else MultiCameraDemo(scenario, workdir, cameras)
    samples: list[tuple[float, float]] = []
    try:
        demo.start()
        daemon = dict(demo.procs)["daemon"]
        t0 = time.monotonic()
        while time.monotonic() - t0 < warmup_s + seconds:
            if daemon.poll() is not None:
                raise RuntimeError(f"edge run exited with {daemon.returncode}: see {workdir / 'daemon.log'}")
            t = time.monotonic() - t0
            if t >= warmup_s:
                samples.append((t - warmup_s, rss_mb(daemon.pid)))
                if log is not None:
                    with log.open("a") as f:
                        f.write(f"{samples[-1][0]:.0f} {samples[-1][1]:.1f}\n")
            time.sleep(interval_s)
    finally:
        shutil.copy(workdir / "daemon.log", out_dir / "daemon.log") if (workdir / "daemon.log").exists() else None
        if (workdir / "state" / "health.json").exists():
            shutil.copy(workdir / "state" / "health.json", out_dir / "health.json")
        demo.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    if len(samples) < 2:
        raise RuntimeError("too few RSS samples")
    (out_dir / "rss.json").write_text(json.dumps(samples))
    _plot(samples, out_dir / "rss.png")
    ts = [t for t, _ in samples]
    vs = [v for _, v in samples]
    # growth: least-squares slope, MiB per hour
    n = len(ts)
    mt, mv = sum(ts) / n, sum(vs) / n
    slope = sum((t - mt) * (v - mv) for t, v in samples) / max(sum((t - mt) ** 2 for t in ts), 1e-9)
    return {
        "rss_start_mb": round(vs[0], 1),
        "rss_end_mb": round(vs[-1], 1),
        "rss_max_mb": round(max(vs), 1),
        "rss_growth_mb_per_h": round(slope * 3600, 1),
        "rss_window_s": round(ts[-1], 1),
    }


def _plot(samples: list[tuple[float, float]], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot([t for t, _ in samples], [v for _, v in samples])
    ax.set_xlabel("time after warm-up (s)")
    ax.set_ylabel("edge run RSS (MiB)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def run_bench(out_dir: Path, quick: bool) -> dict[str, float]:
    """The daemon's RSS with one camera (rss_*), then with two [[cameras]] on one model (rss_2cam_*)."""
    scenario = str(Path(__file__).parent / "scenarios" / "drone-border.toml")
    one = measure(20 if quick else 120, 15, scenario, out_dir)
    two = measure(20 if quick else 120, 15, scenario, out_dir / "two-cameras", cameras=2)
    return one | {k.replace("rss_", "rss_2cam_", 1): v for k, v in two.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.membench", description=__doc__)
    parser.add_argument("--seconds", type=float, default=3600)
    parser.add_argument("--scenario", default=str(Path(__file__).parent / "scenarios" / "drone-border.toml"))
    parser.add_argument("--out", default="bench-out/memory")
    parser.add_argument("--cameras", type=int, default=1, help="cameras in the daemon, all on the sim's stream")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    parser.add_argument("--log", type=Path, help="append each sample to this file as it is taken")
    ns = parser.parse_args(argv)
    res = measure(ns.seconds, 15, ns.scenario, Path(ns.out), ns.cameras, ns.log, ns.interval)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
