"""Simulator renders -> training samples for the default model (numpy and OpenCV only, no torch).

Samples come in episodes: one World and Renderer (randomising surface, light, blur and noise per frame) per
(scenario, seed, mode, field of view), then several renders at random times from the true pose with the platform's
height and the camera's pitch/yaw perturbed, so the model sees more than the scenario's own flight; each render is
turned into the 8-bit 3-channel image the daemon's detector feeds its model (thermal frames through the
detector's own gain control, ``edge.detect.preprocess.to_model_image``) (not yet resized: training crops apply the letterbox factor).
Renders are cached under a folder (e.g. /tmp) as one memory-mapped byte file plus an .npz of shapes and boxes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.detect.preprocess import PreprocessSpec, plan_resize, to_model_image
from edge.detect.settings import ThermalSettings
from edge.types import Pose
from sim.render import Renderer
from sim.scenario import Scenario, load_scenario
from sim.world import World

PAD_VALUE = 114  # the detector's default letterbox grey
MIN_VISIBLE = 0.5  # a target with less of its box inside the image is not learnt (class -1: ignore)
MAX_OCCLUDED = 0.6  # nor is one with more of its box behind nearer targets
THERMAL_SHARE = 0.3  # episodes rendered in thermal mode (the day figures are the ones with a target)


@dataclass(frozen=True)
class Episode:
    """One World + Renderer: a scenario with its own seed, mode and field of view (drawn from the dataset seed).

    The renderer itself randomises surface, texture, sun, haze, brightness, contrast, blur and noise per frame.
    """

    scenario: int  # index into the scenario list
    seed: int  # world + renderer seed (target scatter, textures, noise)
    mode: str  # "day" | "thermal"
    hfov_scale: float  # camera horizontal field of view multiplied by this


@dataclass(frozen=True)
class Shot:
    """One frame of an episode: when, and where the camera is and looks.

    A natural shot is the scenario's own pose with the platform's height scaled and the camera's pitch and yaw
    offset. An aimed shot puts the camera at a range where one target (``pick`` selects it as a fraction of the
    target list) appears about ``px_height`` pixels tall, looking down at ``elevation_deg`` from azimuth
    ``azimuth_deg``, with the target off the optical axis by the fractions ``u_off``/``v_off`` of the half-image.
    """

    t: float  # fraction of the scenario's duration
    aimed: bool
    height_scale: float = 1.0  # natural: platform height above the ground multiplied by this
    d_pitch_deg: float = 0.0  # natural: added to the camera pitch (result kept within [-90, +5] deg)
    d_yaw_deg: float = 0.0  # natural: added to the camera yaw
    pick: float = 0.0  # aimed: which target, as a fraction of the target list
    px_height: float = 30.0  # aimed: wanted apparent size of the target, px
    elevation_deg: float = 30.0  # aimed: look-down angle from the camera to the target
    azimuth_deg: float = 0.0  # aimed: bearing from the target to the camera
    u_off: float = 0.0  # aimed: target offset from the image centre, fraction of half the width
    v_off: float = 0.0  # aimed: and of half the height


@dataclass
class Samples:
    """Training renders at the camera's resolution, as the detector sees them before its letterbox.

    data: every image's bytes back to back (memory-mapped uint8); ``image(i)`` is (h, w, 3) uint8 BGR (thermal
    already through the detector's gain control); scale[i]: the detector's letterbox factor from that image to
    the model input; boxes[i]: (M, 4) float32 xyxy image px; classes[i]: (M,) int64, -1 = ignore.
    """

    data: npt.NDArray[np.uint8]
    offsets: npt.NDArray[np.int64]
    shapes: npt.NDArray[np.int64]
    scale: npt.NDArray[np.float64]
    boxes: list[npt.NDArray[np.float32]]
    classes: list[npt.NDArray[np.int64]]

    def __len__(self) -> int:
        return len(self.shapes)

    def image(self, i: int) -> npt.NDArray[np.uint8]:
        h, w = (int(v) for v in self.shapes[i])
        return self.data[self.offsets[i] : self.offsets[i] + h * w * 3].reshape(h, w, 3)


def draw_episodes(weights: Sequence[int], count: int, seed: int, thermal_share: float = THERMAL_SHARE) -> list[Episode]:
    """``count`` random episodes (deterministic in ``seed``) cycling over the scenarios, scenario ``i`` taking
    ``weights[i]`` turns of each cycle (e.g. (2, 1, 1): half the episodes from the first scenario)."""
    rng = np.random.default_rng(seed)
    cycle = [i for i, w in enumerate(weights) for _ in range(w)]
    return [
        Episode(
            scenario=cycle[i % len(cycle)],
            seed=int(rng.integers(1000, 2**31 - 1)),  # 0..999 stay held out for evaluation
            mode="thermal" if rng.uniform() < thermal_share else "day",
            hfov_scale=float(np.exp(rng.uniform(math.log(0.6), math.log(1.5)))),
        )
        for i in range(count)
    ]


def draw_shots(rng: np.random.Generator, count: int, low_view: bool, aimed_share: float = 0.6) -> list[Shot]:
    """``count`` random shots of one episode; ``low_view`` (a mast camera) keeps aimed shots near the horizon."""
    shots = []
    for _ in range(count):
        t = float(rng.uniform(0.0, 1.0))
        if rng.uniform() < aimed_share:
            elev = rng.uniform(0.5, 8.0) if low_view else rng.uniform(15.0, 85.0)
            shots.append(
                Shot(
                    t=t,
                    aimed=True,
                    pick=float(rng.uniform()),
                    px_height=float(np.exp(rng.uniform(math.log(8.0), math.log(160.0)))),
                    elevation_deg=float(elev),
                    azimuth_deg=float(rng.uniform(0.0, 360.0)),
                    u_off=float(rng.uniform(-0.85, 0.85)),
                    v_off=float(rng.uniform(-0.85, 0.85)),
                )
            )
        else:
            shots.append(
                Shot(
                    t=t,
                    aimed=False,
                    height_scale=float(np.exp(rng.uniform(math.log(0.6), math.log(1.6)))),
                    d_pitch_deg=float(rng.normal(0.0, 6.0)),
                    d_yaw_deg=float(rng.normal(0.0, 20.0)),
                )
            )
    return shots


def episode_scenario(sc: Scenario, e: Episode) -> Scenario:
    """The scenario with the episode's camera mode, field of view and seed."""
    cam = sc.camera.model_copy(update={"hfov_deg": min(sc.camera.hfov_deg * e.hfov_scale, 120.0), "mode": e.mode})
    return sc.model_copy(update={"camera": cam, "seed": e.seed})


