"""The fusion loop: read newly stored detections, fuse them into sightings, store those, send CoT.

Detections are read by id. Ingest workers commit concurrently, so an id may become visible after a higher one:
each poll re-reads ``REREAD`` ids below the highest seen and skips those already fused (a bounded memory).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

from centre.config import CentreConfig
from centre.cot import CotSender, sighting_cot
from centre.fusion import Fuser
from centre.store import Store
from centre.store.rows import DET_COLUMNS, Detection

log = logging.getLogger("centre.feed")
REREAD = 20_000
SEEN_MAX = 200_000


class Feed:
    """``poll()`` once per second; returns the number of sightings created or moved. A sighting fusion merged
    into another is deleted from the store (and sent to TAK once more, stale in a second)."""

    def __init__(self, cfg: CentreConfig, store: Store, cot: CotSender | None) -> None:
        self.cfg = cfg
        self.store = store
        self.cot = cot
        self.fuser = Fuser(cfg.fusion)
        self.last_id = 0
        self.seen: OrderedDict[int, None] = OrderedDict()
        self.new_sightings = 0

    def poll(self, limit: int = 50_000) -> int:
        cols = ", ".join(DET_COLUMNS)
        rows = self.store._rows(
            f"SELECT id, {cols} FROM detections WHERE id > ? ORDER BY id LIMIT {int(limit)}",
            [max(0, self.last_id - REREAD)],
        )
        changed = {}
        for row in rows:
            did = int(row[0])
            self.last_id = max(self.last_id, did)
            if did in self.seen:
                continue
            self.seen[did] = None
            if len(self.seen) > SEEN_MAX:
                self.seen.popitem(last=False)
            s = self.fuser.add(Detection(*row[1:]))
            if s is not None:
                changed[s.id] = s
        gone = {s.id: s for s in self.fuser.merged}  # merged into another sighting: no longer an object of its own
        self.fuser.merged.clear()
        for sid in gone:
            changed.pop(sid, None)
        if changed:
            self.store.save_sightings([s.row() for s in changed.values()])
        if gone:
            self.store.delete_sightings(gone)
        if self.cot is not None:
            for s in changed.values():
                self.cot.send(sighting_cot(s.as_dict(), self.cfg.tak.stale_s))
            for s in gone.values():
                self.cot.send(sighting_cot(s.as_dict(), 1))  # TAK clients drop it within a second
        if rows:
            self.fuser.expire(max(float(r[5]) for r in rows))
        return len(changed)

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set."""
        while not stop.is_set():
            try:
                n = self.poll()
            except Exception as err:  # the database went away: keep trying
                log.warning("fusion poll failed: %s", err)
                n = 0
            if n == 0:
                stop.wait(1.0)
