"""Real PostgreSQL/PostGIS (and SQLite): a record the database refuses (a value beyond its column) must not hold the
stream up; the rest of its batch is stored, the refused one counted. Odd vehicle ids and text are stored as sent."""

from __future__ import annotations

import threading
import time
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


def test_a_worker_fed_garbage_on_every_topic_keeps_storing(store_url: str, tmp_path: Path) -> None:
    """A real ``edge-centre ingest`` worker and Mosquitto: 1500 fuzzed messages on the five topics, then a fleet's
    records; every record is stored, the worker is alive and its log has no traceback."""
    import random

    import paho.mqtt.client as mqtt

    from bench.localbroker import LocalBroker
    from centre.fleet import publish
    from tests.centre.test_ingest_fuzz import KINDS, _mutate, _valid
    from tests.integration.centre_helpers import Worker, write_config

    rnd = random.Random(9)
    valid = _valid()
    plan = FleetPlan(vehicles=2, records=50)
    with LocalBroker(tmp_path / "broker") as broker:
        worker = Worker(write_config(tmp_path / "w.toml", broker.port, store_url, "centre-g"), tmp_path / "w.log")
        try:
            worker.start()
            c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
            c.connect("127.0.0.1", broker.port)
            c.loop_start()
            for i in range(1500):
                payload = _mutate(rnd, rnd.choice(valid)) if rnd.random() < 0.8 else rnd.randbytes(rnd.randrange(60))
                c.publish(f"edge/g{i % 3}/{rnd.choice(KINDS)}", payload, qos=1).wait_for_publish(10)
            c.disconnect()
            c.loop_stop()
            publish(broker.port, make_payloads(plan), 500.0)
            store = open_store(store_url)
            fleet = {"veh-00", "veh-01"}

            def stored() -> int:
                return len(store.detections(plan.t0 - 1, plan.t0 + 3600, vehicles=fleet))

            deadline = time.monotonic() + 60
            while stored() < 200 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert stored() == 2 * plan.records * plan.dets_per_record
            store.close()
            assert worker.proc is not None and worker.proc.poll() is None
        finally:
            worker.stop()
    log = worker.log.read_text()
    assert "Traceback" not in log and "undecodable" in log
