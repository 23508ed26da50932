"""A daemon whose host clock is an hour ahead (libfaketime) stamps its records from GPS time.

The whole chain runs as processes: Mosquitto, `edge sim` (camera, and the autopilot's SYSTEM_TIME / GPS_RAW_INT, or
NMEA for a real gpsd, all with the true time), `edge run` under ``faketime +1h`` (monotonic time left alone) and
`edge listen`. The truth of each received record's time is where the simulator's drone was: the record carries the
camera position the daemon used for that frame (from the autopilot's timed messages or gpsd's fixes), and the
simulator knows when its drone, orbiting at 7 m/s without sensor noise, was there. With the host clock every record
is an hour off.
"""

from __future__ import annotations

import glob
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sim.demo import REPO, Demo, daemon_config, free_port, sim_status_line, start_mosquitto
from sim.nmea import start_gpsd
from sim.scenario import load_scenario
from sim.world import World

FAKE_S = 3600.0
FAKETIME_LIB = next(iter(sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))), None)

pytestmark = [
    pytest.mark.skipif(FAKETIME_LIB is None, reason="libfaketime is not installed (apt-get install faketime)"),
    pytest.mark.skipif(
        shutil.which("gpsd") is None and not Path("/usr/sbin/gpsd").exists(), reason="gpsd is not installed"
    ),
]


