"""ByteTracker: confirmation, stable ids, second-stage low-confidence matches, UPDATE only on change, LOST."""

from __future__ import annotations

import numpy as np
import pytest

from edge.track import kalman
from edge.track.settings import TrackerSettings
from edge.track.tracker import ByteTracker, ego_shift, greedy_match
from edge.types import Detections, EventKind

NEW, UPDATE, LOST = EventKind.NEW, EventKind.UPDATE, EventKind.LOST


def dets(*boxes: tuple[float, float, float, float, float, int]) -> Detections:
    if not boxes:
        return Detections.empty()
    a = np.asarray(boxes, np.float32)
    return Detections(a[:, :4], a[:, 4], a[:, 5].astype(np.int64))


def events(ev: object) -> list[tuple[int, int]]:
    """(track id, kind) pairs of a TrackEvents."""
    return [(int(t), int(k)) for t, k in zip(ev.dets.track_id, ev.kinds, strict=True)]  # type: ignore[attr-defined]


def test_greedy_match_best_pairs_first() -> None:
    iou = np.asarray([[0.9, 0.8], [0.85, 0.1], [0.0, 0.0]])
    rows, cols = greedy_match(iou, 0.3)
    assert sorted(zip(rows.tolist(), cols.tolist(), strict=True)) == [(0, 0)]  # row 1 col 1 is below 0.3
    rows, cols = greedy_match(iou, 0.05)
    assert sorted(zip(rows.tolist(), cols.tolist(), strict=True)) == [(0, 0), (1, 1)]


def test_confirmation_then_silence_then_lost() -> None:
    tr = ByteTracker(TrackerSettings(min_hits=3, lost_after_s=0.5, update_interval_s=0))
    box = (100, 100, 140, 180, 0.9, 1)
    out = [events(tr.update(dets(box), 0.1 * i)) for i in range(6)]
    assert out[:2] == [[], []]
    assert out[2] == [(1, NEW)]  # third hit confirms
    assert out[3:] == [[], [], []]  # nothing changed: nothing to say
    assert events(tr.update(dets(), 0.6)) == []  # unseen 0.1 s
    ev = tr.update(dets(), 1.01)  # unseen 0.51 s > lost_after_s
    assert events(ev) == [(1, LOST)]
    np.testing.assert_allclose(ev.dets.xyxy[0], box[:4])
    assert ev.dets.class_id[0] == 1


def test_flicker_never_reported() -> None:
    tr = ByteTracker(TrackerSettings(min_hits=3, tentative_max_age_s=0.3))
    assert events(tr.update(dets((10, 10, 30, 30, 0.9, 0)), 0.0)) == []
    for i in range(1, 10):
        assert events(tr.update(dets(), 0.1 * i)) == []
    assert tr.health()["tracks_tentative"] == 0


def test_update_on_move_and_interval() -> None:
    tr = ByteTracker(TrackerSettings(min_hits=1, update_move=0.25, update_interval_s=1.0, lost_after_s=5))
    assert events(tr.update(dets((100, 100, 140, 140, 0.9, 0)), 0.0)) == [(1, NEW)]
    assert events(tr.update(dets((102, 100, 142, 140, 0.9, 0)), 0.1)) == []  # moved 2 px < 10 px
    got = []
    for i in range(2, 8):  # moves 8 px per frame: an UPDATE once the filtered centre is 10 px from the report
        x = 100 + 8 * i
        got += events(tr.update(dets((x, 100, x + 40, 140, 0.9, 0)), 0.1 * i))
    assert (1, UPDATE) in got and len(got) < 6


def test_update_interval_on_a_still_object() -> None:
    tr = ByteTracker(TrackerSettings(min_hits=1, update_interval_s=1.0))
    got = [events(tr.update(dets((100, 100, 140, 140, 0.9, 0)), 0.1 * i)) for i in range(25)]
    assert [i for i, e in enumerate(got) if e] == [0, 10, 20]
    assert got[10] == [(1, UPDATE)]


