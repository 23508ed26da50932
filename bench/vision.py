"""Vision benchmark (``edge bench``): raw onnxruntime vs the pipeline, latency, frame age, gating, tiling.

Everything is measured in one process, same model, same thread settings; raw and pipeline segments are
interleaved (medians taken) because the machine is shared. Uses the simulator's renderer for realistic frames.
Raw is the model file as exported, run on float tensors made beforehand; the pipeline is the daemon's detector as
configured, which by default runs the same model with the input conversion folded into its graph
(``edge.detect.fuse``): any cost that moves into the graph counts against the pipeline.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from bench.vision_parts import MemoryCamera, make_standin_model, recall, run_pipeline
from edge.detect.engine import OnnxDetector
from edge.detect.preprocess import preprocess
from edge.detect.settings import DetectorSettings, GatingSettings, TilingSettings
from edge.sources.camera import Camera
from edge.sources.camera_settings import CameraSettings
from edge.track.settings import TrackerSettings
from edge.track.tracker import ByteTracker

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO / "models" / "edge-default.onnx"
SCENARIO = REPO / "sim" / "scenarios" / "drone-border.toml"
SMALL_PX = 32.0  # a target is "small" when its box is under this many pixels tall


def sim_frames(n: int, t0: float = 5.0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``n`` simulator frames of the drone-border scenario and their ground-truth boxes (or noise if no sim)."""
    try:
        from sim.render import Renderer
        from sim.scenario import load_scenario
        from sim.world import World

        r = Renderer(World(load_scenario(SCENARIO)))
        out = [r.render(t0 + 1.5 * i) for i in range(n)]
        return [img for img, _ in out], [gt.boxes[gt.visible_frac > 0.5] for _, gt in out]
    except Exception as err:  # the bench still measures speed without the simulator
        log.warning("bench: simulator frames unavailable (%s); using noise frames", err)
        rng = np.random.default_rng(0)
        return [rng.integers(0, 255, (480, 640, 3), np.uint8) for _ in range(n)], [np.zeros((0, 4))] * n


def _raw_fps(det: OnnxDetector, images: list[np.ndarray], seconds: float) -> tuple[float, float, float]:
    """(runs/s, mean wall s/run, mean CPU s/run) of the bare session on tensors prepared beforehand (``det``:
    one with ``fuse_input`` off, so that this is the model file as exported, on its own float input)."""
    tensors = [preprocess(img, det.info.spec, det.settings.thermal)[0] for img in images[:4]]
    name, n, t0, c0 = det.info.input_name, 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds:
        det.session.run(None, {name: tensors[n % len(tensors)]})
        n += 1
    dt = time.perf_counter() - t0
    return n / dt, dt / n, (time.process_time() - c0) / n


def _cpu_ratio(base: DetectorSettings, images: list[np.ndarray], pairs: int) -> float:
    """Raw CPU time per inference / pipeline CPU time per frame, threads not spinning (so CPU time is work):
    a figure the other load on a shared machine barely moves, unlike frames per second."""
    det = OnnxDetector(base.model_copy(update={"spin_wait": False}))
    plain = OnnxDetector(base.model_copy(update={"spin_wait": False, "fuse_input": False}))
    ratios = []
    for _ in range(pairs):
        fps, _, raw_cpu = _raw_fps(plain, images, 1.5)
        run = run_pipeline(MemoryCamera(images, fps=max(60.0, 2.0 * fps)), det, ByteTracker(TrackerSettings()), 1.5)
        ratios.append(raw_cpu / (run.cpu_s / max(run.frames, 1)))
    return statistics.median(ratios)


def _gating_moving(n: int) -> float:
    """Share of frames the motion gate sends to inference on the orbiting drone (10 fps camera, moving scene)."""
    from edge.detect.motion import MotionGate

    try:
        from sim.render import Renderer
        from sim.scenario import load_scenario
        from sim.world import World
    except ImportError:
        return float("nan")
    r = Renderer(World(load_scenario(SCENARIO)))
    gate = MotionGate(GatingSettings(enabled=True))
    runs = sum(gate.decide(r.render(10.0 + 0.1 * i)[0], 10.0 + 0.1 * i).run for i in range(n))
    return runs / n


def _file_source(images: list[np.ndarray], path: Path, fps: float) -> Path:
    h, w = images[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (w, h))
    for i in range(60):
        vw.write(images[i % len(images)])
    vw.release()
    return path


