"""Cross-camera association offline: a scenario's cameras in fixed time steps, scored against the truth.

``python -m sim.assoc_offline --scenario sim/scenarios/drone-border-pair.toml [--seconds 120] [--fps F]
[--camera-fps ID=F ...] [--apart S] [--late ID=S ...] [--reorder-max S] [--by-box] [--json]``

The live demo (``make demo``) runs the cameras on the wall clock: on a loaded machine each camera gets ~1 fps and
the figures move with the load. Here every camera's frame is rendered at each tick of its own rate (the scenario's
``fps``, or ``--fps``, or per camera ``--camera-fps``: live, a two-camera mast on this machine runs its thermal
camera, first in the queue, at twice its day camera's rate) in sim time, JPEG-encoded and decoded as the stream
does, and goes through the daemon's real stages in order: the detector (onnxruntime, the daemon's own settings for that camera), its camera's ByteTracker,
its GroundGeolocator, then the one Associator of the cameras. The pose is the camera's true pose with the
scenario's noise as the simulated autopilot draws it (GPS and attitude errors as Gauss-Markov processes), shared
by the cameras of the platform (one GPS, one gimbal). The daemon never takes two cameras' frames at once (each has
its own clock): ``--apart S`` takes each camera's frames S seconds after the previous camera's; ``--late ID=S``
hands a camera's frames to the associator S seconds after their capture (live, a slower pipeline's frames come
after newer ones of the other camera; the associator's capture-order wait, ``--reorder-max``, puts them back in
order). The events the
associator hands on are scored with ``sim.eval_assoc.score`` (``--by-box``: each detection is the target its own
box shows). Same scenario, seed, rate and phase: the same figures, whatever the load.
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.cameras import camera_setups
from edge.config import Config, load_config
from edge.detect.engine import OnnxDetector
from edge.detect.shared import SharedModels
from edge.geo.locator import GroundGeolocator
from edge.geo.settings import GeoSettings
from edge.geo.wgs84 import LocalNed
from edge.track.associate import Associator
from edge.track.settings import AssociationSettings
from edge.track.tracker import ByteTracker
from edge.types import Frame, FrameEvents, Pose
from sim.autopilot import GaussMarkov
from sim.daemon_config import scenario_sections
from sim.demo import daemon_config
from sim.eval_assoc import AssocScore, score
from sim.render import Renderer, RenderOptions
from sim.scenario import ScenarioError, load_scenario
from sim.stream import encode_jpeg
from sim.world import World

PROG = "python -m sim.assoc_offline"
T0_UTC = 1_780_000_000.0  # POSIX time of sim time 0 (any: nothing here reads the wall clock)


class _Collect:
    """The sink after the associator: the events as ``edge listen`` prints them (the keys the score reads)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def submit(self, batch: FrameEvents) -> None:
        for ev in batch.events:
            row = {"t_utc": batch.t_utc, "camera": batch.camera_id, "track": ev.track_id, "class": ev.class_name}
            row |= {"bbox": list(ev.bbox_norm), "lat": ev.lat, "lon": ev.lon, "error_m": ev.error_m}
            if ev.object_id is not None:
                row["object"] = ev.object_id
            self.rows.append(row)


class _Noise:
    """The platform's telemetry errors at sim time t, as the simulated autopilot draws them (one for all cameras)."""

    def __init__(self, world: World) -> None:
        nz = world.scenario.noise
        rng = np.random.default_rng(world.seed + 1000 + nz.seed_offset)
        self.gps = GaussMarkov(rng, nz.gps_m, nz.gps_tau_s, 2)
        self.alt = GaussMarkov(rng, nz.alt_m, nz.gps_tau_s, 1)
        self.att = GaussMarkov(rng, math.radians(nz.att_deg), 5.0, 3)
        self.sigmas = (nz.gps_m, nz.alt_m, math.radians(nz.att_deg))
        self._at: dict[float, tuple[Any, Any, Any]] = {}

    def at(self, t: float) -> tuple[Any, Any, Any]:
        """(north, east) m, (alt,) m, (roll, pitch, yaw) rad at ``t`` (s; asked in time order per tick)."""
        if t not in self._at:
            self._at = {t: (self.gps.at(t), self.alt.at(t), self.att.at(t))}
        return self._at[t]

    def pose(self, true: Pose, t: float) -> Pose:
        """``true`` (a camera's true pose) with the errors at ``t`` and their sigmas in its error fields."""
        (dn, de), (da,), att = self.at(t)
        lat, lon, alt = LocalNed(true.lat, true.lon, true.alt).to_geodetic(dn, de, da)
        gps_m, alt_m, att_rad = self.sigmas
        return replace(
            true,
            lat=float(lat),
            lon=float(lon),
            alt=float(alt),
            cam_roll=true.cam_roll + float(att[0]),
            cam_pitch=true.cam_pitch + float(att[1]),
            cam_yaw=true.cam_yaw + float(att[2]),
            pos_err_m=gps_m,
            alt_err_m=alt_m,
            att_err_rad=att_rad,
        )


