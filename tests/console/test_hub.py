"""The console's hub: what the pipeline hands over becomes alerts, boxes, trails and messages, all bounded."""

from __future__ import annotations

import numpy as np

from edge.console.hub import MAX_ALERTS, MAX_TRACKS, TRAIL_POINTS, ConsoleHub
from edge.types import EventKind, Frame, FrameEvents, GeoEvent, Pose

POSE = Pose(0.0, 42.6, 19.9, 150.0)


def _ev(tid: int, kind: EventKind, lat: float | None = 42.601, cls: str = "person") -> GeoEvent:
    return GeoEvent(tid, 0, cls, 0.8, kind, (0.1, 0.2, 0.3, 0.4), lat, None if lat is None else 19.9, 100.0, 5.0, 80.0)


def _batch(*events: GeoEvent, seq: int = 1) -> FrameEvents:
    return FrameEvents("cam0", seq, 1700000000.0 + seq, POSE, events)


def test_new_tracks_are_alerts_updates_move_the_box_lost_removes_it() -> None:
    hub = ConsoleHub()
    hub.submit(_batch(_ev(1, EventKind.NEW), _ev(2, EventKind.NEW, lat=None, cls="vehicle")))
    msgs = hub.drain()
    assert [k for k, _ in msgs] == ["alert", "alert", "events"]
    assert msgs[0][1]["track_id"] == 1 and msgs[0][1]["ack"] is None and msgs[1][1]["lat"] is None
    assert [b["track_id"] for b in hub.boxes("cam0")] == [1, 2] and hub.boxes("cam1") == []
    assert hub.poses["cam0"]["lat"] == 42.6
    hub.submit(_batch(_ev(1, EventKind.UPDATE, lat=42.602), _ev(2, EventKind.LOST, cls="vehicle"), seq=2))
    assert [k for k, _ in hub.drain()] == ["events"]
    state = hub.map_state()
    assert [t["track_id"] for t in state["tracks"]] == [1]
    assert state["tracks"][0]["trail"] == [(42.601, 19.9), (42.602, 19.9)]
    assert hub.counts == {("new", "person"): 1, ("new", "vehicle"): 1, ("update", "person"): 1, ("lost", "vehicle"): 1}


def test_everything_kept_is_bounded() -> None:
    hub = ConsoleHub()
    for i in range(MAX_TRACKS + 50):
        hub.submit(_batch(_ev(i, EventKind.NEW), seq=i))
        if i % 100 == 0:
            hub.drain()
    hub.drain()
    assert len(hub.alerts) == MAX_ALERTS and hub.alerts[-1]["track_id"] == MAX_TRACKS + 49
    assert len(hub.tracks) == MAX_TRACKS
    for i in range(TRAIL_POINTS + 10):
        hub.submit(_batch(_ev(7, EventKind.UPDATE, lat=42.6 + i * 1e-5), seq=i))
    hub.drain()
    assert len(hub.tracks[("cam0", 7)].trail) == TRAIL_POINTS


def test_a_full_inbox_drops_the_oldest_and_counts_it() -> None:
    hub = ConsoleHub()
    for i in range(600):
        hub.submit(_batch(_ev(i, EventKind.NEW), seq=i))
    assert hub.dropped_batches == 600 - 512
    assert hub.drain()[0][1]["track_id"] == 600 - 512


def test_tracks_not_heard_of_leave_the_live_view() -> None:
    now = [0.0]
    hub = ConsoleHub(clock=lambda: now[0])
    hub.submit(_batch(_ev(1, EventKind.NEW)))
    hub.drain()
    now[0] = 11.0
    hub.drain()
    assert hub.boxes("cam0") == []


def test_the_newest_frame_wins_and_observers_see_each() -> None:
    hub = ConsoleHub(clock=lambda: 5.0)
    seen: list[tuple[int, float, float]] = []
    hub.on_frame(lambda f, t_infer, t_done: seen.append((f.seq, t_infer, t_done)))
    for seq in range(3):
        hub.observe(Frame(np.zeros((4, 4, 3), np.uint8), 1.0, 2.0, seq), 4.0)
    frame = hub.latest_frame("cam0")
    assert frame is not None and frame.seq == 2 and hub.cameras() == ["cam0"]
    assert seen == [(0, 4.0, 5.0), (1, 4.0, 5.0), (2, 4.0, 5.0)]


def test_a_wake_up_is_asked_once_until_drained() -> None:
    hub = ConsoleHub()
    calls = []
    hub.set_wake(lambda: calls.append(1))
    hub.submit(_batch(_ev(1, EventKind.NEW)))
    hub.report_health({"stages": {}})
    assert calls == [1]
    assert [k for k, _ in hub.drain()][-1] == "health"
    hub.submit(_batch(_ev(2, EventKind.NEW)))
    assert calls == [1, 1]
