"""``edge bench``: run every benchmark side by side in one process and print one JSON object.

Each part is a module with ``run_bench(out_dir: Path, quick: bool) -> dict[str, float]``; a part that fails
is reported under ``errors`` and the others still run. Figures meant to be compared are measured within one
part, in one run (shared machines are noisy): report ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import platform
import sys
import time
import traceback
from pathlib import Path

PARTS: dict[str, str] = {
    "vision": "bench.vision",
    "multicam": "bench.multicam",
    "uplink": "bench.uplink",
    "bridge": "fwbridge.bench",
    "memory": "sim.membench",
    "sim": "sim.render_bench",
    "console": "bench.console",
    "int8": "sim.int8_bench",
    "centre": "centre.bench",
    "thumbnails": "bench.thumbnails",
    "clips": "bench.clips",
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="edge bench", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object (default: a table)")
    parser.add_argument("--out", default="bench-out", help="folder for plots and raw figures (default %(default)s)")
    parser.add_argument("--quick", action="store_true", help="shorter runs (smoke test)")
    parser.add_argument("--only", help=f"comma-separated parts among {', '.join(PARTS)}")
    parser.add_argument(
        "--config", help="measure this daemon config's [detector] (model and settings); implies --only vision"
    )
    parser.add_argument("--model", help="measure this ONNX model (with --config's settings, or the defaults)")
    parser.add_argument("--images", type=Path, help="with --config/--model: your own frames instead of the simulator's")
    ns = parser.parse_args(argv)
    vision_args: dict[str, object] = {}
    if ns.config or ns.model:
        from edge.config import ConfigError, detector_settings

        try:
            vision_args = {"detector": detector_settings(ns.config, ns.model), "images_dir": ns.images}
        except ConfigError as err:
            print(f"edge bench: {err}", file=sys.stderr)
            return 2
        ns.only = ns.only or "vision"
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    out_dir = Path(ns.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = ns.only.split(",") if ns.only else list(PARTS)
    unknown = [n for n in names if n not in PARTS]
    if unknown:
        parser.error(f"unknown part(s): {', '.join(unknown)}")
    result: dict[str, object] = {"machine": platform.machine(), "python": platform.python_version()}
    errors: dict[str, str] = {}
    for name in names:
        t0 = time.monotonic()
        try:
            module = importlib.import_module(PARTS[name])
            figures = module.run_bench(out_dir / name, ns.quick, **(vision_args if name == "vision" else {}))
        except Exception as err:
            errors[name] = f"{type(err).__name__}: {err}"
            traceback.print_exc(file=sys.stderr)
            continue
        result.update(figures)
        print(f"bench: {name} done in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    if errors:
        result["errors"] = errors
    (out_dir / "bench.json").write_text(json.dumps(result, indent=2))
    if ns.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:32s} {value}")
    return 1 if errors else 0