def shot_pose(world: World, t: float, shot: Shot) -> Pose:
    """The camera pose of ``shot`` at sim time ``t`` (s) (see ``Shot``)."""
    pose = world.true_platform(t)
    targets = world.targets(t)
    if not shot.aimed or not targets:
        ground = world.ground_alt(pose.lat, pose.lon)
        pitch = min(max(pose.cam_pitch + math.radians(shot.d_pitch_deg), -math.pi / 2), math.radians(5.0))
        return dataclasses.replace(
            pose,
            alt=ground + (pose.alt - ground) * shot.height_scale,
            cam_pitch=pitch,
            cam_yaw=pose.cam_yaw + math.radians(shot.d_yaw_deg),
        )
    tt = targets[min(int(shot.pick * len(targets)), len(targets) - 1)]
    cam = world.camera
    fx = cam.width / 2 / math.tan(math.radians(cam.hfov_deg) / 2)
    size_m = max(tt.height_m, min(tt.length_m, tt.width_m))
    rng_m = max(size_m * fx / shot.px_height, 5.0)
    el, az = math.radians(shot.elevation_deg), math.radians(shot.azimuth_deg)
    n0, e0, _ = world.frame.to_ned(tt.lat, tt.lon, tt.alt + tt.height_m / 2)
    n, e = float(n0) + rng_m * math.cos(el) * math.cos(az), float(e0) + rng_m * math.cos(el) * math.sin(az)
    lat, lon, _ = world.frame.to_geodetic(n, e, 0.0)
    alt = max(tt.alt + tt.height_m / 2 + rng_m * math.sin(el), world.ground_alt(float(lat), float(lon)) + 1.5)
    look_el = math.atan2(alt - (tt.alt + tt.height_m / 2), rng_m * math.cos(el))
    # the target sits u_off / v_off of the half-image away from the optical axis
    d_yaw = math.atan(shot.u_off * cam.width / 2 / fx)
    d_pitch = math.atan(shot.v_off * cam.height / 2 / fx)
    return dataclasses.replace(
        pose,
        lat=float(lat),
        lon=float(lon),
        alt=float(alt),
        roll=0.0,
        pitch=0.0,
        yaw=az + math.pi,
        cam_frame="earth",
        cam_roll=0.0,
        cam_pitch=max(-look_el + d_pitch, -math.pi / 2),
        cam_yaw=az + math.pi - d_yaw,
    )