def _tiling(model: Path, base: DetectorSettings, images: list[np.ndarray], gts: list[np.ndarray]) -> dict[str, float]:
    """Recall on small targets and time per frame with and without a 2x2 (+ full frame) grid."""
    from edge.types import Frame

    small = [g[(g[:, 3] - g[:, 1]) < SMALL_PX] for g in gts]
    out: dict[str, float] = {}
    for key, tiling in (
        ("off", TilingSettings()),
        ("on", TilingSettings(cols=2, rows=2, overlap=0.2, full_frame=True)),
    ):
        det = OnnxDetector(base.model_copy(update={"tiling": tiling}))
        preds, t0 = [], time.perf_counter()
        for i, img in enumerate(images):
            preds.append(det.detect(Frame(img, 0.0, 0.0, i)).xyxy)
        out[f"tiling_{key}_ms"] = (time.perf_counter() - t0) * 1e3 / len(images)
        found, total = recall(small, preds)
        out[f"tiling_{key}_small_recall"] = found / total if total else float("nan")
        out["tiling_small_targets"] = float(total)
    out["tiling_recall_gain"] = out["tiling_on_small_recall"] - out["tiling_off_small_recall"]
    out["tiling_cost_ratio"] = out["tiling_on_ms"] / out["tiling_off_ms"]
    return out


