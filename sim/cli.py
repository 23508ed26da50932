"""``edge sim``: run the simulator headless in real time.

It renders the scenario's camera at its frame rate and serves it as MJPEG over HTTP, and on request starts the
simulated autopilot (MAVLink over UDP/TCP/pty), the NMEA feeder (pty for gpsd), follows ArduPilot SITL or a
tlog as the pose source, records the run, or replays a recording. Each component prints one line
``NAME ADDRESS`` (or, with --status-json, one JSON object) so tests and the demo can find it.
Exit codes: 0 after --duration or SIGINT/SIGTERM, 2 for bad arguments or input, 1 when a component fails.
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from sim.record import Recorder, Recording, TlogRecorder
from sim.render import Renderer, RenderOptions
from sim.scenario import ScenarioError, for_vehicle, load_scenario
from sim.stream import MjpegServer, Pacer
from sim.world import World

PROG = "edge sim"


class SimError(Exception):
    """A problem the user can fix; printed without a traceback, exit 2."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Run the simulator headless in real time.")
    p.add_argument("--scenario", type=Path, help="scenario TOML file (see sim/scenarios/)")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds (default: until Ctrl-C)")
    p.add_argument("--seed", type=int, default=None, help="override the scenario's random seed")
    p.add_argument("--mode", choices=["day", "thermal"], default=None, help="camera mode (default: the scenario's)")
    p.add_argument("--vehicle", metavar="NAME", help="run this one of the scenario's [[vehicles]] (default: the first)")
    p.add_argument(
        "--start-utc",
        type=float,
        metavar="T",
        help="POSIX time (s) of sim time 0, not after now: simulators given the same T see the same world at once",
    )
    p.add_argument("--http-host", default="127.0.0.1", help="address the MJPEG stream listens on")
    p.add_argument(
        "--http-port", type=int, default=8554, help="MJPEG stream port (0 = any free port; camera i of several: +i)"
    )
    p.add_argument(
        "--mavlink",
        action="append",
        default=[],
        metavar="URL",
        help="simulated autopilot output: udpout:HOST:PORT, tcpin:HOST:PORT or pty (repeatable)",
    )
    p.add_argument(
        "--gimbal",
        action="append",
        default=[],
        metavar="URL",
        help="a MAVLink pan-tilt head (mast) reporting the camera angles only: udpout:, tcpin: or pty (repeatable)",
    )
    p.add_argument("--nmea-pty", action="store_true", help="write NMEA 0183 to a pseudo-terminal (for gpsd)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--sitl", metavar="URL", help="follow ArduPilot SITL's pose, e.g. tcp:127.0.0.1:5760")
    src.add_argument("--pose-log", type=Path, metavar="FILE.tlog", help="take the pose from a MAVLink tlog")
    p.add_argument("--record", type=Path, metavar="DIR", help="write frames, ground truth and the MAVLink log here")
    p.add_argument("--replay", type=Path, metavar="DIR", help="play a recording back through the stream")
    p.add_argument("--status-json", action="store_true", help="print the component addresses as one JSON line")
    return p


