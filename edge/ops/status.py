"""``edge status``: print the daemon's last health snapshot (``<state dir>/health.json``).

A snapshot belongs to one run (its boot id). The running daemon writes ``run.json`` (boot id, pid, start time)
as it starts; a snapshot of another run, or of a daemon that no longer runs, is shown as such, with its age,
and its link states are marked "(stale)".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from edge.config import ConfigError, load_config

STALE = " (stale)"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="edge status", description=__doc__)
    parser.add_argument("--config", "-c", default="/etc/edge/edge.toml", help="TOML config (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the snapshot as JSON")
    ns = parser.parse_args(argv)
    try:
        cfg = load_config(ns.config, check_files=False)  # health only needs the state directory
    except ConfigError as err:
        print("\n".join(err.problems), file=sys.stderr)
        return 2
    from edge.app import HEALTH_FILE, RUN_FILE, state_dir

    sdir = state_dir(cfg)
    run = _read_json(sdir / RUN_FILE) or {}
    snap = _read_json(sdir / HEALTH_FILE)
    now = time.time()
    run_alive = _pid_alive(int(run.get("pid", 0)))
    if snap is None:
        if run_alive:
            print(f"boot {int(run.get('boot_id', 0)):08x} starting ({now - float(run.get('t_start', now)):.0f} s ago)")
            print("  no health snapshot yet")
            return 0
        print(f"no health snapshot at {sdir / HEALTH_FILE}: is `edge run` running?", file=sys.stderr)
        return 1
    try:  # the host clock both ways (the snapshot's t_utc may be GPS time)
        age = now - (sdir / HEALTH_FILE).stat().st_mtime
    except OSError:
        age = now - float(snap.get("t_utc", 0))
    boot = int(snap.get("boot_id", 0))
    # Without run.json (a daemon older than it), the snapshot's own pid says whether its run goes on.
    current = (run_alive and int(run.get("boot_id", -1)) == boot) or (not run and _pid_alive(int(snap.get("pid", 0))))
    stale = not current or age > 3 * cfg.ops.status_interval_s + 5
    running = run_alive or current
    if ns.json:
        extra: dict[str, object] = {"age_s": round(age, 1), "running": running, "current": current, "stale": stale}
        if run and not current:
            extra["running_boot_id"] = run.get("boot_id")
        print(json.dumps({**snap, **extra}))
        return 0 if running else 1
    print(_headline(snap, run, age, now, current, running))
    if stale:
        print(f"  the states below are from that snapshot, {age:.0f} s ago: not the vehicle's state now")
    for name, health in snap.get("stages", {}).items():
        print(f"  {name:10s} {_fields(health, stale)}")
    pose = snap.get("stages", {}).get("pose")
    if isinstance(pose, dict):
        print(f"  {'position':10s} {_position(pose.get('last_position'))}")
        print(f"  {'attitude':10s} {_attitude(pose.get('last_attitude'))}")
    return 0 if running else 1


def _age(h: dict[str, Any]) -> str:
    age = h.get("age_s")
    return f"{h.get('source')}, {'configured' if age is None else f'{age} s old'}"


def _position(h: object) -> str:
    """``42.5123456 19.3123456  1200.0 m  ±2.0 m  (mavlink, 0.1 s old)`` or "none yet"."""
    if not isinstance(h, dict):
        return "none yet"
    return f"{h.get('lat')} {h.get('lon')}  {h.get('alt_m')} m  ±{h.get('err_m')} m  ({_age(h)})"


def _attitude(h: object) -> str:
    """``roll 0.5  pitch -2.0  yaw 45.0 deg  (mavlink, 0.0 s old)`` or "none yet"."""
    if not isinstance(h, dict):
        return "none yet"
    return f"roll {h.get('roll_deg')}  pitch {h.get('pitch_deg')}  yaw {h.get('yaw_deg')} deg  ({_age(h)})"


def _headline(snap: dict[str, Any], run: dict[str, Any], age: float, now: float, current: bool, running: bool) -> str:
    boot = f"boot {int(snap.get('boot_id', 0)):08x}"
    head = f"vehicle {snap.get('vehicle')}  {boot}"
    if current:
        return f"{head}  running  snapshot {age:.0f} s old"
    if running:
        started = now - float(run.get("t_start", now))
        return (
            f"{head}  snapshot of an EARLIER RUN, {age:.0f} s old; the running daemon "
            f"(boot {int(run.get('boot_id', 0)):08x}, started {started:.0f} s ago) has not reported yet"
        )
    return f"{head}  NOT running  last snapshot {age:.0f} s old"


def _fields(health: object, stale: bool) -> str:
    """``key=value`` pairs; nested dicts as ``key={a=1 b=2}``; ``state`` marked stale when it is."""
    if not isinstance(health, dict):
        return str(health)
    parts = []
    for k, v in health.items():
        if isinstance(v, list):
            continue
        text = "{" + _fields(v, False) + "}" if isinstance(v, dict) else str(v)
        parts.append(f"{k}={text}{STALE if stale and k == 'state' else ''}")
    return "  ".join(parts)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        got = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return got if isinstance(got, dict) else None


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
