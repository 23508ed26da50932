"""Geolocation on the simulator: ``edge sim --scenario FILE --eval-geo [--json] [--frames N] [--noise] [--out DIR]``.

Renders frames of a scenario, feeds the rendered ground-truth boxes (so the renderer's forward projection is
checked against the geolocator's independent inverse) and the pose the daemon would see to GroundGeolocator, and
compares each fix with the target's true ground-contact point. Exact telemetry: the true camera pose. With
``--noise``: the scenario's noise (``noise.gps_m`` per horizontal axis, ``alt_m``, ``att_deg`` per axis,
``time_offset_s``) drawn afresh for every frame, the pose's error fields set to those sigmas, and box edges
jittered by ``--box-px``. The ground model is the scenario's (flat ``ground.alt_m``/home or its DEM), without
earth curvature because the simulated world is flat.

Prints median_m and p90_m (horizontal error of fixes within ``--range-m`` slant range, n of them), coverage90
(share of all fixes whose true position lies inside the reported 90 % radius) for the daemon's default
(size fusion on); ``methods`` holds the same for ``fused`` and ``intersection`` (fusion off), plus figures over
all ranges. Writes a PNG of error against range to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.geo.locator import GroundGeolocator
from edge.geo.settings import GeoSettings
from edge.geo.wgs84 import LocalNed
from edge.types import Pose
from sim.daemon_config import scenario_sections
from sim.render import Renderer
from sim.scenario import Scenario, ScenarioError, load_scenario
from sim.world import CLASS_NAMES, World

PROG = "edge sim --eval-geo"
F64 = npt.NDArray[np.float64]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--eval-geo", action="store_true", help="(selects this evaluation)")
    p.add_argument("--scenario", required=True, help="scenario TOML file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--frames", type=int, default=120, help="frames spread evenly over the scenario (default 120)")
    p.add_argument("--noise", action=argparse.BooleanOptionalAction, default=False, help="scenario's sensor noise")
    p.add_argument("--box-px", type=float, default=1.0, help="with --noise: 1-sigma box edge jitter, px")
    p.add_argument("--range-m", type=float, default=500.0, help="slant range limit of median/p90, m")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument("--out", default="out/eval-geo", help="folder for the plot (default out/eval-geo)")
    return p


def geo_settings(scenario: Scenario, noise: bool, box_px: float, fusion: bool) -> GeoSettings:
    """The [geo] section a daemon on this scenario's platform would be configured with: the scenario's camera and
    ground, and an error budget that matches the simulated sensors (exact ground, gimbal angles with the noise's
    ``att_deg`` or exact, no clock error unless ``noise.time_offset_s``, box edges jittered by ``box_px`` with
    noise and exact without)."""
    att = scenario.noise.att_deg if noise else 0.0
    budget = {
        "gimbal_err_deg": att,
        "stabilised_err_deg": att,
        "ground_sigma_m": 0.1,
        "pixel_sigma_px": max(box_px, 0.5) if noise else 0.5,
        "box_sigma_px": max(math.sqrt(2.0) * box_px, 0.5) if noise else 0.5,
        "timing_sigma_s": abs(scenario.noise.time_offset_s) if noise else 0.0,
        "fusion": fusion,
    }
    # the poses fed here carry the camera's whole angles, as a gimbal reporting them: no mount on top
    derived = {k: v for k, v in scenario_sections(scenario)["geo"].items() if not k.startswith("mount_")}
    return GeoSettings(**(derived | budget))


def noisy_pose(world: World, t: float, rng: np.random.Generator) -> Pose:
    """The true pose at t + time_offset_s with the scenario's noise added and its sigmas in the error fields."""
    nz = world.scenario.noise
    true = world.platform(t + nz.time_offset_s)
    frame = LocalNed(true.lat, true.lon, true.alt)
    dn, de = rng.normal(0.0, nz.gps_m, 2)
    lat, lon, alt = frame.to_geodetic(dn, de, rng.normal(0.0, nz.alt_m))
    att = np.radians(rng.normal(0.0, nz.att_deg, 3))
    if true.cam_frame == "earth":
        angles = {
            "cam_roll": true.cam_roll + att[0],
            "cam_pitch": true.cam_pitch + att[1],
            "cam_yaw": true.cam_yaw + att[2],
        }
    else:
        angles = {"roll": true.roll + att[0], "pitch": true.pitch + att[1], "yaw": true.yaw + att[2]}
    return replace(
        true,
        t_mono=t,
        lat=float(lat),
        lon=float(lon),
        alt=float(alt),
        pos_err_m=nz.gps_m,
        alt_err_m=nz.alt_m,
        att_err_rad=math.radians(nz.att_deg),
        **angles,
    )


def exact_pose(world: World, t: float) -> Pose:
    """The true pose with zero telemetry errors."""
    return replace(world.platform(t), t_mono=t, pos_err_m=0.0, alt_err_m=0.0, att_err_rad=0.0)


