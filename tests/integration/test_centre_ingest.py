"""Real Mosquitto + real PostgreSQL/PostGIS (and SQLite): a fleet publishes through the codec, three ingest workers
share the stream, one is SIGKILLed and restarted three times; every record and detection is stored exactly once."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from bench.localbroker import LocalBroker
from centre.fleet import FleetPlan, make_payloads, publish
from centre.ingest import Ingest
from centre.localpg import LocalPostgres
from centre.store import open_store
from centre.store.postgis import PostgisStore

sys.path.insert(0, str(Path(__file__).parent))
from centre_helpers import Worker, write_config

pytestmark = pytest.mark.integration


def test_three_workers_one_killed_three_times_store_every_record_once(store_url: str, tmp_path: Path) -> None:
    plan = FleetPlan(vehicles=4, records=600, dets_per_record=3, rate_hz=150.0)
    payloads = make_payloads(plan)
    total = plan.vehicles * plan.records
    with LocalBroker(tmp_path / "broker") as broker:
        workers = [
            Worker(write_config(tmp_path / f"w{i}.toml", broker.port, store_url, f"centre-{i}"), tmp_path / f"w{i}.log")
            for i in range(3)
        ]
        try:
            for w in workers:
                w.start()
            pub = threading.Thread(target=publish, args=(broker.port, payloads, plan.rate_hz), daemon=True)
            pub.start()
            for _ in range(3):  # kill one worker mid-stream, three times; it comes back with its session
                time.sleep(0.8)
                workers[0].kill()
                time.sleep(0.3)
                workers[0].start()
            pub.join(120)
            assert not pub.is_alive()
            store = open_store(store_url)
            deadline = time.monotonic() + 60
            while store.count("records") < total and time.monotonic() < deadline:
                time.sleep(0.2)
            assert store.count("records") == total
            assert store.count("detections") == total * plan.dets_per_record
            assert store.gaps() == []
            rows = store._rows("SELECT COUNT(*) FROM (SELECT DISTINCT vehicle, boot, seq, idx FROM detections) AS d")
            assert rows[0][0] == total * plan.dets_per_record
            killed_log = workers[0].log.read_text()
            assert killed_log.count("subscribed to") == 4
            store.close()
        finally:
            for w in workers:
                w.stop()


def test_a_vehicle_broker_bridged_to_the_centre_broker_delivers_every_record(tmp_path: Path) -> None:
    plan = FleetPlan(vehicles=2, records=300, dets_per_record=2, rate_hz=100.0)
    url = f"sqlite://{tmp_path}/centre.db"
    with LocalBroker(tmp_path / "centre-broker") as centre:
        bridge = (
            f"connection centre\naddress 127.0.0.1:{centre.port}\ntopic edge/# out 1\ncleansession false\n"
            "bridge_protocol_version mqttv50\nremote_clientid vehicle-bridge\n"
        )
        with LocalBroker(tmp_path / "vehicle-broker", extra_conf=bridge) as vehicle:
            worker = Worker(write_config(tmp_path / "w.toml", centre.port, url, "centre-1"), tmp_path / "w.log")
            try:
                worker.start()
                publish(vehicle.port, make_payloads(plan), plan.rate_hz)
                store = open_store(url)
                deadline = time.monotonic() + 60
                while store.count("records") < plan.vehicles * plan.records and time.monotonic() < deadline:
                    time.sleep(0.2)
                assert store.count("records") == plan.vehicles * plan.records
                assert store.count("detections") == plan.vehicles * plan.records * plan.dets_per_record
                assert store.gaps() == []
            finally:
                worker.stop()


def test_postgres_crashing_mid_stream_loses_nothing(tmp_path: Path) -> None:
    plan = FleetPlan(vehicles=2, records=400, dets_per_record=2, rate_hz=100.0)
    total = plan.vehicles * plan.records
    with LocalPostgres() as pg, LocalBroker(tmp_path / "broker") as broker:
        worker = Worker(write_config(tmp_path / "w.toml", broker.port, pg.url, "centre-1"), tmp_path / "w.log")
        try:
            worker.start()
            pub = threading.Thread(target=publish, args=(broker.port, make_payloads(plan), plan.rate_hz), daemon=True)
            pub.start()
            time.sleep(1.0)
            pg.crash()  # the worker's writes fail: it keeps its batch unacknowledged and reconnects
            time.sleep(2.0)
            pg.start()
            pub.join(120)
            store = open_store(pg.url)
            deadline = time.monotonic() + 60
            while store.count("records") < total and time.monotonic() < deadline:
                time.sleep(0.2)
            assert store.count("records") == total
            assert store.count("detections") == total * plan.dets_per_record
            assert "database write failed" in worker.log.read_text()
            assert worker.proc is not None and worker.proc.poll() is None
        finally:
            worker.stop()


def test_a_batch_partly_stored_already_keeps_its_new_rows_and_the_vehicle_state(store_url: str) -> None:
    plan = FleetPlan(vehicles=1, records=20, dets_per_record=3)
    msgs = [("edge/veh-00/detections", p) for p in make_payloads(plan)["veh-00"]]
    ingest = Ingest(open_store(store_url), ("person", "vehicle", "boat"))
    try:
        ingest.handle(msgs[:10])
        ingest.handle([("edge/veh-00/status", b"online"), *msgs[5:]])  # 5 redelivered, 10 new, one state
        assert ingest.store.count("records") == 20
        assert ingest.store.count("detections") == 60
        assert ingest.store.states()["veh-00"]["status"] == "online"
        if isinstance(ingest.store, PostgisStore):  # COPY straight in; the second batch through the staging tables
            assert (ingest.store.direct_batches, ingest.store.staged_batches) == (1, 1)
    finally:
        ingest.store.close()


def test_a_store_opened_while_a_worker_holds_a_batch_open_does_not_wait_for_it() -> None:
    """CI, 4 Dec: a reader opening the PostGIS store while a worker stored deadlocked with it (the schema's CREATE
    INDEX IF NOT EXISTS takes a SHARE lock on a table a batch is writing). A worker's uncommitted batch here: the
    store opens at once, without the schema's DDL."""
    with LocalPostgres() as pg:
        worker = PostgisStore(pg.url)  # creates the schema
        opened: list[object] = []
        reader = threading.Thread(target=lambda: opened.append(open_store(pg.url)), daemon=True)
        try:
            worker.conn.execute("INSERT INTO audit VALUES (0, 'w', 'store', 'batch')")  # its transaction left open
            reader.start()
            reader.join(10)
            assert opened, "opening the store waited for the worker's batch"
        finally:
            worker.conn.rollback()
            if reader.is_alive():
                reader.join(10)
            worker.close()
        assert isinstance(opened[0], PostgisStore)
        opened[0].close()
