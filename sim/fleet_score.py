"""How well the centre fuses a fleet's detections: a centre store scored against the simulator's truth.

Several vehicles of one scenario (``[[vehicles]]``, each an ``edge sim --vehicle NAME --start-utc T`` feeding its own
``edge run``) publish to the centre; ``edge-centre`` stores and fuses what they see. This replays the fusion over the
stored detections exactly as ``edge-centre serve`` ran it (``centre.fusion_eval.replay``: by id, the same rule) and
matches each detection to a true target at the same sim time (``t_utc - T``): within each frame (one record),
detection-target pairs nearest first, each used once, within ``gate_m`` (as multi-object tracking benchmarks
match); a detection of ``class_name`` matched to no target, or to one of another class, is unmatched. Two figures, as in the issue's goals:

- ``one_sighting_pct``: of the times a person was seen by two vehicles at once (a detection of that person by one
  vehicle and the other vehicle's detection of the same person nearest in time, at most ``at_once_s`` apart), the
  share whose two detections were put in one sighting;
- ``within_radius_pct``: of the sighting updates those detections made, the share whose fused position lies within
  the sighting's reported 90 % radius of the true person (at the detection's time).

And the cost of merging: ``wrong_merge_pct``, of the pairs put in one sighting (a detection by one vehicle and the
other vehicle's detection nearest in time, at most ``at_once_s`` apart, of the same person or of another one), the
share that were two different people.

Command line, after a run (``python -m sim.fleet_run`` prints the same)::

    python -m sim.fleet_score --scenario sim/scenarios/border-pair.toml --start-utc T --store sqlite:///centre.db
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import sys
from dataclasses import asdict, dataclass

from centre.config import FusionSettings
from centre.fusion import distance_m
from centre.fusion_eval import replay
from centre.store import Store, open_store
from centre.store.rows import Detection
from sim.scenario import ScenarioError, load_scenario
from sim.world import TargetTruth, World

PROG = "python -m sim.fleet_score"


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
    apart_m: float
    updates: int
    updates_within_radius: int
    people: int
    sightings: int
    stored_sightings: int

    @property
    def one_sighting_pct(self) -> float:
        return 100.0 * self.pairs_one_sighting / max(1, self.pairs_seen_by_both)

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
        pcts = ("one_sighting_pct", "apart_one_sighting_pct", "within_radius_pct", "wrong_merge_pct")
        return {**asdict(self), **{k: getattr(self, k) for k in pcts}}

    def line(self) -> str:
        return (
            f"{self.pairs_seen_by_both} times a person was seen by two vehicles at once: "
            f"{self.one_sighting_pct:.1f} % one sighting ({self.apart_one_sighting_pct:.1f} % of the "
            f"{self.pairs_apart} when {self.apart_m:.0f} m or more from anyone else), {self.pairs_wrong_merge} times two "
            f"different people were ({self.wrong_merge_pct:.1f} % of the pairs merged); {self.updates} sighting updates: "
            f"{self.within_radius_pct:.1f} % within their reported radius of the truth "
            f"({self.detections} detections of {self.people} people, "
            f"{100.0 * self.own_within / max(1, self.detections):.0f} % within their own radius, "
            f"{self.unmatched} unmatched; {self.sightings} sightings, {self.stored_sightings} stored)"
        )


DetKey = tuple[str, int, int, int]  # vehicle, boot, seq, index


def _labels(store: Store, world: World, start_utc: float, gate_m: float) -> dict[DetKey, tuple[TargetTruth, float]]:
    """Each detection's true target and distance (m): within each frame (record), detection-target pairs nearest
    first, each target and detection used once (one camera's frame shows each object once), within ``gate_m``."""
    frames: dict[tuple[str, int, int], list[Detection]] = {}
    for d in store.detections(0.0, math.inf, limit=10_000_000):
        if d.lat is not None and d.lon is not None:
            frames.setdefault((d.vehicle, d.boot, d.seq), []).append(d)
    out: dict[DetKey, tuple[TargetTruth, float]] = {}
    for dets in frames.values():
        truths = world.targets(dets[0].t - start_utc)
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
    return out


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
) -> FleetScore:
    """Score ``store`` (fused with ``settings``, default the centre's) against ``world``, whose sim time 0 was
    ``start_utc`` (POSIX s). ``apart_m``: a person at least this far from every other target counts as apart too."""
    # per (target, vehicle): detection times and the sighting each joined, in time order
    seen: dict[tuple[int, str], list[tuple[float, str]]] = {}  # (target, vehicle): (time, sighting id)
    detections = unmatched = own_within = updates = within = 0
    sighting_ids: set[str] = set()
    labels = _labels(store, world, start_utc, gate_m)
    for d, s in replay(store, settings):
        sighting_ids.add(s.id)
        if d.class_name != class_name or d.lat is None or d.lon is None:
            continue
        truth, err = labels.get((d.vehicle, d.boot, d.seq, d.idx), (None, math.inf))
        if truth is None or truth.class_name != class_name:  # a false alarm, or another class's target
            unmatched += 1
            continue
        target, lat, lon = truth.id, truth.lat, truth.lon
        detections += 1
        own_within += d.error_m is not None and err <= d.error_m
        seen.setdefault((target, d.vehicle), []).append((d.t, s.id))
        updates += 1
        within += distance_m(s.lat, s.lon, lat, lon) <= s.error_m
    pairs = one = alone = alone_one = wrong = 0
    for theirs in seen.values():
        theirs.sort()
    for (target, vehicle), mine in seen.items():
        for (other_target, other), theirs in seen.items():
            if other <= vehicle:  # each pair of vehicles once
                continue
            times = [t for t, _ in theirs]
            for t, sid in mine:
                i = bisect.bisect_left(times, t)
                near = [j for j in (i - 1, i) if 0 <= j < len(times) and abs(times[j] - t) <= at_once_s]
                if not near:
                    continue
                same = theirs[min(near, key=lambda k: abs(times[k] - t))][1] == sid
                if other_target != target:
                    wrong += same
                    continue
                pairs += 1
                one += same
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
        apart_m=apart_m,
        updates=updates,
        updates_within_radius=within,
        people=len({t for t, _ in seen}),
        sightings=len(sighting_ids),
        stored_sightings=store.count("sightings"),
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=PROG, description="Score a centre store's fusion against a scenario's truth.")
    p.add_argument("--scenario", required=True, help="the scenario file the simulators ran")
    p.add_argument("--start-utc", type=float, required=True, help="the --start-utc every simulator was given")
    p.add_argument("--store", required=True, help="the centre's store.url (sqlite:///PATH or postgresql://...)")
    p.add_argument("--seed", type=int, help="the simulators' seed, if they were given --seed")
    p.add_argument("--gate-m", type=float, default=15.0, help="farther than this from any person: unmatched, m")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    a = p.parse_args(argv)
    try:
        world = World(load_scenario(a.scenario), seed=a.seed)
        store = open_store(a.store)
    except (ScenarioError, ValueError, OSError) as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 2
    try:
        result = score(store, world, a.start_utc, gate_m=a.gate_m)
    finally:
        store.close()
    print(json.dumps(result.as_dict()) if a.json else result.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
