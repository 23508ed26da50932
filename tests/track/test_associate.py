"""Cross-camera association: the gate worked by hand, and the join / keep / split rules on small scenes."""

from __future__ import annotations

import math
import time
from dataclasses import replace

import pytest

from edge.track.associate import (
    R90_PER_SIGMA,
    Associator,
    Boresight,
    compatible,
    distance_m,
    gate_score,
    iou,
    least_cost_pairs,
    sight,
)
from edge.track.settings import AssociationSettings
from edge.types import EventKind, FrameEvents, GeoEvent, Pose

LAT0, LON0 = 42.57, 19.90
M_LAT = 1 / 111_320.0  # one metre north, deg


class Collect:
    """A sink that keeps what it was given."""

    def __init__(self) -> None:
        self.batches: list[FrameEvents] = []

    def submit(self, batch: FrameEvents) -> None:
        self.batches.append(batch)


def ev(track: int, north_m: float, error_m: float = 4.3, cls: str = "person", kind: EventKind = EventKind.UPDATE,
       east_m: float = 0.0) -> GeoEvent:  # fmt: skip
    lon = LON0 + east_m * M_LAT / math.cos(math.radians(LAT0))
    box = (0.02 * (track % 50), 0.1, 0.02 * (track % 50) + 0.01, 0.12)  # tracks' boxes apart (rule 5)
    return GeoEvent(track, 0, cls, 0.9, kind, box, LAT0 + north_m * M_LAT, lon, 1200.0, error_m)


def feed(assoc: Associator, cam: str, t: float, *events: GeoEvent) -> list[int | None]:
    out = Collect()
    assoc._sinks = [out]
    assoc.submit(FrameEvents(cam, 0, t, None, events))
    return [e.object_id for e in out.batches[0].events]


@pytest.mark.parametrize(
    "d, s1, s2, motion, expected",
    [
        (3.0, 1.0, 1.0, 0.0, 3.0 / math.sqrt(2)),  # 2.12 sigma: inside a 3.03 gate
        (10.0, 3.0, 4.0, 0.0, 2.0),  # sqrt(9 + 16) = 5
        (13.0, 3.0, 4.0, 12.0, 1.0),  # sqrt(9 + 16 + 144) = 13
        (0.0, 0.0, 0.0, 0.0, 0.0),
        (1.0, 0.0, 0.0, 0.0, math.inf),
    ],
)
def test_gate_score_by_hand(d: float, s1: float, s2: float, motion: float, expected: float) -> None:
    assert gate_score(d, s1, s2, motion) == pytest.approx(expected)


def test_sigma_from_the_90_percent_radius_and_distance() -> None:
    assert pytest.approx(2.1460, abs=1e-4) == R90_PER_SIGMA  # exp(-r^2 / 2) = 0.1
    assert distance_m(LAT0, LON0, LAT0 + 100 * M_LAT, LON0) == pytest.approx(100.0, abs=1e-6)


@pytest.mark.parametrize(
    "a, b, ok", [("person", "person", True), ("vehicle", "car", True), ("person", "vehicle", False), ("x", "x", True)]
)
def test_class_compatibility(a: str, b: str, ok: bool) -> None:
    assert compatible(a, b) is ok


def test_two_cameras_on_one_object_share_an_id_from_the_second_fix_on() -> None:
    assoc = Associator([])
    assert feed(assoc, "day", 10.0, ev(1, 0.0)) == [None]  # nobody else sees it yet
    assert feed(assoc, "thermal", 10.05, ev(7, 2.0)) == [1]  # 2 m apart, sigmas 2 m each: 0.71 sigma
    assert feed(assoc, "day", 10.1, ev(1, 0.5)) == [1]
    assert assoc.health()["objects"] == 1


@pytest.mark.parametrize(
    "second, why",
    [
        (ev(7, 15.0), "15 m apart, 2 m sigmas: 5.3 sigma, outside the gate"),
        (ev(7, 0.5, cls="vehicle"), "a vehicle is not a person"),
    ],
)
def test_no_join(second: GeoEvent, why: str) -> None:
    assoc = Associator([])
    feed(assoc, "day", 10.0, ev(1, 0.0))
    assert feed(assoc, "thermal", 10.05, second) == [None], why


def test_fixes_further_apart_in_time_than_the_join_window_are_not_joined() -> None:
    assoc = Associator([], AssociationSettings(join_within_s=0.5))
    feed(assoc, "day", 10.0, ev(1, 0.0))
    assert feed(assoc, "thermal", 10.6, ev(7, 0.0)) == [None]