class FakeClockDemo(Demo):
    """The demo's processes, with the daemon's wall clock (not its monotonic clock) an hour ahead."""

    def _env(self, name: str) -> dict[str, str] | None:
        if name != "daemon":
            return None
        # the library preloaded into the daemon itself (not the `faketime` wrapper, which would be the process the
        # demo stops, leaving the daemon running)
        return {**os.environ, "LD_PRELOAD": FAKETIME_LIB or "", "FAKETIME": "+1h", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


class GpsdOnlyDemo(FakeClockDemo):
    """No autopilot: the simulator's NMEA through a real gpsd is the daemon's only position and GPS time."""

    def start(self) -> subprocess.Popen[bytes]:
        mqtt_port = free_port()
        self.procs.append(("mosquitto", start_mosquitto(self.workdir, mqtt_port)))
        args = ["sim", "--scenario", self.scenario, "--http-port", str(free_port()), "--status-json", "--nmea-pty"]
        sim = self._spawn("sim", args, stdout=subprocess.PIPE)
        status = self.status = sim_status_line(sim, self.workdir / "sim.log", 30.0)
        gpsd = start_gpsd(str(status["nmea"]).removeprefix("pty "), free_port())
        self.stoppers.append(gpsd.stop)
        status["gpsd"] = gpsd.address
        silent = free_port(socket.SOCK_DGRAM)  # the daemon's MAVLink link hears nothing
        cfg = daemon_config(self.workdir, self.scenario, status, mqtt_port, silent, self.model)
        self._spawn("daemon", ["run", "--config", str(cfg)])
        return self._spawn("listen", ["listen", "--broker", f"mqtt://127.0.0.1:{mqtt_port}"], subprocess.PIPE)


def noiseless(scenario: str, tmp_path: Path) -> Path:
    """The scenario without sensor noise, so the pose in a record pins down its time."""
    text = (REPO / "sim" / "scenarios" / scenario).read_text()
    path = tmp_path / scenario
    path.write_text(re.sub(r"^(gps_m|alt_m|att_deg) = .*$", r"\1 = 0.0", text, flags=re.M))
    return path


def truth_time(mismatch: Callable[[float], float], t_claimed: float, span_s: float = 2.0) -> tuple[float, float]:
    """(t, mismatch) minimising ``mismatch`` within ``t_claimed +- span_s``: 20 ms steps, then 1 ms."""
    ts = np.arange(t_claimed - span_s, t_claimed + span_s, 0.02)
    t0 = float(ts[int(np.argmin([mismatch(float(t)) for t in ts]))])
    fine = np.arange(t0 - 0.03, t0 + 0.03, 0.001)
    m = [mismatch(float(t)) for t in fine]
    i = int(np.argmin(m))
    return float(fine[i]), float(m[i])


def measure(demo: Demo, seconds: float = 25.0) -> tuple[list[tuple[float, float]], dict[str, Any]]:
    """Run the chain until ``seconds`` after the first record (90 s at most): (sim time, record time minus true time
    in ms, inf where its pose matches no time within 2 s) per record with a pose, and the daemon's clock health."""
    world = World(load_scenario(demo.scenario))
    try:
        demo.follow(demo.start(), echo=False)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not demo.received:
            time.sleep(0.2)
        time.sleep(max(0.0, min(seconds, deadline - time.monotonic())))
        clock = json.loads((demo.workdir / "state" / "health.json").read_text())["stages"].get("clock", {})
        status = subprocess.run(
            [sys.executable, "-m", "edge", "status", "--config", str(demo.workdir / "edge.toml")],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=REPO,
        ).stdout
        clock["status"] = status
    finally:
        demo.stop()

    def metres(t: float, s: dict[str, Any]) -> float:
        p = world.platform(t)
        n, e, _ = world.frame.to_ned(s["lat"], s["lon"], p.alt)
        pn, pe, _ = world.frame.to_ned(p.lat, p.lon, p.alt)
        return math.hypot(float(n - pn), float(e - pe))

    seen, err, host = set(), [], []
    for d in sorted(demo.received, key=lambda d: int(d["seq"])):
        if d["sensor"] is None or (d["boot"], d["seq"]) in seen:
            continue
        seen.add((d["boot"], d["seq"]))
        claimed = float(d["t_utc"]) - float(demo.status["t0_utc"])
        if claimed > FAKE_S / 2:  # stamped from the host clock
            host.append(len(err))
            continue
        t, m = truth_time(lambda t, s=d["sensor"]: metres(t, s), claimed)
        err.append((t, (claimed - t) * 1e3 if m <= 0.3 else math.inf))  # a 7 m/s orbit: 0.3 m is 43 ms
    ms = [e for _, e in err]
    print(
        f"{type(demo).__name__}: record time - truth over {len(ms)} records: median {np.median(ms):.1f} ms, "
        f"range {min(ms, default=0):.1f}..{max(ms, default=0):.1f} ms; {len(host)} from the host clock"
    )
    # frames captured before the first GPS time came carry the host's (docs/CONVENTIONS.md); none after it
    assert len(host) <= 3 and all(i == 0 for i in host), f"{len(host)} records stamped from the host clock"
    assert len(err) >= 20, demo.received[:3]
    return err, clock


def check(err: list[tuple[float, float]], clock: dict[str, Any], source: str, tol_ms: float = 50.0) -> None:
    """GPS time in use and the host's hour seen; records within ``tol_ms`` from 10 s after the first (before, a pose
    from one or two fixes cannot pin a record's time down, and a loaded machine's first late samples count alone)."""
    assert clock["source"] == source and clock["host_ok"] is False, clock
    assert clock["host_offset_s"] == pytest.approx(FAKE_S, abs=tol_ms / 1000), clock
    # `edge status` (with the true clock) says the same, and the snapshot's age from the host clock both ways
    assert f"source={source}" in clock["status"] and "host_ok=False" in clock["status"], clock["status"]
    age = re.search(r"snapshot (-?\d+) s old", clock["status"])
    assert age is not None and 0 <= int(age.group(1)) <= 10, clock["status"]
    late = [e for t, e in err if t >= err[0][0] + 10.0]
    print(
        f"{source}: from 10 s after the first record: {len(late)} records, median {np.median(late):.1f} ms, "
        f"range {min(late, default=0):.1f}..{max(late, default=0):.1f} ms"
    )
    assert len(late) >= 20 and max(abs(e) for e in late) <= tol_ms, late


def test_records_are_stamped_from_the_autopilots_gps_time(tmp_path: Path) -> None:
    check(*measure(FakeClockDemo(str(noiseless("drone-border.toml", tmp_path)), tmp_path)), "gps-mavlink")


def test_records_are_stamped_from_gpsd_time(tmp_path: Path) -> None:
    # gpsd's reports cross a pty and gpsd's own buffering: on a loaded 2-core machine they came 36-127 ms late
    check(*measure(GpsdOnlyDemo(str(noiseless("drone-border.toml", tmp_path)), tmp_path)), "gpsd", tol_ms=150.0)
