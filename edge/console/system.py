"""What the board says about itself: CPU temperature (where it reports one) and the disk left for the spool."""

from __future__ import annotations

import shutil
from pathlib import Path

THERMAL = Path("/sys/class/thermal")


def cpu_temp_c(root: Path = THERMAL) -> float | None:
    """The hottest thermal zone (degC), or None where the board reports none (most VMs)."""
    temps = []
    for zone in sorted(root.glob("thermal_zone*/temp")):
        try:
            temps.append(int(zone.read_text().strip()) / 1000.0)
        except (OSError, ValueError):
            continue
    return max(temps) if temps else None


def system_health(state_dir: Path) -> dict[str, object]:
    """``{"cpu_temp_c", "disk_free_bytes", "disk_total_bytes"}`` of the spool's file system."""
    free: int | None = None
    total: int | None = None
    try:
        usage = shutil.disk_usage(state_dir)
        free, total = usage.free, usage.total
    except OSError:
        pass
    return {"cpu_temp_c": cpu_temp_c(), "disk_free_bytes": free, "disk_total_bytes": total}