def test_a_cameras_own_tracks_never_join_each_other() -> None:
    assoc = Associator([])
    assert feed(assoc, "day", 10.0, ev(1, 0.0), ev(2, 0.5)) == [None, None]


def test_two_close_objects_pair_up_one_track_per_camera() -> None:
    """Two people 3 m apart, well inside each other's gate: the nearer pairs win, neither object takes both."""
    assoc = Associator([])
    feed(assoc, "day", 10.0, ev(1, 0.0, error_m=20.0), ev(2, 3.0, error_m=20.0))
    # the thermal camera lists the far one first; each still joins its own (ids in the order of the joins)
    assert feed(assoc, "thermal", 10.05, ev(8, 3.2, error_m=20.0), ev(9, 0.3, error_m=20.0)) == [1, 2]
    assert feed(assoc, "day", 10.1, ev(1, 0.0, error_m=20.0), ev(2, 3.0, error_m=20.0)) == [2, 1]


def test_a_third_track_of_a_camera_does_not_enter_an_object_that_holds_one_of_its_own() -> None:
    assoc = Associator([])
    feed(assoc, "day", 10.0, ev(1, 0.0))
    feed(assoc, "thermal", 10.05, ev(7, 0.0))
    assert feed(assoc, "thermal", 10.1, ev(7, 0.0), ev(8, 0.4)) == [1, None]


def test_a_moving_object_gets_its_top_speed_times_the_time_gap() -> None:
    assoc = Associator([])
    feed(assoc, "day", 10.0, ev(1, 0.0, error_m=2.0, cls="vehicle"))
    # 6 m in 0.3 s at up to 30 m/s: sqrt(0.93^2 * 2 + 9^2) = 9.1 m spread, 0.66 sigma
    assert feed(assoc, "thermal", 10.3, ev(7, 6.0, error_m=2.0, cls="vehicle")) == [1]
    slow = Associator([])
    feed(slow, "day", 10.0, ev(1, 0.0, error_m=2.0))
    # a person (3 m/s): 6 m in 0.3 s is 5.6 sigma
    assert feed(slow, "thermal", 10.3, ev(7, 6.0, error_m=2.0)) == [None]


def test_a_joined_track_leaves_after_split_after_frames_outside_the_gate() -> None:
    assoc = Associator([], AssociationSettings(split_after=3))
    feed(assoc, "day", 10.0, ev(1, 0.0))
    feed(assoc, "thermal", 10.0, ev(7, 0.0))
    t = 10.0
    seen = []
    for _ in range(3):  # the day track drifts off 30 m (a wrong join, or another object took the track)
        t += 0.1
        seen.append(feed(assoc, "day", t, ev(1, 30.0))[0])
        feed(assoc, "thermal", t, ev(7, 0.0))
    assert seen == [1, 1, None]
    assert assoc.health()["splits"] == 1


def test_lost_and_stale_tracks_are_forgotten() -> None:
    assoc = Associator([], AssociationSettings(stale_s=2.0))
    feed(assoc, "day", 10.0, ev(1, 0.0))
    feed(assoc, "thermal", 10.0, ev(7, 0.0))
    assert feed(assoc, "thermal", 10.1, ev(7, 0.0, kind=EventKind.LOST)) == [1]  # its last event still says so
    assert assoc.health()["tracks"] == 1
    feed(assoc, "other", 13.0, ev(3, 500.0))
    assert assoc.health()["tracks"] == 1  # the day track, silent for 3 s, went


def test_events_without_a_fix_pass_unchanged_and_every_sink_gets_the_batch() -> None:
    a, b = Collect(), Collect()
    assoc = Associator([a, b])
    e = GeoEvent(4, 0, "person", 0.9, EventKind.NEW, (0.1, 0.1, 0.2, 0.2), no_fix_reason="no pose")
    assoc.submit(FrameEvents("day", 0, 1.0, None, (e,)))
    assert a.batches[0].events == (e,) and b.batches[0].events == (e,)


MAST = Pose(t_mono=0.0, lat=LAT0, lon=LON0, alt=1266.0)  # 66 m above the plain (1200 m) at the origin


def feed_seen(assoc: Associator, cam: str, t: float, *events: GeoEvent, pose: Pose = MAST) -> list[int | None]:
    """Like ``feed``, from a frame with a pose (the mast's: so lines of sight are known)."""
    out = Collect()
    assoc._sinks = [out]
    assoc.submit(FrameEvents(cam, 0, t, pose, events))
    return [e.object_id for e in out.batches[0].events]


