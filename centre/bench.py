"""``edge bench`` part ``centre``: ingest rate into PostGIS with three workers, and the p95 of a map query.

* ``centre_ingest_det_per_s``: the fleet's records wait in the broker (three persistent sessions of a shared
  subscription, workers stopped), then three ``edge-centre ingest`` processes start and drain them into PostGIS;
  detections stored / seconds from the first stored detection to the last (the workers' start-up, imports and
  connections, is left out: a worker runs for months). 5 detections per record.
  ``centre_ingest_det_per_worker_cpu_s``: the same detections / the CPU seconds the three workers used (what one
  core dedicated to one worker would store per second; the wall-time figure depends on how busy the machine is).
  ``centre_ingest_det_per_pipeline_cpu_s``: detections / the CPU seconds of everything that stores them (workers,
  PostgreSQL's processes, Mosquitto); times ``centre_bench_cpus`` it is the rate a machine doing nothing else would
  reach. ``centre_bench_cpus`` and ``centre_bench_load_1m`` (the load average at the start) say what ran it.
* ``centre_query_ms_p95``: 1,000,000 detections over 24 h in a 100 km square (generated inside PostgreSQL in time
  order, as ingest appends them), then random one-hour, 10 km x 10 km windows through ``Store.detections``; the
  95th percentile in ms.
* ``centre_fusion_one_sighting_pct`` / ``centre_fusion_within_radius_pct``: centre.fusion_eval (synthetic truth).
Needs Debian's postgresql-15 + postgis and mosquitto (like the tests).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

from bench.localbroker import LocalBroker
from centre.fleet import FleetPlan, make_payloads, publish
from centre.fusion import M_PER_DEG
from centre.fusion_eval import evaluate
from centre.localpg import LocalPostgres
from centre.store import Store, open_store

WORKERS = 3


def _workers(out: Path, port: int, url: str) -> list[subprocess.Popen[bytes]]:
    procs = []
    for i in range(WORKERS):
        cfg = out / f"w{i}.toml"
        cfg.write_text(
            f'[mqtt]\nurl = "mqtt://127.0.0.1:{port}"\nclient_id = "bench-{i}"\nbatch_max = 1000\n'
            f'receive_maximum = 5000\n[store]\nurl = "{url}"\n'
        )
        with (out / f"w{i}.log").open("ab") as log:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "centre", "--config", str(cfg), "ingest"], stdout=log, stderr=log
                )
            )
    return procs


def _subscriptions(out: Path) -> int:
    """How many times the workers' logs (appended to by every run) say a worker subscribed."""
    logs = [out / f"w{i}.log" for i in range(WORKERS)]
    return sum(log.read_text().count("subscribed to") for log in logs if log.exists())


def _wait_subscribed(out: Path, n: int, timeout: float = 30.0) -> None:
    """Wait until the logs say a worker subscribed ``n`` times in all."""
    deadline = time.monotonic() + timeout
    while _subscriptions(out) < n:
        if time.monotonic() > deadline:
            raise RuntimeError("ingest workers did not subscribe")
        time.sleep(0.05)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(30)


def ingest_rate(out: Path, pg: LocalPostgres, quick: bool) -> tuple[float, float, float]:
    """Detections stored per second of wall time, per CPU second of the three workers together, and per CPU second
    of the workers, PostgreSQL and Mosquitto together."""
    plan = FleetPlan(vehicles=10, records=1000 if quick else 4000, dets_per_record=5, rate_hz=0)
    payloads = make_payloads(plan)
    total = plan.vehicles * plan.records * plan.dets_per_record
    # the broker holds the backlog in memory: saving 10^5 queued messages every second (the tests' autosave)
    # would measure the broker's disk, not the ingest
    with LocalBroker(out / "broker", extra_conf="max_inflight_messages 0\npersistence false\n") as broker:
        before = _subscriptions(out)
        procs = _workers(out, broker.port, pg.url)  # create the sessions and the shared subscription ...
        try:
            _wait_subscribed(out, before + WORKERS)
        finally:
            _stop(procs)  # ... then let the fleet's records queue in the broker
        publish(broker.port, payloads, 0.0, timeout=600)
        store = open_store(pg.url)
        assert broker.proc is not None
        servers = [pg.pid(), broker.proc.pid]
        procs = _workers(out, broker.port, pg.url)
        workers = [p.pid for p in procs]
        deadline = time.monotonic() + 600
        first: tuple[float, int, float, float] | None = None  # time, stored, workers' CPU s, servers' CPU s
        try:
            while True:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{store.count()} of {total} detections stored in 600 s")
                top = _max_id(store)  # an index lookup: polling COUNT(*) would take a core's share itself
                if first is None and top:
                    first = (time.monotonic(), store.count(), _tree_cpu_s(workers), _tree_cpu_s(servers))
                if top >= total and store.count() >= total:
                    break
                time.sleep(0.05)
            assert first is not None
            took, n = time.monotonic() - first[0], total - first[1]
            workers_s, servers_s = _tree_cpu_s(workers) - first[2], _tree_cpu_s(servers) - first[3]
        finally:
            _stop(procs)
            store.close()
    return n / took, n / workers_s, n / (workers_s + servers_s)


