"""sd_notify against a real unix datagram socket, as systemd listens."""

from __future__ import annotations

import itertools
import os
import socket
import time
from pathlib import Path

from edge.ops.notify import Watchdog, notify, watchdog_interval


def _listener(tmp_path: Path) -> tuple[socket.socket, str]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    return sock, path


def test_notify_sends_datagram(tmp_path: Path) -> None:
    sock, path = _listener(tmp_path)
    with sock:
        assert notify("READY=1\nSTATUS=ok", {"NOTIFY_SOCKET": path})
        assert sock.recv(4096) == b"READY=1\nSTATUS=ok"


def test_notify_abstract_socket() -> None:
    name = f"edge-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert notify("WATCHDOG=1", {"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(64) == b"WATCHDOG=1"


def test_notify_without_systemd_is_noop(tmp_path: Path) -> None:
    assert notify("READY=1", {}) is False
    assert notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "absent.sock")}) is False


def test_watchdog_interval_is_half() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({}) is None


def test_watchdog_pings_at_half_interval(tmp_path: Path) -> None:
    sock, path = _listener(tmp_path)
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"}  # 0.4 s -> ping every 0.2 s
    healthy = [True]
    wd = Watchdog(lambda: healthy[0], env)
    with sock:
        wd.start()
        try:
            stamps = []
            for _ in range(4):
                assert sock.recv(64) == b"WATCHDOG=1"
                stamps.append(time.monotonic())
            gaps = [b - a for a, b in itertools.pairwise(stamps)]
            assert all(0.1 < g < 0.4 for g in gaps), gaps
            healthy[0] = False  # a stuck daemon stops pinging so systemd restarts it
            sock.settimeout(0.1)
            while True:  # drain a ping that may have been in flight
                try:
                    sock.recv(64)
                except TimeoutError:
                    break
            sock.settimeout(0.6)
            try:
                sock.recv(64)
                raise AssertionError("watchdog pinged while unhealthy")
            except TimeoutError:
                pass
        finally:
            wd.stop()


def test_notify_never_blocks_when_nobody_reads(tmp_path: Path) -> None:
    sock, path = _listener(tmp_path)
    with sock:
        t0 = time.monotonic()
        results = [notify("WATCHDOG=1", {"NOTIFY_SOCKET": path}) for _ in range(500)]
        assert time.monotonic() - t0 < 5.0
        assert results[0] is True
        assert results[-1] is False, "the socket's queue should have filled up"