def test_sight_by_hand() -> None:
    az, dep, rng = sight(MAST, LAT0 + 500 * M_LAT, LON0, 1200.0)
    assert (math.degrees(az), math.degrees(dep), rng) == pytest.approx((0.0, math.degrees(math.atan(66 / 500)), 500.0))


def seen(track: int, north_m: float, east_m: float = 0.0, error_m: float = 100.0, cls: str = "vehicle",
         d_az_deg: float = 0.0, pose: Pose = MAST) -> GeoEvent:  # fmt: skip
    """An event with its measured line of sight from ``pose`` (turned ``d_az_deg`` east, as a camera whose mount
    or pose is off by that sees it; its fix moved with it)."""
    e = ev(track, north_m, error_m, cls, east_m=east_m)
    assert e.lat is not None and e.lon is not None
    az, dep, rng = sight(pose, e.lat, e.lon, 1200.0)
    az += math.radians(d_az_deg)
    lat = pose.lat + rng * math.cos(az) * M_LAT
    lon = pose.lon + rng * math.sin(az) * M_LAT / math.cos(math.radians(LAT0))
    return replace(e, lat=lat, lon=lon, sight=(az, dep))


def test_two_objects_inside_each_others_error_radii_but_on_different_lines_of_sight_stay_apart() -> None:
    """A 4x4 at 300 m and a pickup at 320 m with 100 m radii: one place to the ground gate, yet 66 m below the mast
    they lie 0.9 deg apart in depression (12.4 vs 11.7 deg): 2.9 sigma while the mounts' relative error is not
    known (0.3 deg), 9 sigma once it is (0.07 deg per camera); and the pair whose lines of sight agree wins."""
    assoc = Associator([])
    feed_seen(assoc, "day", 10.0, seen(1, 300.0))
    assert feed_seen(assoc, "thermal", 10.0, seen(7, 320.0)) == [1]  # alone: joined
    strict = Associator([], AssociationSettings(boresight_sigma_deg=0.0))
    feed_seen(strict, "day", 10.0, seen(1, 300.0))
    assert feed_seen(strict, "thermal", 10.0, seen(7, 320.0)) == [None]
    without = Associator([], AssociationSettings(boresight_sigma_deg=0.0))  # fixes alone: the size prior moved them
    feed_seen(without, "day", 10.0, ev(1, 300.0, error_m=100.0, cls="vehicle"))
    assert feed_seen(without, "thermal", 10.0, ev(7, 320.0, error_m=100.0, cls="vehicle")) == [1]  # 1.1 of 0.6 deg
    both = Associator([])
    feed_seen(both, "day", 10.0, ev(1, 300.0, error_m=100.0, cls="vehicle"), ev(2, 320.0, error_m=100.0, cls="vehicle"))
    # the thermal camera's fixes of the two are 15 m off, both the same way (the mast's shared pose error)
    got = feed_seen(
        both, "thermal", 10.05, ev(8, 335.0, error_m=100.0, cls="vehicle"), ev(9, 315.0, error_m=100.0, cls="vehicle")
    )
    assert got == [1, 2]
    # 335 m pairs with 320 m and 315 m with 300 m (least sum: 1.2 + 1.4 sigma), not 315 with 320 (0.45, the single
    # nearest pair, which would leave 335 with 300 at 3.0)
    day = feed_seen(
        both, "day", 10.1, ev(1, 300.0, error_m=100.0, cls="vehicle"), ev(2, 320.0, error_m=100.0, cls="vehicle")
    )
    assert day == [2, 1]