def _max_id(store: Store) -> int:
    """The highest detection id (0: none yet); ids have gaps after a batch took the staging path."""
    with store.conn.cursor() as cur:
        cur.execute("SELECT COALESCE(MAX(id), 0) FROM detections")
        row = cur.fetchone()
    store.conn.commit()
    return int(row[0]) if row else 0


def _tree_cpu_s(pids: list[int]) -> float:
    """CPU seconds of these processes, their reaped children and their running children (one level: PostgreSQL's
    backends under the postmaster)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            f = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile: its time is in its parent's reaped-children fields
            continue
        pid, ppid = int(stat.parent.name), int(f[1])
        if pid in pids:
            total += sum(int(v) for v in f[11:15])  # utime stime cutime cstime
        elif ppid in pids:
            total += int(f[11]) + int(f[12])
    return total / tick


def query_p95_ms(pg: LocalPostgres, quick: bool) -> float:
    n = 100_000 if quick else 1_000_000
    store = open_store(pg.url)
    t0, lat0, lon0 = 1_780_000_000.0, 48.0, 17.0
    span_deg_lat = 100_000 / M_PER_DEG
    span_deg_lon = span_deg_lat / 0.669  # cos(48 deg)
    with store.conn.cursor() as cur:
        cur.execute("TRUNCATE detections")
        cur.execute(
            "INSERT INTO detections (vehicle, boot, seq, idx, t, camera, class_id, class, kind, confidence, track, "
            "lat, lon, alt, error_m) SELECT 'veh-' || (i %% 20), 1, i, 0, %s + i * 86400.0 / %s, 'cam0', 0, 'person', "
            "1, 0.8, i %% 1000, %s + random() * %s, %s + random() * %s, 200, 10 FROM generate_series(1, %s) AS i",
            [t0, n, lat0, span_deg_lat, lon0, span_deg_lon, n],
        )
        cur.execute("ANALYZE detections")
    store.conn.commit()
    rng = random.Random(3)
    w_lat, w_lon = 10_000 / M_PER_DEG, 10_000 / M_PER_DEG / 0.669
    times = []
    for _ in range(60):
        t = t0 + rng.uniform(0, 86400 - 3600)
        s, w = lat0 + rng.uniform(0, span_deg_lat - w_lat), lon0 + rng.uniform(0, span_deg_lon - w_lon)
        start = time.perf_counter()
        store.detections(t, t + 3600, bbox=(w, s, w + w_lon, s + w_lat))
        times.append((time.perf_counter() - start) * 1000)
    store.close()
    times.sort()
    return times[int(0.95 * (len(times) - 1))]


def run_bench(out_dir: Path, quick: bool) -> dict[str, float]:
    out_dir.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    fusion = evaluate(people=20, seconds=60 if quick else 300)
    with LocalPostgres() as pg:
        rate, per_cpu_s, per_pipeline_cpu_s = ingest_rate(out_dir, pg, quick)
        p95 = query_p95_ms(pg, quick)
    return {
        "centre_ingest_det_per_s": round(rate),
        "centre_ingest_det_per_worker_cpu_s": round(per_cpu_s),
        "centre_ingest_det_per_pipeline_cpu_s": round(per_pipeline_cpu_s),
        "centre_bench_cpus": len(os.sched_getaffinity(0)),
        "centre_bench_load_1m": round(load, 1),
        "centre_query_ms_p95": round(p95, 1),
        "centre_fusion_one_sighting_pct": round(fusion.one_sighting_pct, 1),
        "centre_fusion_within_radius_pct": round(fusion.within_radius_pct, 1),
    }
