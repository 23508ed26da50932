"""gpsd faults found in the field, against a real gpsd fed NMEA on a pty or a gpsd-like JSON server on a real TCP
socket: a receiver's 2D fix labelled mode 3 by gpsd 3.22, reports with bad values, gpsd restarts, and a parked
vehicle without a true heading."""

from __future__ import annotations

import json
import math
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bench.waits import wait_for
from edge.geo.wgs84 import LocalNed
from edge.sources.gps import GpsdSource
from edge.sources.mavlink import MavlinkLink, attach_pose_feed
from edge.sources.pose import PoseStore
from edge.sources.settings import GpsSettings, MavlinkSettings, PoseSettings
from sim.autopilot import Autopilot
from sim.autopilot_links import PtyLink
from sim.nmea import NmeaFeeder, sentence, start_gpsd
from sim.scenario import Noise, load_scenario
from sim.world import World

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("gpsd") is None and not Path("/usr/sbin/gpsd").exists(), reason="the gpsd binary is not installed"
    ),
]
REPO = Path(__file__).resolve().parents[2]
SCEN = REPO / "sim" / "scenarios" / "mss-ridge.toml"
MODEL = REPO / "models" / "edge-default.onnx"


class Receiver:
    """A receiver writing NMEA to a pty at 5 Hz; ``epoch(utc)`` returns the sentence bodies (without $ and *CS)."""

    def __init__(self, epoch: Callable[[float], list[str]]) -> None:
        self.epoch = epoch
        self.link = PtyLink()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.link.read()
            for body in self.epoch(time.time()):
                self.link.write(sentence(body))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.link.close()


def hms(utc: float) -> tuple[str, str]:
    tm = time.gmtime(utc)
    return time.strftime("%H%M%S", tm) + f".{int(utc * 100) % 100:02d}", time.strftime("%d%m%y", tm)


def receiver_2d_three_sats(utc: float) -> list[str]:
    """What the field captures show: GGA with a (held) altitude, GSA saying 2D with 3 satellites."""
    t, d = hms(utc)
    return [
        f"GPGGA,{t},4807.03800,N,01131.00000,E,1,03,2.5,545.4,M,46.9,M,,",
        "GPGSA,A,2,02,05,07,,,,,,,,,,3.4,2.5,2.3",
        "GPGSV,1,1,03,02,45,100,40,05,30,200,38,07,60,300,42",
        f"GPRMC,{t},A,4807.03800,N,01131.00000,E,0.0,,{d},,,A",
    ]


@pytest.fixture
def run_gpsd() -> Iterator[Callable[..., tuple[GpsdSource, PoseStore]]]:
    made: list[tuple[Receiver, object, GpsdSource]] = []

    def make(epoch: Callable[[float], list[str]], pose: PoseSettings | None = None) -> tuple[GpsdSource, PoseStore]:
        rx = Receiver(epoch)
        gpsd = start_gpsd(rx.link.path)
        store = PoseStore(pose or PoseSettings())
        src = GpsdSource(GpsSettings(enabled=True, port=gpsd.port), store)
        made.append((rx, gpsd, src))
        src.start()
        return src, store

    yield make
    for rx, gpsd, src in made:
        src.stop()
        gpsd.stop()  # type: ignore[attr-defined]
        rx.stop()


def test_gpsd_mode_3_with_the_receivers_2d_gsa_is_a_2d_fix(
    run_gpsd: Callable[..., tuple[GpsdSource, PoseStore]],
) -> None:
    src, store = run_gpsd(receiver_2d_three_sats, PoseSettings(body_yaw_deg=0.0))
    assert wait_for(lambda: src.stats["fix_2d_skipped"] >= 8), src.health()
    h = src.health()
    assert src.stats["fixes"] == 0, h  # gpsd said mode 3 with an altitude on most of these cycles
    assert h["state"] == "2D fix (not used)" and h["mode"] == 2
    assert h["receiver_mode"] == 2 and h["satellites_used"] == 3
    assert store.pose_at(time.monotonic()) is None and store.ground_alt_hint() is None


class FakeGpsd:
    """A gpsd-like server on a real TCP socket: each client gets VERSION, then the lines of ``script()`` at 10 Hz."""

    def __init__(self, script: Callable[[], Iterator[dict[str, object] | str]]) -> None:
        self.script = script
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.srv.getsockname()[1])
        self.connections = 0
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.srv.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.srv.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.sendall(b'{"class":"VERSION","release":"3.22","proto_major":3,"proto_minor":14}\n')
                for rep in self.script():
                    if self._stop.is_set():
                        return
                    line = rep if isinstance(rep, str) else json.dumps(rep)
                    conn.sendall(line.encode() + b"\n")
                    time.sleep(0.1)
            except OSError:
                pass

    def stop(self) -> None:
        self._stop.set()
        self.srv.close()