def test_a_moving_track_is_carried_on_its_velocity_to_the_other_fixs_time() -> None:
    """A walker crossing 400 m out at 1.5 m/s east: the day camera's fixes at t = 10 and 11 s; the thermal camera's
    at t = 12.5 s is 2.25 m further, 0.32 deg off the last day fix's line of sight, exactly where its velocity says."""
    assoc = Associator([], AssociationSettings(direction_sigma_deg=0.1, boresight_sigma_deg=0.0))
    feed_seen(assoc, "day", 10.0, ev(1, 400.0, east_m=0.0))
    feed_seen(assoc, "day", 11.0, ev(1, 400.0, east_m=1.5))
    assert feed_seen(assoc, "thermal", 12.5, ev(7, 400.0, east_m=3.75)) == [1]
    still = Associator([], AssociationSettings(direction_sigma_deg=0.1, boresight_sigma_deg=0.0))
    feed_seen(still, "day", 11.0, ev(1, 400.0, east_m=1.5))  # one fix only: no velocity known
    assert feed_seen(still, "thermal", 12.5, ev(7, 400.0, east_m=3.75)) == [1]  # 30 % of 3 m/s for 1.5 s: 1.35 m
    far = Associator([], AssociationSettings(direction_sigma_deg=0.1, boresight_sigma_deg=0.0))
    feed_seen(far, "day", 11.0, ev(1, 400.0, east_m=1.5))
    assert feed_seen(far, "thermal", 11.2, ev(7, 400.0, east_m=6.0)) == [None]  # 4.5 m in 0.2 s: too far


@pytest.mark.parametrize(
    "cost, pairs",
    [
        ([[1.0, 2.0], [2.0, 9.0]], [(0, 1), (1, 0)]),  # 2 + 2 beats 1 + 9
        ([[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], [3.0, 2.0, 2.0]], [(0, 1), (1, 0), (2, 2)]),  # 1 + 2 + 2
        ([[5.0], [1.0], [3.0]], [(1, 0)]),  # more rows than columns
        ([[1e9, 1.0]], [(0, 1)]),
        ([], []),
    ],
)
def test_least_cost_pairs_by_hand(cost: list[list[float]], pairs: list[tuple[int, int]]) -> None:
    assert least_cost_pairs(cost) == pairs


def test_a_moving_track_is_carried_back_to_a_still_ones_time() -> None:
    """mss-ridge-pair, measured: a parked pickup 480 m out (one day fix, velocity not known) and a 4x4 crawling 260 m
    out (thermal, 1.5 m/s east), 3 s apart: the 4x4 carried back 3 s, then 6.1 deg apart in depression with
    0.5 * 1 * 3^2 + 0.5 * 3 = 6 m (1.3 deg) unforeseen: 4.5 sigma, not one object (30 % of a vehicle's 30 m/s for
    3 s, 27 m, would have passed it)."""
    assoc = Associator([])
    feed_seen(assoc, "day", 20.0, ev(2, 480.0, error_m=80.0, cls="vehicle"))
    feed_seen(assoc, "thermal", 21.0, ev(1, 260.0, east_m=0.0, error_m=40.0, cls="vehicle"))
    feed_seen(assoc, "thermal", 22.0, ev(1, 260.0, east_m=1.5, error_m=40.0, cls="vehicle"))
    assert feed_seen(assoc, "thermal", 23.0, ev(1, 260.0, east_m=3.0, error_m=40.0, cls="vehicle")) == [None]
    # the day camera's own fix of the 4x4 a moment later joins it
    assert feed_seen(assoc, "day", 23.1, ev(5, 262.0, east_m=3.2, error_m=40.0, cls="vehicle")) == [1]


def test_a_new_track_takes_the_place_of_its_cameras_silent_one_at_once() -> None:
    """The thermal tracker loses the object and starts a new track before the old one's LOST: born after the old one
    was last heard of, at its place, the new one takes over at once (not join_within_s later). Not a track seen in
    one frame with the old one (two objects), nor one where the object cannot have gone."""
    assoc = Associator([])
    feed(assoc, "day", 10.0, ev(1, 0.0))
    feed(assoc, "thermal", 10.0, ev(7, 0.0))
    feed(assoc, "day", 11.0, ev(1, 0.0))
    assert feed(assoc, "thermal", 11.0, ev(9, 0.3)) == [1]  # track 7 heard 1 s ago, not in this frame
    assert feed(assoc, "thermal", 11.1, ev(7, 0.0, kind=EventKind.LOST)) == [None]
    beside = Associator([])
    feed(beside, "day", 10.0, ev(1, 0.0))
    assert feed(beside, "thermal", 10.0, ev(7, 0.0), ev(9, 0.4)) == [1, None]
    feed(beside, "day", 10.5, ev(1, 0.0))
    assert feed(beside, "thermal", 10.5, ev(9, 0.4)) == [None]  # 7 is silent, but 9 was seen beside it
    elsewhere = Associator([])  # thermal fixes of 1 m radii, the day one 40 m
    feed(elsewhere, "day", 10.0, ev(1, 0.0, error_m=40.0))
    feed(elsewhere, "thermal", 10.0, ev(7, 0.0, error_m=1.0))
    feed(elsewhere, "day", 10.1, ev(1, 0.0, error_m=40.0))
    # 3 m from where track 7 was 0.1 s ago: 4.1 sigma (a walker cannot be there), though inside the day fix's gate
    assert feed(elsewhere, "thermal", 10.1, ev(9, 3.0, error_m=1.0)) == [None]


