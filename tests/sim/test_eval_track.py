"""sim.eval_track: pairing tracks with the truth, and the per-camera scores, on frames made by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edge.track.settings import TrackerSettings
from edge.track.tracker import ByteTracker
from edge.types import Detections
from sim.eval_track import FrameRecord, main, pair_frame, score_camera

A = (100.0, 100.0, 110.0, 130.0)  # a person 10 x 30 px
B = (300.0, 100.0, 310.0, 130.0)


def record(t: float, boxes: list[tuple[float, ...]], truth: dict[int, tuple[float, ...]]) -> FrameRecord:
    a = np.asarray(boxes, np.float32).reshape(-1, 4)
    dets = Detections(a, np.full(len(a), 0.9, np.float32), np.zeros(len(a), np.int64))
    ids = np.asarray(list(truth), np.int64)
    gt = np.asarray(list(truth.values()), np.float64).reshape(-1, 4)
    return FrameRecord(t, 640, dets, gt, ids, np.ones(len(ids), bool))


def test_pair_frame_nearest_first_then_duplicates_and_false() -> None:
    gt = np.asarray([A, B])
    boxes = np.asarray([[101, 100, 111, 130], [103, 104, 113, 134], [500, 400, 510, 430], [299, 99, 309, 129]])
    which, dup = pair_frame(boxes, gt, 640, 0.03)
    assert which.tolist() == [0, -1, -1, 1]
    assert dup.tolist() == [False, True, False, False]  # the second box on A is a duplicate; the far one is false
    which, _ = pair_frame(np.asarray([[130, 100, 140, 130]]), gt, 640, 0.03)  # 30 px off > 0.03 x 640
    assert which.tolist() == [-1]


def test_score_counts_fragments_switches_and_false_tracks() -> None:
    # target 1 is tracked, lost for five frames (its track ends), found again: two tracks, one switch in view;
    # target 2 leaves the view and comes back: a new track then is no fragment; a false box lives 4 frames
    frames = []
    for i in range(30):
        boxes = [] if 10 <= i < 15 else [A]
        truth: dict[int, tuple[float, ...]] = {1: A}
        if not 12 <= i < 20:
            boxes.append(B)
            truth[2] = B
        if 20 <= i < 24:
            boxes.append((500.0, 400.0, 510.0, 430.0))
        frames.append(record(0.1 * i, boxes, truth))
    s = TrackerSettings(min_hits=2, lost_after_s=0.3, update_interval_s=0)
    got = score_camera("cam", frames, ByteTracker(s, report_seen=True))
    assert got.targets == 2 and got.id_switches == 1
    assert got.tracks_per_target == 4 / 3  # target 1: two tracks in its one stretch in view; target 2: one in each
    assert got.false_tracks == 1 and got.duplicate_frames == 0
    assert got.tracks == 5 and got.frames == 30 and got.started == 5
    assert 0.7 < got.coverage < 1.0


def test_command_line_tracks_saved_frames(tmp_path: Path, capsys: object) -> None:
    frames = [record(1.0 * i, [(100.0 + 24 * i, 200.0, 108.0 + 24 * i, 220.0)], {7: (100.0 + 24 * i, 200.0,
              108.0 + 24 * i, 220.0)}) for i in range(10)]  # fmt: skip
    path = tmp_path / "dets.json"
    path.write_text(json.dumps({"ir": [f.to_json() for f in frames]}))
    assert main(["--load", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)  # type: ignore[attr-defined]
    assert out["camera"] == "ir" and out["tracks"] == 1 and out["id_switches"] == 0
    assert main(["--load", str(path), "--json", "--set", "match_distance=0"]) == 0
    out = json.loads(capsys.readouterr().out)  # type: ignore[attr-defined]
    assert out["tracks"] == 0  # by IoU alone, boxes 24 px apart at 1 fps never make a track


def test_a_track_that_jumps_to_a_neighbour_is_mixed() -> None:
    near = (106.0, 100.0, 116.0, 130.0)  # a second person 6 px to the right of A: the box still overlaps A's
    frames = [record(0.1 * i, [A if i < 5 else near], {1: A, 2: near}) for i in range(10)]
    got = score_camera("cam", frames, ByteTracker(TrackerSettings(min_hits=2), report_seen=True))
    assert got.tracks == 1 and got.mixed_tracks == 1 and got.targets == 2
