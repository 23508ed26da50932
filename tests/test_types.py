"""The values passed between stages validate themselves."""

from __future__ import annotations

import numpy as np
import pytest

from edge.types import Detections, EventKind, FrameEvents, GeoEvent, Pose, Priority, TrackEvents


def test_detections_fill_track_ids_and_index() -> None:
    d = Detections(np.array([[0, 0, 10, 10], [5, 5, 20, 30]]), np.array([0.9, 0.4]), np.array([0, 2]))
    assert d.xyxy.dtype == np.float32 and d.class_id.dtype == np.int64
    assert d.track_id.tolist() == [-1, -1]
    sub = d[d.score > 0.5]
    assert len(sub) == 1 and sub.class_id.tolist() == [0]
    both = Detections.concat([d, Detections.empty(), sub])
    assert len(both) == 3


@pytest.mark.parametrize(
    ("xyxy", "score", "cls", "match"),
    [
        ([[0, 0, 1, 1]], [0.5, 0.6], [0], "score has 2 entries for 1 boxes"),
        ([[0, 0, 1, 1]], [0.5], [0, 1], "class_id has 2 entries"),
        ([[0, 0, np.nan, 1]], [0.5], [0], "non-finite"),
    ],
)
def test_detections_reject_inconsistent_arrays(xyxy, score, cls, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        Detections(np.array(xyxy, np.float32), np.array(score), np.array(cls))


def test_track_events_align() -> None:
    d = Detections(np.zeros((2, 4)), np.ones(2), np.zeros(2), np.array([3, 4]))
    assert len(TrackEvents(d, np.array([EventKind.NEW, EventKind.LOST]))) == 2
    with pytest.raises(ValueError, match="1 kinds for 2 boxes"):
        TrackEvents(d, np.array([0]))


def test_pose_validates() -> None:
    with pytest.raises(ValueError, match="out of range"):
        Pose(t_mono=0, lat=91, lon=0, alt=0)
    with pytest.raises(ValueError, match="cam_frame"):
        Pose(t_mono=0, lat=0, lon=0, alt=0, cam_frame="gimbal")


def test_frame_events_priority() -> None:
    ev = GeoEvent(1, 0, "person", 0.9, EventKind.UPDATE, (0, 0, 0.1, 0.1))
    assert FrameEvents("cam0", 1, 0.0, None, (ev,)).priority == Priority.UPDATE
    new = GeoEvent(2, 0, "person", 0.9, EventKind.NEW, (0, 0, 0.1, 0.1))
    assert FrameEvents("cam0", 1, 0.0, None, (ev, new)).priority == Priority.ALERT
