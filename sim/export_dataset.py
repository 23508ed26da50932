"""``edge sim --export-dataset DIR --frames N --scenario FILE``: the simulator's frames and truth as a labelled set.

Writes ``DIR/images/NNNNNN.jpg``, YOLO labels ``DIR/labels/NNNNNN.txt`` (class cx cy w h, fractions), ``classes.txt``
and an Ultralytics ``data.yaml`` beside them, and ``DIR/annotations.json`` (COCO), so a user can fine-tune a YOLO on a
scenario and measure it with ``edge model eval --images DIR/images --labels DIR/labels``. A target is labelled when at
least half of its box is inside the image, at most half of it hidden behind nearer targets, and it is at least
``--min-height`` px tall (the same "counted" rule as ``edge model eval --scenario``); its box is clipped to the image.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from edge.detect.preprocess import to_model_image
from edge.detect.settings import ThermalSettings
from sim.model_eval import counted_targets
from sim.render import Renderer
from sim.scenario import load_scenario
from sim.world import CLASS_NAMES, World


def export(scenario: Path, out: Path, frames: int, seed: int, mode: str | None, min_height: float) -> dict:
    """Render ``frames`` frames spread over the scenario and write them with their truth; returns a summary."""
    sc = load_scenario(scenario)
    world = World(sc, seed=seed)
    renderer = Renderer(world, mode=mode, rng_seed=seed)
    rng = np.random.default_rng(seed)
    times = (np.arange(frames) + rng.uniform(0.0, 1.0, frames)) * sc.duration_s / max(frames, 1)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    coco: dict[str, list] = {
        "images": [],
        "annotations": [],
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(CLASS_NAMES)],
    }
    n_boxes = 0
    for i, t in enumerate(times):
        render, gt = renderer.render(float(t))
        image = to_model_image(np.asarray(render), 3, ThermalSettings())  # thermal: as the detector's gain maps it
        h, w = image.shape[:2]
        name = f"{i:06d}"
        cv2.imwrite(str(out / "images" / f"{name}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        keep = counted_targets(gt.boxes, gt.visible_frac, gt.occluded, min_height)
        boxes = np.clip(gt.boxes[keep], 0, [w, h, w, h])
        classes = gt.class_ids[keep]
        lines = []
        coco["images"].append({"id": i + 1, "file_name": f"{name}.jpg", "width": w, "height": h})
        for (x1, y1, x2, y2), c in zip(boxes, classes, strict=True):
            lines.append(f"{c} {(x1 + x2) / 2 / w:.8f} {(y1 + y2) / 2 / h:.8f} {(x2 - x1) / w:.8f} {(y2 - y1) / h:.8f}")
            bw, bh = float(x2 - x1), float(y2 - y1)
            coco["annotations"].append(
                {
                    "id": len(coco["annotations"]) + 1,
                    "image_id": i + 1,
                    "category_id": int(c) + 1,
                    "bbox": [round(float(x1), 4), round(float(y1), 4), round(bw, 4), round(bh, 4)],
                    "area": round(bw * bh, 2),
                    "iscrowd": 0,
                }
            )
        n_boxes += len(lines)
        (out / "labels" / f"{name}.txt").write_text("".join(f"{ln}\n" for ln in lines))
    (out / "classes.txt").write_text("".join(f"{n}\n" for n in CLASS_NAMES))
    names = "".join(f"  {i}: {n}\n" for i, n in enumerate(CLASS_NAMES))
    (out / "data.yaml").write_text(f"path: {out.resolve()}\ntrain: images\nval: images\nnames:\n{names}")
    (out / "annotations.json").write_text(json.dumps(coco))
    return {"frames": frames, "boxes": n_boxes, "out": str(out), "scenario": str(scenario), "seed": seed}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="edge sim --export-dataset", description=__doc__.splitlines()[0] if __doc__ else None
    )
    p.add_argument("--export-dataset", type=Path, required=True, metavar="DIR", help="output folder")
    p.add_argument("--scenario", type=Path, required=True, help="scenario TOML file (see sim/scenarios/)")
    p.add_argument("--frames", type=int, default=100, help="frames to render (default %(default)s)")
    p.add_argument("--seed", type=int, default=7, help="world and renderer seed (seeds 0-999 are never trained on)")
    p.add_argument("--mode", choices=["day", "thermal"], default=None, help="camera mode (default: the scenario's)")
    p.add_argument("--min-height", type=float, default=8.0, help="smallest labelled target (px, default %(default)s)")
    ns = p.parse_args(argv)
    summary = export(ns.scenario, ns.export_dataset, ns.frames, ns.seed, ns.mode, ns.min_height)
    print(json.dumps(summary))
    return 0