def letterbox_scale(hw: tuple[int, int], size: tuple[int, int]) -> float:
    """The factor by which the detector's letterbox resizes an (h, w) image into a (H, W) input."""
    spec = PreprocessSpec("nchw", size, True, 1 / 255, (0.0,) * 3, (1.0,) * 3, True, PAD_VALUE, np.dtype(np.float32), 3)
    return plan_resize(hw, spec)[2].sx


def to_sample(
    image: npt.NDArray[np.generic], gt_boxes: npt.NDArray[np.floating], gt_classes: npt.NDArray[np.integer]
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """A render -> ((h, w, 3) uint8 BGR as the detector makes it before resizing, boxes (M, 4), classes (M,))."""
    img8 = to_model_image(np.asarray(image), 3, ThermalSettings())
    return np.ascontiguousarray(img8), np.asarray(gt_boxes, np.float32).reshape(-1, 4), np.asarray(gt_classes, np.int64)


def render_episode(
    sc: Scenario, e: Episode, shots: Sequence[Shot]
) -> Iterator[tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32], npt.NDArray[np.int64]]]:
    """Yield ``to_sample`` of each shot of one episode (one World and Renderer for all of them).

    Targets mostly outside the image or behind nearer ones get class -1 (learnt as "ignore").
    """
    sc = episode_scenario(sc, e)
    world = World(sc, seed=e.seed)
    renderer = Renderer(world, mode=e.mode, rng_seed=e.seed, randomize=True)
    for shot in shots:
        t = shot.t * sc.duration_s
        image, gt = renderer.render(t, pose=shot_pose(world, t, shot))
        hidden = (gt.visible_frac < MIN_VISIBLE) | (gt.occluded > MAX_OCCLUDED)
        yield to_sample(image, gt.boxes, np.where(hidden, -1, gt.class_ids))


