"""How well the daemon's cross-camera association did: received detections of several cameras against the truth.

Each detection ``edge listen`` printed (``t_utc``, ``camera``, ``track``, ``class``, ``bbox``, ``lat``, ``lon``,
``error_m`` and, when its track is joined, ``object``) is given the true target it shows: in each frame (camera,
time) its box is paired with the boxes of the true targets in that camera's view (``identities``); a track then
takes the target most of its detections were paired with, so one stray box does not relabel it.

Then, for each detection and each track of another camera alive at its time (between its first and last
detection, ``dt_s`` either side), the pair (the detection, that track's newest detection then: what the ground side
knew of it; a detection sent again with a new object id counts once, and is that track's newest from then on)
is counted (the moments):

* same target: ``shared`` = share of pairs that carry one object id;
* two targets nearer than the larger of the two error radii (``close_m`` if given), distinct objects the
  position alone cannot tell apart: ``merged`` = share of pairs that carry one object id (the goal: <= 5 %).

``--by-box`` (``score(by_box=True)``) takes each detection's target from its own box in its frame instead (its
track's where the box matched none): a track that moved from one person to another counts, after the move, as
the person it shows, with whatever object id it then carries.

Per object: ``shared_any`` = share of the detections of a target that another camera's track of it was alive for
that carry the object id of one of those tracks (the ground shows it as one object then; the goal: >= 95 %). A
tracker that splits one object into two overlapping tracks of one camera leaves one of them out of the object
(one track per camera), which ``shared`` (each pair) counts against it and ``shared_any`` does not.
``objects_shared``: share of the pairs of tracks of two cameras on one target that lived at once and ever carried
one object id.

Command line, for a run of a scenario with several cameras (``make demo``, tests)::

    python -m sim.eval_assoc --scenario sim/scenarios/mss-ridge-pair.toml --t0-utc T received.jsonl [--json]
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import math
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.geo.wgs84 import LocalNed
from edge.track.associate import compatible
from sim.live_score import _read_lines
from sim.render_camera import Intrinsics, r_cam_to_ned
from sim.render_targets import box_of
from sim.scenario import ScenarioError, load_scenario
from sim.world import TargetTruth, World

PROG = "python -m sim.eval_assoc"


@dataclass(frozen=True)
class AssocScore:
    """By truth. Objects: pairs of tracks of two cameras on one target alive at once (``track_pairs``) and how many
    of them carried one object id while both lived (``track_pairs_joined``). Moments: pairs of a detection and
    another camera's track alive then, on the same target / on two targets nearer than the error radii, and how
    many of each carry one object id. ``cameras``: detections per camera; ``unmatched``: detections of no target."""

    cameras: dict[str, int]
    unmatched: int
    same_pairs: int
    same_shared: int
    close_pairs: int
    close_merged: int
    targets_both: int  # true targets seen by two cameras at once
    track_pairs: int = 0
    track_pairs_joined: int = 0
    seen_both: int = 0  # detections of a target another camera's track of it was alive at
    seen_both_shared: int = 0  # ... which carried the object id of one of those tracks

    @property
    def shared_any(self) -> float:
        """Share of the detections of an object another camera saw at once that carry the object id of one of that
        camera's tracks of it (the ground shows it as one object; the goal: >= 95 %)."""
        return self.seen_both_shared / self.seen_both if self.seen_both else math.nan

    @property
    def objects_shared(self) -> float:
        """Share of the objects seen by two cameras at once that carried one object id (the goal: >= 95 %)."""
        return self.track_pairs_joined / self.track_pairs if self.track_pairs else math.nan

    @property
    def shared(self) -> float:
        """Share of the moments two cameras saw one object when both its detections carried one id."""
        return self.same_shared / self.same_pairs if self.same_pairs else math.nan

    @property
    def merged(self) -> float:
        """Share of the moments two close distinct objects seen by two cameras carried one id (the goal: <= 5 %)."""
        return self.close_merged / self.close_pairs if self.close_pairs else math.nan

    def line(self) -> str:
        cams = ", ".join(f"{k} {v}" for k, v in sorted(self.cameras.items()))
        return (
            f"association: {self.shared_any:.1%} of {self.seen_both} detections of objects two cameras saw at once "
            f"({self.targets_both} targets) carried one object id with the other camera; {self.objects_shared:.1%} of "
            f"{self.track_pairs} pairs of tracks on one object ever did, {self.shared:.1%} of {self.same_pairs} "
            f"pairs of a detection and such a track; {self.merged:.1%} of {self.close_pairs} moments two targets "
            f"nearer than their error radii were seen merged; detections {cams}, {self.unmatched} unmatched"
        )

    def as_json(self) -> dict[str, Any]:
        d: dict[str, Any] = asdict(self)
        d["shared_any"] = None if math.isnan(self.shared_any) else self.shared_any
        d["objects_shared"] = None if math.isnan(self.objects_shared) else self.objects_shared
        d["shared"] = None if math.isnan(self.shared) else self.shared
        d["merged"] = None if math.isnan(self.merged) else self.merged
        return d


