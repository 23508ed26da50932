"""`make demo`: the whole chain on this machine with nothing else running.

Starts a private Mosquitto on a free port, the simulator (camera stream + autopilot over UDP, or NMEA + gpsd for
an MSS scenario), the daemon configured for them, and `edge listen`, whose JSON lines (one per received detection)
go to stdout. Ctrl-C stops everything cleanly; ``DEMO_SECONDS=N`` (or ``--seconds N``) stops after N seconds.
Logs of each process go to ``<workdir>/*.log`` (printed at start).

SITL mode (``SITL=tcp:127.0.0.1:5760`` or ``--sitl URL``): ArduPilot SITL flies instead of the simulator's autopilot;
the simulator's camera follows SITL's pose at URL and the daemon reads SITL's MAVLink at ``--sitl-daemon`` (env
SITL_DAEMON; default for ``tcp:HOST:PORT``: ``tcp:HOST:PORT+2``, SITL's second serial port). The daemon's camera
keys come from the scenario as without SITL (SITL has no gimbal: ``[geo] gimbal_mode`` and ``mount_*_deg``).
"""

from __future__ import annotations

import argparse
import functools
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sim.daemon_config import Sections, camera_tables, merge, scenario_sections, to_toml
from sim.eval_assoc import AssocScore
from sim.eval_assoc import score as assoc_score
from sim.live_score import LiveScore, score
from sim.scenario import for_vehicle, load_scenario
from sim.world import World

