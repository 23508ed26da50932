"""sim/assoc_offline.py: the pair scenario's cameras in sim time through the real detector, trackers and associator."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.assoc_offline import Recording, associate, main, record

DRONE_PAIR = Path(__file__).resolve().parents[2] / "sim" / "scenarios" / "drone-border-pair.toml"


@pytest.fixture(scope="module")
def two_seconds() -> Recording:
    """2 s of drone-border-pair at 5 fps per camera (20 frames through onnxruntime)."""
    return record(str(DRONE_PAIR), 2.0, fps=5.0)


def test_a_short_run_joins_what_both_cameras_see_and_is_the_same_when_run_again(two_seconds: Recording) -> None:
    cams = {b.camera_id for b in two_seconds.batches}
    assert cams == {"eo", "ir"}
    times = [b.t_utc for b in two_seconds.batches]
    assert times == sorted(times)  # the cameras' frames in sim-time order
    first = associate(two_seconds)
    assert first.targets_both >= 3 and first.seen_both > 0
    assert first.shared_any >= 0.5  # generous: 2 s of fresh tracks (the whole scenario: see docs/association.md)
    assert associate(two_seconds) == first  # deterministic: no wall clock anywhere


def test_a_saved_recording_scores_alike_and_a_bad_file_is_an_error_that_names_it(
    two_seconds: Recording, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rec.pkl"
    two_seconds.save(path)
    assert associate(Recording.load(path)) == associate(two_seconds)
    assert main(["--scenario", str(DRONE_PAIR), "--load", str(path), "--json"]) == 0
    assert '"shared_any"' in capsys.readouterr().out
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"not a pickle")
    assert main(["--scenario", str(DRONE_PAIR), "--load", str(bad)]) == 2
    assert f"--load: {bad}" in capsys.readouterr().err


def test_apart_takes_the_second_cameras_frames_later_and_by_box_scores_the_same_detections(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rec = record(str(DRONE_PAIR), 1.0, fps=5.0, apart=0.08)
    times = {cam: sorted({round(b.t_utc % 1.0, 3) for b in rec.batches if b.camera_id == cam}) for cam in ("eo", "ir")}
    assert times["eo"] and times["ir"]
    assert {round((t - 0.08) % 0.2, 3) for t in times["ir"]} <= {0.0, 0.2}  # 0.08 s after each eo tick
    assert {round(t % 0.2, 3) for t in times["eo"]} <= {0.0, 0.2}
    by_track, by_box = associate(rec), associate(rec, by_box=True)
    assert by_box.cameras == by_track.cameras and by_box.seen_both > 0
    assert main(["--scenario", str(DRONE_PAIR), "--apart", "-1"]) == 2
    assert "--apart -1.0" in capsys.readouterr().err


def test_camera_fps_runs_each_camera_at_its_own_rate_and_a_bad_one_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    rec = record(str(DRONE_PAIR), 3.0, fps=5.0, rates={"ir": 2.0})
    phases = {cam: {round(b.t_utc % 0.5, 3) for b in rec.batches if b.camera_id == cam} for cam in ("eo", "ir")}
    assert phases["ir"] == {0.0} and len(phases["eo"]) > 1  # ir every 0.5 s, eo every 0.2 s
    assert max(b.frame_seq for b in rec.batches if b.camera_id == "ir") <= 5
    assert main(["--scenario", str(DRONE_PAIR), "--camera-fps", "thermal=2"]) == 2
    assert "no camera 'thermal'" in capsys.readouterr().err
    assert main(["--scenario", str(DRONE_PAIR), "--camera-fps", "ir=fast"]) == 2
    assert "ir=fast: a frame rate" in capsys.readouterr().err


def test_late_hands_a_cameras_frames_on_after_capture_and_a_bad_one_is_named(
    two_seconds: Recording, capsys: pytest.CaptureFixture[str]
) -> None:
    in_order = associate(two_seconds)
    assert associate(two_seconds, late={"eo": 0.3, "ir": 0.3}) == in_order  # both as late: the same order
    late = associate(two_seconds, late={"ir": 0.3})
    assert late == associate(two_seconds, late={"ir": 0.3}) and late.seen_both > 0  # deterministic: no wall clock
    assert main(["--scenario", str(DRONE_PAIR), "--late", "day=0.3"]) == 2
    assert "no camera 'day'" in capsys.readouterr().err
    assert main(["--scenario", str(DRONE_PAIR), "--late", "ir=-1"]) == 2
    assert "ir=-1: a delay (s) of 0 to 10" in capsys.readouterr().err
    assert main(["--scenario", str(DRONE_PAIR), "--reorder-max", "11"]) == 2
    assert "--reorder-max 11.0: 0 to 10 s" in capsys.readouterr().err
