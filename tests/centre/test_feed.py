"""The fusion feed on a real SQLite store: a sighting merged into another leaves the store, and TAK hears it go."""

from __future__ import annotations

import socket
from pathlib import Path

from centre.config import CentreConfig
from centre.cot import CotSender, is_cot
from centre.feed import Feed
from centre.fusion import M_PER_DEG
from centre.store import open_store
from centre.store.rows import DetRow


def _det(vehicle: str, t: float, north_m: float) -> DetRow:
    return (vehicle, 1, int(t * 10), 0, t, "cam0", 0, "person", 1, 0.9, 1, 48.0 + north_m / M_PER_DEG, 17.0, 0.0, 5.0)


def test_a_merged_sighting_is_deleted_and_sent_stale(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/c.sqlite")
    tak = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tak.bind(("127.0.0.1", 0))
    tak.settimeout(2.0)
    feed = Feed(CentreConfig(), store, CotSender(f"udp://127.0.0.1:{tak.getsockname()[1]}"))
    store.write([], [_det("a", 0.0, 0.0), _det("b", 0.1, 25.0)])  # 25 m apart: two sightings
    assert feed.poll() == 2 and store.count("sightings") == 2
    store.write([], [_det("a", 0.5, 10.0), _det("b", 0.6, 12.0)])  # now 2 m apart: one object
    feed.poll()
    assert [s["id"] for s in store.sightings(0, 10)] == ["a-00000001-cam0-1"]
    events = [is_cot(tak.recv(65536)) for _ in range(4)]
    gone = [e for e in events if e.get("uid") == "edge-centre-b-00000001-cam0-1"]
    assert len(gone) == 2 and str(gone[-1].get("stale")) < str(events[-2].get("stale"))  # stale at once
    tak.close()
