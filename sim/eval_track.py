"""Per-camera tracking quality against the simulator's truth, offline and load-independent.

Each camera of a scenario is rendered at fixed time steps (``--fps``: the daemon's rate under load, ~1-2 fps per
camera with two cameras on a loaded 2-core machine), sent through the stream's JPEG coding, detected by the daemon's
own detector (``OnnxDetector`` with the camera's settings from the demo's daemon config) and tracked by the daemon's
own tracker (``ByteTracker`` with the config's ``[tracker]``, ``--set`` keys over it). The tracks the ground side
hears of in a frame (its NEW and UPDATE events and the other confirmed tracks matched then, ``TrackEvents.seen``)
are paired with the true targets' boxes, nearest centres first, one to one, at most ``gate`` frame widths apart;
a track left over whose centre lies inside a paired target's box (grown by half) is a duplicate, any other a false
sighting. Per camera:

* ``started``: tracks the tracker started (tentative ones too); ``targets``: true targets some track was paired
  with; ``tracks_per_target``: distinct tracks paired with a target in one stretch of frames it stayed in view,
  over the stretches (1.0: never fragmented); ``id_switches``: times a target's track changed from one frame it was
  paired to the next while it stayed in view (one that left the camera's view and came back may rightly come back
  under a new track: the cross-camera association joins those on the ground);
* ``duplicate_frames``: frames x targets with a second track on the target; ``false_tracks``: confirmed tracks
  paired with no target in most of their frames; ``mixed_tracks``: tracks paired with more than one target (a track
  that jumped from one object to another: the association cannot tell them apart then); ``coverage``: share of the
  counted target-frames (at least
  ``--min-height`` px tall, half visible, half unoccluded) a track was paired with.

Detections can be saved once (``--save FILE``) and tracked again under other settings (``--load FILE``)::

    python -m sim.eval_track --scenario sim/scenarios/drone-border-pair.toml --fps 1 --save /tmp/dets.json
    python -m sim.eval_track --load /tmp/dets.json --set lost_after_s=4 --set tentative_max_age_s=3
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge.track.settings import TrackerSettings
from edge.track.tracker import ByteTracker
from edge.types import Detections, Frame

PROG = "python -m sim.eval_track"
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class FrameRecord:
    """One rendered frame of one camera: its time (s), size (px), detections and truth (boxes (G, 4) px,
    target ids (G,), counted (G,) bool)."""

    t: float
    width: int
    dets: Detections
    gt_boxes: F64
    gt_ids: npt.NDArray[np.int64]
    counted: npt.NDArray[np.bool_]

    def to_json(self) -> dict[str, Any]:
        d = self.dets
        return {
            "t": self.t,
            "width": self.width,
            "dets": np.column_stack([d.xyxy, d.score, d.class_id]).round(3).tolist(),
            "gt_boxes": self.gt_boxes.round(2).tolist(),
            "gt_ids": self.gt_ids.tolist(),
            "counted": self.counted.tolist(),
        }

    @classmethod
    def from_json(cls, j: dict[str, Any]) -> FrameRecord:
        a = np.asarray(j["dets"], np.float32).reshape(-1, 6)
        dets = Detections(a[:, :4], a[:, 4], a[:, 5].astype(np.int64)) if len(a) else Detections.empty()
        return cls(
            float(j["t"]),
            int(j["width"]),
            dets,
            np.asarray(j["gt_boxes"], np.float64).reshape(-1, 4),
            np.asarray(j["gt_ids"], np.int64),
            np.asarray(j["counted"], bool),
        )


@dataclass(frozen=True)
class TrackScore:
    """One camera's tracking against the truth (see the module doc)."""

    camera: str
    frames: int
    started: int
    tracks: int
    targets: int
    tracks_per_target: float
    id_switches: int
    duplicate_frames: int
    false_tracks: int
    false_frames: int
    mixed_tracks: int
    target_frames: int
    coverage: float

    def line(self) -> str:
        return (
            f"{self.camera}: {self.frames} frames, {self.started} tracks started, {self.tracks} confirmed on "
            f"{self.targets} targets ({self.tracks_per_target:.2f} per target in view, {self.id_switches} id "
            f"switches), {self.duplicate_frames} duplicate track-frames, {self.false_tracks} false tracks "
            f"({self.false_frames} frames), {self.mixed_tracks} tracks on more than one target; "
            f"{self.coverage:.1%} of {self.target_frames} counted target-frames tracked"
        )


