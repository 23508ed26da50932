"""Retention: detections and sightings older than their class's period are deleted, then records left without
detections, then old audit entries. Run daily (``edge-centre retention``)."""

from __future__ import annotations

from centre.config import RetentionSettings
from centre.store import Store

DAY_S = 86400.0


def apply_retention(store: Store, r: RetentionSettings, now: float) -> dict[str, int]:
    """Delete what is due at ``now`` (POSIX s); returns counts by what was deleted."""
    out = {}
    for table in ("detections", "sightings"):
        for name, days in r.days.items():
            out[f"{table} of class {name} older than {days:g} days"] = store.delete_before(
                now - days * DAY_S, classes=[name], table=table
            )
        out[f"{table} of other classes older than {r.default_days:g} days"] = store.delete_before(
            now - r.default_days * DAY_S, except_classes=list(r.days), table=table
        )
    keep_records = max([r.default_days, *r.days.values()])
    out["records without detections"] = store.delete_old_records(now - keep_records * DAY_S)
    out[f"thumbnails older than {r.default_days:g} days"] = store.delete_thumbnails_before(now - r.default_days * DAY_S)
    out[f"audit entries older than {r.audit_days:g} days"] = store.delete_audit_before(now - r.audit_days * DAY_S)
    store.audit(now, "retention", "retention", {k: v for k, v in out.items() if v})
    return out
