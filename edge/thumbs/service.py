"""The thumbnail service: answers requests from the centre (MQTT) and the ground station (MAVLink) from the crop store.

Requests are queued by the link threads (never blocking them) and answered by one thread: look the crop up, encode it
to fit the request's byte limit (``fit``), and spool the answer and the image's chunks at ``Priority.IMAGE`` (below
new-track alerts; the uplink drainer owns the byte budget). Every request and every image sent is written to the
audit log (logger ``edge.audit``, ``thumbnail-audit.jsonl`` in the state directory) and spooled as an audit record
for the centre (``Priority.AUDIT``, topic ``edge/<vehicle>/audit``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.stages import Health
from edge.thumbs import wire
from edge.thumbs.fit import fit
from edge.thumbs.settings import ThumbnailSettings
from edge.thumbs.store import Crop, CropKey, CropStore
from edge.types import Priority
from edge.uplink.spool import Spool

log = logging.getLogger("edge.thumbs.service")
audit_log = logging.getLogger("edge.audit")
QUEUE = 16  # requests waiting at most; more are answered "busy"
FLOOD = 4 * QUEUE  # beyond this many waiting (answers "busy" included), requests are dropped and counted
AUDIT_FILE = "thumbnail-audit.jsonl"
Reply = Callable[[str, str], None]  # (status, text): a link's own answer (the ground station's COMMAND_ACK)


class ThumbnailService:
    """A Stage. ``submit`` queues a request from ``requester`` (an identity the link vouches for) via ``via``."""

    name = "thumbnail-requests"

    def __init__(self, settings: ThumbnailSettings, store: CropStore, spool: Spool, boot: int, state_dir: Path) -> None:
        self.settings = settings
        self.store = store
        self.spool = spool
        self.boot = boot
        self.audit_path = state_dir / AUDIT_FILE
        self._queue: deque[tuple[float, str, str, bytes | wire.Request | None, Reply | None]] = deque()
        self._cond = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.stats = {"requests": 0, "sent": 0, "refused": 0, "not_found": 0, "bytes_sent": 0, "dropped": 0}
        self.encode_ms: deque[float] = deque(maxlen=200)
        self.on_sent: Callable[[dict[str, Any], bytes], None] | None = None  # (answer, image): e.g. the console

    # -- the links' side ------------------------------------------------------------------------------------
    def on_mqtt(self, topic: str, payload: bytes) -> None:
        """A message on ``edge/<vehicle>/cmd/#``: thumbnail requests on ``cmd/thumbnail/<user>``; the broker's ACL
        lets a user publish only under its own name, so ``<user>`` is the requester."""
        parts = topic.split("/")
        if len(parts) == 5 and parts[2:4] == ["cmd", "thumbnail"] and parts[4]:
            self.submit("mqtt", parts[4], payload)
        else:
            log.warning("thumbnails: ignoring a message on %s (requests go to cmd/thumbnail/<user>)", topic)

    def submit(self, via: str, requester: str, request: bytes | wire.Request, reply: Reply | None = None) -> None:
        """Queue one request; never blocks. Beyond ``QUEUE`` waiting, a request is answered "busy"."""
        with self._cond:
            if len(self._queue) >= FLOOD:
                self.stats["dropped"] += 1
                return
            busy = len(self._queue) >= QUEUE
            if isinstance(request, bytes):  # an oversized one is refused by its length: keep no more of it
                request = request[: wire.MAX_REQUEST_BYTES + 1]
            self._queue.append((time.time(), via, requester, None if busy else request, reply))
            self._cond.notify()

    # -- the service's thread --------------------------------------------------------------------------------
    def handle(
        self, t_req: float, via: str, requester: str, raw: bytes | wire.Request | None, reply: Reply | None = None
    ) -> str:
        """Answer one request (None: one that found the queue full): spool the answer (and image) and the audit
        record; returns the status."""
        self.stats["requests"] += 1
        req_id: str = ""
        summary: dict[str, Any] = {}
        items: list[tuple[int, float, bytes]] = []
        meta: dict[str, Any] = {}
        sent: bytes | None = None
        if raw is None:
            status, text = "busy", f"more than {QUEUE} requests wait; ask again later"
        else:
            try:
                req = raw if isinstance(raw, wire.Request) else wire.parse_request(raw)
            except wire.BadRequest as err:
                status, text = "bad-request", str(err)
                if isinstance(raw, bytes):  # what was asked, as it came
                    summary = {"raw": raw[:256].decode("utf-8", "replace")}
            else:
                req_id = req.id
                summary = req.model_dump()
                if summary["boot"] is None:
                    summary["boot"] = self.boot
                status, text, meta, sent = self._answer(req, summary, via, requester)
        now = time.time()
        items.append((int(Priority.IMAGE), now, wire.answer(req_id, requester, status, text, **meta)))
        if sent is not None:
            items += [
                (int(Priority.IMAGE), now, c) for c in wire.chunks(req_id, requester, sent, self.settings.chunk_bytes)
            ]
        record = {
            "t_utc": round(now, 3),
            "t_request": round(t_req, 3),
            "requester": requester,
            "via": via,
            "request": summary,
            "status": status,
            "text": text,
            "sent": {k: meta[k] for k in ("bytes", "format", "wh", "quality", "sha256", "chunks")} if sent else None,
        }
        items.append((int(Priority.AUDIT), now, wire.audit(record)))
        self._write_audit(record)
        self.spool.insert(items, now=now)
        if sent is not None and self.on_sent is not None:
            self.on_sent({"id": req_id, "requester": requester, **meta}, sent)
        if reply is not None:
            reply(status, text)
        return status

    def _answer(
        self, req: wire.Request, summary: dict[str, Any], via: str, requester: str
    ) -> tuple[str, str, dict[str, Any], bytes | None]:
        allowed = self.settings.requesters
        if via == "mqtt" and allowed and requester not in allowed:
            self.stats["refused"] += 1
            return "refused", f"{requester} may not ask for imagery (thumbnails.requesters)", {}, None
        key = CropKey(summary["boot"], req.camera, req.track, req.frame)
        got = self.store.get(key)
        if isinstance(got, str):
            self.stats["not_found"] += 1
            where = f"track {req.track} of camera {req.camera}, boot {summary['boot']}"
            if got == "expired":
                return "expired", f"the crops of {where} have expired (kept {self.settings.max_age_s:.0f} s)", {}, None
            return "unknown", f"no crop of {where} was kept (not a track of interest, or unknown)", {}, None
        limit = min(req.max_bytes, self.settings.max_request_bytes)
        t0 = time.perf_counter()
        image = cv2.imdecode(np.frombuffer(got.jpeg, np.uint8), cv2.IMREAD_UNCHANGED)
        if image is None:
            return "expired", "the stored crop cannot be read", {}, None
        fitted = fit(image, limit, req.format)
        self.encode_ms.append((time.perf_counter() - t0) * 1000.0)
        if fitted is None:
            return "too-small", f"no {req.format} image of this crop fits in {limit} bytes", {}, None
        data = fitted.data
        self.stats["sent"] += 1
        self.stats["bytes_sent"] += len(data)
        n = -(-len(data) // self.settings.chunk_bytes)
        meta = {
            **_describe(got, summary),
            "format": fitted.format,
            "wh": list(fitted.wh),
            "quality": fitted.quality,
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "chunks": n,
        }
        return "ok", f"{len(data)} bytes in {n} chunks", meta, data

    def _write_audit(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"))
        audit_log.info("thumbnail request: %s", line)
        try:
            with self.audit_path.open("a", encoding="utf-8") as f:
                f.write(line + "\n")
        except OSError as err:
            log.error("thumbnails: cannot write the audit log %s: %s", self.audit_path, err.strerror)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stop:
                    self._cond.wait(1.0)
                if self._stop:
                    return
                job = self._queue.popleft()
            try:
                self.handle(*job)
            except Exception:  # a bug or a full disk must not end the service
                log.exception("thumbnails: request from %s failed", job[2])

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="thumbnail-requests", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(1.5)

    def health(self) -> Health:
        ms = sorted(self.encode_ms)
        return {
            "state": "ok",
            "queued": len(self._queue),
            "encode_ms_p95": round(ms[int(0.95 * (len(ms) - 1))], 1) if ms else None,
            **self.stats,
        }


def _describe(crop: Crop, summary: dict[str, Any]) -> dict[str, Any]:
    """What the answer says about the image: which track and frame, when, what, and the target's box in it."""
    return {
        "boot": summary["boot"],
        "camera": summary["camera"],
        "track": summary["track"],
        "frame": summary["frame"],
        "t_utc": round(crop.t_utc, 3),
        "class": crop.class_name,
        "score": round(crop.score, 3),
        "box": [round(v, 4) for v in crop.box],
        "region": [round(v, 4) for v in crop.region],
    }
