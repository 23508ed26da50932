"""The ground side of thumbnails: reassemble the chunks of ``edge/<vehicle>/thumbnail`` and write image files.

``edge listen --images DIR`` writes ``<vehicle>-<boot>-<camera>-t<track>-<frame>-<id>.jpg`` (or .webp) and beside
it a ``.json`` with the answer's description (capture time, class, score, the target's box in the crop, the crop's
region in the frame). Answers other than "ok" (expired, unknown, refused...) are logged in words.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from edge.thumbs.wire import Image, Reassembler

log = logging.getLogger("edge.listen.images")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
EXT = {"jpeg": "jpg", "webp": "webp"}


def file_stem(meta: dict[str, object]) -> str:
    """The file name (no extension) of an image: vehicle, boot, camera, track, frame and request id, made safe."""
    boot = meta.get("boot")
    parts = [meta.get("vehicle"), f"{boot:08x}" if isinstance(boot, int) else boot, meta.get("camera"),
             f"t{meta.get('track')}", meta.get("frame"), meta.get("id") or "noid"]  # fmt: skip
    return "-".join(_SAFE.sub("_", str(p)) for p in parts)


class ImageWriter:
    """Takes thumbnail-topic messages; writes each complete image (and its description) into ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.assembler = Reassembler()
        self.written: list[Path] = []
        self.failed = 0  # complete images that could not be written

    def summary(self) -> str:
        """One line: images written, not written, and messages that were not (part of) an image."""
        a = self.assembler
        return (
            f"images: {len(self.written)} written, {self.failed} not written; {a.bad} unreadable messages, "
            f"{a.dropped} unfinished images given up"
        )

    def take(self, topic: str, payload: bytes) -> Path | None:
        """One message from ``edge/<vehicle>/thumbnail``; the image file's path once the image is complete."""
        vehicle = topic.split("/")[1] if topic.count("/") >= 2 else "?"
        got = self.assembler.add(vehicle, payload)
        if isinstance(got, dict):
            log.warning("vehicle %s: thumbnail request %r: %s: %s", vehicle, got.get("id"), got.get("status"),
                        got.get("text"))  # fmt: skip
            return None
        if not isinstance(got, Image):
            return None
        stem = file_stem(got.meta)[:200]
        path = self.folder / f"{stem}.{EXT.get(str(got.meta.get('format')), 'bin')}"
        try:
            path.write_bytes(got.data)
            (self.folder / f"{stem}.json").write_text(json.dumps(got.meta, indent=1, default=str))
        except OSError as err:  # a full disk, the folder gone: the next image may fare better
            self.failed += 1
            log.error("vehicle %s: thumbnail %s (%d bytes) not written: %s", vehicle, path, len(got.data), err)
            return None
        self.written.append(path)
        log.info("vehicle %s: thumbnail %s (%d bytes) written", vehicle, path, len(got.data))
        return path
