"""``edge status``: print the running daemon's last health snapshot (``<state dir>/health.json``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from edge.config import ConfigError, load_config


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="edge status", description=__doc__)
    parser.add_argument("--config", "-c", default="/etc/edge/edge.toml", help="TOML config (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the snapshot as JSON")
    ns = parser.parse_args(argv)
    try:
        cfg = load_config(ns.config)
    except ConfigError as err:
        print("\n".join(err.problems), file=sys.stderr)
        return 2
    from edge.app import HEALTH_FILE, state_dir

    path = state_dir(cfg) / HEALTH_FILE
    try:
        snap = json.loads(Path(path).read_text())
    except FileNotFoundError:
        print(f"no health snapshot at {path}: is `edge run` running?", file=sys.stderr)
        return 1
    age = time.time() - path.stat().st_mtime  # the host clock both ways: t_utc may be GPS time
    alive = _pid_alive(int(snap.get("pid", 0)))
    if ns.json:
        print(json.dumps({**snap, "age_s": round(age, 1), "running": alive}))
        return 0 if alive else 1
    print(
        f"vehicle {snap.get('vehicle')}  boot {int(snap.get('boot_id', 0)):08x}  "
        f"{'running' if alive else 'NOT running'}  snapshot {age:.0f} s old"
    )
    for name, health in snap.get("stages", {}).items():
        fields = "  ".join(f"{k}={v}" for k, v in health.items() if not isinstance(v, dict | list))
        print(f"  {name:10s} {fields}")
    return 0 if alive else 1


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
