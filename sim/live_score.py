"""How well the whole live chain geolocates: received detections against the simulator's ground truth.

Each detection a receiver printed (``edge listen`` JSON: ``t_utc``, ``class``, ``lat``, ``lon``, ``error_m``) is
matched to the nearest true target of its class at the same sim time (``t_utc - t0_utc``, where ``t0_utc`` is what
``edge sim --status-json`` reports). Unlike ``edge sim --eval-geo`` this includes everything between the renderer
and the receiver: the JPEG stream and its capture timestamps, MAVLink or gpsd pose timing, the detector's boxes,
the tracker and the codec's rounding.

Command line, for any run (``make demo``, SITL, a field test against a scenario's targets)::

    edge listen --broker mqtt://HOST:PORT > received.jsonl       # while it runs
    python -m sim.live_score --scenario sim/scenarios/sitl-plav.toml --t0-utc T received.jsonl [--json]

``T`` is the ``t0_utc`` that ``edge sim --status-json`` printed (or ``--status FILE`` with that JSON line).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.geo.wgs84 import LocalNed
from sim.scenario import ScenarioError, load_scenario
from sim.world import World

PROG = "python -m sim.live_score"


@dataclass(frozen=True)
class LiveScore:
    """Horizontal geolocation error of received detections (m); ``coverage90`` = share of fixes inside the
    ``error_m`` the daemon reported with them (its 90 % horizontal radius: honest when near 0.9 or above)."""

    fixes: int
    unmatched: int
    median_m: float
    p90_m: float
    median_reported_m: float
    coverage90: float

    def line(self) -> str:
        return (
            f"{self.fixes} fixes: horizontal error median {self.median_m:.1f} m, p90 {self.p90_m:.1f} m "
            f"(reported error_m median {self.median_reported_m:.1f} m; {self.coverage90:.0%} inside it; "
            f"{self.unmatched} with no target of their class within 200 m)"
        )


def nearest_error(world: World, t: float, class_name: str, lat: float, lon: float) -> float:
    """Horizontal distance (m) from (lat, lon) to the nearest true target of ``class_name`` at sim time ``t``."""
    frame = LocalNed(lat, lon, 0.0)
    best = math.inf
    for truth in world.targets(t):
        if truth.class_name == class_name:
            n, e, _ = frame.to_ned(truth.lat, truth.lon, 0.0)
            best = min(best, math.hypot(float(n), float(e)))
    return best


def score(world: World, t0_utc: float, detections: Iterable[Mapping[str, Any]], gate_m: float = 200.0) -> LiveScore:
    """Score receiver JSON objects; ones without a fix are skipped, ones farther than ``gate_m`` are unmatched."""
    errors, reported, unmatched = [], [], 0
    for d in detections:
        if d.get("lat") is None or d.get("lon") is None:
            continue
        err = nearest_error(world, float(d["t_utc"]) - t0_utc, str(d["class"]), float(d["lat"]), float(d["lon"]))
        if err > gate_m:
            unmatched += 1
            continue
        errors.append(err)
        reported.append(float(d["error_m"]) if d.get("error_m") is not None else math.nan)
    if not errors:
        return LiveScore(0, unmatched, math.nan, math.nan, math.nan, math.nan)
    e, r = np.asarray(errors), np.asarray(reported)
    return LiveScore(
        fixes=len(e),
        unmatched=unmatched,
        median_m=float(np.median(e)),
        p90_m=float(np.percentile(e, 90)),
        median_reported_m=float(np.nanmedian(r)) if np.isfinite(r).any() else math.nan,
        coverage90=float(np.mean(e <= r)),
    )


def _read_lines(path: str) -> list[dict[str, Any]]:
    """The JSON objects of a file of JSON lines (``-``: stdin); lines that are not objects are skipped."""
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    out = []
    for line in text.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=PROG, description="Score received detections against a scenario's truth.")
    p.add_argument("received", help="`edge listen` JSON lines (one detection each), or - for stdin")
    p.add_argument("--scenario", required=True, help="the scenario file the simulator ran")
    time0 = p.add_mutually_exclusive_group(required=True)
    time0.add_argument("--t0-utc", type=float, help="POSIX time of sim time 0 (t0_utc of `edge sim --status-json`)")
    time0.add_argument("--status", help="a file holding the JSON line `edge sim --status-json` printed")
    p.add_argument("--seed", type=int, help="the simulator's seed, if it was overridden (default: the status's)")
    p.add_argument("--gate-m", type=float, default=200.0, help="farther than this from any target: unmatched, m")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    a = p.parse_args(argv)
    try:
        scenario = load_scenario(a.scenario)
        status: dict[str, Any] = {}
        if a.status is not None:
            status = json.loads(Path(a.status).read_text(encoding="utf-8").splitlines()[0])
            if "t0_utc" not in status:
                raise ValueError(f"{a.status}: no t0_utc in the status line")
        detections = _read_lines(a.received)
    except (ScenarioError, OSError, ValueError, IndexError) as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 2
    t0 = a.t0_utc if a.t0_utc is not None else float(status["t0_utc"])
    seed = a.seed if a.seed is not None else status.get("seed")
    result = score(World(scenario, seed=seed), t0, detections, a.gate_m)
    if a.json:
        print(
            json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(result).items()})
        )
    else:
        print(result.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
