"""Acknowledged alerts, one JSON line each in ``<state dir>/console-acks.jsonl``: who, when, and which alert."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


class AckLog:
    """Appends one line per acknowledgement (a crew's action: a handful a day, so the file stays small)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, alert: dict[str, Any], by: str) -> dict[str, Any]:
        """Write ``{"by", "t_utc", "alert": {...}}`` and return ``{"by", "t_utc"}``."""
        ack = {"by": by, "t_utc": round(time.time(), 3)}
        line = {**ack, "alert": {k: alert.get(k) for k in ("id", "t_utc", "camera", "track_id", "class", "lat", "lon")}}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
        return ack
