"""``edge model eval --images DIR --labels DIR|FILE``: how well a model detects on the user's own labelled images.

The model runs through the daemon's own detector (preprocessing, tiling, decoding, NMS from ``--config``), at a
confidence floor of 0.001 for the AP figures (COCO's way: AP needs the whole ranking); precision and recall are
given at the configured thresholds (IoU >= 0.5). Ground-truth classes are matched to the model's by name; classes
only one side knows are listed and left out. Files written to ``--out``: report.json, pr_curve.csv / .png (IoU 0.5)
and confusion.csv (rows: truth, columns: prediction, "none" for a miss or a false alarm).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from edge.detect.cocomap import ImageResult, average_precision, iou, match
from edge.detect.datasets import Dataset, DatasetError, load
from edge.detect.settings import DetectorSettings

AP_FLOOR = 0.001
COLOURS = [(230, 120, 20), (40, 160, 40), (30, 30, 220), (180, 60, 180), (20, 170, 200), (120, 120, 120)]


class Progress:
    """A one-line progress bar on stderr, redrawn at most twice a second."""

    def __init__(self, total: int, what: str) -> None:
        self.total, self.what, self.t0, self.shown = total, what, time.monotonic(), 0.0

    def step(self, done: int) -> None:
        now = time.monotonic()
        if now - self.shown < 0.5 and done < self.total:
            return
        self.shown = now
        bar = "#" * (30 * done // max(self.total, 1))
        rate = done / max(now - self.t0, 1e-9)
        end = "\n" if done >= self.total else ""
        print(f"\r[{bar:<30}] {done}/{self.total} {self.what} {rate:.1f}/s", end=end, file=sys.stderr, flush=True)


def run_detector(settings: DetectorSettings, data: Dataset, quiet: bool = False) -> tuple[list[str], list]:
    """(model class names, per image Detections) of the model over ``data``, at the AP floor."""
    from edge.detect.engine import OnnxDetector
    from edge.types import Frame

    floor = settings.model_copy(update={"conf_threshold": AP_FLOOR, "class_thresholds": {}, "classes": []})
    det = OnnxDetector(floor)
    progress = None if quiet else Progress(len(data.images), "images")
    out = []
    for i, item in enumerate(data.images):
        image = cv2.imread(str(item.path), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise DatasetError(f"{item.path}: not an image OpenCV can read")
        if image.ndim == 3 and image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        out.append(det.detect(Frame(image=image, t_mono=float(i), t_utc=float(i), seq=i + 1)))
        if progress:
            progress.step(i + 1)
    return list(det.class_names), out


def evaluate(settings: DetectorSettings, data: Dataset, quiet: bool = False) -> tuple[dict, list[ImageResult], list]:
    """(report, per-image results in evaluation class indices, per-class AP) of ``settings.model`` on ``data``."""
    model_names, dets = run_detector(settings, data, quiet)
    classes = [n for n in data.names if n in model_names]
    index = {n: i for i, n in enumerate(classes)}
    to_eval = np.asarray([index.get(n, -1) for n in model_names], np.int64)
    thresholds = np.asarray([settings.class_thresholds.get(n, settings.conf_threshold) for n in classes])
    results = []
    for item, d in zip(data.images, dets, strict=True):
        cls = to_eval[d.class_id] if len(d) else np.zeros(0, np.int64)
        keep = cls >= 0
        gt_cls = np.asarray([index.get(n, -1) for n in item.classes], np.int64)
        gt_keep = gt_cls >= 0
        results.append(
            ImageResult(
                d.xyxy[keep].astype(np.float64),
                d.score[keep].astype(np.float64),
                cls[keep],
                item.boxes[gt_keep],
                gt_cls[gt_keep],
            )
        )
    aps = average_precision(results, len(classes))
    per_class = {}
    tp_all = fp_all = gt_all = 0
    for c, name in enumerate(classes):
        tp, fp, n_gt = _at_threshold(results, c, float(thresholds[c]))
        tp_all, fp_all, gt_all = tp_all + tp, fp_all + fp, gt_all + n_gt
        ap = aps[c]
        per_class[name] = {
            "targets": n_gt,
            "tp": tp,
            "fp": fp,
            "precision": tp / (tp + fp) if tp + fp else None,
            "recall": tp / n_gt if n_gt else None,
            "ap50": None if ap is None else round(ap.ap50, 4),
            "ap50_95": None if ap is None else round(ap.ap, 4),
        }
    scored = [a for a in aps if a is not None]
    report = {
        "model": settings.model,
        "images": len(data.images),
        "classes": per_class,
        "all": {
            "targets": gt_all,
            "precision": tp_all / (tp_all + fp_all) if tp_all + fp_all else None,
            "recall": tp_all / gt_all if gt_all else None,
            "map50": round(float(np.mean([a.ap50 for a in scored])), 4) if scored else None,
            "map50_95": round(float(np.mean([a.ap for a in scored])), 4) if scored else None,
        },
        "conf_threshold": settings.conf_threshold,
        "left_out": {
            "label_classes_the_model_lacks": [n for n in data.names if n not in model_names],
            "model_classes_the_labels_lack": [n for n in model_names if n not in data.names],
            "notes": data.notes,
        },
    }
    return report, results, aps


def _at_threshold(results: list[ImageResult], c: int, threshold: float) -> tuple[int, int, int]:
    """(true positives, false positives, targets) of class ``c`` at IoU 0.5 for detections >= ``threshold``."""
    tp = fp = n_gt = 0
    for r in results:
        d = np.flatnonzero((r.det_classes == c) & (r.det_scores >= threshold))
        d = d[np.argsort(-r.det_scores[d], kind="mergesort")]
        g = r.gt_boxes[r.gt_classes == c]
        hit = match(iou(r.det_boxes[d], g), 0.5)
        tp, fp, n_gt = tp + int(hit.sum()), fp + int((~hit).sum()), n_gt + len(g)
    return tp, fp, n_gt


def confusion(results: list[ImageResult], classes: list[str], thresholds: list[float]) -> list[list[int]]:
    """(C + 1, C + 1) counts, rows truth, columns prediction, the last of each "none": detections at their class
    threshold match the ground-truth box of best IoU >= 0.5 whatever its class."""
    n = len(classes)
    table = [[0] * (n + 1) for _ in range(n + 1)]
    limit = np.asarray(thresholds)
    for r in results:
        d = np.flatnonzero(r.det_scores >= limit[r.det_classes]) if len(r.det_classes) else np.zeros(0, np.int64)
        d = d[np.argsort(-r.det_scores[d], kind="mergesort")]
        ious = iou(r.det_boxes[d], r.gt_boxes)
        taken = np.zeros(len(r.gt_boxes), bool)
        for k, di in enumerate(d):
            cand = np.where(taken, -1.0, ious[k]) if len(taken) else np.zeros(0)
            g = int(cand.argmax()) if len(cand) else -1
            if g >= 0 and cand[g] >= 0.5:
                taken[g] = True
                table[int(r.gt_classes[g])][int(r.det_classes[di])] += 1
            else:
                table[n][int(r.det_classes[di])] += 1
        for missed in np.flatnonzero(~taken):
            table[int(r.gt_classes[missed])][n] += 1
    return table


def write_files(out: Path, report: dict, classes: list[str], aps: list, table: list[list[int]]) -> None:
    """report.json, pr_curve.csv, pr_curve.png and confusion.csv under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    recall = np.linspace(0, 1, 101)
    with (out / "pr_curve.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["recall", *classes])
        for i, r in enumerate(recall):
            w.writerow([f"{r:.2f}", *("" if a is None else f"{a.curve50[i]:.4f}" for a in aps)])
    with (out / "confusion.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["truth \\ predicted", *classes, "none"])
        for name, row in zip([*classes, "none"], table, strict=True):
            w.writerow([name, *row])
    cv2.imwrite(str(out / "pr_curve.png"), _plot(classes, aps))


def _plot(classes: list[str], aps: list) -> np.ndarray:
    """A 640 x 480 precision-recall chart (IoU 0.5), one line a class, drawn with OpenCV (no plotting library)."""
    img = np.full((480, 640, 3), 255, np.uint8)
    x0, y0, x1, y1 = 60, 30, 620, 420

    def pt(r: float, p: float) -> tuple[int, int]:
        return int(x0 + r * (x1 - x0)), int(y1 - p * (y1 - y0))

    for v in np.linspace(0, 1, 6):
        cv2.line(img, pt(v, 0), pt(v, 1), (225, 225, 225), 1)
        cv2.line(img, pt(0, v), pt(1, v), (225, 225, 225), 1)
        cv2.putText(img, f"{v:.1f}", (pt(v, 0)[0] - 10, y1 + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
        cv2.putText(img, f"{v:.1f}", (x0 - 35, pt(0, v)[1] + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    cv2.rectangle(img, (x0, y0), (x1, y1), (0, 0, 0), 1)
    cv2.putText(img, "recall", (x1 - 50, y1 + 40), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    cv2.putText(img, "precision (IoU 0.5)", (x0, y0 - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    recall = np.linspace(0, 1, 101)
    for k, (name, ap) in enumerate(zip(classes, aps, strict=True)):
        if ap is None:
            continue
        colour = COLOURS[k % len(COLOURS)]
        pts = np.asarray([pt(r, p) for r, p in zip(recall, ap.curve50, strict=True)], np.int32)
        cv2.polylines(img, [pts], False, colour, 2)
        label = f"{name} AP50 {ap.ap50:.3f}"
        cv2.putText(img, label, (x1 - 200, y0 + 20 + 18 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1)
    return img


def format_report(report: dict) -> str:
    def f(v: object) -> str:
        return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = [f"{'class':16s} {'targets':>7s} {'P':>6s} {'R':>6s} {'AP50':>6s} {'AP50-95':>7s}"]
    rows = [*report["classes"].items(), ("all", {**report["all"], "ap50": report["all"]["map50"]})]
    for name, c in rows:
        ap = c.get("ap50_95", c.get("map50_95"))
        lines.append(
            f"{name:16s} {c['targets']:7d} {f(c['precision']):>6s} {f(c['recall']):>6s} {f(c['ap50']):>6s} {f(ap):>7s}"
        )
    for key, vals in report["left_out"].items():
        if vals:
            lines.append(f"left out ({key.replace('_', ' ')}): {', '.join(vals)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="edge model eval", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--images", type=Path, required=True, help="folder of images")
    p.add_argument("--labels", type=Path, required=True, help="folder of YOLO txt labels, or a COCO JSON file")
    p.add_argument("--model", help="ONNX file (default: the config's detector.model)")
    p.add_argument("--config", help="daemon config whose [detector] settings apply")
    p.add_argument("--names", help="class names of YOLO labels, comma-separated (default: classes.txt / data.yaml)")
    p.add_argument("--out", type=Path, help="folder for report.json, pr_curve.csv/.png and confusion.csv")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    ns = p.parse_args(argv)
    from edge.config import ConfigError, detector_settings
    from edge.detect.session import ModelError

    try:
        settings = detector_settings(ns.config, ns.model)
    except ConfigError as err:
        print(f"edge model eval: {err}", file=sys.stderr)
        return 2

    try:
        data = load(ns.images, ns.labels, ns.names.split(",") if ns.names else None)
        report, results, aps = evaluate(settings, data, quiet=ns.json)
    except (DatasetError, ModelError) as err:
        print(f"edge model eval: {err}", file=sys.stderr)
        return 2
    classes = list(report["classes"])
    if ns.out:
        limits = [settings.class_thresholds.get(n, settings.conf_threshold) for n in classes]
        write_files(ns.out, report, classes, aps, confusion(results, classes, limits))
    print(json.dumps(report) if ns.json else format_report(report))
    return 0
