"""The crop store: encrypted at rest, bounded by age and bytes, and it says "expired" for what it let go."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.thumbs.store import Crop, CropKey, CropKeyError, CropStore, load_key

KEY = bytes(range(32))


def _crop(track: int, which: str = "best", data: bytes = b"\xff\xd8jpeg-bytes-of-a-person\xff\xd9") -> Crop:
    return Crop(
        CropKey(7, "cam0", track, which),
        data,
        1000.0 + track,
        "person",
        0.8,
        (0.2, 0.2, 0.8, 0.8),
        (0.1, 0.1, 0.3, 0.4),
    )


def test_round_trip_and_nothing_readable_on_disk(tmp_path: Path) -> None:
    store = CropStore(tmp_path / "c.sqlite", KEY, 1 << 20, 3600)
    store.put(_crop(1), now=10.0)
    got = store.get(CropKey(7, "cam0", 1, "best"), now=11.0)
    assert isinstance(got, Crop)
    assert got.jpeg == _crop(1).jpeg and got.box == (0.2, 0.2, 0.8, 0.8) and got.region == (0.1, 0.1, 0.3, 0.4)
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"jpeg-bytes-of-a-person" not in raw  # encrypted at rest
    assert (tmp_path / "c.sqlite").stat().st_mode & 0o077 == 0


def test_other_key_or_moved_blob_does_not_decrypt(tmp_path: Path) -> None:
    store = CropStore(tmp_path / "c.sqlite", KEY, 1 << 20, 3600)
    store.put(_crop(1), now=10.0)
    store.close()
    other = CropStore(tmp_path / "c.sqlite", bytes(32), 1 << 20, 3600)
    assert other.get(CropKey(7, "cam0", 1, "best"), now=11.0) == "expired"
    assert other.stats["undecryptable"] == 1


def test_age_and_bytes_limits_and_expired_answer(tmp_path: Path) -> None:
    store = CropStore(tmp_path / "c.sqlite", KEY, 1 << 20, 100)
    store.put(_crop(1), now=0.0)
    store.put(_crop(2), now=50.0)
    assert store.get(CropKey(7, "cam0", 1, "best"), now=120.0) == "expired"  # older than 100 s
    assert isinstance(store.get(CropKey(7, "cam0", 2, "best"), now=120.0), Crop)
    assert store.get(CropKey(7, "cam0", 3, "best"), now=120.0) == "unknown"  # never kept
    one = store.bytes
    small = CropStore(tmp_path / "d.sqlite", KEY, 2 * one + 10, 3600)
    for t in range(4):
        small.put(_crop(t), now=float(t))
    assert small.bytes <= 2 * one + 10 and small.count() == 2
    assert small.get(CropKey(7, "cam0", 0, "best"), now=5.0) == "expired"  # the oldest went first
    assert isinstance(small.get(CropKey(7, "cam0", 3, "best"), now=5.0), Crop)


def test_key_from_credential(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    monkeypatch.delenv("EDGE_THUMBNAIL_KEY", raising=False)
    (tmp_path / "thumbnail-key").write_text(KEY.hex() + "\n")
    assert load_key("thumbnail-key") == KEY
    (tmp_path / "thumbnail-key").write_text("not hex")
    with pytest.raises(CropKeyError, match=r"thumbnails\.key_credential: thumbnail-key: expected 64 hex digits"):
        load_key("thumbnail-key")
    assert len(load_key("absent")) == 32  # a random key for this run


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_store_is_set_aside_and_a_new_one_works(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "crops.sqlite"
    if damage == "garbage":
        path.write_bytes(bytes(range(256)) * 32)
    else:  # a real store cut short (a power cut mid-write, a full disk)
        store = CropStore(path, KEY, 1 << 20, 3600)
        for t in range(50):
            store.put(_crop(t, data=bytes(4000)), now=1000.0)
        store.close()
        path.write_bytes(path.read_bytes()[:6000])
    store = CropStore(path, KEY, 1 << 20, 3600)
    store.put(_crop(1), now=1000.0)
    assert isinstance(store.get(CropKey(7, "cam0", 1, "best"), now=1001.0), Crop)
    assert len(list(tmp_path.glob("crops.sqlite.damaged-*"))) >= 1