def _plot(fig: dict[str, float], note: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f, ax = plt.subplots(1, 4, figsize=(15, 3.8))
    ax[0].bar(
        ["raw", "pipeline", "file"],
        [fig["raw_fps"], fig["pipeline_fps"], fig["file_pipeline_fps"]],
        color=["grey", "tab:blue", "tab:cyan"],
    )
    ax[0].set_title(f"throughput (fps), pipeline/raw {fig['pipeline_over_raw']:.2f}")
    ax[1].bar(
        ["inference", "p50", "p99", "target", "max age"],
        [
            fig["inference_ms"],
            fig["latency_p50_ms"],
            fig["latency_p99_ms"],
            fig["latency_target_ms"],
            fig["max_frame_age_ms"],
        ],
        color=["grey", "tab:blue", "tab:blue", "tab:red", "tab:orange"],
    )
    ax[1].set_title("capture -> tracked (ms)")
    ax[2].bar(
        ["static: off", "static: on", "moving drone"],
        [1.0, fig["gating_cpu_ratio"], fig["gating_run_fraction_moving"]],
        color=["grey", "tab:green", "tab:olive"],
    )
    ax[2].axhline(0.3, color="tab:red", ls="--")
    ax[2].set_title("gating: CPU (static) / frames inferred (moving)")
    ax[3].bar(
        ["full frame", "2x2 tiles + full"],
        [fig.get("tiling_off_small_recall", 0), fig.get("tiling_on_small_recall", 0)],
        color=["grey", "tab:purple"],
    )
    ax[3].set_title(f"small-target recall (cost x{fig.get('tiling_cost_ratio', 0):.1f})")
    f.suptitle(f"vision bench: {note}", fontsize=9)
    f.tight_layout()
    f.savefig(path, dpi=90)
    plt.close(f)


def _images(folder: Path, n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Up to ``n`` of the user's own frames, at the first one's size as a camera gives them (no ground truth: the
    tiling recall figures are then NaN)."""
    from edge.detect.datasets import image_files

    images = [img for p in image_files(folder)[:n] if (img := cv2.imread(str(p), cv2.IMREAD_COLOR)) is not None]
    h, w = images[0].shape[:2]
    images = [i if i.shape[:2] == (h, w) else cv2.resize(i, (w, h)) for i in images]
    return images, [np.zeros((0, 4))] * len(images)


def run_bench(
    out_dir: Path, quick: bool, detector: DetectorSettings | None = None, images_dir: Path | None = None
) -> dict[str, float]:
    """Keys: raw_fps, pipeline_fps, pipeline_over_raw, file_pipeline_fps, latency_p50_ms, latency_p99_ms,
    max_frame_age_ms, gating_cpu_ratio, inference_ms, latency_target_ms, tiling_*, and
    gating_run_fraction_moving (share of frames inferred with gating on a moving drone's view),
    pipeline_input_in_graph (1 when the pipeline's model took the input conversion into its graph),
    pipeline_over_raw_cpu (the same comparison in CPU time per frame: robust on a shared machine)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    seg = 1.5  # short paired segments: the two halves of a pair see the same load on a shared machine
    rounds = 4 if quick else 12
    default = detector is None and DEFAULT_MODEL.is_file()
    threads = os.cpu_count() or 1
    if detector is not None:  # the user's own model and settings (edge bench --config / --model)
        model = Path(detector.model)
        base = detector.model_copy(update={"warmup_runs": max(detector.warmup_runs, 3)})
    else:
        model = DEFAULT_MODEL if default else make_standin_model(out_dir / "standin.onnx")
        base = DetectorSettings(
            model=str(model), providers=["cpu"], intra_op_threads=threads, inter_op_threads=1, warmup_runs=3
        )
    images, gts = _images(images_dir, 6 if quick else 16) if images_dir else sim_frames(6 if quick else 16)
    det = OnnxDetector(base)  # the daemon's detector, as configured by default
    plain = OnnxDetector(base.model_copy(update={"fuse_input": False}))  # raw: the model file as exported
    tracker_settings = TrackerSettings(min_hits=2)

    raw, per_run, pipe, ratios = [], [], [], []
    for _ in range(rounds):  # interleaved pairs: raw, pipeline, raw, pipeline ...
        fps, dt, _ = _raw_fps(plain, images, seg)
        cam_fps = max(60.0, 2.0 * fps)  # a camera faster than the detector: frames are never what it waits for
        run = run_pipeline(MemoryCamera(images, fps=cam_fps), det, ByteTracker(tracker_settings), seg)
        raw.append(fps)
        per_run.append(dt)
        pipe.append(run)
        ratios.append(run.fps / fps)
    lat = np.concatenate([np.asarray(p.latency) for p in pipe]) * 1e3
    age = np.concatenate([np.asarray(p.age) for p in pipe]) * 1e3
    fig: dict[str, float] = {
        "raw_fps": statistics.median(raw),
        "pipeline_fps": statistics.median(p.fps for p in pipe),
        "pipeline_over_raw": statistics.median(ratios),
        "inference_ms": statistics.median(per_run) * 1e3,
        "latency_p50_ms": float(np.percentile(lat, 50)),
        "latency_p99_ms": float(np.percentile(lat, 99)),
        "max_frame_age_ms": float(age.max()),
    }
    fig["latency_target_ms"] = fig["inference_ms"] + 25.0
    fig["pipeline_over_raw_cpu"] = _cpu_ratio(base, images, 2 if quick else 5)

    # a camera somewhat faster than the detector, as in the field (decoding every frame costs CPU too)
    video = _file_source(images, out_dir / "bench.avi", fps=max(25.0, round(1.5 * fig["raw_fps"])))
    cam = Camera(CameraSettings(url=str(video), loop=True, realtime=True))
    fig["file_pipeline_fps"] = run_pipeline(cam, det, ByteTracker(tracker_settings), 4 * seg).fps

    still = [images[0]]
    cpu: dict[str, float] = {"off": 0.0, "on": 0.0}
    gated = {
        key: OnnxDetector(base.model_copy(update={"gating": GatingSettings(enabled=key == "on", max_interval_s=2.0)}))
        for key in cpu
    }
    for _ in range(2):
        for key, gdet in gated.items():
            cpu[key] += run_pipeline(MemoryCamera(still, fps=30.0), gdet, ByteTracker(tracker_settings), 3.0).cpu_s
    fig["gating_cpu_ratio"] = cpu["on"] / cpu["off"]
    fig["gating_run_fraction_moving"] = _gating_moving(20 if quick else 60)

    tiling_n = 6 if quick else 16
    fig.update(_tiling(model, base, images[:tiling_n], gts[:tiling_n]))
    fig["vision_default_model"] = 1.0 if default else 0.0
    fig["pipeline_input_in_graph"] = 1.0 if det.info.conversion.startswith("in the graph") else 0.0
    if detector is not None:
        note = f"{model.name} with the given settings" + (f" on {images_dir}" if images_dir else " on simulator frames")
    else:
        note = (
            "default model" if default else "stand-in CNN (models/edge-default.onnx missing; tiling recall meaningless)"
        )
    _plot(fig, note, out_dir / "vision.png")
    (out_dir / "vision.json").write_text(json.dumps({**fig, "model": str(model), "note": note}, indent=2))
    return {k: round(v, 4) for k, v in fig.items()}
