"""The composition root: build every stage from the config, start them in order, stop them in reverse.

``edge run --config FILE``. Exit codes: 0 after a clean stop (SIGTERM/SIGINT), 2 for a bad config or an
unusable model (the message says what to fix). Sources that fail at run time (camera, MAVLink, gpsd, broker)
are retried by their own threads and reported in health; they never stop the daemon.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from edge.config import Config, ConfigError, state_dir
from edge.ops.logs import setup_logging
from edge.ops.notify import Watchdog, notify
from edge.pipeline import Pipeline
from edge.stages import EventSink, Health, HealthSink, Stage
from edge.types import Frame

if TYPE_CHECKING:
    from edge.geo.locator import GroundGeolocator
    from edge.sources.camera import Camera
    from edge.sources.pose import PoseStore
    from edge.thumbs.build import Thumbnails

log = logging.getLogger("edge.app")

HEALTH_FILE = "health.json"
RUN_FILE = "run.json"  # this run's boot id, pid and start time: `edge status` tells a snapshot of an earlier run


class StartupError(Exception):
    """The daemon cannot start (bad model, unusable state directory); exit code 2."""


class Daemon:
    """Owns the stages. ``stages`` is in start order; stop runs in reverse."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.boot_id = secrets.randbits(32)
        self.stages: list[Stage] = []
        self.pipelines: list[Pipeline] = []  # one per camera
        self._health_sinks: list[HealthSink] = []
        self._extra_health: dict[str, Callable[[], Health]] = {}
        self._stop = threading.Event()
        self._early: list[Stage] = []  # the pose sources, started while the model loads
        try:
            self._build()
        except Exception:  # a refusal, or anything unexpected: the early sources stop either way
            for stage in self._early:
                stage.stop()
            raise

    def _build(self) -> None:
        # Imported here so that `edge check-config` and `edge --help` stay light.
        from edge.cameras import CameraSetup, camera_setups
        from edge.detect.engine import ModelError, OnnxDetector
        from edge.detect.scheduler import ModelScheduler
        from edge.detect.shared import SharedModels
        from edge.gcs.alerts import GcsAlerter
        from edge.geo.locator import GroundGeolocator
        from edge.sources.camera import Camera, CameraError
        from edge.sources.clock import UtcClock
        from edge.sources.gps import GpsdSource
        from edge.sources.mavlink import MavlinkLink, attach_pose_feed
        from edge.sources.mavlink_utc import attach_utc_feed
        from edge.sources.pose import PoseStore
        from edge.track.still import StillTracker
        from edge.track.tracker import ByteTracker
        from edge.uplink.drainer import Drainer
        from edge.uplink.spool import Spool, SpoolError, SpoolWriter
        from edge.uplink.transports.mavlink_radio import radio_uplink
        from edge.uplink.transports.mqtt import mqtt_uplink

        cfg = self.cfg
        setups = camera_setups(cfg)
        sdir = state_dir(cfg)
        try:
            sdir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StartupError(f"vehicle.state_dir: {sdir}: {err.strerror}") from None
        self.state_dir = sdir
        self._write_run_file()

        poses = PoseStore(cfg.pose)
        self.clock = clock = UtcClock(cfg.clock)
        self._extra_health["clock"] = clock.health
        try:
            spool = Spool(sdir / "spool.sqlite", cfg.spool)
        except SpoolError as err:
            raise StartupError(f"vehicle.state_dir: {err}") from None
        self.spool = spool
        thumbs = self._thumbnails()  # before the uplink, which subscribes to its requests
        writer = SpoolWriter(spool, cfg.vehicle.id, self.boot_id)
        self.stages.append(writer)
        sinks: list[EventSink] = [writer] + ([thumbs.collector] if thumbs else [])
        if cfg.mqtt.url:
            uplink = mqtt_uplink(cfg.mqtt, spool, cfg.vehicle.id, thumbs.service.on_mqtt if thumbs else None)
            self.uplink: Drainer | None = uplink
            self.stages.append(uplink)
            self._health_sinks.append(uplink)
        else:
            self.uplink = None
            log.warning("mqtt.url is empty: detections are spooled but not sent")
        if cfg.mavlink.url:
            try:
                link = MavlinkLink(cfg.mavlink)
            except ValueError as err:  # e.g. signing on without a key
                raise StartupError(str(err)) from None
            attach_pose_feed(link, poses)
            attach_utc_feed(link, clock)
            self.stages.append(link)
            gcs = GcsAlerter(cfg.gcs, link, camera_names=len(setups) > 1)
            if cfg.gcs.enabled:
                self.stages.append(gcs)
                sinks.append(gcs)
                self._health_sinks.append(gcs)
            if cfg.radio.enabled:  # records over the telemetry radio, on the alerts' byte budget
                signed = cfg.mavlink.signing != "off"
                self.stages.append(radio_uplink(link, cfg.radio, spool, cfg.vehicle.id, gcs.budget, signed))
            if thumbs is not None and cfg.thumbnails.gcs_requests:
                from edge.thumbs.gcs import attach_gcs_requests

                attach_gcs_requests(link, thumbs.service, [c.camera.id for c in setups] or [cfg.camera.id])
        elif cfg.radio.enabled:
            log.warning("radio.enabled needs [mavlink] url: records are not sent over the telemetry radio")
        if cfg.gps.enabled:
            self.stages.append(GpsdSource(cfg.gps, poses, clock, state_dir=sdir))
        self._extra_health["pose"] = poses.health
        # The pose sources connect while the model loads (seconds on a Pi); start() leaves them running.
        self._early = [st for st in self.stages if isinstance(st, GpsdSource | MavlinkLink)]
        for stage in self._early:
            stage.start()
        # One detector (sessions shared by model file), geolocator, camera and pipeline per camera; one pose store.
        models = self.models = SharedModels()
        built = []
        for c in setups or [CameraSetup(cfg.camera, cfg.geo, cfg.detector)]:  # no camera: the model is still checked
            where = "" if c.key == "camera" else f"{c.key}."
            try:
                detector = OnnxDetector(c.detector, models)
            except ModelError as err:
                raise StartupError(f"{where}{err}") from None
            try:
                geo = GroundGeolocator(c.geo, poses.ground_alt_hint)
            except ValueError as err:  # CalibrationError, TerrainError
                raise StartupError(f"{where}geo: {err}") from None
            built.append((c, detector, geo))
        hub = None
        if cfg.console.enabled:
            from edge.console.server import ConsoleError, build_console

            try:
                hub, console = build_console(cfg, sdir, built[0][2].view, poses.pose_at)
            except ConsoleError as err:
                raise StartupError(str(err)) from None
            sinks.append(hub)
            self._health_sinks.append(hub)
            if thumbs is not None:
                thumbs.service.on_sent = hub.thumbnail  # what was sent on request, beside its alert
            self.stages.append(console)
        if not setups:
            log.warning("camera.url is empty: nothing to detect on")
            return
        cameras = []
        for c, _, _ in built:
            try:
                cameras.append(Camera(c.camera, clock.to_utc))
            except CameraError as err:
                raise StartupError(str(err).replace("camera.", f"{c.key}.", 1)) from None
        if cfg.clips.enabled:  # evidence clips: a recorder per camera
            self.stages += [self._clip_recorder(cam, poses, b[2], sinks) for cam, b in zip(cameras, built, strict=True)]
        several = len(setups) > 1
        scheduler = ModelScheduler() if several else None
        associate = several and cfg.association.enabled
        if associate:  # one object seen by two cameras: one object id (before the sinks)
            from edge.track.associate import Associator

            # the crop collector takes each frame's events from its pipeline, right before the frame itself
            # (observe): the associator may hold a frame for capture order, and the frame would have gone by then
            collector = [thumbs.collector] if thumbs else []
            association = Associator([s for s in sinks if s not in collector], cfg.association)
            self.stages.append(association)  # stops after the pipelines: it hands on what it holds
            sinks = [association, *collector]
        observers = [o.observe for o in (hub, thumbs.collector if thumbs else None) if o is not None]
        observer = observers[0] if len(observers) == 1 else _each(observers) if observers else None
        for (c, detector, geo), camera in zip(built, cameras, strict=True):
            still = c.camera.still_images == "yes" or (c.camera.still_images == "auto" and camera.kind == "folder")
            tracker = StillTracker() if still else ByteTracker(cfg.tracker, report_seen=associate)
            suffix = f":{c.camera.id}" if several else ""
            pipeline = Pipeline(
                camera,
                detector,
                tracker,
                geo,
                poses,
                sinks,
                observer,
                "pipeline" + suffix,
                scheduler,
                c.priority,
                c.max_fps,
            )
            self._extra_health["detector" + suffix] = detector.health
            self.pipelines.append(pipeline)
            self.stages += [pipeline, camera]

    def _thumbnails(self) -> Thumbnails | None:
        """The crop collector and the request service when ``[thumbnails] enabled``."""
        if not self.cfg.thumbnails.enabled:
            return None
        from edge.thumbs.build import build_thumbnails

        try:
            thumbs = build_thumbnails(self.cfg.thumbnails, self.state_dir, self.spool, self.boot_id)
        except (ValueError, OSError) as err:
            raise StartupError(str(err)) from None
        self.stages += [thumbs.collector, thumbs.service]
        return thumbs

    def _clip_recorder(self, camera: Camera, poses: PoseStore, geo: GroundGeolocator, sinks: list[EventSink]) -> Stage:
        """The evidence recorder (``[clips]``): a sink of the alerts, a reader of the camera's newest frames."""
        from edge.clips.recorder import ClipRecorder

        folder = Path(self.cfg.clips.folder) if self.cfg.clips.folder else self.state_dir / "clips"
        try:
            rec = ClipRecorder(
                self.cfg.clips,
                folder,
                camera.settings,
                camera.peek,
                poses.pose_at,
                geo.view,
                geo.mounting,
                camera.to_utc,
            )
        except OSError as err:
            raise StartupError(f"clips.folder: {folder}: {err.strerror}") from None
        sinks.append(rec)
        return rec

    def start(self) -> None:
        for stage in self.stages:
            log.info("starting %s", stage.name)
            stage.start()

    def stop(self) -> None:
        """Reverse order: the camera stops first, the pipeline hands its last events on, the spool flushes."""
        for stage in reversed(self.stages):
            try:
                stage.stop()
            except Exception:
                log.exception("stopping %s failed", stage.name)
        self.spool.close()

    def _write_run_file(self) -> None:
        """Say which run owns the state directory now (before the first health snapshot, which takes a while)."""
        run = {"boot_id": self.boot_id, "pid": os.getpid(), "t_start": time.time()}
        tmp = self.state_dir / (RUN_FILE + ".tmp")
        try:
            tmp.write_text(json.dumps(run))
            tmp.replace(self.state_dir / RUN_FILE)
        except OSError as err:
            raise StartupError(f"state directory {self.state_dir} (vehicle.state_dir): {err.strerror}") from None

    def health(self) -> dict[str, Health]:
        out: dict[str, Health] = {}
        sources = {**{stage.name: stage.health for stage in self.stages}, **self._extra_health}
        for name, health in sources.items():
            try:
                out[name] = health()
            except Exception as err:  # a broken health() must not take the daemon down
                out[name] = {"error": str(err)}
        return out

    def alive(self) -> bool:
        return all(p.alive() for p in self.pipelines)

    def publish_health(self) -> dict[str, object]:
        """Write health.json for `edge status`, tell systemd, pass it to the uplink and the GCS."""
        snapshot: dict[str, object] = {
            "vehicle": self.cfg.vehicle.id,
            "boot_id": self.boot_id,
            "t_utc": self.clock.now(),
            "pid": os.getpid(),
            "stages": self.health(),
        }
        tmp = self.state_dir / (HEALTH_FILE + ".tmp")
        tmp.write_text(json.dumps(snapshot, default=str))
        tmp.replace(self.state_dir / HEALTH_FILE)
        notify("STATUS=" + status_line(snapshot))
        for sink in self._health_sinks:
            sink.report_health(snapshot)
        return snapshot