@dataclass
class _Camera:
    world: World
    renderer: Renderer
    detector: OnnxDetector
    tracker: ByteTracker
    geo: GroundGeolocator
    fps: float
    seq: int = 0


def daemon_cfg(scenario: str, tracker: dict[str, Any] | None) -> Config:
    """The daemon config the demo would run this scenario with (``tracker``: [tracker] keys over it)."""
    sc = load_scenario(scenario)
    with tempfile.TemporaryDirectory(prefix="assoc-offline-") as tmp:
        status = {"camera": "http://127.0.0.1:1/", "cameras": {c.id: f"http://127.0.0.1:1/{c.id}" for c in sc.cameras}}
        path = daemon_config(Path(tmp), scenario, status, 1883, 14550, None, extra={"tracker": tracker or {}})
        return load_config(path)


def _cameras(world: World, cfg: Config, fps: float | None, rates: dict[str, float]) -> list[_Camera]:
    models = SharedModels()
    out = []
    setups = {c.camera.id: c for c in camera_setups(cfg)}
    for w in world.cameras():
        setup = setups[w.camera_id]
        entry = next(c for c in world.scenario.cameras if c.id == w.camera_id)
        # the pose fed here is the camera's own (its offset and angles): no mount or lever arm on top
        geo = {k: v for k, v in scenario_sections(w.scenario)["geo"].items() if not k.startswith("mount_")}
        out.append(
            _Camera(
                w,
                Renderer(w, options=RenderOptions(brightness=entry.brightness)),
                OnnxDetector(setup.detector, models),
                ByteTracker(cfg.tracker, report_seen=True),
                GroundGeolocator(GeoSettings(**geo)),
                rates.get(w.camera_id) or fps or w.camera.fps,
            )
        )
    return out


def _ticks(cams: list[_Camera], seconds: float, apart: float = 0.0) -> Iterator[tuple[float, _Camera]]:
    """(sim time, camera) of every frame in time order: the i-th camera's frames at k / fps + i * ``apart`` (s)."""
    ticks = [(k / c.fps + i * apart, i) for i, c in enumerate(cams) for k in range(int(seconds * c.fps))]
    for t, i in sorted(ticks):
        yield t, cams[i]


def record(
    scenario: str,
    seconds: float,
    fps: float | None = None,
    tracker: dict[str, Any] | None = None,
    apart: float = 0.0,
    rates: dict[str, float] | None = None,
) -> Recording:
    """Run ``scenario``'s cameras for ``seconds`` of sim time at ``fps`` (default each camera's own; ``rates``:
    {camera id: fps} over both), each camera's frames ``apart`` s after the previous camera's, up to the associator:
    every located frame's events and seen fixes, in time order."""
    world = World(load_scenario(scenario))
    cfg = daemon_cfg(scenario, tracker)
    cams = _cameras(world, cfg, fps, rates or {})
    noise = _Noise(world)
    batches = []
    for t, cam in _ticks(cams, seconds, apart):
        image, _ = cam.renderer.render(t)
        decoded = cv2.imdecode(np.frombuffer(encode_jpeg(image), np.uint8), cv2.IMREAD_COLOR)  # as the stream
        assert decoded is not None
        frame = Frame(decoded, t, T0_UTC + t, cam.seq, cam.world.camera_id)
        cam.seq += 1
        tracks = cam.tracker.update(cam.detector.infer(frame)(), frame.t_mono)
        if len(tracks) or len(tracks.seen):
            pose = noise.pose(cam.world.platform(t), t)
            batches.append(cam.geo.locate(frame, tracks, pose, cam.detector.class_names))
    return Recording(scenario, seconds, fps, batches)


@dataclass
class Recording:
    """What the cameras' pipelines handed the associator (``FrameEvents``) in one run of a scenario: here in time
    order; from a live run (``python -m sim.demo --record-association``) in arrival order with the ``arrivals``
    (monotonic s), its sim time 0 at ``t0_utc`` (POSIX s) and its world's ``seed`` (None: the scenario's)."""

    scenario: str
    seconds: float
    fps: float | None
    batches: list[FrameEvents]
    arrivals: list[float] | None = None
    t0_utc: float = T0_UTC
    seed: int | None = None

    def save(self, path: Path) -> None:
        """Pickled as a dict of plain values and the daemon's own types (not this class: ``-m`` runs it as
        ``__main__``)."""
        path.write_bytes(pickle.dumps({f.name: getattr(self, f.name) for f in fields(self)}))

    @staticmethod
    def load(path: Path) -> Recording:
        """A ``save``d recording (a pickle: load only your own files); ValueError naming ``path`` if it is not one."""
        try:
            got = pickle.loads(path.read_bytes())
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError) as err:
            raise ValueError(f"{path}: not a recording of {PROG} ({err})") from None
        names = {f.name for f in fields(Recording)}
        if not isinstance(got, dict) or not {"scenario", "seconds", "fps", "batches"} <= set(got) <= names:
            raise ValueError(f"{path}: not a recording of {PROG}")
        return Recording(**got)


