"""The fleet scorer on a store whose detections are placed by hand around the simulator's truth."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from centre.config import FusionSettings
from centre.fusion import distance_m
from centre.store import open_store
from centre.store.rows import DetRow, RecordRow
from sim.eval_assoc import truth_boxes
from sim.fleet_score import RECEIVED, box_labels, score
from sim.scenario import for_vehicle, load_scenario
from sim.world import TargetTruth, World

PAIR = Path(__file__).resolve().parents[2] / "sim" / "scenarios" / "border-pair.toml"
START = 1_790_000_000.0


def _store(tmp_path: Path, world: World, b_east_m: float) -> str:
    """Two vehicles see every person every 0.5 s for 10 s, error radius 1 m: a exactly at the truth, b
    ``b_east_m`` east of it (metres, at home's latitude)."""
    url = f"sqlite:///{tmp_path}/c.sqlite"
    store = open_store(url)
    recs: list[RecordRow] = []
    dets: list[DetRow] = []
    m_per_deg_lon = float(world.frame.to_ned(world.home[0], world.home[1] + 1.0, 0.0)[1])
    for seq in range(20):
        for v, east, boot in (("a", 0.0, 1), ("b", b_east_m, 2)):
            t = START + 0.5 * seq + (0.1 if v == "b" else 0.0)
            recs.append((v, boot, seq, t, "cam0", None, None, None, False, t))
            people = [x for x in world.targets(t - START) if x.class_name == "person"]
            for i, p in enumerate(people):
                lon = p.lon + east / m_per_deg_lon
                dets.append((v, boot, seq, i, t, "cam0", 0, "person", 1, 0.9, p.id + 1, p.lat, lon, p.alt, 1.0))
    store.write(recs, dets)
    store.close()
    return url


@pytest.mark.parametrize(("b_east_m", "one_pct", "within_pct"), [(0.0, 100.0, 100.0), (3.0, 0.0, 50.0)])
def test_pairs_and_radius_against_the_truth(tmp_path: Path, b_east_m: float, one_pct: float, within_pct: float) -> None:
    world = World(load_scenario(PAIR))
    store = open_store(_store(tmp_path, world, b_east_m))
    r = score(store, world, START)
    people = sum(1 for x in world.targets(0.0) if x.class_name == "person")
    assert r.people == people and r.detections == 2 * 20 * people and r.unmatched == 0
    # each of a's detections has b's 0.1 s later (when people cross, b's 3 m off may be nearer the other one)
    assert 0.95 * 20 * people <= r.pairs_seen_by_both <= 20 * people
    assert r.one_sighting_pct == pytest.approx(one_pct)
    assert 0 < r.pairs_apart < r.pairs_seen_by_both  # now and then a person is 10 m from everyone else
    assert r.pairs_apart_one_sighting == (r.pairs_apart if b_east_m == 0 else 0)
    assert r.within_radius_pct == pytest.approx(within_pct)
    assert r.sightings == (people if b_east_m == 0 else 2 * people)
    assert r.pairs_wrong_merge == 0 and r.wrong_merge_pct == 0.0
    # each track follows one person; b's 3 m off makes the scorer take it for another one now and then
    assert r.whole_track_pct == 100.0 if b_east_m == 0 else 90.0 < r.whole_track_pct < 100.0


def test_two_people_put_in_one_sighting_count_as_wrong_merges(tmp_path: Path) -> None:
    """b 3 m off with a 1 m radius: the default gate keeps every pair apart, a gate of 10,000 sigmas pairs each of
    b's detections with the nearest sighting, now and then another person's."""
    world = World(load_scenario(PAIR))
    store = open_store(_store(tmp_path, world, 3.0))
    assert score(store, world, START).pairs_wrong_merge == 0
    r = score(store, world, START, FusionSettings(gate_sigma=10_000.0))
    assert r.pairs_wrong_merge > 0
    assert r.wrong_merge_pct == pytest.approx(
        100.0 * r.pairs_wrong_merge / (r.pairs_one_sighting + r.pairs_wrong_merge)
    )


def _two_people_in_view(world: World) -> tuple[float, list[TargetTruth], dict[int, npt.NDArray[np.float64]]]:
    """The first sim time (s) at which drone-south's camera shows two people more than 5 m apart, with them and
    their boxes."""
    for t in np.arange(0.0, 120.0, 0.5):
        boxes = truth_boxes(world, float(t))
        people = [x for x in world.targets(float(t)) if x.id in boxes and x.class_name == "person"]
        for p, q in itertools.combinations(people, 2):
            if distance_m(p.lat, p.lon, q.lat, q.lon) > 5.0:
                return float(t), [p, q], boxes
    raise AssertionError("drone-south never sees two people")


def test_truth_by_box_where_position_mixes_up_two_people(tmp_path: Path) -> None:
    """One record of drone-south: two detections whose boxes show people p and q but whose fixes lie at q and p
    (swapped), and a box on empty ground. By position each fix is taken for the person it lies on, 0 m off; by
    box each is the person it shows, as far off as p from q, and the third shows no one."""
    sc = load_scenario(PAIR)
    south = World(for_vehicle(sc, "drone-south"))
    t, (p, q), boxes = _two_people_in_view(south)
    start, apart = START, distance_m(p.lat, p.lon, q.lat, q.lon)
    received = tmp_path / RECEIVED
    lines = []
    for box in (boxes[p.id], boxes[q.id], np.array([0.0, 0.0, 0.01, 0.01])):
        d = {"vehicle": "drone-south", "boot": 1, "seq": 7, "t_utc": start + t, "class": "person"}
        lines.append(json.dumps({**d, "bbox": [float(v) for v in box]}))
    received.write_text("\n".join(lines) + "\n")
    labels = box_labels(sc, start, received)
    assert labels == {("drone-south", 1, 7, 0): p.id, ("drone-south", 1, 7, 1): q.id, ("drone-south", 1, 7, 2): -1}
    assert box_labels(sc, start, tmp_path / "none.jsonl") is None

    store = open_store(f"sqlite:///{tmp_path}/c.sqlite")
    rec: RecordRow = ("drone-south", 1, 7, start + t, "cam0", None, None, None, False, start + t)
    dets: list[DetRow] = [
        ("drone-south", 1, 7, i, start + t, "cam0", 0, "person", 1, 0.9, i + 1, x.lat, x.lon, x.alt, 1.0)
        for i, x in enumerate((q, p, q))
    ]
    store.write([rec], dets)
    world = World(sc)
    by_position = score(store, world, start)
    assert (by_position.detections, by_position.unmatched, by_position.own_within) == (2, 1, 2)
    assert by_position.labelled_by_box == 0
    by_box = score(store, world, start, labels=labels)
    assert (by_box.detections, by_box.unmatched, by_box.own_within, by_box.labelled_by_box) == (2, 1, 0, 3)
    assert apart > 5.0 and by_box.updates_within_radius == 0
    store.close()