def _cache_key(paths: Sequence[Path], weights: Sequence[int], count: int, seed: int, per_episode: int) -> str:
    h = hashlib.sha256(json.dumps([count, seed, per_episode, list(weights), THERMAL_SHARE]).encode())
    here = Path(__file__).parent
    for path in (*paths, Path(__file__), *sorted(here.glob("render*.py")), here / "world.py"):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def iter_renders(
    paths: Sequence[Path], weights: Sequence[int], count: int, seed: int, per_episode: int
) -> Iterator[tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32], npt.NDArray[np.int64]]]:
    """Yield ``count`` samples: episodes of ``per_episode`` shots each (scenario turns by ``weights``, see
    ``draw_episodes``), scenarios loaded once."""
    scenarios = [load_scenario(p) for p in paths]
    rng = np.random.default_rng([seed, 1])
    n_episodes = -(-count // per_episode)
    left = count
    for e in draw_episodes(weights, n_episodes, seed):
        low = scenarios[e.scenario].platform.kind == "mss"
        shots = draw_shots(rng, min(per_episode, left), low_view=low)
        left -= len(shots)
        yield from render_episode(scenarios[e.scenario], e, shots)


def build_samples(
    paths: Sequence[Path],
    count: int,
    seed: int,
    size: tuple[int, int],
    cache_dir: Path,
    per_episode: int = 12,
    progress: object = None,
    weights: Sequence[int] | None = None,
) -> Samples:
    """Render ``count`` samples (or load them from ``cache_dir`` when the same inputs were rendered before).

    ``size`` (H, W) is the model input (for each image's letterbox factor); ``per_episode`` renders share one World
    and Renderer; ``progress`` is an optional callable ``(iterable, total) -> iterable`` (e.g. tqdm) wrapping the
    render loop; ``weights``: each scenario's turns in the episode cycle (default one each). The cache key covers
    the scenario files, the simulator's sources, count, seed, per_episode and weights.
    """
    weights = list(weights or [1] * len(paths))
    if len(weights) != len(paths) or min(weights) < 1:
        raise ValueError(f"scenario weights {weights}: need one integer >= 1 per scenario ({len(paths)})")
    key = _cache_key(paths, weights, count, seed, per_episode)
    folder = cache_dir / f"renders-{key}"
    img_path, meta_path = folder / "images.u8", folder / "boxes.npz"
    if not meta_path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        shapes, boxes, classes = [], [], []
        renders = iter_renders(paths, weights, count, seed, per_episode)
        wrapped = progress(renders, count) if callable(progress) else renders
        with img_path.open("wb") as f:
            for img, b, c in wrapped:
                f.write(img.tobytes())
                shapes.append(img.shape[:2])
                boxes.append(b)
                classes.append(c)
        np.savez(
            meta_path,
            shapes=np.array(shapes, np.int64).reshape(-1, 2),
            n=np.array([len(b) for b in boxes], np.int64),
            boxes=np.concatenate(boxes) if boxes else np.empty((0, 4), np.float32),
            classes=np.concatenate(classes) if classes else np.empty(0, np.int64),
        )
    meta = np.load(meta_path)
    shapes_a = meta["shapes"]
    split = np.cumsum(meta["n"])[:-1]
    return Samples(
        data=np.memmap(img_path, dtype=np.uint8, mode="r"),
        offsets=np.concatenate([[0], np.cumsum(shapes_a[:, 0] * shapes_a[:, 1] * 3)]).astype(np.int64),
        shapes=shapes_a,
        scale=np.array([letterbox_scale((int(h), int(w)), size) for h, w in shapes_a]),
        boxes=list(np.split(meta["boxes"].astype(np.float32), split)),
        classes=list(np.split(meta["classes"].astype(np.int64), split)),
    )


def assign_targets(
    boxes: npt.NDArray[np.float32],
    classes: npt.NDArray[np.int64],
    height: int,
    width: int,
    strides: Sequence[int] = (8, 16),
    min_height: float = 5.0,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Which output cell learns which box (centre sampling per scale, smallest box wins a shared cell).

    boxes (M, 4) xyxy input px, classes (M,) -> per cell (stride 8 cells row-major, then stride 16):
    gt_box (N, 4) float32, gt_cls (N,) int64 (-1 = background), weight (N,) float32 (0 = ignore: near a box
    shorter than ``min_height`` px or one whose class is -1, e.g. cut by a crop's edge). A box goes to stride 8 when its longer side is
    <= 96 px and to stride 16 when it is >= 40 px; positives are the cell holding the box centre plus cells whose
    centres lie inside the box within 1.5 strides of its centre.
    """
    ranges = {8: (0.0, 96.0), 16: (40.0, 1e9)}
    out_box, out_cls, out_w = [], [], []
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    wh = boxes[:, 2:] - boxes[:, :2]
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    classes = np.asarray(classes, np.int64).reshape(-1)
    small = (wh[:, 1] < min_height) | (classes < 0)
    for s in strides:
        gh, gw = height // s, width // s
        ys, xs = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
        cx, cy = (xs.reshape(-1) + 0.5) * s, (ys.reshape(-1) + 0.5) * s  # (N,)
        n = gh * gw
        gt_box = np.zeros((n, 4), np.float32)
        gt_cls = np.full(n, -1, np.int64)
        weight = np.ones(n, np.float32)
        best_area = np.full(n, np.inf)
        lo, hi = ranges.get(s, (0.0, 1e9))
        for j in range(len(boxes)):
            x1, y1, x2, y2 = boxes[j]
            near = (cx >= x1 - s / 2) & (cx <= x2 + s / 2) & (cy >= y1 - s / 2) & (cy <= y2 + s / 2)
            if small[j]:
                weight[near] = 0.0
                continue
            if not lo <= max(wh[j]) <= hi:
                continue
            inside = (cx > x1) & (cx < x2) & (cy > y1) & (cy < y2)
            close = (np.abs(cx - centre[j, 0]) <= 1.5 * s) & (np.abs(cy - centre[j, 1]) <= 1.5 * s)
            pos = inside & close
            ci = int(np.clip(centre[j, 0] // s, 0, gw - 1)) + gw * int(np.clip(centre[j, 1] // s, 0, gh - 1))
            pos[ci] = True
            area = float(wh[j, 0] * wh[j, 1])
            take = pos & (area < best_area)
            gt_box[take], gt_cls[take], best_area[take] = boxes[j], classes[j], area
        weight[gt_cls >= 0] = 1.0
        out_box.append(gt_box)
        out_cls.append(gt_cls)
        out_w.append(weight)
    return np.concatenate(out_box), np.concatenate(out_cls), np.concatenate(out_w)
