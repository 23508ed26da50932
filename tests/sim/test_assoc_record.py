"""A live run's associator input recorded (sim.assoc_record under sim.demo) and replayed offline: the replay gives
the live run's figures; a torn stream keeps its whole records."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import pytest

from edge.types import FrameEvents
from sim.assoc_offline import Recording, associate, main
from sim.assoc_record import main as record_main
from sim.assoc_record import read
from sim.demo import REPO, Demo

PAIR = REPO / "sim" / "scenarios" / "drone-border-pair.toml"


def test_a_recorded_live_run_replays_to_its_live_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rec_path = tmp_path / "live.rec"
    demo = Demo(str(PAIR), tmp_path, record_association=rec_path)
    try:
        demo.follow(demo.start(), echo=False)
        time.sleep(40.0)
    finally:
        demo.stop()
    rec = Recording.load(rec_path)
    assert rec.arrivals is not None and len(rec.arrivals) == len(rec.batches) > 20
    assert rec.arrivals == sorted(rec.arrivals) and {b.camera_id for b in rec.batches} == {"eo", "ir"}
    assert rec.t0_utc == demo.status["t0_utc"]
    live = demo.association()
    replay = associate(rec)
    assert live is not None and live.seen_both > 20, live
    # the replay runs the associator on what the daemon's did; the live side lost at most the frames in flight at
    # the stop (sent but not yet heard by `edge listen`)
    assert replay.seen_both == pytest.approx(live.seen_both, rel=0.1, abs=5), (replay, live)
    assert replay.shared_any == pytest.approx(live.shared_any, abs=0.03), (replay, live)
    assert main(["--scenario", str(PAIR), "--load", str(rec_path)]) == 0
    assert "association:" in capsys.readouterr().out


def test_a_torn_stream_keeps_its_whole_records_and_usage_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "input.pickles"
    frames = [FrameEvents("eo", i, 100.0 + i, None, ()) for i in range(3)]
    data = b"".join(pickle.dumps((10.0 + i, f)) for i, f in enumerate(frames))
    path.write_bytes(data[:-7])  # the daemon was killed in the middle of the third
    times, got = read(path)
    assert times == [10.0, 11.0] and [f.frame_seq for f in got] == [0, 1]
    assert record_main([str(path)]) == 2
    assert "usage: python -m sim.assoc_record FILE" in capsys.readouterr().err