def tpv(**kw: object) -> dict[str, object]:
    utc = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000Z"
    return {"class": "TPV", "mode": 3, "time": utc, "lat": 48.1, "lon": 11.5, "altMSL": 545.0, **kw}


def test_reports_with_bad_values_are_counted_and_skipped() -> None:
    def script() -> Iterator[dict[str, object] | str]:
        yield tpv()
        yield tpv(mode="x")
        yield '{"class":"TPV","mode":3,"lat":48.1,"lon":11.5,"altMSL":NaN}'
        yield tpv(lat=91.0)
        yield {"class": "ATT", "heading": "north"}
        yield {"class": "SKY", "uSat": -3}
        while True:
            yield tpv()

    server = FakeGpsd(script)
    store = PoseStore(PoseSettings(body_yaw_deg=0.0))
    src = GpsdSource(GpsSettings(enabled=True, port=server.port), store)
    src.start()
    try:
        assert wait_for(lambda: src.stats["fixes"] >= 10, 10.0), src.health()
        h = src.health()
        assert h["bad_reports"] == 5 and h["state"] == "3D fix" and h["thread_alive"], h
        pose = store.pose_at(time.monotonic())
        assert pose is not None and pose.lat == pytest.approx(48.1)
        assert server.connections == 1  # a bad report is skipped, not a reason to reconnect
    finally:
        src.stop()
        server.stop()


def test_gpsd_restarted_four_times_is_back_within_two_seconds_each_time() -> None:
    world = World(load_scenario(SCEN).model_copy(update={"noise": Noise(gps_m=0, alt_m=0, att_deg=0)}))
    feeder = NmeaFeeder(world, rate_hz=5.0)
    feeder.start()
    assert feeder.pty_path is not None
    gpsd = start_gpsd(feeder.pty_path)
    port = gpsd.port
    src = GpsdSource(GpsSettings(enabled=True, port=port), PoseStore(PoseSettings()))
    src.start()
    took = []
    try:
        assert wait_for(lambda: src.stats["fixes"] >= 3), src.health()
        for _ in range(4):
            gpsd.stop()
            assert wait_for(lambda: src.state == "reconnecting", 10.0), src.health()
            time.sleep(3.0)  # down long enough for several failed retries
            fixes = src.stats["fixes"]
            gpsd = start_gpsd(feeder.pty_path, port)
            t0 = time.monotonic()
            assert wait_for(lambda n=fixes: src.stats["fixes"] > n, 15.0), src.health()
            took.append(time.monotonic() - t0)
        assert max(took) < 2.0, took
    finally:
        src.stop()
        gpsd.stop()
        feeder.stop()


def moving_then_parked(t_stop: float) -> Callable[[float], list[str]]:
    """A receiver without HDT: driving at 5 m/s on course 123.4 deg until ``t_stop`` (monotonic), then parked
    (RMC's course empty, as real receivers give it at a standstill)."""

    def epoch(utc: float) -> list[str]:
        t, d = hms(utc)
        moving = time.monotonic() < t_stop
        speed, course = ("9.72", "123.4") if moving else ("0.00", "")
        return [
            f"GPGGA,{t},4807.03800,N,01131.00000,E,1,09,0.9,545.4,M,46.9,M,,",
            "GPGSA,A,3,02,05,07,09,13,15,18,20,21,,,,1.4,0.9,1.1",
            f"GPRMC,{t},A,4807.03800,N,01131.00000,E,{speed},{course},{d},,,A",
        ]

    return epoch


def test_parked_vehicle_keeps_the_last_course_with_growing_uncertainty(
    run_gpsd: Callable[..., tuple[GpsdSource, PoseStore]],
) -> None:
    src, store = run_gpsd(moving_then_parked(time.monotonic() + 3.0))
    assert wait_for(lambda: src.heading_source == "course over ground"), src.health()
    assert wait_for(lambda: src.heading_source == "last course (held)", 10.0), src.health()
    first = store.pose_at(time.monotonic() - 0.3)
    time.sleep(3.0)
    later = store.pose_at(time.monotonic() - 0.3)
    assert first is not None and later is not None
    assert math.degrees(later.yaw) % 360 == pytest.approx(123.4, abs=0.05)
    assert later.att_err_rad > first.att_err_rad  # the held course grows less certain as time passes
    assert src.health()["heading_deg"] == pytest.approx(123.4, abs=0.05)


def parked(utc: float) -> list[str]:
    """A parked receiver without HDT that never moved since the daemon started: no course at all."""
    t, d = hms(utc)
    return [
        f"GPGGA,{t},4807.03800,N,01131.00000,E,1,09,0.9,545.4,M,46.9,M,,",
        "GPGSA,A,3,02,05,07,09,13,15,18,20,21,,,,1.4,0.9,1.1",
        f"GPRMC,{t},A,4807.03800,N,01131.00000,E,0.00,,{d},,,A",
    ]


