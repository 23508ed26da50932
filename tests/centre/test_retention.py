"""Retention per class: people go after their period, vehicles stay longer; the deletion is audited."""

from __future__ import annotations

from pathlib import Path

from centre.config import RetentionSettings
from centre.fleet import FleetPlan, make_payloads
from centre.ingest import Ingest
from centre.retention import DAY_S, apply_retention
from centre.store import open_store


def test_each_class_is_kept_for_its_own_period(tmp_path: Path) -> None:
    store = open_store(f"sqlite://{tmp_path}/c.db")
    plan = FleetPlan(vehicles=1, records=10, dets_per_record=3)  # classes person, vehicle, boat in every record
    Ingest(store, ("person", "vehicle", "boat")).handle(
        [(f"edge/{v}/detections", p) for v, recs in make_payloads(plan).items() for p in recs]
    )
    store.save_sightings([("s1", plan.t0, plan.t0 + 5, "person", 48.0, 17.0, 5.0, 2, "[]")])
    r = RetentionSettings(days={"person": 30.0, "vehicle": 90.0}, default_days=60.0)
    assert apply_retention(store, r, plan.t0 + 29 * DAY_S)["detections of class person older than 30 days"] == 0
    apply_retention(store, r, plan.t0 + 31 * DAY_S)
    left = store.detections(0, plan.t0 + 100)
    assert store.count("sightings") == 0
    assert {d.class_name for d in left} == {"vehicle", "boat"}
    apply_retention(store, r, plan.t0 + 61 * DAY_S)
    assert {d.class_name for d in store.detections(0, plan.t0 + 100)} == {"vehicle"}
    assert store.count("records") == 10
    apply_retention(store, r, plan.t0 + 91 * DAY_S)
    assert store.count("detections") == 0 and store.count("records") == 0
    actions = [a for a in store.audit_log() if a[2] == "retention"]
    assert len(actions) == 4 and '"detections of class person older than 30 days": 10' in actions[1][3]
