"""``edge model eval``: a model's per-class precision, recall and mean IoU against the simulator's ground truth.

The model runs through the daemon's own detector (``edge.detect.engine.OnnxDetector``: same preprocessing,
thermal gain, decoding and NMS), so the numbers are what ``edge run`` would see. Matching is greedy per class
in descending score order at IoU >= 0.5. Targets shorter than ``--min-height`` px, mostly outside the image or
mostly hidden behind nearer targets are "don't care": missing them is no miss and a detection that matches one is
no false positive. As in COCO's size-limited evaluation, a detection that matches nothing and is itself shorter
than ``--min-height`` is not judged either (counted apart as "small"; ``--strict`` makes it a false positive).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.detect.nms import iou_matrix
from edge.detect.settings import DetectorSettings, TilingSettings
from edge.types import Detections
from sim.daemon_config import scenario_sections

IOU_MATCH = 0.5
MIN_VISIBLE = 0.5  # targets with less of their box inside the image are don't-care
MAX_OCCLUDED = 0.5  # and so are targets with more of their box behind nearer targets


@dataclass
class ClassTally:
    """Running counts for one class: true/false positives, misses and the IoUs of the true positives."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    small: int = 0  # unmatched detections under the size limit: not judged
    ious: list[float] = field(default_factory=list)

    def add(self, other: ClassTally) -> None:
        self.tp, self.fp, self.fn = self.tp + other.tp, self.fp + other.fp, self.fn + other.fn
        self.small += other.small
        self.ious.extend(other.ious)

    def summary(self) -> dict[str, float | int | None]:
        """precision/recall are None when undefined (nothing predicted / nothing to find)."""
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else None
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else None
        miou = float(np.mean(self.ious)) if self.ious else None
        return {
            "targets": self.tp + self.fn,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "small_unmatched": self.small,
            "precision": p,
            "recall": r,
            "mean_iou": miou,
        }


def match_frame(
    pred_xyxy: npt.NDArray[np.float32],
    pred_score: npt.NDArray[np.float32],
    gt_xyxy: npt.NDArray[np.float32],
    gt_counts: npt.NDArray[np.bool_],
    iou_thr: float = IOU_MATCH,
    min_height: float = 0.0,
) -> ClassTally:
    """Greedy matching of one class in one frame.

    pred_xyxy (P, 4), pred_score (P,), gt_xyxy (G, 4) pixels; gt_counts (G,) False for don't-care targets.
    Predictions in descending score take the free counted target of highest IoU >= ``iou_thr`` (true positive),
    else a free don't-care target (ignored), else are false positives, unless shorter than ``min_height`` px
    (then "small", not judged); counted targets left free are misses.
    """
    tally = ClassTally()
    free = np.ones(len(gt_xyxy), bool)
    pred_xyxy = np.asarray(pred_xyxy, np.float32).reshape(-1, 4)
    small = pred_xyxy[:, 3] - pred_xyxy[:, 1] < min_height
    ious = iou_matrix(pred_xyxy, np.asarray(gt_xyxy, np.float32)) if len(gt_xyxy) else None
    for i in np.argsort(-np.asarray(pred_score), kind="stable"):
        if ious is not None:
            row = np.where(free & (ious[i] >= iou_thr), ious[i], -1.0)
            counted = np.where(gt_counts, row, -1.0)
            if counted.max() >= iou_thr:
                j = int(counted.argmax())
                tally.tp += 1
                tally.ious.append(float(ious[i, j]))
                free[j] = False
                continue
            if row.max() >= iou_thr:
                free[int(row.argmax())] = False
                continue
        if small[i]:
            tally.small += 1
        else:
            tally.fp += 1
    tally.fn = int(np.count_nonzero(free & gt_counts))
    return tally


def counted_targets(
    gt_xyxy: npt.NDArray[np.floating],
    visible_frac: npt.NDArray[np.floating],
    occluded: npt.NDArray[np.floating],
    min_height: float,
) -> npt.NDArray[np.bool_]:
    """(G,) True for targets that count: box at least ``min_height`` px tall, at least half of it inside the image
    (``visible_frac`` >= 0.5) and at most half of it behind nearer targets (``occluded`` <= 0.5)."""
    h = np.asarray(gt_xyxy, np.float64).reshape(-1, 4) @ np.array([0.0, -1.0, 0.0, 1.0])
    return (h >= min_height) & (np.asarray(visible_frac) >= MIN_VISIBLE) & (np.asarray(occluded) <= MAX_OCCLUDED)


def tally_frame(
    dets: Detections,
    gt_xyxy: npt.NDArray[np.floating],
    gt_cls: npt.NDArray[np.integer],
    counted: npt.NDArray[np.bool_],
    n_classes: int,
    min_height: float = 0.0,
) -> list[ClassTally]:
    """Per-class tallies (index = class id) of one frame's detections against its ground truth boxes (G, 4),
    classes (G,) and ``counted`` (G,) (False: don't care); unmatched detections under ``min_height`` px are
    not judged."""
    gt_xyxy = np.asarray(gt_xyxy, np.float32).reshape(-1, 4)
    gt_cls = np.asarray(gt_cls, np.int64).reshape(-1)
    out = []
    for c in range(n_classes):
        p, g = dets.class_id == c, gt_cls == c
        out.append(match_frame(dets.xyxy[p], dets.score[p], gt_xyxy[g], counted[g], min_height=min_height))
    return out