def test_low_confidence_detection_keeps_the_track() -> None:
    s = TrackerSettings(min_hits=1, high_threshold=0.5, low_threshold=0.1, new_track_threshold=0.6, lost_after_s=0.25)
    tr = ByteTracker(s)
    tr.update(dets((100, 100, 140, 180, 0.9, 0)), 0.0)
    for i in range(1, 6):  # occluded: only a weak detection at the same place
        assert events(tr.update(dets((101, 100, 141, 180, 0.2, 0)), 0.1 * i)) == []
    assert tr.health()["tracks_confirmed"] == 1
    # a weak detection never starts a track
    assert events(tr.update(dets((101, 100, 141, 180, 0.2, 0), (400, 400, 440, 480, 0.3, 0)), 0.6)) == []
    assert len(tr._t) == 1


def test_two_crossing_objects_keep_their_ids() -> None:
    tr = ByteTracker(TrackerSettings(min_hits=1, update_interval_s=0, update_move=10.0))
    ids: dict[int, list[int]] = {0: [], 1: []}
    for i in range(30):
        t = i / 10
        a = 100 + 10 * i  # left to right
        b = 390 - 10 * i  # right to left, a little lower
        ev = tr.update(dets((a, 100, a + 40, 180, 0.9, 0), (b, 120, b + 40, 200, 0.9, 1)), t)
        for tid, cls in zip(ev.dets.track_id, ev.dets.class_id, strict=True):
            ids[int(cls)].append(int(tid))
    assert ids == {0: [1], 1: [2]}  # NEW once each, no id switch (a switch would start new ids)
    assert tr.health()["tracks_confirmed"] == 2


def test_class_by_vote_and_kinds_are_int8() -> None:
    tr = ByteTracker(TrackerSettings(min_hits=2, update_interval_s=0))
    tr.update(dets((0, 0, 50, 50, 0.9, 2)), 0.0)
    ev = tr.update(dets((0, 0, 50, 50, 0.6, 1)), 0.1)
    assert ev.kinds.dtype == np.int8 and events(ev) == [(1, NEW)]
    assert ev.dets.class_id[0] == 2  # 0.9 of votes for class 2 beat 0.6 for class 1


@pytest.mark.parametrize("dt", [0.05, 0.5])
def test_kalman_learns_velocity(dt: float) -> None:
    mean, cov = kalman.initiate(np.asarray([[0, 0, 10, 20]], np.float64))
    for i in range(1, 20):
        mean, cov = kalman.predict(mean, cov, np.asarray([dt]))
        x = 5.0 * i * dt * 10  # 50 px/s
        mean, cov = kalman.update(mean, cov, np.asarray([[x, 0, x + 10, 20]], np.float64))
    assert mean[0, 4] == pytest.approx(50.0, rel=0.1)


def test_kalman_predict_matches_the_matrix_form() -> None:
    rng = np.random.default_rng(3)
    mean = rng.normal(size=(5, 8)) + np.asarray([100, 100, 30, 60, 0, 0, 0, 0])
    a = rng.normal(size=(5, 8, 8))
    cov = a @ np.transpose(a, (0, 2, 1))
    dt = rng.uniform(0.01, 0.5, 5)
    m2, c2 = kalman.predict(mean, cov, dt)
    for i in range(5):
        f = np.eye(8)
        f[:4, 4:] = np.eye(4) * dt[i]
        np.testing.assert_allclose(m2[i], f @ mean[i])
        q = np.diag(c2[i] - f @ cov[i] @ f.T)
        np.testing.assert_allclose(c2[i] - f @ cov[i] @ f.T, np.diag(q), atol=1e-9)  # only process noise added
        assert (q > 0).all()


