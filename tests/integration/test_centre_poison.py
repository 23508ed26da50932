"""Real PostgreSQL/PostGIS (and SQLite): a record the database refuses (a value beyond its column) must not hold the
stream up; the rest of its batch is stored, the refused one counted. Odd vehicle ids and text are stored as sent."""

from __future__ import annotations

import threading
from pathlib import Path

import cbor2
import pytest

from centre.fleet import FleetPlan, make_payloads
from centre.ingest import Ingest, _store_batch
from centre.localpg import LocalPostgres
from centre.store import open_store

pytestmark = pytest.mark.integration


def test_a_record_postgres_refuses_is_dropped_and_counted_the_rest_stored() -> None:
    good = make_payloads(FleetPlan(vehicles=1, records=4))["veh-00"]
    rec = cbor2.loads(good[3])
    det = rec[-1]
    rec[-1] = [*det[:7], 10**300]  # an error radius beyond PostgreSQL's real
    msgs = [("edge/veh-00/detections", p) for p in [*good[:3], cbor2.dumps(rec)]]
    with LocalPostgres() as pg:
        ingest = Ingest(open_store(pg.url), ("person", "vehicle", "boat"))
        t = threading.Thread(target=_store_batch, args=(ingest, pg.url, msgs), daemon=True)
        t.start()
        t.join(60)
        assert not t.is_alive(), "the ingest retried a refused record forever"
        assert ingest.store.count("records") == 3 and ingest.counters.bad == 1
        ingest.store.close()


def test_odd_vehicle_ids_and_text_are_stored(store_url: str, tmp_path: Path) -> None:
    payload = make_payloads(FleetPlan(vehicles=1, records=1))["veh-00"][0]
    ingest = Ingest(open_store(store_url), ("person", "vehicle", "boat"))
    try:
        odd = "vé'hi\"cle;--ü 🚙"
        ingest.handle([(f"edge/{odd}/detections", payload), (f"edge/{odd}/status", b"on\x00line\xff")])
        audit = {"t": "audit", "requester": "a\x00b", "status": "ok", "t_utc": 5.0}
        ingest.handle([(f"edge/{odd}/audit", cbor2.dumps(audit))])
        assert [v["vehicle"] for v in ingest.store.vehicles()] == [odd]
        assert ingest.store.states()[odd]["status"] == "on\ufffdline\ufffd"
        assert any(u == f"{odd}:a\ufffdb" for _, u, _, _ in ingest.store.audit_log())
    finally:
        ingest.store.close()
