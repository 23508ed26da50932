"""``edge model eval --images``: its mAP against pycocotools on the same detections, on a simulator-exported set and
on real photos that ship in registry packages (hand-labelled in tests/detect/data/real_photos), and the AP maths
on hand-worked cases."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edge.detect.cocomap import ImageResult, average_precision
from edge.detect.datasets import DatasetError, load
from edge.detect.evaluate import evaluate
from edge.detect.settings import DetectorSettings

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "edge-default.onnx"
PHOTOS = Path(__file__).parent / "data" / "real_photos"  # the hand-drawn labels of the real_photos fixture


def pycocotools_map(results: list[ImageResult], n_classes: int) -> tuple[float, float, list[float]]:
    """(mAP@0.5:0.95, mAP@0.5, per-class AP@0.5 or -1) of ``results`` by pycocotools' COCOeval."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt: dict[str, list] = {"images": [], "annotations": [], "categories": []}
    gt["categories"] = [{"id": c + 1, "name": str(c)} for c in range(n_classes)]
    dets = []
    for i, r in enumerate(results, 1):
        gt["images"].append({"id": i, "width": 10000, "height": 10000})
        for box, c in zip(r.gt_boxes, r.gt_classes, strict=True):
            w, h = float(box[2] - box[0]), float(box[3] - box[1])
            gt["annotations"].append(
                {
                    "id": len(gt["annotations"]) + 1,
                    "image_id": i,
                    "category_id": int(c) + 1,
                    "bbox": [float(box[0]), float(box[1]), w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
        for box, s, c in zip(r.det_boxes, r.det_scores, r.det_classes, strict=True):
            bbox = [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])]
            dets.append({"image_id": i, "category_id": int(c) + 1, "bbox": bbox, "score": float(s)})
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    prec = ev.eval["precision"][0, :, :, 0, 2]  # IoU 0.5, all recall points, classes, area all, 100 dets
    per_class = [float(prec[:, k].mean()) if (prec[:, k] > -1).any() else -1.0 for k in range(n_classes)]
    return float(ev.stats[0]), float(ev.stats[1]), per_class


def _check_against_pycocotools(images: Path, labels: Path, settings: DetectorSettings) -> dict:
    report, results, aps = evaluate(settings, load(images, labels), quiet=True)
    ref_map, ref_map50, ref_class50 = pycocotools_map(results, len(aps))
    assert report["all"]["map50_95"] == pytest.approx(ref_map, abs=0.005)
    assert report["all"]["map50"] == pytest.approx(ref_map50, abs=0.005)
    for ap, ref in zip(aps, ref_class50, strict=True):
        assert (ap is None and ref == -1.0) or (ap is not None and ap.ap50 == pytest.approx(ref, abs=0.005))
    return report


@pytest.fixture(scope="module")
def sim_set(sim_export: Callable[[int, int], Path]) -> Path:
    return sim_export(12, 9)


def test_simulator_set_yolo_and_coco_agree_with_pycocotools(sim_set: Path) -> None:
    settings = DetectorSettings(model=str(MODEL), providers=["cpu"])
    yolo = _check_against_pycocotools(sim_set / "images", sim_set / "labels", settings)
    coco = _check_against_pycocotools(sim_set / "images", sim_set / "annotations.json", settings)
    assert yolo["all"] == pytest.approx(coco["all"], abs=1e-3)  # the same truth in two formats
    assert yolo["all"]["map50"] > 0.7 and yolo["all"]["targets"] > 30  # the default model knows its simulator


def test_real_photos_agree_with_pycocotools(real_photos: Path, make_const: Callable[..., Path]) -> None:
    images = real_photos
    report = _check_against_pycocotools(images, PHOTOS / "labels", DetectorSettings(model=str(MODEL)))
    assert report["images"] == 5 and report["all"]["targets"] == 4  # the demo model has never seen a photo: AP ~0
    # so a model with a fixed spread of boxes (end2end [1, K, 6] in 640 x 640 input pixels): on photos of different
    # sizes they land at different places, some on the people and the motorcycle at IoUs across 0.5..0.95
    rng = np.random.default_rng(3)
    k = 400
    centre = rng.uniform(100, 540, (k, 2))
    size = rng.uniform(150, 640, (k, 2))
    out = np.concatenate(
        [centre - size / 2, centre + size / 2, rng.uniform(0.01, 1, (k, 1)), rng.integers(0, 2, (k, 1))], 1
    )
    model = make_const({"output0": out[None].astype(np.float32)})
    spread = DetectorSettings(model=str(model), labels=["person", "vehicle"], iou_threshold=1.0)
    report = _check_against_pycocotools(images, PHOTOS / "labels", spread)
    assert 0.05 < report["all"]["map50"] < 0.95 and report["all"]["map50_95"] > 0.01


def test_cli_writes_report_curve_and_confusion(sim_set: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge",
            "model",
            "eval",
            "--images",
            str(sim_set / "images"),
            "--labels",
            str(sim_set / "labels"),
            "--model",
            str(MODEL),
            "--out",
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    report = json.loads(proc.stdout)
    assert report == json.loads((out / "report.json").read_text())
    assert (out / "pr_curve.png").stat().st_size > 5000
    rows = (out / "confusion.csv").read_text().splitlines()
    assert rows[0].split(",")[-1] == "none" and len(rows) == 1 + len(report["classes"]) + 1
    tp_person = int(rows[1].split(",")[1])
    assert tp_person == report["classes"]["person"]["tp"]  # the diagonal holds the true positives


def test_ap_hand_worked() -> None:
    # one image, two people; detections 0.9 (hit), 0.8 (miss), 0.7 (hit): precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1
    # -> monotone from the right: 1 up to recall 0.5, 2/3 up to 1 -> 51 points at 1, 50 at 2/3: AP = (51 + 100/3) / 101
    gt = np.asarray([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    det = np.asarray([[0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 31]], float)
    r = ImageResult(det, np.asarray([0.9, 0.8, 0.7]), np.zeros(3, np.int64), gt, np.zeros(2, np.int64))
    (ap,) = average_precision([r], 1)
    assert ap is not None and ap.ap50 == pytest.approx((51 + 100 / 3) / 101)
    # IoU of the third is 100/110 = 0.909: a hit up to threshold 0.9, a miss at 0.95 -> AP 1 * 0.5 recall there
    assert ap.ap == pytest.approx((9 * (51 + 100 / 3) / 101 + 51 / 101) / 10)


def test_class_without_truth_is_left_out_and_one_without_detections_scores_zero() -> None:
    r = ImageResult(
        np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64), np.asarray([[0, 0, 5, 5.0]]), np.zeros(1, np.int64)
    )
    aps = average_precision([r], 2)
    assert aps[0] is not None and aps[0].ap50 == 0.0 and aps[1] is None


def test_yolo_names_from_data_yaml_and_bad_label_lines(tmp_path: Path, real_photos: Path) -> None:
    images = real_photos
    labels = tmp_path / "labels"
    shutil.copytree(PHOTOS / "labels", labels)
    (tmp_path / "data.yaml").write_text("path: .\nnames:\n  0: person\n  1: vehicle\n")
    ds = load(images, labels)
    assert ds.names == ["person", "vehicle"] and sum(len(i.classes) for i in ds.images) == 4
    (labels / "coffee.txt").write_text("7 0.5 0.5 0.1 0.1\n")
    with pytest.raises(DatasetError, match=r"coffee\.txt:1: class 7"):
        load(images, labels)
    (labels / "coffee.txt").write_text("0 0.5 zero\n")
    with pytest.raises(DatasetError, match=r"coffee\.txt:1: expected"):
        load(images, labels)
