"""Benchmark of the bridge on loopback: messages/s routed and latency, next to a direct UDP path.

The bridge runs as its own process (``edge-bridge`` as deployed) with two UDP server endpoints; one
single-threaded client sends GLOBAL_POSITION_INT frames into one endpoint and receives them from the other.
* ``bridge_msgs_per_s``: routed messages/s with up to 256 in flight (the most the bridge sustains).
* ``bridge_latency_p99_ms`` / ``_p50_ms``: send-to-receive time through the bridge at a paced 5,000 msg/s
  (``bridge_paced_msgs_per_s`` is the rate actually offered, ``bridge_paced_delivered_fraction`` what arrived;
  ``bridge_latency_p99_best_third_ms`` is the lowest p99 of the run's three thirds, which shows how much of the
  p99 is other processes on a shared machine);
  ``bridge_direct_latency_p99_ms`` is the same client over one plain UDP hop, for comparison.
* ``bridge_serial_msgs_per_s``: frames/s from the serial port (a pty written as fast as the bridge reads) to UDP;
  a 921,600-baud UART carries about 2,300 GLOBAL_POSITION_INT frames/s.
Run: ``python -m fwbridge.bench [--quick]`` (prints JSON).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tty
from pathlib import Path

from pymavlink.dialects.v20 import ardupilotmega as mavlink

PACED_RATE = 5000.0  # msg/s for the latency figures
WINDOW = 256


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _socket() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    return s


class _Client:
    """Sends numbered frames to ``dest`` from ``tx`` and receives them on ``rx``; one thread, busy polling."""

    def __init__(self, tx: socket.socket, rx: socket.socket, dest: tuple[str, int]) -> None:
        self.tx, self.rx, self.dest = tx, rx, dest
        self.mav = mavlink.MAVLink(None, srcSystem=1, srcComponent=1)
        self.sent_at: dict[int, float] = {}
        self.n = 0
        self.send_failed = 0

    def send(self) -> None:
        self.n += 1
        raw = mavlink.MAVLink_global_position_int_message(self.n, 1, 2, 3, 4, 5, 6, 7, 8).pack(self.mav)
        self.sent_at[self.n] = time.perf_counter()
        try:
            self.tx.sendto(raw, self.dest)
        except BlockingIOError:
            del self.sent_at[self.n]
            self.send_failed += 1

    def drain(self, out: list[float]) -> int:
        got = 0
        while True:
            try:
                data = self.rx.recv(65535)
            except BlockingIOError:
                return got
            t = time.perf_counter()
            pos = 0
            while pos + 12 <= len(data):  # frames of GLOBAL_POSITION_INT (time_boot_ms first in the payload)
                plen = data[pos + 1]
                if data[pos + 7] == 33:
                    n = int.from_bytes(data[pos + 10 : pos + 14], "little")
                    t0 = self.sent_at.pop(n, None)
                    if t0 is not None:
                        out.append(t - t0)
                        got += 1
                pos += 12 + plen + (13 if data[pos + 2] & 1 else 0)

    def run_paced(self, seconds: float, rate: float) -> list[float]:
        lat: list[float] = []
        t_end = time.perf_counter() + seconds
        next_send = time.perf_counter()
        while (now := time.perf_counter()) < t_end:
            if now >= next_send:
                self.send()
                next_send += 1.0 / rate
            else:  # sleep until the next send or an arrival, leaving the CPU to the bridge
                select.select([self.rx], [], [], next_send - now)
            self.drain(lat)
        time.sleep(0.05)
        self.drain(lat)
        return lat

    def run_windowed(self, seconds: float) -> float:
        """Messages/s received with at most WINDOW in flight; frames unanswered for 50 ms count as lost."""
        lat: list[float] = []
        received = inflight = 0
        t0 = last_progress = time.perf_counter()
        while (now := time.perf_counter()) - t0 < seconds:
            while inflight < WINDOW:
                self.send()
                inflight += 1
            got = self.drain(lat)
            received += got
            inflight -= got
            if got:
                last_progress = now
            elif now - last_progress > 0.05:
                inflight, last_progress = 0, now
                self.sent_at.clear()
            else:
                select.select([self.rx], [], [], 0.01)
        return received / (time.perf_counter() - t0)


def _serial_rate(master: int, rx: socket.socket, seconds: float) -> float:
    """Frames/s the bridge carries from the serial port (a pty, read as fast as the bridge can) to a UDP peer."""
    mark = 0xFFFFFFFF  # time_boot_ms of these frames, to tell them from the UDP client's
    raw = mavlink.MAVLink_global_position_int_message(mark, 1, 2, 3, 4, 5, 6, 7, 8).pack(mavlink.MAVLink(None, 1, 1))
    chunk = bytes(raw) * 64
    stop = threading.Event()

    def write() -> None:
        pending = b""
        while not stop.is_set():
            pending = pending or chunk
            if select.select([], [master], [], 0.05)[1]:
                with contextlib.suppress(BlockingIOError):
                    pending = pending[os.write(master, pending) :]

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    got = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        if not select.select([rx], [], [], 0.05)[0]:
            continue
        with contextlib.suppress(BlockingIOError):
            data = rx.recv(65535)
            if data[7] == 33 and int.from_bytes(data[10:14], "little") == mark:
                got += 1
    rate = got / (time.perf_counter() - t0)
    stop.set()
    writer.join(timeout=2)
    return rate


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def run_bench(out_dir: Path, quick: bool) -> dict[str, float]:
    """Start the bridge process, measure, stop it; returns the figures (ms, msg/s)."""
    seconds = 1.5 if quick else 5.0
    in_port, out_port = _free_port(), _free_port()
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "bench.toml"
        cfg.write_text(
            "[bridge]\nheartbeat_s = 0\nlog_stats_s = 0\n"
            f'[serial]\npath = "{os.ttyname(slave)}"\nallow_out_ids = [0]\n'
            f'[[endpoint]]\nname = "in"\nport = {in_port}\n'
            f'[[endpoint]]\nname = "out"\nport = {out_port}\npeer_timeout_s = 600\n'
        )
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
        proc = subprocess.Popen([sys.executable, "-m", "fwbridge.cli", "-c", str(cfg)], env=env, stderr=subprocess.PIPE)
        try:
            tx, rx = _socket(), _socket()
            client = _Client(tx, rx, ("127.0.0.1", in_port))
            hb = mavlink.MAVLink_heartbeat_message(6, 8, 0, 0, 0, 3).pack(mavlink.MAVLink(None, 255, 190))
            deadline = time.monotonic() + 10
            lat: list[float] = []
            while not lat:  # register rx as a peer of "out" and wait for the bridge to route
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("bridge did not start routing within 10 s")
                rx.sendto(hb, ("127.0.0.1", out_port))
                client.send()
                time.sleep(0.05)
                client.drain(lat)
            client.sent_at.clear()
            msgs_per_s = client.run_windowed(seconds)
            client.sent_at.clear()
            time.sleep(0.1)
            client.drain([])
            n0, failed0 = client.n, client.send_failed
            segments = [client.run_paced(seconds / 3, PACED_RATE) for _ in range(3)]
            bridged = [x for seg in segments for x in seg]
            paced_sent = (client.n - n0) - (client.send_failed - failed0)
            serial_per_s = _serial_rate(master, rx, seconds)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            os.close(master)
            os.close(slave)
    direct_rx = _socket()
    direct = _Client(_socket(), direct_rx, direct_rx.getsockname())
    direct_lat = direct.run_paced(seconds, PACED_RATE)
    result = {
        "bridge_msgs_per_s": round(msgs_per_s, 1),
        "bridge_latency_p50_ms": round(_pct(bridged, 0.5) * 1e3, 4),
        "bridge_latency_p99_ms": round(_pct(bridged, 0.99) * 1e3, 4),
        "bridge_latency_p99_best_third_ms": round(min(_pct(seg, 0.99) for seg in segments) * 1e3, 4),
        "bridge_paced_msgs_per_s": round(paced_sent / seconds, 1),
        "bridge_paced_delivered_fraction": round(len(bridged) / max(1, paced_sent), 4),
        "bridge_direct_latency_p99_ms": round(_pct(direct_lat, 0.99) * 1e3, 4),
        "bridge_serial_msgs_per_s": round(serial_per_s, 1),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bridge_bench.json").write_text(json.dumps(result, indent=1))
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default="bench-out")
    args = ap.parse_args()
    print(json.dumps(run_bench(Path(args.out), args.quick), indent=1))


if __name__ == "__main__":
    main()