def test_calibrate_heading_from_a_landmark_and_the_daemon_uses_it(tmp_path: Path) -> None:
    """The crew's procedure on a parked vehicle: the vehicle position from gpsd, a landmark 1 km due east seen at
    the right edge of a 90 deg view, camera 10 deg down: heading = 90 - atan(1 / cos 10 deg) = 44.5615 deg."""
    rx = Receiver(parked)
    gpsd = start_gpsd(rx.link.path)
    lat0, lon0 = 48.0 + 7.038 / 60, 11.0 + 31.0 / 60
    _, east_1km, _ = LocalNed(lat0, lon0, 0.0).to_geodetic(0.0, 1000.0, 0.0)
    landmark = f"{lat0:.9f},{float(east_1km):.9f}"
    state = tmp_path / "state"
    cfg = tmp_path / "edge.toml"
    cfg.write_text(
        f'[vehicle]\nid = "mss1"\nstate_dir = "{state}"\n[detector]\nmodel = "{MODEL}"\n'
        f"[gps]\nenabled = true\nport = {gpsd.port}\n[geo]\nhfov_deg = 90.0\nmount_pitch_deg = -10.0\n"
    )
    store = PoseStore(PoseSettings())
    src = GpsdSource(GpsSettings(enabled=True, port=gpsd.port), store, state_dir=state)
    src.start()
    try:
        assert wait_for(lambda: src.stats["fixes"] >= 3), src.health()
        assert store.pose_at(time.monotonic() - 0.3) is None and src.heading_source == ""  # parked: no heading
        args = ["calibrate", "heading", "--config", str(cfg), "--landmark", landmark, "--pixel", "1000,300"]
        out = subprocess.run(
            [sys.executable, "-m", "edge", *args, "--size", "1000x600"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
        )
        assert out.returncode == 0, out.stderr
        assert "heading 44.6 deg" in out.stdout
        saved = json.loads((state / "heading.json").read_text())
        assert saved["heading_deg"] == pytest.approx(44.5615, abs=1e-3)
        assert saved["err_deg"] < 1.0  # GST-less fix (10 m) over 1 km, 2 px over fx 500 px
        assert wait_for(lambda: src.heading_source == "calibrated", 10.0), src.health()  # picked up while running
        pose = store.pose_at(time.monotonic() - 0.3)
        assert pose is not None and math.degrees(pose.yaw) == pytest.approx(44.5615, abs=1e-3)
        assert src.health()["heading_source"] == "calibrated"
    finally:
        src.stop()
        gpsd.stop()
        rx.stop()


def dual_antenna_ths(utc: float) -> list[str]:
    """A dual-antenna receiver that gives its heading as $GNTHS (gpsd 3.22 reports no ATT for it), parked."""
    return [*parked(utc), "GNTHS,123.45,A"]


def test_dual_antenna_ths_heading_on_a_parked_vehicle(run_gpsd: Callable[..., tuple[GpsdSource, PoseStore]]) -> None:
    src, store = run_gpsd(dual_antenna_ths)
    assert wait_for(lambda: src.heading_source == "true heading"), src.health()
    pose = store.pose_at(time.monotonic() - 0.3)
    assert pose is not None and math.degrees(pose.yaw) % 360 == pytest.approx(123.45, abs=1e-3)


def test_a_mavlink_ahrs_heading_wins_over_the_course(
    run_gpsd: Callable[..., tuple[GpsdSource, PoseStore]],
) -> None:
    """An MSS vehicle with a MAVLink compass/AHRS (the simulated autopilot over UDP stands in for it) and a
    receiver without HDT driving: the AHRS's ATTITUDE is the heading; gpsd writes none of its own."""
    src, store = run_gpsd(moving_then_parked(time.monotonic() + 60.0))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    world = World(load_scenario(REPO / "sim" / "scenarios" / "drone-border.toml"))
    ap = Autopilot(world, [f"udpout:127.0.0.1:{port}"])
    ap.start()
    link = MavlinkLink(MavlinkSettings(url=f"udpin:127.0.0.1:{port}"))
    attach_pose_feed(link, store)
    link.start()
    try:
        assert wait_for(lambda: src.heading_source == "mavlink", 20.0), (src.health(), link.health())
        time.sleep(1.0)
        assert src.heading_source == "mavlink" and src.health()["heading_deg"] is None
        assert store.last_attitude_t("mavlink") is not None
        assert store.last_attitude_t("gpsd course over ground") is None  # no course samples mixed in
    finally:
        link.stop()
        ap.stop()