def test_kalman_update_matches_the_matrix_form() -> None:
    rng = np.random.default_rng(4)
    mean = rng.normal(size=(4, 8)) + np.asarray([100, 100, 30, 60, 0, 0, 0, 0])
    a = rng.normal(size=(4, 8, 8))
    cov = a @ np.transpose(a, (0, 2, 1)) + np.eye(8)
    boxes = rng.uniform(0, 200, (4, 2))
    boxes = np.concatenate([boxes, boxes + rng.uniform(5, 50, (4, 2))], 1)
    m2, c2 = kalman.update(mean, cov, boxes)
    h = np.hstack([np.eye(4), np.zeros((4, 4))])
    for i in range(4):
        z = kalman.xyxy_to_cxcywh(boxes[i : i + 1])[0]
        s = h @ cov[i] @ h.T + np.eye(4) * (kalman.STD_POS * mean[i, 3]) ** 2
        k = cov[i] @ h.T @ np.linalg.inv(s)
        np.testing.assert_allclose(m2[i], mean[i] + k @ (z - h @ mean[i]), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(c2[i], (np.eye(8) - k @ h) @ cov[i], rtol=1e-9, atol=1e-9)


def test_report_seen_gives_the_confirmed_tracks_matched_without_an_event() -> None:
    box, far = (100, 100, 140, 140, 0.9, 0), (300, 300, 340, 340, 0.9, 0)
    for report_seen in (False, True):
        tr = ByteTracker(TrackerSettings(min_hits=2, update_interval_s=0), report_seen=report_seen)
        tr.update(dets(box, far), 0.0)
        first = tr.update(dets(box, far), 0.1)
        assert events(first) == [(1, NEW), (2, NEW)] and len(first.seen) == 0  # an event: not in seen
        quiet = tr.update(dets(box), 0.2)  # 1 seen, nothing to say; 2 unseen
        assert events(quiet) == []
        assert quiet.seen.track_id.tolist() == ([1] if report_seen else [])
        if report_seen:
            np.testing.assert_allclose(quiet.seen.xyxy[0], box[:4], atol=1.0)


def test_a_second_box_on_a_tracked_object_starts_no_track() -> None:
    tr = ByteTracker(TrackerSettings(min_hits=2, update_interval_s=0))
    for i in range(3):
        tr.update(dets((100, 100, 120, 150, 0.9, 0)), 0.1 * i)
    seen: set[int] = set()
    for i in range(3, 10):  # the detector now also reports a shifted box on it (NMS kept both at IoU 0.45)
        ev = tr.update(dets((100, 100, 120, 150, 0.9, 0), (106, 104, 126, 154, 0.8, 0)), 0.1 * i)
        seen |= set(ev.dets.track_id.tolist())
    assert seen <= {1} and len(tr._t) == 1 and tr.health()["tracks_started"] == 1


def test_one_object_at_one_frame_per_second_keeps_one_id() -> None:
    # a person 8 x 20 px moving 24 px per second (the drone's orbit turns the scene): boxes one second apart never
    # overlap, and one frame of the five has no detection
    tr = ByteTracker(TrackerSettings(update_interval_s=0))
    ids: set[int] = set()
    for i in range(12):
        x = 100 + 24 * i
        ev = tr.update(dets((x, 200, x + 8, 220, 0.8, 0)) if i % 5 != 4 else dets(), float(i))
        ids |= set(ev.dets.track_id.tolist()) | set(ev.seen.track_id.tolist())
        if i == 3:
            assert tr.health()["tracks_confirmed"] == 1
    assert ids == {1} and tr.health()["tracks_confirmed"] == 1


def test_a_low_confidence_box_keeps_a_track_at_a_low_frame_rate() -> None:
    tr = ByteTracker(TrackerSettings(update_interval_s=0))
    for i in range(4):
        tr.update(dets((100 + 10 * i, 200, 108 + 10 * i, 220, 0.8, 0)), float(i))
    for i in range(4, 8):  # weak detections only, 10 px a second on: no IoU with the 8 px wide prediction
        tr.update(dets((100 + 10 * i, 200, 108 + 10 * i, 220, 0.3, 0)), float(i))
    assert tr.health()["tracks_confirmed"] == 1 and tr.events["lost"] == 0


def test_distance_matching_keeps_to_the_class() -> None:
    tr = ByteTracker(TrackerSettings(min_hits=1, update_interval_s=0))
    tr.update(dets((100, 200, 108, 220, 0.9, 0)), 0.0)
    ev = tr.update(dets((112, 200, 120, 220, 0.9, 1)), 1.0)  # near, but a vehicle: a new track
    assert events(ev) == [(2, NEW)]


def test_a_pan_moves_every_track_alike_and_keeps_their_ids() -> None:
    boxes = [(100, 100, 120, 140), (300, 120, 320, 160), (200, 300, 220, 340)]
    tr = ByteTracker(TrackerSettings(min_hits=2, update_interval_s=0, update_move=10.0), report_seen=True)
    for i in range(5):
        tr.update(dets(*[(*b, 0.9, 0) for b in boxes]), 0.1 * i)
    shift = 60  # the camera panned 1.5 box heights in one frame (0.1 s): every box moved alike
    ev = tr.update(dets(*[(b[0] + shift, b[1], b[2] + shift, b[3], 0.9, 0) for b in boxes]), 0.5)
    assert events(ev) == [] and sorted(ev.seen.track_id.tolist()) == [1, 2, 3]
    assert len(tr._t) == 3


def test_new_tracks_do_not_vote_a_still_camera_into_a_pan() -> None:
    """mss-ridge-pair's day camera, 46 s: six still people tracked, and five new tracks (false boxes, or people in
    a row 15-20 px apart) that each find a box 14 px to their right in the next frame. Counted with the confirmed
    ones they outvoted them: every prediction moved 14 px, the still tracks missed their boxes and one took its
    neighbour's. Where two tracks are confirmed only they vote: no shift, every still track keeps its box."""
    still = [(100 + 40 * i, 200, 105 + 40 * i, 215, 0.9, 0) for i in range(6)]
    tr = ByteTracker(TrackerSettings(min_hits=3, update_interval_s=0, update_move=10.0), report_seen=True)
    for i in range(4):
        tr.update(dets(*still), 0.3 * i)
    new = [(400 + 60 * i, 300, 405 + 60 * i, 315, 0.9, 0) for i in range(5)]
    tr.update(dets(*still, *new), 1.2)
    moved = [(b[0] + 14, b[1], b[2] + 14, b[3], 0.9, 0) for b in new]
    ev = tr.update(dets(*still, *moved), 1.5)
    assert sorted(ev.seen.track_id.tolist()) == [1, 2, 3, 4, 5, 6]


def test_ego_shift_is_the_offset_most_tracks_agree_on() -> None:
    tracks = kalman.xyxy_to_cxcywh(np.asarray([[100, 100, 120, 140], [300, 120, 320, 160], [200, 300, 220, 340]]))
    moved = tracks.copy()
    moved[:, 0] += 60
    clutter = np.asarray([[500.0, 500.0, 10.0, 20.0]])
    np.testing.assert_allclose(ego_shift(tracks, np.vstack([moved, clutter])), [60, 0])
    np.testing.assert_allclose(ego_shift(tracks[:1], moved[:1]), [0, 0])  # one track alone: no shift
    np.testing.assert_allclose(ego_shift(tracks, tracks), [0, 0])  # all still: no shift


def test_a_tentative_track_beside_the_one_that_took_its_box_is_dropped() -> None:
    # a far person 3 x 10 px walking 5 px a second at 1 fps: a weak box (0.4) 3 px off the prediction overlaps
    # nothing, so it cannot extend the tentative track and starts a second one; when the next box goes to the first,
    # the second must go, or the two share the object's boxes from then on
    tr = ByteTracker(TrackerSettings(update_interval_s=0), report_seen=True)
    xs = [400, 405, 413, 415, 420, 425, 430]
    ids: set[int] = set()
    for i, x in enumerate(xs):
        ev = tr.update(dets((x, 130, x + 3, 140, 0.4 if i == 2 else 0.9, 0)), float(i))
        ids |= set(ev.dets.track_id.tolist()) | set(ev.seen.track_id.tolist())
        assert len(tr._t) == (2 if i == 2 else 1)
    assert ids == {1}


def test_centre_distance_in_sigmas_of_the_prediction() -> None:
    mean = np.zeros((1, 8))
    mean[0, :4] = [100, 100, 10, 20]  # h 20 px: measurement sigma 1 px
    cov = np.zeros((1, 8, 8))
    cov[0, 0, 0], cov[0, 1, 1] = 8.0, 3.0  # + 1 px^2: 9 and 4 px^2, sigmas 3 and 2 px
    d2 = kalman.centre_distance2(mean, cov, np.asarray([[101, 90, 111, 110], [95, 96, 105, 116]], np.float64))
    np.testing.assert_allclose(d2, [[(6 / 3) ** 2, (6 / 2) ** 2]])  # centres 6 px off in x, then 6 px in y


def test_a_track_whose_object_is_missed_does_not_hop_onto_its_neighbours_box() -> None:
    """Two people side by side: A is missed, B is seen with a second box beside it (nearer B than A). A coasts;
    it takes no box that is a better match for B."""
    tr = ByteTracker(TrackerSettings(min_hits=2, update_interval_s=0, lost_after_s=10), report_seen=True)
    a, b = (90, 100, 110, 140, 0.9, 0), (150, 100, 170, 140, 0.9, 0)
    for i in range(3):
        tr.update(dets(a, b), float(i))
    ids = {int(t) for t in tr._t.ids}
    assert len(ids) == 2
    id_a = int(tr._t.ids[np.argmin(tr._t.box[:, 0])])
    ev = tr.update(dets(b, (130, 100, 150, 140, 0.9, 0)), 3.0)  # A missed; a box 20 px from B, 40 px from A
    moved = [int(t) for t, box in zip(ev.dets.track_id, ev.dets.xyxy, strict=True) if box[0] > 115]
    moved += [int(t) for t, box in zip(ev.seen.track_id, ev.seen.xyxy, strict=True) if box[0] > 115]
    assert id_a not in moved
    assert id_a in {int(t) for t in tr._t.ids}  # still alive, coasting at its own place


@pytest.mark.parametrize(("velocity_noise", "hops"), [(0.5, True), (0.25, False)])
def test_a_slower_changing_velocity_keeps_a_missed_walker_off_a_stranger_20_px_away(
    velocity_noise: float, hops: bool
) -> None:
    """A person 5 x 15 px walking 3 px/s, tracked at 1 fps, is missed in one frame while another 20 px beside it is
    found (the mast's patrol). The drone's default (0.5 box heights/s per sqrt(s)) lets the coasting track take the
    stranger's box; a still mast's 0.25 keeps it where it was going."""
    tr = ByteTracker(TrackerSettings(velocity_noise=velocity_noise))
    x = 100.0
    for i in range(6):
        tr.update(dets((x, 100, x + 5, 115, 0.8, 0)), float(i))
        x += 3
    (walker,) = (int(t) for t in tr._t.ids)
    tr.update(dets((x + 20, 100, x + 25, 115, 0.8, 0)), 6.0)
    took = [abs(float(b[0]) - (x + 20)) < 1 for t, b in zip(tr._t.ids, tr._t.box, strict=True) if int(t) == walker]
    assert took == [hops]


def test_a_missed_walker_leaves_the_low_box_of_the_one_behind_to_its_new_track() -> None:
    """The mast's patrol at dusk (live, day camera at 1.8 fps): the walker in front (8 x 23 px, 3 px a frame) is
    found at 0.7, the one 15 px behind only at 0.4, under high_threshold, so its tracks stay tentative (a low box
    matches only by IoU). The frame the front walker is missed, its confirmed track must not take the box behind."""
    tr = ByteTracker(TrackerSettings(velocity_noise=0.25))
    x, dt = 560.0, 0.55
    for i in range(6):
        behind = [(x - 15, 465, x - 7, 488, 0.4, 0)] if i >= 4 else []
        tr.update(dets((x, 465, x + 8, 488, 0.7, 0), *behind), i * dt)
        x += 3
    (front,) = (int(t) for t, c in zip(tr._t.ids, tr._t.confirmed, strict=True) if c)
    tr.update(dets((x - 15, 465, x - 7, 488, 0.4, 0)), 6 * dt)  # the front walker missed
    took = [float(b[0]) for t, b in zip(tr._t.ids, tr._t.box, strict=True) if int(t) == front]
    assert took == [x - 3], "the front walker's track coasts: its box stays the last one it was matched with"
    tr.update(dets((x + 3, 465, x + 11, 488, 0.7, 0), (x - 12, 465, x - 4, 488, 0.4, 0)), 7 * dt)
    assert [float(b[0]) for t, b in zip(tr._t.ids, tr._t.box, strict=True) if int(t) == front] == [x + 3]
