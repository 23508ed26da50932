"""The cameras' frames back in capture order: the learnt hold, release by a newer frame or by waiting, the cap."""

from __future__ import annotations

import pytest

from edge.track.reorder import KEEP, MARGIN, MARGIN_S, CaptureOrder
from edge.types import FrameEvents


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def frame(cam: str, t: float) -> FrameEvents:
    return FrameEvents(cam, 0, t, None, ())


def times(frames: list[FrameEvents]) -> list[tuple[str, float]]:
    return [(f.camera_id, f.t_utc) for f in frames]


def learnt(order: CaptureOrder, clock: Clock, lateness: float) -> None:
    """One frame ``lateness`` s older than the one before it: the hold is learnt from it."""
    order.push(frame("thermal", 10.0 + lateness))
    order.push(frame("day", 10.0))
    clock.now += 5.0
    order.due()


def test_frames_that_keep_pace_go_at_once() -> None:
    order = CaptureOrder(1.0)
    for t in (1.0, 1.2, 1.2, 1.5):
        order.push(frame("day", t))
        assert times(order.due()) == [("day", t)]
    assert order.hold_s == 0.0 and order.held == 0 and order.late == 0


def test_a_late_frame_teaches_the_hold_and_later_ones_come_out_in_capture_order() -> None:
    clock = Clock()
    order = CaptureOrder(1.0, clock)
    order.push(frame("thermal", 10.3))
    assert times(order.due()) == [("thermal", 10.3)]  # nothing learnt yet
    order.push(frame("day", 10.0))  # 0.3 s older than a frame gone before it: it goes, late
    assert times(order.due()) == [("day", 10.0)] and order.late == 1
    assert order.hold_s == pytest.approx(0.3 * MARGIN + MARGIN_S)  # 0.395 s
    order.push(frame("thermal", 11.3))  # the day camera's 11.0 is still in its pipeline
    assert order.due() == [] and order.held == 1
    order.push(frame("day", 11.0))
    assert order.due() == []  # nothing captured 0.395 s after it has come in yet
    order.push(frame("thermal", 11.6))  # 11.6 - 0.395 = 11.205: the day frame is due, thermal 11.3 not yet
    assert times(order.due()) == [("day", 11.0)]
    order.push(frame("thermal", 11.9))  # 11.505
    assert times(order.due()) == [("thermal", 11.3)]
    assert order.late == 1 and order.held == 2


def test_a_held_frame_goes_once_it_has_waited_the_hold() -> None:
    clock = Clock()
    order = CaptureOrder(1.0, clock)
    learnt(order, clock, 0.4)
    order.push(frame("thermal", 20.0))  # the other camera fell silent
    assert order.due() == []
    clock.now += order.hold_s - 0.01
    assert order.due() == []
    clock.now += 0.02
    assert times(order.due()) == [("thermal", 20.0)]


def test_a_frame_that_waited_takes_the_older_ones_with_it() -> None:
    clock = Clock()
    order = CaptureOrder(1.0, clock)
    learnt(order, clock, 0.4)
    order.push(frame("thermal", 20.5))
    clock.now += 0.3
    order.push(frame("day", 20.2))  # arrived later, captured earlier
    clock.now += 0.25  # the thermal frame has waited 0.55 s >= the hold; the day frame 0.25 s
    assert times(order.due()) == [("day", 20.2), ("thermal", 20.5)]


def test_the_hold_is_capped_and_zero_keeps_the_arrival_order() -> None:
    clock = Clock()
    capped = CaptureOrder(0.2, clock)
    learnt(capped, clock, 3.0)
    assert capped.hold_s == 0.2
    off = CaptureOrder(0.0, clock)
    out = []
    for f in (frame("thermal", 10.5), frame("day", 10.0), frame("thermal", 10.8), frame("day", 10.6)):
        off.push(f)
        out += off.due()
    assert times(out) == [("thermal", 10.5), ("day", 10.0), ("thermal", 10.8), ("day", 10.6)]
    assert off.hold_s == 0.0 and off.late == 2


def test_everything_goes_at_a_stop_in_capture_order() -> None:
    clock = Clock()
    order = CaptureOrder(1.0, clock)
    learnt(order, clock, 0.5)
    order.push(frame("thermal", 30.4))
    order.push(frame("day", 30.1))
    assert order.due() == []
    assert times(order.due(everything=True)) == [("day", 30.1), ("thermal", 30.4)] and order.held == 0


def test_the_hold_is_forgotten_once_the_cameras_keep_pace_again() -> None:
    clock = Clock()
    order = CaptureOrder(1.0, clock)
    learnt(order, clock, 0.5)
    for k in range(KEEP):
        order.push(frame("day", 40.0 + k))
        order.due()
    assert order.hold_s == 0.0


def test_a_clock_set_back_starts_the_order_again() -> None:
    """The cameras' UTC clock stepped back an hour (GPS time after a wrong RTC): the frames from then on are not all
    'late'; they are put in order among themselves, and the hold is learnt anew."""
    clock = Clock()
    order = CaptureOrder(1.0, clock)
    learnt(order, clock, 0.5)
    order.push(frame("thermal", 20.0))
    assert order.due() == []
    order.push(frame("day", 20.0 - 3600))  # the step
    assert times(order.due()) == [("thermal", 20.0), ("day", 20.0 - 3600)] and order.hold_s == 0.0
    for cam, t in [("thermal", -3579.5), ("day", -3579.8), ("thermal", -3579.0), ("day", -3579.3)]:
        order.push(frame(cam, t))
        order.due()
    order.push(frame("thermal", -3578.5))
    assert times(order.due()) == [("day", -3579.3), ("thermal", -3579.0)]  # in order again, after the first late one
    assert order.late == 1  # the first one after the step, when nothing was learnt yet


def test_a_frame_without_a_finite_capture_time_goes_as_it_came_and_blocks_nothing() -> None:
    clock = Clock()
    order = CaptureOrder(1.0, clock)
    learnt(order, clock, 0.5)
    order.push(frame("day", float("nan")))
    assert times(order.due())[0][0] == "day" and order.held == 0
    order.push(frame("thermal", 30.0))
    order.push(frame("day", float("inf")))
    order.push(frame("day", 29.8))
    clock.now += 1.0
    assert [t for _, t in times(order.due())] == [float("inf"), 29.8, 30.0]
