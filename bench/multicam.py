"""Two cameras on one model (``edge bench --only multicam``): the summed frame rate of two pipelines sharing one
onnxruntime session through the model scheduler, over the one-camera pipeline's rate, side by side in one run.

Same model, same thread settings, same frames (the simulator's), each camera faster than the model so that frames
are never what a pipeline waits for; short interleaved segments (one camera, two cameras, one camera ...) so both
halves of a pair see the same load on a shared machine. The model time is the same either way; what the ratio
loses is ours (scheduling, two trackers, two threads each).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from bench.vision import DEFAULT_MODEL, sim_frames
from bench.vision_parts import LookingDown, MemoryCamera, make_standin_model
from edge.detect.engine import OnnxDetector
from edge.detect.scheduler import ModelScheduler
from edge.detect.settings import DetectorSettings
from edge.detect.shared import SharedModels
from edge.geo.locator import GroundGeolocator
from edge.geo.settings import GeoSettings
from edge.pipeline import Pipeline
from edge.track.settings import TrackerSettings
from edge.track.tracker import ByteTracker
from edge.types import Frame


def run_cameras(
    detectors: list[OnnxDetector], images: list[np.ndarray], cam_fps: float, seconds: float, scheduled: bool = True
) -> tuple[float, float]:
    """(frames/s, frames per CPU second of this process) summed over one pipeline per detector (a scheduler between
    them when several and ``scheduled``) for ``seconds``."""
    counts = [0] * len(detectors)
    scheduler = ModelScheduler() if len(detectors) > 1 and scheduled else None
    pipes, cams = [], []
    for i, det in enumerate(detectors):

        def observe(_frame: object, _t: float, i: int = i) -> None:
            counts[i] += 1

        cam = MemoryCamera(images, fps=cam_fps)
        geo = GroundGeolocator(GeoSettings())
        tracker = ByteTracker(TrackerSettings(min_hits=2))
        pipes.append(Pipeline(cam, det, tracker, geo, LookingDown(), [], observe, f"pipeline:{i}", scheduler))
        cams.append(cam)
    for cam in cams:
        cam.start()
        if cam.latest(10.0) is None:
            raise RuntimeError("bench camera gave no frame")
    for p in pipes:
        p.start()
    time.sleep(0.3)  # both running before counting
    n0, t0, c0 = sum(counts), time.monotonic(), time.process_time()
    time.sleep(seconds)
    n1, t1, c1 = sum(counts), time.monotonic(), time.process_time()
    for p in pipes:
        p.stop()
    for cam in cams:
        cam.stop()
    return (n1 - n0) / (t1 - t0), (n1 - n0) / max(c1 - c0, 1e-9)


def run_bench(out_dir: Path, quick: bool) -> dict[str, float]:
    """Keys: multicam_fps_ratio (two cameras' summed fps / one camera's, median of interleaved pairs),
    multicam_single_fps, multicam_dual_fps (summed), multicam_unscheduled_ratio (the same with both pipelines
    running the model at once, no scheduler: what the scheduler is measured against), and the same two ratios in
    frames per CPU second with the model's threads not spinning (``*_cpu``: robust on a shared machine, where two
    unscheduled sessions also win CPU time from other processes)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    threads = len(os.sched_getaffinity(0))  # the cores this process may use (taskset -c 0,1: a 2-core board)
    model = DEFAULT_MODEL if DEFAULT_MODEL.is_file() else make_standin_model(out_dir / "standin.onnx")
    base = DetectorSettings(
        model=str(model), providers=["cpu"], intra_op_threads=threads, inter_op_threads=1, warmup_runs=3
    )
    images, _ = sim_frames(6 if quick else 16)
    models = SharedModels()
    one = OnnxDetector(base, models)
    two = [OnnxDetector(base, models), OnnxDetector(base, models)]
    quiet = base.model_copy(update={"spin_wait": False})
    one_q, two_q = OnnxDetector(quiet, models), [OnnxDetector(quiet, models), OnnxDetector(quiet, models)]
    assert models.loads == 2  # one session per thread setting, shared by its detectors
    t0 = time.perf_counter()
    for i, img in enumerate(images):
        one.detect(Frame(img, time.monotonic(), time.time(), i))
    cam_fps = max(60.0, 2.5 * len(images) / (time.perf_counter() - t0))  # faster than the model
    seg, rounds = 2.0, 3 if quick else 8
    single, dual, ratios, free, ratios_cpu, free_cpu = [], [], [], [], [], []
    for _ in range(rounds):
        s, _ = run_cameras([one], images, cam_fps, seg)
        d, _ = run_cameras(two, images, cam_fps, seg)
        u, _ = run_cameras(two, images, cam_fps, seg, scheduled=False)
        single.append(s)
        dual.append(d)
        ratios.append(d / s)
        free.append(u / s)
    for _ in range(max(rounds // 2, 2)):
        _, s = run_cameras([one_q], images, cam_fps, seg)
        _, d = run_cameras(two_q, images, cam_fps, seg)
        _, u = run_cameras(two_q, images, cam_fps, seg, scheduled=False)
        ratios_cpu.append(d / s)
        free_cpu.append(u / s)
    fig = {
        "multicam_fps_ratio": statistics.median(ratios),
        "multicam_single_fps": statistics.median(single),
        "multicam_dual_fps": statistics.median(dual),
        "multicam_unscheduled_ratio": statistics.median(free),
        "multicam_fps_ratio_cpu": statistics.median(ratios_cpu),
        "multicam_unscheduled_ratio_cpu": statistics.median(free_cpu),
    }
    (out_dir / "multicam.json").write_text(
        json.dumps({**fig, "model": str(model), "ratios": ratios, "unscheduled": free, "threads": threads}, indent=2)
    )
    return {k: round(v, 4) for k, v in fig.items()}
