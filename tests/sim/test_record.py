"""Recording and reading back: frames, ground truth, poses, and the MAVLink tlog over a real UDP socket."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from pymavlink import mavutil

from sim.record import Recorder, Recording, TlogRecorder
from sim.render import Renderer
from sim.scenario import load_scenario
from sim.world import World

SCENARIO = Path(__file__).resolve().parents[2] / "sim" / "scenarios" / "coast.toml"


@pytest.mark.parametrize("mode", ["day", "thermal"])
def test_record_and_read_back(tmp_path: Path, mode: str) -> None:
    w = World(load_scenario(SCENARIO))
    r = Renderer(w, mode=mode)
    rec = Recorder(tmp_path / "rec", w, mode, SCENARIO)
    shots = [r.render(t) for t in (0.0, 0.1, 0.3)]
    for i, (img, gt) in zip((0, 1, 3), shots, strict=True):
        rec.write(i, img, gt)
    rec.close()

    back = Recording(tmp_path / "rec")
    assert len(back) == 3 and back.fps == 10.0 and back.meta["mode"] == mode and back.meta["frames"] == 3
    assert back.scenario_path is not None and load_scenario(back.scenario_path).name == "coast"
    for frame, (img, gt) in zip(back, shots, strict=True):
        got = back.image(frame)
        assert got.shape == img.shape and got.dtype == img.dtype
        if mode == "thermal":
            assert np.array_equal(got, img)  # 16-bit PNG is lossless
        else:
            assert np.abs(got.astype(int) - img.astype(int)).mean() < 3.0
        assert frame.truth.pose == gt.pose and frame.truth.target_ids.tolist() == gt.target_ids.tolist()
        assert np.allclose(frame.truth.boxes, gt.boxes, atol=1e-3)
    assert back.frame_at(0.25).index == 1 and back.frame_at(5.0).index == 3 and back.frame_at(-1.0).index == 0
    assert back.pose_at(0.05) == shots[0][1].pose and back.pose_at(-1.0) is None


def test_recorder_refuses_a_used_folder_and_reader_names_bad_input(tmp_path: Path) -> None:
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    w = World(load_scenario(SCENARIO))
    with pytest.raises(FileExistsError, match="not empty"):
        Recorder(tmp_path / "used", w, "day")
    with pytest.raises(ValueError, match="not a simulator recording"):
        Recording(tmp_path / "used")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "meta.json").write_text("{}")
    (bad / "truth.jsonl").write_text('{"index": 0}\n')
    with pytest.raises(ValueError, match=r"truth\.jsonl:1: bad line"):
        Recording(bad)


def test_tlog_recorder_writes_crc_checked_mavlink(tmp_path: Path) -> None:
    tlog = TlogRecorder(tmp_path / "m.tlog")
    tlog.start()
    out = mavutil.mavlink_connection(tlog.url, source_system=1, source_component=1)
    try:
        for i in range(5):
            out.mav.heartbeat_send(2, 3, 0, 0, 4)
            out.mav.global_position_int_send(i * 100, 426000000, 199400000, 1100000, 100000, 0, 0, 0, 9000)
        deadline = time.monotonic() + 5.0
        while tlog.messages < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        tlog.stop()
        out.close()
    log = mavutil.mavlink_connection(str(tmp_path / "m.tlog"))
    msgs = []
    while (m := log.recv_match(blocking=False)) is not None:
        msgs.append(m)
    assert [m.get_type() for m in msgs] == ["HEARTBEAT", "GLOBAL_POSITION_INT"] * 5
    assert [m.time_boot_ms for m in msgs if m.get_type() == "GLOBAL_POSITION_INT"] == [0, 100, 200, 300, 400]
    assert abs(msgs[0]._timestamp - time.time()) < 60