def evaluate(
    model: Path,
    scenario: Path,
    frames: int,
    seed: int,
    mode: str | None,
    min_height: float,
    conf: float | None = None,
    base: DetectorSettings | None = None,
    strict: bool = False,
) -> dict[str, object]:
    """Render ``frames`` frames spread over the scenario (world and renderer seeded with ``seed``), detect, match.

    ``base``: the daemon's detector settings to use (its model path is replaced by ``model``; default: the
    defaults, with the tiles ``sim.daemon_config`` gives the demo's daemon for this scenario's camera);
    ``strict``: unmatched detections under ``min_height`` are false positives too. Returns the JSON-able report:
    settings, per-class summaries ("classes") and the total ("all").
    """
    from edge.detect.engine import OnnxDetector
    from edge.types import Frame
    from sim.render import Renderer
    from sim.scenario import load_scenario
    from sim.world import World

    sc = load_scenario(scenario)
    update: dict[str, object] = {"model": str(model)}
    tiling = scenario_sections(sc).get("detector.tiling")
    if base is None and tiling:  # the tiles the demo's daemon runs on this scenario's camera
        update["tiling"] = TilingSettings(**tiling)
    if conf is not None:
        update["conf_threshold"] = conf
    settings = (base or DetectorSettings()).model_copy(update=update)
    detector = OnnxDetector(settings)
    names = list(detector.class_names)
    world = World(sc, seed=seed)
    renderer = Renderer(world, mode=mode, rng_seed=seed)
    rng = np.random.default_rng(seed)
    times = (np.arange(frames) + rng.uniform(0.0, 1.0, frames)) * sc.duration_s / max(frames, 1)
    totals = [ClassTally() for _ in names]
    for i, t in enumerate(times):
        image, gt = renderer.render(float(t))
        dets = detector.detect(Frame(image=image, t_mono=float(t), t_utc=float(t), seq=i))
        counted = counted_targets(gt.boxes, gt.visible_frac, gt.occluded, min_height)
        small_limit = 0.0 if strict else min_height
        parts = tally_frame(dets, gt.boxes, gt.class_ids, counted, len(names), small_limit)
        for total, part in zip(totals, parts, strict=True):
            total.add(part)
    overall = ClassTally()
    for total in totals:
        overall.add(total)
    return {
        "model": str(model),
        "scenario": str(scenario),
        "mode": mode or sc.camera.mode,
        "frames": frames,
        "seed": seed,
        "min_height_px": min_height,
        "small_detections": "false positives" if strict else "not judged",
        "iou_match": IOU_MATCH,
        "conf_threshold": settings.conf_threshold,
        "tiling": settings.tiling.model_dump(),
        "classes": {n: t.summary() for n, t in zip(names, totals, strict=True)},
        "all": overall.summary(),
    }


def _fmt(v: object) -> str:
    return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def format_report(report: dict[str, object]) -> str:
    """The report as a small text table."""
    lines = [
        f"model {report['model']}  scenario {report['scenario']}  mode {report['mode']}  frames {report['frames']}  "
        f"seed {report['seed']}  targets >= {report['min_height_px']} px  conf >= {report['conf_threshold']}  "
        f"smaller unmatched detections: {report.get('small_detections', 'not judged')}",
        f"{'class':<10}{'targets':>8}{'tp':>6}{'fp':>6}{'fn':>6}{'small':>7}{'precision':>11}{'recall':>8}"
        f"{'mean IoU':>10}",
    ]
    rows = dict(report["classes"])  # type: ignore[call-overload]
    rows["all"] = report["all"]
    for name, s in rows.items():
        lines.append(
            f"{name:<10}{s['targets']:>8}{s['tp']:>6}{s['fp']:>6}{s['fn']:>6}{s.get('small_unmatched', 0):>7}"
            f"{_fmt(s['precision']):>11}{_fmt(s['recall']):>8}{_fmt(s['mean_iou']):>10}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="edge model eval", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, required=True, help="ONNX model file")
    ap.add_argument("--scenario", type=Path, required=True, help="scenario TOML (e.g. sim/scenarios/coast.toml)")
    ap.add_argument("--frames", type=int, default=50, help="frames spread over the scenario's duration")
    ap.add_argument("--seed", type=int, default=1, help="world and renderer seed (training never used 0..999)")
    ap.add_argument("--mode", choices=["day", "thermal"], default=None, help="camera mode (default: the scenario's)")
    ap.add_argument("--min-height", type=float, default=16.0, help="targets shorter than this (px) are don't-care")
    ap.add_argument("--conf", type=float, default=None, help="confidence threshold (default: the detector's)")
    ap.add_argument(
        "--strict", action="store_true", help="unmatched detections under --min-height count as false positives"
    )
    ap.add_argument("--min-precision", type=float, default=None, help="exit 1 when overall precision is below this")
    ap.add_argument("--min-recall", type=float, default=None, help="exit 1 when overall recall is below this")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument(
        "--config", type=Path, default=None, help="daemon config whose [detector] settings apply (e.g. tiling)"
    )
    args = ap.parse_args(argv)
    if args.frames < 1:
        ap.error("--frames must be at least 1")
    for path in (args.model, args.scenario):
        if not path.is_file():
            print(f"edge model eval: no such file: {path}", file=sys.stderr)
            return 2
    base = None
    if args.config is not None:
        from edge.config import ConfigError, load_config

        try:
            base = load_config(args.config, check_files=False).detector
        except ConfigError as err:
            print(f"edge model eval: {err}", file=sys.stderr)
            return 2
    report = evaluate(
        args.model, args.scenario, args.frames, args.seed, args.mode, args.min_height, args.conf, base, args.strict
    )
    print(json.dumps(report) if args.json else format_report(report))
    overall = report["all"]
    assert isinstance(overall, dict)
    failed = [
        f"{key} {overall[key]} < {limit}"
        for key, limit in (("precision", args.min_precision), ("recall", args.min_recall))
        if limit is not None and (overall[key] is None or overall[key] < limit)
    ]
    if failed:
        print("edge model eval: below target: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0