def test_only_tracks_in_their_cameras_newest_frame_are_joined() -> None:
    """The day camera's track 1 was not in its newest frame (the tracker coasts it, or it is about to be lost): a
    thermal track appearing there does not join it."""
    assoc = Associator([])
    feed(assoc, "day", 10.0, ev(1, 0.0), ev(2, 30.0))
    feed(assoc, "day", 10.1, ev(2, 30.0))
    assert feed(assoc, "thermal", 10.15, ev(7, 0.0)) == [None]
    feed(assoc, "day", 10.2, ev(1, 0.0), ev(2, 30.0))
    assert feed(assoc, "thermal", 10.25, ev(7, 0.0)) == [1]


def test_a_track_on_the_same_box_as_a_joined_one_of_its_camera_is_that_object() -> None:
    """The thermal tracker follows one walker twice (two tracks, one box): both carry the object id (rule 5); a
    track on a box beside it does not."""
    assoc = Associator([])
    box = (0.50, 0.40, 0.52, 0.46)
    feed(assoc, "day", 10.0, ev(1, 0.0))
    twin = replace(ev(8, 0.2), bbox_norm=(0.501, 0.401, 0.521, 0.461))
    beside = replace(ev(9, 0.5), bbox_norm=(0.53, 0.40, 0.55, 0.46))
    assert feed(assoc, "thermal", 10.05, replace(ev(7, 0.1), bbox_norm=box), twin, beside) == [1, 1, None]
    assert assoc.health()["twins"] == 1


def test_a_track_nearer_than_its_cameras_joined_one_takes_its_place_after_split_after_frames() -> None:
    """Two walkers 2 m apart: the day camera saw only the first (track 1), the thermal camera only the second
    (track 7), so 1 and 7 joined (0.7 sigma). Then the thermal camera sees the first too (track 8, beside 7: rule 3
    keeps it out); lying nearer to track 1 than 7 does for split_after (3) frames in a row, it takes 7's place."""
    assoc = Associator([])
    feed(assoc, "day", 10.0, ev(1, 0.0))
    assert feed(assoc, "thermal", 10.0, ev(7, 2.0)) == [1]
    got = []
    for t in (10.1, 10.2, 10.3, 10.4):
        feed(assoc, "day", t, ev(1, 0.0))
        got.append(feed(assoc, "thermal", t, ev(7, 2.0), ev(8, 0.1)))
    assert got == [[1, None], [1, None], [None, 1], [None, 1]]
    assert assoc.health()["swaps"] == 1


def test_a_track_whose_partners_were_all_lost_joins_again() -> None:
    """Day 1 + thermal 7 and day 5 + thermal 9 are two objects; 7 and 5 are lost. Day 1 and thermal 9 are each alone in
    their objects (rule 7): when they meet, they join (before, each stayed in its lone object for good)."""
    assoc = Associator([])
    feed(assoc, "day", 10.0, ev(1, 0.0), ev(5, 30.0))
    assert feed(assoc, "thermal", 10.0, ev(7, 0.0), ev(9, 30.0)) == [1, 2]
    feed(assoc, "day", 10.1, ev(1, 0.0), ev(5, 30.0, kind=EventKind.LOST))
    feed(assoc, "thermal", 10.1, ev(7, 0.0, kind=EventKind.LOST), ev(9, 30.0))
    feed(assoc, "day", 19.0, ev(1, 0.0))
    assert feed(assoc, "thermal", 19.0, ev(9, 0.2)) == [1]


def test_iou_by_hand() -> None:
    assert iou((0.0, 0.0, 2.0, 1.0), (1.0, 0.0, 3.0, 1.0)) == pytest.approx(1 / 3)
    assert iou((0.0, 0.0, 1.0, 1.0), (2.0, 2.0, 3.0, 3.0)) == 0.0
    assert iou((0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 0.0)) == 0.0