def _optional(module: str, what: str) -> ModuleType:
    """Import a piece another engineer owns; a missing module is a clear user error."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name == module:
            raise SimError(
                f"{what} needs {module} ({module.replace('.', '/')}.py), which this checkout does not have yet"
            ) from None
        raise


class Sim:
    """The running pieces of one ``edge sim`` invocation, started in order and stopped in reverse."""

    def __init__(self, args: argparse.Namespace):
        if args.start_utc is not None and not args.start_utc <= time.time():
            raise SimError(f"--start-utc {args.start_utc}: must not be in the future")
        self.args = args
        self.lines: list[tuple[str, str]] = []
        self.stoppers: list[Any] = []
        self.error: BaseException | None = None
        self.failed = threading.Event()
        self.recorder: Recorder | None = None  # the first camera's
        self.recorders: list[Recorder] = []
        self.recording: Recording | None = None
        self.pacer: Pacer | None = None  # the first camera's
        self.pacers: list[Pacer] = []
        self.t0 = time.monotonic()
        self.world = self._world()
        fps = self.recording.fps if self.recording else self.world.camera.fps if self.world else 10.0
        self.fps = float(fps)

    def _world(self) -> World | None:
        a = self.args
        override = None
        if a.replay is not None:
            if a.record is not None:
                raise SimError("--record and --replay cannot be combined")
            try:
                self.recording = Recording(a.replay)
            except ValueError as err:
                raise SimError(str(err)) from None
            scen = a.scenario or self.recording.scenario_path
            if scen is None:
                return None
            override = self.recording.pose_at
        else:
            scen = a.scenario
        if scen is None:
            raise SimError("give --scenario FILE (or --replay DIR)")
        try:
            scenario = load_scenario(scen)
            if a.vehicle is not None:
                scenario = for_vehicle(scenario, a.vehicle)
        except ScenarioError as err:
            raise SimError(str(err)) from None
        if a.sitl or a.pose_log:
            sitl = _optional("sim.sitl", "--sitl / --pose-log")
            source = a.sitl or str(a.pose_log)
            if a.pose_log is not None and not a.pose_log.is_file():
                raise SimError(f"--pose-log: no such file {a.pose_log}")
            # with --gimbal, ArduPilot echoes our own gimbal's reports back: never follow them
            own = []
            if a.gimbal:
                ap = _optional("sim.autopilot", "--gimbal")
                own = [(ap.SYSTEM_ID, ap.COMPONENTS["gimbal"])]
            try:
                override = sitl.pose_follower(source, own)
            except ValueError as err:
                raise SimError(f"{'--sitl' if a.sitl else '--pose-log'}: {err}") from None
            if hasattr(override, "stop"):
                self.stoppers.append(override)  # a live SITL link
            self.lines.append(("sitl" if a.sitl else "pose-log", source))
        if scenario.cameras and a.mode is not None:
            raise SimError("--mode: this scenario has several [[cameras]], each with its own mode")
        if scenario.cameras and a.replay is not None:
            raise SimError("--replay: plays one camera back; this scenario has several [[cameras]]")
        return World(scenario, seed=a.seed, platform_override=override)

    def _server(self, port: int) -> MjpegServer:
        server = MjpegServer(self.args.http_host, port)
        try:
            server.start()
        except OSError as err:
            raise SimError(f"--http-port {port}: cannot listen ({err.strerror or err})") from None
        self.stoppers.append(server)
        return server

    def start(self) -> None:
        a = self.args
        worlds = self.world.cameras() if self.world is not None and self.recording is None else []
        servers = [self._server(a.http_port + i if a.http_port else 0) for i in range(max(1, len(worlds)))]
        self.lines.insert(0, ("camera", servers[0].url))
        if len(worlds) > 1:  # several cameras: each its own stream, named by its id
            self.lines[1:1] = [(f"camera.{w.camera_id}", srv.url) for w, srv in zip(worlds, servers, strict=True)]
        mav_urls = list(a.mavlink)
        recorders: list[Recorder | None] = [None] * len(worlds)
        if a.record is not None:
            if self.world is None:
                raise SimError("--record needs a scenario")
            try:  # the first camera in DIR (as with one), each further one in DIR/cameras/ID
                for i, w in enumerate(worlds):
                    folder = a.record if i == 0 else a.record / "cameras" / w.camera_id
                    recorders[i] = Recorder(folder, w, a.mode or w.camera.mode, a.scenario)
            except (OSError, ValueError) as err:
                raise SimError(f"--record: {err}") from None
            self.recorder = recorders[0]
            self.recorders = [r for r in recorders if r is not None]
            self.lines.append(("record", str(a.record)))
            if mav_urls and self.recorder is not None:
                tlog = TlogRecorder(self.recorder.tlog_path)
                tlog.start()
                self.stoppers.append(tlog)
                mav_urls.append(tlog.url)
        if self.recording is not None:
            ticks = [(self.fps, self._replay_tick(servers[0]))]
        else:
            ticks = [
                (w.camera.fps, self._render_tick(w, srv, rec))
                for w, srv, rec in zip(worlds, servers, recorders, strict=True)
            ]
        self.t0 = time.monotonic()  # sim time 0 for the camera, the autopilot and the NMEA feeder
        if a.start_utc is not None:
            self.t0 -= time.time() - a.start_utc
        if mav_urls:
            if self.world is None:
                raise SimError("--mavlink needs a scenario (or a recording that holds one)")
            ap_mod = _optional("sim.autopilot", "--mavlink")
            world = self.world
            autopilot = self._start(lambda: ap_mod.Autopilot(world, mav_urls, clock=self.clock), "--mavlink")
            for url in a.mavlink:
                self.lines.append(("mavlink", f"pty {autopilot.pty_path}" if url == "pty" else url))
        if a.gimbal:
            if self.world is None:
                raise SimError("--gimbal needs a scenario")
            gim_mod = _optional("sim.autopilot", "--gimbal")
            world = self.world
            urls = list(a.gimbal)
            gimbal = self._start(lambda: gim_mod.Autopilot(world, urls, clock=self.clock, role="gimbal"), "--gimbal")
            for url in a.gimbal:
                self.lines.append(("gimbal", f"pty {gimbal.pty_path}" if url == "pty" else url))
        if a.nmea_pty:
            if self.world is None:
                raise SimError("--nmea-pty needs a scenario")
            nmea_mod = _optional("sim.nmea", "--nmea-pty")
            world = self.world
            nmea = self._start(lambda: nmea_mod.NmeaFeeder(world, clock=self.clock), "--nmea-pty")
            self.lines.append(("nmea", f"pty {nmea.pty_path}"))
        duration = a.duration
        if duration is not None:
            duration += self.clock()  # --duration counts from now, also when sim time 0 was earlier
        if self.recording is not None and duration is None:
            duration = self.recording.frames[-1].t + 1.0 / self.fps
        for fps, tick in ticks:
            pacer = Pacer(fps, tick, duration, on_error=self._fail, t0=self.t0)
            pacer.start()
            self.pacers.append(pacer)
            self.stoppers.append(pacer)
        self.pacer = self.pacers[0]

    def clock(self) -> float:
        """Sim time (s) shared by every component."""
        return time.monotonic() - self.t0

    def _start(self, make: Callable[[], Any], what: str) -> Any:
        """Build and start a component; a bad url or a busy port is a user error naming the option."""
        part = None
        try:
            part = make()
            part.start()
        except (OSError, ValueError) as err:
            if part is not None:
                part.stop()  # whatever it opened before failing
            raise SimError(f"{what}: cannot start ({getattr(err, 'strerror', None) or err})") from None
        self.stoppers.append(part)
        return part

    def _render_tick(self, world: World, server: MjpegServer, recorder: Recorder | None) -> Any:
        entry = next((c for c in world.scenario.cameras if c.id == world.camera_id), None)
        options = RenderOptions(brightness=entry.brightness) if entry is not None else None
        renderer = Renderer(world, mode=self.args.mode, options=options)
        renderer.render(0.0)  # warm-up: builds textures before real time starts
        lead = [0.0]  # s from a tick's start to its frame's publication (running mean): render that far ahead

        def tick(index: int, t: float) -> None:
            start = time.monotonic()
            # the frame shows the world as it is when it goes out, as a camera's frame shows its exposure: else a
            # daemon stamping frames on arrival sees the platform a render time (0.05-0.3 s) out of step
            image, gt = renderer.render(t + lead[0])
            server.publish(image)
            lead[0] += 0.2 * (time.monotonic() - start - lead[0])
            if recorder is not None:
                recorder.write(index, image, gt)

        return tick

    def _replay_tick(self, server: MjpegServer) -> Any:
        rec = self.recording
        assert rec is not None

        def tick(index: int, t: float) -> None:
            frame = rec.frame_at(t)
            if frame.path.suffix == ".jpg":
                server.publish_jpeg(frame.path.read_bytes())
            else:
                server.publish(rec.image(frame))

        return tick

    def _fail(self, err: BaseException) -> None:
        self.error = err
        self.failed.set()

    def announce(self) -> None:
        if self.args.status_json:
            obj: dict[str, Any] = {}
            for name, addr in self.lines:
                if name.startswith("camera."):  # several cameras: {"cameras": {id: url}}
                    obj.setdefault("cameras", {})[name.removeprefix("camera.")] = addr
                elif name in obj:
                    obj[name] = obj[name] if isinstance(obj[name], list) else [obj[name]]
                    obj[name].append(addr)
                else:
                    obj[name] = [addr] if name == "mavlink" else addr
            obj["seed"] = self.args.seed
            obj["t0_utc"] = time.time() - self.clock()  # UTC (s) of sim time 0, to compare output with truth
            print(json.dumps(obj), flush=True)
        else:
            for name, addr in self.lines:
                print(f"{name} {addr}", flush=True)

    def wait(self, stop: threading.Event) -> None:
        assert self.pacers
        while not stop.is_set() and not self.failed.is_set() and not any(p.done.is_set() for p in self.pacers):
            stop.wait(0.1)

    def stop(self) -> None:
        for part in reversed(self.stoppers):
            try:
                part.stop()
            except Exception as err:  # keep stopping the others
                print(f"{PROG}: stopping {type(part).__name__}: {err}", file=sys.stderr)
        for recorder in self.recorders:
            recorder.close()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--eval-geo" in argv:
        return int(_optional_main("sim.eval_geo", "--eval-geo", argv))
    if any(a == "--export-dataset" or a.startswith("--export-dataset=") for a in argv):
        return int(_optional_main("sim.export_dataset", "--export-dataset", argv))
    args = _parser().parse_args(argv)
    stop = threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    sim: Sim | None = None
    try:
        sim = Sim(args)
        sim.start()
        sim.announce()
        t0 = time.monotonic()
        sim.wait(stop)
        if sim.error is not None:
            print(f"{PROG}: {type(sim.error).__name__}: {sim.error}", file=sys.stderr)
            return 1
        pacer = sim.pacer
        if pacer is not None:
            print(
                f"{PROG}: stopped after {time.monotonic() - t0:.1f} s, {pacer.frames} frames, {pacer.skipped} skipped",
                file=sys.stderr,
            )
        return 0
    except SimError as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 2
    finally:
        if sim is not None:
            sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _optional_main(module: str, what: str, argv: list[str]) -> int:
    try:
        mod = _optional(module, what)
    except SimError as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 2
    return int(mod.main(argv) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
