"""A fleet in one simulated world through the whole chain to the coordination centre, scored against the truth.

For each of a scenario's ``[[vehicles]]``: ``edge sim --vehicle NAME --start-utc T`` (its camera stream and its
autopilot over UDP; the same T for all, so every simulator shows the same people at the same UTC time) and an
``edge run`` daemon (vehicle id NAME) configured for it. All publish to one private Mosquitto; one
``edge-centre ingest`` worker stores into SQLite (or ``--store URL``) and ``edge-centre serve`` fuses, serves the map
(the simulator's orthophoto as basemap) and sends CoT (``--tak URL``); ``edge listen`` saves every detection as
received (with its image box) to ``received.jsonl``, which gives ``sim.fleet_score`` each detection's true target
by its box. When it stops, ``sim.fleet_score`` scores the store's fusion against the truth. Logs, the store and
``received.jsonl`` stay in ``--workdir``.

    python -m sim.fleet_run --scenario sim/scenarios/border-pair.toml --seconds 120 --workdir out/fleet
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from centre.store import open_store
from sim.demo import REPO, daemon_config, free_port, sim_status_line, start_mosquitto
from sim.fleet_score import RECEIVED, FleetScore, box_labels, score
from sim.ortho import render_orthophoto
from sim.scenario import load_scenario
from sim.world import World

PROG = "python -m sim.fleet_run"


class FleetRun:
    """Starts broker, simulators, daemons and the centre in order (``start``) and stops them in reverse (``stop``)."""

    def __init__(
        self, scenario: str, workdir: Path, store_url: str | None = None, tak_url: str = "", api_port: int = 0
    ) -> None:
        self.scenario = scenario
        self.sc = load_scenario(scenario)
        if len(self.sc.vehicles) < 2:
            raise ValueError(f"{scenario}: vehicles: a fleet run needs at least two [[vehicles]]")
        self.workdir = workdir
        self.store_url = store_url or f"sqlite:///{(workdir / 'centre.sqlite').resolve()}"
        self.tak_url = tak_url
        self.api_port = api_port or free_port()
        self.start_utc = 0.0
        self.centre_config = workdir / "centre.toml"
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    @property
    def vehicles(self) -> list[str]:
        return [v.name for v in self.sc.vehicles]

    def _spawn(self, name: str, args: list[str], stdout: int | None = None) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", *args], stdout=stdout or log, stderr=log, cwd=REPO, start_new_session=True
        )
        self.procs.append((name, proc))
        return proc

    def start(self) -> None:
        mqtt_port = free_port()
        self.procs.append(("mosquitto", start_mosquitto(self.workdir, mqtt_port)))
        self.start_utc = time.time()
        run = {"scenario": self.scenario, "start_utc": self.start_utc, "store": self.store_url}
        (self.workdir / "run.json").write_text(json.dumps(run) + "\n")
        listen = ["edge", "listen", "--broker", f"mqtt://127.0.0.1:{mqtt_port}", "--client-id", "fleet-listen"]
        with open(self.workdir / RECEIVED, "wb") as received:
            self._spawn("listen", [*listen, "--report-s", "0"], received.fileno())
        for name in self.vehicles:
            vdir = self.workdir / name
            vdir.mkdir(parents=True, exist_ok=True)
            mav_port = free_port(socket.SOCK_DGRAM)
            sim = self._spawn(
                f"sim-{name}",
                ["edge", "sim", "--scenario", self.scenario, "--vehicle", name, "--start-utc", repr(self.start_utc),
                 "--http-port", str(free_port()), "--mavlink", f"udpout:127.0.0.1:{mav_port}", "--status-json"],
                subprocess.PIPE,
            )  # fmt: skip
            status = sim_status_line(sim, self.workdir / f"sim-{name}.log")
            cfg = daemon_config(vdir, self.scenario, status, mqtt_port, mav_port, None, vehicle=name)
            self._spawn(f"daemon-{name}", ["edge", "run", "--config", str(cfg)])
        world = World(self.sc)
        ortho = self.workdir / "ground.png"
        s, w, n, e = render_orthophoto(world, ortho)
        tak = f'[tak]\nurl = "{self.tak_url}"\n' if self.tak_url else ""
        self.centre_config.write_text(
            f'[mqtt]\nurl = "mqtt://127.0.0.1:{mqtt_port}"\nclient_id = "fleet-centre-1"\n'
            f'[store]\nurl = "{self.store_url}"\n{tak}'
            f'[api]\nport = {self.api_port}\nbasemap = "{ortho.resolve()}"\nbasemap_bounds = [{s}, {w}, {n}, {e}]\n'
        )
        for cmd in ("ingest", "serve"):
            self._spawn(f"centre-{cmd}", ["centre", "--config", str(self.centre_config), cmd])

    def failed(self) -> str | None:
        """The name of a process that exited, or None while all run."""
        return next((name for name, proc in self.procs if proc.poll() is not None), None)

    def score(self) -> FleetScore:
        store = open_store(self.store_url)
        try:
            labels = box_labels(self.sc, self.start_utc, self.workdir / RECEIVED)
            return score(store, World(self.sc), self.start_utc, labels=labels)
        finally:
            store.close()

    def stop_vehicles(self, settle_s: float = 3.0) -> None:
        """Stop the simulators and daemons, then give the centre ``settle_s`` to store and fuse what they sent."""
        vehicles = [p for p in self.procs if p[0].startswith(("sim-", "daemon-"))]
        for _name, proc in reversed(vehicles):
            _terminate(proc)
        if any(name == "centre-serve" and proc.poll() is None for name, proc in self.procs):
            time.sleep(settle_s)

    def stop(self) -> None:
        """Stop the vehicles (``stop_vehicles``), then the centre and the broker."""
        self.stop_vehicles()
        for _name, proc in reversed(self.procs):
            _terminate(proc)


def _terminate(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", default=str(REPO / "sim" / "scenarios" / "border-pair.toml"))
    p.add_argument("--seconds", type=float, default=120.0, help="how long the fleet runs (s)")
    p.add_argument("--workdir", help="logs, configs and the store (default: a temporary folder)")
    p.add_argument("--store", help="the centre's store.url (default: SQLite in the workdir)")
    p.add_argument("--tak", default="", help="the centre's tak.url, e.g. udp://127.0.0.1:6969")
    p.add_argument("--json", action="store_true", help="print the score as one JSON object")
    a = p.parse_args(argv)
    workdir = Path(a.workdir or tempfile.mkdtemp(prefix="edge-fleet-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        run = FleetRun(a.scenario, workdir, a.store, a.tak)
    except (ValueError, OSError) as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"{PROG}: logs and store in {workdir}", file=sys.stderr)
    try:
        run.start()
        print(f"{PROG}: map at http://127.0.0.1:{run.api_port}/ ; start_utc {run.start_utc!r}", file=sys.stderr)
        deadline = time.monotonic() + a.seconds
        while not stop.wait(0.5) and time.monotonic() < deadline:
            if (name := run.failed()) is not None:
                print(f"{PROG}: {name} exited: see {workdir / (name + '.log')}", file=sys.stderr)
                break
    except (RuntimeError, OSError) as err:  # a part that did not start: its log says why
        print(f"{PROG}: {err}", file=sys.stderr)
        return 1
    finally:
        run.stop()
    result = run.score()
    print(json.dumps(result.as_dict()) if a.json else result.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