REPO = Path(__file__).resolve().parents[1]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port nobody listens on now (TCP or UDP) on 127.0.0.1."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_mosquitto(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    """A private broker: loopback only, anonymous, no persistence (the daemon's spool is the store)."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(exe).exists():
        raise SystemExit("mosquitto is not installed: run `make install` (apt-get install mosquitto)")
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nuser {getpass.getuser()}\n"
        "log_type error\nlog_type warning\n"
    )
    log = open(workdir / "mosquitto.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"mosquitto exited: see {workdir / 'mosquitto.log'}") from None
            time.sleep(0.1)
    raise SystemExit("mosquitto did not start listening within 10 s")


def daemon_sitl_url(sitl: str) -> str:
    """The SITL port for the daemon beside the simulator's: ``tcp:HOST:PORT`` -> ``tcp:HOST:PORT+2`` (SITL's SERIAL1
    after SERIAL0's 5760); ValueError for other forms, which need ``--sitl-daemon``."""
    kind, _, rest = sitl.partition(":")
    host, _, port = rest.rpartition(":")
    if kind != "tcp" or not host or not port.isdigit():
        raise ValueError(f"--sitl {sitl}: give the daemon's SITL url with --sitl-daemon (or SITL_DAEMON)")
    return f"tcp:{host}:{int(port) + 2}"


def is_mss(scenario: str) -> bool:
    """True for a mast-vehicle scenario (gpsd + pan-tilt head instead of an autopilot)."""
    return load_scenario(scenario).platform.kind == "mss"


def daemon_config(
    workdir: Path,
    scenario: str,
    status: dict[str, Any],
    mqtt_port: int,
    mav_port: int,
    model: str | None,
    console: dict[str, Any] | None = None,
    extra: Sections | None = None,
    vehicle: str | None = None,
) -> Path:
    """The daemon's TOML for this demo (same keys as systemd/edge.toml), its camera and ground from the scenario
    (as its vehicle ``vehicle`` sees it, and with that id, for a scenario with several), then ``extra`` sections
    over them."""
    sc = load_scenario(scenario)
    if vehicle is not None:
        sc = for_vehicle(sc, vehicle)
    sections: Sections = {
        "vehicle": {"id": vehicle or "demo-01", "kind": sc.platform.kind, "state_dir": str(workdir / "state")},
        "ops": {"status_interval_s": 2.0},
        "mqtt": {"url": f"mqtt://127.0.0.1:{mqtt_port}"},
        "mavlink": {"url": f"udpin:127.0.0.1:{mav_port}"},
        "detector": {"model": str(Path(model or REPO / "models" / "edge-default.onnx").resolve())},
    }
    if sc.cameras:  # one [[cameras]] table per stream the simulator serves
        sections["cameras"] = camera_tables(
            sc, status.get("cameras") or {c.id: str(status["camera"]) for c in sc.cameras}
        )
    else:
        sections["camera"] = {"url": str(status["camera"])}
    if "gpsd" in status:
        host, port = status["gpsd"].rsplit(":", 1)
        sections["gps"] = {"enabled": True, "host": host, "port": int(port)}
    if console is not None:
        sections["console"] = console
    path = workdir / "edge.toml"
    path.write_text(to_toml(merge(sections, scenario_sections(sc), extra or {})))
    return path


def demo_basemap(workdir: Path, scenario: str, status: dict[str, Any]) -> dict[str, Any]:
    """The console's basemap keys: the simulator's ground rendered from above (an orthophoto with its bounds)."""
    from sim.ortho import render_orthophoto

    world = World(load_scenario(scenario), seed=status.get("seed"))
    path = workdir / "ground.png"
    bounds = render_orthophoto(world, path)
    return {"basemap": str(path), "basemap_bounds": list(bounds)}


def sim_status_line(sim: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> dict[str, Any]:
    """The JSON line ``edge sim --status-json`` prints once its parts run; SystemExit naming ``log`` if none came."""
    out: dict[str, Any] = {}

    def read() -> None:
        assert sim.stdout is not None
        line = sim.stdout.readline()
        if line:
            out.update(json.loads(line))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if not out:
        raise SystemExit(f"the simulator did not report its addresses: see {log}")
    return out


class Demo:
    """Starts the processes in order and stops them in reverse."""

    def __init__(
        self,
        scenario: str,
        workdir: Path,
        model: str | None = None,
        console: dict[str, Any] | None = None,
        extra: Sections | None = None,
        sitl: tuple[str, str] | None = None,
        record_association: Path | None = None,
    ) -> None:
        """``console``: keys of the daemon's [console] section over the demo's (enabled on a free loopback port,
        the simulator's ground as its basemap); ``extra``: daemon config sections over the ones derived from the
        scenario; ``sitl``: (the simulator's, the daemon's) MAVLink urls of ArduPilot SITL, which then flies instead
        of the simulator's autopilot; ``record_association``: the daemon runs under ``sim.assoc_record`` and
        ``stop`` leaves its associator's input there as a ``sim.assoc_offline`` recording."""
        self.record_association = record_association
        self.scenario = scenario
        self.console = console
        self.console_url = ""
        self.model = model
        self.extra = extra
        self.sitl = sitl
        self.workdir = workdir
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.stoppers: list[Callable[[], None]] = []
        self.status: dict[str, Any] = {}  # what the simulator reported: addresses, seed, t0_utc
        self.received: list[dict[str, Any]] = []  # the JSON objects `edge listen` printed

    def _spawn(
        self, name: str, args: list[str], stdout: int | None = None, module: list[str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", *(module or ["edge"]), *args],
            stdout=stdout if stdout is not None else log,
            stderr=log,
            cwd=REPO,
            env=self._env(name),
            start_new_session=True,  # Ctrl-C reaches us only; we stop the children in order
        )
        self.procs.append((name, proc))
        return proc

    def _env(self, name: str) -> dict[str, str] | None:
        """The environment of process ``name`` (None: this one's); a test may change one process's."""
        return None

    def start(self) -> subprocess.Popen[bytes]:
        mqtt_port = free_port()
        mav_port = free_port(socket.SOCK_DGRAM)
        self.procs.append(("mosquitto", start_mosquitto(self.workdir, mqtt_port)))
        sim_args = ["sim", "--scenario", self.scenario, "--http-port", str(free_port()), "--status-json"]
        mss = is_mss(self.scenario)
        extra = self.extra
        if self.sitl is not None:  # SITL flies; the camera follows it, the daemon reads it on its own port
            sim_args += ["--sitl", self.sitl[0]]
            extra = merge({"mavlink": {"url": self.sitl[1]}}, extra or {})
        else:  # a drone's autopilot, or an MSS mast's pan-tilt head, talks MAVLink to the daemon over UDP
            sim_args += ["--gimbal" if mss else "--mavlink", f"udpout:127.0.0.1:{mav_port}"]
        if mss:
            sim_args.append("--nmea-pty")
        sim = self._spawn("sim", sim_args, stdout=subprocess.PIPE)
        status = self.status = sim_status_line(sim, self.workdir / "sim.log", 30.0)
        (self.workdir / "sim-status.json").write_text(json.dumps(status) + "\n")  # t0_utc for sim/eval_assoc.py
        if mss:
            from sim.nmea import start_gpsd

            gpsd = start_gpsd(str(status["nmea"]).removeprefix("pty "), free_port())
            self.stoppers.append(gpsd.stop)
            status["gpsd"] = gpsd.address
        console = {"enabled": True, "port": free_port(), **demo_basemap(self.workdir, self.scenario, status)}
        console.update(self.console or {})
        self.console_url = f"http://127.0.0.1:{console['port']}/"
        cfg = daemon_config(self.workdir, self.scenario, status, mqtt_port, mav_port, self.model, console, extra)
        recorder = ["sim.assoc_record", str(self._stream)] if self.record_association is not None else None
        self._spawn("daemon", ["run", "--config", str(cfg)], module=recorder)
        listen = self._spawn("listen", ["listen", "--broker", f"mqtt://127.0.0.1:{mqtt_port}"], subprocess.PIPE)
        return listen

    def follow(self, listen: subprocess.Popen[bytes], echo: bool) -> None:
        """Collect what `edge listen` prints into ``received`` on a thread (and copy it to stdout when ``echo``)."""
        assert listen.stdout is not None
        out = listen.stdout

        def pump() -> None:
            for line in iter(out.readline, b""):
                if echo:
                    sys.stdout.buffer.write(line)
                    sys.stdout.flush()
                self.received.append(json.loads(line))

        threading.Thread(target=pump, daemon=True).start()

    @functools.cached_property
    def truth(self) -> World:
        """The simulator's world as it ran (its scenario and seed; read after the simulator reported)."""
        return World(load_scenario(self.scenario), seed=self.status.get("seed"))

    def score(self) -> LiveScore:
        """How far the received fixes were from the simulator's truth (call after the simulator reported)."""
        return score(self.truth, self.status["t0_utc"], self.received)

    def association(self, by_box: bool = False) -> AssocScore | None:
        """How the cameras' detections were joined, against the truth (``by_box``: each detection as the target its
        own box shows, not its track's); None for a scenario with one camera."""
        if not self.truth.scenario.cameras:
            return None
        return assoc_score(self.truth, self.status["t0_utc"], self.received, by_box=by_box)

    @property
    def _stream(self) -> Path:
        return self.workdir / "association-input.pickles"

    def stop(self) -> None:
        for stopper in reversed(self.stoppers):
            stopper()
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=8)
                except subprocess.TimeoutExpired:
                    print(f"demo: {name} did not stop in 8 s, killing it", file=sys.stderr)
                    proc.kill()
                    proc.wait()
        if self.record_association is not None and self._stream.exists() and self.status:
            self._save_recording(self.record_association)

    def _save_recording(self, path: Path) -> None:
        """The daemon's recorded associator input as a ``sim.assoc_offline`` recording at ``path``."""
        from sim.assoc_offline import Recording
        from sim.assoc_record import read

        arrivals, frames = read(self._stream)
        seconds = max((f.t_utc for f in frames), default=0.0) - min((f.t_utc for f in frames), default=0.0)
        t0, seed = float(self.status["t0_utc"]), self.status.get("seed")
        Recording(self.scenario, seconds, None, frames, arrivals, t0, seed).save(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.demo", description=__doc__)
    parser.add_argument("--scenario", default=str(REPO / "sim" / "scenarios" / "drone-border.toml"))
    parser.add_argument(
        "--seconds",
        type=float,
        default=float(os.environ.get("DEMO_SECONDS") or 0),
        help="stop after this many seconds (0 = until Ctrl-C; env DEMO_SECONDS)",
    )
    parser.add_argument("--model", help="ONNX model (default: models/edge-default.onnx)")
    parser.add_argument("--workdir", help="keep logs and state here (default: a temporary folder)")
    parser.add_argument(
        "--record-association",
        type=Path,
        metavar="REC",
        help="keep what the cameras' pipelines handed the associator, for python -m sim.assoc_offline --load REC",
    )
    parser.add_argument(
        "--sitl",
        default=os.environ.get("SITL") or None,
        metavar="URL",
        help="ArduPilot SITL flies (e.g. tcp:127.0.0.1:5760; env SITL); the simulator's camera follows it",
    )
    parser.add_argument(
        "--sitl-daemon",
        default=os.environ.get("SITL_DAEMON") or None,
        metavar="URL",
        help="the daemon's SITL url (env SITL_DAEMON; default: tcp port + 2, e.g. tcp:127.0.0.1:5762)",
    )
    ns = parser.parse_args(argv)
    sitl = None
    if ns.sitl:
        try:
            sitl = (ns.sitl, ns.sitl_daemon or daemon_sitl_url(ns.sitl))
        except ValueError as err:
            parser.error(str(err))
    workdir = Path(ns.workdir or tempfile.mkdtemp(prefix="edge-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"demo: logs and state in {workdir}", file=sys.stderr)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    demo = Demo(ns.scenario, workdir, ns.model, sitl=sitl, record_association=ns.record_association)
    try:
        demo.follow(demo.start(), echo=True)
        print(f"demo: field console at {demo.console_url}", file=sys.stderr)
        print("demo: running; detections follow as JSON lines (Ctrl-C to stop)", file=sys.stderr)
        deadline = time.monotonic() + ns.seconds if ns.seconds > 0 else None
        while not stop.wait(0.2):
            if deadline is not None and time.monotonic() >= deadline:
                break
            for name, proc in demo.procs:
                if proc.poll() is not None:
                    print(
                        f"demo: {name} exited with {proc.returncode}: see {workdir / (name + '.log')}", file=sys.stderr
                    )
                    stop.set()
    finally:
        demo.stop()
    print("demo: stopped", file=sys.stderr)
    if demo.status:
        print(f"demo: geolocation against the simulator's truth: {demo.score().line()}", file=sys.stderr)
        assoc, boxed = demo.association(), demo.association(by_box=True)
        if assoc is not None and boxed is not None:
            print(f"demo: {assoc.line()}", file=sys.stderr)
            print(
                f"demo: the same, each detection as the target its box shows (a track that moved to another object "
                f"counts as that one from then on): {boxed.shared_any:.1%} of {boxed.seen_both} shared, "
                f"{boxed.merged:.1%} of {boxed.close_pairs} merged",
                file=sys.stderr,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
