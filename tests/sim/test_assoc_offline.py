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