def associate(
    rec: Recording,
    settings: AssociationSettings | None = None,
    by_box: bool = False,
    late: dict[str, float] | None = None,
) -> AssocScore:
    """Feed a recording's batches through an Associator and score what it hands on against the truth (``by_box``:
    ``sim.eval_assoc.score``'s). ``late``: {camera id: s} its frames reach the associator after their capture (a
    slower pipeline, as live), so they come in that arrival order, on a clock of the arrival times, through its
    capture-order wait (``association.reorder_max_s``); a live recording comes in its own arrival order and times
    unless ``late`` is given."""
    out = _Collect()
    arrival = [b.t_utc + (late or {}).get(b.camera_id, 0.0) for b in rec.batches]
    if rec.arrivals is not None and not late:
        arrival = list(rec.arrivals)
    now = [0.0]
    assoc = Associator([out], settings, clock=lambda: now[0])
    for i in sorted(range(len(rec.batches)), key=arrival.__getitem__):
        now[0] = arrival[i]
        assoc.submit(rec.batches[i])
    assoc.stop()  # what it still holds
    return score(World(load_scenario(rec.scenario), seed=rec.seed), rec.t0_utc, out.rows, by_box=by_box)


def _per_camera(specs: list[str], cameras: set[str], lo: float, hi: float, what: str) -> dict[str, float] | str:
    """{camera id: value} from ``ID=V`` strings (``lo`` <= V <= ``hi``: ``what``), or what is wrong with one."""
    out = {}
    for spec in specs:
        cam, _, text = spec.partition("=")
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if cam not in cameras:
            return f"{spec}: no camera {cam!r} in the scenario (it has {', '.join(sorted(cameras))})"
        if not lo <= value <= hi:
            return f"{spec}: {what} of {lo:g} to {hi:g}, as ID=V"
        out[cam] = value
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", required=True, help="a scenario with several cameras")
    p.add_argument("--seconds", type=float, default=None, help="sim time to run (default the scenario's duration)")
    p.add_argument("--fps", type=float, default=None, help="every camera's frame rate (default the scenario's)")
    p.add_argument(
        "--camera-fps",
        action="append",
        default=[],
        metavar="ID=F",
        help="one camera's frame rate (over --fps; repeat for each camera)",
    )
    p.add_argument(
        "--apart", type=float, default=0.0, help="each camera's frames this long after the previous one's, s"
    )
    p.add_argument("--by-box", action="store_true", help="a detection's target is what its own box showed")
    p.add_argument(
        "--late",
        action="append",
        default=[],
        metavar="ID=S",
        help="one camera's frames reach the associator S s after capture (a slower pipeline, as live)",
    )
    p.add_argument(
        "--reorder-max",
        type=float,
        default=None,
        metavar="S",
        help="association.reorder_max_s: the longest a frame waits for older ones (default the setting's; 0: none)",
    )
    p.add_argument("--save", type=Path, help="keep what the cameras' pipelines gave the associator in this file")
    p.add_argument("--load", type=Path, help="associate a --save file of yours again (the cameras are not run)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    a = p.parse_args(argv)
    try:
        sc = load_scenario(a.scenario)
    except (ScenarioError, OSError) as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 2
    if not sc.cameras:
        print(f"{PROG}: {a.scenario}: the scenario has one camera: nothing to associate", file=sys.stderr)
        return 2
    cameras = {c.id for c in sc.cameras}
    late = _per_camera(a.late, cameras, 0.0, 10.0, "a delay (s)")
    if isinstance(late, str):
        print(f"{PROG}: --late {late}", file=sys.stderr)
        return 2
    if a.reorder_max is not None and not 0.0 <= a.reorder_max <= 10.0:
        print(f"{PROG}: --reorder-max {a.reorder_max}: 0 to 10 s", file=sys.stderr)
        return 2
    if a.load is not None:
        try:
            rec = Recording.load(a.load)
        except (OSError, ValueError) as err:
            print(f"{PROG}: --load: {err}", file=sys.stderr)
            return 2
    else:
        if not 0.0 <= a.apart <= 10.0:
            print(f"{PROG}: --apart {a.apart}: 0 to 10 s", file=sys.stderr)
            return 2
        rates = _per_camera(a.camera_fps, cameras, 0.1, 60.0, "a frame rate (frames/s)")
        if isinstance(rates, str):
            print(f"{PROG}: --camera-fps {rates}", file=sys.stderr)
            return 2
        rec = record(a.scenario, a.seconds or sc.duration_s, a.fps, apart=a.apart, rates=rates)
        if a.save is not None:
            rec.save(a.save)
    settings = AssociationSettings(**({} if a.reorder_max is None else {"reorder_max_s": a.reorder_max}))
    result = associate(rec, settings, by_box=a.by_box, late=late)
    print(json.dumps(result.as_json()) if a.json else result.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
