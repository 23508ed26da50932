"""A TAK client stand-in (a UDP socket) gets valid CoT for every sighting the centre fuses from a live fleet:
real Mosquitto, a real ingest worker and ``edge-centre serve`` as processes, CoT decoded by takproto."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import takproto

from bench.localbroker import LocalBroker, free_port
from centre.cot import is_cot
from centre.fleet import FleetPlan, make_payloads, publish
from centre.store import open_store

sys.path.insert(0, str(Path(__file__).parent))
from centre_helpers import Worker, write_config

pytestmark = pytest.mark.integration


def test_every_sighting_reaches_the_tak_listener_as_valid_cot(store_url: str, tmp_path: Path) -> None:
    tak = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tak.bind(("127.0.0.1", 0))
    tak.settimeout(0.5)
    api_port = free_port()
    url = store_url
    plan = FleetPlan(vehicles=2, records=40, dets_per_record=3, rate_hz=20.0, t0=time.time())
    with LocalBroker(tmp_path / "broker") as broker:
        extra = f'[tak]\nurl = "udp://127.0.0.1:{tak.getsockname()[1]}"\n[api]\nport = {api_port}\n'
        cfg = write_config(tmp_path / "c.toml", broker.port, url, "centre-1", extra)
        worker = Worker(cfg, tmp_path / "ingest.log")
        with (tmp_path / "serve.log").open("wb") as log:
            serve = subprocess.Popen(
                [sys.executable, "-m", "centre", "--config", str(cfg), "serve"], stdout=log, stderr=log
            )
        try:
            worker.start()
            publish(broker.port, make_payloads(plan), plan.rate_hz)
            events: dict[str, takproto.TakMessage] = {}
            deadline = time.monotonic() + 30
            store = open_store(url)
            while time.monotonic() < deadline:
                try:
                    data = tak.recv(65536)
                except TimeoutError:
                    ids = {s["id"] for s in store.sightings(0, time.time() + 3600)}
                    if ids and store.count("detections") == 240 and {f"edge-centre-{i}" for i in ids} <= set(events):
                        break
                    continue
                root = is_cot(data)
                msg = takproto.parse_proto(data)  # the TAK library reads it as CoT too
                assert msg.cotEvent.uid == root.get("uid")
                events[root.get("uid")] = msg
            sightings = store.sightings(0, time.time() + 3600)
            assert len(sightings) == 2 * 3  # each vehicle's three people are far apart: six sightings
            assert {f"edge-centre-{s['id']}" for s in sightings} == set(events)
            for s in sightings:
                ev = events[f"edge-centre-{s['id']}"].cotEvent
                assert ev.how == "m-f" and ev.type.startswith("a-u-")
                assert abs(ev.lat - s["lat"]) < 1e-6 and abs(ev.lon - s["lon"]) < 1e-6
            with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/login") as r:
                assert r.status == 200
            assert json.loads(json.dumps(sightings))  # rows are plain JSON values
        finally:
            worker.stop()
            serve.terminate()
            serve.wait(10)
            tak.close()