def test_two_walkers_side_by_side_are_told_apart_by_azimuth() -> None:
    """Two people 4 m apart across the line of sight 270 m below the mast (0.85 deg in azimuth): 8.6 sigma of 0.07 deg
    each once the mounts' relative error is known, inside any ground gate: the thermal camera sees only the east
    one, which does not join the west one."""
    assoc = Associator([], AssociationSettings(boresight_sigma_deg=0.0))
    feed_seen(assoc, "day", 10.0, ev(1, 270.0, east_m=0.0, error_m=40.0))
    assert feed_seen(assoc, "thermal", 10.05, ev(7, 270.0, east_m=4.0, error_m=40.0)) == [None]
    assert feed_seen(assoc, "thermal", 10.1, ev(7, 270.0, east_m=0.3, error_m=40.0)) == [1]


def test_tracks_seen_without_an_event_keep_their_fixes_fresh_and_are_never_passed_on() -> None:
    """A still object: camera day's only event was 3 s ago (> join_within_s), but its track was seen in every frame
    since (``FrameEvents.seen``): the thermal camera's NEW joins it at once; seen-only frames reach no sink."""
    out = Collect()
    assoc = Associator([out])
    assoc.submit(FrameEvents("day", 0, 10.0, None, (ev(1, 0.0, kind=EventKind.NEW),)))
    for t in (11.0, 12.0, 13.0):
        assoc.submit(FrameEvents("day", 0, t, None, (), seen=(ev(1, 0.1),)))
    assoc.submit(FrameEvents("thermal", 0, 13.05, None, (ev(7, 1.0, kind=EventKind.NEW),), seen=(ev(8, 40.0),)))
    # rule 4: day's track got the id when thermal's joined it: its newest fix goes out again at once with it, in a
    # batch of day's frame of 13.0, after thermal's; its next frames seen say nothing more
    assert [(b.camera_id, b.t_utc) for b in out.batches] == [("day", 10.0), ("thermal", 13.05), ("day", 13.0)]
    assert [e.object_id for e in out.batches[1].events] == [1]
    assert [(e.track_id, e.object_id, e.kind) for e in out.batches[2].events] == [(1, 1, EventKind.UPDATE)]
    for t in (14.0, 15.0):
        assoc.submit(FrameEvents("day", 0, t, None, (), seen=(ev(1, 0.1),)))
    assert len(out.batches) == 3
    assert all(b.seen == () for b in out.batches) and assoc.health()["announced"] == 1


def test_lines_of_sight_are_compared_through_the_pose_of_one_time() -> None:
    """The mast's reported heading drifts east by 2 deg from 10.0 s to the thermal camera's next frame (its attitude
    error, shared by both cameras at any one time): a ray measured at time t reads the drift of t east of the true
    one. The day camera sees the walker halfway, with half the drift. Carried back in its camera's frame to the day
    frame's time and turned by the thermal camera's pose then (interpolated between its two frames), the thermal ray
    lands on the day one: joined. With the thermal frames 1.2 s apart (too far to interpolate a pose) the rays are
    compared as measured: apart."""
    for later, joined in ((10.4, [1]), (11.2, [None])):
        assoc = Associator([], AssociationSettings(boresight_sigma_deg=0.0))
        walker = {"north_m": 300.0, "error_m": 30.0, "cls": "person"}
        feed_seen(assoc, "thermal", 10.0, seen(7, **walker))
        half, whole = replace(MAST, cam_yaw=math.radians(1.0)), replace(MAST, cam_yaw=math.radians(2.0))
        assert feed_seen(assoc, "day", (10.0 + later) / 2, seen(1, **walker, d_az_deg=1.0), pose=half) == [None]
        assert feed_seen(assoc, "thermal", later, seen(7, **walker, d_az_deg=2.0), pose=whole) == joined, later


