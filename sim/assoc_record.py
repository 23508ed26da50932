"""Run the daemon with its associator's input recorded, for replaying a live run offline.

``python -m sim.assoc_record FILE run --config edge.toml`` runs ``edge run --config edge.toml`` with every frame the
cameras' pipelines hand the associator (``FrameEvents``, with their ``seen`` fixes) appended to FILE as it arrives,
with its arrival time (monotonic s): a stream of pickles, flushed frame by frame, so a killed daemon loses at most
the frame being written. ``python -m sim.demo --record-association REC`` runs the daemon this way and turns the
stream into a ``sim.assoc_offline`` recording (``python -m sim.assoc_offline --load REC`` replays it in arrival
order, on the arrival clock: the live figures, then whatever settings or code one tries). A debugging tool of the
simulator: the daemon itself never writes this.
"""

from __future__ import annotations

import pickle
import sys
import threading
import time
from pathlib import Path
from typing import BinaryIO

from edge.types import FrameEvents

PROG = "python -m sim.assoc_record"


def record_into(out: BinaryIO) -> None:
    """Make every ``Associator.submit`` from now on append (arrival time, frame) to ``out`` first."""
    from edge.track.associate import Associator

    submit = Associator.submit
    lock = threading.Lock()  # the cameras' pipelines submit from their own threads

    def recorded(self: Associator, batch: FrameEvents) -> None:
        with lock:
            pickle.dump((time.monotonic(), batch), out)
            out.flush()
        submit(self, batch)

    Associator.submit = recorded  # type: ignore[method-assign]


def read(path: Path) -> tuple[list[float], list[FrameEvents]]:
    """The arrival times (monotonic s) and frames of a recorded stream, in arrival order (a torn last record, from
    a daemon killed mid-write, is left out)."""
    times, frames = [], []
    with path.open("rb") as f:
        while True:
            try:
                t, frame = pickle.load(f)
            except (EOFError, pickle.UnpicklingError, ValueError):
                break
            times.append(float(t))
            frames.append(frame)
    return times, frames


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2:
        print(f"usage: {PROG} FILE EDGE-ARGS... (e.g. run --config edge.toml)", file=sys.stderr)
        return 2
    from edge.cli import main as edge_main

    with Path(args[0]).open("ab") as out:
        record_into(out)
        return edge_main(args[1:])


if __name__ == "__main__":
    raise SystemExit(main())
