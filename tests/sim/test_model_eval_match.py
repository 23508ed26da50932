"""Greedy per-class matching of ``edge model eval``, worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from edge.types import Detections
from sim.model_eval import ClassTally, counted_targets, format_report, match_frame, tally_frame

F = np.float32
GT = np.array([[0, 0, 10, 20], [100, 100, 110, 120]], F)  # two 10x20 targets


@pytest.mark.parametrize(
    ("preds", "scores", "counts", "want"),
    [
        # exact hits on both: 2 TP, IoU 1
        ([[0, 0, 10, 20], [100, 100, 110, 120]], [0.9, 0.8], [True, True], (2, 0, 0, [1.0, 1.0])),
        # shifted by 5 px in x: overlap 5x20 = 100, union 300 -> IoU 1/3 < 0.5: a FP and a miss
        ([[5, 0, 15, 20]], [0.9], [True, True], (0, 1, 2, [])),
        # shifted by 2 px in y: overlap 10x18 = 180, union 220 -> IoU 9/11 >= 0.5
        ([[0, 2, 10, 22]], [0.9], [True, True], (1, 0, 1, [180 / 220])),
        # duplicate of the same target: the higher score wins, the other is a FP
        ([[0, 0, 10, 20], [0, 1, 10, 21]], [0.5, 0.9], [True, False], (1, 1, 0, [19 * 10 / 210])),
        # a hit on a don't-care target is neither TP nor FP; the missed don't-care is no miss
        ([[100, 100, 110, 120]], [0.9], [True, False], (0, 0, 1, [])),
        # nothing predicted: every counted target is a miss
        (np.empty((0, 4)), [], [True, True], (0, 0, 2, [])),
    ],
)
def test_match_frame(preds: list, scores: list, counts: list, want: tuple) -> None:
    t = match_frame(np.asarray(preds, F).reshape(-1, 4), np.asarray(scores, F), GT, np.asarray(counts))
    assert (t.tp, t.fp, t.fn) == want[:3]
    assert t.ious == pytest.approx(want[3], abs=1e-6)


def test_match_frame_without_ground_truth_counts_false_positives() -> None:
    t = match_frame(np.array([[0, 0, 5, 5]], F), np.array([0.5], F), np.empty((0, 4), F), np.empty(0, bool))
    assert (t.tp, t.fp, t.fn) == (0, 1, 0)


def test_unmatched_detections_under_the_size_limit_are_not_judged() -> None:
    # a 12 px loose box beside the first target (IoU 0), a 16 px one elsewhere, an exact 20 px hit
    preds = np.array([[30, 0, 40, 12], [60, 0, 70, 16], [0, 0, 10, 20]], F)
    scores = np.array([0.9, 0.8, 0.7], F)
    t = match_frame(preds, scores, GT, np.array([True, False]), min_height=16.0)
    assert (t.tp, t.fp, t.fn, t.small) == (1, 1, 0, 1)
    strict = match_frame(preds, scores, GT, np.array([True, False]))
    assert (strict.tp, strict.fp, strict.fn, strict.small) == (1, 2, 0, 0)
    # a small box that does hit a counted target still counts as a hit
    hit = match_frame(np.array([[100, 100, 110, 112]], F), np.array([0.9], F), GT[1:], np.array([True]), 0.5, 16.0)
    assert (hit.tp, hit.fp, hit.small) == (1, 0, 0)
    alone = match_frame(preds[:1], scores[:1], np.empty((0, 4), F), np.empty(0, bool), min_height=16.0)
    assert (alone.fp, alone.small) == (0, 1)


def test_tally_frame_matches_per_class() -> None:
    gt = np.array([[0, 0, 10, 20], [50, 50, 60, 60], [200, 200, 260, 230]], F)
    gt_cls = np.array([0, 0, 1])
    counted = np.array([True, False, True])
    # right box, wrong class for the vehicle; a hit on the don't-care person
    dets = Detections(gt.copy(), np.full(3, 0.9, F), np.array([0, 0, 2]))
    person, vehicle, boat = tally_frame(dets, gt, gt_cls, counted, 3)
    assert (person.tp, person.fp, person.fn) == (1, 0, 0)
    assert (vehicle.tp, vehicle.fp, vehicle.fn) == (0, 0, 1)
    assert (boat.tp, boat.fp, boat.fn) == (0, 1, 0)
    person_all = tally_frame(dets, gt, gt_cls, np.ones(3, bool), 3)[0]
    assert (person_all.tp, person_all.fp, person_all.fn) == (2, 0, 0)


@pytest.mark.parametrize(
    ("height", "visible", "occluded", "want"),
    [
        (20, 1.0, 0.0, True),
        (15.9, 1.0, 0.0, False),
        (16, 0.5, 0.5, True),
        (30, 0.49, 0.0, False),
        (30, 1.0, 0.51, False),
    ],
)
def test_counted_targets(height: float, visible: float, occluded: float, want: bool) -> None:
    box = np.array([[5, 10, 15, 10 + height]])
    assert counted_targets(box, np.array([visible]), np.array([occluded]), 16.0).tolist() == [want]


def test_summary_and_report() -> None:
    t = ClassTally(tp=9, fp=1, fn=3, ious=[0.8, 0.6])
    s = t.summary()
    assert s == {
        "targets": 12,
        "tp": 9,
        "fp": 1,
        "fn": 3,
        "small_unmatched": 0,
        "precision": 0.9,
        "recall": 0.75,
        "mean_iou": pytest.approx(0.7),
    }
    empty = ClassTally().summary()
    assert empty["precision"] is None and empty["recall"] is None and empty["mean_iou"] is None
    report = {
        "model": "m.onnx",
        "scenario": "s.toml",
        "mode": "day",
        "frames": 3,
        "seed": 1,
        "min_height_px": 16.0,
        "conf_threshold": 0.35,
        "classes": {"person": s, "boat": empty},
        "all": s,
    }
    text = format_report(report)
    assert "person" in text and "0.900" in text and "0.750" in text and "boat" in text
