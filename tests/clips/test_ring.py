"""The ring's eviction (age, bytes), cutting a clip at keyframes and frame boundaries, and the clips' retention."""

from __future__ import annotations

import os
from pathlib import Path

from edge.clips.ring import Ring, prune

HEAD = b"H" * 10


def fill(ring: Ring, seconds: int, per_segment: int = 5, frame: bytes = b"f" * 100) -> None:
    """``seconds`` x 10 frames at 10 fps from t = 0, a segment every ``per_segment`` frames."""
    for i in range(seconds * 10):
        if i % per_segment == 0:
            ring.start_segment(HEAD)
        ring.add_frame(i / 10, frame, {"i": i})


def test_age_evicts_oldest_segments_but_never_the_open_one(tmp_path: Path) -> None:
    ring = Ring(tmp_path / "ring", max_s=2.0, max_bytes=10**9)
    fill(ring, 6)
    ring.evict(now=5.85)
    # segments of 0.5 s: the ones whose newest frame is within 2 s of 5.85 stay (from the one ending at 3.9)
    assert ring.segments[0].frames[0][0] == 3.5
    assert ring.evicted == 7
    assert sorted(p.name for p in (tmp_path / "ring").iterdir()) == [s.path.name for s in ring.segments]
    ring.evict(now=1000.0)
    assert len(ring.segments) == 1  # the segment being written stays


def test_bytes_evict_oldest_segments(tmp_path: Path) -> None:
    ring = Ring(tmp_path / "ring", max_s=1e9, max_bytes=2000)
    fill(ring, 3)  # 6 segments of 510 bytes
    ring.evict(now=3.0)
    assert ring.size <= 2000 and len(ring.segments) == 3
    assert ring.size == sum(p.stat().st_size for p in (tmp_path / "ring").glob("seg-*.ts"))


def test_ring_is_emptied_at_start(tmp_path: Path) -> None:
    (tmp_path / "ring").mkdir()
    (tmp_path / "ring" / "seg-00000001.ts").write_bytes(b"old video")
    Ring(tmp_path / "ring", 10.0, 10**6)
    assert list((tmp_path / "ring").iterdir()) == []


def test_extract_starts_at_the_keyframe_before_and_ends_at_the_last_frame_in(tmp_path: Path) -> None:
    ring = Ring(tmp_path / "ring", 100.0, 10**9)
    fill(ring, 4, frame=b"f" * 7)
    out = tmp_path / "clip.ts"
    infos = ring.extract(1.2, 2.25, out)
    assert [i["i"] for _, i in infos] == list(range(10, 23)) and infos[0][
        0
    ] == 1.0  # keyframe at 1.0 (frame 10) .. frame 22 (2.2 s)
    # two segments' headers (1.0 and 1.5, 2.0) and 13 frames
    assert out.read_bytes() == HEAD + b"f" * 35 + HEAD + b"f" * 35 + HEAD + b"f" * 21


def test_extract_of_nothing_writes_no_file(tmp_path: Path) -> None:
    ring = Ring(tmp_path / "ring", 100.0, 10**9)
    fill(ring, 1)
    assert ring.extract(5.0, 6.0, tmp_path / "c.ts") == [] or not (tmp_path / "c.ts").exists()


def test_prune_by_age_then_bytes(tmp_path: Path) -> None:
    now = 1_000_000.0
    for i, age_days in enumerate([40, 20, 10, 1]):
        clip = tmp_path / f"c{i}.ts"
        clip.write_bytes(b"x" * 1000)
        clip.with_suffix(".json").write_text("{}")
        os.utime(clip, (now - age_days * 86400, now - age_days * 86400))
    assert prune(tmp_path, keep_s=30 * 86400, keep_bytes=10**6, now=now) == 1
    assert sorted(p.name for p in tmp_path.glob("*.ts")) == ["c1.ts", "c2.ts", "c3.ts"]
    assert not (tmp_path / "c0.json").exists()
    assert prune(tmp_path, keep_s=30 * 86400, keep_bytes=2000, now=now) == 1
    assert sorted(p.name for p in tmp_path.glob("*")) == ["c2.json", "c2.ts", "c3.json", "c3.ts"]


def test_prune_passes_over_what_is_not_a_clip(tmp_path: Path) -> None:
    (tmp_path / "folder.ts").mkdir()  # a folder, a link to nothing: someone's hands in the clip folder
    (tmp_path / "dangling.ts").symlink_to(tmp_path / "nowhere")
    old = tmp_path / "old.ts"
    old.write_bytes(b"x" * 1000)
    os.utime(old, (1.0, 1.0))
    assert prune(tmp_path, keep_s=86400, keep_bytes=10**6, now=1_000_000.0) == 1
    assert not old.exists() and (tmp_path / "folder.ts").is_dir()