def _each(observers: Sequence[Callable[[Frame, float], None]]) -> Callable[[Frame, float], None]:
    """One frame observer that calls each of ``observers`` in turn."""

    def observe(frame: Frame, t_infer: float) -> None:
        for o in observers:
            o(frame, t_infer)

    return observe


def status_line(snapshot: dict[str, object]) -> str:
    """One short line for systemd's STATUS= (shown by `systemctl status`)."""
    stages = snapshot.get("stages", {})
    assert isinstance(stages, dict)
    parts = []
    for name, pipe in stages.items():  # "pipeline", or "pipeline:<camera id>" each with several cameras
        if name.partition(":")[0] == "pipeline" and isinstance(pipe, dict):
            cam = name.partition(":")[2]
            parts.append(f"{cam + ' ' if cam else ''}{pipe.get('fps', 0)} fps, {pipe.get('events', 0)} events")
    for name, h in stages.items():
        if not name.startswith("pipeline") and isinstance(h, dict) and "state" in h:
            parts.append(f"{name} {h['state']}")
    return "; ".join(parts) or "running"


def run(cfg: Config, source: str = "config") -> int:
    """Run until SIGTERM/SIGINT; returns the exit code. ``source`` (the config file) starts every refusal line."""
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        daemon = Daemon(cfg)
    except StartupError as err:
        log.error("%s: %s", source, err)
        return 2
    except Exception as err:  # not the config's fault as far as we know: say it in one line; systemd retries
        log.debug("start-up failed", exc_info=True)
        log.error("%s: cannot start: %s: %s", source, type(err).__name__, err)
        return 1
    try:
        daemon.start()
    except Exception as err:
        log.debug("start failed", exc_info=True)
        log.error("%s: cannot start: %s: %s", source, type(err).__name__, err)
        daemon.stop()
        return 1
    watchdog = Watchdog(daemon.alive)
    watchdog.start()
    notify("READY=1\nSTATUS=started")
    log.info("edge running: vehicle %s, boot %08x", cfg.vehicle.id, daemon.boot_id)
    while not stop.wait(cfg.ops.status_interval_s):
        try:
            daemon.publish_health()
        except Exception:
            log.exception("health snapshot failed")
    notify("STOPPING=1")
    watchdog.stop()
    daemon.stop()
    log.info("edge stopped")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="edge run", description="Run the edge daemon.")
    parser.add_argument("--config", "-c", default="/etc/edge/edge.toml", help="TOML config (default %(default)s)")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="override log.level")
    ns = parser.parse_args(argv)
    from edge.check_config import check

    try:
        cfg = check(ns.config)  # what `edge check-config` checks, the same lines
    except ConfigError as err:
        for line in err.problems:
            print(line, file=sys.stderr)
        return 2
    setup_logging(ns.log_level or cfg.log.level)
    return run(cfg, ns.config)
