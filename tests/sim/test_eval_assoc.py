"""sim/eval_assoc.py: detections made from the truth itself score as the object ids they carry say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sim.eval_assoc import score, truth_boxes
from sim.scenario import load_scenario
from sim.world import World

PAIR = Path(__file__).resolve().parents[2] / "sim" / "scenarios" / "mss-ridge-pair.toml"
T0 = 1_700_000_000.0


def received(world: World, objects: dict[tuple[str, int], int]) -> list[dict[str, Any]]:
    """What `edge listen` would print for perfect detections of every target each camera sees, 1 to 20 s at 1 Hz;
    track = target id (+100 for the thermal camera), object from ``objects`` by (camera, target)."""
    out = []
    classes = {tt.id: tt for tt in world.targets(0.0)}
    for cam in world.cameras():
        for t in range(1, 21):
            truth = {tt.id: tt for tt in world.targets(float(t))}
            for tid, box in truth_boxes(cam, float(t)).items():
                d: dict[str, Any] = {
                    "t_utc": T0 + t + (0.05 if cam.camera_id == "thermal" else 0.0),
                    "camera": cam.camera_id,
                    "track": tid + (100 if cam.camera_id == "thermal" else 0),
                    "class": classes[tid].class_name,
                    "bbox": box.tolist(),
                    "lat": truth[tid].lat,
                    "lon": truth[tid].lon,
                    "error_m": 40.0,
                }
                if (cam.camera_id, tid) in objects:
                    d["object"] = objects[(cam.camera_id, tid)]
                out.append(d)
    return out


@pytest.fixture(scope="module")
def world() -> World:
    return World(load_scenario(PAIR))


def test_one_id_per_target_is_all_shared_and_nothing_merged(world: World) -> None:
    ids = {(cam, tid): tid + 1 for cam in ("day", "thermal") for tid in range(20)}
    s = score(world, T0, received(world, ids))
    assert s.unmatched == 0 and s.cameras["day"] > 20 and s.cameras["thermal"] > 20
    assert s.targets_both >= 5 and s.same_pairs >= 100
    assert (s.shared, s.shared_any, s.objects_shared, s.merged) == (1.0, 1.0, 1.0, 0.0)
    assert s.close_pairs > 0  # the patrol and the group walk nearer together than 40 m


def test_no_ids_share_nothing_and_swapped_ids_merge(world: World) -> None:
    none = score(world, T0, received(world, {}))
    assert (none.shared, none.shared_any, none.objects_shared, none.merged) == (0.0, 0.0, 0.0, 0.0)
    # the thermal camera's tracks of the two people of the patrol (targets 0 and 1, 2 m apart) swapped
    ids = {(cam, tid): tid + 1 for cam in ("day", "thermal") for tid in range(20)}
    ids[("thermal", 0)], ids[("thermal", 1)] = 2, 1
    s = score(world, T0, received(world, ids))
    assert s.shared < 1.0 and s.close_merged > 0


def test_by_box_a_track_that_moved_to_another_target_is_scored_by_what_each_box_shows(world: World) -> None:
    """The thermal camera's track of the patrol's first walker (target 0) shows the second one (target 1) from 15 s
    on, and the association moves its object id with it (the day camera's object of target 1). By its track's
    majority each of those detections is target 0's, merged with target 1's day track; by its box it is target 1's,
    shared with it."""
    ids = {(cam, tid): tid + 1 for cam in ("day", "thermal") for tid in range(20)}
    dets = received(world, ids)
    walker0 = [d for d in dets if d["camera"] == "thermal" and d["track"] == 100]
    walker1 = {d["t_utc"]: d for d in dets if d["camera"] == "thermal" and d["track"] == 101}
    assert len(walker0) >= 15 and len(walker1) >= 15
    for d in walker0:
        if d["t_utc"] >= T0 + 15 and d["t_utc"] in walker1:
            d |= {k: walker1[d["t_utc"]][k] for k in ("bbox", "lat", "lon")} | {"object": 2}
    by_track, by_box = score(world, T0, dets), score(world, T0, dets, by_box=True)
    assert by_track.close_merged > 0 and by_track.shared < 1.0
    assert by_box.close_merged == 0 and by_box.shared == 1.0


def test_a_detection_sent_again_with_its_new_id_counts_once_and_is_what_the_ground_knew_after() -> None:
    """Every day detection goes out without an id, then again at once with it (the association's rule 4): the pairs
    are as many as with one send, and each thermal detection 0.05 s later meets the id its day partner was sent
    again with."""
    world = World(load_scenario(PAIR))
    ids = {(cam, tid): tid + 1 for cam in ("day", "thermal") for tid in range(20)}
    once = score(world, T0, received(world, ids))
    dets = []
    for d in received(world, ids):
        if d["camera"] == "day":
            dets.append({k: v for k, v in d.items() if k != "object"})
        dets.append(d)
    twice = score(world, T0, dets)
    assert (twice.cameras, twice.same_pairs, twice.seen_both) == (once.cameras, once.same_pairs, once.seen_both)
    assert twice.unmatched == once.unmatched == 0
    # each day detection as first sent carried no id; each thermal one met its partner's resent id
    assert twice.same_shared == once.same_shared - once.same_pairs // 2