def test_the_cameras_relative_pointing_error_is_learnt_from_objects_both_saw() -> None:
    """The thermal camera's mount is 0.5 deg to the east of what its calibration says (0.49 across the line of sight
    12.4 deg down). While the error is not known the gate allows for 0.3 deg and three 4x4s (300 m out, 450 m out,
    and 300 m out 60 m to the west) join anyway; after 40 frames of them the association has learnt the offset
    (health: from three pairs of tracks), and of two thermal tracks 0.5 deg apart it joins the one its learnt
    offset points to, where without learning it takes the other (nearer as measured)."""
    for learn, partner in ((True, 2), (False, 1)):
        assoc = Associator([], AssociationSettings(learn_boresight=learn))
        for k in range(40):
            t = 10.0 + k / 3
            feed_seen(assoc, "day", t, seen(1, 300.0), seen(2, 450.0), seen(3, 300.0, east_m=-60.0))
            got = feed_seen(
                assoc, "thermal", t, seen(7, 300.0, d_az_deg=0.5), seen(8, 450.0, d_az_deg=0.5),
                seen(9, 300.0, east_m=-60.0, d_az_deg=0.5),
            )  # fmt: skip
            assert got == [1, 2, 3]
        if learn:
            learnt = assoc.health()["boresight"]["day/thermal"]
            assert learnt["n"] >= 30 and learnt["pairs"] == 3
            assert learnt["across_deg"] == pytest.approx(-0.5 * math.cos(math.atan(66 / 300)), abs=0.01)
            assert learnt["down_deg"] == pytest.approx(0.0, abs=0.01)
        t = 30.0
        feed_seen(assoc, "day", t, seen(1, 300.0), seen(11, 300.0, east_m=60.0))
        got = feed_seen(assoc, "thermal", t, seen(7, 300.0, d_az_deg=0.5), seen(21, 300.0, east_m=60.0),
                        seen(22, 300.0, east_m=60.0, d_az_deg=0.5))  # fmt: skip
        day_object = feed_seen(assoc, "day", t + 1 / 3, seen(11, 300.0, east_m=60.0))[0]
        assert got[partner] == day_object and got[3 - partner] != day_object


def test_a_learnt_pointing_offset_is_a_median_that_wrong_joins_do_not_move() -> None:
    """20 sightings 0.5 deg across and -0.2 down with 0.05 deg of box noise from four pairs of tracks, and 8 of a
    wrong join (a neighbour 0.4 deg the other way): the offset is the true one within 0.03 deg; nothing is taken off
    before three pairs agree, and the doubt left falls as a median's does."""
    b = Boresight()
    noise = [0.05 * math.sin(7.0 * k) for k in range(20)]
    right = [(("day", k), ("thermal", 10 + k)) for k in range(4)]
    for k in range(4):
        b.add(math.radians(0.5 + noise[k]), math.radians(-0.2 - noise[k]), right[k % 2])
    assert not b.learnt() and b.az == 0.0  # two pairs
    for k in range(4, 20):
        b.add(math.radians(0.5 + noise[k]), math.radians(-0.2 - noise[k]), right[k % 4])
        if k % 2:
            b.add(math.radians(-0.4), math.radians(0.0), (("day", 9), ("thermal", 19)))
    assert b.learnt()
    assert math.degrees(b.az) == pytest.approx(0.5, abs=0.03) and math.degrees(b.dep) == pytest.approx(-0.2, abs=0.03)
    n = b.health()["n"]  # the right sightings when last estimated (every EVERY sightings once learnt)
    assert 20 - Boresight.EVERY < n <= 20 and b.doubt() == pytest.approx(1.25 / math.sqrt(n))
    assert b.health() == {
        "across_deg": round(math.degrees(b.az), 3),
        "down_deg": round(math.degrees(b.dep), 3),
        "n": n,
        "pairs": 4,
    }


def test_one_wrong_join_seen_in_many_frames_is_one_vote_that_the_right_pairs_outvote() -> None:
    """A wrong join first (one pair of tracks on two walkers 0.8 deg apart), seen in 12 frames at 10 fps before any
    other: counted by sightings it was the offset from its 5th sighting on, and then every right pair fell outside
    the gate (mss-ridge-pair at 10 fps: 1.4 % joined). One pair is one vote: not learnt until three pairs agree,
    and then the three right pairs (2 sightings each) outvote it."""
    b = Boresight()
    wrong = (("day", 1), ("thermal", 2))
    for k in range(12):
        b.add(math.radians(0.8 + 0.01 * (k % 3)), 0.0, wrong)
    assert not b.learnt() and b.az == 0.0
    for k in range(3):
        for _ in range(2):
            b.add(math.radians(0.02 * k), math.radians(0.01), (("day", 3 + k), ("thermal", 7 + k)))
    assert b.learnt() and b.health()["pairs"] == 3 and b.health()["n"] >= 5
    assert math.degrees(b.az) == pytest.approx(0.02, abs=0.005) and math.degrees(b.dep) == pytest.approx(0.01)


