"""How well the centre fuses a fleet's detections: a centre store scored against the simulator's truth.

Several vehicles of one scenario (``[[vehicles]]``, each an ``edge sim --vehicle NAME --start-utc T`` feeding its own
``edge run``) publish to the centre; ``edge-centre`` stores and fuses what they see. This replays the fusion over the
stored detections exactly as ``edge-centre serve`` ran it (``centre.fusion_eval.replay``: by id, the same rule) and
gives each detection its true target at the same sim time (``t_utc - T``) by its image box (``box_labels``: the
run's ``received.jsonl``, what ``edge listen`` printed): within each frame (one record), its box and the boxes the
simulator drew of the true targets in that vehicle's camera, centres nearest first, each used once, within
``box_gate`` frame widths, classes compatible (exact: two people 3 m apart are ~30 px apart in the image when their
fixes are 20 m off). Recordings without the file (or ``--by-position``) match by position instead: detection-target
pairs nearest first, each used once, within ``gate_m``, which mixes up people closer than the fixes' errors. A
detection of ``class_name`` matched to no target, or to one of another class, is unmatched. Two figures, as in the issue's goals:

- ``one_sighting_pct``: of the times a person was seen by two vehicles at once (a detection of that person by one
  vehicle and the other vehicle's detection of the same person nearest in time, at most ``at_once_s`` apart), the
  share whose two detections were put in one sighting;
- ``within_radius_pct``: of the sighting updates those detections made, the share whose fused position lies within
  the sighting's reported 90 % radius of the true person (at the detection's time).

A reference for fusion by track: ``whole_track_pct``, the share of those pairs whose two detections' tracks
mostly followed that same person (one sighting if each whole track were paired by its person; the rest are the
daemons' identity swaps, or, labelled by position, close people that matching mixes up).

And the cost of merging: ``wrong_merge_pct``, of the pairs put in one sighting (a detection by one vehicle and the
other vehicle's detection nearest in time, at most ``at_once_s`` apart, of the same person or of another one), the
share that were two different people.

Command line, after a run (``python -m sim.fleet_run`` prints the same). A run's workdir is its recording (the
store holds every received detection; ``run.json`` the scenario and start time): the fusion is a pure function of
the stored detections, so it replays offline, with other ``[fusion]`` settings too::

    python -m sim.fleet_score --run out/fleet [--set gate_sigma=2.5]
    python -m sim.fleet_score --scenario sim/scenarios/border-pair.toml --start-utc T --store sqlite:///centre.db

Measured (three 300 s runs of ``sim/scenarios/border-pair.toml``, 3.9-5.0 fps, README "Fusion"): by box
96.9-98.7 % one sighting, 92.7-97.8 % within the radius, 1.5-2.4 % wrong merges, whole tracks 99.0-99.8 %; the same
detections by position (``--by-position``): 72.5-82.7 %, 89.6-95.0 %, 18.5-28.1 %, 71.3-80.5 %.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import ValidationError

from centre.config import FusionSettings
from centre.fusion import distance_m
from centre.fusion_eval import replay
from centre.fusion_tracks import TrackKey
from centre.store import Store, open_store
from centre.store.rows import Detection
from edge.track.associate import compatible
from sim.eval_assoc import truth_boxes
from sim.scenario import Scenario, ScenarioError, for_vehicle, load_scenario
from sim.world import TargetTruth, World

PROG = "python -m sim.fleet_score"
RECEIVED = "received.jsonl"  # a fleet run's `edge listen` output: every detection as received, with its box


@dataclass(frozen=True)
class FleetScore:
    """Counts behind the two figures; ``detections`` matched a true target, ``unmatched`` did not (false alarms,
    other classes' targets, fixes farther than the gate); ``own_within`` = detections inside their own reported radius (the daemons')."""

    detections: int
    unmatched: int
    own_within: int
    pairs_seen_by_both: int
    pairs_one_sighting: int
    pairs_apart: int  # of those, the times the person was apart_m or more from every other target
    pairs_apart_one_sighting: int
    pairs_wrong_merge: int  # a person and another person seen at once by the other vehicle, put in one sighting
    pairs_tracks_agree: int  # of pairs_seen_by_both, those whose two tracks mostly followed that same person
    apart_m: float
    updates: int
    updates_within_radius: int
    people: int
    sightings: int
    stored_sightings: int
    labelled_by_box: int = 0  # stored detections with a fix (any class) whose truth came from their image box

    @property
    def one_sighting_pct(self) -> float:
        return 100.0 * self.pairs_one_sighting / max(1, self.pairs_seen_by_both)

    @property
    def whole_track_pct(self) -> float:
        """One sighting if each whole track were paired by the person it followed most: a reference for fusion by
        track (the rest are the daemons' identity swaps, and close people position labels mix up); fusion that
        re-pairs tracks as they swap can do better."""
        return 100.0 * self.pairs_tracks_agree / max(1, self.pairs_seen_by_both)

    @property
    def apart_one_sighting_pct(self) -> float:
        return 100.0 * self.pairs_apart_one_sighting / max(1, self.pairs_apart)

    @property
    def within_radius_pct(self) -> float:
        return 100.0 * self.updates_within_radius / max(1, self.updates)

    @property
    def wrong_merge_pct(self) -> float:
        return 100.0 * self.pairs_wrong_merge / max(1, self.pairs_one_sighting + self.pairs_wrong_merge)

    def as_dict(self) -> dict[str, float | int]:
        pcts = (
            "one_sighting_pct",
            "apart_one_sighting_pct",
            "within_radius_pct",
            "wrong_merge_pct",
            "whole_track_pct",
        )
        return {**asdict(self), **{k: getattr(self, k) for k in pcts}}

    def line(self) -> str:
        return (
            f"{self.pairs_seen_by_both} times a person was seen by two vehicles at once: "
            f"{self.one_sighting_pct:.1f} % one sighting ({self.apart_one_sighting_pct:.1f} % of the "
            f"{self.pairs_apart} when {self.apart_m:.0f} m or more from anyone else; {self.whole_track_pct:.1f} % if "
            f"each whole track were paired by the person it followed most), {self.pairs_wrong_merge} times two "
            f"different people were ({self.wrong_merge_pct:.1f} % of the pairs merged); {self.updates} sighting updates: "
            f"{self.within_radius_pct:.1f} % within their reported radius of the truth "
            f"({self.detections} detections of {self.people} people, "
            f"{100.0 * self.own_within / max(1, self.detections):.0f} % within their own radius, "
            f"{self.unmatched} unmatched, {self.labelled_by_box} labelled by box; {self.sightings} sightings, "
            f"{self.stored_sightings} stored)"
        )


DetKey = tuple[str, int, int, int]  # vehicle, boot, seq, index


def box_labels(
    scenario: Scenario, start_utc: float, received: Path, seed: int | None = None, gate: float = 0.03
) -> dict[DetKey, int] | None:
    """{detection: the true target id its box shows, -1 for none} from ``received`` (``edge listen`` JSON lines:
    vehicle, boot, seq, t_utc, class, bbox as fractions of the frame; a record's detections in order, so the n-th
    line of a record is its detection n); None when there is no such file. In each frame the detections' boxes and
    the true targets' boxes in that vehicle's camera are paired, centres nearest first, at most ``gate`` frame widths
    apart, classes compatible, one to one."""
    if not received.exists():
        return None
    worlds = {v.name: World(for_vehicle(scenario, v.name), seed=seed) for v in scenario.vehicles}
    frames: dict[tuple[str, int, int], list[dict[str, object]]] = {}
    for line in received.read_text().splitlines():
        d = json.loads(line) if line.startswith("{") else None
        if isinstance(d, dict) and "bbox" in d:
            frames.setdefault((str(d["vehicle"]), int(d["boot"]), int(d["seq"])), []).append(d)
    out: dict[DetKey, int] = {}
    for (vehicle, boot, seq), dets in frames.items():
        w = worlds.get(vehicle)
        if w is None:
            continue
        t = float(dets[0]["t_utc"]) - start_utc  # type: ignore[arg-type]
        boxes = truth_boxes(w, t)
        classes = {x.id: x.class_name for x in w.targets(t)}
        pairs = []
        for i, d in enumerate(dets):
            x1, y1, x2, y2 = (float(v) for v in d["bbox"])  # type: ignore[attr-defined]
            for tid, b in boxes.items():
                dist = math.hypot((x1 + x2 - b[0] - b[2]) / 2, (y1 + y2 - b[1] - b[3]) / 2)
                if dist <= gate and compatible(str(d["class"]), classes[tid]):
                    pairs.append((dist, i, tid))
        label = dict.fromkeys(range(len(dets)), -1)
        used: set[int] = set()
        for _, i, tid in sorted(pairs):
            if label[i] < 0 and tid not in used:
                label[i] = tid
                used.add(tid)
        out.update(((vehicle, boot, seq, i), tid) for i, tid in label.items())
    return out


def _labels(
    store: Store, world: World, start_utc: float, gate_m: float, by_box: dict[DetKey, int] | None = None
) -> tuple[dict[DetKey, tuple[TargetTruth, float]], int]:
    """Each detection's true target and distance (m), and how many were labelled by box: a frame (record) whose
    detections all have a label in ``by_box`` takes those; otherwise detection-target pairs nearest first, each
    target and detection used once (one camera's frame shows each object once), within ``gate_m``."""
    frames: dict[tuple[str, int, int], list[Detection]] = {}
    for d in store.detections(0.0, math.inf, limit=10_000_000):
        if d.lat is not None and d.lon is not None:
            frames.setdefault((d.vehicle, d.boot, d.seq), []).append(d)
    out: dict[DetKey, tuple[TargetTruth, float]] = {}
    n_box = 0
    for dets in frames.values():
        truths = world.targets(dets[0].t - start_utc)
        keys = [(d.vehicle, d.boot, d.seq, d.idx) for d in dets]
        if by_box is not None and all(k in by_box for k in keys):
            n_box += len(keys)
            by_id = {x.id: x for x in truths}
            for d, k in zip(dets, keys, strict=True):
                if (x := by_id.get(by_box[k])) is not None:
                    out[k] = (x, distance_m(d.lat, d.lon, x.lat, x.lon))  # type: ignore[arg-type]
            continue
        pairs = sorted(
            (distance_m(d.lat, d.lon, x.lat, x.lon), i, j)  # type: ignore[arg-type]
            for i, d in enumerate(dets)
            for j, x in enumerate(truths)
        )
        used_d: set[int] = set()
        used_t: set[int] = set()
        for dist, i, j in pairs:
            if dist > gate_m:
                break
            if i not in used_d and j not in used_t:
                used_d.add(i)
                used_t.add(j)
                d = dets[i]
                out[(d.vehicle, d.boot, d.seq, d.idx)] = (truths[j], dist)
    return out, n_box


def _apart_m(world: World, t: float, target: int) -> float:
    """Distance (m) from target ``target`` to the nearest other target at sim time t."""
    truths = world.targets(t)
    me = next(x for x in truths if x.id == target)
    return min((distance_m(me.lat, me.lon, x.lat, x.lon) for x in truths if x.id != target), default=math.inf)


def score(
    store: Store,
    world: World,
    start_utc: float,
    settings: FusionSettings | None = None,
    class_name: str = "person",
    gate_m: float = 15.0,
    at_once_s: float = 0.5,
    apart_m: float = 10.0,
    labels: dict[DetKey, int] | None = None,
) -> FleetScore:
    """Score ``store`` (fused with ``settings``, default the centre's) against ``world``, whose sim time 0 was
    ``start_utc`` (POSIX s). ``apart_m``: a person at least this far from every other target counts as apart too.
    ``labels``: true targets by box (``box_labels``); detections without one are matched by position."""
    # per (target, vehicle): detection times, the sighting each joined and its track, in time order
    seen: dict[tuple[int, str], list[tuple[float, str, TrackKey]]] = {}
    followed: dict[TrackKey, Counter[int]] = {}  # per track: how often it was each target
    detections = unmatched = own_within = updates = within = 0
    sighting_ids: set[str] = set()
    truth_of, n_box = _labels(store, world, start_utc, gate_m, labels)
    for d, s in replay(store, settings):
        sighting_ids.add(s.id)
        if d.class_name != class_name or d.lat is None or d.lon is None:
            continue
        truth, err = truth_of.get((d.vehicle, d.boot, d.seq, d.idx), (None, math.inf))
        if truth is None or truth.class_name != class_name:  # a false alarm, or another class's target
            unmatched += 1
            continue
        target, lat, lon = truth.id, truth.lat, truth.lon
        detections += 1
        own_within += d.error_m is not None and err <= d.error_m
        key = (d.vehicle, d.boot, d.camera, d.track)
        seen.setdefault((target, d.vehicle), []).append((d.t, s.id, key))
        followed.setdefault(key, Counter())[target] += 1
        updates += 1
        within += distance_m(s.lat, s.lon, lat, lon) <= s.error_m
    most = {k: c.most_common(1)[0][0] for k, c in followed.items()}
    pairs = one = alone = alone_one = wrong = agree = 0
    for theirs in seen.values():
        theirs.sort()
    for (target, vehicle), mine in seen.items():
        for (other_target, other), theirs in seen.items():
            if other <= vehicle:  # each pair of vehicles once
                continue
            times = [t for t, _, _ in theirs]
            for t, sid, key in mine:
                i = bisect.bisect_left(times, t)
                near = [j for j in (i - 1, i) if 0 <= j < len(times) and abs(times[j] - t) <= at_once_s]
                if not near:
                    continue
                _, their_sid, their_key = theirs[min(near, key=lambda k: abs(times[k] - t))]
                same = their_sid == sid
                if other_target != target:
                    wrong += same
                    continue
                pairs += 1
                one += same
                agree += most[key] == most[their_key]
                if _apart_m(world, t - start_utc, target) >= apart_m:
                    alone += 1
                    alone_one += same
    return FleetScore(
        detections=detections,
        unmatched=unmatched,
        own_within=own_within,
        pairs_seen_by_both=pairs,
        pairs_one_sighting=one,
        pairs_apart=alone,
        pairs_apart_one_sighting=alone_one,
        pairs_wrong_merge=wrong,
        pairs_tracks_agree=agree,
        apart_m=apart_m,
        updates=updates,
        updates_within_radius=within,
        people=len({t for t, _ in seen}),
        sightings=len(sighting_ids),
        stored_sightings=store.count("sightings"),
        labelled_by_box=n_box,
    )


def _recording(run_dir: Path) -> tuple[str, float, str]:
    """Scenario, start time and store URL of a ``sim.fleet_run`` workdir (its ``run.json``): the store is the
    folder's ``centre.sqlite`` when there is one (a copied recording), the scenario the repository's file of that
    name when the recorded path is gone."""
    run = json.loads((run_dir / "run.json").read_text())
    scenario = Path(run["scenario"])
    if not scenario.exists():
        scenario = Path(__file__).parent / "scenarios" / scenario.name
    db = run_dir / "centre.sqlite"
    return str(scenario), float(run["start_utc"]), f"sqlite:///{db.resolve()}" if db.exists() else run["store"]


def _settings(pairs: list[str]) -> FusionSettings:
    """The centre's [fusion] settings with ``KEY=VALUE`` overrides; ValueError names the bad one."""
    if bad := [kv for kv in pairs if "=" not in kv]:
        raise ValueError(f"--set {bad[0]}: expected KEY=VALUE")
    try:
        return FusionSettings.model_validate(dict(kv.split("=", 1) for kv in pairs))
    except ValidationError as err:
        e = err.errors()[0]
        raise ValueError(f"--set {'.'.join(str(x) for x in e['loc'])}: {e['msg']}") from None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=PROG, description="Score a centre store's fusion against a scenario's truth.")
    p.add_argument("--run", help="a sim.fleet_run workdir (its run.json names scenario, start time and store)")
    p.add_argument("--scenario", help="the scenario file the simulators ran")
    p.add_argument("--start-utc", type=float, help="the --start-utc every simulator was given")
    p.add_argument("--store", help="the centre's store.url (sqlite:///PATH or postgresql://...)")
    p.add_argument("--seed", type=int, help="the simulators' seed, if they were given --seed")
    p.add_argument("--gate-m", type=float, default=15.0, help="farther than this from any person: unmatched, m")
    p.add_argument("--by-position", action="store_true", help="label by position even when the run has its boxes")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a [fusion] setting to replay with")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    a = p.parse_args(argv)
    try:
        scenario, start_utc, url = _recording(Path(a.run)) if a.run else (a.scenario, a.start_utc, a.store)
        if scenario is None or start_utc is None or url is None:
            raise ValueError("give --run DIR, or --scenario, --start-utc and --store")
        settings = _settings(a.set)
        sc = load_scenario(scenario)
        world = World(sc, seed=a.seed)
        received = Path(a.run) / RECEIVED if a.run and not a.by_position else None
        labels = box_labels(sc, start_utc, received, a.seed) if received else None
        store = open_store(url)
    except (ScenarioError, ValueError, OSError, KeyError) as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 2
    try:
        result = score(store, world, start_utc, settings, gate_m=a.gate_m, labels=labels)
    finally:
        store.close()
    print(json.dumps(result.as_dict()) if a.json else result.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