def run(scenario: Scenario, frames: int, noise: bool, box_px: float = 1.0, seed: int = 0) -> dict[str, F64]:
    """Per located-or-not target sighting: truth range_m, and err_/r90_ (m, NaN = no fix) for each method."""
    world = World(scenario)
    renderer = Renderer(world)
    methods = {
        name: GroundGeolocator(geo_settings(scenario, noise, box_px, name == "fused"))
        for name in ("fused", "intersection")
    }
    rng = np.random.default_rng(seed)
    cam = world.camera
    rows: dict[str, list[float]] = {"t": [], "range_m": []}
    for name in methods:
        rows[f"err_{name}"], rows[f"r90_{name}"] = [], []
    for k in range(frames):
        t = (k + 0.5) * scenario.duration_s / frames
        _, gt = renderer.render(t)
        pose = noisy_pose(world, t, rng) if noise else exact_pose(world, t)
        boxes = gt.boxes + (rng.normal(0.0, box_px, gt.boxes.shape) if noise else 0.0)
        names = [CLASS_NAMES[c] for c in gt.class_ids]
        for name, geo in methods.items():
            fixes = geo.fix_boxes(boxes, names, cam.width, cam.height, pose)
            err = np.full(len(gt), np.nan)
            for i in range(len(gt)):
                n, e, _ = LocalNed(gt.lat[i], gt.lon[i], gt.alt[i]).to_ned(fixes.lat[i], fixes.lon[i], 0.0)
                err[i] = math.hypot(float(n), float(e))
            rows[f"err_{name}"] += err.tolist()
            rows[f"r90_{name}"] += fixes.error_m.tolist()
        rows["t"] += [t] * len(gt)
        rows["range_m"] += gt.range_m.tolist()
    return {k: np.array(v, np.float64) for k, v in rows.items()}


def summarise(rows: dict[str, F64], method: str, range_m: float) -> dict[str, float | int]:
    """median/p90 within ``range_m``, coverage of the 90 % radius, and figures over all ranges."""
    err, r90, rng = rows[f"err_{method}"], rows[f"r90_{method}"], rows["range_m"]
    fixed = np.isfinite(err)
    near = fixed & (rng <= range_m)
    far = fixed & (rng > range_m)

    def pct(mask: npt.NDArray[np.bool_], q: float) -> float:
        return float(np.percentile(err[mask], q)) if mask.any() else math.nan

    return {
        "median_m": pct(near, 50),
        "p90_m": pct(near, 90),
        "coverage90": float(np.mean(err[fixed] <= r90[fixed])) if fixed.any() else math.nan,
        "n": int(near.sum()),
        "median_far_m": pct(far, 50),
        "p90_far_m": pct(far, 90),
        "n_far": int(far.sum()),
        "median_all_m": pct(fixed, 50),
        "p90_all_m": pct(fixed, 90),
        "median_r90_m": float(np.median(r90[fixed])) if fixed.any() else math.nan,
        "n_all": int(fixed.sum()),
        "no_fix": int((~fixed).sum()),
    }


def plot(rows: dict[str, F64], path: Path, title: str) -> None:
    """Errors against slant range for both methods: points, and per range bin the median error (solid) and the
    median reported 90 % radius (dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    rng = rows["range_m"]
    edges = np.linspace(rng.min(), rng.max() + 1e-6, 9) if len(rng) else np.array([0.0, 1.0])
    mid = 0.5 * (edges[1:] + edges[:-1])
    for method, colour in (("intersection", "tab:orange"), ("fused", "tab:blue")):
        err, r90 = rows[f"err_{method}"], rows[f"r90_{method}"]
        ok = np.isfinite(err)
        ax.scatter(rng[ok], np.maximum(err[ok], 1e-2), s=6, c=colour, alpha=0.35)
        bins = np.digitize(rng, edges) - 1
        med = [np.median(err[ok & (bins == b)]) if np.any(ok & (bins == b)) else np.nan for b in range(len(mid))]
        rad = [np.median(r90[ok & (bins == b)]) if np.any(ok & (bins == b)) else np.nan for b in range(len(mid))]
        ax.plot(mid, med, "-o", c=colour, label=f"{method}: median error")
        ax.plot(mid, rad, "--", c=colour, label=f"{method}: median 90 % radius")
    ax.set_yscale("log")
    ax.set_xlabel("slant range, m")
    ax.set_ylabel("horizontal error, m")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def _no_nan(obj: Any) -> Any:
    """NaN (no sample) as null, so that the output is strict JSON."""
    if isinstance(obj, dict):
        return {k: _no_nan(v) for k, v in obj.items()}
    return None if isinstance(obj, float) and math.isnan(obj) else obj


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.frames < 1:
        print(f"{PROG}: --frames must be at least 1", file=sys.stderr)
        return 2
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 2
    rows = run(scenario, args.frames, args.noise, args.box_px, args.seed)
    methods = {m: summarise(rows, m, args.range_m) for m in ("fused", "intersection")}
    label = "noise" if args.noise else "exact"
    png = Path(args.out) / f"{scenario.name}-{label}.png"
    plot(rows, png, f"{scenario.name}, {label} telemetry, {args.frames} frames")
    f = methods["fused"]
    result: dict[str, Any] = {
        "median_m": f["median_m"],
        "p90_m": f["p90_m"],
        "coverage90": f["coverage90"],
        "n": f["n"],
        "scenario": scenario.name,
        "noise": args.noise,
        "frames": args.frames,
        "range_m": args.range_m,
        "methods": methods,
        "plot": str(png),
    }
    if args.json:
        print(json.dumps(_no_nan(result)))
    else:
        print(f"{scenario.name} ({label} telemetry, {args.frames} frames): plot {png}")
        for m, v in methods.items():
            print(
                f"  {m:12s} median {v['median_m']:7.2f} m  p90 {v['p90_m']:7.2f} m  (n={v['n']} within {args.range_m:g} m)"
                f"  coverage90 {v['coverage90']:.3f}  beyond: median {v['median_far_m']:.1f} m"
                f"  p90 {v['p90_far_m']:.1f} m  n={v['n_far']}  no fix {v['no_fix']}"
            )
    return 0