def test_a_learnt_offset_is_kept_while_one_object_fills_the_window() -> None:
    """Three pairs agree on 0.3 deg across; then one object stays in view for longer than the window holds (300
    sightings of one pair, 0.32 deg): the offset is kept, not forgotten for want of three pairs (it moves toward
    0.32 only while the window still holds the three others, which agree with it)."""
    b = Boresight()
    for k in range(3):
        for _ in range(3):
            b.add(math.radians(0.3), 0.0, (("day", k), ("thermal", 10 + k)))
    assert b.learnt() and math.degrees(b.az) == pytest.approx(0.3)
    for _ in range(300):
        b.add(math.radians(0.32), 0.0, (("day", 7), ("thermal", 17)))
    assert b.learnt() and 0.3 - 1e-9 <= math.degrees(b.az) <= 0.32 + 1e-9  # moved only while three pairs agreed
    assert b.health()["pairs"] == 1


def test_two_joined_tracks_that_fit_each_others_partners_better_exchange_objects() -> None:
    """Rule 8: people 6 m apart (each pair inside the gate of 4.3 m fixes); the thermal camera's tracker swaps its
    two tracks. Crossed, each lies on the other's day partner: after split_after (3) frames they exchange objects
    (before, each kept the wrong one while rule 1's gate held them)."""
    assoc = Associator([])
    feed(assoc, "day", 10.0, ev(1, 0.0), ev(2, 0.0, east_m=6.0))
    assert feed(assoc, "thermal", 10.05, ev(7, 0.0), ev(9, 0.0, east_m=6.0)) == [1, 2]
    got = []
    for k in range(1, 5):
        t = 10.0 + k
        feed(assoc, "day", t, ev(1, 0.0), ev(2, 0.0, east_m=6.0))
        got.append(feed(assoc, "thermal", t + 0.05, ev(7, 0.0, east_m=6.0), ev(9, 0.0)))
    assert got == [[1, 2], [1, 2], [2, 1], [2, 1]]
    assert assoc.health()["crosses"] == 1 and assoc.health()["splits"] == 0


def test_frames_that_come_late_are_associated_and_handed_on_in_capture_order() -> None:
    out = Collect()
    assoc = Associator([out])
    frames = [("day", 10.0), ("thermal", 10.3), ("day", 10.5), ("thermal", 10.8), ("thermal", 11.3), ("day", 11.0)]
    frames += [("thermal", 11.8), ("day", 11.5), ("thermal", 12.3), ("day", 12.0), ("thermal", 12.8), ("day", 12.5)]
    for cam, t in frames:  # the day camera's frames come 0.3 s late from its slower pipeline from 11.0 on
        assoc.submit(FrameEvents(cam, 0, t, None, (ev(1 if cam == "day" else 2, 0.0),)))
    assoc.stop()  # hands on what it still holds
    got = list(dict.fromkeys((b.camera_id, b.t_utc) for b in out.batches))  # rule 4 sends a frame again: once
    assert got[:4] == [("day", 10.0), ("thermal", 10.3), ("day", 10.5), ("thermal", 10.8)]
    assert got[4:6] == [("thermal", 11.3), ("day", 11.0)]  # the first late frame: too late to wait for
    assert got[6:] == sorted(got[6:], key=lambda f: f[1]) and len(got) == len(frames)  # then in capture order
    assert assoc.health()["late"] == 1 and assoc.health()["hold_s"] > 0.3
    assert {b.events[0].object_id for b in out.batches[-6:]} == {1}  # one object


def test_a_held_frame_reaches_the_sinks_on_its_own_and_a_stop_loses_none() -> None:
    out = Collect()
    assoc = Associator([out], AssociationSettings(reorder_max_s=0.5))
    assoc.start()
    try:
        for cam, t in [("thermal", 10.4), ("day", 10.0)]:  # 0.4 s late: the hold is learnt, 0.5 s (capped)
            assoc.submit(FrameEvents(cam, 0, t, None, (ev(1, 0.0 if cam == "day" else 500.0),)))
        assoc.submit(FrameEvents("thermal", 0, 10.9, None, (ev(1, 500.0),)))
        assert len(out.batches) == 2 and assoc.health()["held"] == 1  # waits for the day camera's 10.5
        deadline = time.monotonic() + 2.0
        while len(out.batches) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(out.batches) == 3, "the held frame went out once it had waited the hold, with no new frame"
        assoc.submit(FrameEvents("thermal", 0, 11.4, None, (ev(1, 500.0),)))
        assert assoc.health()["held"] == 1
    finally:
        assoc.stop()
    assert [b.t_utc for b in out.batches] == [10.4, 10.0, 10.9, 11.4] and assoc.health()["held"] == 0
