"""The SQLite backend and the ingest's decoding (PostGIS runs the same SQL in tests/integration)."""

from __future__ import annotations

from pathlib import Path

import cbor2

from centre.fleet import FleetPlan, make_payloads
from centre.ingest import Ingest
from centre.store import open_store
from centre.store.rows import Gap


def _ingest(tmp_path: Path) -> tuple[Ingest, dict[str, list[bytes]]]:
    store = open_store(f"sqlite://{tmp_path}/c.db")
    return Ingest(store, ("person", "vehicle", "boat")), make_payloads(FleetPlan(vehicles=2, records=10))


def test_a_redelivered_record_is_stored_once(tmp_path: Path) -> None:
    ing, payloads = _ingest(tmp_path)
    msgs = [(f"edge/{v}/detections", p) for v, recs in payloads.items() for p in recs]
    ing.handle(msgs)
    ing.handle(msgs[:5])  # the broker sends a batch again after a crash between commit and PUBACK
    assert ing.store.count("records") == 20
    assert ing.store.count("detections") == 40


def test_gaps_list_the_missing_sequence_numbers_per_boot(tmp_path: Path) -> None:
    ing, payloads = _ingest(tmp_path)
    recs = payloads["veh-00"]
    ing.handle([("edge/veh-00/detections", p) for i, p in enumerate(recs) if i not in (0, 1, 4, 7, 8)])
    ing.handle([("edge/veh-01/detections", p) for p in payloads["veh-01"]])
    gaps = ing.store.gaps()
    boot = gaps[0].boot
    assert gaps == [Gap("veh-00", boot, 0, 1), Gap("veh-00", boot, 4, 4), Gap("veh-00", boot, 7, 8)]
    assert ing.store.gaps("veh-01") == []


def test_undecodable_payloads_are_counted_not_stored(tmp_path: Path) -> None:
    ing, payloads = _ingest(tmp_path)
    ing.handle([("edge/veh-00/detections", b"\xff\x00junk"), ("edge/veh-00/detections", payloads["veh-00"][0])])
    assert ing.counters.bad == 1
    assert ing.store.count("records") == 1


def test_time_and_bbox_query(tmp_path: Path) -> None:
    ing, payloads = _ingest(tmp_path)
    ing.handle([(f"edge/{v}/detections", p) for v, recs in payloads.items() for p in recs])
    t0 = FleetPlan().t0
    everything = ing.store.detections(t0 - 1, t0 + 100)
    assert len(everything) == 40
    near_first = ing.store.detections(t0 - 1, t0 + 100, bbox=(16.99, 47.99, 17.01, 48.005))
    assert {d.vehicle for d in near_first} == {"veh-00"}
    assert len(ing.store.detections(t0 - 1, t0 + 100, classes=["vehicle"])) == 20
    assert len(ing.store.detections(t0 + 1000, t0 + 2000)) == 0


def test_status_and_health_are_kept_per_vehicle(tmp_path: Path) -> None:
    ing, payloads = _ingest(tmp_path)
    health = cbor2.dumps({"vehicle": "veh-00", "stages": {"spool": {"rows": 3}}})
    ing.handle([("edge/veh-00/status", b"online"), ("edge/veh-00/detections", payloads["veh-00"][0])])
    ing.handle([("edge/veh-00/health", health), ("edge/veh-01/status", b"offline"), ("edge/veh-01/health", b"\xff")])
    states = ing.store.states()
    assert states["veh-00"]["status"] == "online" and states["veh-00"]["health"]["stages"]["spool"]["rows"] == 3
    assert states["veh-01"]["status"] == "offline" and ing.counters.bad == 1
    vehicles = {v["vehicle"]: v for v in ing.store.vehicles()}
    assert vehicles["veh-00"]["status"] == "online" and vehicles["veh-00"]["lat"] is not None
    assert vehicles["veh-01"]["status"] == "offline" and vehicles["veh-01"]["lat"] is None