def _ne(frame: LocalNed, lat: float, lon: float) -> tuple[float, float]:
    n, e, _ = frame.to_ned(lat, lon, 0.0)
    return float(n), float(e)


def truth_boxes(world: World, t: float) -> dict[int, npt.NDArray[np.float64]]:
    """{target id: box (4,) x1 y1 x2 y2 as fractions of the frame} of the targets in ``world``'s camera view at sim
    time ``t`` (s), as the renderer draws them (a day camera does not see ``thermal_only`` targets)."""
    cam_spec = world.camera
    k = Intrinsics.from_hfov(cam_spec.width, cam_spec.height, cam_spec.hfov_deg)
    pose = world.platform(t)
    cam = np.array(world.frame.to_ned(pose.lat, pose.lon, pose.alt), np.float64)
    r_cn = r_cam_to_ned(pose)
    scale = np.array([k.width, k.height, k.width, k.height], np.float64)
    out = {}
    for tt in world.targets(t):
        if tt.thermal_only and cam_spec.mode != "thermal":
            continue
        hit = box_of(tt, np.array(world.frame.to_ned(tt.lat, tt.lon, tt.alt), np.float64), cam, r_cn, k)
        if hit is not None:
            box = np.clip(hit[0] / scale, 0.0, 1.0)
            if box[2] > box[0] and box[3] > box[1]:
                out[tt.id] = box
    return out


def identities(
    world: World, t0_utc: float, detections: list[Mapping[str, Any]], gate: float
) -> tuple[dict[tuple[str, int], int], int, dict[int, int]]:
    """{(camera, track): true target id}, how many detections matched no target, and {index into ``detections``:
    the true target its box was paired with} (the detections that were).

    In each frame a detection's box is paired with the true targets' boxes in that camera's view (class compatible,
    centres at most ``gate`` frame widths apart, nearest first, one to one); a track takes the target most of its
    detections were paired with. Boxes, not positions: two people 3 m apart are 15 px apart in the image even when
    their fixes are 30 m off."""
    worlds = {w.camera_id: w for w in world.cameras()}
    frames: dict[tuple[str, float], list[Mapping[str, Any]]] = defaultdict(list)
    for d in detections:
        frames[(str(d["camera"]), float(d["t_utc"]))].append(d)
    votes: dict[tuple[str, int], Counter[int]] = defaultdict(Counter)
    unmatched = 0
    index = {id(d): i for i, d in enumerate(detections)}
    boxed: dict[int, int] = {}
    for (cam, t_utc), dets in frames.items():
        w = worlds.get(cam, world)
        boxes = truth_boxes(w, t_utc - t0_utc)
        classes = {tt.id: tt.class_name for tt in w.targets(t_utc - t0_utc)}
        pairs = []
        for i, d in enumerate(dets):
            x1, y1, x2, y2 = (float(v) for v in d["bbox"])
            for tid, box in boxes.items():
                dist = math.hypot((x1 + x2 - box[0] - box[2]) / 2, (y1 + y2 - box[1] - box[3]) / 2)
                if dist <= gate and compatible(str(d["class"]), classes[tid]):
                    pairs.append((dist, i, tid))
        pairs.sort()
        used_d: set[int] = set()
        used_t: set[int] = set()
        for _, i, tid in pairs:
            if i not in used_d and tid not in used_t:
                used_d.add(i)
                used_t.add(tid)
                votes[(cam, int(dets[i]["track"]))][tid] += 1
                boxed[index[id(dets[i])]] = tid
        unmatched += len(dets) - len(used_d)
    return {k: c.most_common(1)[0][0] for k, c in votes.items()}, unmatched, boxed


