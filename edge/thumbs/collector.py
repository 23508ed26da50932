"""The crop collector: a pipeline sink that keeps crops of tracks of interest in the crop store.

``submit`` (the frame's events) and ``observe`` (the frame itself, called right after by the pipeline's thread)
only pick and copy: which tracks need a new crop ("best": its score x box area beat the best so far by 10 %;
"latest": none for ``latest_every_s``), and the small crop regions. A thread of its own scales, encodes,
encrypts and stores them; when it falls behind, crops are dropped (counted), never waited for.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

import cv2
import numpy as np

from edge.stages import Health
from edge.thumbs.settings import ThumbnailSettings
from edge.thumbs.store import Crop, CropKey, CropStore
from edge.types import EventKind, Frame, FrameEvents, GeoEvent

log = logging.getLogger("edge.thumbs.collector")
BEST_GAIN = 1.1  # a new "best" must beat the old by this factor
MAX_TRACKS = 4096  # tracks remembered at most (the oldest are forgotten)
QUEUE = 32  # crops waiting for the store at most


@dataclass
class _Track:
    best: float = 0.0  # score x box area (fraction of the frame) of the best crop so far
    t_latest: float = -1e9  # monotonic s of the last "latest" crop


@dataclass(frozen=True, slots=True)
class _Job:
    keys: tuple[CropKey, ...]
    image: np.ndarray  # the crop, uint8
    box: tuple[float, float, float, float]  # the target in the crop, fractions
    region: tuple[float, float, float, float]  # the crop in the frame, fractions
    event: GeoEvent
    t_utc: float


def crop_region(bbox: tuple[float, float, float, float], w: int, h: int, margin: float) -> tuple[int, int, int, int]:
    """The pixel region (x1, y1, x2, y2) around normalised ``bbox`` grown by ``margin`` of its size per side, in a
    ``w`` x ``h`` frame; at least 1 px each way."""
    x1, y1, x2, y2 = bbox[0] * w, bbox[1] * h, bbox[2] * w, bbox[3] * h
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    cx1, cy1 = max(0, int(x1 - mx)), max(0, int(y1 - my))
    cx2, cy2 = min(w, int(np.ceil(x2 + mx))), min(h, int(np.ceil(y2 + my)))
    return cx1, cy1, max(cx2, cx1 + 1), max(cy2, cy1 + 1)


class CropCollector:
    """EventSink + frame observer filling ``store``. ``boot`` is the daemon's boot id (part of every crop's key)."""

    name = "thumbnails"

    def __init__(self, settings: ThumbnailSettings, store: CropStore, boot: int) -> None:
        self.settings = settings
        self.store = store
        self.boot = boot
        self._classes = set(settings.classes)
        self._tracks: OrderedDict[tuple[str, int], _Track] = OrderedDict()
        # camera -> (frame seq, what to crop of it): the newest frame's wishes per camera (a pipeline per camera)
        self._wanted: dict[str, tuple[int, list[tuple[GeoEvent, tuple[str, ...]]]]] = {}
        self._jobs: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self.errors = 0

    # -- the pipeline's side (never blocks) -----------------------------------------------------------------
    def submit(self, batch: FrameEvents) -> None:
        """Note which tracks of this frame need a crop; the frame itself comes with ``observe``."""
        now = time.monotonic()
        wanted = []
        for ev in batch.events:
            tkey = (batch.camera_id, ev.track_id)
            if ev.kind == EventKind.LOST:
                self._tracks.pop(tkey, None)
                continue
            if ev.confidence < self.settings.min_score or (self._classes and ev.class_name not in self._classes):
                continue
            st = self._tracks.get(tkey)
            if st is None:
                st = self._tracks[tkey] = _Track()
                if len(self._tracks) > MAX_TRACKS:
                    self._tracks.popitem(last=False)
            x1, y1, x2, y2 = ev.bbox_norm
            metric = ev.confidence * max(0.0, x2 - x1) * max(0.0, y2 - y1)
            which = []
            if metric > st.best * BEST_GAIN:
                st.best = metric
                which.append("best")
            if now - st.t_latest >= self.settings.latest_every_s:
                st.t_latest = now
                which.append("latest")
            if which:
                wanted.append((ev, tuple(which)))
        if wanted:  # a second batch of one frame (the association re-sends an event with a new id) adds to it
            seq, before = self._wanted.get(batch.camera_id, (-1, []))
            if batch.frame_seq == seq:
                wanted = before + wanted
            if batch.frame_seq >= seq:
                self._wanted[batch.camera_id] = (batch.frame_seq, wanted)

    def observe(self, frame: Frame, _t_infer: float = 0.0) -> None:
        """Copy the crops ``submit`` asked for out of ``frame`` and queue them for the store's thread."""
        seq, wanted = self._wanted.pop(frame.camera_id, (-1, []))
        if seq != frame.seq:
            return
        for ev, which in wanted:
            x1, y1, x2, y2 = crop_region(ev.bbox_norm, frame.width, frame.height, self.settings.margin)
            image = frame.image[y1:y2, x1:x2].copy()
            bw, bh = x2 - x1, y2 - y1
            fw, fh = frame.width, frame.height
            b = ev.bbox_norm
            box = (
                max(0.0, (b[0] * fw - x1) / bw),
                max(0.0, (b[1] * fh - y1) / bh),
                min(1.0, (b[2] * fw - x1) / bw),
                min(1.0, (b[3] * fh - y1) / bh),
            )
            keys = tuple(CropKey(self.boot, frame.camera_id, ev.track_id, w) for w in which)
            with self._cond:
                if len(self._jobs) >= QUEUE:
                    self.dropped += 1
                    continue
                region = (x1 / fw, y1 / fh, x2 / fw, y2 / fh)
                self._jobs.append(_Job(keys, image, box, region, ev, frame.t_utc))
                self._cond.notify()

    # -- the store's thread ----------------------------------------------------------------------------------
    def _store(self, job: _Job) -> None:
        image = job.image
        if image.dtype != np.uint8:  # thermal: stretch to 8 bits
            image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
        h, w = image.shape[:2]
        scale = self.settings.max_crop_px / max(h, w)
        if scale < 1:
            image = cv2.resize(
                image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
            )
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.settings.store_quality])
        if not ok:
            raise ValueError(f"cannot encode a {image.shape} crop")
        for key in job.keys:
            ev = job.event
            self.store.put(Crop(key, buf.tobytes(), job.t_utc, ev.class_name, ev.confidence, job.box, job.region))

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._stop:
                    self._cond.wait(1.0)
                if not self._jobs:
                    return
                job = self._jobs.popleft()
            try:
                self._store(job)
            except Exception as err:  # a full disk or a bad crop must not end the collector
                self.errors += 1
                log.error("thumbnails: cannot store a crop of track %d: %s", job.event.track_id, err)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="thumbnails-collector", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._jobs.clear()
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(1.5)
        self.store.close()

    def health(self) -> Health:
        return {
            "state": "ok" if not self.errors else "error",
            "crops_bytes": self.store.bytes,
            "tracks": len(self._tracks),
            "dropped": self.dropped,
            "store_errors": self.errors,
            **self.store.stats,
        }
