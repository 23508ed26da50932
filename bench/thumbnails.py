"""Bench part ``thumbnails``: how long the daemon takes to answer a thumbnail request (decode the stored crop,
encode it to fit the request's byte limit), over crops of the simulator's targets as the collector keeps them.

``thumbnail_encode_ms_p95``: 95th percentile (ms) over every crop x byte limit (1500, 3000, 8000 bytes; JPEG).
The simulator's targets are small (crops of 13-120 px), so ``thumbnail_encode_ms_p95_largest`` measures the same
over crops of the largest size the store keeps (``max_crop_px`` square regions of the same frames): a close target.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np

from edge.thumbs.collector import crop_region
from edge.thumbs.fit import fit
from edge.thumbs.settings import ThumbnailSettings
from sim.demo import REPO
from sim.render import Renderer
from sim.scenario import load_scenario
from sim.world import World

LIMITS = (1500, 3000, 8000)
SCENARIO = REPO / "sim" / "scenarios" / "drone-border.toml"


def stored_crops(frames: int, largest: bool = False) -> list[bytes]:
    """JPEG crops (as the crop store keeps them) of every target seen in ``frames`` frames of the border scenario;
    ``largest``: a ``max_crop_px`` square around each target instead."""
    s = ThumbnailSettings()
    world = World(load_scenario(SCENARIO), seed=1)
    renderer = Renderer(world)
    out = []
    for i in range(frames):
        image, truth = renderer.render(5.0 + 2.0 * i)
        h, w = image.shape[:2]
        if largest:
            for b in truth.boxes:
                x0 = int(min(max(0, (b[0] + b[2]) / 2 - s.max_crop_px / 2), w - s.max_crop_px))
                y0 = int(min(max(0, (b[1] + b[3]) / 2 - s.max_crop_px / 2), h - s.max_crop_px))
                crop = image[y0 : y0 + s.max_crop_px, x0 : x0 + s.max_crop_px]
                out.append(cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, s.store_quality])[1].tobytes())
            continue
        for b in truth.boxes:
            x1, y1, x2, y2 = crop_region((b[0] / w, b[1] / h, b[2] / w, b[3] / h), w, h, s.margin)
            crop = image[y1:y2, x1:x2]
            scale = s.max_crop_px / max(crop.shape[:2])
            if scale < 1:
                crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            out.append(cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, s.store_quality])[1].tobytes())
    return out


def encode_ms(crops: list[bytes]) -> list[float]:
    """Milliseconds to decode each crop and encode it to fit each of ``LIMITS``; never over a limit."""
    times, over = [], 0
    for jpeg in crops:
        for limit in LIMITS:
            t0 = time.perf_counter()
            image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_UNCHANGED)
            assert image is not None
            got = fit(image, limit)
            times.append((time.perf_counter() - t0) * 1000.0)
            over += got is not None and len(got.data) > limit
    assert over == 0, f"{over} images over their byte limit"
    return times


def run_bench(out_dir: Path, quick: bool) -> dict[str, float]:
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = 4 if quick else 20
    times, largest = encode_ms(stored_crops(frames)), encode_ms(stored_crops(frames, largest=True))
    figures = {
        "thumbnail_encode_ms_p95": round(float(np.percentile(times, 95)), 2),
        "thumbnail_encode_ms_p95_largest": round(float(np.percentile(largest, 95)), 2),
        "thumbnail_requests": len(times),
    }
    (out_dir / "thumbnails.json").write_text(json.dumps(figures, indent=1))
    return figures
