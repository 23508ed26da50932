"""Done-when of the telemetry-radio uplink, on the real daemon: the simulator flies (camera stream + MAVLink
autopilot), `edge run` detects on its frames, and its IP uplink to Mosquitto is black-holed. Every new-track alert
reaches `edge listen --mavlink` through the real firmware bridge and a real MAVProxy forward, the radio's bytes stay
within 5 % of their budget over a minute, and once the IP link returns (both paths on) nothing comes twice over the
same link. The bytes never exceed the budget; that they fill it (>= 95 %) is asserted when the pipeline had more to
send than the radio carries all that minute (sampled in the spool): a heavily loaded machine (~1 fps) may not give
that, and then the test warns instead.

What the daemon produced is read from its own spool (read-only, one SQLite snapshot): when no new-track record waits
there any more and its writer's next sequence number is S, every new-track record below S went by radio (nothing else
could have acknowledged it). After the IP link returns, every record the daemon numbered arrives once (by either
path) or is still in its spool when it stops.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest

os.environ["MAVLINK20"] = "1"
from pymavlink import mavutil

from bench.localbroker import LocalBroker
from edge.types import Priority
from edge.uplink.codec import decode
from edge.uplink.settings import RadioSettings
from sim.daemon_config import Sections
from sim.demo import REPO, daemon_config

sys.path.insert(0, str(Path(__file__).parent))
from uplink_helpers import Proxy

MAVPROXY = shutil.which("mavproxy.py", path=str(Path(sys.executable).parent))
SCEN = REPO / "sim" / "scenarios" / "drone-border.toml"
RADIO_BYTES_PER_S = 300.0  # [gcs] bytes_per_s: ~5 % of a 57.6 kbit/s SiK radio (the pipeline wants more)
WARMUP_S = 10.0  # after the first record by radio: past the token bucket's first burst
WINDOW_S = 60.0
BUDGETED = {  # what the radio budget covers: the GCS alerts and the records
    "TUNNEL",
    "STATUSTEXT",
    "CAMERA_TRACKING_GEO_STATUS",
    "CAMERA_TRACKING_IMAGE_STATUS",
    "NAMED_VALUE_FLOAT",
    "NAMED_VALUE_INT",
}

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(MAVPROXY is None, reason="MAVProxy not installed (pip install --no-deps MAVProxy)"),
]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _lines(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def _key(d: dict[str, Any]) -> tuple[int, int, int]:
    return d["boot"], d["seq"], d["track"]


def _spool_snapshot(path: Path) -> tuple[int, int]:
    """(new-track records waiting in the daemon's spool, its writer's next sequence number), in one read."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
        db.execute("BEGIN")
        (waiting,) = db.execute("SELECT count(*) FROM queue WHERE prio = ?", (int(Priority.ALERT),)).fetchone()
        got = db.execute("SELECT value FROM counters WHERE name = 'writer_next_seq'").fetchone()
        db.execute("COMMIT")
    return int(waiting), int(got[0]) if got else 0


def _left_in_spool(path: Path) -> list[int]:
    """Sequence numbers of the records still in a stopped daemon's spool (health records left out)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT payload FROM queue WHERE prio != ?", (int(Priority.HEALTH),)).fetchall()
    return sorted(decode(bytes(p)).seq for (p,) in rows)


class Backlog:
    """Samples, once a second, how many records the radio may send wait in the daemon's spool (new-track ones, and
    updates younger than ``[radio] update_max_age_s``); while more wait than its in-flight window, the radio is
    held back by its budget alone."""

    def __init__(self, spool: Path, settings: RadioSettings) -> None:
        self.spool = spool
        self.settings = settings
        self.samples: list[tuple[float, int]] = []  # (time.time(), records waiting)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        query = "SELECT count(*) FROM queue WHERE prio = ? OR (prio = ? AND t_created > ?)"
        while not self._stop.wait(1.0):
            now = time.time()
            with sqlite3.connect(f"file:{self.spool}?mode=ro", uri=True, timeout=10) as db:
                args = (int(Priority.ALERT), int(Priority.UPDATE), now - self.settings.update_max_age_s)
                (n,) = db.execute(query, args).fetchone()
            self.samples.append((now, int(n)))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def saturated(self, t0: float, t1: float) -> bool:
        """Whether the radio had more to send than its window at every sample between ``t0`` and ``t1``."""
        inside = [n for t, n in self.samples if t0 <= t < t1]
        return len(inside) >= 0.8 * (t1 - t0) and min(inside) > self.settings.max_inflight


class Procs:
    """Child processes with their logs, stopped in reverse order."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[tuple[subprocess.Popen[bytes], signal.Signals]] = []
        self.logs: list[IO[bytes]] = []

    def start(
        self, name: str, args: list[str], stop: signal.Signals = signal.SIGTERM, stdout: int | Path | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("wb")
        self.logs.append(log)
        out: int | IO[bytes] = log
        if isinstance(stdout, Path):
            out = stdout.open("wb")
            self.logs.append(out)
        elif stdout is not None:
            out = stdout
        proc = subprocess.Popen([sys.executable, *args], stdout=out, stderr=log, cwd=self.workdir)
        self.started.append((proc, stop))
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
        sig = next(s for p, s in self.started if p is proc)
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self) -> None:
        for proc, _ in reversed(self.started):
            self.stop(proc)
        for log in self.logs:
            log.close()

    def tail(self) -> str:
        return "\n".join(
            f"--- {p.name}: {p.read_text(errors='replace')[-1500:]}" for p in sorted(self.workdir.glob("*.log"))
        )