def score(
    world: World,
    t0_utc: float,
    detections: Iterable[Mapping[str, Any]],
    dt_s: float = 0.15,
    gate: float = 0.03,
    close_m: float | None = None,
    by_box: bool = False,
) -> AssocScore:
    """Score receiver JSON objects (see the module doc); ones without a fix are left out. ``by_box``: a detection's
    target is the one its own box showed in its frame (its track's where its box matched none), not its track's."""
    dets = [d for d in detections if d.get("lat") is not None and d.get("lon") is not None]

    # a detection sent again (the association's rule 4: a new object id for a track's newest event) is what the
    # ground knew of that track from then on, not another detection: counted once, as first sent
    def sent(d: Mapping[str, Any]) -> tuple[str, int, float]:  # one detection: camera, track, time
        return str(d["camera"]), int(d["track"]), float(d["t_utc"])

    first: dict[tuple[str, int, float], Mapping[str, Any]] = {}
    for d in dets:
        first.setdefault(sent(d), d)
    once = list(first.values())
    ident, unmatched, boxed = identities(world, t0_utc, once, gate)
    label = {id(d): boxed.get(i, ident.get((str(d["camera"]), int(d["track"])), -1)) for i, d in enumerate(once)}
    if not by_box:
        label = {id(d): ident.get((str(d["camera"]), int(d["track"])), -1) for d in once}
    for d in dets:
        label.setdefault(id(d), label[id(first[sent(d)])])
    by_track: dict[tuple[str, int], list[Mapping[str, Any]]] = defaultdict(list)
    for d in dets:
        by_track[(str(d["camera"]), int(d["track"]))].append(d)
    for evs in by_track.values():
        evs.sort(key=lambda d: float(d["t_utc"]))
    times = {k: [float(d["t_utc"]) for d in evs] for k, evs in by_track.items()}
    truth_at: dict[float, dict[int, TargetTruth]] = {}
    same = same_shared = close = close_merged = 0
    both: set[int] = set()
    seen = seen_shared = 0
    for d in once:
        key_a = (str(d["camera"]), int(d["track"]))
        if key_a not in ident:
            continue
        t = float(d["t_utc"])
        seen_here = shared_here = False
        for key_b, evs in by_track.items():
            tb = times[key_b]
            if key_b[0] == key_a[0] or key_b not in ident or not tb[0] - dt_s <= t <= tb[-1] + dt_s:
                continue  # another camera's track alive at t only
            e = evs[max(0, bisect.bisect_right(tb, t + dt_s) - 1)]  # what the ground knew of it at t
            one = d.get("object") is not None and d.get("object") == e.get("object")
            if label[id(d)] == label[id(e)]:
                same += 1
                same_shared += one
                both.add(label[id(d)])
                seen_here, shared_here = True, shared_here or one
                continue
            if t not in truth_at:
                truth_at[t] = {tt.id: tt for tt in world.targets(t - t0_utc)}
            ta, tt_b = truth_at[t][label[id(d)]], truth_at[t][label[id(e)]]
            gap = math.hypot(*_ne(LocalNed(ta.lat, ta.lon, 0.0), tt_b.lat, tt_b.lon))
            radius = close_m if close_m is not None else max(float(d.get("error_m") or 0), float(e.get("error_m") or 0))
            if gap < radius:
                close += 1
                close_merged += one
        seen += seen_here
        seen_shared += shared_here
    cameras = Counter(str(d["camera"]) for d in once)
    pairs = joined = 0
    for key_a, key_b in itertools.combinations(sorted(k for k in by_track if k in ident), 2):
        if key_a[0] == key_b[0] or ident[key_a] != ident[key_b]:
            continue
        start = max(times[key_a][0], times[key_b][0]) - dt_s
        end = min(times[key_a][-1], times[key_b][-1]) + dt_s
        if start > end:
            continue  # never alive at once
        pairs += 1
        objs = [{d.get("object") for d in by_track[k] if start <= float(d["t_utc"]) <= end} for k in (key_a, key_b)]
        joined += bool((objs[0] & objs[1]) - {None})
    return AssocScore(
        dict(cameras), unmatched, same, same_shared, close, close_merged, len(both), pairs, joined, seen, seen_shared
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=PROG, description="Score cross-camera association against a scenario's truth.")
    p.add_argument("received", help="`edge listen` JSON lines (one detection each), or - for stdin")
    p.add_argument("--scenario", required=True, help="the scenario file the simulator ran")
    p.add_argument("--t0-utc", type=float, required=True, help="POSIX time of sim time 0 (`edge sim --status-json`)")
    p.add_argument("--seed", type=int, help="the simulator's seed, if it was overridden")
    p.add_argument("--dt-s", type=float, default=0.15, help="two cameras' detections at most this far apart, s")
    p.add_argument(
        "--gate", type=float, default=0.03, help="box centre this far from any target's: unmatched, frame widths"
    )
    p.add_argument(
        "--by-box", action="store_true", help="a detection's target is what its own box showed (not its track's)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    a = p.parse_args(argv)
    try:
        world = World(load_scenario(a.scenario), seed=a.seed)
        detections = _read_lines(a.received)
    except (ScenarioError, OSError) as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 2
    result = score(world, a.t0_utc, detections, a.dt_s, a.gate, by_box=a.by_box)
    print(json.dumps(result.as_json()) if a.json else result.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