def pair_frame(
    boxes: npt.NDArray[np.floating], gt: F64, width: int, gate: float
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Boxes (T, 4) against true boxes (G, 4), px: (T,) index of the target each is paired with (-1: none), and
    (T,) True where an unpaired box's centre lies inside a paired target's box grown by half (a duplicate).

    Pairs by distance of centres, nearest first, one to one, at most ``gate`` x ``width`` px apart."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    which = np.full(len(b), -1, np.int64)
    dup = np.zeros(len(b), bool)
    if not len(b) or not len(gt):
        return which, dup
    cb = (b[:, :2] + b[:, 2:]) / 2
    cg = (gt[:, :2] + gt[:, 2:]) / 2
    dist = np.hypot(*(cb[:, None, :] - cg[None, :, :]).transpose(2, 0, 1))
    used = np.zeros(len(gt), bool)
    for k in np.argsort(dist, axis=None, kind="stable"):
        i, j = divmod(int(k), len(gt))
        if dist[i, j] > gate * width:
            break
        if which[i] < 0 and not used[j]:
            which[i], used[j] = j, True
    half = (gt[:, 2:] - gt[:, :2]) * 0.75  # the box grown by half: 0.75 of its size either side of the centre
    inside = np.all(np.abs(cb[:, None, :] - cg[None, :, :]) <= half[None, :, :], axis=2)  # (T, G)
    dup = (which < 0) & (inside & used[None, :]).any(axis=1)
    return which, dup


def score_camera(camera: str, records: Iterable[FrameRecord], tracker: ByteTracker, gate: float = 0.03) -> TrackScore:
    """Track ``records`` (in time order) with ``tracker`` and score what it reported against the truth."""
    stretch: dict[int, int] = {}  # target id -> its current stretch in view (stretch number)
    last_frame: dict[int, int] = {}  # target id -> the last frame it was in view
    paired_to: dict[tuple[int, int], list[int]] = defaultdict(list)  # (target, stretch) -> its track in each frame
    track_votes: dict[int, Counter[str]] = defaultdict(Counter)  # track -> paired / duplicate / false frames
    track_targets: dict[int, set[int]] = defaultdict(set)  # track -> the targets it was paired with
    dup_frames = false_frames = target_frames = covered = frames = 0
    for r in records:
        ev = tracker.update(r.dets, r.t)
        boxes = np.concatenate([ev.dets.xyxy, ev.seen.xyxy]) if len(ev.seen) else ev.dets.xyxy
        ids = np.concatenate([ev.dets.track_id, ev.seen.track_id]) if len(ev.seen) else ev.dets.track_id
        live = ev.kinds != 2 if len(ev.kinds) else np.zeros(0, bool)  # LOST (2) is no sighting
        live = np.concatenate([live, np.ones(len(ev.seen), bool)])
        boxes, ids = boxes[live], ids[live]
        which, dup = pair_frame(boxes, r.gt_boxes, r.width, gate)
        hit = np.zeros(len(r.gt_ids), bool)
        for g in r.gt_ids.tolist():
            if last_frame.get(g) != frames - 1:  # (back) in view: a new stretch
                stretch[g] = stretch.get(g, -1) + 1
            last_frame[g] = frames
        for tid, j, d in zip(ids.tolist(), which.tolist(), dup.tolist(), strict=True):
            if j >= 0:
                g = int(r.gt_ids[j])
                paired_to[(g, stretch[g])].append(tid)
                track_votes[tid]["paired"] += 1
                track_targets[tid].add(g)
                hit[j] = True
            else:
                track_votes[tid]["duplicate" if d else "false"] += 1
        dup_frames += int(dup.sum())
        false_frames += int((~dup & (which < 0)).sum())
        target_frames += int(r.counted.sum())
        covered += int((hit & r.counted).sum())
        frames += 1
    switches = sum(sum(a != b for a, b in itertools.pairwise(seq)) for seq in paired_to.values())
    per_target = [len(set(seq)) for seq in paired_to.values()]
    false_tracks = sum(1 for v in track_votes.values() if v["false"] > v["paired"] + v["duplicate"])
    return TrackScore(
        camera,
        frames,
        tracker.started,
        len(track_votes),
        len({g for g, _ in paired_to}),
        float(np.mean(per_target)) if per_target else math.nan,
        switches,
        dup_frames,
        false_tracks,
        false_frames,
        sum(1 for v in track_targets.values() if len(v) > 1),
        target_frames,
        covered / target_frames if target_frames else math.nan,
    )


def render_camera(
    scenario: str, camera: str, fps: float, seed: int | None = None, min_height: float = 8.0
) -> list[FrameRecord]:
    """Frames of ``camera`` of ``scenario`` every 1/``fps`` s over its duration, through JPEG, detected with the
    demo daemon's settings for that camera."""
    from edge.cameras import camera_setups
    from edge.config import load_config
    from edge.detect.engine import OnnxDetector
    from sim.demo import daemon_config
    from sim.model_eval import counted_targets
    from sim.render import Renderer, RenderOptions
    from sim.scenario import load_scenario
    from sim.stream import encode_jpeg
    from sim.world import World

    sc = load_scenario(scenario)
    world = World(sc, seed=seed)
    cam_world = next((w for w in world.cameras() if w.camera_id == camera), None)
    if cam_world is None:
        raise SystemExit(f"{PROG}: {scenario} has no camera {camera!r}")
    with tempfile.TemporaryDirectory() as tmp:
        urls = {c.id: f"http://127.0.0.1:9/{c.id}.mjpg" for c in sc.cameras}
        path = daemon_config(Path(tmp), scenario, {"cameras": urls, "camera": "http://127.0.0.1:9/"}, 1883, 14550, None)
        setups = {s.camera.id: s for s in camera_setups(load_config(path, check_files=False))}
    setup = setups.get(camera) or next(iter(setups.values()))
    detector = OnnxDetector(setup.detector)
    entry = next((c for c in sc.cameras if c.id == camera), None)
    renderer = Renderer(cam_world, options=RenderOptions(brightness=entry.brightness) if entry else None)
    out = []
    for i in range(int(sc.duration_s * fps)):
        t = i / fps
        image, gt = renderer.render(t)
        jpeg = np.frombuffer(encode_jpeg(image), np.uint8)
        decoded = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
        assert decoded is not None  # our own JPEG
        dets = detector.detect(Frame(decoded, t, t, i, camera))
        counted = counted_targets(gt.boxes, gt.visible_frac, gt.occluded, min_height)
        out.append(FrameRecord(t, decoded.shape[1], dets, gt.boxes, gt.target_ids, counted))
    return out


def settings_with(base: TrackerSettings, pairs: list[str]) -> TrackerSettings:
    """``base`` with ``key=value`` pairs over it (validated as the config would)."""
    data: dict[str, Any] = base.model_dump()
    for p in pairs:
        key, _, value = p.partition("=")
        if key not in data:
            raise SystemExit(f"{PROG}: --set {p}: no tracker key {key!r}")
        data[key] = json.loads(value)
    return TrackerSettings(**data)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", help="scenario TOML with one or more cameras")
    p.add_argument("--fps", type=float, default=1.0, help="frames per second per camera (default 1: under load)")
    p.add_argument("--seed", type=int, default=None, help="world seed (default: the scenario's)")
    p.add_argument("--save", help="write the frames' detections and truth to this JSON file")
    p.add_argument("--load", help="track the frames of a --save file instead of rendering")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a [tracker] key over the config")
    p.add_argument("--json", action="store_true", help="one JSON object per camera")
    a = p.parse_args(argv)
    if a.load:
        try:
            data = json.loads(Path(a.load).read_text())
        except (OSError, ValueError) as err:
            print(f"{PROG}: {a.load}: {err}", file=sys.stderr)
            return 2
        frames = {cam: [FrameRecord.from_json(f) for f in fs] for cam, fs in data.items()}
    elif a.scenario:
        from sim.scenario import ScenarioError, load_scenario

        try:
            sc = load_scenario(a.scenario)
        except ScenarioError as err:
            print(f"{PROG}: {err}", file=sys.stderr)
            return 2
        frames = {c: render_camera(a.scenario, c, a.fps, a.seed) for c in [c.id for c in sc.cameras] or ["cam0"]}
        if a.save:
            Path(a.save).write_text(json.dumps({c: [f.to_json() for f in fs] for c, fs in frames.items()}))
    else:
        p.error("give --scenario or --load")
    settings = settings_with(TrackerSettings(), a.set)
    for cam, fs in frames.items():
        result = score_camera(cam, fs, ByteTracker(settings, report_seen=True))
        print(json.dumps(asdict(result)) if a.json else result.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