def _sim_status(sim: subprocess.Popen[bytes]) -> dict[str, Any]:
    got: dict[str, Any] = {}
    assert sim.stdout is not None
    out = sim.stdout
    reader = threading.Thread(target=lambda: got.update(json.loads(out.readline() or b"{}")), daemon=True)
    reader.start()
    reader.join(30)
    assert got, "the simulator did not report its addresses"
    return got


@pytest.mark.timeout(300)
def test_edge_run_alerts_reach_the_ground_over_the_radio_while_the_ip_link_is_dead(tmp_path: Path) -> None:
    assert MAVPROXY is not None
    ap_port, daemon_port, gcs_port, listen_port = (free_port(socket.SOCK_DGRAM) for _ in range(4))
    bridge_cfg = tmp_path / "bridge.toml"
    bridge_cfg.write_text(
        f'[[endpoint]]\nname = "ap"\nport = {ap_port}\n'
        f'[[endpoint]]\nname = "daemon"\nport = {daemon_port}\n'
        f'[[endpoint]]\nname = "gcs"\nmode = "udp-client"\nport = {gcs_port}\nbytes_per_s = 5760.0\n'
    )
    broker = LocalBroker(tmp_path / "broker")
    proxy = Proxy(broker.port)
    proxy.blackhole(True)  # the IP uplink is dead from the start
    procs = Procs(tmp_path)
    rx_out, rx_err = tmp_path / "rx.out", tmp_path / "listen.log"
    spool = tmp_path / "state" / "spool.sqlite"
    try:
        sim = procs.start(
            "sim",
            ["-m", "edge", "sim", "--scenario", str(SCEN), "--http-port", "0", "--status-json",
             "--mavlink", f"udpout:127.0.0.1:{ap_port}"],
            stdout=subprocess.PIPE,
        )  # fmt: skip
        status = _sim_status(sim)
        procs.start("bridge", ["-m", "fwbridge.cli", "-c", str(bridge_cfg)])
        procs.start(
            "mavproxy",
            [MAVPROXY, f"--master=udpin:127.0.0.1:{gcs_port}", f"--out=udp:127.0.0.1:{listen_port}", "--daemon",
             "--non-interactive", f"--state-basedir={tmp_path}", "--default-modules=link", "--cmd=set flushlogs 1"],
            stop=signal.SIGINT,
        )  # fmt: skip
        listener = procs.start(
            "listen",
            ["-m", "edge", "listen", "--mavlink", f"udp:127.0.0.1:{listen_port}", "--broker",
             f"mqtt://127.0.0.1:{broker.port}", "--client-id", "radio-rx", "--report-s", "5"],
            stop=signal.SIGINT,
            stdout=rx_out,
        )  # fmt: skip
        _wait_for(lambda: b"connected" in rx_err.read_bytes(), 20, "the receiver to connect to the broker")
        extra: Sections = {
            "mavlink": {"url": f"udpout:127.0.0.1:{daemon_port}"},
            "mqtt": {"keepalive_s": 2, "connect_timeout_s": 3.0, "reconnect_min_s": 0.2, "reconnect_max_s": 2.0},
            "radio": {"enabled": True},
            "gcs": {"bytes_per_s": RADIO_BYTES_PER_S},
            # an update of every track on (nearly) every frame: more than the radio carries even when this machine
            # is loaded and the pipeline runs at ~2 fps; tracks that survive a 2 s flicker (fewer new-track alerts)
            "tracker": {"update_interval_s": 0.2, "lost_after_s": 2.0},
        }
        cfg = daemon_config(tmp_path, str(SCEN), status, proxy.port, 0, None, None, extra)
        daemon = procs.start("daemon", ["-m", "edge", "run", "--config", str(cfg)])
        _wait_for(lambda: rx_out.stat().st_size > 0 or daemon.poll() is not None, 120, "the first record by radio")
        assert daemon.poll() is None, procs.tail()
        backlog = Backlog(spool, RadioSettings(enabled=True))
        time.sleep(WARMUP_S + WINDOW_S + 2.0)
        backlog.stop()
        # The cut: every new-track record numbered so far was acknowledged by the ground over the radio.
        snap: list[tuple[int, int]] = []
        _wait_for(lambda: snap.append(_spool_snapshot(spool)) or snap[-1][0] == 0, 30, "no alert waiting in the spool")
        next_seq_at_cut = snap[-1][1]
        by_radio = _lines(rx_out)
        assert proxy.c2s_bytes == 0, "bytes went through the black-holed IP link"
        proxy.blackhole(False)  # the IP link returns; both paths on at once
        # MQTT catches up with the backlog of updates the radio left; then a few seconds of both paths together
        _wait_for(lambda: proxy.c2s_bytes > 0, 30, "the daemon to reconnect to the broker")
        time.sleep(8.0)
        assert daemon.poll() is None, procs.tail()
        procs.stop(daemon)
        time.sleep(2.0)  # the last acknowledged records reach the receiver through the broker
        procs.stop(listener)
    finally:
        procs.stop_all()
        proxy.close()
        broker.stop()
    print(procs.tail())
    lines = _lines(rx_out)
    new_tracks = {_key(d) for d in lines if d["event"] == "new" and d["seq"] < next_seq_at_cut}
    assert len(new_tracks) >= 3, "the pipeline saw too few new tracks to test anything"
    radio_keys = {_key(d) for d in by_radio}
    missing = new_tracks - radio_keys
    assert not missing, f"new-track alerts that did not come by radio while the IP link was dead: {sorted(missing)}"
    # Everything the daemon numbered arrived once, or was still in its spool when it stopped.
    summaries = [line for line in rx_err.read_text().splitlines() if line.startswith("listen: ") and "records;" in line]
    assert summaries, procs.tail()
    summary = summaries[-1]  # the receiver's last word, printed when it stopped
    m = re.search(r"in (\d+) records; (\d+) duplicates dropped \((\d+) across radio and MQTT\)", summary)
    assert m is not None, summary
    records, duplicates, cross = (int(g) for g in m.groups())
    left = _left_in_spool(spool)
    with sqlite3.connect(f"file:{spool}?mode=ro", uri=True) as db:
        (next_seq,) = db.execute("SELECT value FROM counters WHERE name = 'writer_next_seq'").fetchone()
    assert all(s >= next_seq_at_cut for s in left), left
    assert records + len(left) == next_seq, (summary, left, next_seq)
    assert duplicates == cross, f"records came twice over the same link: {summary}"
    # The radio's bytes over a minute, as the ground station logged them (MAVProxy's telemetry log).
    log = mavutil.mavlink_connection(str(tmp_path / "mav.tlog"))
    stamped: list[tuple[float, int, str]] = []
    while (msg := log.recv_match()) is not None:
        if msg.get_srcComponent() == 191 and msg.get_type() in BUDGETED:
            stamped.append((msg._timestamp, len(msg.get_msgbuf()), msg.get_type()))
    t0 = next(t for t, _, kind in stamped if kind == "TUNNEL") + WARMUP_S
    window = sum(n for t, n, _ in stamped if t0 <= t < t0 + WINDOW_S)
    budget = RADIO_BYTES_PER_S * WINDOW_S
    tunnel = sum(n for t, n, kind in stamped if t0 <= t < t0 + WINDOW_S and kind == "TUNNEL")
    saturated = backlog.saturated(t0, t0 + WINDOW_S)
    print(
        f"radio: {window} B in {WINDOW_S:.0f} s (records {tunnel} B), budget {budget:.0f} B ({window / budget:.3f}); "
        f"{'always' if saturated else 'NOT always'} more waiting than the radio's window "
        f"(least {min((n for t, n in backlog.samples if t0 <= t < t0 + WINDOW_S), default=-1)}); "
        f"{len(new_tracks)} new tracks before the cut, {len(by_radio)} of {len(lines)} detections by radio; {summary}"
    )
    assert window <= 1.05 * budget  # never more than the budget
    if saturated:  # with always more to send than the budget lets through, the budget is used, not wasted
        assert window >= 0.95 * budget
        assert len(by_radio) < len(lines)  # the radio could not carry every update; MQTT brought the rest
    else:  # a heavily loaded machine: the pipeline made less than the radio carries
        warnings.warn(
            f"the radio had too little to send to fill its budget: {window} B of {budget:.0f} B", stacklevel=1
        )
