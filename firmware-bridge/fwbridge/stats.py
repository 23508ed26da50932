"""Per-link counters, and the JSON statistics document the bridge writes and serves."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class LinkStats:
    """Counters of one link since the bridge started. ``seq_lost`` counts frames missing from sequence gaps;
    ``opens`` counts successful (re)opens; ``drop_stranger`` datagrams a udp-client took from another sender
    than its peer."""

    state: str = "down"
    rx_msgs: int = 0
    rx_bytes: int = 0
    tx_msgs: int = 0
    tx_bytes: int = 0
    crc_errors: int = 0
    unknown_ids: int = 0
    seq_lost: int = 0
    drop_rate: int = 0
    drop_filter: int = 0
    drop_io: int = 0
    drop_unroutable: int = 0
    signing_rejected: int = 0
    drop_stranger: int = 0
    opens: int = 0
    last_error: str = ""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def seq_gap(last: int, seq: int) -> int:
    """Frames missing between sequence numbers ``last`` and ``seq`` (mod 256); 0 when consecutive.

    A repeated number (duplicate or restart) counts as no gap.
    """
    gap = (seq - last - 1) & 0xFF
    return 0 if gap == 255 else gap


def write_json_atomic(path: Path, doc: dict[str, object]) -> None:
    """Write ``doc`` to ``path`` through a temporary file and rename, so readers never see half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
